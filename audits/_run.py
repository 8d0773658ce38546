"""The audits' view of a `guard federate` run directory: located reads and its content hash.

Every reader here calls the run directory's one reader (`guard.core.rundir.RunReader`,
which `federated.rundir.RunDir` extends with the writers and the typed config) and makes sure any damage (missing, truncated, not JSON, wrong shape) reaches the
user as a RunError that names the file and what is wrong (exit 30), never a traceback.

The run's content hash identifies what an audit or a report is about: sha256 over
the hashes of config.json, ledger.json, every file of the final model (model/) and
the training-corpus hash the run records, if it records one. An audit of a run and
the report built from it carry it; `guard report` and `guard check` refuse what
names another one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from guard.core import schema
from guard.core.errors import GuardError, InputError, RunError
from guard.core.files import file_sha256
from guard.core.rundir import ClientsFile, RunReader, read_run_json

if TYPE_CHECKING:
    from federated.rundir import RunDir

T = TypeVar("T")
RUN_HASH_VERSION = schema.RUN_HASH
# where a run records the sha256 of its training corpus: (file, key) in its top-level JSON object (guard
# federate writes it to state.json; the ledger's data segments hold it too, and ledger.json is hashed whole)
_CORPUS_HASH_KEYS = (("config.json", "corpus_sha256"), ("state.json", "corpus_sha256"))
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, OSError)


def open_run(path: str | Path) -> RunDir:
    """A `federated.rundir.RunDir` for `path`; RunError naming the path when it is
    missing, not a folder, or holds no run (no config.json)."""
    from federated.rundir import RunDir

    run = RunDir(path)
    run.require()
    return run


@contextmanager
def _located(path: Path, what: str) -> Iterator[None]:
    try:
        yield
    except RunError:
        raise
    except GuardError as e:
        raise RunError(f"{path}: {what} is damaged ({e.message})") from e
    except json.JSONDecodeError as e:
        raise RunError(
            f"{path}: {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            "was it truncated or edited?"
        ) from e
    except _DAMAGE as e:
        raise RunError(f"{path}: {what} is damaged ({type(e).__name__}: {e})") from e


def _read(path: Path, what: str, fn: Callable[[], T]) -> T:
    with _located(path, what):
        return fn()


def run_config(run: RunDir) -> Any:
    """The run's FederateConfig (config.json, checked against its recorded hash)."""
    return _read(run.config_file, "the run config", run.load_config)


def run_config_payload(run: RunDir) -> dict[str, Any]:
    """config.json as written (config, config_hash, versions)."""
    return _read(run.config_file, "the run config", run.read_config_payload)


def run_state(run: RunDir) -> Any:
    return _read(run.state_file, "the run state", run.read_state)


def run_ledger(run: RunDir) -> Any:
    """The PrivacyLedger, or None when the run has no ledger.json."""
    return _read(run.ledger_file, "the privacy ledger", run.read_ledger)


def run_clients_file(run: RunDir) -> ClientsFile:
    """clients.json, typed: clients (ClientInfo), labels, privacy plan, data segments."""
    if not run.clients_file.is_file():
        raise RunError(f"{run.path}: not a complete guard federate run directory (no clients.json)")
    return _read(run.clients_file, "the client summary", run.read_clients)


def run_canaries(run: RunDir) -> list[Any]:
    """The run's canaries (with their secrets: never copy them into an output); [] without canaries.json."""
    return _read(run.canaries_file, "the canary file", run.read_canaries)


def run_jsonl(run: RunDir, path: Path, what: str) -> list[dict[str, Any]]:
    """Rows of an append-only log of the run (metrics.jsonl, failures.jsonl); [] when absent.
    A torn last line is dropped; damage elsewhere is a RunError naming file and line."""
    return _read(path, what, lambda: run.read_jsonl(path))


def run_model_meta(run: RunDir) -> dict[str, Any]:
    """model/guard_model.json, or {} when the run has no final model yet."""
    return _read(run.model_meta_file, "the model description", run.read_model_meta)


def load_run_model(run: RunDir) -> Any:
    """The run's final model (federated.models.load_model); RunError naming the file on damage."""
    from federated.models import load_model

    if not run.model_dir.is_dir():
        raise RunError(f"{run.path}: no final model (model/ is missing); finish the run with --resume first")
    from audits._trust import check_guard_model

    try:
        check_guard_model(run.model_dir)
    except InputError as e:  # a run file, not the user's: exit 30
        raise RunError(f"{e.path or run.model_dir}: the run's model description is damaged ({e.reason})") from e
    try:
        return load_model(run.model_dir)
    except GuardError as e:
        raise RunError(f"{run.model_dir}: cannot load the run's model ({e.message})") from e
    except Exception as e:  # safetensors, tokenizers and torch raise their own types for a damaged file
        raise RunError(
            f"{run.model_dir}: the run's model is damaged ({type(e).__name__}: {e})",
            hint="was model.safetensors truncated? re-run or resume the federation",
        ) from e


# -- the run's content hash ------------------------------------------------------------------------


def _recorded_corpus_hash(run: RunReader) -> str | None:
    for name, key in _CORPUS_HASH_KEYS:
        path = run.path / name
        if not path.is_file():
            continue
        try:
            value = read_run_json(path, name).get(key)
        except RunError:
            continue  # config.json is hashed whole below; a damaged state.json is reported by its reader
        if isinstance(value, str) and value:
            return value
    return None


def run_content_parts(run_dir: str | Path) -> dict[str, Any]:
    """What the run's content hash covers, each part by its own sha256."""
    run = RunReader(run_dir)
    run.require()

    def sha(path: Path) -> str:
        try:
            return file_sha256(path)
        except OSError as e:
            raise RunError(f"{path}: cannot read the run file ({e.strerror})") from e

    model: dict[str, str] = {}
    if run.model_dir.is_dir():
        for path in sorted(p for p in run.model_dir.rglob("*") if p.is_file()):
            model[path.relative_to(run.model_dir).as_posix()] = sha(path)
    return {
        "version": RUN_HASH_VERSION,
        "config.json": sha(run.config_file),
        "ledger.json": sha(run.ledger_file) if run.ledger_file.is_file() else None,
        "model": model,
        "corpus_sha256": _recorded_corpus_hash(run),
    }


def run_content_hash(run_dir: str | Path) -> str:
    """sha256 (hex) of the run's content: config.json, ledger.json, the final model's files
    and the recorded training-corpus hash. Equal hashes: the same run, unchanged."""
    blob = json.dumps(run_content_parts(run_dir), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def short(digest: str | None) -> str:
    """The first 12 hex characters of a hash, for messages ('none' when missing)."""
    return "none" if not digest else str(digest)[:12]


__all__ = [
    "load_run_model",
    "open_run",
    "run_canaries",
    "run_clients_file",
    "run_config",
    "run_config_payload",
    "run_content_hash",
    "run_content_parts",
    "run_jsonl",
    "run_ledger",
    "run_model_meta",
    "run_state",
    "short",
]

"""The run directory of `guard federate`: its one reader and writer.

    RUN_DIR/
      config.json            resolved config, its sha256 and library versions (written last when a run is created)
      clients.json           partition summary (counts per client and label; no text), privacy plan, data segments
      metrics.jsonl          one line per client per round and one aggregate line per round
      ledger.json            the privacy ledger (with the data segments)
      state.json             last finished round (what --resume continues from) and the corpus sha256
      checkpoints/round-NNN.safetensors   aggregated trainable weights after each round
      model/                 final weights (safetensors), model config and tokenizer
      canaries.json          canary secrets for the audits: never copy into a report
      failures.jsonl         clients that raised, per round

Every file is created 0600 (they describe private data) and replaced atomically;
the two logs (`*.jsonl`) are appended to. Every reader names the file on damage
with a RunError (exit 10); the logs' reader tolerates a torn last line (what a
kill during an append leaves), and `truncate_after` repairs it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from federated.config import FederateConfig, config_from_json
from federated.ledger import PrivacyLedger
from guard.core.errors import GuardError, OutputError, RunError
from guard.core.files import package_versions

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
FILE_MODE = 0o600
DIR_MODE = 0o700
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, IndexError)
_FIX = "restore the file or start a new run; a run cannot be resumed without it"


def library_versions() -> dict[str, str]:
    return package_versions("guard", "flwr", "opacus", "torch", "transformers", "numpy")


@dataclass(frozen=True)
class RunState:
    last_round: int
    rounds: int
    config_hash: str
    finished: bool = False
    corpus_sha256: str = ""  # the corpus the next round trains on (see the ledger's data segments)


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (temp file in the same folder, fsync, rename), mode 0600."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_error(path: Path, what: str, e: json.JSONDecodeError) -> RunError:
    return RunError(
        f"{path}: {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); was it truncated or edited?",
        hint=_FIX,
    )


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A run file's JSON object; RunError naming the file when it is missing, unreadable or damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{path}: {what} is missing", hint=_FIX) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: cannot read {what} ({type(e).__name__})", hint=_FIX) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _json_error(path, what, e) from e
    if not isinstance(data, dict):
        raise RunError(f"{path}: {what} is not a JSON object", hint=_FIX)
    return data


def _damaged(path: Path, what: str, e: BaseException) -> RunError:
    detail = e.message if isinstance(e, GuardError) else f"{type(e).__name__}: {e}"
    return RunError(f"{path}: {what} is damaged ({detail})", hint=_FIX)


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- files ----------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def ledger_file(self) -> Path:
        return self.path / "ledger.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def failures_file(self) -> Path:
        return self.path / "failures.jsonl"

    @property
    def canaries_file(self) -> Path:
        return self.path / "canaries.json"

    @property
    def clients_file(self) -> Path:
        return self.path / "clients.json"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def checkpoint(self, round_: int) -> Path:
        return self.path / CHECKPOINTS / f"round-{round_:03d}.safetensors"

    # -- create / open --------------------------------------------------------
    def create(self) -> None:
        """Start a new run here: refuse a folder that already holds one. config.json is
        written last (`write_config`), so a run cut short while it is being prepared
        leaves no run behind and the same --out can be used again."""
        if self.config_file.exists():
            raise OutputError(f"{self.path} already holds a run; pass --resume to continue it or choose a new --out")
        self.path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        (self.path / CHECKPOINTS).mkdir(exist_ok=True, mode=DIR_MODE)

    def write_config(self, config: FederateConfig) -> None:
        payload = {"config": config.to_json(), "config_hash": config.config_hash(), "versions": library_versions()}
        write_private(self.config_file, json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def require(self) -> None:
        """RunError naming the path unless it is a run directory (with config.json)."""
        if not self.path.exists():
            raise RunError(f"{self.path}: no such run directory", hint="give the folder guard federate --out wrote")
        if not self.path.is_dir():
            raise RunError(f"{self.path}: not a run directory (a file, not a folder)")
        if not self.config_file.is_file():
            raise RunError(f"{self.path}: not a guard federate run directory (no config.json)")

    def load_config(self) -> FederateConfig:
        if not self.config_file.is_file():
            raise RunError(f"{self.path}: not a guard federate run directory (no config.json)")
        payload = _read_json(self.config_file, "the run config")
        try:
            config = config_from_json(payload["config"])
            recorded = payload["config_hash"]
        except (GuardError, *_DAMAGE) as e:
            raise _damaged(self.config_file, "the run config", e) from e
        if config.config_hash() != recorded:
            raise RunError(
                f"{self.config_file}: the config does not match its recorded hash; was it edited?", hint=_FIX
            )
        return config

    # -- state ----------------------------------------------------------------
    def write_state(self, state: RunState) -> None:
        write_private(self.state_file, json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")

    def read_state(self) -> RunState:
        """The last finished round; RunState(0, 0, "") when the run has no state.json."""
        if not self.state_file.is_file():
            return RunState(0, 0, "")
        data = _read_json(self.state_file, "the run state")
        try:
            state = RunState(**data)
            if not isinstance(state.last_round, int) or not 0 <= state.last_round <= max(state.rounds, 0):
                raise ValueError(f"last_round {state.last_round!r} is outside 0..{state.rounds!r}")
        except _DAMAGE as e:
            raise _damaged(self.state_file, "the run state", e) from e
        return state

    def write_ledger(self, ledger: PrivacyLedger) -> None:
        write_private(self.ledger_file, ledger.dumps() + "\n")

    def read_ledger(self) -> PrivacyLedger | None:
        """The privacy ledger, None when the run has none yet; RunError on damage."""
        if not self.ledger_file.is_file():
            return None
        data = _read_json(self.ledger_file, "the privacy ledger")
        try:
            return PrivacyLedger.from_json(data)
        except _DAMAGE as e:
            raise _damaged(self.ledger_file, "the privacy ledger", e) from e

    def read_clients(self) -> dict[str, Any]:
        """clients.json: {"summary": partition summary, "labels": [...], "privacy_plan": {...},
        "segments": [...]}; RunError when missing or damaged."""
        data = _read_json(self.clients_file, "the client summary")
        try:
            clients = data["summary"]["clients"]
            if not isinstance(data["labels"], list) or not clients:
                raise ValueError("no labels list or no clients")
            for c in clients:
                if not isinstance(c["client_id"], str) or not isinstance(c["train"], int):
                    raise TypeError("a client entry has no client_id or train count")
        except _DAMAGE as e:
            raise _damaged(self.clients_file, "the client summary", e) from e
        return data

    def read_canaries(self) -> list[Any]:
        """The run's canaries ([] without canaries.json); they hold secrets: never print them."""
        from federated.data import canaries_from_json

        if not self.canaries_file.is_file():
            return []
        data = _read_json(self.canaries_file, "the canary file")
        try:
            return canaries_from_json(data)
        except (GuardError, *_DAMAGE) as e:
            raise RunError(f"{self.canaries_file}: the canary file is damaged", hint=_FIX) from e

    def write_json(self, path: Path, data: Any) -> None:
        write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    # -- append-only logs ------------------------------------------------------
    def append_jsonl(self, path: Path, rows: list[dict[str, Any]]) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # also a log an older guard created 0644
            fh.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
            fh.flush()
            os.fsync(fh.fileno())

    def _jsonl_lines(self, path: Path) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        """(line number, text, row) of every complete line, and whether a torn last line was dropped."""
        what = path.name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise RunError(f"{path}: cannot read {what} ({type(e).__name__})") from e
        cut = raw.rfind(b"\n") + 1
        try:
            text = raw[:cut].decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise RunError(f"{path}:{line}: {what} is not UTF-8; was it edited?", hint=_FIX) from e
        # a write cut short may end inside a multi-byte character: only the last line
        text += raw[cut:].decode("utf-8", errors="replace")
        lines = text.split("\n")
        complete, tail = lines[:-1], lines[-1]  # tail: what follows the last newline ("" when none)
        rows: list[tuple[int, str, dict[str, Any]]] = []
        for i, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise RunError(f"{path}:{i}: {what} line is not valid JSON ({e.msg}); was it edited?", hint=_FIX) from e
            if not isinstance(row, dict) or not isinstance(row.get("round"), int):
                raise RunError(f"{path}:{i}: {what} line is not a row of a round", hint=_FIX)
            rows.append((i, line, row))
        torn = False
        if tail.strip():
            try:
                row = json.loads(tail)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("round"), int):  # complete, only its newline is missing
                rows.append((len(complete) + 1, tail, row))
            else:
                torn = True
                log.warning("%s:%d: ignoring a torn last line (a write cut short)", path, len(complete) + 1)
        return rows, torn

    def read_jsonl(self, path: Path) -> list[dict[str, Any]]:
        """Rows of metrics.jsonl or failures.jsonl ([] when absent). A torn last line is
        logged and ignored; damage anywhere else is a RunError naming file and line."""
        if not path.is_file():
            return []
        return [row for _, _, row in self._jsonl_lines(path)[0]]

    def truncate_after(self, round_: int) -> None:
        """On resume: forget metrics and failures of rounds that did not finish and a torn
        last line; the file is replaced atomically, only when something changes."""
        for path in (self.metrics_file, self.failures_file):
            if not path.is_file():
                continue
            rows, torn = self._jsonl_lines(path)
            kept = [line for _, line, row in rows if row["round"] <= round_]
            text = "".join(line + "\n" for line in kept)
            if torn or len(kept) != len(rows) or path.read_bytes() != text.encode("utf-8"):
                write_private(path, text)
                if torn:
                    log.warning("%s: repaired: cut to its last complete line", path)

    # -- checkpoints and the final model --------------------------------------
    def save_checkpoint(self, round_: int, state: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        target = self.checkpoint(round_)
        target.parent.mkdir(exist_ok=True, mode=DIR_MODE)
        fd, tmp = tempfile.mkstemp(prefix=".ckpt.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            save_file(state, tmp, metadata={"round": str(round_)})
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, round_: int) -> dict[str, Any]:
        """The weights after `round_`; RunError naming the file when missing or damaged."""
        from safetensors.numpy import load_file

        path = self.checkpoint(round_)
        if not path.is_file():
            raise RunError(f"{path}: the checkpoint of round {round_} is missing: cannot resume from round {round_}")
        try:
            weights = load_file(path)
        except Exception as e:  # safetensors raises its own error type for a truncated or garbled file
            raise RunError(
                f"{path}: the checkpoint of round {round_} is damaged ({type(e).__name__}); was it truncated?",
                hint=_FIX,
            ) from e
        if not weights:
            raise RunError(f"{path}: the checkpoint of round {round_} holds no weights", hint=_FIX)
        return weights

    def make_private(self, folder: Path) -> None:
        """Files under `folder` 0600, folders 0700 (the final model, written by other libraries)."""
        folder.chmod(DIR_MODE)
        for path in folder.rglob("*"):
            if not path.is_symlink():
                path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


__all__ = ["FILE_MODE", "RunDir", "RunState", "library_versions", "write_private"]

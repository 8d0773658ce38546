"""The run directory of `guard federate`: its writer. The reader, with the typed
contents (clients, state, canaries, ledger, logs), is `guard.core.rundir.RunReader`,
which `RunDir` extends; see there for the layout. Every file is created 0600 (they
describe private data) and replaced atomically; the two logs (`*.jsonl`) are
appended to, and `truncate_after` repairs a torn last line.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from federated.config import FederateConfig, config_from_json
from guard.core.errors import GuardError, OutputError, RunError
from guard.core.files import package_versions
from guard.core.ledger import PrivacyLedger
from guard.core.rundir import CHECKPOINTS, FIX, RunReader, RunState, damaged

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def library_versions() -> dict[str, str]:
    return package_versions("guard", "flwr", "opacus", "torch", "transformers", "numpy")


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


OPTIMIZER_SUFFIX = ".optimizer.safetensors"


def _save_safetensors(target: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write `tensors` to `target` atomically (temp file in the same folder, then rename), 0600."""
    from safetensors.numpy import save_file

    target.parent.mkdir(exist_ok=True, mode=DIR_MODE)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_safetensors(path: Path, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; RunError naming `path` when it is damaged."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})
    except Exception as e:  # safetensors raises its own error type for a truncated or garbled file
        raise RunError(f"{path}: {what} is damaged ({type(e).__name__}); was it truncated?", hint=FIX) from e


class RunDir(RunReader):
    """A run directory to create, write and resume (reads: `RunReader`)."""

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

    def load_config(self) -> FederateConfig:
        payload = self.read_config_payload()
        try:
            config = config_from_json(payload["config"])
            recorded = payload["config_hash"]
        except (GuardError, *_DAMAGE) as e:
            raise damaged(self.config_file, "the run config", e) from e
        if config.config_hash() != recorded:
            raise RunError(f"{self.config_file}: the config does not match its recorded hash; was it edited?", hint=FIX)
        return config

    # -- state ----------------------------------------------------------------
    def write_state(self, state: RunState) -> None:
        write_private(self.state_file, json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")

    def write_ledger(self, ledger: PrivacyLedger) -> None:
        write_private(self.ledger_file, ledger.dumps() + "\n")

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
        """The weights after `round_`, written atomically (0600)."""
        _save_safetensors(self.checkpoint(round_), state, {"round": str(round_)})

    def load_checkpoint(self, round_: int) -> dict[str, Any]:
        """The weights after `round_`; RunError naming the file when missing or damaged."""
        path = self.checkpoint(round_)
        if not path.is_file():
            raise RunError(f"{path}: the checkpoint of round {round_} is missing: cannot resume from round {round_}")
        weights, _ = _load_safetensors(path, f"the checkpoint of round {round_}")
        if not weights:
            raise RunError(f"{path}: the checkpoint of round {round_} holds no weights", hint=FIX)
        return weights

    def optimizer_checkpoint(self, round_: int) -> Path:
        """checkpoints/round-NNN.optimizer.safetensors: the server optimizer's state after
        `round_` (FedAdam's moments), beside that round's weights."""
        return self.checkpoint(round_).with_name(f"round-{round_:03d}{OPTIMIZER_SUFFIX}")

    def save_optimizer_state(self, round_: int, state: dict[str, Any], *, strategy: str) -> None:
        """The server optimizer's state after `round_` (nothing for a strategy without one),
        written atomically (0600) like the weights, before them and before state.json: a round
        counts as finished only once both files are in."""
        if state:
            _save_safetensors(self.optimizer_checkpoint(round_), state, {"round": str(round_), "strategy": strategy})

    def load_optimizer_state(self, round_: int, *, strategy: str) -> dict[str, Any] | None:
        """The server optimizer's state saved after `round_`; None when the run saved none (a
        run from before optimizer checkpoints). RunError naming the file when it is damaged or
        belongs to another round or strategy."""
        path = self.optimizer_checkpoint(round_)
        if not path.is_file():
            return None
        what = f"the {strategy} optimizer state of round {round_}"
        tensors, meta = _load_safetensors(path, what)
        if meta.get("round") != str(round_) or meta.get("strategy") != strategy or not tensors:
            raise RunError(
                f"{path}: {what} says round {meta.get('round')!r}, strategy {meta.get('strategy')!r}; "
                "was it copied from another round or run?",
                hint=FIX,
            )
        return tensors

    def make_private(self, folder: Path) -> None:
        """Files under `folder` 0600, folders 0700 (the final model, written by other libraries)."""
        folder.chmod(DIR_MODE)
        for path in folder.rglob("*"):
            if not path.is_symlink():
                path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


__all__ = ["FILE_MODE", "OPTIMIZER_SUFFIX", "RunDir", "RunState", "library_versions", "write_private"]

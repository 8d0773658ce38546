"""The run directory of `guard federate`, written atomically file by file.

    RUN_DIR/
      config.json            resolved config, its sha256 and library versions
      clients.json           partition summary (counts per client and label; no text)
      metrics.jsonl          one line per client per round and one aggregate line per round
      ledger.json            the privacy ledger
      state.json             last finished round (what --resume continues from)
      checkpoints/round-NNN.safetensors   aggregated trainable weights after each round
      model/                 final weights (safetensors), model config and tokenizer
      canaries.json          canary secrets for the audits: never copy into a report
      failures.jsonl         clients that raised, per round
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federated.config import ConfigError, FederateConfig, config_from_json
from federated.ledger import PrivacyLedger
from guard.core.errors import OutputError
from guard.core.files import package_versions
from guard.core.io import write_text_atomic

CHECKPOINTS = "checkpoints"


def library_versions() -> dict[str, str]:
    return package_versions("guard", "flwr", "opacus", "torch", "transformers", "numpy")


@dataclass(frozen=True)
class RunState:
    last_round: int
    rounds: int
    config_hash: str
    finished: bool = False


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

    # -- create / resume ------------------------------------------------------
    def create(self, config: FederateConfig) -> None:
        """A new run: refuse a folder that already holds a run."""
        if self.config_file.exists():
            raise OutputError(
                f"{self.path} already holds a run; pass --resume to continue it or choose a new --out"
            )
        (self.path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        payload = {"config": config.to_json(), "config_hash": config.config_hash(), "versions": library_versions()}
        write_text_atomic(self.config_file, json.dumps(payload, indent=2, sort_keys=True) + "\n")
        self.write_state(RunState(0, config.train.rounds, config.config_hash()))

    def load_config(self) -> FederateConfig:
        if not self.config_file.is_file():
            raise ConfigError(f"{self.path} is not a guard federate run directory (no config.json)")
        payload = json.loads(self.config_file.read_text(encoding="utf-8"))
        config = config_from_json(payload["config"])
        if config.config_hash() != payload["config_hash"]:
            raise ConfigError(f"{self.config_file}: the config does not match its recorded hash")
        return config

    # -- state ----------------------------------------------------------------
    def write_state(self, state: RunState) -> None:
        write_text_atomic(self.state_file, json.dumps(state.__dict__, indent=2, sort_keys=True) + "\n")

    def read_state(self) -> RunState:
        if not self.state_file.is_file():
            return RunState(0, 0, "")
        return RunState(**json.loads(self.state_file.read_text(encoding="utf-8")))

    def write_ledger(self, ledger: PrivacyLedger) -> None:
        write_text_atomic(self.ledger_file, ledger.dumps() + "\n")

    def read_ledger(self) -> PrivacyLedger | None:
        if not self.ledger_file.is_file():
            return None
        return PrivacyLedger.from_json(json.loads(self.ledger_file.read_text(encoding="utf-8")))

    def write_json(self, path: Path, data: Any) -> None:
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def append_jsonl(self, path: Path, rows: list[dict[str, Any]]) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def truncate_after(self, round_: int) -> None:
        """On resume: forget metrics and failures of rounds that did not finish."""
        for path in (self.metrics_file, self.failures_file):
            if not path.is_file():
                continue
            kept = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["round"] <= round_]
            write_text_atomic(path, "".join(line + "\n" for line in kept))

    # -- checkpoints ----------------------------------------------------------
    def save_checkpoint(self, round_: int, state: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        target = self.checkpoint(round_)
        fd, tmp = tempfile.mkstemp(prefix=".ckpt.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            save_file(state, tmp, metadata={"round": str(round_)})
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, round_: int) -> dict[str, Any]:
        from safetensors.numpy import load_file

        path = self.checkpoint(round_)
        if not path.is_file():
            raise ConfigError(f"{path} is missing: cannot resume from round {round_}")
        return load_file(path)


__all__ = ["RunDir", "RunState", "library_versions"]

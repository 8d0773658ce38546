"""Run a federation on this machine with Flower's Simulation Engine."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federated.config import FederateConfig
from federated.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    run_dir: str
    rounds_done: int
    finished: bool
    clients: int
    max_epsilon: float
    privacy_statement: str
    final_metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _backend_config(config: FederateConfig, num_clients: int) -> dict[str, Any]:
    import torch

    resources: dict[str, Any] = {"num_cpus": float(config.simulation.cpus_per_client)}
    if torch.cuda.is_available():
        cpus = os.cpu_count() or 1
        at_once = max(1, min(num_clients, int(cpus // config.simulation.cpus_per_client)))
        resources["num_gpus"] = config.simulation.gpu_fraction or 1.0 / at_once
    return {"client_resources": resources, "init_args": {"log_to_driver": False, "logging_level": logging.ERROR}}


def run_federation(config: FederateConfig | None, run_dir: str | Path, *, resume: bool = False) -> RunSummary:
    """Prepare (or resume) `run_dir` and run the rounds in a local simulation."""
    from flwr.simulation import run_simulation

    from federated.client_app import app as client_app
    from federated.server import prepare_run
    from federated.server_app import RUN_DIR_ENV
    from federated.server_app import app as server_app

    run = RunDir(run_dir)
    config = prepare_run(config, run, resume=resume)
    clients = json.loads(run.clients_file.read_text(encoding="utf-8"))["summary"]["clients"]
    os.environ[RUN_DIR_ENV] = str(run.path.resolve())
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    # Flower logs every round (and that run_simulation is deprecated) through its own
    # handler; show only its errors unless guard runs with -v.
    root = logging.getLogger().getEffectiveLevel()
    logging.getLogger("flwr").setLevel(logging.ERROR if root >= logging.WARNING else root)
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=len(clients),
        backend_config=_backend_config(config, len(clients)),
    )
    return summarize(run)


def summarize(run: RunDir) -> RunSummary:
    state = run.read_state()
    ledger = run.read_ledger()
    final: dict[str, Any] = {}
    if run.metrics_file.is_file():
        for line in run.metrics_file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["phase"] == "aggregate":
                final = row
    clients = json.loads(run.clients_file.read_text(encoding="utf-8"))["summary"]["clients"]
    return RunSummary(
        run_dir=str(run.path),
        rounds_done=state.last_round,
        finished=state.finished,
        clients=len(clients),
        max_epsilon=ledger.max_epsilon if ledger else 0.0,
        privacy_statement=ledger.statement() if ledger else "",
        final_metrics=final,
    )


__all__ = ["RunSummary", "run_federation", "summarize"]

"""Run a federation on this machine with Flower's Simulation Engine."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federated.config import FederateConfig
from federated.rundir import RunDir
from federated.server import prepare_run
from guard.core.errors import Interrupted

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
    return {"client_resources": resources, "init_args": _RAY_INIT_ARGS}


_RAY_INIT_ARGS: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
_SERVE_GRACE_S = 60.0  # after a signal: how long the ServerApp thread may take to finish its writes


def run_federation(
    config: FederateConfig | None, run_dir: str | Path, *, resume: bool = False, allow_data_change: bool = False
) -> RunSummary:
    """Prepare (or resume) `run_dir` and run the rounds in a local simulation.

    SIGINT/SIGTERM stop it cleanly: the rounds finished so far (checkpoints, ledger,
    metrics) stay as they are, Ray and every process it started are stopped, and
    `Interrupted` (exit 128 + signal) says what was kept. `allow_data_change`: see
    `server.prepare_run`."""
    from federated.stopping import STOP, RunStopped, Stopped, raising, stop_on_signals

    run = RunDir(run_dir)
    ray_started = False
    with stop_on_signals() as rearm:
        try:
            with raising():
                config = prepare_run(config, run, resume=resume, allow_data_change=allow_data_change)
                ray_started = True
                _simulate(config, run, rearm)
                if config.dp.enabled and config.dp.compare_without_dp:
                    _compare_without_dp(config, run, rearm)
                summary = summarize(run)
        except (Stopped, RunStopped):
            pass
        except Exception:
            if STOP.signum is None:
                raise
            log.debug("after %s", STOP.signum, exc_info=True)  # Flower reports the actors killed on the way out
        if STOP.signum is not None:
            STOP.wait_idle(_SERVE_GRACE_S)  # the ServerApp thread ends at its next check of STOP
            raise Interrupted(STOP.signum, _what_was_kept(run, STOP.signum, ray_started=ray_started))
    return summary


def _simulate(config: FederateConfig, run: RunDir, rearm: Callable[[], None]) -> None:
    from flwr.simulation import run_simulation

    from federated.server_app import RUN_DIR_ENV
    from federated.stopping import ray_session

    clients = run.read_clients().clients
    if config.secure_aggregation.enabled:  # Flower's legacy stack: SecAggPlusWorkflow + secaggplus_mod
        from federated.secagg import check_supported, client_app, server_app

        check_supported(config, len(clients), source=str(run.config_file))  # before Ray starts
    else:
        from federated.client_app import app as client_app
        from federated.server_app import app as server_app
    os.environ[RUN_DIR_ENV] = str(run.path.resolve())
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    # Flower logs every round (and that run_simulation is deprecated) through its own
    # handler; show only its errors unless guard runs with -v.
    root = logging.getLogger().getEffectiveLevel()
    logging.getLogger("flwr").setLevel(logging.ERROR if root >= logging.WARNING else root)
    with ray_session(_RAY_INIT_ARGS):
        rearm()  # ray.init replaced the SIGTERM handler with its own
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=len(clients),
            backend_config=_backend_config(config, len(clients)),
        )


COMPARISON_FILE = "comparison.json"
SCRATCH_PREFIX = ".no-dp-"  # the comparison's temporary run inside the run directory


def _compare_without_dp(config: FederateConfig, run: RunDir, rearm: Callable[[], None]) -> None:
    """`[dp] compare_without_dp`: train the same config, data, canaries and seed once more
    with DP off, in a temporary run beside this one, and keep only its final held-out
    metrics in RUN/comparison.json (the utility cost of privacy). Simulation only."""
    import shutil
    import tempfile

    from federated.config import with_dp

    target = run.path / COMPARISON_FILE
    if target.is_file() or not run.read_state().finished:
        return
    for stale in run.path.glob(f"{SCRATCH_PREFIX}*"):  # left by a comparison killed with SIGKILL
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=run.path))
    try:
        plain = with_dp(config, enabled=False, compare_without_dp=False)
        other = RunDir(scratch / "run")
        plain = prepare_run(plain, other, resume=False)
        _simulate(plain, other, rearm)
        final = summarize(other).final_metrics
        result = {
            "schema_version": 1,
            "what": "the same config, data, canaries and seed with [dp] enabled = false",
            "without_dp": {"evaluate": final.get("evaluate", {}), "train": final.get("train", {})},
        }
        run.write_json(target, result)  # private (0600) and atomic, like every run file
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _what_was_kept(run: RunDir, signum: int, *, ray_started: bool) -> str:
    """One line: what the interrupted run left on disk and how to continue it."""
    name = signal.Signals(signum).name
    if not run.config_file.is_file():
        return f"interrupted by {name} while preparing the run; nothing kept in {run.path}"
    stopped = "federation and Ray stopped; " if ray_started else ""
    state = run.read_state()
    again = f"continue with: guard federate --resume {run.path}"
    if state.finished:
        return f"interrupted by {name} after the last round; {stopped}the finished run is in {run.path}"
    if state.last_round == 0:
        return f"interrupted by {name}; {stopped}no round had finished, the prepared run is in {run.path}; {again}"
    n = state.last_round
    rounds = "round 1" if n == 1 else f"rounds 1-{n}"
    return (
        f"interrupted by {name}; {stopped}kept {rounds} of {state.rounds} in {run.path} "
        f"(checkpoints up to round-{n:03d}.safetensors, ledger.json, metrics.jsonl); {again}"
    )


def summarize(run: RunDir) -> RunSummary:
    state = run.read_state()
    ledger = run.read_ledger()
    final: dict[str, Any] = {}
    for row in run.read_metrics():
        if row.get("phase") == "aggregate":
            final = row
    clients = run.read_clients().clients
    return RunSummary(
        run_dir=str(run.path),
        rounds_done=state.last_round,
        finished=state.finished,
        clients=len(clients),
        max_epsilon=ledger.max_epsilon if ledger else 0.0,
        privacy_statement=ledger.statement() if ledger else "",
        final_metrics=final,
    )


__all__ = ["COMPARISON_FILE", "RunSummary", "run_federation", "summarize"]

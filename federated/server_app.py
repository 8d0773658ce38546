"""Flower ServerApp: finds the run directory and hands the grid to `server.serve`.

With `guard federate` (Simulation Engine) the run directory comes from the
GUARD_RUN_DIR variable; with `flwr run . <federation>` (Deployment Engine) from
the run config: `--run-config 'run-dir="/abs/run" config="/abs/federate.toml"'`.
A new run directory is prepared from the config; an existing one is resumed after
the checks of `guard federate --resume` (run files, corpus; add
`allow-data-change=true` to the run config to go on with a changed corpus).
"""

from __future__ import annotations

import os

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from federated.rundir import RunDir
from federated.server import prepare_run, serve

RUN_DIR_ENV = "GUARD_RUN_DIR"

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    if type(grid).__module__ == "flwr.superlink.grid.http_grid":  # a deployment: replies come over the wire
        import flwr.superlink.grid.http_grid as http_grid

        from federated.warm_node import short_object_backoff

        short_object_backoff(http_grid)
    serve(grid, open_run(context))


def open_run(context: Context) -> RunDir:
    """The run directory (GUARD_RUN_DIR under `guard federate`, the run config's run-dir
    under `flwr run`), prepared from the config when new, checked for `--resume` when not."""
    cfg = context.run_config
    run_dir = str(cfg.get("run-dir") or os.environ.get(RUN_DIR_ENV, ""))
    if not run_dir:
        raise RuntimeError(f"no run directory: pass --run-config 'run-dir=\"...\"' or set {RUN_DIR_ENV}")
    run = RunDir(run_dir)
    if not run.config_file.exists():
        from federated.config import load_config

        config_path = str(cfg.get("config", ""))
        prepare_run(load_config(config_path or None), run, resume=False)
    elif cfg.get("run-dir"):  # `flwr run` continues a run: the checks of `guard federate --resume`
        prepare_run(None, run, resume=True, allow_data_change=bool(cfg.get("allow-data-change", False)))
    return run

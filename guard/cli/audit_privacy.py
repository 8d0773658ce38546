"""`guard audit privacy`: canary exposure, membership inference, extraction and an
empirical epsilon beside the claimed one (options in, `guard.audit.privacy`, findings out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from guard.cli._common import DeviceOpt, JsonOpt, SeedOpt, ThreadsOpt, console_err, print_findings
from guard.core.errors import GuardError

CHECKS = ("exposure", "membership", "reference", "extraction")  # guard.audit.PRIVACY_CHECKS


def privacy(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A guard federate run directory.")] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", help="Instead of a run: a model folder (guard or Hugging Face).")
    ] = None,
    train: Annotated[
        Optional[Path], typer.Option("--train", help="With --model: its training records (members).")
    ] = None,
    holdout: Annotated[
        Optional[Path], typer.Option("--holdout", help="With --model: held-out records (non-members).")
    ] = None,
    task: Annotated[
        Optional[str], typer.Option("--task", help="With a Hugging Face --model: causal_lm or classification.")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Findings JSON (default: RUN_DIR/audit_privacy.json).")
    ] = None,
    references: Annotated[
        int, typer.Option("--references", "-k", help="Reference models for LiRA (even; 0 skips).")
    ] = 4,
    max_records: Annotated[int, typer.Option("--max-records", help="Members and non-members audited, each.")] = 2000,
    check: Annotated[
        list[str], typer.Option("--check", help=f"Run only these checks (repeatable): {', '.join(CHECKS)}.")
    ] = [],  # noqa: B006
    silo_data: Annotated[
        Optional[Path], typer.Option("--silo-data", help="Silo run, on a node: this node's data file.")
    ] = None,
    silo_state: Annotated[
        Optional[Path], typer.Option("--silo-state", help="Silo run, on a node: its state directory (canaries).")
    ] = None,
    client_id: Annotated[Optional[str], typer.Option("--client-id", help="Silo run, on a node: its client id.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local: train LiRA's reference models here. ray: as Ray tasks.")
    ] = "local",
    address: Annotated[
        Optional[str],
        typer.Option("--address", help="With --engine ray: the cluster (HOST:6379; default a fresh local instance)."),
    ] = None,
) -> None:
    """Measure what a trained model memorizes and leaks; check the claimed epsilon against an empirical lower bound.

    Exit 41 when the bound is above the claim (a privacy bug); the findings are written first."""
    from guard import audit

    if out is None:
        if run_dir is None:
            raise GuardError("--out FILE is needed with --model")
        out = run_dir / "audit_privacy.json"

    def progress(message: str) -> None:
        console_err.print(f"[dim]privacy audit:[/] {message}", highlight=False)

    silo = None
    if silo_data is not None or silo_state is not None or client_id is not None:
        from federated.silo import NODE_CLIENT, NODE_DATA, NODE_STATE, SiloNode

        given = {NODE_DATA: silo_data, NODE_CLIENT: client_id, NODE_STATE: silo_state}
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise GuardError("a silo node's audit needs --silo-data, --silo-state and --client-id together")
        silo = SiloNode.from_node_config({k: str(v) for k, v in given.items()})
    report = audit.privacy(
        run_dir,
        silo=silo,
        model=model,
        train=train,
        holdout=holdout,
        task=task,
        references=references,
        max_records=max_records,
        checks=check,
        seed=seed,
        device=device,
        threads=threads,
        engine=engine,
        address=address,
        out=out,
        progress=progress,
    )
    print_findings(report, out, as_json=as_json)
    critical = [f for f in report.findings if f.severity == "critical"]
    if critical:
        from audits import PrivacyClaimViolated

        raise PrivacyClaimViolated("; ".join(f.message for f in critical))


def register(app: typer.Typer) -> None:
    app.command()(privacy)


__all__ = ["register"]

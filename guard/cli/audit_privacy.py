"""`guard audit privacy`: canary exposure, membership inference, extraction and an
empirical epsilon beside the claimed one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from guard.cli._common import console_err

CHECKS = ("exposure", "membership", "reference", "extraction")


def privacy(
    run_dir: Optional[Path] = typer.Argument(None, help="A guard federate run directory."),
    model: Optional[Path] = typer.Option(
        None, "--model", help="Instead of a run: a model folder (guard or Hugging Face)."
    ),
    train: Optional[Path] = typer.Option(None, "--train", help="With --model: its training records (members)."),
    holdout: Optional[Path] = typer.Option(None, "--holdout", help="With --model: held-out records (non-members)."),
    task: Optional[str] = typer.Option(
        None, "--task", help="With a Hugging Face --model: causal_lm or classification."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Findings JSON (default: RUN_DIR/audit_privacy.json)."
    ),
    references: int = typer.Option(4, "--references", "-k", help="Reference models for LiRA (even; 0 skips)."),
    max_records: int = typer.Option(2000, "--max-records", help="Members and non-members audited, each."),
    check: list[str] = typer.Option([], "--check", help=f"Run only these checks (repeatable): {', '.join(CHECKS)}."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: Optional[int] = typer.Option(
        None, "--threads", help="torch threads (default: one per core; 1 is often faster on a busy small machine)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Measure what a trained model memorizes and leaks; check the claimed epsilon against an empirical lower bound.

    Exit 13 when the bound is above the claim (a privacy bug); the findings are written first."""
    from audits import PrivacyAuditOptions, PrivacyClaimViolated, run_privacy_audit
    from guard.cli.audit import print_findings
    from guard.core.errors import GuardError

    if out is None:
        if run_dir is None:
            raise GuardError("--out FILE is needed with --model")
        out = run_dir / "audit_privacy.json"
    options = PrivacyAuditOptions(
        references=references,
        max_records=max_records,
        device=device,
        threads=threads,
        **({"checks": tuple(check)} if check else {}),
    )

    def progress(message: str) -> None:
        console_err.print(f"[dim]privacy audit:[/] {message}", highlight=False)

    report = run_privacy_audit(
        run_dir, model_dir=model, train=train, holdout=holdout, task=task, options=options, seed=seed, progress=progress
    )
    report.write(out)
    print_findings(report, out, as_json=as_json)
    critical = [f for f in report.findings if f.severity == "critical"]
    if critical:
        raise PrivacyClaimViolated("; ".join(f.message for f in critical))


def register(app: typer.Typer) -> None:
    app.command()(privacy)


__all__ = ["register"]

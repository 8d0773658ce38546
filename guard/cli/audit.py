"""`guard audit ...`: the privacy, fairness and explanation audits.

Each command module registers its commands on `audit_app`; this module only
builds the group and prints findings the same way for all of them.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from guard.cli._common import console, emit_json

audit_app = typer.Typer(
    name="audit",
    help="Audit a trained model: privacy leakage, group fairness, explanations.",
    no_args_is_help=True,
)


def print_findings(report, out: Path | None, *, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Show an AuditReport as a table (or JSON) and say where it was written."""
    from audits.findings import finding_table

    if as_json:
        emit_json(report.to_json())
        return
    table = Table(title=f"{report.audit} audit", show_lines=False)
    for column in ("check", "metric", "group", "value", "verdict"):
        table.add_column(column)
    for row in finding_table(report.findings):
        table.add_row(*(escape(x) for x in row))
    console.print(table)
    for check, reason in report.skipped.items():
        console.print(f"skipped {escape(check)}: {escape(reason)}", highlight=False)
    for f in report.findings:
        if f.severity == "critical":
            console.print(f"[bold red]CRITICAL[/] {escape(f.check)}: {escape(f.message)}", highlight=False)
    if out is not None:
        console.print(f"findings: {out}", highlight=False)


def register(app: typer.Typer) -> None:
    from guard.cli import audit_fairness, audit_privacy

    audit_privacy.register(audit_app)
    audit_fairness.register(audit_app)
    app.add_typer(audit_app)


__all__ = ["audit_app", "print_findings", "register"]

"""`guard audit ...`: the privacy, fairness and explanation audits.

This module only builds the group; each command module registers its commands
on `audit_app`. What they share (the findings table, the options) is in
`guard.cli._common`, so no command module imports this one.
"""

from __future__ import annotations

import typer

from guard.cli import audit_fairness, audit_privacy

audit_app = typer.Typer(
    name="audit",
    help="Audit a trained model: privacy leakage, group fairness, explanations.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    audit_privacy.register(audit_app)
    audit_fairness.register(audit_app)
    app.add_typer(audit_app)


__all__ = ["audit_app", "register"]

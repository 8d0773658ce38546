"""`guard federate`: federated fine-tuning with Flower and Opacus DP-SGD."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from guard.cli._common import console, emit_json
from guard.core.errors import GuardError, Interrupted

_EXIT_GRACE_S = 20.0


def federate(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Federation config (TOML)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="New run directory."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run from its last finished round."),
    allow_data_change: bool = typer.Option(
        False,
        "--allow-data-change",
        help="With --resume: go on although the corpus changed, as a new data segment of the privacy ledger.",
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: section.key=value (repeatable)."),
    canaries: Optional[int] = typer.Option(
        None, "--canaries", help="Canaries per repeat count (for the privacy audit)."
    ),
    canary_repeats: list[int] = typer.Option(
        [], "--canary-repeats", help="Times each canary is repeated (repeatable)."
    ),
    list_models: bool = typer.Option(False, "--list-models", help="List model and strategy names and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Fine-tune a model across data silos: Flower simulation, Opacus DP-SGD on every client,
    a privacy ledger with each client's cumulative epsilon.

    --resume refuses a damaged run directory or a changed corpus (exit 10). SIGINT/SIGTERM
    stop the run and Ray, keep the finished rounds and exit 128 + the signal."""
    if list_models:
        from federated.models import model_names
        from federated.strategies import strategy_names

        console.print(f"models: {', '.join(model_names())}\nstrategies: {', '.join(strategy_names())}")
        return
    from federated import load_config, run_federation
    from federated.stopping import exit_anyway

    try:
        if resume is not None:
            if config is not None or out is not None or set_ or canaries is not None:
                raise GuardError("--resume takes only the run directory: its config is fixed")
            summary = run_federation(None, resume, resume=True, allow_data_change=allow_data_change)
        else:
            if allow_data_change:
                raise GuardError("--allow-data-change goes with --resume RUN_DIR")
            if config is None and not set_ or out is None:
                raise GuardError("pass --config FILE (or --set data.path=...) and --out RUN_DIR, or --resume RUN_DIR")
            overrides = list(set_)
            if canaries is not None:
                overrides.append(f"canaries.count={canaries}")
            if canary_repeats:
                overrides.append(f"canaries.repeats={list(canary_repeats)}")
            summary = run_federation(load_config(config, overrides=overrides), out)
    except Interrupted as e:
        exit_anyway(e.exit_code, after=_EXIT_GRACE_S)  # no thread left behind may hold the exit
        raise
    if as_json:
        emit_json(summary.to_json())
        return
    state = "finished" if summary.finished else f"stopped after round {summary.rounds_done}"
    console.print(
        f"federate: {summary.clients} clients, {summary.rounds_done} rounds, {state} -> {summary.run_dir}",
        highlight=False,
    )
    evaluate = summary.final_metrics.get("evaluate", {})
    if evaluate:
        console.print("held-out: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(evaluate.items())), highlight=False)
    console.print(summary.privacy_statement, highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(federate)


__all__ = ["register"]

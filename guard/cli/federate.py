"""`guard federate`: federated fine-tuning with Flower and Opacus DP-SGD (options in,
`guard.api.federate` called, the run summary printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from guard.cli._common import JsonOpt, SetOpt, console, emit_json
from guard.core.errors import Interrupted

_EXIT_GRACE_S = 20.0


def federate(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Federation config (TOML).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="New run directory.")] = None,
    resume: Annotated[
        Optional[Path], typer.Option("--resume", help="Continue this run from its last finished round.")
    ] = None,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="With --resume: go on although the corpus changed, as a new data segment of the privacy ledger.",
        ),
    ] = False,
    set_: SetOpt = [],  # noqa: B006
    canaries: Annotated[
        Optional[int], typer.Option("--canaries", help="Canaries per repeat count (for the privacy audit).")
    ] = None,
    canary_repeats: Annotated[
        list[int], typer.Option("--canary-repeats", help="Times each canary is repeated (repeatable).")
    ] = [],  # noqa: B006
    list_models: Annotated[bool, typer.Option("--list-models", help="List model and strategy names and exit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model across data silos: Flower simulation, Opacus DP-SGD on every client,
    a privacy ledger with each client's cumulative epsilon.

    --resume refuses a damaged run directory or a changed corpus (exit 30). SIGINT/SIGTERM
    stop the run and Ray, keep the finished rounds and exit 128 + the signal."""
    from guard import api

    if list_models:
        names = api.federate_names()
        console.print(f"models: {', '.join(names['models'])}\nstrategies: {', '.join(names['strategies'])}")
        return
    overrides = list(set_)
    if canaries is not None:
        overrides.append(f"canaries.count={canaries}")
    if canary_repeats:
        overrides.append(f"canaries.repeats={list(canary_repeats)}")
    try:
        summary = api.federate(config, out, overrides=overrides, resume=resume, allow_data_change=allow_data_change)
    except Interrupted as e:
        from federated.stopping import exit_anyway

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

"""`guard augment`: counterfactual data augmentation for text (a thin shell over audits.augment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guard.cli._common import FormatOpt, JsonOpt, ReportOpt, SeedOpt, console, emit_json
from guard.core.signals import stop_on_signals


def augment(
    corpus: Annotated[Path, typer.Argument(help="Corpus to augment (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The augmented corpus (written atomically).")],
    fmt: FormatOpt = None,
    text_field: Annotated[str, typer.Option("--text-field", "-t", help="The text field.")] = "text",
    id_field: Annotated[str, typer.Option("--id-field", help="Record id field; a copy gets '<id>-cf'.")] = "id",
    axis: Annotated[
        list[str],
        typer.Option("--axis", "-a", help="Swap axis (repeatable): gender, race, religion, name_gender, ..."),
    ] = ["gender", "name_gender"],  # noqa: B006
    swap_field: Annotated[
        list[str],
        typer.Option(
            "--swap-field",
            help="A column holding the swapped group, FIELD:AXIS:VALUE=GROUP,... (e.g. sex:gender:M=male,F=female).",
        ),
    ] = [],  # noqa: B006
    report: ReportOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Add a counterfactual copy after each record whose text names an identity term or first name of
    the counterfactual audit's lists: the groups' words swapped both ways, same label, new id, the
    --swap-field column swapped to match. A data step before `guard federate`. Counts only, never a text."""
    from audits.augment import AugmentOptions, FieldSwap, augment_corpus

    options = AugmentOptions(
        text_field=text_field,
        id_field=id_field,
        axes=tuple(axis),
        swap_fields=tuple(FieldSwap.parse(s) for s in swap_field),
        fmt=fmt,
        seed=seed,
    )
    with stop_on_signals([out, report]):
        result = augment_corpus(corpus, out, options=options, report=report)
    if as_json:
        emit_json(result.to_json())
        return
    console.print(
        f"{result.records_read:,} records read, {result.copies:,} counterfactual copies added: "
        f"{result.records_written:,} records in {out}",
        highlight=False,
    )
    for name, counts in result.axes.items():
        directions = ", ".join(f"{k} {v}" for k, v in counts["directions"].items()) or "none"
        console.print(f"  {name}: {counts['records']} records, {counts['words_swapped']} words ({directions})")


def register(app: typer.Typer) -> None:
    app.command()(augment)


__all__ = ["register"]

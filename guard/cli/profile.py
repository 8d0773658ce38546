"""`guard profile`: a corpus's data-quality profile (a thin shell over guard.quality)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from guard.cli._common import FormatOpt, JsonOpt, SeedOpt, console, emit_json
from guard.core.errors import ExitCode, GuardError
from guard.core.signals import stop_on_signals
from guard.core.types import OnError


class ProfileFlagged(GuardError):
    """`--fail-on-flags` and the profile named at least one defect."""

    exit_code = ExitCode.CHECKS_FAILED


def profile(
    corpus: Annotated[Path, typer.Argument(help="Corpus to profile (JSONL, CSV, Parquet or text).")],
    fmt: FormatOpt = None,
    text_field: Annotated[list[str], typer.Option("--text-field", "-t", help="Text field (repeatable).")] = [  # noqa: B006
        "text"
    ],
    label_field: Annotated[Optional[str], typer.Option("--label-field", help="Label field: label balance.")] = None,
    group_field: Annotated[
        list[str],
        typer.Option("--group-field", "-g", help="Group field: group balance and label-by-group (repeatable)."),
    ] = [],  # noqa: B006
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Write the profile JSON here (atomically).")
    ] = None,
    pii: Annotated[bool, typer.Option("--pii/--no-pii", help="Scan a sample for PII (the slow part).")] = True,
    pii_sample: Annotated[int, typer.Option("--pii-sample", help="Records scanned for PII (seeded sample).")] = 200,
    language: Annotated[bool, typer.Option("--language/--no-language", help="Identify each record's language.")] = True,
    near_threshold: Annotated[
        float, typer.Option("--near-threshold", help="Estimated Jaccard similarity of a near duplicate.")
    ] = 0.8,
    near_index: Annotated[
        int, typer.Option("--near-index", help="Most MinHash signatures held (memory bound).")
    ] = 20_000,
    exact_index: Annotated[int, typer.Option("--exact-index", help="Most text digests held (memory bound).")] = 50_000,
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="fail: stop at a bad record (file:line); skip: count it and go on.")
    ] = OnError.fail,
    fail_on_flags: Annotated[
        bool, typer.Option("--fail-on-flags", help="Exit CHECKS_FAILED (40) when any defect is flagged.")
    ] = False,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Profile a corpus before training: missing values, duplicates, lengths, languages, control characters,
    label and group balance (chi-square, Cramer's V), PII density. Counts and rates only, never a value."""
    from guard.core.io import check_distinct
    from guard.quality import ProfileOptions, profile_corpus

    options = ProfileOptions(
        text_fields=tuple(text_field),
        label_field=label_field,
        group_fields=tuple(group_field),
        fmt=fmt,
        on_error=on_error,
        near_threshold=near_threshold,
        near_index=near_index,
        exact_index=exact_index,
        language=language,
        pii=pii,
        pii_sample=pii_sample,
        seed=seed,
    )
    check_distinct({"input": corpus, "profile": out})  # before the pass: --out must never be the corpus
    with stop_on_signals([out]):  # SIGINT/SIGTERM: guard's exit code, and the message says what was kept
        result = profile_corpus(corpus, options=options)
        if out is not None:
            result.write(out)
    if as_json:
        emit_json(result.to_json())
    else:
        _show(result.to_json(), out)
    if fail_on_flags and result.flags:
        names = sorted({f.check.value for f in result.flags})
        raise ProfileFlagged(f"{corpus}: the profile flags {len(result.flags)} defect(s): {', '.join(names)}")


def _show(data: dict[str, Any], out: Path | None) -> None:
    dup, lang = data["duplicates"], data["languages"]
    console.print(
        f"{data['records']:,} records ({data['records_failed']} unreadable); exact duplicates "
        f"{dup['exact_rate']:.2%}, near {dup['near_rate']:.2%}; main language {lang.get('main')} "
        f"(others {lang.get('other_share', 0):.2%})",
        highlight=False,
    )
    table = Table(title="flags")
    for column in ("check", "field", "value", "limit", "detail"):
        table.add_column(column)
    for f in data["flags"]:
        table.add_row(
            f["check"], escape(str(f["field"] or "")), f"{f['value']:.4g}", f"{f['limit']:g}", escape(f["message"])
        )
    console.print(table if data["flags"] else "no flags")
    if out is not None:
        console.print(f"profile: {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(profile)


__all__ = ["register"]

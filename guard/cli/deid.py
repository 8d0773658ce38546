"""`guard scrub`, `guard scan`, `guard restore` and `guard dedup`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from guard.cli._common import console, emit_json, record_progress
from guard.core.io import Format
from guard.core.signals import stop_on_signals
from guard.deid.scrubber import DetectorName, OnError

TEXT_FIELD_HELP = "Field to de-identify (repeatable). Every other field passes through unchanged."


def _summary(report: dict, *, as_json: bool, extra: dict | None = None) -> None:  # type: ignore[type-arg]
    if as_json:
        emit_json(report | (extra or {}))
        return
    entities = ", ".join(f"{k} {v}" for k, v in report["entities"].items()) or "none"
    console.print(
        f"{report['command']}: {report['records_read']:,} records read, "
        f"{report['records_changed']:,} changed, {report['records_failed']:,} failed "
        f"in {report['seconds']:.1f}s with {report['workers']} worker(s)",
        highlight=False,
    )
    console.print(f"entities found: {entities}", highlight=False)
    for note in report.get("notes", []):
        console.print(f"note: {note}", highlight=False)
    for label, value in (extra or {}).items():
        console.print(f"{label}: {value}", highlight=False)


def _progress_enabled(progress: Optional[bool]) -> bool:
    if console.quiet:  # -q: only errors
        return False
    return sys.stderr.isatty() if progress is None else progress


def _quarantine_path(output: Path, quarantine: Optional[Path], on_error: OnError) -> Optional[Path]:
    if on_error is not OnError.skip:
        return None
    return quarantine or output.with_name(output.name + ".quarantine.jsonl")


def scrub(
    input: Path = typer.Argument(..., help="Corpus to de-identify (JSONL, CSV, Parquet or text)."),
    output: Path = typer.Argument(..., help="Where to write the de-identified corpus."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Input format (default: from the extension)."),
    text_field: list[str] = typer.Option(["text"], "--text-field", "-t", help=TEXT_FIELD_HELP),
    policy: Optional[Path] = typer.Option(None, "--policy", "-p", help="Policy TOML: entities, thresholds, operators."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="File holding the secret key (else $GUARD_KEY)."),
    workers: int = typer.Option(0, "--workers", "-w", help="Worker processes (0: all cores)."),
    report: Optional[Path] = typer.Option(None, "--report", "-r", help="Write a JSON report (counts only, no PII)."),
    on_error: OnError = typer.Option(
        OnError.fail, "--on-error", help="fail: stop, write nothing. skip: quarantine bad records."
    ),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Where skipped records go (JSONL)."),
    max_chars: int = typer.Option(1_000_000, "--max-chars", help="Longest text accepted in one field."),
    drop_fields: bool = typer.Option(
        False,
        "--drop-fields",
        help="Let an output format that cannot hold every field drop the others (a .txt output keeps only the "
        "text; CSV and Parquet keep the first record's columns). Without it such a conversion is refused.",
    ),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """De-identify a corpus with Presidio + spaCy, offline."""
    from guard.core.policy import load_policy
    from guard.deid import Scrubber, ScrubOptions

    options = ScrubOptions(
        text_fields=tuple(text_field),
        fmt=fmt,
        workers=workers,
        on_error=on_error,
        quarantine=quarantine,
        max_chars=max_chars,
        drop_fields=drop_fields,
    )
    quarantine_path = _quarantine_path(output, quarantine, on_error)
    with stop_on_signals([output, report, quarantine_path]):
        scrubber = Scrubber(load_policy(policy), key_file=key_file)
        with record_progress("scrub", enabled=_progress_enabled(progress)) as update:
            result = scrubber.run(input, output, options=options, progress=update, report=report)
    extra = {"output": str(output)}
    if report is not None:
        extra["report"] = str(report)
    if result.records_failed and quarantine_path is not None:
        extra["quarantine"] = str(quarantine_path)
    _summary(result.to_json(), as_json=as_json, extra=extra)


def scan(
    input: Path = typer.Argument(..., help="Corpus to scan (JSONL, CSV, Parquet or text)."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Input format (default: from the extension)."),
    text_field: list[str] = typer.Option(["text"], "--text-field", "-t", help="Field to scan (repeatable)."),
    policy: Optional[Path] = typer.Option(None, "--policy", "-p", help="Policy TOML: entities and thresholds."),
    workers: int = typer.Option(0, "--workers", "-w", help="Worker processes (0: all cores)."),
    report: Optional[Path] = typer.Option(None, "--report", "-r", help="Write a JSON report."),
    max_chars: int = typer.Option(1_000_000, "--max-chars", help="Longest text accepted in one field."),
    on_error: OnError = typer.Option(OnError.fail, "--on-error", help="fail: stop. skip: count bad records and go on."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    detector: DetectorName = typer.Option(
        DetectorName.guard,
        "--detector",
        help="guard: the scrubber's own detector. presidio: plain Presidio, a second opinion on a scrubbed corpus "
        "that does not share guard's blind spots.",
    ),
) -> None:
    """Count PII per entity type and field without changing anything."""
    from guard.core.policy import load_policy
    from guard.deid import Scrubber, ScrubOptions

    options = ScrubOptions(
        text_fields=tuple(text_field), fmt=fmt, workers=workers, max_chars=max_chars, on_error=on_error
    )
    with stop_on_signals([report]):
        scanner = Scrubber(load_policy(policy), apply_operators=False, detector=detector)
        with record_progress("scan", enabled=_progress_enabled(progress)) as update:
            result = scanner.run(input, None, options=options, progress=update, report=report)
    _summary(result.to_json(), as_json=as_json, extra={"report": str(report)} if report else None)


def restore(
    input: Path = typer.Argument(..., help="A corpus scrubbed with the encrypt operator."),
    output: Path = typer.Argument(..., help="Where to write the restored corpus."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Input format (default: from the extension)."),
    text_field: list[str] = typer.Option(["text"], "--text-field", "-t", help="Field to restore (repeatable)."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="File holding the secret key (else $GUARD_KEY)."),
    key_env: str = typer.Option("GUARD_KEY", "--key-env", help="Variable holding the key."),
    as_json: bool = typer.Option(False, "--json", help="Print counts as JSON."),
) -> None:
    """Decrypt values written by the `encrypt` operator, with the same key."""
    from guard.deid import restore as do_restore

    with stop_on_signals([output]):
        result = do_restore(input, output, text_fields=tuple(text_field), fmt=fmt, key_env=key_env, key_file=key_file)
    counts = {"records": result.records, "values_restored": result.values_restored, "output": str(output)}
    if as_json:
        emit_json(counts)
    else:
        console.print(f"restore: {result.values_restored:,} values in {result.records:,} records -> {output}")


def dedup(
    input: Path = typer.Argument(..., help="Corpus to deduplicate (JSONL, CSV, Parquet or text)."),
    output: Path = typer.Argument(..., help="Where to write the kept records, in input order."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Input format (default: from the extension)."),
    text_field: list[str] = typer.Option(["text"], "--text-field", "-t", help="Field compared (repeatable)."),
    threshold: float = typer.Option(
        0.8, "--threshold", help="Estimated Jaccard similarity at which a record is a near duplicate."
    ),
    num_perm: int = typer.Option(128, "--num-perm", help="MinHash permutations."),
    shingle_size: int = typer.Option(3, "--shingle-size", help="Words per shingle."),
    id_field: str = typer.Option("id", "--id-field", help="Field that names a record in the report."),
    report: Optional[Path] = typer.Option(
        None, "--report", "-r", help="Write which records were dropped and why (JSON)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Drop exact and near-duplicate records (MinHash LSH); duplicated text is what models memorize most."""
    from guard.deid import dedup as do_dedup

    with stop_on_signals([output, report]):
        result = do_dedup(
            input,
            output,
            text_fields=tuple(text_field),
            fmt=fmt,
            threshold=threshold,
            num_perm=num_perm,
            shingle_size=shingle_size,
            id_field=id_field,
            report=report,
        )
    if as_json:
        emit_json(result.to_json())
        return
    console.print(
        f"dedup: {result.records_read:,} read, {result.records_kept:,} kept, "
        f"{result.exact_dropped:,} exact and {result.near_dropped:,} near duplicates dropped -> {output}",
        highlight=False,
    )
    if report is not None:
        console.print(f"report: {report}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(scrub)
    app.command()(scan)
    app.command()(restore)
    app.command()(dedup)


__all__ = ["register"]

"""`guard scrub`, `guard scan`, `guard restore` and `guard dedup`: parse options, call
`guard.api`, print. `-` is standard input or output; with `-` as the output the
summary goes to stderr."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from guard.cli._common import (
    STDIO_HELP,
    STDOUT_HELP,
    FormatOpt,
    JsonOpt,
    KeyFileOpt,
    MaxCharsOpt,
    PolicyOpt,
    ProgressOpt,
    ReportOpt,
    TextFieldsOpt,
    WorkersOpt,
    console,
    emit_json,
    record_progress,
    summary_console,
)
from guard.core.errors import GuardError
from guard.core.io import is_stdio
from guard.core.signals import stop_on_signals
from guard.core.types import DetectorName, OnError

TEXT_FIELD_HELP = "Field to de-identify (repeatable). Every other field passes through unchanged."


class EngineName(StrEnum):
    local = "local"
    ray = "ray"


EngineOpt = Annotated[
    EngineName,
    typer.Option("--engine", help="local: worker processes on this machine. ray: an actor pool on a Ray cluster."),
]
AddressOpt = Annotated[
    Optional[str],
    typer.Option(
        "--address",
        help="With --engine ray: the cluster to use (HOST:6379 or ray://HOST:10001). Default: a fresh local "
        "instance (RAY_ADDRESS is never joined silently).",
    ),
]
ActorsOpt = Annotated[
    int, typer.Option("--actors", help="With --engine ray: actors in the pool, one CPU each (0: one per cluster CPU).")
]


def _ray_options(engine: EngineName, address: Optional[str], actors: int) -> object:
    """The Ray settings of a command, or None for the local engine (then --address and --actors
    make no sense and are refused)."""
    if engine is EngineName.local:
        if address is not None or actors:
            raise GuardError("--address and --actors need --engine ray")
        return None
    from guard.deid.ray_engine import RayOptions

    return RayOptions(address=address, actors=actors)


def _summary(report: dict, *, to: Console, as_json: bool, extra: dict | None = None) -> None:  # type: ignore[type-arg]
    if as_json:
        emit_json(report | (extra or {}), to=to)
        return
    entities = ", ".join(f"{k} {v}" for k, v in report["entities"].items()) or "none"
    to.print(
        f"{report['command']}: {report['records_read']:,} records read, "
        f"{report['records_changed']:,} changed, {report['records_failed']:,} failed "
        f"in {report['seconds']:.1f}s with {report['workers']} worker(s)",
        highlight=False,
    )
    to.print(f"entities found: {entities}", highlight=False)
    for note in report.get("notes", []):
        to.print(f"note: {note}", highlight=False)
    for label, value in (extra or {}).items():
        to.print(f"{label}: {value}", highlight=False)


def _progress_enabled(progress: Optional[bool]) -> bool:
    if console.quiet:  # -q: only errors
        return False
    return sys.stderr.isatty() if progress is None else progress


def _quarantine_path(output: Path, quarantine: Optional[Path], on_error: OnError) -> Optional[Path]:
    if on_error is not OnError.skip:
        return None
    if quarantine is None and is_stdio(output):
        raise GuardError("--on-error skip with output `-` needs --quarantine FILE for the skipped records")
    return quarantine or output.with_name(output.name + ".quarantine.jsonl")


def _files_only(**options: Optional[Path]) -> None:
    """Refuse `-` for an option that must name a file (--report, --quarantine): stdout carries
    the records, and --json prints the report."""
    for name, path in options.items():
        if is_stdio(path):
            raise GuardError(f"--{name} needs a file, not `-`", hint="use --json to print the report")


def _no_file(*paths: Optional[Path]) -> list[Optional[Path]]:
    """The paths a signal handler should describe (standard input/output are no files)."""
    return [None if is_stdio(p) else p for p in paths]


def scrub(
    input: Annotated[Path, typer.Argument(help=f"Corpus to de-identify (JSONL, CSV, Parquet or text). {STDIO_HELP}")],
    output: Annotated[Path, typer.Argument(help=f"Where to write the de-identified corpus. {STDOUT_HELP}")],
    fmt: FormatOpt = None,
    text_field: Annotated[list[str], typer.Option("--text-field", "-t", help=TEXT_FIELD_HELP)] = ["text"],  # noqa: B006
    policy: PolicyOpt = None,
    key_file: KeyFileOpt = None,
    workers: WorkersOpt = 0,
    report: ReportOpt = None,
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="fail: stop, write nothing. skip: quarantine bad records.")
    ] = OnError.fail,
    quarantine: Annotated[
        Optional[Path], typer.Option("--quarantine", help="Where skipped records go (JSONL).")
    ] = None,
    max_chars: MaxCharsOpt = 1_000_000,
    drop_fields: Annotated[
        bool,
        typer.Option(
            "--drop-fields",
            help="Let an output format that cannot hold every field drop the others (a .txt output keeps only the "
            "text; CSV and Parquet keep the first record's columns). Without it such a conversion is refused.",
        ),
    ] = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
    engine: EngineOpt = EngineName.local,
    address: AddressOpt = None,
    actors: ActorsOpt = 0,
) -> None:
    """De-identify a corpus with Presidio + spaCy, offline. `guard scrub - -` filters stdin to stdout."""
    from guard.api import scrub_file

    ray_options = _ray_options(engine, address, actors)
    _files_only(report=report, quarantine=quarantine)
    quarantine_path = _quarantine_path(output, quarantine, on_error)
    with stop_on_signals(_no_file(output, report, quarantine_path)):
        with record_progress("scrub", enabled=_progress_enabled(progress)) as update:
            run = scrub_file if ray_options is None else _ray_runner(ray_options, apply_operators=True)
            result = run(
                input,
                output,
                policy=policy,
                key_file=key_file,
                text_fields=tuple(text_field),
                fmt=fmt,
                workers=workers,
                on_error=on_error.value,
                quarantine=quarantine_path,
                max_chars=max_chars,
                drop_fields=drop_fields,
                report=report,
                progress=update,
            )
    extra = {"output": str(output)}
    if report is not None:
        extra["report"] = str(report)
    if result.records_failed and quarantine_path is not None:
        extra["quarantine"] = str(quarantine_path)
    _summary(result.to_json(), to=summary_console(output), as_json=as_json, extra=extra)


def scan(
    input: Annotated[Path, typer.Argument(help=f"Corpus to scan (JSONL, CSV, Parquet or text). {STDIO_HELP}")],
    fmt: FormatOpt = None,
    text_field: TextFieldsOpt = ["text"],  # noqa: B006
    policy: PolicyOpt = None,
    workers: WorkersOpt = 0,
    report: ReportOpt = None,
    max_chars: MaxCharsOpt = 1_000_000,
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="fail: stop. skip: count bad records and go on.")
    ] = OnError.fail,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
    detector: Annotated[
        DetectorName,
        typer.Option(
            "--detector",
            help="guard: the scrubber's own detector. presidio: plain Presidio, a second opinion on a scrubbed "
            "corpus that does not share guard's blind spots.",
        ),
    ] = DetectorName.guard,
    engine: EngineOpt = EngineName.local,
    address: AddressOpt = None,
    actors: ActorsOpt = 0,
) -> None:
    """Count PII per entity type and field without changing anything."""
    from guard.api import scan_file

    ray_options = _ray_options(engine, address, actors)
    _files_only(report=report)
    with stop_on_signals(_no_file(report)):
        with record_progress("scan", enabled=_progress_enabled(progress)) as update:
            run = scan_file if ray_options is None else _ray_runner(ray_options, apply_operators=False)
            result = run(
                input,
                policy=policy,
                text_fields=tuple(text_field),
                fmt=fmt,
                workers=workers,
                on_error=on_error.value,
                max_chars=max_chars,
                detector=detector.value,
                report=report,
                progress=update,
            )
    _summary(result.to_json(), to=console, as_json=as_json, extra={"report": str(report)} if report else None)


def restore(
    input: Annotated[Path, typer.Argument(help=f"A corpus scrubbed with the encrypt operator. {STDIO_HELP}")],
    output: Annotated[Path, typer.Argument(help=f"Where to write the restored corpus. {STDOUT_HELP}")],
    fmt: FormatOpt = None,
    text_field: TextFieldsOpt = ["text"],  # noqa: B006
    key_file: KeyFileOpt = None,
    key_env: Annotated[str, typer.Option("--key-env", help="Variable holding the key.")] = "GUARD_KEY",
    as_json: JsonOpt = False,
) -> None:
    """Decrypt values written by the `encrypt` operator, with the same key."""
    from guard.api import restore as do_restore

    with stop_on_signals(_no_file(output)):
        result = do_restore(input, output, text_fields=tuple(text_field), fmt=fmt, key_env=key_env, key_file=key_file)
    to = summary_console(output)
    counts = {"records": result.records, "values_restored": result.values_restored, "output": str(output)}
    if as_json:
        emit_json(counts, to=to)
    else:
        to.print(f"restore: {result.values_restored:,} values in {result.records:,} records -> {output}")


def dedup(
    input: Annotated[Path, typer.Argument(help=f"Corpus to deduplicate (JSONL, CSV, Parquet or text). {STDIO_HELP}")],
    output: Annotated[Path, typer.Argument(help=f"Where to write the kept records, in input order. {STDOUT_HELP}")],
    fmt: FormatOpt = None,
    text_field: Annotated[list[str], typer.Option("--text-field", "-t", help="Field compared (repeatable).")] = [  # noqa: B006
        "text"
    ],
    threshold: Annotated[
        float, typer.Option("--threshold", help="Estimated Jaccard similarity at which a record is a near duplicate.")
    ] = 0.8,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
    shingle_size: Annotated[int, typer.Option("--shingle-size", help="Words per shingle.")] = 3,
    id_field: Annotated[str, typer.Option("--id-field", help="Field that names a record in the report.")] = "id",
    report: Annotated[
        Optional[Path], typer.Option("--report", "-r", help="Write which records were dropped and why (JSON).")
    ] = None,
    as_json: JsonOpt = False,
    engine: EngineOpt = EngineName.local,
    address: AddressOpt = None,
    actors: ActorsOpt = 0,
) -> None:
    """Drop exact and near-duplicate records (MinHash LSH); duplicated text is what models memorize most."""
    from guard.api import dedup as do_dedup

    ray_options = _ray_options(engine, address, actors)
    _files_only(report=report)
    with stop_on_signals(_no_file(output, report)):
        if ray_options is not None:
            from functools import partial

            from guard.deid.dedup_ray import dedup_ray

            do_dedup = partial(dedup_ray, ray_options=ray_options)
        result = do_dedup(
            input,
            output,
            text_fields=text_field,
            fmt=fmt,
            threshold=threshold,
            num_perm=num_perm,
            shingle_size=shingle_size,
            id_field=id_field,
            report=report,
        )
    to = summary_console(output)
    if as_json:
        emit_json(result.to_json(), to=to)
        return
    to.print(
        f"dedup: {result.records_read:,} read, {result.records_kept:,} kept, "
        f"{result.exact_dropped:,} exact and {result.near_dropped:,} near duplicates dropped -> {output}",
        highlight=False,
    )
    if report is not None:
        to.print(f"report: {report}", highlight=False)
    for note in result.notes:
        to.print(f"note: {note}", highlight=False)


def _ray_runner(ray_options: object, *, apply_operators: bool):  # type: ignore[no-untyped-def]
    """`scrub_file` / `scan_file` with the same keyword arguments, run by the Ray engine."""
    from guard.deid.ray_engine import ray_file_command

    return ray_file_command(ray_options, apply_operators=apply_operators)


def register(app: typer.Typer) -> None:
    app.command()(scrub)
    app.command()(scan)
    app.command()(restore)
    app.command()(dedup)


__all__ = ["register"]

"""What the command modules share: consoles, JSON output, progress, the options that
repeat across commands (as `typing.Annotated` aliases) and the findings table."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from guard.core.io import Format, is_stdio

if TYPE_CHECKING:  # pragma: no cover
    from audits import AuditReport

console = Console(soft_wrap=True)
console_err = Console(stderr=True, soft_wrap=True)

STDIO_HELP = "`-` reads standard input (JSONL unless --format says otherwise)."
STDOUT_HELP = "`-` writes standard output (in the input's format); the summary then goes to stderr."


# -- options that several commands take --------------------------------------------------
# Typer reads these aliases like a default-less typer.Option; each command gives the default.
FormatOpt = Annotated[
    Optional[Format],
    typer.Option("--format", "-f", help="Input format (default: from the extension; JSONL for `-`)."),
]
TextFieldsOpt = Annotated[list[str], typer.Option("--text-field", "-t", help="Field to process (repeatable).")]
PolicyOpt = Annotated[
    Optional[Path], typer.Option("--policy", "-p", help="Policy TOML: entities, thresholds, operators.")
]
KeyFileOpt = Annotated[
    Optional[Path], typer.Option("--key-file", help="File holding the secret key (else $GUARD_KEY).")
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0: all cores).")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", "-r", help="Write a JSON report (counts only, no PII).")]
MaxCharsOpt = Annotated[int, typer.Option("--max-chars", help="Longest text accepted in one field.")]
ProgressOpt = Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Show a progress bar.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
OutFileOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the findings JSON here.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads", help="Torch threads (default: torch's, one per core; 1 is often faster on a busy small machine)."
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
ModelArg = Annotated[
    Path, typer.Argument(help="Run directory, guard model, HF checkpoint, .skops or tabular .safetensors.")
]
DataOpt = Annotated[Optional[Path], typer.Option("--data", "-d", help="Data file (default: the run's holdout).")]
LabelFieldOpt = Annotated[Optional[str], typer.Option("--label-field", help="Label field (default: the run's).")]
TextFieldOpt = Annotated[str, typer.Option("--text-field", help="Text field of a text data file.")]
FeatureOpt = Annotated[list[str], typer.Option("--feature", help="Feature column of a tabular model (repeatable).")]
TrustModelOpt = Annotated[
    bool,
    typer.Option(
        "--trust-model",
        help="Load a .skops model even if it holds types outside guard's allow-list (e.g. functions, which "
        "run code when the model predicts). Only for a file whose maker you trust; the findings record it.",
    ),
]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a config key: section.key=value (repeatable).")]


def summary_console(*outputs: Path | str | None) -> Console:
    """Where a command's summary goes: stderr when one of its outputs is stdout (`-`), so the
    records on stdout are never mixed with it."""
    return console_err if any(is_stdio(o) for o in outputs) else console


def emit_json(data: Any, *, to: Console | None = None) -> None:
    text = json.dumps(data, indent=2, sort_keys=True)
    if to is console_err:
        print(text, file=sys.stderr)
    else:
        print(text)


@contextmanager
def record_progress(label: str, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress display of records done and records/s (the total is unknown while streaming)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} records"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console_err, transient=False) as bar:
        task = bar.add_task(escape(label), total=None, rate="")
        done = [0]

        def show(n: int) -> None:
            rate = n / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=n, rate=f"{rate:,.0f} records/s")

        def update(n: int) -> None:
            done[0] = n
            if n % 64 == 0:
                show(n)

        yield update
        show(done[0])


def print_findings(report: AuditReport, out: Path | None, *, as_json: bool) -> None:
    """Show an AuditReport as a table (or JSON) and say where it was written."""
    from rich.table import Table

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


def version_text() -> str:
    """`guard --version`: guard's version and the key libraries', read from package metadata
    (nothing is imported)."""
    from guard import __version__
    from guard.core.files import package_versions

    libs = package_versions("presidio-analyzer", "spacy", "torch", "opacus", "flwr", "fairlearn", "captum", "shap")
    shown = ", ".join(f"{k} {v}" for k, v in libs.items())
    return f"guard {__version__}\n{shown}\npython {sys.version.split()[0]}"


__all__ = [
    "STDIO_HELP",
    "STDOUT_HELP",
    "DataOpt",
    "DeviceOpt",
    "FeatureOpt",
    "FormatOpt",
    "JsonOpt",
    "KeyFileOpt",
    "LabelFieldOpt",
    "MaxCharsOpt",
    "ModelArg",
    "OutFileOpt",
    "PolicyOpt",
    "ProgressOpt",
    "ReportOpt",
    "SeedOpt",
    "SetOpt",
    "TextFieldOpt",
    "TextFieldsOpt",
    "ThreadsOpt",
    "TrustModelOpt",
    "WorkersOpt",
    "console",
    "console_err",
    "emit_json",
    "print_findings",
    "record_progress",
    "summary_console",
    "version_text",
]

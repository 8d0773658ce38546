"""`guard report`, `guard check` and `guard demo`: the release report, its gate,
and the whole pipeline on the bundled example corpus."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from guard.cli._common import JsonOpt, KeyFileOpt, WorkersOpt, console, console_err, emit_json


def report(
    run_dir: Path = typer.Argument(..., help="A guard federate run directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html, report.json and MODEL_CARD.md."),
    scrub_report: Optional[Path] = typer.Option(None, "--scrub-report", help="JSON report of guard scrub --report."),
    dedup_report: Optional[Path] = typer.Option(None, "--dedup-report", help="JSON report of guard dedup --report."),
    scan_report: Optional[Path] = typer.Option(
        None, "--scan-report", help="Residual-PII scan of the training corpus (guard demo's, or guard scan --report)."
    ),
    second_opinion: Optional[Path] = typer.Option(
        None, "--second-opinion", help="guard scan --detector presidio --report of the training corpus."
    ),
    audits: list[Path] = typer.Option([], "--audits", "-a", help="Findings file of guard audit (repeatable)."),
    policy: Optional[Path] = typer.Option(None, "--policy", "-p", help="Release policy TOML: show its checks."),
    key_file: KeyFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print report.json on stdout too.")] = False,
    profile: Optional[Path] = typer.Option(
        None, "--profile", help="Corpus profile of the training corpus (guard profile --out): tables, charts, gate."
    ),
    baseline: Optional[Path] = typer.Option(
        None,
        "--baseline",
        help="Compare with a baseline: a report.json of guard report, or a run directory (its findings: "
        "--baseline-audits). A baseline of another task or model is refused (exit code INPUT).",
    ),
    baseline_audits: list[Path] = typer.Option(
        [], "--baseline-audits", help="Findings file of guard audit on the baseline run directory (repeatable)."
    ),
) -> None:
    """Write the release report of a trained model: data, training, privacy, fairness, explanations.

    report.json names the run's content hash and carries its own sha256; with a key it is signed.
    Findings of another run are refused (exit code RUN). With --baseline the report puts this run
    beside the baseline: each metric's difference, its 95% interval and whether it is significant."""
    from guard import api
    from guard.core.keys import load_key

    key = load_key(key_file=key_file)
    inputs = {
        "scrub_report": scrub_report,
        "dedup_report": dedup_report,
        "scan_report": scan_report,
        "second_opinion": second_opinion,
        "audits": audits,
        "profile": profile,
    }
    result = api.report(
        run_dir, out, policy=policy, key=key, baseline=baseline, baseline_audits=baseline_audits, **inputs
    )
    built, paths = result.report, result.files
    if as_json:
        emit_json(built.to_json(key=key))
        return
    for name, path in paths.items():
        console.print(f"{name}: {path}", highlight=False)
    if built.comparison is not None:
        k = built.comparison
        console.print(
            f"comparison with {k.baseline.run}: {len(k.significant)} of {len(k.rows)} differences significant"
            + (f"; {len(k.warnings)} warning(s) in the report" if k.warnings else ""),
            highlight=False,
        )
    checks = built.check
    if checks is not None:
        verdict = "PASS" if checks["passed"] else "FAIL"
        console.print(
            f"release checks: {verdict} (run guard check {paths['report.json']} --policy {policy})", highlight=False
        )


def _checks_table(outcome) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title="release checks")
    for column in ("check", "threshold", "value", "verdict", "reason"):
        table.add_column(column)
    for r in (*outcome.mismatches, *outcome.results):
        value = "-" if r.value is None else f"{r.value:.4g}"
        verdict = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(escape(r.name), escape(str(r.threshold)), value, verdict, escape(r.reason))
    return table


def check(
    report_json: Path = typer.Argument(..., help="report.json written by guard report."),
    policy: Path = typer.Option(
        ...,
        "--policy",
        "-p",
        help="Release policy TOML (see examples/release-policy.toml; the gate is guard.release.gate.THRESHOLDS).",
    ),
    run: Optional[Path] = typer.Option(None, "--run", help="The run directory (default: the one report.json names)."),
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Gate a release: recompute the report's evidence from its run (ledger, scan, findings), then judge
    the policy. Exit 0 when all matches and passes, CHECKS_FAILED naming each mismatch or failure, RUN when
    the run directory is missing or is another run, CONFIG for a bad policy file (guard.core.errors.ExitCode)."""
    from guard import api

    outcome = api.check(report_json, policy, run=run, key_file=key_file)
    if as_json:
        emit_json(outcome.to_json())
    else:
        console.print(_checks_table(outcome))
    outcome.raise_for_failures()
    if not as_json:
        console.print(
            f"release checks: PASS ({len(outcome.results)} of {len(outcome.results)}; "
            f"{len(outcome.integrity)} values match the run)",
            highlight=False,
        )


def demo(
    out: Path = typer.Option(
        Path("out/demo"), "--out", "-o", help="Output folder (made by guard demo, replaced on rerun)."
    ),
    workers: WorkersOpt = 0,
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override a key of the demo's federate config (examples/demo_federate.toml): section.key=value (repeatable).",
    ),
    references: int = typer.Option(2, "--references", help="Reference models for the LiRA membership attack."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap replicates for the audits' intervals."),
    explain_examples: int = typer.Option(12, "--explain-examples", help="Records explained (integrated gradients)."),
    shap_examples: int = typer.Option(3, "--shap-examples", help="Of those, cross-checked with SHAP."),
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Train, audit and report the same run without DP; the report compares the DP run with it.",
        ),
    ] = True,
    progress: Annotated[
        Optional[bool], typer.Option("--progress/--no-progress", help="Show the stage display.")
    ] = None,
) -> None:
    """Scrub, dedup and scan the example notes, train a federated DP model, audit it, write and check the report."""
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from guard import api
    from guard.release import STAGES, DemoSettings

    show = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    settings = DemoSettings(
        workers=workers,
        overrides=tuple(set_),
        references=references,
        bootstrap=bootstrap,
        explain_examples=explain_examples,
        shap_examples=shap_examples,
        baseline=baseline,
    )
    if show:

        class StageMark(ProgressColumn):
            """A spinner for the running stage, a tick when done, a dot while waiting."""

            spinner = SpinnerColumn(finished_text="[green]✓[/]")

            def render(self, task):  # type: ignore[no-untyped-def]
                if task.fields.get("skipped"):
                    return Text("-", style="yellow")
                return self.spinner.render(task) if task.started or task.finished else Text("·", style="dim")

        columns = (StageMark(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console_err, transient=False) as bar:
            tasks = {s: bar.add_task(f"[dim]{s}[/]", total=1, start=False) for s in STAGES}

            def on_stage(stage: str, event: str, detail: str) -> None:
                task = tasks[stage]
                if event == "start":
                    bar.start_task(task)
                    bar.update(task, description=f"[bold]{stage}[/]")
                elif event == "done":
                    bar.update(task, completed=1, description=f"{stage}: {escape(detail)}")
                else:
                    bar.update(task, completed=1, skipped=True, description=f"[yellow]{stage}: {escape(detail)}[/]")

            result = api.demo(out, settings=settings, progress=on_stage)
    else:

        def on_stage(stage: str, event: str, detail: str) -> None:
            if event != "start":
                console_err.print(f"{stage}: {detail}", highlight=False)

        result = api.demo(out, settings=settings, progress=on_stage)
    console.print(_checks_table(result.check))
    for s in result.stages:
        console.print(f"  {s.stage:<9} {s.seconds:7.1f} s  {escape(s.detail)}", highlight=False)
    if result.missing_audits:
        console.print(f"[yellow]not run (not in this version): {', '.join(result.missing_audits)} audit(s)[/]")
    verdict = "[green]PASS[/]" if result.check.passed else "[bold red]FAIL[/]"
    console.print(f"release checks: {verdict}; demo took {time.perf_counter() - started:.0f} s")
    console.print(f"report: {result.files['report.html']}", highlight=False)
    console.print(f"model card: {result.files['MODEL_CARD.md']}", highlight=False)
    console.print(
        f"gate it: guard check {result.files['report.json']} --policy {DemoSettings().release_policy}", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command()(check)
    app.command()(demo)


__all__ = ["register"]

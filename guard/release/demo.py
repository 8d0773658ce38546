"""`guard demo`: from the raw example corpus to a checked release report.

    scrub -> dedup -> residual PII scan -> federated DP fine-tune -> privacy,
    fairness and explanation audits -> no-DP baseline -> report -> release check

Every stage calls the same library functions as its own command
(`guard scrub`, `guard dedup`, `guard scan`, `guard federate`,
`guard audit ...`, `guard report`, `guard check`). The output folder:

    OUT/data/       scrubbed and deduplicated corpus, scrub/dedup/residual reports
    OUT/run/        the federate run directory (canaries.json holds secrets)
    OUT/audits/     privacy.json, fairness.json, explain.json
    OUT/baseline/   the same training without DP (run/), its audits (audits/) and report (report/)
    OUT/report/     report.html, report.json, MODEL_CARD.md; with the baseline, its Comparison section

The baseline (`DemoSettings.baseline`, on by default) is the run `[dp] compare_without_dp`
would train (same config, data, canaries and seed, DP off), kept as a run directory and
audited like the DP run (privacy, fairness, and explanations with integrated gradients
only), so the report can put the two side by side with intervals. It replaces the DP
run's own compare_without_dp training, which keeps only the final metrics.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guard.core.errors import OutputError
from guard.core.io import CorpusReader, write_text_atomic
from guard.release.gate import CheckOutcome, load_release_policy
from guard.release.verify import check_report

if TYPE_CHECKING:
    from audits.findings import AuditReport
    from guard.deid.residual import ResidualPII

log = logging.getLogger(__name__)


def example(name: str) -> Path:
    """A file of the example inputs shipped as package data (`guard.examples`: the
    repository's examples/ folder), as a real path."""
    from importlib import resources

    return Path(str(resources.files("guard.examples").joinpath(name)))


MARKER = ".guard-demo"
STAGES = ("scrub", "dedup", "scan", "federate", "privacy", "fairness", "explain", "baseline", "report", "check")
SENSITIVE = ("sex", "site")
SYNTHETIC_NOTE = (
    "The demo corpus is synthetic (examples/clinical_notes.jsonl: 504 generated notes from 30 templates): "
    "numbers here show the pipeline works, not how a model trained on real notes would behave."
)

# stage name, event ("start", "done", "skip"), detail
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs on and how big it is. Tests shrink rounds and audits."""

    corpus: Path = field(default_factory=lambda: example("clinical_notes.jsonl"))
    policy: Path = field(default_factory=lambda: example("policy.toml"))
    federate_config: Path = field(default_factory=lambda: example("demo_federate.toml"))
    release_policy: Path = field(default_factory=lambda: example("release-policy.toml"))
    overrides: tuple[str, ...] = ()  # extra `section.key=value` for the federate config
    workers: int = 0  # scrub/scan worker processes (0: all cores)
    references: int = 2  # LiRA reference models in the privacy audit
    bootstrap: int = 200  # bootstrap replicates for the audits' intervals
    explain_examples: int = 12  # held-out records explained with integrated gradients
    shap_examples: int = 3  # of which cross-checked with SHAP (the slow part)
    ig_steps: int = 50  # IG's path steps; 32 left one text of the person-level model 16% off completeness
    sensitive: tuple[str, ...] = SENSITIVE
    seed: int = 0
    baseline: bool = True  # train, audit and report the same run without DP; the report compares the two


@dataclass(frozen=True)
class StageTime:
    stage: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    report_dir: Path
    run_dir: Path
    files: dict[str, Path]
    check: CheckOutcome
    stages: tuple[StageTime, ...]
    missing_audits: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


# -- the pipeline -----------------------------------------------------------------------


def _fields(path: Path) -> set[str]:
    """Fields present in every record of a corpus."""
    common: set[str] | None = None
    for item in CorpusReader(path):
        keys = set(getattr(item, "data", {}) or {})
        common = keys if common is None else common & keys
    return common or set()


def _prepare_out(out: Path) -> None:
    """A fresh demo folder, or one an earlier demo made (its outputs are replaced)."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(f"{out} exists and was not made by guard demo; choose an empty or new --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by guard demo; its contents are replaced on the next run\n", encoding="utf-8")
    for sub in ("run", "audits", "baseline", "report"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)


class _Clock:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress or (lambda stage, event, detail: log.info("%s %s %s", stage, event, detail))
        self.times: list[StageTime] = []

    def run(self, stage: str, fn: Callable[[], Any], summary: Callable[[Any], str] = lambda _: "") -> Any:
        self.progress(stage, "start", "")
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        detail = summary(result)
        self.times.append(StageTime(stage, seconds, detail))
        self.progress(stage, "done", detail)
        return result

    def skip(self, stage: str, reason: str) -> None:
        self.times.append(StageTime(stage, 0.0, f"skipped: {reason}"))
        self.progress(stage, "skip", reason)


def _available_audits() -> dict[str, Callable[..., AuditReport]]:
    import importlib

    out = {}
    for name, module, fn in (
        ("privacy", "audits.privacy", "run_privacy_audit"),
        ("fairness", "audits.fairness", "run_fairness_audit"),
        ("explain", "audits.explain", "run_explain_audit"),
    ):
        try:
            out[name] = getattr(importlib.import_module(module), fn)
        except ImportError as e:
            if e.name != module:
                raise
    return out


def run_demo(
    out_dir: str | Path = "out/demo",
    *,
    settings: DemoSettings | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the whole pipeline into `out_dir` and return where the report is and the check result.

    Needs the scrub key (`$GUARD_KEY` or the variable the scrub policy names) for
    the keyed operators. Raises GuardError subclasses for bad inputs; a failing
    release check is a result, not an error (see `DemoResult.check`).
    """
    from audits._models import torch_threads
    from guard.core.policy import load_policy
    from guard.deid import DetectorName, OnError, Scrubber, ScrubOptions, measure_residual_pii
    from guard.deid import dedup as do_dedup

    out = Path(out_dir)
    settings = settings or DemoSettings()
    _prepare_out(out)
    data, run_dir, audits_dir, report_dir = out / "data", out / "run", out / "audits", out / "report"
    data.mkdir(exist_ok=True)
    audits_dir.mkdir()
    release_policy = load_release_policy(settings.release_policy)  # a bad policy fails before any work
    clock = _Clock(progress)
    scrub_policy = load_policy(settings.policy)
    options = ScrubOptions(workers=settings.workers, on_error=OnError.fail)

    scrubbed = data / "clinical_notes.scrubbed.jsonl"
    deduped = data / "clinical_notes.dedup.jsonl"
    files = {
        "scrub": data / "scrub_report.json",
        "dedup": data / "dedup_report.json",
        "residual": data / "residual_pii.json",
    }

    def scrub() -> Any:
        report = Scrubber(scrub_policy).run(settings.corpus, scrubbed, options=options)
        write_text_atomic(files["scrub"], report.dumps() + "\n")
        return report

    clock.run("scrub", scrub, lambda r: f"{r.records_read} records, {sum(r.entities.values())} PII values replaced")

    def dedup() -> Any:
        report = do_dedup(scrubbed, deduped)
        write_text_atomic(files["dedup"], report.dumps() + "\n")
        return report

    clock.run("dedup", dedup, lambda r: f"{r.records_kept} of {r.records_read} kept")

    def scan() -> ResidualPII:
        scanner = Scrubber(scrub_policy, key=b"", apply_operators=False)
        scan_report = scanner.run(deduped, None, options=options)
        # a second opinion that does not share guard's blind spots: plain Presidio
        presidio = Scrubber(scrub_policy, key=b"", apply_operators=False, detector=DetectorName.presidio)
        second = presidio.run(deduped, None, options=options)
        residual = measure_residual_pii(
            settings.corpus,
            deduped,
            detector=scanner.engine.detector,
            scan=scan_report.to_json(),
            second_opinion=second.to_json(),
        )
        write_text_atomic(files["residual"], json.dumps(residual.to_json(), indent=2, sort_keys=True) + "\n")
        return residual

    clock.run(
        "scan",
        scan,
        lambda r: (
            f"residual PII rate {r.rate:.4f} ({r.surviving_values} of {r.raw_values} values)"
            if r.rate is not None
            else "no PII in the raw records"
        ),
    )

    data_path = f"data.path={json.dumps(str(deduped.resolve()))}"
    # the baseline is the training compare_without_dp would repeat, kept whole: the DP run need not repeat it
    no_repeat = ("dp.compare_without_dp=false",) if settings.baseline else ()

    def federate(into: Path = run_dir, extra: tuple[str, ...] = no_repeat) -> Any:
        from federated import load_config, run_federation

        config = load_config(settings.federate_config, overrides=[data_path, *extra, *settings.overrides])
        config = replace(config, train=replace(config.train, seed=settings.seed))
        return run_federation(config, into)

    summary = clock.run(
        "federate",
        federate,
        lambda s: (
            f"{s.clients} clients, {s.rounds_done} rounds, epsilon {s.max_epsilon:.2f}, "
            f"held-out accuracy {s.final_metrics.get('evaluate', {}).get('eval_accuracy', float('nan')):.3f}"
        ),
    )
    del summary

    available = _available_audits()
    reports: list[Path] = []  # findings files: the report records each one's path and sha256

    def audit(name: str, fn: Callable[[], AuditReport]) -> None:
        if name not in available:
            clock.skip(name, f"audits.{name} is not available in this version")
            return
        report = clock.run(name, fn, lambda r: f"{len(r.findings)} findings, {len(r.failed)} failed")
        reports.append(report.write(audits_dir / f"{name}.json"))

    def privacy(run: Path = run_dir) -> AuditReport:
        from audits.privacy import PrivacyAuditOptions

        opts = PrivacyAuditOptions(references=settings.references, bootstrap=settings.bootstrap)
        return available["privacy"](run, options=opts, seed=settings.seed)

    fields = _fields(deduped)
    sensitive = [f for f in settings.sensitive if f in fields]
    notes = [SYNTHETIC_NOTE]
    notes += [
        f"The corpus has no {f!r} field: fairness across {f} is not audited."
        for f in settings.sensitive
        if f not in fields
    ]

    def fairness(run: Path = run_dir) -> AuditReport:
        return available["fairness"](run, sensitive=sensitive, n_boot=settings.bootstrap, seed=settings.seed)

    def explain(run: Path = run_dir, methods: str = "ig,shap") -> AuditReport:
        return available["explain"](
            run,
            sensitive=sensitive,
            n_samples=settings.explain_examples,
            n_shap=settings.shap_examples if "shap" in methods else 0,
            n_steps=settings.ig_steps,
            methods=methods,  # LIME is `guard audit explain`'s; the demo keeps its time budget
            seed=settings.seed,
        )

    # The audits train and score small models in this process. With torch's default of one
    # thread per core, a busy 2-core machine thrashes: the LiRA reference models trained
    # 35x slower on two threads than on one (542 s against 16 s, same result).
    with torch_threads(1):
        audit("privacy", privacy)
        if sensitive:
            audit("fairness", fairness)
        else:
            clock.skip("fairness", f"none of the sensitive features {list(settings.sensitive)} is in the corpus")
        audit("explain", explain)
    missing = tuple(n for n in ("privacy", "fairness", "explain") if n not in available)

    from guard.core.keys import load_key

    key = load_key()  # report.json is signed when the guard key is set, and verified by the check below
    data_reports = {"scrub_report": files["scrub"], "dedup_report": files["dedup"], "scan_report": files["residual"]}
    base = out / "baseline"

    def baseline() -> Any:
        """The same training without DP, audited like the DP run (IG alone for explanations) and reported."""
        from guard.release.report import build_report

        base_run, base_audits = base / "run", base / "audits"
        base_audits.mkdir(parents=True)
        federate(base_run, ("dp.enabled=false", "dp.compare_without_dp=false"))
        found: list[Path] = []
        with torch_threads(1):
            if "privacy" in available:
                found.append(privacy(base_run).write(base_audits / "privacy.json"))
            if "fairness" in available and sensitive:
                found.append(fairness(base_run).write(base_audits / "fairness.json"))
            if "explain" in available:
                found.append(explain(base_run, "ig").write(base_audits / "explain.json"))
        built = build_report(
            base_run,
            **data_reports,
            audits=found,
            notes=notes,
            title="Release report: guard demo, the no-DP baseline (synthetic clinical notes)",
        )
        return built, built.write(base / "report", key=key)

    def baseline_summary(result: Any) -> str:
        built, _ = result
        accuracy = built.content.training["final"].get("eval_accuracy")
        return f"no-DP run: held-out accuracy {accuracy if accuracy is None else round(accuracy, 3)}"

    base_report: Path | None = None
    if settings.baseline:
        base_report = clock.run("baseline", baseline, baseline_summary)[1]["report.json"]
    else:
        clock.skip("baseline", "DemoSettings.baseline is off")

    def report() -> Any:
        from guard.release.report import build_report

        built = build_report(
            run_dir,
            **data_reports,
            audits=reports,
            policy=release_policy,
            notes=notes,
            title="Release report: guard demo (synthetic clinical notes)",
            baseline=base_report,
        )
        return built.write(report_dir, key=key)

    written = clock.run("report", report, lambda paths: str(paths["report.html"]))

    def check() -> CheckOutcome:
        # as guard check does: the evidence is recomputed from the run before the thresholds are judged
        return check_report(written["report.json"], settings.release_policy, key=key)

    outcome = clock.run(
        "check",
        check,
        lambda o: (
            ("PASS" if o.passed else "FAIL")
            + f": {sum(r.passed for r in o.results)} of {len(o.results)} checks pass, "
            + f"{sum(r.passed for r in o.integrity)} of {len(o.integrity)} values match the run"
        ),
    )
    return DemoResult(
        out_dir=out,
        report_dir=report_dir,
        run_dir=run_dir,
        files={**files, **written},
        check=outcome,
        stages=tuple(clock.times),
        missing_audits=missing,
    )


__all__ = [
    "STAGES",
    "DemoResult",
    "DemoSettings",
    "StageTime",
    "run_demo",
]

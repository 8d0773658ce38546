"""The release report: one document for the people who decide whether a model
ships. It reads a `guard federate` run directory, the de-identification reports
and the audits' findings files, and writes

    report.html     one self-contained page (plots as base64 PNG, no external request)
    report.json     the same content for machines (kind "guard.release_report", schema_version 1)
    MODEL_CARD.md   the run's model card (federated.card: the same Hugging Face front matter
                    and body as run/model/README.md) plus the audit results and the gate

The report holds aggregates, ids, hashes and rates only. It never reads the
corpus, and before anything is written every output is searched for the run's
canary secrets; finding one is an error, not a warning.

report.json names the run (its folder and content hash), the files it was built
from (path and sha256) and carries its own sha256; with the guard key it is also
signed (HMAC-SHA256). Findings of another run are refused (RunError); findings
that name no run (an audit of a model file) are shown but not used as release
evidence. `guard check` recomputes the evidence from these sources.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guard.core.errors import InputError, OutputError
from guard.core.files import package_versions
from guard.core.io import write_text_atomic
from guard.release.content import EvidenceItem, Generated, ModelInfo, ReportContent, RunRef
from guard.release.gate import ReleasePolicy, evaluate

if TYPE_CHECKING:
    from audits.findings import AuditReport
    from federated.card import ModelCardDoc
    from guard.release.compare import BaselineRef, Comparison


@dataclass(frozen=True)
class ReleaseReport:
    """The report's content and its charts (`figures`: name -> PNG bytes)."""

    content: ReportContent
    figures: Mapping[str, bytes] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # canary secrets: must never appear in an output
    card: ModelCardDoc | None = None  # the run's model card, MODEL_CARD.md's front matter and first part
    comparison: Comparison | None = None  # this run beside a baseline (guard report --baseline)

    @property
    def check(self) -> dict[str, Any] | None:
        """The gate's results as report.json holds them (None without a policy)."""
        return None if self.content.checks is None else self.content.checks.to_json()

    def to_json(self, *, key: bytes | None = None) -> dict[str, Any]:
        """report.json's content with its sha256 (and, with the guard key, its signature)."""
        from audits._integrity import sealed

        return sealed(self.content_json(), key=key)

    def content_json(self) -> dict[str, Any]:
        """report.json's content before it is sealed: the sections and, with a baseline, `comparison`."""
        data = self.content.to_json()
        if self.comparison is not None:
            data["comparison"] = self.comparison.to_json()
        return data

    def html(self) -> str:
        from guard.release.render import render_html

        return render_html(self)

    def model_card(self) -> str:
        from guard.release.render import render_model_card

        return render_model_card(self)

    def write(self, out_dir: str | Path, *, key: bytes | None = None) -> dict[str, Path]:
        """Write report.html, report.json and MODEL_CARD.md into `out_dir`, each atomically.
        With `key` (the guard key) report.json is signed."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{out}: cannot create the report folder ({e.strerror})") from e
        texts = {
            "report.json": json.dumps(self.to_json(key=key), indent=2, sort_keys=True, allow_nan=False) + "\n",
            "report.html": self.html(),
            "MODEL_CARD.md": self.model_card(),
        }
        for name, text in texts.items():
            _refuse_secrets(name, text, self.secrets)
        paths = {}
        for name, text in texts.items():
            paths[name] = out / name
            write_text_atomic(paths[name], text)
        return paths


def _refuse_secrets(name: str, text: str, secrets: Sequence[str]) -> None:
    from audits.findings import AuditError

    for secret in secrets:
        if secret and secret in text:
            raise AuditError(f"{name}: a canary secret would be written into the report; nothing was written")


def build_report(
    run_dir: str | Path,
    *,
    scrub_report: str | Path | None = None,
    dedup_report: str | Path | None = None,
    scan_report: str | Path | None = None,
    second_opinion: str | Path | None = None,
    profile: str | Path | None = None,
    audits: Sequence[str | Path | AuditReport] = (),
    policy: ReleasePolicy | None = None,
    notes: Sequence[str] = (),
    title: str | None = None,
    baseline: str | Path | None = None,
    baseline_audits: Sequence[str | Path | AuditReport] = (),
) -> ReleaseReport:
    """Gather a run directory, data reports and audits into a `ReleaseReport`.

    `notes` are extra limitations (e.g. "the corpus is synthetic"). With a
    `policy`, its checks are judged and shown; `guard check` judges the
    written report.json the same way. With a `baseline` (a report.json of
    `guard report`, or a run directory with its findings in `baseline_audits`)
    the report compares this run with it (guard.release.compare); a baseline
    of another task or model is refused (InputError).
    """
    from audits._run import (
        open_run,
        run_canaries,
        run_clients_file,
        run_config,
        run_config_payload,
        run_content_hash,
        run_jsonl,
        run_ledger,
        run_model_meta,
        run_state,
    )
    from federated.card import build_card
    from guard.release import sections
    from guard.release.evidence import report_evidence
    from guard.release.figures import draw_figures
    from guard.release.inputs import audit_inputs, audit_json

    run = open_run(run_dir)
    config = run_config(run)
    clients_info = run_clients_file(run)
    ledger = run_ledger(run)
    state = run_state(run)
    rows = run_jsonl(run, run.metrics_file, "metrics log")
    failures = run_jsonl(run, run.failures_file, "failures log")
    run_hash = run_content_hash(run.path)
    secrets: tuple[str, ...] = ()
    canary_summary: dict[str, Any] = {"inserted": 0, "references": 0, "repeats": []}
    canaries = run_canaries(run)
    if canaries:
        secrets = tuple(c.secret for c in canaries if c.secret)
        inserted = [c for c in canaries if c.inserted]
        canary_summary = {
            "inserted": len(inserted),
            "references": len(canaries) - len(inserted),
            "repeats": sorted({c.repeats for c in inserted}),
            "clients": sorted({str(c.client_id) for c in inserted}),
        }
    model_meta = run_model_meta(run)
    run_versions = run_config_payload(run).get("versions") or {}  # load_config drops them
    if not isinstance(run_versions, dict):
        run_versions = {}

    data = sections.data_section(scrub_report, dedup_report, scan_report, second_opinion, profile=profile)
    training = sections.training_section(
        config,
        clients_info,
        state,
        rows,
        failures,
        canary_summary,
        comparison=run.read_comparison(),
        deployment=run.read_deployment(),
    )
    inputs = audit_inputs(audits, run_hash=run_hash)
    by_name = {a.report.audit: a.report for a in inputs}
    bound = {a.report.audit: a.report for a in inputs if a.of_this_run}  # the only audits that are evidence
    privacy = sections.privacy_section(ledger, by_name.get("privacy"))
    fairness = sections.fairness_section(by_name.get("fairness"))
    explain = sections.explain_section(by_name.get("explain"))
    evidence = report_evidence(data, privacy, bound)
    checks = evaluate(policy, evidence) if policy is not None else None
    parts = {"data": data, "training": training, "privacy": privacy, "fairness": fairness, "explanations": explain}
    notes_out = sections.limitations(parts, by_name, notes, unbound=[a for a in inputs if not a.of_this_run])
    figures = draw_figures(parts, by_name)
    content = ReportContent(
        title=title or f"Release report: {config.model.name} ({run.path.name})",
        run=RunRef(dir=str(run.path.resolve()), hash=run_hash),
        generated=Generated(
            at=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            versions=package_versions("guard", "matplotlib") | {k: str(v) for k, v in run_versions.items()},
        ),
        model=ModelInfo(
            run=run.path.name,
            name=config.model.name,
            task=str(config.data.task),
            labels=clients_info.labels,
            params={k: v for k, v in (model_meta.get("params") or config.model.params).items() if sections.plain(v)},
            config_hash=config.config_hash(),  # load_config checked it against the recorded one
            finished=state.finished,
        ),
        data=data,
        training=training,
        privacy=privacy,
        fairness=fairness,
        explanations=explain,
        audits=tuple(audit_json(a) for a in inputs),
        evidence={k: EvidenceItem(v["value"], v["source"]) for k, v in evidence.items()},
        checks=checks,
        limitations=tuple(notes_out),
        figures=tuple(sorted(figures)),
    )
    comparison = None
    if baseline is not None:
        from guard.release.compare import compare_with_baseline

        loaded = load_baseline(baseline, audits=baseline_audits)
        comparison = compare_with_baseline(content.to_json(), loaded)
        secrets = (*secrets, *loaded.secrets)
        from guard.release.figures import draw_comparison

        figures = {**figures, **draw_comparison(comparison.to_json())}
        content = replace(content, figures=tuple(sorted(figures)))
    elif baseline_audits:
        raise InputError("baseline findings were given without a baseline run directory (--baseline)")
    return ReleaseReport(
        content=content, figures=figures, secrets=secrets, card=build_card(run, config), comparison=comparison
    )


def write_report(
    run_dir: str | Path, out_dir: str | Path, *, key: bytes | None = None, **inputs: Any
) -> tuple[ReleaseReport, dict[str, Path]]:
    """`build_report(run_dir, **inputs)` (its keyword arguments: `scrub_report`, `scan_report`,
    `audits`, `policy`, `notes`, ...), its three files written into `out_dir` (report.json
    signed with `key`)."""
    report = build_report(run_dir, **inputs)
    return report, report.write(out_dir, key=key)


@dataclass(frozen=True)
class LoadedBaseline:
    """A baseline read for comparison: its report content, what it is, warnings about it and,
    for a run directory, its canary secrets (which must not reach this report either)."""

    data: Mapping[str, Any]
    ref: BaselineRef
    warnings: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)


def load_baseline(path: str | Path, *, audits: Sequence[str | Path | AuditReport] = ()) -> LoadedBaseline:
    """The baseline's report content, what it is, and warnings about it.

    `path` is a report.json written by `guard report`, a folder holding one, or a `guard
    federate` run directory (reported here from the run and `audits`, its findings files).
    A missing or unreadable path is an InputError naming it."""
    from guard.release.compare import BaselineRef, _get
    from guard.release.verify import read_report_json

    p = Path(path)
    source = str(p)
    if not p.exists():
        raise InputError("no such baseline (give a report.json or a run directory)", path=source)
    if p.is_dir() and not (p / "config.json").is_file() and (p / "report.json").is_file():
        p = p / "report.json"
    if p.is_file():
        if audits:
            raise InputError(
                "--baseline-audits are for a baseline run directory; a report.json already holds its audits",
                path=source,
            )
        from audits._integrity import seal_matches

        data = read_report_json(p)
        ok, recorded, _ = seal_matches(data)
        warnings = [] if ok else [f"The baseline report ({p.name}) was changed after guard report wrote it (its "
                                  "sha256 does not match): its numbers are shown as they are."]  # fmt: skip
        ref = BaselineRef(
            source=str(p.resolve()),
            kind="report",
            run=str(_get(data, "model", "run") or ""),
            run_hash=str(_get(data, "run", "hash") or ""),
            dp_enabled=_get(data, "privacy", "dp_enabled"),
            sha256=recorded if isinstance(recorded, str) else None,
        )
        return LoadedBaseline(data, ref, tuple(warnings))
    if not (p / "config.json").is_file():
        raise InputError("not a run directory (no config.json) and no report.json in it", path=source)
    built = build_report(p, audits=audits)
    content = built.content.to_json()
    ref = BaselineRef(
        source=str(p.resolve()),
        kind="run",
        run=p.name,
        run_hash=str(content["run"]["hash"]),
        dp_enabled=_get(content, "privacy", "dp_enabled"),
    )
    return LoadedBaseline(content, ref, (), built.secrets)


__all__ = ["LoadedBaseline", "ReleaseReport", "build_report", "load_baseline", "write_report"]

"""The release report: one document for the people who decide whether a model
ships. It reads a `guard federate` run directory, the de-identification
reports and the audits' findings files, and writes

    report.html     one self-contained page (plots as base64 PNG, no external request)
    report.json     the same content for machines (kind "guard.release_report", schema_version 1)
    MODEL_CARD.md   a model card

The report holds aggregates, ids, hashes and rates only. It never reads the
corpus, and before anything is written every output is searched for the run's
canary secrets; finding one is an error, not a warning.

report.json names the run (its folder and content hash, audits._run), the files
it was built from (path and sha256) and carries its own sha256; with the guard
key it is also signed (HMAC-SHA256). Findings of another run are refused (exit
10); findings that name no run (an audit of a model file) are shown but not used
as release evidence. `guard check` recomputes the evidence from these sources.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audits._integrity import sealed
from audits._run import short
from audits.check import REPORT_KIND, REPORT_SCHEMA_VERSION, CheckOutcome, ReleasePolicy, evaluate
from audits.findings import AuditError, AuditFinding, AuditReport
from guard.core.errors import InputError, OutputError, RunError
from guard.core.files import file_sha256, package_versions, read_json
from guard.core.io import write_text_atomic

SECTIONS = ("summary", "data", "training", "privacy", "fairness", "explanations", "limitations", "checks", "findings")
FILES = ("report.html", "report.json", "MODEL_CARD.md")
RESIDUAL_KIND = "guard.residual_pii"


@dataclass(frozen=True)
class ReleaseReport:
    """The report's content (`content`, JSON-able) and its charts (`figures`: name -> PNG bytes)."""

    content: dict[str, Any]
    figures: dict[str, bytes] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # canary secrets: must never appear in an output

    @property
    def check(self) -> dict[str, Any] | None:
        return self.content.get("checks")

    def to_json(self, *, key: bytes | None = None) -> dict[str, Any]:
        """report.json's content with its sha256 (and, with the guard key, its signature)."""
        return sealed(self.content, key=key)

    def html(self) -> str:
        return _render_html(self)

    def model_card(self) -> str:
        return _render_card(self)

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
    for secret in secrets:
        if secret and secret in text:
            raise AuditError(f"{name}: a canary secret would be written into the report; nothing was written")


# -- reading inputs -------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _scrub_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(data, Mapping) or "entities" not in data or "records_read" not in data:
        raise InputError("not a guard scrub/scan report (no entities or records_read)", path=source)
    return {
        "command": data.get("command"),
        "detector": data.get("detector", "guard"),
        "records_read": data.get("records_read"),
        "records_changed": data.get("records_changed"),
        "records_failed": data.get("records_failed"),
        "entities": dict(data.get("entities") or {}),
        "operators": dict(data.get("operators") or {}),
        "thresholds": dict(data.get("thresholds") or {}),
        "config_hash": data.get("config_hash"),
        "versions": dict(data.get("versions") or {}),
        "seconds": data.get("seconds"),
    }


def _dedup_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(data, Mapping) or "records_kept" not in data:
        raise InputError("not a guard dedup report (no records_kept)", path=source)
    return {k: data.get(k) for k in ("records_read", "records_kept", "exact_dropped", "near_dropped", "threshold")}


def _residual_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A residual-PII scan (audits.demo.measure_residual_pii) or a plain `guard scan` report."""
    if isinstance(data, Mapping) and data.get("kind") == RESIDUAL_KIND:
        keys = ("records", "raw_values", "surviving_values", "rate", "by_entity", "definition")
        out = {k: data.get(k) for k in keys}
        out["scan"] = _scrub_summary(data.get("scan") or {}, source) if data.get("scan") else None
        second = data.get("second_opinion")
        out["second_opinion"] = _scrub_summary(second, source) if second else None
        return out
    summary = _scrub_summary(data, source)
    if isinstance(data, Mapping) and data.get("detector") == "presidio":
        return {"scan": None, "second_opinion": summary, "rate": None}
    return {"scan": summary, "second_opinion": None, "rate": None}


def _detector_recall() -> dict[str, Any] | None:
    """The detector's recall per entity type on the labelled evaluation sets, as shipped."""
    from guard.deid import detector_recall

    try:
        data = detector_recall()
    except (OSError, ValueError):
        return None
    return {
        "measured_on": data.get("measured_on"),
        "split": data.get("split"),
        "definition": data.get("definition"),
        "command": data.get("command"),
        "sets": data.get("sets") or {},
    }


@dataclass(frozen=True)
class _AuditInput:
    report: AuditReport
    source: dict[str, Any]  # {"path", "sha256"} of the findings file (path None when passed in memory)

    @property
    def of_this_run(self) -> bool:
        return self.report.run_hash is not None


def _audit_inputs(audits: Sequence[str | Path | AuditReport], *, run_hash: str) -> list[_AuditInput]:
    """Read the findings; refuse those of another run (RunError naming the audit and both hashes)."""
    out = []
    for item in audits:
        if isinstance(item, AuditReport):
            report, where = item, f"the {item.audit} audit"
            source = {"path": None, "sha256": item.to_json()["sha256"]}
        else:
            report = AuditReport.read(item)
            where = f"the {report.audit} audit ({item})"
            source = {"path": str(Path(item).resolve()), "sha256": report.to_json()["sha256"]}
        if report.run_hash is not None and report.run_hash != run_hash:
            raise RunError(
                f"{where} is of another run: it audited run {short(report.run_hash)}, this run is {short(run_hash)}",
                hint="audit this run directory again, or report on the run the audit was made of",
            )
        out.append(_AuditInput(report, source))
    names = [a.report.audit for a in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"more than one findings file for the {dupes} audit(s); give one each")
    return out


def _source(path: str | Path | None) -> dict[str, Any] | None:
    """Where an input file was and its sha256, so guard check can find and trust it again."""
    if path is None:
        return None
    try:
        return {"path": str(Path(path).resolve()), "sha256": file_sha256(path)}
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror})", path=str(path)) from e


# -- building -------------------------------------------------------------------------


def build_report(
    run_dir: str | Path,
    *,
    scrub_report: str | Path | None = None,
    dedup_report: str | Path | None = None,
    scan_report: str | Path | None = None,
    second_opinion: str | Path | None = None,
    audits: Sequence[str | Path | AuditReport] = (),
    policy: ReleasePolicy | None = None,
    notes: Sequence[str] = (),
    title: str | None = None,
) -> ReleaseReport:
    """Gather a run directory, data reports and audits into a `ReleaseReport`.

    `notes` are extra limitations (e.g. "the corpus is synthetic"). With a
    `policy`, its checks are judged and shown; `guard check` judges the
    written report.json the same way.
    """
    from audits._run import (
        open_run,
        run_canaries,
        run_clients,
        run_config,
        run_config_payload,
        run_content_hash,
        run_jsonl,
        run_ledger,
        run_model_meta,
        run_state,
    )

    run = open_run(run_dir)
    config = run_config(run)
    clients_info = run_clients(run)
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

    data = _data_section(scrub_report, dedup_report, scan_report, second_opinion)
    training = _training_section(config, clients_info, state, rows, failures, canary_summary)
    inputs = _audit_inputs(audits, run_hash=run_hash)
    by_name = {a.report.audit: a.report for a in inputs}
    bound = {a.report.audit: a.report for a in inputs if a.of_this_run}  # the only audits that are evidence
    privacy = _privacy_section(ledger, by_name.get("privacy"))
    fairness = _fairness_section(by_name.get("fairness"))
    explain = _explain_section(by_name.get("explain"))
    evidence = _evidence(data, privacy, bound)
    content: dict[str, Any] = {
        "kind": REPORT_KIND,
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": title or f"Release report: {config.model.name} ({run.path.name})",
        # what guard check finds and recomputes: the run (folder and content hash) and the input files
        "run": {"dir": str(run.path.resolve()), "hash": run_hash},
        "generated": {
            "at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "versions": package_versions("guard", "matplotlib") | {k: str(v) for k, v in run_versions.items()},
        },
        "model": {
            "run": run.path.name,
            "name": config.model.name,
            "task": str(config.data.task),
            "labels": list(clients_info.get("labels", [])),
            "params": {k: v for k, v in (model_meta.get("params") or config.model.params).items() if _plain(v)},
            "config_hash": config.config_hash(),  # load_config checked it against the recorded one
            "finished": state.finished,
        },
        "data": data,
        "training": training,
        "privacy": privacy,
        "fairness": fairness,
        "explanations": explain,
        "audits": [_audit_json(a) for a in inputs],
        "evidence": evidence,
    }
    if policy is not None:
        content["checks"] = evaluate(policy, evidence).to_json()
    else:
        content["checks"] = None
    content["limitations"] = _limitations(content, by_name, notes, unbound=[a for a in inputs if not a.of_this_run])
    figures = _figures(content, by_name)
    content["figures"] = sorted(figures)
    return ReleaseReport(content=_clean(content), figures=figures, secrets=secrets)


def _plain(v: Any) -> bool:
    return isinstance(v, bool | int | float | str) or v is None


def _clean(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    return str(obj)


def _summary(path: str | Path, what: str, summarize: Any) -> dict[str, Any]:
    """Read a data report and summarise it; malformed content is an InputError naming the file."""
    data = read_json(path, what=what)
    try:
        return summarize(data, str(path))
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise InputError(f"malformed {what} ({type(e).__name__}: {e})", path=str(path)) from e


def residual_summary(path: str | Path) -> dict[str, Any]:
    """The residual-PII summary of a scan file (`guard demo`'s residual_pii.json or a `guard scan` report)."""
    return _summary(path, "scan report", _residual_summary)


def _data_section(
    scrub: str | Path | None, dedup: str | Path | None, scan: str | Path | None, second: str | Path | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"scrub": None, "dedup": None, "residual": None, "detector_recall": _detector_recall()}
    if scrub is not None:
        out["scrub"] = _summary(scrub, "scrub report", _scrub_summary)
    if dedup is not None:
        out["dedup"] = _summary(dedup, "dedup report", _dedup_summary)
    if scan is not None:
        out["residual"] = residual_summary(scan)
    if second is not None:
        summary = _summary(second, "second-opinion scan", _scrub_summary)
        if summary["detector"] != "presidio":
            raise InputError(
                "not a plain Presidio scan (make it with guard scan --detector presidio)", path=str(second)
            )
        out["residual"] = {**(out["residual"] or {"scan": None, "rate": None}), "second_opinion": summary}
    # where each input was and its sha256: guard check reads the scan again to recompute the residual rate
    out["sources"] = {
        name: _source(path)
        for name, path in (("scrub", scrub), ("dedup", dedup), ("scan", scan), ("second_opinion", second))
        if path is not None
    }
    return out


def _training_section(
    config: Any,
    clients_info: Mapping[str, Any],
    state: Any,
    rows: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    canaries: dict[str, Any],
) -> dict[str, Any]:
    clients = [
        {k: c.get(k) for k in ("client_id", "train", "holdout", "canary_examples", "train_labels", "holdout_labels")}
        for c in clients_info.get("summary", {}).get("clients", [])
    ]
    rounds = []
    for r in rows:
        if r.get("phase") != "aggregate":
            continue
        ev, tr = r.get("evaluate") or {}, r.get("train") or {}
        rounds.append(
            {
                "round": r["round"],
                "eval_accuracy": _num(ev.get("eval_accuracy")),
                "eval_loss": _num(ev.get("eval_loss")),
                "train_loss": _num(tr.get("train_loss")),
                "train_accuracy": _num(tr.get("train_accuracy")),
                "epsilon_max": _num(tr.get("epsilon_max")),
                "clients_trained": r.get("clients_trained"),
                "clients_failed": r.get("clients_failed"),
            }
        )
    per_client = [
        {
            "round": r["round"],
            "client": r.get("client"),
            "epsilon": _num(r.get("epsilon")),
            "train_loss": _num(r.get("train_loss")),
        }
        for r in rows
        if r.get("phase") == "train" and "stopped" not in r
    ]
    final = rounds[-1] if rounds else {}
    t, dp = config.train, config.dp
    return {
        "strategy": config.strategy.name,
        "partition": str(config.data.partition)
        + (f" by {config.data.partition_field}" if config.data.partition_field else ""),
        "rounds_planned": t.rounds,
        "rounds_done": state.last_round,
        "finished": state.finished,
        "train": {
            "local_epochs": t.local_epochs,
            "batch_size": t.batch_size,
            "lr": t.lr,
            "optimizer": t.optimizer,
            "seed": t.seed,
        },
        "dp": {
            "enabled": dp.enabled,
            "target_epsilon": dp.target_epsilon,
            "noise_multiplier": dp.noise_multiplier,
            "max_grad_norm": dp.max_grad_norm,
            "accountant": str(dp.accountant),
            "clipping": dp.clipping,
        },
        "user_dp": config.user_dp.enabled,
        "clients": clients,
        "rounds": rounds,
        "per_client": per_client,
        "final": {"eval_accuracy": final.get("eval_accuracy"), "eval_loss": final.get("eval_loss")},
        "holdout_records": sum(int(c.get("holdout") or 0) for c in clients),
        "failures": [{"round": f.get("round"), "client": f.get("client"), "phase": f.get("phase")} for f in failures],
        "canaries": canaries,
    }


def _privacy_section(ledger: Any, audit: AuditReport | None) -> dict[str, Any]:
    out: dict[str, Any] = {"dp_enabled": False, "clients": [], "statement": "No privacy ledger in the run directory."}
    if ledger is not None:
        clients = [
            {
                "client_id": c.client_id,
                "epsilon": c.epsilon,
                "delta": c.delta,
                "accountant": c.accountant,
                "target_epsilon": c.target_epsilon,
                "records": c.records,
                "noise_multiplier": c.history[-1].noise_multiplier if c.history else None,
                "sample_rate": c.history[-1].sample_rate if c.history else None,
                "steps": sum(h.steps for h in c.history),
                "max_grad_norm": c.max_grad_norm,
                "exhausted": c.exhausted,
            }
            for c in ledger.clients
        ]
        out = {
            "dp_enabled": ledger.dp_enabled,
            "mechanism": ledger.mechanism,
            "statement": ledger.statement(),
            "clients": clients,
            "overall": {
                "epsilon": ledger.max_epsilon if ledger.dp_enabled and ledger.clients else None,
                "delta": max((c.delta for c in ledger.clients), default=None) if ledger.dp_enabled else None,
                "accountants": sorted({c.accountant for c in ledger.clients}),
            },
            "user_level": None if ledger.user_level is None else dict(ledger.user_level.__dict__),
        }
    out["audit"] = None
    if audit is not None:

        def first(check: str, metric: str, group: str | None = None) -> float | None:
            found = audit.find(check, metric, group)
            return _num(found[0].value) if found else None

        attacks = {}
        for check in sorted({f.check for f in audit.findings if f.check.startswith("membership")}):
            attacks[check] = {
                f.metric: {"value": _num(f.value), "ci": _interval(f.evidence)} for f in audit.find(check)
            }
        exposure = [
            {"group": f.group, "metric": f.metric, "value": _num(f.value), "n": _size(f.evidence)}
            for f in audit.find("canary_exposure")
        ]
        bound = [f for f in audit.find("empirical_epsilon", "lower_bound")]
        out["audit"] = {
            "empirical_epsilon_lower_bound": _num(bound[0].value) if bound else None,
            "empirical_epsilon_passed": bound[0].passed if bound else None,
            "empirical_epsilon_message": bound[0].message if bound else "",
            "claimed_epsilon_audited": first("claimed_epsilon", "epsilon"),
            "membership": attacks,
            "exposure": exposure,
            "skipped": dict(audit.skipped),
        }
    return out


def _interval(evidence: Mapping[str, Any]) -> list[float] | None:
    """A confidence interval from a finding's evidence, whatever the audit called it."""
    for key in ("ci", "ci95", "ci_95", "interval", "bootstrap_ci"):
        v = evidence.get(key)
        if isinstance(v, list | tuple) and len(v) == 2 and all(_num(x) is not None for x in v):
            return [float(v[0]), float(v[1])]
        if isinstance(v, Mapping):
            lo, hi = _num(v.get("low", v.get("lower"))), _num(v.get("high", v.get("upper")))
            if lo is not None and hi is not None:
                return [lo, hi]
    for lo_key, hi_key in (("ci_low", "ci_high"), ("ci_lower", "ci_upper"), ("lower", "upper"), ("low", "high")):
        lo, hi = _num(evidence.get(lo_key)), _num(evidence.get(hi_key))
        if lo is not None and hi is not None:
            return [lo, hi]
    return None


def _size(evidence: Mapping[str, Any]) -> int | None:
    for key in ("n", "count", "size", "support", "n_group", "records", "canaries"):
        v = _num(evidence.get(key))
        if v is not None:
            return int(v)
    return None


def _fairness_section(audit: AuditReport | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    metrics = [f.metric for f in audit.find("group_metric")]
    # the headline per-group metric: accuracy when the audit has it (per-class metrics stay in the findings)
    headline = "accuracy" if "accuracy" in metrics else (metrics[0] if metrics else None)
    groups = [
        {
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "n": _size(f.evidence),
            "feature": f.evidence.get("feature") or f.evidence.get("sensitive_feature"),
        }
        for f in audit.find("group_metric")
        if f.metric == headline
    ]
    gaps = [
        {
            "check": f.check,
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "p_value": _num(f.evidence.get("p_value")),
            "class": f.evidence.get("class"),
            "threshold": f.threshold,
            "passed": f.passed,
        }
        for f in audit.findings
        if f.check in ("demographic_parity", "equalized_odds") and f.metric in ("difference", "ratio")
    ]
    sizes = [
        {"group": f.group, "value": _num(f.value), "passed": f.passed, "threshold": f.threshold}
        for f in audit.find("group_size", "min_n")
    ]
    flips = [
        {
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "n": _size(f.evidence),
        }
        for f in audit.find("counterfactual_flip", "flip_rate")
    ]
    pooled = [x for x in flips if "->" not in str(x["group"])]  # one row per swap axis when the audit pools them
    flips = pooled or flips
    return {
        "metric": headline,
        "groups": groups,
        "gaps": gaps,
        "group_sizes": sizes,
        "counterfactual": flips,
        "findings": len(audit.findings),
        "skipped": dict(audit.skipped),
    }


def _top_tokens(finding: AuditFinding) -> list[tuple[str, float]]:
    """(token, score) pairs from a top_tokens finding, whatever shape the audit wrote."""
    raw = finding.evidence.get("tokens") or finding.evidence.get("top_tokens") or []
    scores = next(
        (
            finding.evidence[k]
            for k in ("mean_attribution", "scores", "attribution")
            if isinstance(finding.evidence.get(k), list)
        ),
        None,
    )
    if isinstance(raw, list) and scores is not None and all(isinstance(t, str) for t in raw):
        return [(t, float(v)) for t, v in zip(raw, scores) if _num(v) is not None]
    out = []
    if isinstance(raw, Mapping):
        raw = list(raw.items())
    for item in raw:
        if isinstance(item, Mapping):
            tok = item.get("token")
            score = _num(item.get("score", item.get("attribution", item.get("value"))))
        elif isinstance(item, list | tuple) and len(item) >= 2:
            tok, score = item[0], _num(item[1])
        else:
            continue
        if isinstance(tok, str) and score is not None:
            out.append((tok, score))
    return out


def _explain_section(audit: AuditReport | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    top = {}
    for f in audit.find("top_tokens"):
        tokens = _top_tokens(f)
        if tokens:
            name = str(f.evidence.get("class") or (f.group or f.metric).removeprefix("class="))
            top[name] = [{"token": t, "score": s} for t, s in tokens[:15]]
    gaps = []
    for f in audit.find("gap_attribution"):
        tokens = f.evidence.get("tokens") or f.evidence.get("features") or []
        values = f.evidence.get("token_gap") or f.evidence.get("feature_gap") or []
        gaps.append(
            {
                "group": f.group,
                "feature": f.evidence.get("feature"),
                "class": f.evidence.get("class"),
                "high_group": f.evidence.get("high_group"),
                "low_group": f.evidence.get("low_group"),
                "logit_gap": _num(f.evidence.get("logit_gap")),
                "top_share": _num(f.value),
                "tokens": [{"token": str(t), "gap": float(v)} for t, v in zip(tokens, values) if _num(v) is not None][
                    :10
                ],
            }
        )
    quality = [
        {
            "check": f.check,
            "metric": f.metric,
            "group": f.group,
            "value": _num(f.value),
            "passed": f.passed,
            "threshold": f.threshold,
        }
        for f in audit.findings
        if f.check in ("ig_completeness", "shap_ig_agreement", "shap_additivity")
    ]
    return {"top_tokens": top, "quality": quality, "gaps": gaps, "skipped": dict(audit.skipped)}


def _audit_json(item: _AuditInput) -> dict[str, Any]:
    data = item.report.to_json()
    data.pop("sha256", None)  # it sealed the file with its plots; the file's is kept in "source"
    data.pop("plots", None)  # charts are drawn from them; the raw arrays stay in the findings files
    data["plots"] = sorted(item.report.plots)
    data["source"] = item.source
    data["run_hash"] = item.report.run_hash
    data["of_this_run"] = item.of_this_run
    return data


def _max_value(findings: Sequence[AuditFinding]) -> tuple[float | None, AuditFinding | None]:
    best: tuple[float | None, AuditFinding | None] = (None, None)
    for f in findings:
        v = _num(f.value)
        if v is not None and (best[0] is None or v > best[0]):
            best = (v, f)
    return best


def _where(f: AuditFinding | None) -> str:
    if f is None:
        return ""
    return f"{f.audit} audit: {f.check}/{f.metric}" + (f" ({f.group})" if f.group else "")


def _evidence(
    data: Mapping[str, Any], privacy: Mapping[str, Any], audits: Mapping[str, AuditReport]
) -> dict[str, dict[str, Any]]:
    """The numbers the release policy judges, each with where it came from. `audits`: only
    those of this run."""
    ev: dict[str, dict[str, Any]] = {}
    ev["dp_enabled"] = {"value": bool(privacy.get("dp_enabled")), "source": "ledger.json"}
    overall = privacy.get("overall") or {}
    ev["claimed_epsilon"] = {"value": overall.get("epsilon"), "source": "ledger.json: largest client epsilon"}
    ev["claimed_delta"] = {"value": overall.get("delta"), "source": "ledger.json: largest client delta"}
    rate = residual_rate(data.get("residual"))
    if rate is not None:
        ev["residual_pii_rate"] = {
            "value": rate,
            "source": "residual PII scan: raw-corpus PII values found verbatim in the training corpus",
        }
    return ev | audit_evidence(audits)


def residual_rate(residual: Mapping[str, Any] | None) -> float | None:
    """The residual-PII rate of a residual summary: surviving / raw values (None without a measurement)."""
    if not residual or residual.get("rate") is None:
        return None
    raw, surviving = _num(residual.get("raw_values")), _num(residual.get("surviving_values"))
    if raw is not None and surviving is not None and raw > 0:
        return surviving / raw
    return _num(residual.get("rate"))


def audit_evidence(audits: Mapping[str, AuditReport]) -> dict[str, dict[str, Any]]:
    """The release evidence that comes from audit findings (privacy and fairness)."""
    ev: dict[str, dict[str, Any]] = {}
    p = audits.get("privacy")
    if p is not None:
        v, f = _max_value(p.find("empirical_epsilon", "lower_bound"))
        ev["empirical_epsilon_lower_bound"] = {"value": v, "source": _where(f)}
        inserted = [f for f in p.find("canary_exposure", "max_exposure") if f.group != "reference"]
        v, f = _max_value(inserted)
        ev["max_canary_exposure"] = {"value": v, "source": _where(f)}
        for level in ("0.001", "0.01"):
            attacks = [f for f in p.findings if f.check.startswith("membership") and f.metric == f"tpr_at_{level}_fpr"]
            v, f = _max_value(attacks)
            ev[f"membership_tpr_at_{level}_fpr"] = {"value": v, "source": _where(f)}
        v, f = _max_value([f for f in p.findings if f.check.startswith("membership") and f.metric == "auc"])
        ev["membership_auc"] = {"value": v, "source": _where(f)}
    fa = audits.get("fairness")
    if fa is not None:
        for key, check in (("demographic_parity_gap", "demographic_parity"), ("equalized_odds_gap", "equalized_odds")):
            v, f = _max_value(fa.find(check, "difference"))
            ev[key] = {"value": v, "source": _where(f)}
        sizes = [f for f in fa.find("group_size") if _num(f.value) is not None]
        if sizes:
            f = min(sizes, key=lambda x: float(x.value or 0))
            ev["min_group_size"] = {"value": _num(f.value), "source": _where(f)}
    return ev


def _limitations(
    content: Mapping[str, Any],
    audits: Mapping[str, AuditReport],
    notes: Sequence[str],
    *,
    unbound: Sequence[_AuditInput] = (),
) -> list[str]:
    out = list(notes)
    for item in unbound:
        what = item.report.subject.get("path") or item.report.subject.get("model_dir") or "a model file"
        out.append(
            f"The {item.report.audit} audit names no run (it audited {what}): its findings are shown but are not "
            "evidence about this run's model, and the release checks do not use them."
        )
    for name, report in sorted(audits.items()):
        trust = report.subject.get("model_trust")
        if isinstance(trust, Mapping) and trust.get("trusted_by_user"):
            types = ", ".join(str(t) for t in trust.get("outside_allow_list") or []) or "none"
            out.append(
                f"The {name} audit loaded its model with --trust-model: guard's model allow-list was lifted by the "
                f"user for these types: {types}."
            )
    for name, what in (("privacy", "privacy leakage"), ("fairness", "group fairness"), ("explain", "explanations")):
        if name not in audits:
            out.append(f"No {name} audit was supplied: {what} of this model is not assessed in this report.")
    data = content["data"]
    if data.get("scrub") is None:
        out.append("No scrub report was supplied: how the training data was de-identified is not documented here.")
    residual = data.get("residual") or {}
    if residual.get("rate") is None:
        out.append("No residual-PII measurement: the share of PII left in the training corpus is unknown.")
    else:
        out.append(
            "Residual PII is measured with the same detector that de-identified the corpus: PII the detector "
            "misses in the raw text is invisible to this measurement, so the true residual rate can be higher. "
            "The detector's measured recall per entity type and plain Presidio's second opinion are shown beside it."
        )
    privacy = content["privacy"]
    if not privacy.get("dp_enabled"):
        out.append("The model was trained without differential privacy: no formal privacy guarantee is claimed.")
    else:
        out.append(
            "The differential-privacy guarantee is record-level within each client (a patient with several notes "
            "is protected per note, not as a person) and holds only if the accountant's assumptions (Poisson "
            "sampling, clipping, the stated noise) held during training."
        )
        if privacy.get("user_level") is None:
            out.append("No user-level (client-level) DP: a site's whole contribution is not protected as a unit.")
    audit = privacy.get("audit") or {}
    if audit:
        out.append(
            "Audited privacy numbers are lower bounds from a finite set of attacks on this run: they can show a "
            "claim is violated, never prove it holds."
        )
    training = content["training"]
    if training["failures"]:
        out.append(f"{len(training['failures'])} client training call(s) failed during the run (see training).")
    if not training["finished"]:
        out.append(f"The run stopped after round {training['rounds_done']} of {training['rounds_planned']}.")
    accuracy = training["final"].get("eval_accuracy")
    counts: dict[str, int] = {}
    for c in training["clients"]:
        for label, n in (c.get("holdout_labels") or {}).items():
            counts[label] = counts.get(label, 0) + int(n)
    if accuracy is not None and counts:
        majority = max(counts.values()) / sum(counts.values())
        if accuracy < majority + 0.1:
            out.append(
                f"Held-out accuracy {accuracy:.3f} is close to what always predicting the most frequent label gives "
                f"({majority:.3f}): the model has learned little, and its fairness and explanation results describe "
                "a weak model."
            )
    holdout = training.get("holdout_records") or 0
    if holdout and holdout < 500:
        out.append(
            f"Only {holdout} held-out records: accuracy, membership-inference rates at low false-positive rates "
            "and per-group metrics carry wide intervals."
        )
    for audit_name, report in sorted(audits.items()):
        for check, reason in sorted(report.skipped.items()):
            out.append(f"{audit_name} audit skipped {check}: {reason}")
    if "explain" in audits:
        out.append(
            "Token attributions (integrated gradients, SHAP) describe what moved this model's outputs on the "
            "audited examples; they are not causal explanations of the task."
        )
    return out


# -- figures --------------------------------------------------------------------------

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _figures(content: Mapping[str, Any], audits: Mapping[str, AuditReport]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    with warnings.catch_warnings():
        # layout hints (tight_layout on crowded axes) are cosmetic: they must not fail a report
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        return _draw(content, audits)


def _draw(content: Mapping[str, Any], audits: Mapping[str, AuditReport]) -> dict[str, bytes]:
    figs: dict[str, bytes] = {}
    scrub = content["data"].get("scrub")
    if scrub and scrub["entities"]:
        figs["data_entities"] = _fig_entities(scrub)
    training = content["training"]
    if training["rounds"]:
        figs["training_curves"] = _fig_training(training)
    privacy = content["privacy"]
    if privacy.get("clients") and privacy.get("dp_enabled"):
        figs["privacy_epsilon"] = _fig_epsilon(training, privacy)
    p = audits.get("privacy")
    if p is not None:
        rocs = {k: v for k, v in p.plots.items() if isinstance(v, Mapping) and "fpr" in v and "tpr" in v}
        if rocs:
            figs["privacy_roc"] = _fig_roc(rocs)
        if p.find("canary_exposure"):
            figs["privacy_exposure"] = _fig_exposure(p)
    fairness = content.get("fairness")
    if fairness and fairness["groups"]:
        figs["fairness_groups"] = _fig_groups(fairness)
    explain = content.get("explanations")
    x = audits.get("explain")
    heat = x.plots.get("token_heatmap") if x is not None else None
    if isinstance(heat, Mapping) and heat.get("tokens") and heat.get("classes") and heat.get("mean_attribution"):
        figs["explain_heatmap"] = _fig_heatmap_matrix(
            [str(t) for t in heat["tokens"]], [str(c) for c in heat["classes"]], heat["mean_attribution"]
        )
    elif explain and explain["top_tokens"]:
        figs["explain_heatmap"] = _fig_heatmap(explain["top_tokens"])
    if explain and explain.get("gaps"):
        figs["explain_gaps"] = _fig_gap_tokens(explain["gaps"])
    return figs


def _fig_entities(scrub: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    items = sorted(scrub["entities"].items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1))
    names = [k for k, _ in items]
    ax.barh(names, [v for _, v in items], color=_COLORS[0])
    ops = scrub.get("operators") or {}
    for i, (k, v) in enumerate(items):
        ax.text(v, i, f" {v:,}  ({ops.get(k, '?')})", va="center", fontsize=7)
    ax.set_xlabel("values detected and transformed")
    ax.set_title("PII found in the raw corpus, by entity type (operator applied)")
    ax.set_xlim(0, max(v for _, v in items) * 1.45)
    return _png(fig)


def _fig_training(training: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    rounds = training["rounds"]
    x = [r["round"] for r in rounds]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    a1.plot(x, [r["eval_accuracy"] for r in rounds], "o-", color=_COLORS[0], label="held-out accuracy")
    a1.plot(x, [r["train_accuracy"] for r in rounds], "s--", color=_COLORS[2], label="train accuracy")
    labels = training.get("clients") or []
    n_labels = len(labels[0].get("train_labels") or {}) if labels else 0
    if n_labels:
        a1.axhline(1 / n_labels, color="grey", lw=0.8, ls=":", label="chance")
    a1.set_ylim(0, 1)
    a1.set_xlabel("round")
    a1.set_ylabel("accuracy")
    a1.legend(fontsize=7)
    a1.set_title("Accuracy per round")
    a2.plot(x, [r["eval_loss"] for r in rounds], "o-", color=_COLORS[0], label="held-out loss")
    a2.plot(x, [r["train_loss"] for r in rounds], "s--", color=_COLORS[2], label="train loss")
    a2.set_xlabel("round")
    a2.set_ylabel("cross-entropy")
    a2.legend(fontsize=7)
    a2.set_title("Loss per round")
    for ax in (a1, a2):
        ax.set_xticks(x)
    fig.tight_layout()
    return _png(fig)


def _fig_epsilon(training: Mapping[str, Any], privacy: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3))
    per_client: dict[str, list[tuple[int, float]]] = {}
    for r in training["per_client"]:
        if r["epsilon"] is not None:
            per_client.setdefault(str(r["client"]), []).append((int(r["round"]), r["epsilon"]))
    for i, (client, points) in enumerate(sorted(per_client.items())):
        points.sort()
        ax.plot(
            [0] + [p[0] for p in points],
            [0.0] + [p[1] for p in points],
            "o-",
            color=_COLORS[i % len(_COLORS)],
            label=client,
        )
    targets = {c["target_epsilon"] for c in privacy["clients"] if c.get("target_epsilon")}
    for t in targets:
        ax.axhline(t, color="black", ls="--", lw=0.8, label=f"target epsilon {t:g}")
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative epsilon")
    ax.set_title("Privacy spent per client (accountant: " + ", ".join(privacy["overall"]["accountants"]) + ")")
    if ax.get_legend_handles_labels()[0]:  # a run without metrics rows has no curve to label
        ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _fig_roc(rocs: Mapping[str, Mapping[str, Any]]) -> bytes:
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.3))
    lo = 1e-4
    for i, (name, roc) in enumerate(sorted(rocs.items())):
        fpr = [float(v) for v in roc["fpr"]]
        tpr = [float(v) for v in roc["tpr"]]
        label = name.replace("roc_", "").replace("_", " ")
        auc = _num(roc.get("auc"))
        if auc is not None:
            label += f" (AUC {auc:.3f})"
        a1.plot(fpr, tpr, color=_COLORS[i], label=label)
        a2.plot([max(v, lo) for v in fpr], [max(v, lo) for v in tpr], color=_COLORS[i], label=label)
        positive = [v for v in fpr if v > 0]
        if positive:
            lo = min(lo, min(positive))
    a1.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="chance")
    a2.plot([lo, 1], [lo, 1], color="grey", ls=":", lw=0.8)
    a2.set_xscale("log")
    a2.set_yscale("log")
    for ax, title in ((a1, "Membership inference ROC"), (a2, "Same, log-log (low-FPR regime)")):
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(title)
    a2.axvline(0.001, color="black", lw=0.6, ls="--")
    a1.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def _fig_exposure(audit: AuditReport) -> bytes:
    import matplotlib.pyplot as plt

    def order(group: str | None) -> tuple[int, str]:
        g = group or ""
        return (0, "") if g == "reference" else (1, f"{int(g.split('=')[-1]):06d}" if g.split("=")[-1].isdigit() else g)

    groups = sorted({f.group for f in audit.find("canary_exposure")}, key=order)
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.38
    for j, metric in enumerate(("mean_exposure", "max_exposure")):
        values = []
        for g in groups:
            found = audit.find("canary_exposure", metric, g)
            values.append(_num(found[0].value) if found else 0.0)
        ax.bar(
            [i + (j - 0.5) * width for i in range(len(groups))],
            values,
            width,
            color=_COLORS[j],
            label=metric.replace("_", " "),
        )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([str(g) for g in groups])
    bits = None
    for f in audit.find("canary_exposure"):
        bits = _num(f.evidence.get("max_possible") or f.evidence.get("max_bits") or f.evidence.get("log2_space"))
        if bits:
            break
    if bits:
        ax.axhline(bits, color="black", ls="--", lw=0.8, label=f"maximum possible ({bits:.1f} bits)")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure by times inserted (reference: never inserted)")
    ax.legend(fontsize=7)
    return _png(fig)


def _fig_groups(fairness: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    rows = [g for g in fairness["groups"] if g["value"] is not None]
    gaps = [g for g in fairness["gaps"] if g["metric"] == "difference" and g["value"] is not None]
    fig, axes = plt.subplots(
        1, 2 if gaps else 1, figsize=(10, 3.4), squeeze=False, width_ratios=[2, 1] if gaps else None
    )
    ax = axes[0][0]
    values = [g["value"] for g in rows]
    lower = [max(0.0, v - g["ci"][0]) if g["ci"] else 0.0 for v, g in zip(values, rows)]
    upper = [max(0.0, g["ci"][1] - v) if g["ci"] else 0.0 for v, g in zip(values, rows)]
    features = [str(g["feature"] or "") for g in rows]
    palette = {f: _COLORS[i % len(_COLORS)] for i, f in enumerate(dict.fromkeys(features))}
    ax.bar(range(len(rows)), values, yerr=[lower, upper], capsize=3, color=[palette[f] for f in features])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(
        [f"{g['group']}\n(n={g['n']})" if g["n"] else str(g["group"]) for g in rows],
        rotation=40,
        ha="right",
        fontsize=6.5,
    )
    ax.set_title(f"{fairness['metric']} by group (95% CI)")
    if all(0 <= v <= 1 for v in values):
        ax.set_ylim(0, 1.05)
    if gaps:
        ax2 = axes[0][1]
        labels = [f"{g['check'].replace('_', ' ')}\n{g['group']}" for g in gaps]
        v2 = [g["value"] for g in gaps]
        lo2 = [max(0.0, v - g["ci"][0]) if g["ci"] else 0.0 for v, g in zip(v2, gaps)]
        hi2 = [max(0.0, g["ci"][1] - v) if g["ci"] else 0.0 for v, g in zip(v2, gaps)]
        ax2.barh(range(len(gaps)), v2, xerr=[lo2, hi2], capsize=3, color=_COLORS[3])
        ax2.set_yticks(range(len(gaps)))
        ax2.set_yticklabels(labels, fontsize=6.5)
        ax2.invert_yaxis()
        ax2.set_xlim(0, 1)
        ax2.set_title("largest gap between groups (95% CI)")
    fig.tight_layout()
    return _png(fig)


def _fig_heatmap(top: Mapping[str, list[dict[str, Any]]]) -> bytes:
    classes = sorted(top)
    tokens: list[str] = []
    for c in classes:
        for item in top[c][:8]:
            if item["token"] not in tokens:
                tokens.append(item["token"])
    grid = []
    for t in tokens:
        grid.append([{i["token"]: i["score"] for i in top[c]}.get(t, 0.0) for c in classes])
    return _fig_heatmap_matrix(tokens, classes, grid)


def _fig_heatmap_matrix(tokens: list[str], classes: list[str], matrix: Sequence[Sequence[Any]]) -> bytes:
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.array([[_num(v) or 0.0 for v in row] for row in matrix], dtype=float).reshape(len(tokens), len(classes))
    limit = float(np.abs(grid).max()) or 1.0
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 0.26 * len(tokens) + 1.4))
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=30, ha="right")
    ax.set_yticks(range(len(tokens)))
    ax.set_yticklabels(tokens, fontsize=7)
    ax.set_title("Token attribution by class (top tokens; red pushes towards the class)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean attribution")
    return _png(fig)


def _fig_gap_tokens(gaps: Sequence[Mapping[str, Any]]) -> bytes:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(gaps), figsize=(min(4.2 * len(gaps), 12), 3.2), squeeze=False)
    for ax, g in zip(axes[0], gaps):
        items = list(reversed(g["tokens"][:8]))
        ax.barh(
            [i["token"] for i in items],
            [i["gap"] for i in items],
            color=[_COLORS[1] if i["gap"] > 0 else _COLORS[0] for i in items],
        )
        ax.axvline(0, color="black", lw=0.6)
        ax.locator_params(axis="x", nbins=4)
        ax.set_title(f"{g['feature']}: {g['high_group']} vs {g['low_group']} ({g['class']})", fontsize=8)
        ax.set_xlabel("contribution to the logit gap")
    fig.suptitle("Tokens that carry the gap between groups", fontsize=9)
    fig.tight_layout()
    return _png(fig)


# -- HTML -----------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1000px;margin:24px auto;padding:0 18px;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:34px}
h3{margin-bottom:6px}table{border-collapse:collapse;margin:8px 0 14px;font-size:.88em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#11772d;font-weight:600}
.fail{color:#b00020;font-weight:600}.na{color:#777}.verdict{display:inline-block;padding:6px 14px;border-radius:4px;
font-weight:700;margin:8px 0}.verdict.pass{background:#e3f4e8}.verdict.fail{background:#fbe4e7}
.verdict.na{background:#eee}figure{margin:10px 0 18px}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}nav a{margin-right:10px}.meta{color:#555;font-size:.9em}
.statement{background:#f6f8fb;border-left:4px solid #1f77b4;padding:8px 12px}
@media print{nav{display:none}section{page-break-inside:avoid}body{max-width:none}}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.{max(digits - 1, 1)}e}"
        return f"{x:.{digits}g}"
    return str(x)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, _Raw):
                cells.append(f"<td>{cell.html}</td>")
            elif isinstance(cell, int | float) and not isinstance(cell, bool):
                cells.append(f'<td class="num">{_e(_fmt(cell))}</td>')
            else:
                cells.append(f"<td>{_e(_fmt(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


@dataclass(frozen=True)
class _Raw:
    html: str


def _verdict(passed: bool | None) -> _Raw:
    if passed is None:
        return _Raw('<span class="na">-</span>')
    return _Raw('<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>')


def _ci(ci: Sequence[float] | None) -> str:
    return "n/a" if not ci else f"[{_fmt(ci[0], 3)}, {_fmt(ci[1], 3)}]"


def _img(report: ReleaseReport, name: str, caption: str) -> str:
    png = report.figures.get(name)
    if png is None:
        return ""
    b64 = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="fig-{_e(name)}"><img alt="{_e(caption)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}" data-section="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def _render_html(report: ReleaseReport) -> str:
    c = report.content
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may leave the page: only inline styles and data: images are allowed
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(c['title'])}</title><style>{_CSS}</style></head><body>",
        _html_header(c),
        "<nav>" + "".join(f'<a href="#{s}">{_e(s.capitalize())}</a>' for s in SECTIONS) + "</nav>",
        _html_summary(c),
        _html_data(report),
        _html_training(report),
        _html_privacy(report),
        _html_fairness(report),
        _html_explain(report),
        _section(
            "limitations", "Limitations", "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in c["limitations"]) + "</ul>"
        ),
        _html_checks(c),
        _html_findings(c),
        f'<footer class="meta"><p>Generated {_e(c["generated"]["at"])} by guard {_e(c["generated"]["versions"].get("guard", "?"))}. '
        "Aggregates, ids and rates only: no record text, PII value or canary secret is in this report.</p></footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _checks_verdict(c: Mapping[str, Any]) -> tuple[bool | None, str]:
    checks = c.get("checks")
    if not checks:
        return None, "no release policy was given"
    n = len(checks["results"])
    failed = sum(not r["passed"] for r in checks["results"])
    if checks["passed"]:
        return True, f"all {n} release checks pass"
    return False, f"{failed} of {n} release checks fail" if n else "the policy sets no threshold"


def _html_header(c: Mapping[str, Any]) -> str:
    passed, text = _checks_verdict(c)
    cls = "na" if passed is None else ("pass" if passed else "fail")
    word = "NO POLICY" if passed is None else ("PASS" if passed else "FAIL")
    m = c["model"]
    return (
        f"<header><h1>{_e(c['title'])}</h1>"
        f'<p class="meta">Model <b>{_e(m["name"])}</b> ({_e(m["task"])}, labels: {_e(", ".join(m["labels"]))}), '
        f"run <code>{_e(m['run'])}</code> (content sha256 <code>{_e(str((c.get('run') or {}).get('hash'))[:16])}</code>), "
        f"config sha256 <code>{_e(str(m['config_hash'])[:16])}</code></p>"
        f'<div class="verdict {cls}" id="verdict">Release gate: {word} ({_e(text)})</div></header>'
    )


def _html_summary(c: Mapping[str, Any]) -> str:
    ev = c["evidence"]
    t = c["training"]
    rows = [
        ("held-out accuracy (final round)", t["final"].get("eval_accuracy")),
        ("clients", len(t["clients"])),
        ("rounds done", f"{t['rounds_done']} of {t['rounds_planned']}"),
        ("differential privacy", "yes" if c["privacy"].get("dp_enabled") else "NO"),
    ]
    names = {
        "claimed_epsilon": "claimed epsilon (largest client)",
        "claimed_delta": "delta",
        "empirical_epsilon_lower_bound": "audited epsilon lower bound",
        "max_canary_exposure": "largest canary exposure (bits)",
        "membership_auc": "membership inference AUC (worst attack)",
        "membership_tpr_at_0.001_fpr": "membership TPR at 0.1% FPR (worst attack)",
        "residual_pii_rate": "residual PII rate in the training corpus",
        "demographic_parity_gap": "demographic parity gap (largest)",
        "equalized_odds_gap": "equalized odds gap (largest)",
        "min_group_size": "smallest audited group",
    }
    for key, label in names.items():
        if key in ev:
            rows.append((label, ev[key]["value"]))
    return _section("summary", "Summary", _table(("", "value"), rows))


def _html_data(report: ReleaseReport) -> str:
    d = report.content["data"]
    body = []
    scrub = d.get("scrub")
    if scrub:
        body.append(
            f"<p>{_fmt(scrub['records_read'])} records read, {_fmt(scrub['records_changed'])} changed by de-identification, "
            f"{_fmt(scrub['records_failed'])} failed. Policy hash <code>{_e(str(scrub['config_hash'])[:16])}</code>.</p>"
        )
        body.append(
            _img(report, "data_entities", "PII values detected in the raw corpus and the operator that replaced them")
        )
        rows = [
            (k, v, scrub["operators"].get(k, "?"), scrub["thresholds"].get(k))
            for k, v in sorted(scrub["entities"].items())
        ]
        body.append(_table(("entity type", "values", "operator", "threshold"), rows))
    else:
        body.append("<p>No scrub report was supplied.</p>")
    dd = d.get("dedup")
    if dd:
        body.append(
            f"<p>Deduplication: {_fmt(dd['records_read'])} records read, {_fmt(dd['records_kept'])} kept, "
            f"{_fmt(dd['exact_dropped'])} exact and {_fmt(dd['near_dropped'])} near duplicates dropped "
            f"(Jaccard threshold {_fmt(dd['threshold'])}).</p>"
        )
    res = d.get("residual")
    if res:
        if res.get("rate") is not None:
            body.append(
                f"<h3>Residual PII</h3><p>{_fmt(res['surviving_values'])} of {_fmt(res['raw_values'])} PII values detected in the "
                f"raw records were found verbatim in the training corpus: residual rate <b>{_fmt(res['rate'])}</b>. "
                f"{_e(res.get('definition') or '')}</p>"
            )
            by = res.get("by_entity") or {}
            rows = [(k, v.get("raw"), v.get("surviving")) for k, v in sorted(by.items()) if isinstance(v, Mapping)]
            if rows:
                body.append(_table(("entity type", "raw values", "left in training corpus"), rows))
        scan = res.get("scan")
        if scan:
            body.append(
                f"<p>A scan of the training corpus ({_fmt(scan['records_read'])} records) finds "
                f"{_fmt(sum(scan['entities'].values()))} PII-like values; realistic surrogates written by the "
                "surrogate, date-shift and mask operators are counted, so this is an upper bound on what a detector flags, "
                "not a leak count.</p>"
            )
        second = res.get("second_opinion")
        if second:
            body.append(
                "<h3>Second opinion: plain Presidio</h3><p>The residual rate above is measured with the detector "
                "that de-identified the corpus, so it cannot see what that detector misses. Plain Presidio (its "
                "default recognizers on the same spaCy model) run over the training corpus "
                f"({_fmt(second['records_read'])} records) flags {_fmt(sum(second['entities'].values()))} values. "
                "Surrogates, shifted dates and masks count here too: read it as where to look, not as a leak count.</p>"
            )
            body.append(_table(("entity type (Presidio)", "values flagged"), sorted(second["entities"].items())))
    body.append(_html_detector_recall(d.get("detector_recall")))
    return _section("data", "Data and de-identification", "".join(body))


def _html_detector_recall(recall: Mapping[str, Any] | None) -> str:
    """The detector's recall per entity type, measured on named evaluation sets."""
    if not recall or not recall.get("sets"):
        return "<p>The detector's measured recall is not available in this installation.</p>"
    sets = recall["sets"]
    names = list(sets)
    entities = sorted({e for s in sets.values() for e in s.get("by_entity", {})})
    rows = []
    for e in entities:
        cells = []
        for n in names:
            v = sets[n].get("by_entity", {}).get(e)
            cells.append(f"{_fmt(v['recall'])} ({_fmt(v['labels'])})" if v else "-")
        rows.append((e, *cells))
    rows.append(("value survival (all direct identifiers)", *(_fmt(sets[n].get("value_survival")) for n in names)))
    rows.append(("plain Presidio's value survival", *(_fmt(sets[n].get("presidio_value_survival")) for n in names)))
    described = "".join(f"<li><b>{_e(n)}</b>: {_e(str(sets[n].get('description', '')))}</li>" for n in names)
    return (
        "<h3>Detector recall, measured</h3><p>Share of labelled values the detector finds, per entity type "
        f"(labelled values in brackets), on the {_e(str(recall.get('split')))} split of each evaluation set, "
        f"measured {_e(str(recall.get('measured_on')))} with <code>{_e(str(recall.get('command')))}</code>. "
        f"{_e(str(recall.get('definition') or ''))}.</p><ul>{described}</ul>" + _table(("entity type", *names), rows)
    )


def _html_training(report: ReleaseReport) -> str:
    t = report.content["training"]
    body = [
        f"<p>{len(t['clients'])} clients ({_e(t['partition'])}), strategy {_e(t['strategy'])}, "
        f"{t['rounds_done']} of {t['rounds_planned']} rounds ({'finished' if t['finished'] else 'not finished'}); "
        f"local epochs {t['train']['local_epochs']}, batch {t['train']['batch_size']}, lr {_fmt(t['train']['lr'])}, "
        f"seed {t['train']['seed']}.</p>",
        _table(
            ("client", "train records", "held-out records", "canary copies"),
            [(c["client_id"], c["train"], c["holdout"], c["canary_examples"]) for c in t["clients"]],
        ),
        _img(report, "training_curves", "Accuracy and loss per round (example-weighted over clients)"),
        _table(
            (
                "round",
                "held-out accuracy",
                "held-out loss",
                "train loss",
                "largest epsilon",
                "clients trained",
                "failed",
            ),
            [
                (
                    r["round"],
                    r["eval_accuracy"],
                    r["eval_loss"],
                    r["train_loss"],
                    r["epsilon_max"],
                    r["clients_trained"],
                    r["clients_failed"],
                )
                for r in t["rounds"]
            ],
        ),
    ]
    if t["failures"]:
        body.append(
            _table(("round", "client", "phase"), [(f["round"], f["client"], f["phase"]) for f in t["failures"]])
        )
    return _section("training", "Federation and training", "".join(body))


def _html_privacy(report: ReleaseReport) -> str:
    p = report.content["privacy"]
    body = [f'<p class="statement">{_e(p["statement"])}</p>']
    if p.get("clients"):
        rows = [
            (
                c["client_id"],
                c["epsilon"],
                c["delta"],
                c["accountant"],
                c["target_epsilon"],
                c["noise_multiplier"],
                c["sample_rate"],
                c["steps"],
                c["records"],
            )
            for c in p["clients"]
        ]
        o = p.get("overall") or {}
        rows.append(
            (
                _Raw("<b>overall (worst client)</b>"),
                o.get("epsilon"),
                o.get("delta"),
                ", ".join(o.get("accountants") or []),
                None,
                None,
                None,
                None,
                None,
            )
        )
        body.append(
            _table(
                (
                    "client",
                    "epsilon",
                    "delta",
                    "accountant",
                    "target",
                    "noise multiplier",
                    "sample rate",
                    "steps",
                    "records",
                ),
                rows,
            )
        )
        body.append(_img(report, "privacy_epsilon", "Cumulative epsilon per client after each round"))
    a = p.get("audit")
    if not a:
        body.append("<p>No privacy audit was supplied.</p>")
        return _section("privacy", "Privacy", "".join(body))
    bound = a.get("empirical_epsilon_lower_bound")
    body.append(
        f"<h3>Audit</h3><p>Empirical epsilon lower bound: <b>{_fmt(bound)}</b> "
        f"(claimed {_fmt((p.get('overall') or {}).get('epsilon'))}) {_verdict(a.get('empirical_epsilon_passed')).html} "
        f"{_e(a.get('empirical_epsilon_message') or '')}</p>"
    )
    rows = []
    for attack, metrics in sorted(a["membership"].items()):
        for metric, v in sorted(metrics.items()):
            rows.append((attack.replace("_", " "), metric, v["value"], _ci(v["ci"])))
    if rows:
        body.append(_table(("membership attack", "metric", "value", "95% CI"), rows))
    body.append(_img(report, "privacy_roc", "Membership inference ROC curves (linear and log-log)"))
    if a["exposure"]:
        body.append(_img(report, "privacy_exposure", "Canary exposure by number of insertions"))
        body.append(
            _table(
                ("canaries", "metric", "exposure (bits)", "n"),
                [(e["group"], e["metric"], e["value"], e["n"]) for e in a["exposure"]],
            )
        )
    return _section("privacy", "Privacy", "".join(body))


def _html_fairness(report: ReleaseReport) -> str:
    f = report.content.get("fairness")
    if not f:
        return _section("fairness", "Fairness", "<p>No fairness audit was supplied.</p>")
    body = [_img(report, "fairness_groups", "Per-group metric and the largest gaps between groups, with 95% intervals")]
    if f["groups"]:
        body.append(f"<h3>{_e(f['metric'])} per group</h3>")
        body.append(
            _table(
                ("feature", "group", "n", f["metric"], "95% CI"),
                [(g["feature"], g["group"], g["n"], g["value"], _ci(g["ci"])) for g in f["groups"]],
            )
        )
    if f["gaps"]:
        body.append("<h3>Gaps between groups</h3>")
        body.append(
            _table(
                ("check", "feature", "metric", "value", "95% CI", "p-value", "worst class", "verdict"),
                [
                    (
                        g["check"].replace("_", " "),
                        g["group"],
                        g["metric"],
                        g["value"],
                        _ci(g["ci"]),
                        g["p_value"],
                        g["class"],
                        _verdict(g["passed"]),
                    )
                    for g in f["gaps"]
                ],
            )
        )
    if f["group_sizes"]:
        body.append(
            _table(
                ("feature", "smallest group (records)", "audit minimum", "verdict"),
                [(g["group"], g["value"], g["threshold"], _verdict(g["passed"])) for g in f["group_sizes"]],
            )
        )
    if f["counterfactual"]:
        body.append("<h3>Counterfactual identity-term swaps</h3>")
        body.append(
            _table(
                ("swap", "prediction flip rate", "95% CI", "texts"),
                [(x["group"], x["value"], _ci(x["ci"]), x["n"]) for x in f["counterfactual"]],
            )
        )
    body.append(f'<p class="meta">{f["findings"]} findings in all (per class and intersection): see below.</p>')
    return _section("fairness", "Fairness", "".join(body))


def _html_explain(report: ReleaseReport) -> str:
    x = report.content.get("explanations")
    if not x:
        return _section("explanations", "Explanations", "<p>No explanation audit was supplied.</p>")
    body = [_img(report, "explain_heatmap", "Attribution of the most influential tokens for each class")]
    if x["quality"]:
        body.append(
            _table(
                ("check", "metric", "group", "value", "verdict"),
                [
                    (q["check"].replace("_", " "), q["metric"], q["group"] or "", q["value"], _verdict(q["passed"]))
                    for q in x["quality"]
                ],
            )
        )
    if x["top_tokens"]:
        body.append("<h3>Top tokens per predicted class</h3>")
        rows = [(cls, ", ".join(t["token"] for t in tokens[:10])) for cls, tokens in sorted(x["top_tokens"].items())]
        body.append(_table(("class", "tokens, strongest first"), rows))
    if x.get("gaps"):
        body.append(_img(report, "explain_gaps", "Tokens whose attributions carry the gap between groups"))
        rows = [
            (
                g["feature"],
                f"{g['high_group']} vs {g['low_group']}",
                g["class"],
                g["logit_gap"],
                ", ".join(t["token"] for t in g["tokens"][:6]),
            )
            for g in x["gaps"]
        ]
        body.append(_table(("feature", "groups", "class", "logit gap", "tokens carrying it"), rows))
    return _section("explanations", "Explanations", "".join(body))


def _html_checks(c: Mapping[str, Any]) -> str:
    checks = c.get("checks")
    if not checks:
        return _section("checks", "Release checks", "<p>No release policy was given: nothing was judged.</p>")
    passed, text = _checks_verdict(c)
    rows = [
        (r["name"], r["description"], r["threshold"], r["value"], _verdict(r["passed"]), r["reason"])
        for r in checks["results"]
    ]
    body = f"<p>Policy <code>{_e(checks['policy']['source'])}</code>: {_e(text)}.</p>" + _table(
        ("check", "what", "threshold", "value", "verdict", "reason"), rows
    )
    return _section("checks", "Release checks", body)


def _html_findings(c: Mapping[str, Any]) -> str:
    body = []
    for audit in c["audits"]:
        body.append(
            f"<h3>{_e(audit['audit'])} audit ({len(audit['findings'])} findings, seed {audit['seed']}, {_fmt(audit['seconds'])} s)</h3>"
        )
        rows = [
            (
                f["check"],
                f["metric"],
                f["group"] or "",
                f["value"],
                f["threshold"],
                _verdict(f["passed"]),
                f["severity"],
                f["message"],
            )
            for f in audit["findings"]
        ]
        table = _table(("check", "metric", "group", "value", "threshold", "verdict", "severity", "message"), rows)
        if len(rows) > 40:
            table = f"<details><summary>show all {len(rows)} findings</summary>{table}</details>"
        body.append(table)
        for check, reason in sorted(audit["skipped"].items()):
            body.append(f'<p class="meta">skipped {_e(check)}: {_e(reason)}</p>')
    if not body:
        body.append("<p>No audit findings were supplied.</p>")
    return _section("findings", "All audit findings", "".join(body))


# -- model card -----------------------------------------------------------------------


def _render_card(report: ReleaseReport) -> str:
    c = report.content
    m, t, p, d = c["model"], c["training"], c["privacy"], c["data"]
    ev = c["evidence"]
    lines = [f"# Model card: {m['name']} ({m['run']})", ""]
    passed, text = _checks_verdict(c)
    lines += [f"Release gate: **{'NO POLICY' if passed is None else ('PASS' if passed else 'FAIL')}** ({text}).", ""]
    lines += ["## Model details", ""]
    lines += [
        f"- Architecture: `{m['name']}` for {m['task']} over {len(m['labels'])} labels ({', '.join(m['labels'])}).",
        f"- Trained with guard {c['generated']['versions'].get('guard', '?')} by federated learning: {len(t['clients'])} clients "
        f"({t['partition']}), {t['strategy']}, {t['rounds_done']} of {t['rounds_planned']} rounds.",
        f"- Config sha256: `{m['config_hash']}`; run content sha256: `{(c.get('run') or {}).get('hash')}`.",
        f"- Held-out accuracy after the final round: {_fmt(t['final'].get('eval_accuracy'))} "
        f"({t['holdout_records']} held-out records).",
        "",
        "## Intended use",
        "",
        f"- Classifying notes into {', '.join(m['labels'])}, to route or triage them, with a person reviewing the result.",
        "- Not for decisions about individual patients or customers without review, and not for data unlike the training "
        "notes (other institutions, languages or note types) without re-evaluation.",
        "",
        "## Training data and its de-identification",
        "",
    ]
    scrub = d.get("scrub")
    if scrub:
        total = sum(scrub["entities"].values())
        top = ", ".join(f"{k} {v}" for k, v in sorted(scrub["entities"].items(), key=lambda kv: -kv[1])[:6])
        lines.append(
            f"- {scrub['records_read']} records de-identified by `guard scrub` (policy sha256 `{str(scrub['config_hash'])[:16]}`): "
            f"{total} PII values replaced (most frequent: {top})."
        )
        ops = sorted({v for v in scrub["operators"].values()})
        lines.append(f"- Operators: {', '.join(ops)}.")
    else:
        lines.append("- No scrub report: the de-identification of the training data is not documented.")
    if d.get("dedup"):
        dd = d["dedup"]
        lines.append(
            f"- Deduplicated: {dd['records_kept']} of {dd['records_read']} records kept ({dd['exact_dropped']} exact, {dd['near_dropped']} near duplicates dropped)."
        )
    if "residual_pii_rate" in ev:
        lines.append(
            f"- Residual PII rate in the training corpus: {_fmt(ev['residual_pii_rate']['value'])} "
            "(measured with the detector that de-identified it, so blind to what it misses)."
        )
    second = (d.get("residual") or {}).get("second_opinion")
    if second:
        flagged = ", ".join(f"{k} {v}" for k, v in sorted(second["entities"].items())) or "nothing"
        lines.append(f"- Second opinion, plain Presidio over the training corpus: {flagged} (surrogates included).")
    recall = d.get("detector_recall") or {}
    if recall.get("sets"):
        lines.append(
            f"- Detector value survival measured on labelled sets ({recall.get('split')} split, {recall.get('measured_on')}): "
            + "; ".join(
                f"{n} {_fmt(v.get('value_survival'))} (plain Presidio {_fmt(v.get('presidio_value_survival'))})"
                for n, v in recall["sets"].items()
            )
            + "."
        )
    lines += ["", "## Privacy", "", f"- {p['statement']}"]
    if p.get("clients"):
        for cl in p["clients"]:
            lines.append(
                f"  - {cl['client_id']}: epsilon {_fmt(cl['epsilon'])}, delta {_fmt(cl['delta'])}, {cl['accountant']} accountant, {cl['records']} records"
            )
    for key, label in (
        ("empirical_epsilon_lower_bound", "Audited epsilon lower bound"),
        ("max_canary_exposure", "Largest canary exposure (bits)"),
        ("membership_auc", "Membership inference AUC (worst attack)"),
        ("membership_tpr_at_0.001_fpr", "Membership TPR at 0.1% FPR (worst attack)"),
    ):
        if key in ev:
            lines.append(f"- {label}: {_fmt(ev[key]['value'])}.")
    lines += ["", "## Fairness", ""]
    f = c.get("fairness")
    if f:
        diffs = [g for g in f["gaps"] if g["metric"] == "difference"]
        if diffs:
            lines += ["| gap | feature | value | 95% CI |", "|---|---|---|---|"]
            lines += [
                f"| {g['check'].replace('_', ' ')} | {g['group']} | {_fmt(g['value'])} | {_ci(g['ci'])} |"
                for g in diffs
            ]
            lines.append("")
        if f["groups"]:
            lines += [f"| group | n | {f['metric']} | 95% CI |", "|---|---|---|---|"]
            lines += [f"| {g['group']} | {_fmt(g['n'])} | {_fmt(g['value'])} | {_ci(g['ci'])} |" for g in f["groups"]]
    else:
        lines.append("- No fairness audit was supplied.")
    lines += ["", "## Explanations", ""]
    x = c.get("explanations")
    if x:
        for q in x["quality"]:
            lines.append(f"- {q['check'].replace('_', ' ')}: {q['metric']} {_fmt(q['value'])}.")
        for cls, tokens in sorted(x["top_tokens"].items()):
            lines.append(f"- Top tokens for {cls}: {', '.join(tok['token'] for tok in tokens[:8])}.")
    else:
        lines.append("- No explanation audit was supplied.")
    lines += ["", "## Limitations", ""]
    lines += [f"- {item}" for item in c["limitations"]]
    checks = c.get("checks")
    if checks:
        lines += ["", "## Release checks", "", "| check | threshold | value | verdict |", "|---|---|---|---|"]
        for r in checks["results"]:
            lines.append(
                f"| {r['name']} | {_fmt(r['threshold'])} | {_fmt(r['value'])} | {'pass' if r['passed'] else 'FAIL: ' + r['reason']} |"
            )
    lines.append("")
    return "\n".join(lines)


def write_report(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    scrub_report: str | Path | None = None,
    dedup_report: str | Path | None = None,
    scan_report: str | Path | None = None,
    second_opinion: str | Path | None = None,
    audits: Sequence[str | Path | AuditReport] = (),
    policy: ReleasePolicy | None = None,
    notes: Sequence[str] = (),
    key: bytes | None = None,
) -> tuple[ReleaseReport, dict[str, Path]]:
    """Build the report and write its three files into `out_dir` (report.json signed with `key`)."""
    report = build_report(
        run_dir,
        scrub_report=scrub_report,
        dedup_report=dedup_report,
        scan_report=scan_report,
        second_opinion=second_opinion,
        audits=audits,
        policy=policy,
        notes=notes,
    )
    return report, report.write(out_dir, key=key)


__all__ = [
    "FILES",
    "SECTIONS",
    "CheckOutcome",
    "ReleaseReport",
    "audit_evidence",
    "build_report",
    "residual_rate",
    "residual_summary",
    "write_report",
]

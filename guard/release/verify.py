"""`guard check`'s first half: report.json is read and checked against what it was
built from before any threshold is judged (it trusts no number in it on its word):

- the report's own sha256 (it was not edited after `guard report` wrote it) and,
  with the guard key, its HMAC-SHA256 signature;
- the run directory (named in report.json, or `run_dir`) exists and has the
  content hash the report names (a missing, changed or other run is a RunError);
- every evidence value equals the one recomputed from its source: epsilon and
  delta from ledger.json with a fresh Opacus accountant (the ledger's accountant,
  per client), the residual-PII rate from the scan file the report names, the
  audit numbers from the findings of this run that the report embeds;
- a comparison with a baseline report.json (`guard report --baseline`) is recomputed
  from that file when it is still where the report names it; a baseline that changed
  since is a failed check, one that is gone is not (the comparison is not evidence).

A mismatch fails the gate (ExitCode.CHECKS_FAILED) naming the value, the claim and
the recomputed value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guard.core.errors import InputError, RunError
from guard.core.files import read_json
from guard.release.content import REPORT_KIND, REPORT_SCHEMA_VERSION
from guard.release.gate import CheckOutcome, CheckResult, evaluate, load_release_policy


def read_report_json(path: str | Path) -> dict[str, Any]:
    """A report.json written by `guard report`, checked for kind and schema version."""
    path = Path(path)
    data = read_json(path, what="report file")
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise InputError(f"not a guard release report (expected kind {REPORT_KIND!r})", path=str(path))
    if data.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise InputError(
            f"report schema_version {data.get('schema_version')!r}; this guard reads {REPORT_SCHEMA_VERSION}",
            path=str(path),
            hint="re-run guard report with this version",
        )
    if not isinstance(data.get("evidence"), dict):
        raise InputError("the report has no evidence section", path=str(path))
    for key, item in data["evidence"].items():
        value = item.get("value") if isinstance(item, Mapping) else item
        where = f"evidence.{key}.value" if isinstance(item, Mapping) else f"evidence.{key}"
        if value is not None and not isinstance(value, bool | int | float):
            raise InputError(f"{value!r} where a number (or true/false/null) belongs", path=str(path), field=where)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError("not a finite number", path=str(path), field=where)
    return data


# -- verifying the report against its run ------------------------------------------------


def _same(claimed: Any, recomputed: Any) -> bool:
    if claimed is None or recomputed is None or isinstance(claimed, bool) or isinstance(recomputed, bool):
        return claimed is recomputed or (claimed == recomputed and type(claimed) is type(recomputed))
    return math.isclose(float(claimed), float(recomputed), rel_tol=1e-6, abs_tol=1e-12)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{float(value):.6g}"


def _run_of(data: Mapping[str, Any], source: str, run_dir: str | Path | None) -> tuple[Any, str]:
    from audits._run import open_run, run_config, run_content_hash, run_ledger, short

    run_info = data.get("run") if isinstance(data.get("run"), Mapping) else {}
    recorded = run_info.get("hash")
    if not isinstance(recorded, str) or not recorded:
        raise RunError(
            f"{source}: the report names no run content hash (written by an older guard?)",
            hint="re-run guard report on the run directory",
        )
    where = run_dir if run_dir is not None else run_info.get("dir")
    if not isinstance(where, (str, Path)) or not str(where):
        raise RunError(f"{source}: the report names no run directory", hint="pass --run DIR")
    if run_dir is None and not Path(where).exists():
        raise RunError(
            f"{where}: no such run directory (named by {source})",
            hint="pass --run DIR where the run directory is now",
        )
    run = open_run(where)
    run_config(run)  # a damaged run file is named as such, before its changed hash is
    run_ledger(run)
    actual = run_content_hash(run.path)
    if actual != recorded:
        raise RunError(
            f"{run.path} is not the run {source} is about: its content hash is {short(actual)}, "
            f"the report's is {short(recorded)}",
            hint="was the run changed, resumed or retrained after the report? report on it again, "
            "or pass --run with the run the report was made of",
        )
    return run, actual


def _ledger_evidence(run: Any) -> tuple[dict[str, Any], str]:
    """dp_enabled, claimed_epsilon and claimed_delta recomputed from ledger.json with Opacus."""
    from audits._run import run_ledger

    ledger = run_ledger(run)
    if ledger is None:
        return {"dp_enabled": False, "claimed_epsilon": None, "claimed_delta": None}, "no ledger.json"
    if not ledger.dp_enabled:
        return {"dp_enabled": False, "claimed_epsilon": None, "claimed_delta": None}, "ledger.json"
    from federated.accounting import epsilon  # Opacus's accountants, without torch

    epsilons = []
    for c in ledger.clients:
        try:
            epsilons.append(epsilon(c.opacus_history(), c.delta, c.accountant))
        except ValueError as e:
            raise RunError(f"{run.ledger_file}: client {c.client_id}: cannot recompute its epsilon ({e})") from e
    accountants = "/".join(sorted({c.accountant for c in ledger.clients})) or "no"
    return (
        {
            "dp_enabled": True,
            "claimed_epsilon": max(epsilons) if epsilons else None,
            "claimed_delta": max((c.delta for c in ledger.clients), default=None),
        },
        f"{run.ledger_file.name} (Opacus {accountants} accountant)",
    )


def _data_source(
    data: Mapping[str, Any], source: str, *, key: str, what: str, evidence: str
) -> tuple[Path | None, list[CheckResult]]:
    """The file the report's data section names under `sources.<key>` (None when it names none),
    and a failed check when it is no longer the file the report was built from."""
    from guard.core.files import file_sha256

    sources = (data.get("data") or {}).get("sources") if isinstance(data.get("data"), Mapping) else None
    entry = sources.get(key) if isinstance(sources, Mapping) else None
    if not isinstance(entry, Mapping) or not entry.get("path"):
        return None, []
    path = Path(str(entry["path"]))
    if not path.is_file():
        raise InputError(
            f"the {what} the report names ({path}) is not there; guard check recomputes from it",
            path=source,
            field=f"data.sources.{key}",
        )
    actual = file_sha256(path)
    if actual == entry.get("sha256"):
        return path, []
    changed = CheckResult(
        f"{key}_file",
        f"the {what} is the file the report was built from",
        True,
        None,
        False,
        f"{path} changed after the report was written (sha256 {str(entry.get('sha256'))[:12]} recorded, "
        f"{actual[:12]} now)",
        evidence,
    )
    return path, [changed]


def _residual_evidence(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[CheckResult]]:
    """residual_pii_rate recomputed from the scan file the report names, and whether it is the same file."""
    from guard.release.evidence import residual_rate
    from guard.release.inputs import residual_summary

    path, results = _data_source(data, source, key="scan", what="residual-PII scan", evidence="residual_pii_rate")
    if path is None:
        return {}, []
    rate = residual_rate(residual_summary(path))
    return ({"residual_pii_rate": rate} if rate is not None else {}), results


def _profile_evidence(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[CheckResult]]:
    """The corpus profile's gated numbers recomputed from the profile file the report names."""
    from guard.quality import CorpusProfile, release_evidence

    path, results = _data_source(data, source, key="profile", what="corpus profile", evidence="corpus_duplicate_rate")
    if path is None:
        return {}, []
    values = release_evidence(CorpusProfile.read(path).to_json())
    return {k: v for k, v in values.items() if v is not None}, results


def _audit_evidence(
    data: Mapping[str, Any], run_hash: str, source: str
) -> tuple[dict[str, Any], dict[str, str], list[CheckResult]]:
    """The audit numbers recomputed from the findings of this run the report names: from
    each findings file (which must be the one the report was built from), or from the
    copy in report.json for findings passed in memory."""
    from audits.findings import AuditReport
    from guard.release.evidence import audit_evidence

    audits: dict[str, AuditReport] = {}
    origin: dict[str, str] = {}
    results: list[CheckResult] = []
    for i, entry in enumerate(data.get("audits") or []):
        if not isinstance(entry, Mapping) or entry.get("run_hash") != run_hash:
            continue  # findings that name no run (or another) are not evidence
        file = entry.get("source") if isinstance(entry.get("source"), Mapping) else {}
        if file.get("path"):
            path = Path(str(file["path"]))
            if not path.is_file():
                raise InputError(
                    f"the findings file the report names ({path}) is not there; guard check recomputes "
                    "the audit numbers from it",
                    path=source,
                    field=f"audits[{i}].source",
                )
            report = AuditReport.read(path)  # its own seal is checked here
            if report.to_json()["sha256"] != file.get("sha256") or report.run_hash != run_hash:
                results.append(
                    CheckResult(
                        f"findings_file:{report.audit}",
                        "the findings file is the one the report was built from",
                        True,
                        None,
                        False,
                        f"{path} is not the {report.audit} findings the report was built from (sha256 "
                        f"{str(file.get('sha256'))[:12]} recorded, {report.to_json()['sha256'][:12]} now)",
                    )
                )
            where = path.name
        else:
            report = AuditReport.from_json({**entry, "plots": {}}, source=f"{source}: audits[{i}]")
            where = "the findings copied into report.json"
        audits[report.audit] = report
        origin[report.audit] = where
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, report in audits.items():
        for key, item in audit_evidence({name: report}).items():
            values[key] = item["value"]
            names[key] = origin[name]
    return values, names, results


def _comparison_results(data: Mapping[str, Any], source: str) -> list[CheckResult]:
    """The comparison recomputed from the baseline report.json it names (nothing to check
    without one, or when that file is no longer there)."""
    from guard.release.compare import BaselineRef, Comparison, compare_reports

    block = data.get("comparison")
    if not isinstance(block, Mapping):
        return []
    stored = Comparison.from_json(block, source=f"{source}: comparison")
    path = Path(stored.baseline.source)
    if stored.baseline.kind != "report" or not path.is_file():
        return []
    from audits._integrity import seal_matches

    baseline = read_report_json(path)
    ok, recorded, actual = seal_matches(baseline)
    if not ok or recorded != stored.baseline.sha256:
        return [
            CheckResult(
                "comparison_baseline",
                "the baseline report is the one the comparison was made with",
                True,
                None,
                False,
                f"{path} changed after the comparison was made (sha256 {str(stored.baseline.sha256)[:12]} recorded, "
                f"{actual[:12]} now)",
            )
        ]
    again = compare_reports(data, baseline, baseline_ref=BaselineRef.from_json(block["baseline"]))
    same = again.rows == stored.rows and again.attributions == stored.attributions
    return [
        CheckResult(
            "comparison",
            "the comparison equals the one recomputed from the baseline report",
            True,
            None,
            same,
            f"{len(stored.rows)} differences recomputed from {path.name}"
            if same
            else f"the comparison does not match the one recomputed from {path}",
        )
    ]


def verify_report(
    data: Mapping[str, Any], *, source: str, run_dir: str | Path | None = None, key: bytes | None = None
) -> tuple[CheckResult, ...]:
    """Check a report.json (as read by `read_report_json`) against its run and inputs.

    A missing or other run raises RunError (ExitCode.RUN); every other problem is a failed
    result naming what does not match."""
    from audits._integrity import seal_matches, signature_problem

    results: list[CheckResult] = []
    ok, recorded, actual = seal_matches(data)
    results.append(
        CheckResult(
            "report_sha256",
            "report.json is as guard report wrote it",
            True,
            None,
            ok,
            "its sha256 matches"
            if ok
            else (
                "report.json has no sha256 (written by an older guard or by hand)"
                if recorded is None
                else f"report.json was changed after guard report wrote it (sha256 {str(recorded)[:12]} recorded, "
                f"{actual[:12]} now)"
            ),
        )
    )
    if key is not None:
        problem = signature_problem(data, key)
        results.append(
            CheckResult(
                "report_signature",
                "report.json is signed with the guard key",
                True,
                None,
                problem is None,
                problem or "signed with this key",
            )
        )
    run, run_hash = _run_of(data, source, run_dir)
    ledger_values, ledger_source = _ledger_evidence(run)
    residual_values, scan_results = _residual_evidence(data, source)
    results += scan_results
    profile_values, profile_results = _profile_evidence(data, source)
    results += profile_results
    audit_values, audit_sources, audit_results = _audit_evidence(data, run_hash, source)
    results += audit_results
    results += _comparison_results(data, source)
    recomputed: dict[str, Any] = {**ledger_values, **residual_values, **profile_values, **audit_values}
    where = (
        {k: ledger_source for k in ledger_values}
        | {k: "the residual-PII scan" for k in residual_values}
        | {k: "the corpus profile" for k in profile_values}
        | audit_sources
    )
    claimed_all = data["evidence"]
    for name in sorted(set(recomputed) | set(claimed_all)):
        item = claimed_all.get(name)
        claimed = item.get("value") if isinstance(item, Mapping) else item
        value = recomputed.get(name)
        same = name in recomputed and name in claimed_all and _same(claimed, value)
        origin = where.get(name, "the findings of this run")
        if name not in claimed_all:
            reason = f"{name}: the report leaves it out, recomputed from {origin}: {_shown(value)}"
        elif name not in recomputed:
            reason = f"{name}: the report claims {_shown(claimed)}, but nothing it was built from gives a value"
        else:
            reason = f"{name}: the report claims {_shown(claimed)}, recomputed from {origin}: {_shown(value)}"
        results.append(
            CheckResult(
                f"evidence:{name}",
                f"{name} equals the value recomputed from its source",
                value if isinstance(value, (bool, int, float)) else True,
                claimed if isinstance(claimed, (int, float)) and not isinstance(claimed, bool) else None,
                same,
                f"{name}: {_shown(claimed)}, as recomputed from {origin}" if same else reason,
                name,
            )
        )
    return tuple(results)


def check_report(
    report: str | Path,
    policy: str | Path,
    *,
    run_dir: str | Path | None = None,
    key: bytes | None = None,
) -> CheckOutcome:
    """Load both files, verify the report against its run (`run_dir`: where the run is,
    default the folder report.json names; `key`: verify the signature) and judge.
    The caller decides what a failure does."""
    data = read_report_json(report)
    release_policy = load_release_policy(policy)
    integrity = verify_report(data, source=str(report), run_dir=run_dir, key=key)
    outcome = evaluate(release_policy, data["evidence"])
    return CheckOutcome(outcome.policy, outcome.results, integrity)


__all__ = ["check_report", "read_report_json", "verify_report"]

"""The release gate: thresholds from a policy TOML checked against a release
report's evidence. `guard check` runs it in CI; `guard report` shows the same
results in the report.

    [privacy]
    max_claimed_epsilon = 8.0            # the ledger's largest client epsilon
    empirical_within_claimed = true      # the audit's lower bound must not exceed the claim
    max_canary_exposure = 12.0           # bits, largest exposure of any inserted canary
    max_membership_tpr = 0.05            # worst membership attack's TPR at `membership_fpr`
    membership_fpr = 0.001               # 0.001 or 0.01

    [data]
    max_residual_pii_rate = 0.01         # PII values of the raw corpus left in the training corpus

    [fairness]
    max_demographic_parity_gap = 0.25    # largest over the sensitive features
    max_equalized_odds_gap = 0.5
    min_group_size = 20                  # smallest group audited

A threshold whose evidence the report does not hold fails ("no evidence"):
a gate must not pass because a check did not run.

Before judging, `check_report` verifies that report.json tells the truth about
its run (it trusts no number in it on its word):

- the report's own sha256 (it was not edited after `guard report` wrote it) and,
  with the guard key, its HMAC-SHA256 signature;
- the run directory (named in report.json, or `run_dir`) exists and has the
  content hash the report names (a missing, changed or other run is a RunError,
  exit 10);
- every evidence value equals the one recomputed from its source: epsilon and
  delta from ledger.json with a fresh Opacus accountant (the ledger's accountant,
  per client), the residual-PII rate from the scan file the report names, the
  audit numbers from the findings of this run that the report embeds.

A mismatch fails the gate (exit 11) naming the value, the claim and the
recomputed value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError, InputError, PolicyError, RunError
from guard.core.files import read_json, read_toml

REPORT_KIND = "guard.release_report"
REPORT_SCHEMA_VERSION = 1
MEMBERSHIP_FPRS = (0.001, 0.01)


class ReleaseCheckFailed(GuardError):
    """One or more release thresholds failed (or had no evidence)."""

    exit_code = 11


# policy key -> (section, field name); the TOML layout is documented above
_LAYOUT: dict[str, tuple[str, ...]] = {
    "privacy": (
        "max_claimed_epsilon",
        "empirical_within_claimed",
        "max_canary_exposure",
        "max_membership_tpr",
        "membership_fpr",
    ),
    "data": ("max_residual_pii_rate",),
    "fairness": ("max_demographic_parity_gap", "max_equalized_odds_gap", "min_group_size"),
}


@dataclass(frozen=True)
class ReleasePolicy:
    """Release thresholds. None (or False) means the check is not required."""

    source: str = "<policy>"
    max_claimed_epsilon: float | None = None
    empirical_within_claimed: bool = False
    max_canary_exposure: float | None = None
    max_membership_tpr: float | None = None
    membership_fpr: float = 0.001
    max_residual_pii_rate: float | None = None
    max_demographic_parity_gap: float | None = None
    max_equalized_odds_gap: float | None = None
    min_group_size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CheckResult:
    """One threshold judged: `passed` is False for a breach and for missing evidence."""

    name: str
    description: str
    threshold: float | bool
    value: float | None
    passed: bool
    reason: str
    evidence: str = ""  # which key of the report's evidence it read

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "reason": self.reason,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class CheckOutcome:
    """Thresholds judged (`results`) and, from `check_report`, whether the report's
    evidence matches its sources (`integrity`)."""

    policy: ReleasePolicy
    results: tuple[CheckResult, ...]
    integrity: tuple[CheckResult, ...] = ()

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results) and all(r.passed for r in self.integrity)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def mismatches(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.integrity if not r.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_json(),
            "passed": self.passed,
            "results": [r.to_json() for r in self.results],
            "integrity": [r.to_json() for r in self.integrity],
        }

    def raise_for_failures(self) -> None:
        if self.passed:
            return
        parts = []
        if self.mismatches:
            lines = "; ".join(r.reason for r in self.mismatches)
            parts.append(f"the report does not match its sources ({len(self.mismatches)} mismatch(es)): {lines}")
        if not self.results:
            parts.append(f"{self.policy.source}: the policy sets no threshold, so nothing was checked")
        elif self.failures:
            lines = "; ".join(f"{r.name}: {r.reason}" for r in self.failures)
            parts.append(f"{len(self.failures)} of {len(self.results)} release checks failed: {lines}")
        raise ReleaseCheckFailed(". ".join(parts))


# -- loading ----------------------------------------------------------------------


def _number(source: str, key: str, value: Any, *, integer: bool = False, fraction: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise PolicyError(f"{source}: {key} must be {kind}, not {value!r}")
    if not math.isfinite(value) or value < 0 or (fraction and value > 1):
        bounds = "between 0 and 1" if fraction else "a finite number >= 0"
        raise PolicyError(f"{source}: {key} must be {bounds}, not {value!r}")
    return value


def parse_release_policy(data: Mapping[str, Any], *, source: str = "<policy>") -> ReleasePolicy:
    unknown = sorted(set(data) - set(_LAYOUT))
    if unknown:
        raise PolicyError(f"{source}: unknown section(s) {unknown}; known: {sorted(_LAYOUT)}")
    values: dict[str, Any] = {}
    for section, keys in _LAYOUT.items():
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise PolicyError(f"{source}: [{section}] must be a table")
        bad = sorted(set(table) - set(keys))
        if bad:
            raise PolicyError(f"{source}: [{section}] unknown key(s) {bad}; known: {sorted(keys)}")
        for key, value in table.items():
            where = f"[{section}] {key}"
            if key == "empirical_within_claimed":
                if not isinstance(value, bool):
                    raise PolicyError(f"{source}: {where} must be true or false, not {value!r}")
                values[key] = value
            elif key == "membership_fpr":
                if value not in MEMBERSHIP_FPRS or isinstance(value, bool):
                    raise PolicyError(f"{source}: {where} must be one of {list(MEMBERSHIP_FPRS)}, not {value!r}")
                values[key] = float(value)
            elif key == "min_group_size":
                values[key] = int(_number(source, where, value, integer=True))
            else:
                rate = key in ("max_membership_tpr", "max_residual_pii_rate")
                values[key] = float(_number(source, where, value, fraction=rate))
    return ReleasePolicy(source=source, **values)


def load_release_policy(path: str | Path) -> ReleasePolicy:
    """Read a release policy TOML; errors name the file and the key."""
    return parse_release_policy(read_toml(path, error=PolicyError, what="release policy"), source=str(path))


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


# -- judging ----------------------------------------------------------------------


def _value(evidence: Mapping[str, Any], key: str) -> float | None:
    item = evidence.get(key)
    value = item.get("value") if isinstance(item, Mapping) else item
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _at_most(name: str, description: str, evidence: Mapping[str, Any], key: str, limit: float) -> CheckResult:
    value = _value(evidence, key)
    if value is None:
        return CheckResult(name, description, limit, None, False, f"no evidence ({key} is not in the report)", key)
    ok = value <= limit
    return CheckResult(name, description, limit, value, ok, f"{value:.4g} {'<=' if ok else '>'} {limit:g}", key)


def evaluate(policy: ReleasePolicy, evidence: Mapping[str, Any]) -> CheckOutcome:
    """Judge every threshold the policy sets against `evidence` (report.json's "evidence")."""
    results: list[CheckResult] = []
    dp = evidence.get("dp_enabled")
    dp_enabled = dp.get("value") if isinstance(dp, Mapping) else dp
    if policy.max_claimed_epsilon is not None:
        name, desc = "max_claimed_epsilon", "claimed epsilon (largest client) at most the limit"
        if dp_enabled is False:
            results.append(
                CheckResult(
                    name,
                    desc,
                    policy.max_claimed_epsilon,
                    None,
                    False,
                    "the model was trained without differential privacy: no epsilon is claimed (unbounded)",
                    "claimed_epsilon",
                )
            )
        else:
            results.append(_at_most(name, desc, evidence, "claimed_epsilon", policy.max_claimed_epsilon))
    if policy.empirical_within_claimed:
        name, desc = "empirical_within_claimed", "audited epsilon lower bound not above the claimed epsilon"
        bound, claimed = _value(evidence, "empirical_epsilon_lower_bound"), _value(evidence, "claimed_epsilon")
        if bound is None:
            results.append(
                CheckResult(
                    name,
                    desc,
                    True,
                    None,
                    False,
                    "no evidence (no empirical epsilon bound)",
                    "empirical_epsilon_lower_bound",
                )
            )
        elif claimed is None:
            results.append(
                CheckResult(
                    name, desc, True, bound, False, "no claimed epsilon to compare the bound with", "claimed_epsilon"
                )
            )
        else:
            ok = bound <= claimed * (1 + 1e-9)
            reason = f"lower bound {bound:.4g} {'<=' if ok else '>'} claimed {claimed:.4g}"
            results.append(CheckResult(name, desc, True, bound, ok, reason, "empirical_epsilon_lower_bound"))
    if policy.max_canary_exposure is not None:
        results.append(
            _at_most(
                "max_canary_exposure",
                "largest exposure (bits) of a canary inserted in training",
                evidence,
                "max_canary_exposure",
                policy.max_canary_exposure,
            )
        )
    if policy.max_membership_tpr is not None:
        key = f"membership_tpr_at_{policy.membership_fpr:g}_fpr"
        results.append(
            _at_most(
                "max_membership_tpr",
                f"worst membership-inference TPR at {policy.membership_fpr:g} FPR",
                evidence,
                key,
                policy.max_membership_tpr,
            )
        )
    if policy.max_residual_pii_rate is not None:
        results.append(
            _at_most(
                "max_residual_pii_rate",
                "share of the raw corpus's PII values left in the training corpus",
                evidence,
                "residual_pii_rate",
                policy.max_residual_pii_rate,
            )
        )
    if policy.max_demographic_parity_gap is not None:
        results.append(
            _at_most(
                "max_demographic_parity_gap",
                "largest demographic parity difference over the sensitive features",
                evidence,
                "demographic_parity_gap",
                policy.max_demographic_parity_gap,
            )
        )
    if policy.max_equalized_odds_gap is not None:
        results.append(
            _at_most(
                "max_equalized_odds_gap",
                "largest equalized odds difference over the sensitive features",
                evidence,
                "equalized_odds_gap",
                policy.max_equalized_odds_gap,
            )
        )
    if policy.min_group_size is not None:
        name, desc, key = "min_group_size", "smallest audited group at least this many records", "min_group_size"
        value = _value(evidence, key)
        if value is None:
            results.append(
                CheckResult(
                    name,
                    desc,
                    policy.min_group_size,
                    None,
                    False,
                    "no evidence (min_group_size is not in the report)",
                    key,
                )
            )
        else:
            ok = value >= policy.min_group_size
            reason = f"{value:g} {'>=' if ok else '<'} {policy.min_group_size}"
            results.append(CheckResult(name, desc, policy.min_group_size, value, ok, reason, key))
    return CheckOutcome(policy, tuple(results))


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
    from federated.privacy import epsilon_of

    epsilons = []
    for c in ledger.clients:
        try:
            epsilons.append(epsilon_of(c.opacus_history(), c.delta, c.accountant))
        except GuardError as e:
            raise RunError(
                f"{run.ledger_file}: client {c.client_id}: cannot recompute its epsilon ({e.message})"
            ) from e
    accountants = "/".join(sorted({c.accountant for c in ledger.clients})) or "no"
    return (
        {
            "dp_enabled": True,
            "claimed_epsilon": max(epsilons) if epsilons else None,
            "claimed_delta": max((c.delta for c in ledger.clients), default=None),
        },
        f"{run.ledger_file.name} (Opacus {accountants} accountant)",
    )


def _residual_evidence(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[CheckResult]]:
    """residual_pii_rate recomputed from the scan file the report names, and whether it is the same file."""
    from audits.report import residual_rate, residual_summary
    from guard.core.files import file_sha256

    sources = (data.get("data") or {}).get("sources") if isinstance(data.get("data"), Mapping) else None
    scan = sources.get("scan") if isinstance(sources, Mapping) else None
    if not isinstance(scan, Mapping) or not scan.get("path"):
        return {}, []
    path = Path(str(scan["path"]))
    if not path.is_file():
        raise InputError(
            f"the residual-PII scan the report names ({path}) is not there; guard check recomputes the rate from it",
            path=source,
            field="data.sources.scan",
        )
    results = []
    actual = file_sha256(path)
    if actual != scan.get("sha256"):
        results.append(
            CheckResult(
                "scan_file",
                "the residual-PII scan is the file the report was built from",
                True,
                None,
                False,
                f"{path} changed after the report was written (sha256 {str(scan.get('sha256'))[:12]} recorded, "
                f"{actual[:12]} now)",
                "residual_pii_rate",
            )
        )
    rate = residual_rate(residual_summary(path))
    return ({"residual_pii_rate": rate} if rate is not None else {}), results


def _audit_evidence(
    data: Mapping[str, Any], run_hash: str, source: str
) -> tuple[dict[str, Any], dict[str, str], list[CheckResult]]:
    """The audit numbers recomputed from the findings of this run the report names: from
    each findings file (which must be the one the report was built from), or from the
    copy in report.json for findings passed in memory."""
    from audits.findings import AuditReport
    from audits.report import audit_evidence

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


def verify_report(
    data: Mapping[str, Any], *, source: str, run_dir: str | Path | None = None, key: bytes | None = None
) -> tuple[CheckResult, ...]:
    """Check a report.json (as read by `read_report_json`) against its run and inputs.

    A missing or other run raises RunError (exit 10); every other problem is a failed
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
    audit_values, audit_sources, audit_results = _audit_evidence(data, run_hash, source)
    results += audit_results
    recomputed: dict[str, Any] = {**ledger_values, **residual_values, **audit_values}
    where = (
        {k: ledger_source for k in ledger_values}
        | {k: "the residual-PII scan" for k in residual_values}
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


__all__ = [
    "CheckOutcome",
    "CheckResult",
    "ReleaseCheckFailed",
    "ReleasePolicy",
    "check_report",
    "evaluate",
    "load_release_policy",
    "parse_release_policy",
    "read_report_json",
    "verify_report",
]

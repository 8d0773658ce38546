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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError, InputError, PolicyError
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
    policy: ReleasePolicy
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_json(),
            "passed": self.passed,
            "results": [r.to_json() for r in self.results],
        }

    def raise_for_failures(self) -> None:
        if self.passed:
            return
        if not self.results:
            raise ReleaseCheckFailed(f"{self.policy.source}: the policy sets no threshold, so nothing was checked")
        lines = "; ".join(f"{r.name}: {r.reason}" for r in self.failures)
        raise ReleaseCheckFailed(f"{len(self.failures)} of {len(self.results)} release checks failed: {lines}")


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


def check_report(report: str | Path, policy: str | Path) -> CheckOutcome:
    """Load both files and judge; the caller decides what a failure does."""
    data = read_report_json(report)
    return evaluate(load_release_policy(policy), data["evidence"])


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
]

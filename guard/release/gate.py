"""The release gate: thresholds from a policy TOML judged against a release
report's evidence. `guard check` runs it in CI; `guard report` shows the same
results in the report.

    [privacy]
    max_claimed_epsilon = 8.0            # the ledger's largest client epsilon
    empirical_within_claimed = true      # the audit's lower bound must not exceed the claim
    max_canary_exposure = 12.0           # bits, largest exposure of any inserted canary
    max_membership_tpr = 0.05            # worst membership attack's TPR at `membership_fpr`
    membership_fpr = 0.001               # 0.001 or 0.01
    max_extraction_rate = 0.0            # verbatim continuation of training records beyond held-out ones
    max_pii_emission_excess = 0.0        # generations emitting training PII beyond held-out prompts'

    [data]
    max_residual_pii_rate = 0.01         # PII values of the raw corpus left in the training corpus
    max_duplicate_rate = 0.01            # exact + near duplicates in the training corpus (guard profile --out)
    max_missing_rate = 0.01              # worst text/label/group field missing or empty
    max_control_char_rate = 0.0          # records with NUL, C0/C1 controls, lone surrogates, U+FFFD
    min_group_share = 0.05               # smallest group of the profiled group fields

    [fairness]
    max_demographic_parity_gap = 0.25    # largest over the sensitive features
    max_equalized_odds_gap = 0.5
    max_mitigated_demographic_parity_gap = 0.05   # with the post-processor of guard audit mitigate
    max_mitigated_equalized_odds_gap = 0.1
    min_group_size = 20                  # smallest group audited

The layout is `THRESHOLDS` (one row per gated check) plus `PARAMETERS`; one
loop (`evaluate`) judges every row. A threshold whose evidence the report does
not hold fails ("no evidence"): a gate must not pass because a check did not run.
Adding a gated check is one row here plus the finding its audit writes (and the
audit's `release_evidence` naming it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from guard.core.errors import ExitCode, GuardError, PolicyError
from guard.core.files import read_toml


class ReleaseCheckFailed(GuardError):
    """One or more release thresholds failed (or had no evidence), or the report does
    not match its sources."""

    exit_code = ExitCode.CHECKS_FAILED


class ReleasePolicyError(PolicyError):
    """A release policy file is invalid: unknown section or key, bad value."""

    exit_code = ExitCode.CONFIG


class Direction(StrEnum):
    MAX = "max"  # the evidence must be at most the threshold
    MIN = "min"  # the evidence must be at least the threshold


class Kind(StrEnum):
    """What a policy value must be."""

    NUMBER = "number"  # finite, >= 0
    FRACTION = "fraction"  # between 0 and 1
    INTEGER = "integer"  # an integer >= 0
    FLAG = "flag"  # true/false: compare the evidence with another evidence value (`limit_from`)


@dataclass(frozen=True)
class Threshold:
    """One gated check: the policy key and its [section], the direction, what it
    reads from the report's evidence and how the report labels that number."""

    key: str
    section: str
    direction: Direction
    evidence: str  # evidence key; may name a parameter: "membership_tpr_at_{membership_fpr:g}_fpr"
    description: str  # what the check asks (shown with each result); may name a parameter too
    label: str  # the evidence number's label in the report and the model card
    unit: str = ""
    kind: Kind = Kind.NUMBER
    limit_from: str | None = None  # Kind.FLAG: the evidence key that is the limit
    requires_dp: bool = False  # fails with a reason of its own when the model was trained without DP

    def evidence_key(self, params: Mapping[str, Any]) -> str:
        return self.evidence.format(**params)


@dataclass(frozen=True)
class Parameter:
    """A policy value that shapes a check but is not one (e.g. membership_fpr)."""

    key: str
    section: str
    choices: tuple[float, ...]
    default: float


# The gate. Order is the order results are shown in.
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "max_claimed_epsilon",
        "privacy",
        Direction.MAX,
        "claimed_epsilon",
        "claimed epsilon (largest client) at most the limit",
        "claimed epsilon (largest client)",
        requires_dp=True,
    ),
    Threshold(
        "empirical_within_claimed",
        "privacy",
        Direction.MAX,
        "empirical_epsilon_lower_bound",
        "audited epsilon lower bound not above the claimed epsilon",
        "audited epsilon lower bound",
        kind=Kind.FLAG,
        limit_from="claimed_epsilon",
    ),
    Threshold(
        "max_canary_exposure",
        "privacy",
        Direction.MAX,
        "max_canary_exposure",
        "largest exposure (bits) of a canary inserted in training",
        "largest canary exposure (bits)",
        unit="bits",
    ),
    Threshold(
        "max_membership_tpr",
        "privacy",
        Direction.MAX,
        "membership_tpr_at_{membership_fpr:g}_fpr",
        "worst membership-inference TPR at {membership_fpr:g} FPR",
        "membership TPR at {membership_fpr:.1%} FPR (worst attack)",
        kind=Kind.FRACTION,
    ),
    # The two extraction rows judge a member rate's excess over its held-out baseline, the
    # difference when its interval excludes 0 and else 0 (audits.baseline.Excess.excess): a
    # near-random model emits common names and continues some text by chance on any prompt.
    Threshold(
        "max_extraction_rate",
        "privacy",
        Direction.MAX,
        "extraction_rate_excess",
        "share of training records a generative model continues verbatim from their prefix, beyond the "
        "held-out records' share (0 unless the difference is significant)",
        "extraction rate excess over held-out records (0 unless significant)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "max_pii_emission_excess",
        "privacy",
        Direction.MAX,
        "pii_emission_excess",
        "share of generations from training prompts that emit a training PII value, beyond the share from "
        "held-out prompts (0 unless the difference is significant)",
        "training PII emission excess over held-out prompts (0 unless significant)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "max_residual_pii_rate",
        "data",
        Direction.MAX,
        "residual_pii_rate",
        "share of the raw corpus's PII values left in the training corpus",
        "residual PII rate in the training corpus",
        kind=Kind.FRACTION,
    ),
    # The corpus profile's rows (guard profile; guard.quality.release_evidence names the evidence).
    Threshold(
        "max_duplicate_rate",
        "data",
        Direction.MAX,
        "corpus_duplicate_rate",
        "share of the training corpus's records that are exact or near duplicates (guard profile)",
        "duplicate rate, exact plus near (corpus profile)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "max_missing_rate",
        "data",
        Direction.MAX,
        "corpus_missing_rate",
        "largest share of records with a text, label or group field missing or empty (guard profile)",
        "missing-or-empty rate, worst field (corpus profile)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "max_control_char_rate",
        "data",
        Direction.MAX,
        "corpus_control_char_rate",
        "share of records whose text holds NUL, C0/C1 controls, lone surrogates or U+FFFD (guard profile)",
        "control-character rate, worst text field (corpus profile)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "min_group_share",
        "data",
        Direction.MIN,
        "corpus_min_group_share",
        "smallest group's share of the training corpus, over the profiled group fields (guard profile)",
        "smallest group's share (corpus profile)",
        kind=Kind.FRACTION,
    ),
    Threshold(
        "max_demographic_parity_gap",
        "fairness",
        Direction.MAX,
        "demographic_parity_gap",
        "largest demographic parity difference over the sensitive features",
        "demographic parity gap (largest)",
    ),
    Threshold(
        "max_equalized_odds_gap",
        "fairness",
        Direction.MAX,
        "equalized_odds_gap",
        "largest equalized odds difference over the sensitive features",
        "equalized odds gap (largest)",
    ),
    Threshold(
        "max_mitigated_demographic_parity_gap",
        "fairness",
        Direction.MAX,
        "mitigated_demographic_parity_gap",
        "demographic parity difference of the model with its post-processor (guard audit mitigate)",
        "demographic parity gap after the post-processor",
    ),
    Threshold(
        "max_mitigated_equalized_odds_gap",
        "fairness",
        Direction.MAX,
        "mitigated_equalized_odds_gap",
        "equalized odds difference of the model with its post-processor (guard audit mitigate)",
        "equalized odds gap after the post-processor",
    ),
    Threshold(
        "min_group_size",
        "fairness",
        Direction.MIN,
        "min_group_size",
        "smallest audited group at least this many records",
        "smallest audited group",
        unit="records",
        kind=Kind.INTEGER,
    ),
)

PARAMETERS: tuple[Parameter, ...] = (Parameter("membership_fpr", "privacy", (0.001, 0.01), 0.001),)
MEMBERSHIP_FPRS = PARAMETERS[0].choices

# Evidence the report shows beside the gated numbers (not judged): key -> label
SHOWN_EVIDENCE: dict[str, str] = {
    "claimed_delta": "delta",
    "membership_auc": "membership inference AUC (worst attack)",
    "extraction_rate": "extraction rate, training records (raw; the gate reads its excess)",
    "pii_emission_rate": "training PII emission rate, training prompts (raw; the gate reads its excess)",
}


def parameter_defaults() -> dict[str, Any]:  # parameter -> default
    return {p.key: p.default for p in PARAMETERS}


def evidence_labels(params: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Evidence key -> label, for every number the report shows: the gated ones (from
    `THRESHOLDS`) and `SHOWN_EVIDENCE`."""
    values = {**parameter_defaults(), **(params or {})}
    out = {t.evidence_key(values): t.label.format(**values) for t in THRESHOLDS}
    return out | SHOWN_EVIDENCE


def layout() -> dict[str, tuple[str, ...]]:
    """[section] -> its keys, as the policy TOML is laid out."""
    out: dict[str, list[str]] = {}
    for row in (*THRESHOLDS, *PARAMETERS):
        out.setdefault(row.section, []).append(row.key)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class ReleasePolicy:
    """Release thresholds (policy key -> value); a key that is absent (or a flag that is
    false) is not required. `policy.<key>` reads a threshold or a parameter."""

    source: str = "<policy>"
    thresholds: Mapping[str, float | int | bool] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=parameter_defaults)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("source", "thresholds", "params"):
            raise AttributeError(name)
        for row in THRESHOLDS:
            if row.key == name:
                return self.thresholds.get(name, False if row.kind is Kind.FLAG else None)
        for p in PARAMETERS:
            if p.key == name:
                return self.params.get(name, p.default)
        raise AttributeError(f"{type(self).__name__} has no threshold or parameter {name!r}")

    def required(self) -> tuple[Threshold, ...]:
        """The rows this policy sets, in table order. A limit of 0 is set (`0 in (None, False)` is
        true in Python, so the test is by identity: `max_extraction_rate = 0` must not drop the row)."""
        return tuple(
            r for r in THRESHOLDS if self.thresholds.get(r.key) is not None and self.thresholds[r.key] is not False
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        for row in THRESHOLDS:
            out[row.key] = getattr(self, row.key)
        for p in PARAMETERS:
            out[p.key] = getattr(self, p.key)
        return out


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


def _number(source: str, where: str, value: Any, kind: Kind) -> float | int:
    integer, fraction = kind is Kind.INTEGER, kind is Kind.FRACTION
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ReleasePolicyError(f"{source}: {where} must be {'an integer' if integer else 'a number'}, not {value!r}")
    if not math.isfinite(value) or value < 0 or (fraction and value > 1):
        bounds = "between 0 and 1" if fraction else "a finite number >= 0"
        raise ReleasePolicyError(f"{source}: {where} must be {bounds}, not {value!r}")
    return int(value) if integer else float(value)


def parse_release_policy(data: Mapping[str, Any], *, source: str = "<policy>") -> ReleasePolicy:
    """A `ReleasePolicy` from the TOML's tables; errors name the source, [section] and key."""
    sections = layout()
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ReleasePolicyError(f"{source}: unknown section(s) {unknown}; known: {sorted(sections)}")
    rows = {r.key: r for r in THRESHOLDS}
    params = {p.key: p for p in PARAMETERS}
    thresholds: dict[str, Any] = {}
    values: dict[str, float] = parameter_defaults()
    for section, keys in sections.items():
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise ReleasePolicyError(f"{source}: [{section}] must be a table")
        bad = sorted(set(table) - set(keys))
        if bad:
            raise ReleasePolicyError(f"{source}: [{section}] unknown key(s) {bad}; known: {sorted(keys)}")
        for key, value in table.items():
            where = f"[{section}] {key}"
            if key in params:
                p = params[key]
                if isinstance(value, bool) or value not in p.choices:
                    raise ReleasePolicyError(f"{source}: {where} must be one of {list(p.choices)}, not {value!r}")
                values[key] = float(value)
            elif rows[key].kind is Kind.FLAG:
                if not isinstance(value, bool):
                    raise ReleasePolicyError(f"{source}: {where} must be true or false, not {value!r}")
                thresholds[key] = value
            else:
                thresholds[key] = _number(source, where, value, rows[key].kind)
    return ReleasePolicy(source=source, thresholds=thresholds, params=values)


def load_release_policy(path: str | Path) -> ReleasePolicy:
    """Read a release policy TOML; errors name the file and the key."""
    return parse_release_policy(read_toml(path, error=ReleasePolicyError, what="release policy"), source=str(path))


# -- judging ----------------------------------------------------------------------


def evidence_value(evidence: Mapping[str, Any], key: str) -> float | bool | None:
    """The value of one evidence item ({"value": ...} or a bare value)."""
    item = evidence.get(key)
    return item.get("value") if isinstance(item, Mapping) else item


def _number_of(evidence: Mapping[str, Any], key: str) -> float | None:
    value = evidence_value(evidence, key)
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def judge(row: Threshold, limit: float | bool, evidence: Mapping[str, Any], params: Mapping[str, Any]) -> CheckResult:
    """One row of the table against the evidence."""
    key = row.evidence_key(params)
    desc = row.description.format(**params)
    if row.requires_dp and evidence_value(evidence, "dp_enabled") is False:
        reason = "the model was trained without differential privacy: no epsilon is claimed (unbounded)"
        return CheckResult(row.key, desc, limit, None, False, reason, key)
    value = _number_of(evidence, key)
    if row.kind is Kind.FLAG:
        assert row.limit_from is not None
        if value is None:
            return CheckResult(row.key, desc, True, None, False, f"no evidence (no {row.label})", key)
        other = _number_of(evidence, row.limit_from)
        if other is None:
            return CheckResult(
                row.key, desc, True, value, False, f"no {row.limit_from.replace('_', ' ')} to compare the bound with",
                row.limit_from,
            )  # fmt: skip
        ok = value <= other * (1 + 1e-9) if row.direction is Direction.MAX else value >= other * (1 - 1e-9)
        sign = ("<=" if ok else ">") if row.direction is Direction.MAX else (">=" if ok else "<")
        reason = f"lower bound {value:.4g} {sign} claimed {other:.4g}"
        return CheckResult(row.key, desc, True, value, ok, reason, key)
    if value is None:
        return CheckResult(row.key, desc, limit, None, False, f"no evidence ({key} is not in the report)", key)
    if row.direction is Direction.MAX:
        ok = value <= limit
        reason = f"{value:.4g} {'<=' if ok else '>'} {limit:g}"
    else:
        ok = value >= limit
        reason = f"{value:g} {'>=' if ok else '<'} {limit:g}"
    return CheckResult(row.key, desc, limit, value, ok, reason, key)


def evaluate(policy: ReleasePolicy, evidence: Mapping[str, Any]) -> CheckOutcome:
    """Judge every threshold the policy sets against `evidence` (report.json's "evidence")."""
    params = {**parameter_defaults(), **policy.params}
    results = tuple(judge(row, policy.thresholds[row.key], evidence, params) for row in policy.required())
    return CheckOutcome(policy, results)


__all__ = [
    "MEMBERSHIP_FPRS",
    "PARAMETERS",
    "SHOWN_EVIDENCE",
    "THRESHOLDS",
    "CheckOutcome",
    "CheckResult",
    "Direction",
    "Kind",
    "Parameter",
    "ReleaseCheckFailed",
    "ReleasePolicy",
    "ReleasePolicyError",
    "Threshold",
    "evaluate",
    "evidence_labels",
    "judge",
    "layout",
    "parameter_defaults",
    "load_release_policy",
    "parse_release_policy",
]

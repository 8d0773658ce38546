"""The numbers the release gate judges, each with where it came from.

Each audit declares which of its findings carry a release number
(`audits.<name>.release_evidence(report) -> {evidence key: [findings]}`); this
module takes the worst of them (the largest, or the smallest for a minimum in
`gate.THRESHOLDS`). The ledger's epsilon/delta and the residual-PII rate come
from the run and the scan. `guard report` writes these numbers; `guard check`
recomputes them the same way.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guard.release.gate import THRESHOLDS, Direction

if TYPE_CHECKING:
    from audits.findings import AuditFinding, AuditReport

# audit name -> the module whose `release_evidence` names its evidence findings
AUDIT_EVIDENCE: dict[str, str] = {
    "privacy": "audits.privacy",
    "fairness": "audits.fairness",
    "explain": "audits.explain",
}

Evidence = dict[str, dict[str, Any]]  # key -> {"value": number | bool | None, "source": str}


def num(x: Any) -> float | None:
    """A finite float, or None (for None, booleans, non-numbers, NaN and infinities)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _where(f: AuditFinding | None) -> str:
    if f is None:
        return ""
    return f"{f.audit} audit: {f.check}/{f.metric}" + (f" ({f.group})" if f.group else "")


def _minimum_keys() -> set[str]:
    return {row.evidence for row in THRESHOLDS if row.direction is Direction.MIN}


def worst(findings: Sequence[AuditFinding], *, smallest: bool = False) -> tuple[float | None, AuditFinding | None]:
    """The largest (or smallest) numeric value among `findings`, and its finding."""
    best: tuple[float | None, AuditFinding | None] = (None, None)
    for f in findings:
        v = num(f.value)
        if v is not None and (best[0] is None or (v < best[0] if smallest else v > best[0])):
            best = (v, f)
    return best


def _evidence_function(audit: str) -> Callable[[AuditReport], Mapping[str, Sequence[AuditFinding]]] | None:
    module = AUDIT_EVIDENCE.get(audit)
    if module is None:
        return None
    return importlib.import_module(module).release_evidence  # type: ignore[no-any-return]


def audit_evidence(audits: Mapping[str, AuditReport]) -> Evidence:
    """The release evidence that comes from audit findings (only pass audits of this run)."""
    ev: Evidence = {}
    smallest = _minimum_keys()
    for name in sorted(audits, key=lambda n: list(AUDIT_EVIDENCE).index(n) if n in AUDIT_EVIDENCE else 99):
        extract = _evidence_function(name)
        if extract is None:
            continue
        for key, findings in extract(audits[name]).items():
            value, finding = worst(findings, smallest=key in smallest)
            ev[key] = {"value": value, "source": _where(finding)}
    return ev


def residual_rate(residual: Mapping[str, Any] | None) -> float | None:
    """The residual-PII rate of a residual summary: surviving / raw values (None without a measurement)."""
    if not residual or residual.get("rate") is None:
        return None
    raw, surviving = num(residual.get("raw_values")), num(residual.get("surviving_values"))
    if raw is not None and surviving is not None and raw > 0:
        return surviving / raw
    return num(residual.get("rate"))


def report_evidence(data: Mapping[str, Any], privacy: Mapping[str, Any], audits: Mapping[str, AuditReport]) -> Evidence:
    """Every number of the report's "evidence": the ledger's, the residual rate and the
    audits' (`audits`: only those of this run)."""
    ev: Evidence = {}
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
    ev |= profile_evidence(data.get("profile"))
    return ev | audit_evidence(audits)


def profile_evidence(profile: Mapping[str, Any] | None) -> Evidence:
    """The corpus profile's gated numbers (guard.quality.release_evidence), as the report's data section holds them."""
    from guard.quality import RELEASE_EVIDENCE

    values = (profile or {}).get("evidence") or {}
    return {
        k: {"value": v, "source": f"corpus profile: {RELEASE_EVIDENCE.get(k, k)}"}
        for k, v in values.items()
        if v is not None
    }


__all__ = ["AUDIT_EVIDENCE", "audit_evidence", "num", "profile_evidence", "report_evidence", "residual_rate", "worst"]

"""The release gate on leakage beyond chance (issue 18): the extraction and PII-emission rows
read the difference between the member rate and its held-out baseline (0 unless significant),
a limit of 0 is a limit, and findings written before the baselines existed still load."""

from __future__ import annotations

from typing import Any

from audits.findings import AuditFinding, AuditReport
from guard.release.evidence import audit_evidence
from guard.release.gate import evaluate, evidence_labels, parse_release_policy

ZERO = parse_release_policy({"privacy": {"max_extraction_rate": 0, "max_pii_emission_excess": 0}}, source="p.toml")


def _report(*findings: AuditFinding) -> dict[str, AuditReport]:
    return {"privacy": AuditReport(audit="privacy", subject={}, findings=findings)}


def _finding(metric: str, value: float | None, **evidence: Any) -> AuditFinding:
    return AuditFinding("privacy", "extraction", metric, value, evidence=evidence)


def test_a_limit_of_zero_is_judged_not_dropped() -> None:
    assert [r.key for r in ZERO.required()] == ["max_extraction_rate", "max_pii_emission_excess"]
    outcome = evaluate(ZERO, {})
    assert not outcome.passed and all(r.reason.startswith("no evidence") for r in outcome.results)


def test_chance_level_emission_passes_and_a_significant_excess_fails() -> None:
    chance = _report(
        _finding("exact_suffix_rate", 0.04),
        _finding("exact_suffix_excess", 0.0),  # 0.04 members vs 0.04 held out: not significant
        _finding("training_pii_emission_rate", 0.08),
        _finding("training_pii_emission_excess", 0.0),
    )
    assert evaluate(ZERO, audit_evidence(chance)).passed
    leak = _report(
        _finding("exact_suffix_rate", 0.6),
        _finding("exact_suffix_excess", 0.6),
        _finding("training_pii_emission_rate", 0.9),
        _finding("training_pii_emission_excess", 0.75),
    )
    ev = audit_evidence(leak)
    assert ev["pii_emission_excess"]["value"] == 0.75 and ev["pii_emission_rate"]["value"] == 0.9
    results = {r.name: r for r in evaluate(ZERO, ev).results}
    assert results["max_pii_emission_excess"].reason == "0.75 > 0"
    assert not results["max_extraction_rate"].passed
    labels = evidence_labels()
    assert labels["pii_emission_excess"].startswith("training PII emission excess over held-out prompts")
    assert "raw" in labels["pii_emission_rate"] and "raw" in labels["extraction_rate"]


def test_findings_from_before_the_baselines_still_give_the_extraction_excess() -> None:
    """An older exact_suffix_rate finding held the held-out counts: its excess is computed from
    them; it had no PII baseline, so that row has no evidence and fails (rerun the audit)."""
    old = _report(
        _finding("exact_suffix_rate", 12 / 40, records=40, exact=12, non_member_rate=0.0, non_members=40),
        _finding("training_pii_emission_rate", 0.08, generations=25, emitting=2),
    )
    ev = audit_evidence(old)
    assert ev["extraction_rate_excess"]["value"] == 0.3  # 12/40 vs 0/40: significant
    assert "pii_emission_excess" not in ev and ev["pii_emission_rate"]["value"] == 0.08
    results = {r.name: r for r in evaluate(ZERO, ev).results}
    assert not results["max_extraction_rate"].passed
    assert results["max_pii_emission_excess"].reason == "no evidence (pii_emission_excess is not in the report)"
    same = _report(_finding("exact_suffix_rate", 1 / 40, records=40, exact=1, non_member_rate=1 / 40, non_members=40))
    assert audit_evidence(same)["extraction_rate_excess"]["value"] == 0.0

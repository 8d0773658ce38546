"""The gate is a table (guard.release.gate.THRESHOLDS) judged by one loop: every row is
a policy key in its [section], read from one evidence key, and labelled in the report
from the same row. A new row is judged, laid out and labelled with no other change."""

from __future__ import annotations

import dataclasses

import pytest

from guard.core.errors import ExitCode, GuardError
from guard.release import gate
from guard.release.gate import (
    THRESHOLDS,
    Direction,
    Kind,
    ReleaseCheckFailed,
    ReleasePolicyError,
    Threshold,
    evaluate,
    evidence_labels,
    layout,
    parse_release_policy,
)


def test_every_row_is_a_key_of_its_section_with_an_evidence_key_and_a_label():
    sections = layout()
    labels = evidence_labels()
    assert [r.key for r in THRESHOLDS] == list(dict.fromkeys(r.key for r in THRESHOLDS))  # no key twice
    for row in THRESHOLDS:
        assert row.key in sections[row.section]
        key = row.evidence_key({"membership_fpr": 0.001})
        assert labels[key] and key
    assert labels["membership_tpr_at_0.001_fpr"] == "membership TPR at 0.1% FPR (worst attack)"
    assert evidence_labels({"membership_fpr": 0.01})["membership_tpr_at_0.01_fpr"].startswith("membership TPR at 1.0%")


@pytest.mark.parametrize("row", [r for r in THRESHOLDS if r.kind is not Kind.FLAG], ids=lambda r: r.key)
def test_the_loop_judges_each_row_on_its_side_and_fails_without_evidence(row: Threshold):
    limit = 5 if row.kind is Kind.INTEGER else 0.5
    policy = parse_release_policy({row.section: {row.key: limit}}, source="one.toml")
    key = row.evidence_key({"membership_fpr": 0.001})
    inside, outside = (0.25, 0.75) if row.direction is Direction.MAX else (limit * 2, limit * 0.4)
    base = {"dp_enabled": {"value": True}}
    (ok,) = evaluate(policy, {**base, key: {"value": inside}}).results
    (bad,) = evaluate(policy, {**base, key: {"value": outside}}).results
    (none,) = evaluate(policy, base).results
    assert ok.passed and ok.evidence == key and ok.name == row.key and ok.threshold == limit
    assert not bad.passed and bad.value == outside
    assert not none.passed and none.value is None and none.reason.startswith("no evidence")


def test_a_new_row_is_one_line_of_the_table(monkeypatch):
    row = Threshold("max_typo_flip_rate", "fairness", Direction.MAX, "typo_flip_rate", "typo flips", "typo flip rate")
    monkeypatch.setattr(gate, "THRESHOLDS", (*THRESHOLDS, row))
    policy = parse_release_policy({"fairness": {"max_typo_flip_rate": 0.1}}, source="p.toml")
    assert policy.max_typo_flip_rate == 0.1 and policy.to_json()["max_typo_flip_rate"] == 0.1
    (result,) = evaluate(policy, {"typo_flip_rate": {"value": 0.2}}).results
    assert result.name == "max_typo_flip_rate" and not result.passed and result.reason == "0.2 > 0.1"
    assert gate.evidence_labels()["typo_flip_rate"] == "typo flip rate"


def test_a_flag_row_compares_two_evidence_values():
    policy = parse_release_policy({"privacy": {"empirical_within_claimed": True}})
    ev = {"claimed_epsilon": {"value": 2.0}}
    (ok,) = evaluate(policy, {**ev, "empirical_epsilon_lower_bound": {"value": 1.5}}).results
    (bad,) = evaluate(policy, {**ev, "empirical_epsilon_lower_bound": {"value": 2.5}}).results
    assert ok.passed and ok.reason == "lower bound 1.5 <= claimed 2"
    assert not bad.passed and bad.reason == "lower bound 2.5 > claimed 2"


def test_policy_values_are_checked_by_kind_and_errors_exit_config():
    with pytest.raises(ReleasePolicyError) as e:
        parse_release_policy({"privacy": {"empirical_within_claimed": 1}}, source="p.toml")
    assert e.value.exit_code == ExitCode.CONFIG and isinstance(e.value, GuardError)
    assert "[privacy] empirical_within_claimed must be true or false" in str(e.value)
    assert ReleaseCheckFailed.exit_code == ExitCode.CHECKS_FAILED


def test_the_policy_is_frozen_and_serialises_every_row():
    policy = parse_release_policy({"data": {"max_residual_pii_rate": 0.01}}, source="p.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.source = "x"  # type: ignore[misc]
    data = policy.to_json()
    assert data["source"] == "p.toml" and data["max_residual_pii_rate"] == 0.01
    assert data["empirical_within_claimed"] is False and data["membership_fpr"] == 0.001
    assert {r.key for r in THRESHOLDS} <= set(data)


def test_max_extraction_rate_gates_the_privacy_audits_extraction_excess():
    """Issue 18: the row reads the member rate's excess over held-out records (0 unless
    significant), not the raw rate, which stays in the evidence as a shown number."""
    from audits.findings import AuditFinding, AuditReport
    from guard.release.evidence import audit_evidence

    def privacy(*excesses: float | None) -> AuditReport:
        findings = tuple(
            f
            for i, x in enumerate(excesses)
            for f in (
                AuditFinding("privacy", "extraction", "exact_suffix_rate", 0.5, group=f"g{i}"),
                AuditFinding("privacy", "extraction", "exact_suffix_excess", x, group=f"g{i}"),
            )
        )
        return AuditReport(audit="privacy", subject={}, findings=findings)

    policy = parse_release_policy({"privacy": {"max_extraction_rate": 0.05}}, source="p.toml")
    evidence = audit_evidence({"privacy": privacy(0.0, 0.08)})
    assert evidence["extraction_rate_excess"] == {
        "value": 0.08,
        "source": "privacy audit: extraction/exact_suffix_excess (g1)",
    }
    assert evidence["extraction_rate"]["value"] == 0.5  # the raw rate: shown, not judged
    (bad,) = evaluate(policy, evidence).results
    assert bad.name == "max_extraction_rate" and not bad.passed and bad.reason == "0.08 > 0.05"
    (ok,) = evaluate(policy, audit_evidence({"privacy": privacy(0.0)})).results
    assert ok.passed
    # a classifier's audit has no extraction finding: no evidence, and the gate fails rather than passes
    assert "extraction_rate_excess" not in audit_evidence({"privacy": privacy()})
    (none,) = evaluate(policy, audit_evidence({"privacy": privacy()})).results
    assert not none.passed and none.reason == "no evidence (extraction_rate_excess is not in the report)"
    assert evidence_labels()["extraction_rate_excess"].startswith("extraction rate excess over held-out records")
    with pytest.raises(ReleasePolicyError, match="max_extraction_rate must be between 0 and 1"):
        parse_release_policy({"privacy": {"max_extraction_rate": 2}}, source="p.toml")

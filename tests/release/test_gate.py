"""`guard check`: release thresholds from TOML judged against a report's evidence.
Fast tests on the policy and the judging (the gate table, guard.release.gate);
the end-to-end ones (real runs, with and without DP) are in test_demo.py, and the
report's verification against its run in test_evidence_integrity.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guard.core.errors import ExitCode, PolicyError
from guard.release import (
    ReleaseCheckFailed,
    evaluate,
    load_release_policy,
    parse_release_policy,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = ROOT / "examples" / "release-policy.toml"

MEETS = {
    "dp_enabled": {"value": True},
    "claimed_epsilon": {"value": 7.99},
    "empirical_epsilon_lower_bound": {"value": 0.4},
    "max_canary_exposure": {"value": 3.1},
    "membership_tpr_at_0.001_fpr": {"value": 0.0},
    "membership_tpr_at_0.01_fpr": {"value": 0.02},
    "residual_pii_rate": {"value": 0.004},
    "demographic_parity_gap": {"value": 0.12},
    "equalized_odds_gap": {"value": 0.2},
    "min_group_size": {"value": 40},
}


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_policy_sets_every_threshold():
    policy = load_release_policy(EXAMPLE_POLICY)
    assert policy.max_claimed_epsilon == 8.0 and policy.empirical_within_claimed
    assert None not in (
        policy.max_canary_exposure,
        policy.max_membership_tpr,
        policy.max_residual_pii_rate,
        policy.max_demographic_parity_gap,
        policy.max_equalized_odds_gap,
        policy.min_group_size,
    )
    outcome = evaluate(policy, MEETS)
    assert outcome.passed and len(outcome.results) == 8


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path):
    path = _policy(tmp_path, "[privacy]\nmax_epsilon = 8\n")
    with pytest.raises(PolicyError) as e:
        load_release_policy(path)
    assert str(path) in str(e.value) and "max_epsilon" in str(e.value) and "max_claimed_epsilon" in str(e.value)


def test_unknown_section_and_bad_values_are_errors(tmp_path):
    with pytest.raises(PolicyError, match="unknown section"):
        parse_release_policy({"utility": {"min_accuracy": 0.9}}, source="p.toml")
    with pytest.raises(PolicyError, match=r"\[privacy\] max_claimed_epsilon must be a number"):
        parse_release_policy({"privacy": {"max_claimed_epsilon": "8"}}, source="p.toml")
    with pytest.raises(PolicyError, match=r"max_residual_pii_rate must be between 0 and 1"):
        parse_release_policy({"data": {"max_residual_pii_rate": 2.0}}, source="p.toml")
    with pytest.raises(PolicyError, match=r"membership_fpr must be one of"):
        parse_release_policy({"privacy": {"membership_fpr": 0.05}}, source="p.toml")
    with pytest.raises(PolicyError, match=r"min_group_size must be an integer"):
        parse_release_policy({"fairness": {"min_group_size": 10.5}}, source="p.toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_release_policy(_policy(tmp_path, "[privacy\n"))


def test_missing_evidence_fails_as_no_evidence():
    policy = parse_release_policy({"privacy": {"max_canary_exposure": 10.0}, "fairness": {"min_group_size": 5}})
    outcome = evaluate(policy, {"dp_enabled": {"value": True}, "claimed_epsilon": {"value": 1.0}})
    assert not outcome.passed
    assert [r.name for r in outcome.failures] == ["max_canary_exposure", "min_group_size"]
    assert all(r.reason.startswith("no evidence") and r.value is None for r in outcome.failures)


def test_no_dp_fails_an_epsilon_threshold_even_without_a_number():
    policy = parse_release_policy({"privacy": {"max_claimed_epsilon": 8.0, "empirical_within_claimed": True}})
    outcome = evaluate(
        policy,
        {
            "dp_enabled": {"value": False},
            "claimed_epsilon": {"value": None},
            "empirical_epsilon_lower_bound": {"value": 2.0},
        },
    )
    reasons = {r.name: r.reason for r in outcome.failures}
    assert "without differential privacy" in reasons["max_claimed_epsilon"]
    assert "no claimed epsilon" in reasons["empirical_within_claimed"]


def test_each_threshold_breaks_on_the_wrong_side():
    policy = load_release_policy(EXAMPLE_POLICY)
    worse = {
        "claimed_epsilon": 8.5,
        "empirical_epsilon_lower_bound": 9.0,  # above the claim: a privacy bug
        "max_canary_exposure": 20.0,
        "membership_tpr_at_0.001_fpr": 0.2,
        "residual_pii_rate": 0.5,
        "demographic_parity_gap": 0.9,
        "equalized_odds_gap": 0.9,
        "min_group_size": 3,
    }
    for key, value in worse.items():
        outcome = evaluate(policy, {**MEETS, key: {"value": value}})
        assert [r.evidence for r in outcome.failures] == [key], key


def test_no_thresholds_is_not_a_pass():
    outcome = evaluate(parse_release_policy({}, source="empty.toml"), MEETS)
    assert not outcome.passed
    with pytest.raises(ReleaseCheckFailed, match="sets no threshold"):
        outcome.raise_for_failures()


def _guard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guard", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_guard_check_cli_exit_codes(tmp_path, small_run, small_fairness):
    """A real report of a run (tests/audits/runs.py): pass, fail with the reasons, bad report, bad policy."""
    from tests.audits.runs import make_report, write_scan

    report = make_report(small_run, tmp_path / "r", audits=(small_fairness,), scan=write_scan(tmp_path / "scan.json"))
    meets = _policy(
        tmp_path,
        "[privacy]\nmax_claimed_epsilon = 8.0\n[data]\nmax_residual_pii_rate = 0.05\n"
        "[fairness]\nmax_demographic_parity_gap = 1.0\n",
    )
    ok = _guard("check", str(report), "--policy", str(meets))
    assert ok.returncode == ExitCode.OK, ok.stderr
    assert "PASS (3 of 3" in ok.stdout
    breaks = tmp_path / "breaks.toml"
    breaks.write_text(
        "[privacy]\nmax_claimed_epsilon = 1.0\nmax_canary_exposure = 5.0\n[data]\nmax_residual_pii_rate = 0.05\n",
        encoding="utf-8",
    )
    fail = _guard("check", str(report), "--policy", str(breaks), "--json")
    assert fail.returncode == ReleaseCheckFailed.exit_code == ExitCode.CHECKS_FAILED
    results = {r["name"]: r for r in json.loads(fail.stdout)["results"]}
    assert not results["max_claimed_epsilon"]["passed"] and not results["max_canary_exposure"]["passed"]
    assert results["max_residual_pii_rate"]["passed"]
    assert "2 of 3 release checks failed" in fail.stderr and "no evidence" in fail.stderr
    not_report = tmp_path / "x.json"
    not_report.write_text("{}", encoding="utf-8")
    assert _guard("check", str(not_report), "--policy", str(meets)).returncode == ExitCode.INPUT
    assert _guard("check", str(report), "--policy", str(tmp_path / "missing.toml")).returncode == ExitCode.CONFIG

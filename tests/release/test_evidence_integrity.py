"""The release report tells the truth about its run: report.json names the run's content
hash and its sources and seals itself (sha256, and with the guard key an HMAC signature);
`guard check` recomputes every evidence number from the run, the scan and the findings
files, and fails naming each mismatch (ExitCode.CHECKS_FAILED), a missing or other run
(ExitCode.RUN) or a malformed report (ExitCode.INPUT). Moved from
tests/audits/test_evidence_integrity.py, which keeps the audits' own seals and the run
files' errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audits import run_content_hash, run_fairness_audit
from audits._integrity import content_sha256, sealed
from guard.core.errors import ExitCode
from tests.audits.runs import KEY, invoke, make_report, make_run, read_json, write_json, write_policy, write_scan


def test_guard_report_refuses_the_audit_of_another_run_naming_both_hashes(small_run, tmp_path):
    other = make_run(tmp_path / "other", noise=1.3)
    findings = run_fairness_audit(other, sensitive=["sex"], n_boot=20, counterfactual=False).write(tmp_path / "f.json")
    ours, theirs = run_content_hash(small_run), run_content_hash(other)
    assert ours != theirs
    result = invoke("report", str(small_run), "--out", str(tmp_path / "r"), "--audits", str(findings))
    assert result.exit_code == ExitCode.RUN
    assert "fairness audit" in result.stderr and str(findings) in result.stderr
    assert theirs[:12] in result.stderr and ours[:12] in result.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_report_json_names_its_run_and_sources_and_carries_its_own_sha256(small_run, small_fairness, tmp_path):
    scan = write_scan(tmp_path / "scan.json")
    report = read_json(make_report(small_run, tmp_path / "r", audits=(small_fairness,), scan=scan))
    assert report["run"] == {"dir": str(small_run.resolve()), "hash": run_content_hash(small_run)}
    assert report["sha256"] == content_sha256(report) and "signature" not in report
    assert report["data"]["sources"]["scan"]["path"] == str(scan.resolve())
    (audit,) = report["audits"]
    assert audit["of_this_run"] is True and audit["run_hash"] == report["run"]["hash"]
    assert audit["source"]["sha256"] == read_json(small_fairness)["sha256"]
    assert report["evidence"]["residual_pii_rate"]["value"] == pytest.approx(6 / 400)


# -- item 4: guard check recomputes what the report claims --------------------------------------------


def test_guard_check_on_a_forged_report_json_fails_and_names_the_mismatch(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r", scan=write_scan(tmp_path / "scan.json"))
    epsilon = json.loads((small_run / "ledger.json").read_text(encoding="utf-8"))["max_epsilon"]
    assert 3 < epsilon < 4
    strict = write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 2.0\n[data]\nmax_residual_pii_rate = 0.01\n")
    honest = invoke("check", str(report), "--policy", str(strict))
    # the truth fails this gate
    assert honest.exit_code == ExitCode.CHECKS_FAILED and f"{epsilon:.4g} > 2" in honest.stderr
    forged = read_json(report)
    forged["evidence"]["claimed_epsilon"]["value"] = 1.0
    forged["evidence"]["residual_pii_rate"]["value"] = 0.001
    write_json(report, forged)  # a plain edit: the report's sha256 no longer matches
    naive = invoke("check", str(report), "--policy", str(strict))
    assert naive.exit_code == ExitCode.CHECKS_FAILED
    assert "report.json was changed after guard report wrote it" in naive.stderr
    assert (
        f"claimed_epsilon: the report claims 1, recomputed from ledger.json (Opacus rdp accountant): {epsilon:.6g}"
        in (naive.stderr)
    )
    assert "residual_pii_rate: the report claims 0.001, recomputed from the residual-PII scan: 0.015" in naive.stderr
    write_json(report, sealed(forged))  # a careful forger recomputes the sha256 too
    careful = invoke("check", str(report), "--policy", str(strict), "--json")
    assert careful.exit_code == ExitCode.CHECKS_FAILED
    outcome = json.loads(careful.stdout)
    assert all(r["passed"] for r in outcome["results"])  # the thresholds alone would pass the forgery
    failed = {r["name"]: r for r in outcome["integrity"] if not r["passed"]}
    assert set(failed) == {"evidence:claimed_epsilon", "evidence:residual_pii_rate"}
    assert failed["evidence:claimed_epsilon"]["value"] == 1.0
    assert failed["evidence:claimed_epsilon"]["threshold"] == pytest.approx(epsilon)


def test_guard_check_fails_when_the_scan_file_changed_after_the_report(small_run, tmp_path):
    scan = write_scan(tmp_path / "scan.json", surviving=6)
    report = make_report(small_run, tmp_path / "r", scan=scan)
    policy = write_policy(tmp_path, "[data]\nmax_residual_pii_rate = 0.05\n")
    assert invoke("check", str(report), "--policy", str(policy)).exit_code == ExitCode.OK
    write_scan(scan, surviving=40)
    result = invoke("check", str(report), "--policy", str(policy))
    assert result.exit_code == ExitCode.CHECKS_FAILED
    assert f"{scan.resolve()} changed after the report was written" in result.stderr
    assert "residual_pii_rate: the report claims 0.015, recomputed from the residual-PII scan: 0.1" in result.stderr
    scan.unlink()
    missing = invoke("check", str(report), "--policy", str(policy))
    assert (
        missing.exit_code == ExitCode.INPUT and str(scan.resolve()) in missing.stderr and str(report) in missing.stderr
    )


def test_guard_check_recomputes_the_audit_numbers_from_the_findings_files(small_run, small_fairness, tmp_path):
    findings = Path(shutil.copy(small_fairness, tmp_path / "fairness.json"))
    report = make_report(small_run, tmp_path / "r", audits=(findings,))
    policy = write_policy(tmp_path, "[fairness]\nmax_demographic_parity_gap = 0.01\n")
    gap = read_json(report)["evidence"]["demographic_parity_gap"]["value"]
    assert gap > 0.01 and invoke("check", str(report), "--policy", str(policy)).exit_code == ExitCode.CHECKS_FAILED
    forged = read_json(report)
    forged["evidence"]["demographic_parity_gap"]["value"] = 0.0
    write_json(report, sealed(forged))
    result = invoke("check", str(report), "--policy", str(policy))
    assert result.exit_code == ExitCode.CHECKS_FAILED
    assert f"demographic_parity_gap: the report claims 0, recomputed from fairness.json: {gap:.6g}" in result.stderr
    findings.unlink()
    missing = invoke("check", str(report), "--policy", str(policy))
    assert missing.exit_code == ExitCode.INPUT and str(findings) in missing.stderr


def test_guard_check_needs_the_run_directory_and_refuses_another_run(small_run, tmp_path):
    run = Path(shutil.copytree(small_run, tmp_path / "run"))
    report = make_report(run, tmp_path / "r")
    policy = write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8.0\n")
    moved = run.rename(tmp_path / "moved")
    gone = invoke("check", str(report), "--policy", str(policy))
    assert gone.exit_code == ExitCode.RUN and f"{run}: no such run directory" in gone.stderr and "--run" in gone.stderr
    assert invoke("check", str(report), "--policy", str(policy), "--run", str(moved)).exit_code == ExitCode.OK
    other = make_run(tmp_path / "other", noise=1.3)
    foreign = invoke("check", str(report), "--policy", str(policy), "--run", str(other))
    assert foreign.exit_code == ExitCode.RUN
    assert run_content_hash(other)[:12] in foreign.stderr and run_content_hash(moved)[:12] in foreign.stderr


def test_a_signed_report_verifies_only_with_its_key(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r", key=KEY.encode())
    policy = write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8.0\n")
    assert read_json(report)["signature"]["alg"] == "HMAC-SHA256"
    assert invoke("check", str(report), "--policy", str(policy), env={"GUARD_KEY": KEY}).exit_code == ExitCode.OK
    other_key = tmp_path / "other.key"
    other_key.write_text("another-key-0123456789abcdefghij", encoding="utf-8")
    other_key.chmod(0o600)  # a key file must be private
    wrong = invoke("check", str(report), "--policy", str(policy), "--key-file", str(other_key))
    assert wrong.exit_code == ExitCode.CHECKS_FAILED and "signed with another key" in wrong.stderr
    forged = read_json(report)
    forged["title"] = "approved"
    write_json(report, {**sealed(forged), "signature": forged["signature"]})  # resealed, the old signature kept
    result = invoke("check", str(report), "--policy", str(policy), env={"GUARD_KEY": KEY})
    assert result.exit_code == ExitCode.CHECKS_FAILED and "changed after it was signed" in result.stderr
    assert KEY not in result.output


# -- item 7: damaged files are located errors --------------------------------------------------------


def test_a_string_where_a_number_belongs_in_evidence_is_a_located_error(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r")
    data = read_json(report)
    data["evidence"]["claimed_epsilon"]["value"] = "eight"
    write_json(report, data)
    result = invoke(
        "check", str(report), "--policy", str(write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n"))
    )
    assert result.exit_code == ExitCode.INPUT
    assert str(report) in result.stderr and "evidence.claimed_epsilon.value" in result.stderr

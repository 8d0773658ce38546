"""Issue 11 ("Nothing lost, nothing forged"), items 4, 7 and 11 on the audits' side:
findings and report.json name the run they are about (its content hash) and carry their
own sha256; `guard report` refuses findings of another run; `guard check` recomputes the
evidence from the run (ledger, scan file, findings) and fails naming any mismatch; damaged
run files and missing run directories are located errors (exit 10), never tracebacks.

Runs are made without training (tests/audits/runs.py) so the whole file takes seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audits import run_content_hash, run_explain_audit, run_fairness_audit
from audits._integrity import content_sha256, sealed
from audits.target import load_run_target
from guard.cli import app
from tests.audits.runs import make_report, make_run, write_scan

runner = CliRunner()
KEY = "integrity-test-key-0123456789abcdef"


def _invoke(*args: str, env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, list(args), env={"GUARD_KEY": None, **(env or {})})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def run_copy(small_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run this test may damage (same content, so the same hash)."""
    return Path(shutil.copytree(small_run, tmp_path / "run"))


# -- item 4: every output names its run and seals itself ----------------------------------------------


def test_privacy_fairness_and_explain_findings_name_the_run_hash_and_seal_themselves(small_run, tmp_path):
    run_hash = run_content_hash(small_run)
    assert len(run_hash) == 64
    fairness = run_fairness_audit(small_run, sensitive=["sex"], n_boot=20, counterfactual=False)
    explain = run_explain_audit(small_run, sensitive=["sex"], n_samples=4, n_shap=0, n_steps=8, threads=1)
    assert fairness.subject["run_hash"] == explain.subject["run_hash"] == run_hash
    assert load_run_target(small_run).subject["run_hash"] == run_hash  # what the privacy audit's subject holds
    written = _read(fairness.write(tmp_path / "fairness.json"))
    assert written["sha256"] == content_sha256(written) and written["subject"]["run_hash"] == run_hash


def test_a_findings_file_edited_after_it_was_written_is_refused(small_run, small_fairness, tmp_path):
    data = _read(small_fairness)
    data["findings"][0]["value"] = 0.0
    edited = tmp_path / "fairness.json"
    _write(edited, data)
    result = _invoke("report", str(small_run), "--out", str(tmp_path / "r"), "--audits", str(edited))
    assert result.exit_code == 3
    assert str(edited) in result.stderr and "changed after guard wrote it" in result.stderr
    assert not (tmp_path / "r").exists()


def test_guard_report_refuses_the_audit_of_another_run_naming_both_hashes(small_run, tmp_path):
    other = make_run(tmp_path / "other", noise=1.3)
    findings = run_fairness_audit(other, sensitive=["sex"], n_boot=20, counterfactual=False).write(tmp_path / "f.json")
    ours, theirs = run_content_hash(small_run), run_content_hash(other)
    assert ours != theirs
    result = _invoke("report", str(small_run), "--out", str(tmp_path / "r"), "--audits", str(findings))
    assert result.exit_code == 10
    assert "fairness audit" in result.stderr and str(findings) in result.stderr
    assert theirs[:12] in result.stderr and ours[:12] in result.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_report_json_names_its_run_and_sources_and_carries_its_own_sha256(small_run, small_fairness, tmp_path):
    scan = write_scan(tmp_path / "scan.json")
    report = _read(make_report(small_run, tmp_path / "r", audits=(small_fairness,), scan=scan))
    assert report["run"] == {"dir": str(small_run.resolve()), "hash": run_content_hash(small_run)}
    assert report["sha256"] == content_sha256(report) and "signature" not in report
    assert report["data"]["sources"]["scan"]["path"] == str(scan.resolve())
    (audit,) = report["audits"]
    assert audit["of_this_run"] is True and audit["run_hash"] == report["run"]["hash"]
    assert audit["source"]["sha256"] == _read(small_fairness)["sha256"]
    assert report["evidence"]["residual_pii_rate"]["value"] == pytest.approx(6 / 400)


# -- item 4: guard check recomputes what the report claims --------------------------------------------


def test_guard_check_on_a_forged_report_json_fails_and_names_the_mismatch(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r", scan=write_scan(tmp_path / "scan.json"))
    epsilon = json.loads((small_run / "ledger.json").read_text(encoding="utf-8"))["max_epsilon"]
    assert 3 < epsilon < 4
    strict = _policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 2.0\n[data]\nmax_residual_pii_rate = 0.01\n")
    honest = _invoke("check", str(report), "--policy", str(strict))
    assert honest.exit_code == 11 and f"{epsilon:.4g} > 2" in honest.stderr  # the truth fails this gate
    forged = _read(report)
    forged["evidence"]["claimed_epsilon"]["value"] = 1.0
    forged["evidence"]["residual_pii_rate"]["value"] = 0.001
    _write(report, forged)  # a plain edit: the report's sha256 no longer matches
    naive = _invoke("check", str(report), "--policy", str(strict))
    assert naive.exit_code == 11
    assert "report.json was changed after guard report wrote it" in naive.stderr
    assert (
        f"claimed_epsilon: the report claims 1, recomputed from ledger.json (Opacus rdp accountant): {epsilon:.6g}"
        in (naive.stderr)
    )
    assert "residual_pii_rate: the report claims 0.001, recomputed from the residual-PII scan: 0.015" in naive.stderr
    _write(report, sealed(forged))  # a careful forger recomputes the sha256 too
    careful = _invoke("check", str(report), "--policy", str(strict), "--json")
    assert careful.exit_code == 11
    outcome = json.loads(careful.stdout)
    assert all(r["passed"] for r in outcome["results"])  # the thresholds alone would pass the forgery
    failed = {r["name"]: r for r in outcome["integrity"] if not r["passed"]}
    assert set(failed) == {"evidence:claimed_epsilon", "evidence:residual_pii_rate"}
    assert failed["evidence:claimed_epsilon"]["value"] == 1.0
    assert failed["evidence:claimed_epsilon"]["threshold"] == pytest.approx(epsilon)


def test_guard_check_fails_when_the_scan_file_changed_after_the_report(small_run, tmp_path):
    scan = write_scan(tmp_path / "scan.json", surviving=6)
    report = make_report(small_run, tmp_path / "r", scan=scan)
    policy = _policy(tmp_path, "[data]\nmax_residual_pii_rate = 0.05\n")
    assert _invoke("check", str(report), "--policy", str(policy)).exit_code == 0
    write_scan(scan, surviving=40)
    result = _invoke("check", str(report), "--policy", str(policy))
    assert result.exit_code == 11
    assert f"{scan.resolve()} changed after the report was written" in result.stderr
    assert "residual_pii_rate: the report claims 0.015, recomputed from the residual-PII scan: 0.1" in result.stderr
    scan.unlink()
    missing = _invoke("check", str(report), "--policy", str(policy))
    assert missing.exit_code == 3 and str(scan.resolve()) in missing.stderr and str(report) in missing.stderr


def test_guard_check_recomputes_the_audit_numbers_from_the_findings_files(small_run, small_fairness, tmp_path):
    findings = Path(shutil.copy(small_fairness, tmp_path / "fairness.json"))
    report = make_report(small_run, tmp_path / "r", audits=(findings,))
    policy = _policy(tmp_path, "[fairness]\nmax_demographic_parity_gap = 0.01\n")
    gap = _read(report)["evidence"]["demographic_parity_gap"]["value"]
    assert gap > 0.01 and _invoke("check", str(report), "--policy", str(policy)).exit_code == 11
    forged = _read(report)
    forged["evidence"]["demographic_parity_gap"]["value"] = 0.0
    _write(report, sealed(forged))
    result = _invoke("check", str(report), "--policy", str(policy))
    assert result.exit_code == 11
    assert f"demographic_parity_gap: the report claims 0, recomputed from fairness.json: {gap:.6g}" in result.stderr
    findings.unlink()
    missing = _invoke("check", str(report), "--policy", str(policy))
    assert missing.exit_code == 3 and str(findings) in missing.stderr


def test_guard_check_needs_the_run_directory_and_refuses_another_run(small_run, tmp_path):
    run = Path(shutil.copytree(small_run, tmp_path / "run"))
    report = make_report(run, tmp_path / "r")
    policy = _policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8.0\n")
    moved = run.rename(tmp_path / "moved")
    gone = _invoke("check", str(report), "--policy", str(policy))
    assert gone.exit_code == 10 and f"{run}: no such run directory" in gone.stderr and "--run" in gone.stderr
    assert _invoke("check", str(report), "--policy", str(policy), "--run", str(moved)).exit_code == 0
    other = make_run(tmp_path / "other", noise=1.3)
    foreign = _invoke("check", str(report), "--policy", str(policy), "--run", str(other))
    assert foreign.exit_code == 10
    assert run_content_hash(other)[:12] in foreign.stderr and run_content_hash(moved)[:12] in foreign.stderr


def test_a_signed_report_verifies_only_with_its_key(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r", key=KEY.encode())
    policy = _policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8.0\n")
    assert _read(report)["signature"]["alg"] == "HMAC-SHA256"
    assert _invoke("check", str(report), "--policy", str(policy), env={"GUARD_KEY": KEY}).exit_code == 0
    other_key = tmp_path / "other.key"
    other_key.write_text("another-key-0123456789abcdefghij", encoding="utf-8")
    other_key.chmod(0o600)  # a key file must be private
    wrong = _invoke("check", str(report), "--policy", str(policy), "--key-file", str(other_key))
    assert wrong.exit_code == 11 and "signed with another key" in wrong.stderr
    forged = _read(report)
    forged["title"] = "approved"
    _write(report, {**sealed(forged), "signature": forged["signature"]})  # resealed, the old signature kept
    result = _invoke("check", str(report), "--policy", str(policy), env={"GUARD_KEY": KEY})
    assert result.exit_code == 11 and "changed after it was signed" in result.stderr
    assert KEY not in result.output


# -- item 7: damaged files are located errors --------------------------------------------------------


def test_a_string_where_a_number_belongs_in_evidence_is_a_located_error(small_run, tmp_path):
    report = make_report(small_run, tmp_path / "r")
    data = _read(report)
    data["evidence"]["claimed_epsilon"]["value"] = "eight"
    _write(report, data)
    result = _invoke("check", str(report), "--policy", str(_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n")))
    assert result.exit_code == 3
    assert str(report) in result.stderr and "evidence.claimed_epsilon.value" in result.stderr


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize(
    ("damaged", "command", "says"),
    [
        ("ledger.json", "report", "is not valid JSON"),
        ("ledger.json", "privacy", "is not valid JSON"),
        ("canaries.json", "report", "is not valid JSON"),
        ("canaries.json", "privacy", "is not valid JSON"),
        ("model/model.safetensors", "fairness", "damaged"),
        ("model/model.safetensors", "privacy", "damaged"),
        ("config.json", "explain", "is not valid JSON"),
        ("ledger.json", "check", "is not valid JSON"),
    ],
)
def test_a_truncated_run_file_is_a_located_run_error_not_a_traceback(run_copy, tmp_path, damaged, command, says):
    report = make_report(run_copy, tmp_path / "before") if command == "check" else None
    _truncate(run_copy / damaged)
    out = tmp_path / "out"
    policy = _policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n")
    args = {
        "report": ["report", str(run_copy), "--out", str(out)],
        "privacy": ["audit", "privacy", str(run_copy), "--references", "0", "--out", str(out / "p.json")],
        "fairness": ["audit", "fairness", str(run_copy), "--sensitive", "sex", "--out", str(out / "f.json")],
        "explain": ["audit", "explain", str(run_copy), "--out", str(out / "e.json")],
        "check": ["check", str(report), "--policy", str(policy)],
    }[command]
    result = _invoke(*args)
    assert result.exit_code == 10, result.output
    where = (run_copy / "model") if damaged.startswith("model/") else (run_copy / damaged)
    assert str(where) in result.stderr and says in result.stderr
    assert not out.exists()


def test_a_torn_last_metrics_line_is_tolerated_and_a_torn_middle_line_is_located(run_copy, tmp_path):
    metrics = run_copy / "metrics.jsonl"
    lines = metrics.read_text(encoding="utf-8").splitlines()
    metrics.write_text("\n".join(lines) + '\n{"round": 2, "pha', encoding="utf-8")
    assert _invoke("report", str(run_copy), "--out", str(tmp_path / "ok")).exit_code == 0
    metrics.write_text(lines[0][:10] + "\n" + "\n".join(lines[1:]) + "\n", encoding="utf-8")
    result = _invoke("report", str(run_copy), "--out", str(tmp_path / "bad"))
    assert result.exit_code == 10 and f"{metrics}:1" in result.stderr


# -- item 11: a missing run directory is exit 10 for every command -----------------------------------


@pytest.mark.parametrize("command", ["privacy", "fairness", "explain", "report", "check"])
def test_a_missing_run_directory_exits_10_naming_the_path(small_run, tmp_path, command):
    missing = tmp_path / "no-such-run"
    if command == "check":
        report = make_report(Path(shutil.copytree(small_run, missing)), tmp_path / "r")
        shutil.rmtree(missing)
        args = ["check", str(report), "--policy", str(_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n"))]
    else:
        args = {
            "privacy": ["audit", "privacy", str(missing)],
            "fairness": ["audit", "fairness", str(missing), "--sensitive", "sex"],
            "explain": ["audit", "explain", str(missing)],
            "report": ["report", str(missing), "--out", str(tmp_path / "r")],
        }[command]
    result = _invoke(*args)
    assert result.exit_code == 10 and str(missing) in result.stderr

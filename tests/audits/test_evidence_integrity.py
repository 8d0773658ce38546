"""Issue 11 ("Nothing lost, nothing forged"), items 4, 7 and 11 on the audits' side:
findings and report.json name the run they are about (its content hash) and carry their
own sha256; `guard report` refuses findings of another run; `guard check` recomputes the
evidence from the run (ledger, scan file, findings) and fails naming any mismatch; damaged
run files and missing run directories are located errors (ExitCode.RUN), never tracebacks.

Runs are made without training (tests/audits/runs.py) so the whole file takes seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audits import run_content_hash, run_explain_audit, run_fairness_audit
from audits._integrity import content_sha256
from audits.target import load_run_target
from guard.core.errors import ExitCode
from tests.audits.runs import invoke, make_report, read_json, write_json, write_policy


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
    written = read_json(fairness.write(tmp_path / "fairness.json"))
    assert written["sha256"] == content_sha256(written) and written["subject"]["run_hash"] == run_hash


def test_a_findings_file_edited_after_it_was_written_is_refused(small_run, small_fairness, tmp_path):
    data = read_json(small_fairness)
    data["findings"][0]["value"] = 0.0
    edited = tmp_path / "fairness.json"
    write_json(edited, data)
    result = invoke("report", str(small_run), "--out", str(tmp_path / "r"), "--audits", str(edited))
    assert result.exit_code == ExitCode.INPUT
    assert str(edited) in result.stderr and "changed after guard wrote it" in result.stderr
    assert not (tmp_path / "r").exists()


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
    policy = write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n")
    args = {
        "report": ["report", str(run_copy), "--out", str(out)],
        "privacy": ["audit", "privacy", str(run_copy), "--references", "0", "--out", str(out / "p.json")],
        "fairness": ["audit", "fairness", str(run_copy), "--sensitive", "sex", "--out", str(out / "f.json")],
        "explain": ["audit", "explain", str(run_copy), "--out", str(out / "e.json")],
        "check": ["check", str(report), "--policy", str(policy)],
    }[command]
    result = invoke(*args)
    assert result.exit_code == ExitCode.RUN, result.output
    where = (run_copy / "model") if damaged.startswith("model/") else (run_copy / damaged)
    assert str(where) in result.stderr and says in result.stderr
    assert not out.exists()


def test_a_torn_last_metrics_line_is_tolerated_and_a_torn_middle_line_is_located(run_copy, tmp_path):
    metrics = run_copy / "metrics.jsonl"
    lines = metrics.read_text(encoding="utf-8").splitlines()
    metrics.write_text("\n".join(lines) + '\n{"round": 2, "pha', encoding="utf-8")
    assert invoke("report", str(run_copy), "--out", str(tmp_path / "ok")).exit_code == ExitCode.OK
    metrics.write_text(lines[0][:10] + "\n" + "\n".join(lines[1:]) + "\n", encoding="utf-8")
    result = invoke("report", str(run_copy), "--out", str(tmp_path / "bad"))
    assert result.exit_code == ExitCode.RUN and f"{metrics}:1" in result.stderr


# -- item 11: a missing run directory is ExitCode.RUN for every command--------------------------------


@pytest.mark.parametrize("command", ["privacy", "fairness", "explain", "report", "check"])
def test_a_missing_run_directory_exits_run_error_naming_the_path(small_run, tmp_path, command):
    missing = tmp_path / "no-such-run"
    if command == "check":
        report = make_report(Path(shutil.copytree(small_run, missing)), tmp_path / "r")
        shutil.rmtree(missing)
        args = ["check", str(report), "--policy", str(write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 8\n"))]
    else:
        args = {
            "privacy": ["audit", "privacy", str(missing)],
            "fairness": ["audit", "fairness", str(missing), "--sensitive", "sex"],
            "explain": ["audit", "explain", str(missing)],
            "report": ["report", str(missing), "--out", str(tmp_path / "r")],
        }[command]
    result = invoke(*args)
    assert result.exit_code == ExitCode.RUN and str(missing) in result.stderr

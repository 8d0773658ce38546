"""The Python API (`import guard`): lazy imports, typed results, the same work as the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import guard
from guard.core.errors import DependencyError, ExitCode, GuardError, InputError
from guard.core.types import ScrubReport

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.toml"
KEY = "api-test-key-0123456789-not-a-secret"

PLANTED = {
    "PERSON": "Margaret Whitfield",
    "EMAIL_ADDRESS": "m.whitfield@northgate-clinic.org",
    "PHONE_NUMBER": "(617) 555-0142",  # a fictional (555-01xx) number
    "US_SSN": "512-47-8391",
}
TEXTS = [
    f"Patient {PLANTED['PERSON']} was seen today; reach her at {PLANTED['EMAIL_ADDRESS']}.",
    f"Call back on {PLANTED['PHONE_NUMBER']}. SSN on file: {PLANTED['US_SSN']}.",
    "No identifiers in this note.",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def _leaks(texts: list[str]) -> list[str]:
    joined = "\n".join(texts)
    return [entity for entity, value in PLANTED.items() if value in joined or value.split()[-1] in joined]


def test_import_guard_loads_no_presidio_torch_or_flower():
    code = (
        "import sys, guard\n"
        "assert callable(guard.scrub) and callable(guard.scan)\n"
        "heavy = [m for m in ('torch', 'presidio_analyzer', 'spacy', 'flwr', 'audits', 'federated') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'scrubb'"):
        guard.scrubb  # noqa: B018


def test_scrub_a_list_of_texts_leaves_no_planted_value_and_returns_typed_results():
    result = guard.scrub(TEXTS, policy=POLICY, key=KEY)
    assert isinstance(result, guard.ScrubResult)
    assert isinstance(result.report, ScrubReport)
    assert isinstance(result.data, list) and len(result.data) == 3 and all(isinstance(t, str) for t in result.data)
    assert _leaks(result.data) == []
    assert result.data[2] == TEXTS[2]
    assert result.texts == result.data
    assert result.report.records_read == 3 and result.report.records_changed == 2
    assert {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"} <= set(result.report.entities)
    assert result.report.input == "<memory>"
    assert not any(v in result.report.dumps() for v in PLANTED.values())  # the report holds counts only


def test_scrub_a_dataframe_changes_only_the_text_column_and_not_the_input():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2, 3], "note": TEXTS, "score": [0.5, 1.5, 2.5]})
    before = frame.copy()
    result = guard.scrub(frame, policy=POLICY, key=KEY, text_field="note")
    assert isinstance(result.data, pd.DataFrame)
    assert list(result.data.columns) == ["id", "note", "score"]
    assert result.data["id"].tolist() == [1, 2, 3] and result.data["score"].tolist() == [0.5, 1.5, 2.5]
    assert _leaks(result.data["note"].tolist()) == []
    assert result.texts == result.data["note"].tolist()
    pd.testing.assert_frame_equal(frame, before)  # the input is not modified
    assert result.report.entities_by_field.keys() == {"note"}


def test_scrub_dicts_is_deterministic_under_the_same_key_and_keeps_other_fields():
    rows = [{"id": f"r{i}", "text": t, "site": "north"} for i, t in enumerate(TEXTS)]
    first = guard.scrub(rows, policy=POLICY, key=KEY)
    again = guard.scrub(iter(rows), policy=POLICY, key=KEY)
    assert first.data == again.data
    assert [r["id"] for r in first.data] == ["r0", "r1", "r2"] and all(r["site"] == "north" for r in first.data)
    assert _leaks([r["text"] for r in first.data]) == []
    assert rows[0]["text"] == TEXTS[0]  # the input is not modified


def test_scrub_a_record_without_the_text_field_names_it():
    with pytest.raises(InputError) as err:
        guard.scrub([{"text": "fine"}, {"body": "no text field"}], key=KEY)
    assert "record 2" in str(err.value) and err.value.exit_code == ExitCode.INPUT


def test_scrub_refuses_a_path_and_points_to_scrub_file():
    with pytest.raises(InputError, match="scrub_file"):
        guard.scrub(Path("examples/clinical_notes.jsonl"))


def test_scan_counts_without_a_key_and_changes_nothing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GUARD_KEY", raising=False)
    report = guard.scan(TEXTS)
    assert isinstance(report, ScrubReport)
    assert report.command == "scan" and report.records_read == 3 and report.records_changed == 0
    assert report.entities.get("PERSON", 0) >= 1 and report.entities.get("EMAIL_ADDRESS") == 1


def test_scrub_file_is_what_guard_scrub_writes(tmp_path: Path):
    from typer.testing import CliRunner

    from guard.cli import app

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    report = guard.scrub_file(src, tmp_path / "api.jsonl", policy=POLICY, key=KEY, workers=1)
    assert isinstance(report, ScrubReport) and report.records_read == 3
    key_file = tmp_path / "key"
    key_file.write_text(KEY, encoding="utf-8")
    key_file.chmod(0o600)
    cli = CliRunner().invoke(
        app, ["scrub", str(src), str(tmp_path / "cli.jsonl"), "-p", str(POLICY), "--key-file", str(key_file), "-w", "1"]
    )
    assert cli.exit_code == ExitCode.OK, cli.output
    assert (tmp_path / "api.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()


def test_federate_without_config_or_out_says_what_to_pass():
    pytest.importorskip("torch")
    with pytest.raises(GuardError, match="--config FILE"):
        guard.federate()
    with pytest.raises(GuardError, match="--resume takes only the run directory"):
        guard.federate("x.toml", resume="some-run")


def test_a_missing_extra_fails_with_the_exact_install_hint(monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    from guard import api

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "opacus" else real(name, *a))
    with pytest.raises(DependencyError) as err:
        api.federate_names()
    assert "pip install 'guard[federate]'" in str(err.value) and err.value.exit_code == ExitCode.DEPENDENCY


@pytest.mark.slow
def test_audit_fairness_returns_the_audit_report_and_writes_it(tmp_path: Path):
    from audits import AuditReport, run_fairness_audit
    from tests.audits.runs import make_run

    run = make_run(tmp_path / "run")
    out = tmp_path / "fairness.json"
    report = guard.audit.fairness(run, sensitive=["sex"], n_boot=20, counterfactual=False, out=out)
    assert isinstance(report, AuditReport) and report.audit == "fairness"
    direct = run_fairness_audit(run, sensitive=["sex"], n_boot=20, counterfactual=False)
    assert [(f.check, f.metric, f.group, repr(f.value)) for f in report.findings] == [
        (f.check, f.metric, f.group, repr(f.value)) for f in direct.findings
    ]
    assert json.loads(out.read_text(encoding="utf-8"))["audit"] == "fairness"


@pytest.mark.slow
def test_federate_returns_a_run_summary(tmp_path: Path):
    """In its own process, as Ray wants: two clients, one round of the tiny classifier."""
    code = f"""
import json, guard
from federated import RunSummary
summary = guard.federate(None, {str(tmp_path / "run")!r}, overrides=[
    "data.path={ROOT / "examples" / "clinical_notes.jsonl"}", "data.label_field=label", "data.num_clients=2",
    "data.max_records=120", "data.max_length=32", "model.name=tiny-classifier", "train.rounds=1",
    "train.batch_size=16", "dp.target_epsilon=8.0",
])
assert isinstance(summary, RunSummary)
print("SUMMARY", json.dumps(summary.to_json()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == ExitCode.OK, done.stderr[-3000:]
    summary = json.loads(done.stdout.split("SUMMARY", 1)[1])
    assert summary["finished"] and summary["rounds_done"] == 1 and summary["clients"] == 2
    assert 0 < summary["max_epsilon"] <= 8.0
    assert (tmp_path / "run" / "ledger.json").is_file()


@pytest.mark.slow
def test_report_and_check_return_the_release_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from guard.release import CheckOutcome, ReleaseReport
    from tests.audits.runs import make_run

    monkeypatch.delenv("GUARD_KEY", raising=False)
    run = make_run(tmp_path / "run")
    fairness = guard.audit.fairness(run, sensitive=["sex"], n_boot=20, counterfactual=False, out=tmp_path / "f.json")
    assert fairness.findings
    result = guard.report(run, tmp_path / "report", audits=[tmp_path / "f.json"], key=KEY)
    assert isinstance(result, guard.ReportResult) and isinstance(result.report, ReleaseReport)
    assert {"report.html", "report.json", "MODEL_CARD.md"} <= set(result.files)
    assert all(Path(p).is_file() for p in result.files.values())
    outcome = guard.check(result.files["report.json"], ROOT / "examples" / "release-policy.toml", key=KEY)
    assert isinstance(outcome, CheckOutcome)
    assert isinstance(outcome.passed, bool) and outcome.results

"""`-` as input (standard input) and output (standard output) for the commands that stream records."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode

runner = CliRunner()

ROWS = [
    {"id": "a", "text": "Alice wrote to alice@example.org about the visit."},
    {"id": "b", "text": "Nothing to hide here."},
    {"id": "c", "text": "Bob called again."},
]
JSONL = "".join(json.dumps(r) + "\n" for r in ROWS)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_scrub_dash_dash_filters_jsonl_from_stdin_to_stdout_with_the_summary_on_stderr(stub_detector, guard_key):
    result = runner.invoke(app, ["scrub", "-", "-", "--workers", "1"], input=JSONL)
    assert result.exit_code == ExitCode.OK, result.output
    out = _lines(result.stdout)  # only records on stdout: every line parses
    assert [r["id"] for r in out] == ["a", "b", "c"]
    assert "Alice" not in result.stdout and "alice@example.org" not in result.stdout and "Bob" not in result.stdout
    assert out[1]["text"] == ROWS[1]["text"]
    assert "scrub: 3 records read, 2 changed" in result.stderr


def test_scrub_json_summary_goes_to_stderr_when_records_go_to_stdout(stub_detector, guard_key):
    result = runner.invoke(app, ["scrub", "-", "-", "--workers", "1", "--json"], input=JSONL)
    assert result.exit_code == ExitCode.OK, result.output
    assert len(_lines(result.stdout)) == 3
    summary = json.loads(result.stderr)
    assert summary["records_read"] == 3 and summary["input"] == "-" and summary["output"] == "-"


def test_scrub_file_to_stdout_keeps_the_input_format(stub_detector, guard_key, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text\na,Alice was here\nb,plain\n", encoding="utf-8")
    result = runner.invoke(app, ["scrub", str(src), "-", "--workers", "1"])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.splitlines()[0] == "id,text"
    assert "Alice" not in result.stdout and "plain" in result.stdout


def test_scrub_csv_from_stdin_needs_format_csv(stub_detector, guard_key, tmp_path):
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["scrub", "-", str(out), "--format", "csv", "--workers", "1"], input="id,text\na,Bob left\n"
    )
    assert result.exit_code == ExitCode.OK, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,text" and len(lines) == 2 and "Bob" not in lines[1] and lines[1].endswith(" left")


def test_scrub_stdin_bad_line_names_dash_and_line_and_writes_nothing_to_stdout(stub_detector, guard_key):
    result = runner.invoke(app, ["scrub", "-", "-", "--workers", "1"], input=JSONL + "{nope\n")
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    assert "-:4" in result.stderr


def test_scrub_skip_to_stdout_needs_a_quarantine_file(stub_detector, guard_key):
    result = runner.invoke(app, ["scrub", "-", "-", "--on-error", "skip"], input=JSONL)
    assert result.exit_code == ExitCode.ERROR and "--quarantine" in result.stderr
    assert result.stdout == ""


def test_report_to_dash_is_refused_before_anything_is_read(stub_detector, guard_key):
    result = runner.invoke(app, ["scrub", "-", "-", "--report", "-"], input=JSONL)
    assert result.exit_code == ExitCode.ERROR and "--report needs a file" in result.stderr
    assert result.stdout == ""


def test_scan_reads_stdin(stub_detector):
    result = runner.invoke(app, ["scan", "-", "--workers", "1", "--json"], input=JSONL)
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert data["records_read"] == 3 and data["entities"] == {"EMAIL_ADDRESS": 1, "PERSON": 2}


def test_empty_stdin_is_an_input_error():
    result = runner.invoke(app, ["dedup", "-", "-"], input="")
    assert result.exit_code == ExitCode.INPUT and "no records" in result.stderr


def test_dedup_stdin_to_stdout_drops_the_repeat():
    result = runner.invoke(app, ["dedup", "-", "-", "--json"], input=JSONL + JSONL)
    assert result.exit_code == ExitCode.OK, result.output
    assert [r["id"] for r in _lines(result.stdout)] == ["a", "b", "c"]
    assert json.loads(result.stderr)["exact_dropped"] == 3


def test_restore_reads_stdin_and_writes_stdout(guard_key, tmp_path):
    from guard.deid.operators import OpContext, make_operator

    op = make_operator("encrypt", {}, key=guard_key.encode())
    token = op.apply("Alice Smith", OpContext("PERSON", "text", 1, {}))
    line = json.dumps({"id": "a", "text": f"Seen by {token}."}) + "\n"
    result = runner.invoke(app, ["restore", "-", "-"], input=line)
    assert result.exit_code == ExitCode.OK, result.output
    assert _lines(result.stdout) == [{"id": "a", "text": "Seen by Alice Smith."}]
    assert "restore: 1 values in 1 records" in result.stderr


@pytest.mark.slow
def test_a_real_pipe_through_guard_scrub(tmp_path):
    env = dict(os.environ, GUARD_KEY="guard-demo-key-not-secret-0000000000", TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    done = subprocess.run(
        [sys.executable, "-m", "guard", "scrub", "-", "-", "-w", "1", "--policy", "examples/policy.toml"],
        input=JSONL.encode(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == ExitCode.OK, done.stderr.decode()
    out = _lines(done.stdout.decode())
    assert [r["id"] for r in out] == ["a", "b", "c"]
    assert "alice@example.org" not in done.stdout.decode()
    assert b"scrub: 3 records read" in done.stderr
    assert not list(tmp_path.glob("*guard-std*"))

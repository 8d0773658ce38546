"""Every bad input gets one clear message (file, line, field), a non-zero exit,
and no partial output; `--on-error skip` quarantines instead."""

import json

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from tests.conftest import read_jsonl, write_jsonl

runner = CliRunner()
GOOD = {"id": "a", "text": "Nothing to see."}


def scrub(*args: str):
    return runner.invoke(app, ["scrub", *args, "--no-progress", "--workers", "1"])


def _jsonl_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"id": "b", "text": "unterminated\n', encoding="utf-8")
    return path, "in.jsonl:2", "malformed JSON"


def _csv_bad_row(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\na,fine\nb,too,many,fields\n", encoding="utf-8")
    return path, "in.csv:3", "bad CSV row"


def _non_utf8(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b'\n{"id": "b", "text": "caf\xe9"}\n')
    return path, "in.jsonl:2", "not valid UTF-8"


def _missing_field(tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", [GOOD, {"id": "b", "body": "x"}]), "in.jsonl:2, field 'text'", "missing"


def _non_string_field(tmp_path):
    return (
        write_jsonl(tmp_path / "in.jsonl", [GOOD, {"id": "b", "text": 42}]),
        "in.jsonl:2, field 'text'",
        "int, not a string",
    )


def _empty_file(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("", encoding="utf-8")
    return path, "in.jsonl", "no records"


def _huge_record(tmp_path):
    path = tmp_path / "in.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(GOOD) + "\n")
        fh.write(json.dumps({"id": "big", "text": "word " * 10_485_760}) + "\n")  # 50 MiB
    return path, "in.jsonl:2, field 'text'", "over the limit"


CASES = [_jsonl_bad_line, _csv_bad_row, _non_utf8, _missing_field, _non_string_field, _empty_file, _huge_record]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__.lstrip("_") for c in CASES])
def test_bad_input_fails_with_location_and_leaves_no_output(tmp_path, make):
    path, where, why = make(tmp_path)
    out = tmp_path / f"out{path.suffix}"
    result = scrub(str(path), str(out))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert where in result.stderr and why in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one clear message, no traceback
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_failure_keeps_a_previous_output_intact(tmp_path):
    path, _, _ = _missing_field(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text("earlier result\n", encoding="utf-8")
    assert scrub(str(path), str(out)).exit_code == ExitCode.INPUT
    assert out.read_text(encoding="utf-8") == "earlier result\n"


def test_on_error_skip_quarantines_bad_records_with_line_and_reason(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps(GOOD)
        + "\n{broken\n"
        + json.dumps({"id": "c", "text": 7})
        + "\n"
        + json.dumps({"id": "d", "text": "ok"})
        + "\n",
        encoding="utf-8",
    )
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    result = scrub(str(path), str(out), "--on-error", "skip", "--report", str(report))
    assert result.exit_code == ExitCode.OK, result.output
    assert [r["id"] for r in read_jsonl(out)] == ["a", "d"]
    quarantine = read_jsonl(tmp_path / "out.jsonl.quarantine.jsonl")
    assert [(q["line"], q["field"]) for q in quarantine] == [(2, None), (3, "text")]
    assert "malformed JSON" in quarantine[0]["reason"] and "not a string" in quarantine[1]["reason"]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["records_failed"] == 2 and [f["line"] for f in data["failures"]] == [2, 3]


@pytest.mark.parametrize(
    ("policy", "code", "message"),
    [
        ('[detect]\nentities = ["PERSON", "SHOE_SIZE"]\n', ExitCode.POLICY, "SHOE_SIZE"),
        ('[operators]\nPERSON = "shuffle"\n', ExitCode.POLICY, "unknown operator 'shuffle'"),
        ('[operators]\nPERSON = "hash"\n', ExitCode.KEY, "needs a secret key"),
        ('[[recognizers]]\nname = "x"\nentity = "X"\npatterns = ["(unclosed"]\n', ExitCode.POLICY, "recognizer 'x'"),
    ],
    ids=["unknown_entity", "unknown_operator", "missing_key", "bad_regex"],
)
def test_policy_problems_fail_before_any_output(tmp_path, no_key, policy, code, message):
    path = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    pol = tmp_path / "policy.toml"
    pol.write_text(policy, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = scrub(str(path), str(out), "--policy", str(pol))
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert not out.exists()


def test_unknown_entity_error_lists_the_known_ones(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    pol = tmp_path / "policy.toml"
    pol.write_text('[detect]\nentities = ["SHOE_SIZE"]\n', encoding="utf-8")
    result = scrub(str(path), str(tmp_path / "o.jsonl"), "--policy", str(pol))
    assert "known:" in result.stderr and "EMAIL_ADDRESS" in result.stderr and "PERSON" in result.stderr


def test_short_key_and_missing_key_file_are_clear(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    pol = tmp_path / "policy.toml"
    pol.write_text('[operators]\nPERSON = "hash"\n', encoding="utf-8")
    monkeypatch.setenv("GUARD_KEY", "short")
    result = scrub(str(path), str(tmp_path / "o.jsonl"), "--policy", str(pol))
    assert (
        result.exit_code == ExitCode.KEY
        and "at least 16" in result.stderr
        and "short" not in result.stderr.replace("$GUARD_KEY", "")
    )
    result = scrub(str(path), str(tmp_path / "o.jsonl"), "--policy", str(pol), "--key-file", str(tmp_path / "nokey"))
    assert result.exit_code == ExitCode.KEY and "nokey" in result.stderr


def test_output_over_input_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    result = scrub(str(path), str(path))
    assert result.exit_code == ExitCode.OUTPUT and "overwrite the input" in result.stderr
    assert read_jsonl(path) == [GOOD]

"""`guard profile`: the real entry point, its JSON, its exit codes, and PII counts without PII."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from tests.quality.corpora import GERMAN, clean_rows, sentence, write_jsonl

runner = CliRunner()
FAST = ["--no-pii", "--label-field", "label", "--group-field", "site"]


def _planted(path: Path) -> Path:
    """Every defect at once: empty texts, a duplicate block, a 2 % group, German, a NUL."""
    rows = clean_rows()
    rng = random.Random(7)
    for i in range(10):
        rows[i * 3]["text"] = ""
        rows[1 + i * 40]["site"] = "islands"
    for i in range(25):
        rows[100 + i]["text"] = rows[99]["text"]
    for i in range(15):
        rows[300 + i]["text"] = sentence(rng, GERMAN, n=30)
    rows[400]["text"] += "\x00"
    return write_jsonl(path, rows)


def test_profile_cli_names_every_planted_defect(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    result = runner.invoke(app, ["profile", str(_planted(tmp_path / "c.jsonl")), *FAST, "--out", str(out), "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == data
    named = {(f["check"], f["field"]) for f in data["flags"]}
    assert {
        ("missing_values", "text"),
        ("exact_duplicates", None),
        ("small_group", "site"),
        ("second_language", None),
        ("control_characters", "text"),
    } <= named
    assert data["duplicates"]["exact"] == 25 and data["groups"]["site"]["counts"]["islands"] == 10
    assert data["pii"] == {"scanned": False, "sample_size": 200, "seed": 0, "note": "not measured (--no-pii)"}


def test_profile_cli_table_and_fail_on_flags_exit_code(tmp_path: Path) -> None:
    src = _planted(tmp_path / "c.jsonl")
    shown = runner.invoke(app, ["profile", str(src), *FAST])
    assert shown.exit_code == ExitCode.OK and "small_group" in shown.stdout and "islands" in shown.stdout
    failed = runner.invoke(app, ["profile", str(src), *FAST, "--fail-on-flags"])
    assert failed.exit_code == ExitCode.CHECKS_FAILED
    assert "second_language" in failed.stderr and "small_group" in failed.stderr
    clean = runner.invoke(
        app, ["profile", str(write_jsonl(tmp_path / "ok.jsonl", clean_rows())), *FAST, "--fail-on-flags"]
    )
    assert clean.exit_code == ExitCode.OK and "no flags" in clean.stdout


def test_profile_cli_bad_record_exits_input_error_naming_the_line(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text('{"text": "fine words here"}\n{"text": nope}\n', encoding="utf-8")
    out = tmp_path / "p.json"
    result = runner.invoke(app, ["profile", str(src), "--no-pii", "--out", str(out)])
    assert result.exit_code == ExitCode.INPUT and "c.jsonl:2" in result.stderr
    assert not out.exists()
    skipped = runner.invoke(app, ["profile", str(src), "--no-pii", "--on-error", "skip", "--json"])
    assert skipped.exit_code == ExitCode.OK
    data = json.loads(skipped.stdout)
    assert data["records_failed"] == 1 and data["failures"][0]["line"] == 2
    assert "nope" not in skipped.stdout


def test_profile_cli_pii_density_counts_types_never_values(tmp_path: Path, stub_detector: object) -> None:
    rows = clean_rows(40)
    for i in range(0, 40, 4):
        rows[i]["text"] += f" write to alice.quokka{i}@example.org or ask Bob."
    src = write_jsonl(tmp_path / "c.jsonl", rows)
    result = runner.invoke(app, ["profile", str(src), "--no-language", "--pii-sample", "20", "--seed", "3", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    pii = json.loads(result.stdout)["pii"]
    assert pii["records_scanned"] == 20 and pii["whole_corpus"] is False and "seed 3" in pii["method"]
    emails = pii["entities"]["EMAIL_ADDRESS"]
    assert emails["values"] == pii["entities"]["PERSON"]["values"] >= 1  # one address and one "Bob" per such record
    assert emails["record_rate"] == pytest.approx(emails["values"] / 20)
    assert "quokka" not in result.stdout
    again = runner.invoke(app, ["profile", str(src), "--no-language", "--pii-sample", "20", "--seed", "3", "--json"])
    assert json.loads(again.stdout)["pii"] == pii  # the sample is seeded
    whole = runner.invoke(app, ["profile", str(src), "--no-language", "--pii-sample", "100", "--json"])
    assert json.loads(whole.stdout)["pii"]["entities"]["EMAIL_ADDRESS"]["values"] == 10


def test_profile_out_that_is_the_corpus_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text('{"text": "fine words here"}\n', encoding="utf-8")
    (tmp_path / "link.json").symlink_to(src)
    before = src.read_bytes()
    for out in (src, tmp_path / "link.json"):
        result = runner.invoke(app, ["profile", str(src), "--no-pii", "--no-language", "--out", str(out)])
        assert result.exit_code == ExitCode.OUTPUT and "same file" in result.stderr
    assert src.read_bytes() == before

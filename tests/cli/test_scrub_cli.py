"""`guard scrub`, `scan` and `restore` through the real entry point."""

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from tests.conftest import read_jsonl, write_jsonl

runner = CliRunner()

NOTES = [
    {
        "id": "r1",
        "patient_id": "p1",
        "text": "Patient Ingrid Halvorsen was admitted on 2021-03-04 by Dr. Samuel Okonkwo.",
    },
    {
        "id": "r2",
        "patient_id": "p1",
        "text": "Ingrid Halvorsen left on 2021-03-14; reach her at ingrid.halvorsen@example.net.",
    },
    {"id": "r3", "patient_id": "p2", "text": "Card 4539 1488 0343 6467 was charged for Tobias Wexford."},
    {"id": "r4", "patient_id": "p3", "text": "The ward ordered 20 mg of furosemide twice daily."},
]
POLICY = """
[operators]
default = "tag"
PERSON = "surrogate"
EMAIL_ADDRESS = "hash"
CREDIT_CARD = "encrypt"
DATE_TIME = { type = "date_shift", field = "patient_id" }
"""


def scrub(*args: str):
    return runner.invoke(app, ["scrub", *args, "--no-progress"])


@pytest.fixture
def notes(tmp_path):
    return write_jsonl(tmp_path / "notes.jsonl", NOTES)


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def test_scrub_jsonl_replaces_pii_and_keeps_other_fields_and_order(tmp_path, notes, guard_key):
    out = tmp_path / "out.jsonl"
    result = scrub(str(notes), str(out), "--json")
    assert result.exit_code == ExitCode.OK, result.output
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4"]
    assert [r["patient_id"] for r in rows] == ["p1", "p1", "p2", "p3"]
    text = " ".join(r["text"] for r in rows)
    for value in ("Ingrid", "Halvorsen", "Okonkwo", "ingrid.halvorsen@example.net", "4539 1488 0343 6467", "Wexford"):
        assert value not in text
    assert rows[3]["text"] == NOTES[3]["text"]
    report = json.loads(result.stdout)
    assert report["records_read"] == 4 and report["records_changed"] == 3
    assert report["entities"]["PERSON"] >= 3 and report["entities"]["CREDIT_CARD"] == 1


def test_surrogate_hash_and_date_shift_are_consistent_across_records_and_runs(tmp_path, notes, policy, guard_key):
    outs = []
    for run in (1, 2):
        out = tmp_path / f"run{run}.jsonl"
        result = scrub(str(notes), str(out), "--policy", str(policy), "--workers", str(run))
        assert result.exit_code == ExitCode.OK, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]  # two runs, 1 and 2 workers: identical bytes
    rows = read_jsonl(tmp_path / "run1.jsonl")
    fake = rows[0]["text"].split(" was admitted")[0].removeprefix("Patient ")
    assert fake and fake in rows[1]["text"]  # the same person, the same fake name
    d1 = re.search(r"\d{4}-\d\d-\d\d", rows[0]["text"]).group()
    d2 = re.search(r"\d{4}-\d\d-\d\d", rows[1]["text"]).group()
    from datetime import date

    assert d1 != "2021-03-04" and (date.fromisoformat(d2) - date.fromisoformat(d1)).days == 10
    assert re.search(r"<EMAIL_ADDRESS:[0-9a-f]{16}>", rows[1]["text"])


def test_restore_round_trips_encrypted_values(tmp_path, notes, policy, guard_key):
    out, back = tmp_path / "out.jsonl", tmp_path / "back.jsonl"
    assert scrub(str(notes), str(out), "--policy", str(policy)).exit_code == ExitCode.OK
    assert "<ENC:CREDIT_CARD:" in out.read_text(encoding="utf-8")
    result = runner.invoke(app, ["restore", str(out), str(back), "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)["values_restored"] == 1
    assert "4539 1488 0343 6467" in read_jsonl(back)[2]["text"]


def test_restore_with_the_wrong_key_fails_and_writes_nothing(tmp_path, notes, policy, guard_key, monkeypatch):
    out, back = tmp_path / "out.jsonl", tmp_path / "back.jsonl"
    assert scrub(str(notes), str(out), "--policy", str(policy)).exit_code == ExitCode.OK
    monkeypatch.setenv("GUARD_KEY", "a-completely-different-key-0000")
    result = runner.invoke(app, ["restore", str(out), str(back)])
    assert result.exit_code == ExitCode.INPUT and "out.jsonl:3" in result.stderr and "wrong key" in result.stderr
    assert not back.exists()


def test_csv_parquet_and_text_pass_other_columns_through(tmp_path, guard_key):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text('id,text,score\n1,"Call Ingrid Halvorsen at 212-555-0147.",0.5\n', encoding="utf-8")
    assert scrub(str(csv_in), str(tmp_path / "out.csv")).exit_code == ExitCode.OK
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,text,score" and lines[1].startswith("1,") and lines[1].endswith(",0.5")
    assert "Halvorsen" not in lines[1]

    pq_in = tmp_path / "in.parquet"
    pq.write_table(pa.table({"n": [7, 8], "text": ["Ingrid Halvorsen called.", "Nothing here."]}), pq_in)
    assert scrub(str(pq_in), str(tmp_path / "out.parquet")).exit_code == ExitCode.OK
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("n").to_pylist() == [7, 8] and "Halvorsen" not in table.column("text")[0].as_py()

    txt_in = tmp_path / "in.txt"
    txt_in.write_text("Ingrid Halvorsen called.\nNothing here.\n", encoding="utf-8")
    assert scrub(str(txt_in), str(tmp_path / "out.txt")).exit_code == ExitCode.OK
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()[1] == "Nothing here."


def test_scan_counts_without_writing(tmp_path, notes):
    result = runner.invoke(app, ["scan", str(notes), "--json", "--no-progress"])
    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.stdout)
    assert report["command"] == "scan" and report["records_changed"] == 0
    assert report["entities_by_field"]["text"]["EMAIL_ADDRESS"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jsonl"]


def test_scan_counts_what_scrub_replaces(tmp_path, notes, guard_key):
    """A scan is a scrub without operators (tests/deid/test_ray_engine.py compares a Ray scan
    with a local scrub's counts)."""
    scanned = json.loads(runner.invoke(app, ["scan", str(notes), "--json", "--no-progress"]).stdout)
    assert scrub(str(notes), str(tmp_path / "out.jsonl"), "--report", str(tmp_path / "r.json")).exit_code == 0
    scrubbed = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert sum(scanned["entities"].values()) > 3
    for key in ("records_read", "entities", "entities_by_field"):
        assert scanned[key] == scrubbed[key], key


def test_scan_of_a_scrubbed_corpus_finds_almost_nothing(tmp_path, notes, guard_key):
    out = tmp_path / "out.jsonl"
    assert scrub(str(notes), str(out)).exit_code == ExitCode.OK
    report = json.loads(runner.invoke(app, ["scan", str(out), "--json", "--no-progress"]).stdout)
    assert sum(report["entities"].values()) == 0

import json

from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from tests.conftest import read_jsonl

runner = CliRunner()


def test_dedup_on_the_example_corpus_finds_the_planted_duplicates(tmp_path):
    out, report = tmp_path / "out.jsonl", tmp_path / "dedup.json"
    result = runner.invoke(app, ["dedup", "examples/clinical_notes.jsonl", str(out), "--report", str(report), "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert data["records_read"] == 504
    assert data["exact_dropped"] == 12 and data["near_dropped"] == 12
    assert len(read_jsonl(out)) == data["records_kept"] == 504 - data["exact_dropped"] - data["near_dropped"]
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["dropped"] == data["dropped"]
    assert all(
        set(d) == {"line", "id", "reason", "duplicate_of_line", "duplicate_of_id", "similarity"}
        for d in saved["dropped"]
    )


def test_dedup_bad_line_exits_input_error_and_writes_nothing(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n{nope\n', encoding="utf-8")
    result = runner.invoke(app, ["dedup", str(src), str(tmp_path / "out.jsonl")])
    assert result.exit_code == ExitCode.INPUT and "in.jsonl:2" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()

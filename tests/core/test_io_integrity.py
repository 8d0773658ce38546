"""Readers lose nothing silently; writers never leave a partial or foreign file behind
(issue 11 "Nothing lost, nothing forged", items 2, 3, 8 and 9)."""

import csv
import errno
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guard.core.errors import InputError, OutputError
from guard.core.io import (
    BOM_NOTE,
    MAX_JSON_DEPTH,
    TEMP_MARK,
    AtomicFile,
    CorpusReader,
    CorpusWriter,
    Outputs,
    check_distinct,
    remove_stale_temps,
    write_text_atomic,
)
from guard.core.types import Record, RecordError
from tests.conftest import mounted_tmpfs


def _items(path, **kw):
    return list(CorpusReader(path, **kw))


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("text", "message"),
    [('id,text\n1,"starts a quote\n2,second row\n', "never closes"), ('id,text\n1,"quoted"tail\n2,fine\n', "quoting")],
    ids=["an_unterminated_quote_not_one_merged_record", "a_stray_quote_inside_a_field"],
)
def test_csv_quoting_error_is_an_error_at_its_row(tmp_path, text, message):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        _items(path)
    assert e.value.line == 2 and message in str(e.value)


def test_csv_duplicate_header_is_refused_naming_the_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text,text\n1,a,b\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        CorpusReader(path)
    assert e.value.line == 1 and "['text']" in str(e.value)


def test_csv_field_longer_than_the_csv_default_but_within_max_chars_is_read_whole(tmp_path):
    path = tmp_path / "in.csv"
    long = "word " * 40_000  # 200,000 characters, above the csv module's 131,072
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "text"], ["1", long]])
    (item,) = _items(path, max_chars=1_000_000)
    assert item.data["text"] == long


def test_csv_field_over_max_chars_is_a_located_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,ok\n2," + "x" * 300_000 + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        _items(path, max_chars=200_000)
    assert e.value.line == 3 and "--max-chars" in str(e.value)


# --------------------------------------------------------------------------- BOM, nesting


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("in.jsonl", '{"text": "a"}\n', {"text": "a"}),
        ("in.csv", "text,id\na,1\n", {"text": "a", "id": "1"}),
        ("in.txt", "a\n", {"text": "a"}),
    ],
)
def test_a_utf8_bom_is_skipped_and_noted(tmp_path, name, body, expected):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    reader = CorpusReader(path)
    (item,) = list(reader)
    assert item.data == expected
    assert reader.bom and reader.notes == [BOM_NOTE]


def test_deeply_nested_json_is_a_record_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "in.jsonl"
    deep = '{"text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    just_over = '{"text": "x", "meta": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"
    path.write_text(deep + "\n" + just_over + '\n{"text": "fine"}\n', encoding="utf-8")
    items = _items(path)
    assert [type(i).__name__ for i in items] == ["RecordError", "RecordError", "Record"]
    assert all("nested more than" in i.reason for i in items[:2])


def test_json_nested_within_the_limit_round_trips(tmp_path):
    data = {"text": "x", "meta": json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))}
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(data) + "\n", encoding="utf-8")
    with CorpusWriter(dst) as writer:
        for item in CorpusReader(src):
            writer.write(item.data)
    assert json.loads(dst.read_text(encoding="utf-8")) == data


def test_an_unpaired_surrogate_survives_jsonl_and_is_refused_by_csv(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "a \\ud800 b"}\n', encoding="utf-8")
    (item,) = _items(src)
    with CorpusWriter(tmp_path / "out.jsonl") as writer:
        writer.write(item.data)
    assert _items(tmp_path / "out.jsonl")[0].data == item.data
    with pytest.raises(InputError) as e:
        with CorpusWriter(tmp_path / "out.csv", source=src) as writer:
            writer.write(item.data, line=1)
    assert e.value.field == "text" and "surrogate" in str(e.value)
    assert not (tmp_path / "out.csv").exists() and _temps(tmp_path) == []


# --------------------------------------------------------------------------- conversions


def test_text_output_refuses_a_record_with_other_fields_unless_asked(tmp_path):
    out = tmp_path / "out.txt"
    with pytest.raises(OutputError) as e:
        with CorpusWriter(out, source="in.jsonl") as writer:
            writer.write({"id": "r1", "text": "a"}, line=4)
    assert "in.jsonl:4" in str(e.value) and "['id']" in str(e.value) and "--drop-fields" in str(e.value)
    assert not out.exists() and _temps(tmp_path) == []
    with CorpusWriter(out, drop_fields=True) as writer:
        writer.write({"id": "r1", "text": "a"})
    assert out.read_text(encoding="utf-8") == "a\n"


def test_csv_output_refuses_records_whose_fields_differ_from_the_first(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("earlier\n", encoding="utf-8")
    for second in ({"id": "2", "text": "b", "extra": "c"}, {"id": "2"}):
        with pytest.raises(OutputError) as e:
            with CorpusWriter(out, source="in.jsonl") as writer:
                writer.write({"id": "1", "text": "a"}, line=1)
                writer.write(second, line=2)
        assert "in.jsonl:2" in str(e.value)
        assert out.read_text(encoding="utf-8") == "earlier\n" and _temps(tmp_path) == []


def test_parquet_output_names_the_record_and_field_of_a_type_change_without_its_value(tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError) as e:
        with CorpusWriter(out, source="in.jsonl") as writer:
            writer.write({"n": 1, "text": "a"}, line=1)
            writer.write({"n": "Ingrid Halvorsen", "text": "b"}, line=2)
    assert (e.value.line, e.value.field) == (2, "n") and "Ingrid" not in str(e.value)
    assert not out.exists() and _temps(tmp_path) == []


def test_parquet_output_is_verified_by_reading_its_footer(tmp_path):
    out = tmp_path / "out.parquet"
    with CorpusWriter(out) as writer:
        for i in range(3000):
            writer.write({"n": i, "text": "t"})
    assert pq.read_table(out).column("n").to_pylist() == list(range(3000))


# --------------------------------------------------------------------------- atomic writes


def test_temporary_files_are_recognisable_and_in_the_target_folder(tmp_path):
    out = tmp_path / "out.jsonl"
    writer = CorpusWriter(out).open()
    try:
        (name,) = _temps(tmp_path)
        assert name.startswith(f".out.jsonl{TEMP_MARK}{os.getpid()}-")
    finally:
        writer.discard()
    assert _temps(tmp_path) == []


def test_stale_temp_of_a_dead_process_is_removed_and_a_live_ones_is_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.jsonl{TEMP_MARK}{dead_pid}-abc"
    live = tmp_path / f".out.jsonl{TEMP_MARK}{os.getppid()}-abc"
    stale.write_text("torn", encoding="utf-8")
    live.write_text("in use", encoding="utf-8")
    write_text_atomic(tmp_path / "out.jsonl", "{}\n")
    assert not stale.exists() and live.exists()
    assert remove_stale_temps(tmp_path / "out.jsonl") == []


def test_output_that_is_a_folder_is_refused_and_nothing_is_left(tmp_path):
    folder = tmp_path / "out.jsonl"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        with CorpusWriter(folder) as writer:
            writer.write({"text": "a"})
    assert list(folder.iterdir()) == [] and _temps(tmp_path) == []


def test_output_that_is_a_device_is_refused(tmp_path):
    with pytest.raises(OutputError, match="not a regular file"):
        write_text_atomic("/dev/null", "x")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_unwritable_folder_is_an_output_error_naming_it(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("guard.core.io.tempfile.mkstemp", refuse)
    with pytest.raises(OutputError) as e:
        write_text_atomic(tmp_path / "r.json", "{}")
    assert "permission denied" in str(e.value) and str(tmp_path) in str(e.value) and "chmod" not in str(e.value)


def test_read_only_file_system_is_an_output_error(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as ro, pytest.raises(OutputError, match="read-only file system"):
        write_text_atomic(ro / "r.json", "{}")


def test_outputs_commit_together_or_not_at_all(tmp_path, monkeypatch):
    corpus, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    corpus.write_text("old corpus\n", encoding="utf-8")
    report.write_text("old report\n", encoding="utf-8")
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the report, after the corpus was finished
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("guard.core.io.os.fsync", fsync)
    with pytest.raises(OutputError, match="no space left on device"):
        with Outputs() as outputs:
            outputs.corpus(corpus).write({"text": "new"})
            outputs.text(report, "new report\n")
    assert corpus.read_text(encoding="utf-8") == "old corpus\n"
    assert report.read_text(encoding="utf-8") == "old report\n"
    assert _temps(tmp_path) == []


def test_atomic_file_error_says_whether_an_earlier_file_is_kept(tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("x", encoding="utf-8")
    assert "the earlier file is kept" in str(AtomicFile(kept).error(OSError(errno.ENOSPC, "full")))
    assert "nothing written" in str(AtomicFile(tmp_path / "new.json").error(OSError(errno.ENOSPC, "full")))


# --------------------------------------------------------------------------- distinct files


def test_same_file_by_path_link_or_hard_link_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n", encoding="utf-8")
    (tmp_path / "sym.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for other in (src, tmp_path / "." / "in.jsonl", tmp_path / "sym.jsonl", tmp_path / "hard.jsonl"):
        with pytest.raises(OutputError) as e:
            check_distinct({"input": src, "output": tmp_path / "out.jsonl", "report": other})
        assert "the report would overwrite the input" in str(e.value)
    check_distinct({"input": src, "output": tmp_path / "out.jsonl", "report": tmp_path / "r.json", "quarantine": None})


def test_reader_and_writer_types_flow_unchanged(tmp_path):
    """The reader still yields Record/RecordError and the writer writes Parquet schemas as given."""
    src = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": [2, 1], "text": ["x", "y"]}), src)
    reader = CorpusReader(src)
    items = list(reader)
    assert all(isinstance(i, Record) for i in items) and not any(isinstance(i, RecordError) for i in items)
    with CorpusWriter(tmp_path / "b.parquet", schema=reader.schema) as writer:
        for item in items:
            writer.write(item.data)
    assert pq.read_table(tmp_path / "b.parquet").schema == reader.schema

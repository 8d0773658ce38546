import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guard.core import CorpusReader, CorpusWriter, Format, InputError, Record, RecordError, detect_format


def _items(path, **kw):
    return list(CorpusReader(path, **kw))


def test_format_from_extension_and_override(tmp_path):
    assert detect_format(tmp_path / "a.jsonl") is Format.jsonl
    assert detect_format(tmp_path / "a.CSV") is Format.csv
    assert detect_format(tmp_path / "a.bin", "parquet") is Format.parquet
    with pytest.raises(InputError, match="--format"):
        detect_format(tmp_path / "a.bin")


def test_jsonl_reader_reports_physical_line_numbers_and_skips_blank_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n{oops\n[1, 2]\n', encoding="utf-8")
    items = _items(path)
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Record", 1),
        ("Record", 3),
        ("RecordError", 4),
        ("RecordError", 5),
    ]
    assert "malformed JSON" in items[2].reason and "not an object" in items[3].reason


def test_non_utf8_line_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"fine line\nbad \xff byte\n")
    items = _items(path)
    assert isinstance(items[0], Record) and items[0].data == {"text": "fine line"}
    assert isinstance(items[1], RecordError) and items[1].line == 2 and "UTF-8" in items[1].reason


def test_csv_multiline_field_and_bad_row(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,short\n3,too,many\n', encoding="utf-8")
    items = _items(path)
    assert items[0].data == {"id": "1", "text": "two\nlines"} and items[0].line == 2
    assert items[1].data == {"id": "2", "text": "short"} and items[1].line == 4
    assert isinstance(items[2], RecordError) and items[2].line == 5 and "3 fields" in items[2].reason


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no records"):
        _items(path)


def test_parquet_round_trip_keeps_schema_and_order(tmp_path):
    src, dst = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [3, 1, 2], "text": ["x", "y", "z"]}), src)
    reader = CorpusReader(src)
    with CorpusWriter(dst, schema=reader.schema) as writer:
        for item in reader:
            writer.write(item.data)
    table = pq.read_table(dst)
    assert table.column("id").to_pylist() == [3, 1, 2]
    assert table.schema.field("id").type == pa.int64()


def test_writer_leaves_nothing_and_keeps_old_file_when_it_fails(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with CorpusWriter(out) as writer:
            writer.write({"text": "new"})
            raise RuntimeError("boom")
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_writer_commits_on_success(tmp_path):
    out = tmp_path / "out.jsonl"
    with CorpusWriter(out) as writer:
        writer.write({"text": "é"})
    assert json.loads(out.read_text(encoding="utf-8")) == {"text": "é"}

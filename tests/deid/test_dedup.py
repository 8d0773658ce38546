"""Specs for `guard.deid.dedup`: exact and near-duplicate removal."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest

from guard.core.errors import GuardError, InputError, OutputError
from guard.deid.dedup import dedup, normalise, shingles

_VOCAB = (
    "patient reports chest pain shortness of breath since monday denies fever nausea vomiting history "
    "hypertension diabetes type two medications include metformin lisinopril aspirin daily exam reveals "
    "mild tachycardia clear lungs bilaterally plan order troponin echocardiogram follow up clinic weeks "
    "sodium potassium creatinine elevated stable improved referral discussed advised rest"
).split()


def _words(seed: int, n: int = 40) -> list[str]:
    """n words; all distinct when n fits the vocabulary, so shingle counts are exact."""
    rng = random.Random(seed)
    return rng.sample(_VOCAB, n) if n <= len(_VOCAB) else rng.choices(_VOCAB, k=n)


def _text(seed: int, n: int = 40) -> str:
    return " ".join(_words(seed, n))


def _with_word_changed(text: str, position: int, word: str = "zebra") -> str:
    words = text.split()
    words[position] = word
    return " ".join(words)


def _jaccard(a: str, b: str, k: int) -> float:
    sa, sb = shingles(normalise(a), shingle_size=k), shingles(normalise(b), shingle_size=k)
    return len(sa & sb) / len(sa | sb)


def _entry(line: int, rid: Any, reason: str, of_line: int, of_id: Any, similarity: float) -> dict[str, Any]:
    return {
        "line": line,
        "id": rid,
        "reason": reason,
        "duplicate_of_line": of_line,
        "duplicate_of_id": of_id,
        "similarity": similarity,
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_dedup_drops_exact_copy_and_keeps_first(tmp_path: Path) -> None:
    base = _text(1)
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": _text(2)},
        {"id": "c", "text": "  " + base.upper().replace(" ", "\t ") + "\n"},  # same after normalising
        {"id": "d", "text": base},
    ]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    report = dedup(src, out)

    assert [r["id"] for r in _read_jsonl(out)] == ["a", "b"]
    assert _read_jsonl(out)[0] == rows[0]  # records are copied unchanged
    counts = (report.records_read, report.records_kept, report.exact_dropped, report.near_dropped)
    assert counts == (4, 2, 2, 0)
    assert report.dropped == [
        _entry(3, "c", "exact", 1, "a", 1.0),
        _entry(4, "d", "exact", 1, "a", 1.0),
    ]


def test_dedup_drops_one_word_change_at_threshold_0_8(tmp_path: Path) -> None:
    base = _text(1)
    near = _with_word_changed(base, 39)
    assert _jaccard(base, near, 5) == pytest.approx(35 / 37)
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": base}, {"id": "b", "text": near}])
    out = tmp_path / "out.jsonl"

    report = dedup(src, out, threshold=0.8)

    assert [r["id"] for r in _read_jsonl(out)] == ["a"]
    assert (report.exact_dropped, report.near_dropped) == (0, 1)
    entry = report.dropped[0]
    assert (entry["line"], entry["id"], entry["reason"]) == (2, "b", "near")
    assert (entry["duplicate_of_line"], entry["duplicate_of_id"]) == (1, "a")
    assert 0.8 <= entry["similarity"] < 1.0
    assert entry["similarity"] == pytest.approx(35 / 37, abs=0.1)  # an estimate of the true Jaccard


def test_dedup_keeps_one_word_change_at_threshold_0_99(tmp_path: Path) -> None:
    base = _text(1)
    src = _write_jsonl(
        tmp_path / "in.jsonl", [{"id": "a", "text": base}, {"id": "b", "text": _with_word_changed(base, 39)}]
    )
    out = tmp_path / "out.jsonl"

    report = dedup(src, out, threshold=0.99)

    assert [r["id"] for r in _read_jsonl(out)] == ["a", "b"]
    assert (report.records_kept, report.near_dropped, report.dropped) == (2, 0, [])


@pytest.mark.parametrize("threshold", [0.99, 1.0])
def test_dedup_very_high_threshold_still_drops_identical_shingles(tmp_path: Path, threshold: float) -> None:
    # Past about 0.9, datasketch's own LSH banding is a single band, which it
    # rejects; dedup picks its own. Same text moved to another field: the
    # exact digest differs, the shingle set is the same (similarity 1.0).
    base = _text(1)
    rows = [{"id": "a", "title": "", "text": base}, {"id": "b", "title": base, "text": ""}]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)

    report = dedup(src, tmp_path / "out.jsonl", text_fields=("title", "text"), threshold=threshold)

    assert (report.exact_dropped, report.near_dropped) == (0, 1)
    assert report.dropped[0]["similarity"] == 1.0


def test_one_word_change_mid_text_needs_shorter_shingles(tmp_path: Path) -> None:
    # A change in the middle touches shingle_size shingles: with 5-word shingles
    # over 40 words the true Jaccard is 31/41 (below 0.8); with 2-word shingles 37/41.
    base = _text(1)
    near = _with_word_changed(base, 20)
    assert _jaccard(base, near, 5) == pytest.approx(31 / 41)
    assert _jaccard(base, near, 2) == pytest.approx(37 / 41)
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": base}, {"id": "b", "text": near}])

    report = dedup(src, tmp_path / "out.jsonl", threshold=0.8, shingle_size=2)

    assert report.near_dropped == 1
    assert report.dropped[0]["duplicate_of_id"] == "a"


def test_dedup_keeps_distinct_texts_in_input_order(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": _text(100 + i)} for i in range(30)]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    report = dedup(src, out)

    assert _read_jsonl(out) == rows
    assert (report.records_read, report.records_kept, report.dropped) == (30, 30, [])


def test_dedup_mixed_corpus_keeps_order_and_points_at_kept_records(tmp_path: Path) -> None:
    a, b, c = _text(1), _text(2), _text(3)
    a_near = _with_word_changed(a, 0)
    rows = [
        {"id": "1", "text": a},
        {"id": "2", "text": b},
        {"id": "3", "text": a_near},
        {"id": "4", "text": c},
        {"id": "5", "text": b},
        {"id": "6", "text": a_near},  # exact copy of a dropped record: resolves to the kept one
    ]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    report = dedup(src, out)

    assert [r["id"] for r in _read_jsonl(out)] == ["1", "2", "4"]
    assert [(d["id"], d["reason"], d["duplicate_of_id"]) for d in report.dropped] == [
        ("3", "near", "1"),
        ("5", "exact", "2"),
        ("6", "near", "1"),
    ]
    assert report.dropped[0]["similarity"] == report.dropped[2]["similarity"]


def test_dedup_short_texts_use_character_grams(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "follow-up visit for hypertension"},
        {"id": "b", "text": "follow-up visit for hypertension."},
        {"id": "c", "text": "discharge summary"},
        {"id": "d", "text": "ok"},
        {"id": "e", "text": ""},
        {"id": "f", "text": "   "},
    ]
    assert shingles(normalise(rows[0]["text"]), shingle_size=5) == {
        g.encode() for g in (rows[0]["text"][i : i + 5] for i in range(len(rows[0]["text"]) - 4))
    }
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    report = dedup(src, out, shingle_size=5)

    assert [r["id"] for r in _read_jsonl(out)] == ["a", "c", "d", "e"]
    assert [(d["id"], d["reason"]) for d in report.dropped] == [("b", "near"), ("f", "exact")]


def test_dedup_concatenates_several_text_fields(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "title": "Cardiology note", "text": _text(1)},
        {"id": "b", "title": "Oncology note", "text": _text(1)},
        {"id": "c", "title": "cardiology  NOTE", "text": _text(1)},
    ]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    only_text = dedup(src, out, text_fields=("text",))
    both = dedup(src, out, text_fields=("title", "text"), threshold=0.99)

    assert only_text.exact_dropped == 2
    assert (both.exact_dropped, both.near_dropped) == (1, 0)
    assert [r["id"] for r in _read_jsonl(out)] == ["a", "b"]


def test_dedup_without_id_field_reports_null_ids(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"text": _text(1)}, {"text": _text(1)}])

    report = dedup(src, tmp_path / "out.jsonl", id_field=None)

    assert report.dropped[0]["id"] is None
    assert report.dropped[0]["duplicate_of_id"] is None
    assert report.dropped[0]["duplicate_of_line"] == 1


def test_dedup_csv_keeps_header_and_format(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "site", "text"])
        w.writerow(["n1", "north", _text(1)])
        w.writerow(["n2", "south", _text(1)])
        w.writerow(["n3", "east", "line one\nline two, with a comma"])
        w.writerow(["n4", "west", _with_word_changed(_text(1), 39)])

    report = dedup(src, out)

    with open(out, encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == ["id", "site", "text"]
    assert [r["id"] for r in got] == ["n1", "n3"]
    assert got[1]["text"] == "line one\nline two, with a comma"
    # CSV lines are physical lines: the multi-line record pushes n4 to line 6
    got_dropped = [(d["id"], d["line"], d["reason"]) for d in report.dropped]
    assert got_dropped == [("n2", 3, "exact"), ("n4", 6, "near")]


def test_dedup_parquet_keeps_schema_and_rows(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    table = pa.table(
        {
            "id": pa.array([10, 11, 12, 13], type=pa.int32()),
            "text": [_text(1), _text(2), _text(1), _text(3)],
            "label": ["cardiology", "oncology", "cardiology", "neurology"],
        }
    )
    pq.write_table(table, src)

    report = dedup(src, out)

    got = pq.read_table(out)
    assert got.schema == table.schema
    assert got.column("id").to_pylist() == [10, 11, 13]
    assert got.column("label").to_pylist() == ["cardiology", "oncology", "neurology"]
    assert report.dropped == [_entry(3, 12, "exact", 1, 10, 1.0)]


def test_dedup_report_holds_no_text(tmp_path: Path) -> None:
    base = "Alma Quixotl, phone 555-0143, seen for palpitations; " + _text(1)
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": base},
        {"id": "c", "text": _with_word_changed(base, -1)},
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)

    report = dedup(src, tmp_path / "out.jsonl")
    dumped = report.dumps()

    assert (report.exact_dropped, report.near_dropped) == (1, 1)
    for fragment in ("Quixotl", "quixotl", "555-0143", "palpitations", " ".join(_words(1)[:5])):
        assert fragment not in dumped
    assert set(json.loads(dumped)["dropped"][0]) == {
        "line",
        "id",
        "reason",
        "duplicate_of_line",
        "duplicate_of_id",
        "similarity",
    }


def test_dedup_report_records_parameters_and_versions(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": _text(1)}])

    report = dedup(src, tmp_path / "out.jsonl", threshold=0.7, num_perm=64, shingle_size=3)

    assert (report.threshold, report.num_perm, report.shingle_size) == (0.7, 64, 3)
    assert report.versions["datasketch"].split(".")[0].isdigit()
    assert report.versions["guard"]
    assert report.input == str(src) and report.output == str(tmp_path / "out.jsonl")
    assert report.seconds >= 0


def test_dedup_is_deterministic(tmp_path: Path) -> None:
    rows = [{"id": str(i), "text": _with_word_changed(_text(i % 4), i % 40)} for i in range(20)]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)

    first = dedup(src, tmp_path / "one.jsonl")
    second = dedup(src, tmp_path / "two.jsonl")

    assert first.dropped == second.dropped
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_dedup_malformed_jsonl_line_reports_line_number(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "text": _text(1)}) + "\n\n" + '{"id": "b", "text": "unterminated\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"

    with pytest.raises(InputError) as info:
        dedup(src, out)

    assert info.value.line == 3
    assert info.value.path == str(src)
    assert f"{src}:3" in str(info.value)
    assert "unterminated" not in str(info.value)  # the raw line is never echoed
    assert not out.exists()


def test_dedup_failing_run_leaves_no_output_file(tmp_path: Path) -> None:
    rows = [{"id": str(i), "text": _text(i)} for i in range(50)] + [{"id": "x", "body": "no text here"}]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    with pytest.raises(InputError) as info:
        dedup(src, out)

    assert (info.value.line, info.value.field) == (51, "text")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no temporary file left either


def test_dedup_failing_run_leaves_existing_output_untouched(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": _text(1)}, {"id": "b", "text": 42}])
    out = tmp_path / "out.jsonl"
    out.write_text("previous run\n", encoding="utf-8")

    with pytest.raises(InputError) as info:
        dedup(src, out)

    assert (info.value.line, info.value.field) == (2, "text")
    assert "int" in info.value.message
    assert out.read_text(encoding="utf-8") == "previous run\n"


def test_dedup_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": _text(1)}])

    with pytest.raises(OutputError):
        dedup(src, tmp_path / "." / "in.jsonl")

    assert _read_jsonl(src) == [{"id": "a", "text": _text(1)}]


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 0.0}, {"threshold": 1.5}, {"num_perm": 1}, {"shingle_size": 0}, {"text_fields": ()}],
)
def test_dedup_rejects_out_of_range_parameters(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": _text(1)}])

    with pytest.raises(GuardError):
        dedup(src, tmp_path / "out.jsonl", **kwargs)

    assert not (tmp_path / "out.jsonl").exists()

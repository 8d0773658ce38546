"""guard.quality.profile_corpus: each planted defect is caught and named; a clean corpus
has no flag; bad records name file and line; the profile never holds a raw value."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from guard.core.errors import InputError
from guard.core.types import OnError
from guard.quality import Check, CorpusProfile, ProfileOptions, profile_corpus, release_evidence
from tests.quality.corpora import GERMAN, clean_rows, sentence, write_jsonl

FAST = {"pii": False, "label_field": "label", "group_fields": ("site",)}


def _profile(path: Path, **kwargs: object) -> CorpusProfile:
    return profile_corpus(path, options=ProfileOptions(**{**FAST, **kwargs}))  # type: ignore[arg-type]


def _flags(profile: CorpusProfile) -> dict[str, dict[str | None, float]]:
    out: dict[str, dict[str | None, float]] = {}
    for f in profile.flags:
        out.setdefault(f.check.value, {})[f.field] = f.value
    return out


def test_profile_clean_corpus_has_no_flags(tmp_path: Path) -> None:
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", clean_rows()))
    assert profile.records == 500
    assert profile.flags == [], _flags(profile)
    assert profile.duplicates["exact"] == 0 and profile.duplicates["near"] == 0
    assert profile.languages["counts"] == {"en": 500}
    assert profile.labels is not None and set(profile.labels["counts"]) == {"pos", "neg"}


def test_profile_empty_text_fields_are_named(tmp_path: Path) -> None:
    rows = clean_rows()
    for i in range(0, 100, 5):  # 20 of 500: 4 %
        rows[i]["text"] = "   " if i % 2 else ""
    del rows[7]["label"]
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    flags = _flags(profile)
    assert flags["missing_values"]["text"] == pytest.approx(20 / 500)
    assert profile.fields["text"]["empty"] == 20
    assert profile.fields["label"]["missing"] == 1  # 1/500 = 0.2 %: counted, below the 1 % limit
    assert "label" not in flags["missing_values"]
    assert "label_imbalance" not in flags and sum(profile.labels["counts"].values()) == 499  # type: ignore[index]


def test_profile_non_string_text_is_named(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[3]["text"] = 12345
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    assert _flags(profile)["non_string_text"]["text"] == pytest.approx(1 / 500)
    assert profile.fields["text"]["types"] == {"int": 1, "str": 499}


def test_profile_block_of_duplicates_exact_and_near(tmp_path: Path) -> None:
    rows = clean_rows()
    words = rows[10]["text"].split()
    for i in range(30):  # an exact block (case and spacing differ: the normalisation is guard dedup's)
        rows[100 + i]["text"] = "  ".join(words).upper()
    for i in range(15):  # near copies: the last word changed
        rows[200 + i]["text"] = " ".join([*words[:-1], f"zebra{i}"])
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    flags = _flags(profile)
    assert profile.duplicates["exact"] == 30
    assert profile.duplicates["near"] == 15
    assert flags["exact_duplicates"][None] == pytest.approx(30 / 500)
    assert "near_duplicates" in flags
    assert profile.duplicates["first_exact_duplicate_lines"][0] == 101
    assert profile.duplicates["exact_method"] == "exact"


def test_profile_near_duplicates_agree_with_guard_dedup(tmp_path: Path) -> None:
    from guard.deid import dedup

    rows = clean_rows(200)
    words = rows[0]["text"].split()
    for i in range(12):
        copy = list(words)
        copy[i] = "zebra"
        rows[50 + i]["text"] = " ".join(copy)
    rows[90]["text"] = rows[3]["text"]
    src = write_jsonl(tmp_path / "c.jsonl", rows)
    report = dedup(src, tmp_path / "out.jsonl", seed=0)
    profile = _profile(src)
    assert (profile.duplicates["exact"], profile.duplicates["near"]) == (report.exact_dropped, report.near_dropped)


def test_profile_group_at_two_percent_is_named(tmp_path: Path) -> None:
    rows = clean_rows()
    for i in range(10):  # 10 of 500
        rows[i * 40]["site"] = "islands"
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    flag = next(f for f in profile.flags if f.check is Check.small_group)
    assert flag.field == "site" and flag.value == pytest.approx(0.02) and "'islands'" in flag.message
    assert release_evidence(profile.to_json())["corpus_min_group_share"] == pytest.approx(0.02)


def test_profile_second_language_is_named(tmp_path: Path) -> None:
    rows = clean_rows()
    rng = random.Random(3)
    for i in range(20):
        rows[300 + i]["text"] = sentence(rng, GERMAN, n=30)
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    assert profile.languages["main"] == "en" and profile.languages["counts"]["de"] == 20
    flag = next(f for f in profile.flags if f.check is Check.second_language)
    assert flag.value == pytest.approx(20 / 500) and "de" in flag.message


def test_profile_control_characters_are_named_by_kind(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[1]["text"] += "\x00"
    rows[2]["text"] += "\x07"
    rows[3]["text"] += "\x85"  # C1: cp1252 read as latin-1
    rows[4]["text"] += "\ufffd"
    rows[5]["text"] += "\ud800"  # a lone surrogate from a JSON escape
    rows[6]["text"] += "e\u0301"  # decomposed: not NFC
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    odd = profile.oddities["text"]
    assert {k: odd[k] for k in ("nul", "c0", "c1", "replacement", "lone_surrogate", "not_nfc")} == dict.fromkeys(
        ("nul", "c0", "c1", "replacement", "lone_surrogate", "not_nfc"), 1
    )
    assert odd["any_control"] == 5
    flags = _flags(profile)
    assert flags["control_characters"]["text"] == pytest.approx(5 / 500)
    assert "encoding_oddities" not in flags  # 1 record of 500 not in NFC: below the 1 % limit


def test_profile_bad_record_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", clean_rows(20))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[6] = '{"text": "broken'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        _profile(path)
    assert e.value.line == 7 and str(path) in str(e.value)
    skipped = _profile(path, on_error=OnError.skip)
    assert skipped.records == 19 and skipped.records_failed == 1
    assert skipped.failures == [{"line": 7, "reason": skipped.failures[0]["reason"]}]
    assert Check.bad_records in skipped.flagged


def test_profile_label_depending_on_group_has_chi_square_and_cramers_v(tmp_path: Path) -> None:
    rows = clean_rows()
    rng = random.Random(5)
    for r in rows:
        r["label"] = "pos" if (r["site"] in ("north", "south")) == (rng.random() < 0.85) else "neg"
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    test = profile.groups["site"]["by_label"]
    assert test["p_value"] < 1e-10 and 0.6 < test["cramers_v"] < 0.8
    assert sum(map(sum, test["counts"])) == 500
    assert Check.label_depends_on_group in profile.flagged
    independent = _profile(write_jsonl(tmp_path / "i.jsonl", clean_rows()))
    assert independent.groups["site"]["by_label"]["p_value"] > 0.01


def test_profile_lengths_quantiles_and_tukey_outliers(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[0]["text"] = "short."
    rows[1]["text"] = sentence(random.Random(9), n=2000)
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    stats = profile.lengths["text"]
    assert stats["outliers_short"] == 1 and stats["outliers_long"] == 1
    assert stats["quantiles"]["p0"] == 6.0 and stats["quantiles"]["p100"] == len(rows[1]["text"])
    assert sum(stats["histogram_log2"].values()) == 500


def test_profile_csv_and_parquet_match_jsonl(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = clean_rows(120)
    rows[5]["text"] = rows[6]["text"]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    import csv

    with open(tmp_path / "c.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    base = _profile(write_jsonl(tmp_path / "c.jsonl", rows)).to_json()
    for name in ("c.parquet", "c.csv"):
        other = _profile(tmp_path / name).to_json()
        for key in ("records", "duplicates", "lengths", "languages", "labels", "groups", "flags"):
            if key == "duplicates":  # a CSV's line numbers count its header
                assert other[key].pop("first_exact_duplicate_lines") == [8 if name == "c.csv" else 7]
                assert {**base[key], "first_exact_duplicate_lines": None} == {
                    **other[key],
                    "first_exact_duplicate_lines": None,
                }
                continue
            assert other[key] == base[key], (name, key)


def test_profile_json_round_trips_and_holds_no_text(tmp_path: Path) -> None:
    rows = clean_rows(100)
    secret = "zanzibarquokka"
    rows[4]["text"] += f" {secret} {secret}"
    profile = _profile(write_jsonl(tmp_path / "c.jsonl", rows))
    out = tmp_path / "p.json"
    profile.write(out)
    text = out.read_text(encoding="utf-8")
    assert secret not in text and rows[0]["text"][:30] not in text
    again = CorpusProfile.read(out)
    assert again == profile
    data = json.loads(text)
    assert data["kind"] == "guard.corpus_profile" and data["schema_version"] == 1


def test_profile_read_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"kind": "guard.release_report"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a guard corpus profile"):
        CorpusProfile.read(path)


def test_profile_exact_sketch_estimates_past_its_bound(tmp_path: Path) -> None:
    rows = clean_rows(600)
    for i in range(0, 600, 10):  # 60 exact duplicates of other rows: 10 %
        rows[i]["text"] = rows[i + 1]["text"]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    exact = _profile(path, language=False)
    sketch = _profile(path, language=False, exact_index=200, near_index=100)
    assert exact.duplicates["exact_rate"] == pytest.approx(0.1)
    assert "estimate" in sketch.duplicates["exact_method"]
    assert sketch.duplicates["exact_rate"] == pytest.approx(0.1, abs=0.05)
    assert "lower bound" in sketch.duplicates["near_method"]


@pytest.mark.slow
def test_profile_peak_memory_is_flat_past_the_sketch_bounds(tmp_path: Path) -> None:
    """4x the records, the same peak: past --exact-index and --near-index nothing grows
    with the corpus (bench/profile_memory.py measures 20k against 200k)."""
    import tracemalloc

    peaks = []
    for n in (1_000, 4_000):
        rows = clean_rows(n, seed=n)
        for i in range(0, n, 20):
            rows[i]["text"] = rows[i + 1]["text"]
        path = write_jsonl(tmp_path / f"c{n}.jsonl", rows)
        tracemalloc.start()
        profile = _profile(path, language=False, exact_index=300, near_index=150)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert profile.records == n and profile.duplicates["exact_rate"] == pytest.approx(0.05, abs=0.03)
    assert peaks[1] < 1.25 * peaks[0], peaks

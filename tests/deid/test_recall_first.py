"""Recall first, by construction: on every labelled set (2,800 documents: templated,
written blind, real Reddit and Wikipedia text), every character plain Presidio flags
is transformed by guard's default policy, except what a precision rule removed, and
no precision rule ever uncovers part of a labelled identifier."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from guard.core.policy import Policy
from guard.deid.baseline import plain_presidio, presidio_results
from guard.deid.detector import Detector
from guard.deid.phones import PRESIDIO_REGIONS, FastPhoneRecognizer

DATA = Path(__file__).resolve().parents[1] / "data"
SETS = ("deid_eval.jsonl", "deid_blind.jsonl", "deid_reddit.jsonl", "deid_gap.jsonl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    for name in SETS:
        out += [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


@pytest.fixture(scope="module")
def analysed(rows: list[dict]):  # type: ignore[no-untyped-def]
    texts = [r["text"] for r in rows]
    guard = Detector(Policy()).analyze_batch(texts)
    engine, analyzer = plain_presidio()
    return guard, presidio_results(engine, analyzer, texts)


def test_the_sets_hold_more_than_a_thousand_varied_documents(rows: list[dict]) -> None:
    assert len(rows) >= 1000
    assert len({r["id"].split("-")[0] for r in rows}) == 4


def test_every_character_plain_presidio_flags_is_transformed_or_removed_by_a_named_rule(rows, analysed) -> None:  # type: ignore[no-untyped-def]
    (guard, presidio) = analysed
    missing = Counter()
    flagged = 0
    for row, (kept, dropped), base in zip(rows, guard, presidio):
        text = row["text"]
        covered = {i for d in kept for i in range(d.start, d.end)}
        removed = {i for d in dropped for i in range(d.start, d.end)}
        for r in base:
            for i in range(r.start, r.end):
                if text[i].isspace():
                    continue
                flagged += 1
                if i not in covered and i not in removed:
                    missing[(row["id"], r.entity_type)] += 1
    assert flagged > 50_000
    assert not missing, f"characters Presidio flags that guard leaves: {sorted(missing)[:10]}"


def test_no_precision_rule_uncovers_a_labelled_value(rows, analysed) -> None:  # type: ignore[no-untyped-def]
    (guard, _) = analysed
    rules = Counter()
    exposed = []
    for row, (kept, dropped) in zip(rows, guard):
        text = row["text"]
        covered = {i for d in kept for i in range(d.start, d.end)}
        for d in dropped:
            rules[d.rule] += 1
            for s in row["spans"]:
                if any(
                    text[i].isalnum() and i not in covered
                    for i in range(max(d.start, s["start"]), min(d.end, s["end"]))
                ):
                    exposed.append((row["id"], d.rule, s["entity"]))
    assert set(rules) == {
        "everyday_words_as_names",
        "non_name_words",
        "not_a_calendar_date",
        "short_licence_code",
        "time_or_amount",
    }, rules
    assert not exposed, exposed[:10]


def test_fast_phone_recognizer_finds_every_number_presidio_phone_recognizer_finds(rows: list[dict]) -> None:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    ours, theirs = FastPhoneRecognizer(regions=PRESIDIO_REGIONS), PhoneRecognizer()
    found = 0
    for row in rows:
        text = row["text"]
        mine = {(r.start, r.end) for r in ours.analyze(text, ["PHONE_NUMBER"])}
        for r in theirs.analyze(text, ["PHONE_NUMBER"]):
            found += 1
            assert (r.start, r.end) in mine, row["id"]
    assert found > 500

"""Session 24 recall and start-up changes of guard's detector.

- Turkish (and Azerbaijani) proper nouns carry their case and possessive suffixes after an
  apostrophe ("Emre'nin" = Emre's, "Elif'e" = to Elif): the stem is looked up as a name.
- Building the detector runs with the cyclic garbage collector paused, and a scrub run
  keeps the objects alive at its start out of the collector's reach; both restore the
  collector's state.

Every value is made up for these tests from the conventions (none is copied from the
evaluation sets); test names carry no values. Fast: no spaCy model is loaded.
"""

from __future__ import annotations

import gc

import pytest

from guard.deid.detector import _gc_paused
from guard.deid.names import PersonNameRecognizer, _strip_possessive
from guard.deid.scrubber import _gc_frozen


@pytest.fixture(scope="module")
def names() -> PersonNameRecognizer:
    return PersonNameRecognizer()


def _person_spans(recognizer: PersonNameRecognizer, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["PERSON"], None)]


# --- Turkish apostrophe suffixes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("Emre'nin", "Emre"),  # genitive
        ("Elif'e", "Elif"),  # dative after a consonant
        ("Ayşe'ye", "Ayşe"),  # dative after a vowel (buffer y)
        ("Mehmet'le", "Mehmet"),  # comitative
        ("Zeynep'ten", "Zeynep"),  # ablative, voiceless assimilation
        ("Can'ın", "Can"),  # genitive with the dotless ı
        ("Burak’ı", "Burak"),  # typographic apostrophe, accusative
        ("Selin's", "Selin"),  # English possessive, as before
    ],
)
def test_apostrophe_suffix_is_stripped_to_the_stem(word: str, stem: str) -> None:
    assert _strip_possessive(word) == stem
    assert _strip_possessive(word.lower()) == stem.lower()


@pytest.mark.parametrize("word", ["O'Neill", "o'neill", "d'Arcy", "d'arcy", "qu'il", "rock'n", "l'amour"])
def test_elisions_and_irish_names_are_not_cut(word: str) -> None:
    # a one-letter stem or a suffix that is no Turkish case ending: the word stays whole
    assert _strip_possessive(word) == word


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Dün akşam Emre'nin doğum günü partisine gittik.", "Emre"),
        ("Toplantıdan sonra Elif'e haber verdim.", "Elif"),
        ("Bu sabah Mehmet'le kahve içtik.", "Mehmet"),
        ("Hediyeyi Zeynep'ten aldım.", "Zeynep"),
    ],
)
def test_turkish_given_name_with_a_case_suffix_is_a_person(names: PersonNameRecognizer, text: str, value: str) -> None:
    spans = _person_spans(names, text)
    assert any(value in s for s in spans), f"{len(spans)} spans, none covering the name"


def test_place_with_a_case_suffix_is_not_a_person(names: PersonNameRecognizer) -> None:
    # the stem of a place ("to Ankara") is no name in the lexicon: nothing is reported
    assert _person_spans(names, "Yarın sabah Ankara'ya gidiyoruz.") == []


# --- start-up: garbage collector ------------------------------------------------------------


def test_gc_paused_sets_a_zero_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with _gc_paused():
        assert gc.get_threshold()[0] == 0  # no automatic collection, even after gc.enable()
        gc.enable()  # what srsly does while spaCy reads the model
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == before


def test_gc_paused_restores_the_threshold_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), _gc_paused():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_gc_frozen_returns_every_object_to_the_collector() -> None:
    assert gc.get_freeze_count() == 0
    with _gc_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), _gc_frozen():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


# --- dates in European conventions ----------------------------------------------------------


@pytest.fixture(scope="module")
def dates():  # type: ignore[no-untyped-def]
    from guard.deid.recognizers import builtin_recognizers

    return next(r for r in builtin_recognizers() if r.name == "GuardDateRecognizer")


def _date_spans(recognizer, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["DATE_TIME"], None)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Nasceu em outubro de 2011, em Braga.", "outubro de 2011"),  # Portuguese: month de year
        ("Trabaja aquí desde junio del 2018.", "junio del 2018"),  # Spanish: month del year
        ("Mødet blev holdt 14 maj 2022 i Aarhus.", "14 maj 2022"),  # Danish / Swedish May
        ("Hon flyttade 9 augusti 2003 till Luleå.", "9 augusti 2003"),  # Swedish August
        ("Smlouva byla podepsána 7. 9. 2014 v Brně.", "7. 9. 2014"),  # Czech / Slovak spacing
    ],
)
def test_european_date_convention_is_a_date(dates, text: str, value: str) -> None:  # type: ignore[no-untyped-def]
    assert any(value in s for s in _date_spans(dates, text)), "date not covered"


@pytest.mark.parametrize("text", ["Maj. Pike signed the order.", "Steps 1. 2. 3. 4. are optional."])
def test_rank_abbreviation_and_numbered_steps_are_not_dates(dates, text: str) -> None:  # type: ignore[no-untyped-def]
    assert _date_spans(dates, text) == []


def test_gc_frozen_leaves_a_callers_freeze_alone() -> None:
    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with _gc_frozen():
            pass
        assert gc.get_freeze_count() == count  # not unfrozen by the inner run
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0

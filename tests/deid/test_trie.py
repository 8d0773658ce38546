"""The prefix-tree alternation matches exactly its words, longest first."""

from __future__ import annotations

import re

import pytest

from guard.deid._trie import word_alternation
from guard.deid.recognizers import _MONTHS, _WEEKDAYS

WORDS = ["jan", "january", "june", "mar", "march", "marzo", "ma", "rabi al-awwal", "sha'ban", "märz", "μαΐου"]


def test_it_matches_each_word_and_nothing_else():
    rx = re.compile(word_alternation(WORDS))
    for w in WORDS:
        assert rx.fullmatch(w), w
    for not_a_word in ["", "j", "janu", "marc", "marzos", "rabi", "m", "junes", "mayo"]:
        assert not rx.fullmatch(not_a_word), not_a_word


def test_the_longer_of_two_words_sharing_a_prefix_is_tried_first():
    rx = re.compile(word_alternation(WORDS))
    assert rx.match("january 5").group() == "january"
    assert rx.match("marzo de 2020").group() == "marzo"
    assert rx.match("mar 5").group() == "mar"


@pytest.mark.parametrize("table", [_MONTHS, _WEEKDAYS], ids=["months", "weekdays"])
def test_the_date_tables_find_what_their_plain_alternation_finds(table):
    words = table.split("|")
    tree = re.compile(rf"(?<!\w){word_alternation(words)}(?!\w)", re.I)
    plain = re.compile(rf"(?<!\w)(?:{'|'.join(sorted(set(words), key=len, reverse=True))})(?!\w)", re.I)
    text = " ".join(w.upper() if i % 3 == 0 else w for i, w in enumerate(words)) + " marchy jan. 3 Juni, Μαΐου"
    assert [m.span() for m in tree.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert len(list(tree.finditer(text))) >= len(set(words))

"""A regex alternation of many words written as a prefix tree.

`(?:january|february|...)` with 250 words makes the regex engine try every word at
every position it reaches; `(?:j(?:an(?:uary)?|...)|f...)` tries a letter and moves
on. Same words, same matches: where one word is a prefix of another the longer is
tried first (greedy `?`), which is what the surrounding patterns need, as each of
them requires a non-letter after the word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def word_alternation(words: Iterable[str]) -> str:
    """A non-capturing group matching exactly the given literal words."""
    trie: dict = {}  # type: ignore[type-arg]
    for word in words:
        if not word:
            raise ValueError("an empty word in an alternation")
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # the end of a word
    return f"(?:{_emit(trie)})"


def _emit(node: dict) -> str:  # type: ignore[type-arg]
    ends = "" in node
    branches = [re.escape(ch) + _emit(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    if len(branches) == 1:
        return f"(?:{branches[0]})?" if ends else branches[0]
    body = "(?:" + "|".join(branches) + ")"
    return body + "?" if ends else body


__all__ = ["word_alternation"]

"""A list of words inside a negative look-around must end at a word boundary (looking
behind: start at one). Without it a word only has to begin the next word: a unit list
"(?!\\s*(?:cl|sec|min))" after a house number refused "12 Clark Street" and "7 Second
Avenue", and "(?<!(?:ip|fax) )" before a label refused "Membership address:". This reads
every pattern guard's recognizers compile and names the look-arounds that lack it."""

from __future__ import annotations

import importlib
import pkgutil
import re

import regex

import guard.deid
from guard.core.policy import Policy
from guard.deid.detector import Detector

# what may close such a list inside a look-ahead, or open it inside a look-behind
_END = (r"\b", r"(?![\p{L}", r"(?!\p{L}", r"(?!\w", r"(?![\w", r"(?![^\W", "$", r"[ \t]", r"\s", " ", r"\.", ":", "(?=")
_START = (r"\b", r"(?<![\p{L}", r"(?<!\p{L}", r"(?<!\w", r"(?<![\w", "^", r"\s", " ")
# look-arounds whose words are followed by a fixed number of letters (Dutch postcodes
# refuse the letter pairs SA, SD and SS), or that may rightly refuse a longer word
# ("Geburtstagsfeier" is still a birthday; "of services" still says how long a career was)
_ALLOWED = {"(?!SA|SD|SS)", r"(?!Geburtstag|Lebensjahr|Jahr\b)"}


def _scan(p: str, i: int):  # type: ignore[no-untyped-def]
    """(index, character, depth) of each character of p from i on that is neither escaped
    nor inside a character class; depth: the groups open around it (a ")" no longer counts
    its own)."""
    depth, j, in_class = 0, i, False
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        else:
            depth -= c == ")"
            yield j, c, depth
            depth += c == "("
        j += 1


def _group_end(p: str, i: int) -> int:
    """The index of the ")" closing the group that opens at p[i]."""
    return next((j for j, c, d in _scan(p, i) if c == ")" and d == 0), len(p))


def _is_word(alternative: str) -> bool:
    """A plain word of a cased script ("cl", "min", "attn."): a script without case (Chinese
    "円") has no word boundaries to keep."""
    core = alternative.removesuffix(".")
    return core.isalpha() and any(c.isupper() or c.islower() for c in core)


def _continuation(body: str, j: int) -> str:
    """What follows a group that closes at body[j - 1], past the ends of the groups around
    it and past the other alternatives of the list it is one of."""
    while j < len(body) and body[j] in ")|?*+":
        if body[j] == "|":
            j = next((k for k, c, d in _scan(body, j + 1) if c == ")" and d < 0), len(body))
        else:
            j += 1
    return body[j:]


def _alternatives(body: str) -> list[str]:
    bounds = [-1, *(j for j, c, d in _scan(body, 0) if c == "|" and d == 0), len(body)]
    return [body[a + 1 : b] for a, b in zip(bounds, bounds[1:])]


def offending_lookarounds(pattern: str) -> list[str]:
    """The negative look-arounds of `pattern` holding a word list with no boundary."""
    bad = []
    for m in re.finditer(r"\(\?<?!", pattern):
        behind = m.group() == "(?<!"
        end = _group_end(pattern, m.start())
        whole = pattern[m.start() : end + 1]
        body = pattern[m.end() : end]
        # the body itself, and each group inside it, as (alternatives, text before, text after)
        lists = [(_alternatives(body), "", "")]
        for g in re.finditer(r"\(\?[a-zA-Z-]*:", body):
            g_end = _group_end(body, g.start())
            lists.append((_alternatives(body[g.end() : g_end]), body[: g.start()], _continuation(body, g_end + 1)))
        for alts, before, after in lists:
            words = [a for a in alts if _is_word(a)]
            if len(words) < 2 or whole in _ALLOWED:
                continue
            if behind:
                closed = any(s in before[-30:] for s in _START)
            else:
                closed = after.startswith(_END)
            if not closed:
                bad.append(whole[:120])
                break
    return bad


def _patterns(obj: object, seen: set[int], depth: int = 0):  # type: ignore[no-untyped-def]
    """Every pattern (compiled or as text) reachable from guard's own objects."""
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    if isinstance(obj, (re.Pattern, regex.Pattern)):
        yield obj.pattern
    elif isinstance(obj, str):
        if "(?" in obj:
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _patterns(v, seen, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _patterns(v, seen, depth + 1)
    elif type(obj).__module__.startswith("guard."):
        for v in getattr(obj, "__dict__", {}).values():
            yield from _patterns(v, seen, depth + 1)
        for name in getattr(type(obj), "__slots__", ()):
            yield from _patterns(getattr(obj, name, None), seen, depth + 1)


def _guard_patterns() -> set[str]:
    seen: set[int] = set()
    found = set(_patterns(Detector(Policy()), seen))
    for info in pkgutil.iter_modules(guard.deid.__path__):
        module = importlib.import_module(f"guard.deid.{info.name}")
        for value in vars(module).values():
            found.update(_patterns(value, seen))
    return found


def test_the_check_finds_the_slips_it_was_written_for() -> None:
    assert offending_lookarounds(r"\d+(?![ \t]?(?i:kg|cl|min|m\b))")
    assert offending_lookarounds(r"(?<!(?i:ip|fax)[ \t])address:")
    assert not offending_lookarounds(r"\d+(?![ \t]?(?i:kg|cl|min)(?![\p{L}]))")
    assert not offending_lookarounds(r"(?<!(?<![\p{L}])(?i:ip|fax)[ \t])address:")


def test_no_negative_lookaround_lets_a_word_list_match_the_start_of_a_longer_word() -> None:
    patterns = _guard_patterns()
    assert len(patterns) > 150  # the walk reached the recognizers
    bad = sorted({b for p in patterns for b in offending_lookarounds(p)})
    assert bad == []

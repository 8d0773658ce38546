"""Per-text measurements for the corpus profile: control characters, encoding oddities
and the language. Counts and codes only; no text leaves these functions."""

from __future__ import annotations

import functools
import re
import unicodedata
from enum import StrEnum
from typing import Any

from guard.core.errors import DependencyError


class Oddity(StrEnum):
    """What `oddities` looks for in one text. The first five are control characters
    (`CONTROL`): they break tokenizers, CSV/terminal output or UTF-8 writers."""

    nul = "nul"  # U+0000
    c0 = "c0"  # other C0 controls and DEL (tab, newline and carriage return are allowed)
    c1 = "c1"  # U+0080-U+009F: usually cp1252 text decoded as latin-1
    lone_surrogate = "lone_surrogate"  # U+D800-U+DFFF unpaired (from a JSON \\ud800 escape); UTF-8 cannot write it
    replacement = "replacement"  # U+FFFD: bytes lost in an earlier decode
    invisible = "invisible"  # zero-width, soft hyphen, BOM, bidi controls (category Cf)
    not_nfc = "not_nfc"  # not in Unicode NFC: the same word can be two byte strings


CONTROL = frozenset({Oddity.nul, Oddity.c0, Oddity.c1, Oddity.lone_surrogate, Oddity.replacement})

_PATTERNS: dict[Oddity, re.Pattern[str]] = {
    Oddity.nul: re.compile("\x00"),
    Oddity.c0: re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]"),
    Oddity.c1: re.compile("[\x80-\x9f]"),
    Oddity.lone_surrogate: re.compile("[\ud800-\udfff]"),
    Oddity.replacement: re.compile("\ufffd"),
    Oddity.invisible: re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"),
}


def oddities(text: str) -> list[Oddity]:
    """The kinds of oddity present in `text` (each at most once)."""
    found = [kind for kind, pattern in _PATTERNS.items() if pattern.search(text)]
    if not text.isascii() and Oddity.lone_surrogate not in found and not unicodedata.is_normalized("NFC", text):
        found.append(Oddity.not_nfc)
    return found


# The language rule: a text with fewer letters than this, or whose best language has a
# probability below MIN_CONFIDENCE, is "und" (undetermined): langid guesses wildly on short text.
MIN_LETTERS = 20
MIN_CONFIDENCE = 0.5
LANG_CHARS = 2000  # only the start of a long text is classified (speed; the language rarely changes)
UNDETERMINED = "und"
_LETTER = re.compile(r"[^\W\d_]")
LANGUAGE_RULE = (
    f"py3langid (naive Bayes over byte n-grams, 97 languages) on the first {LANG_CHARS} characters of the text "
    f"fields joined; '{UNDETERMINED}' when the text has fewer than {MIN_LETTERS} letters or the best language's "
    f"normalised probability is below {MIN_CONFIDENCE}"
)


@functools.cache
def _identifier() -> Any:
    """py3langid's identifier with normalised probabilities, loaded once per process (3 s: an
    xz-compressed model that ships in the wheel; nothing is downloaded)."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as e:
        raise DependencyError(
            "guard profile's language mix needs py3langid", hint="pip install 'py3langid==0.4.0'"
        ) from e
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageId:
    """Classifies one text by LANGUAGE_RULE."""

    def __init__(self) -> None:
        self._identifier = _identifier()

    def __call__(self, text: str) -> str:
        """An ISO 639-1 code, or "und" (see LANGUAGE_RULE)."""
        head = text[:LANG_CHARS]
        if len(_LETTER.findall(head)) < MIN_LETTERS:
            return UNDETERMINED
        head = head.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates cannot be encoded
        lang, confidence = self._identifier.classify(head)
        return str(lang) if confidence >= MIN_CONFIDENCE else UNDETERMINED


def py3langid_version() -> str:
    try:
        import py3langid

        return str(py3langid.__version__)
    except ImportError:
        return "not installed"


__all__ = ["CONTROL", "LANGUAGE_RULE", "UNDETERMINED", "LanguageId", "Oddity", "oddities", "py3langid_version"]

"""Precision rules: the only places where guard does not act on (part of) a span that
plain Presidio flags.

guard keeps every detection of Presidio's default recognizers (see
`guard.deid.detector`) except the narrow classes below, each a known false alarm of
Presidio's defaults on the small English spaCy model:

- `not_a_calendar_date`: a duration, frequency or relative time tagged DATE_TIME
  ("two weeks", "4 minutes 30 seconds", "daily", "this afternoon"), or a version
  number read as a date ("version 4.2.17");
- `non_name_words`: the words of a spaCy PERSON, LOCATION or NRP span that cannot be
  part of a name: form words ("Card", "Order"), amounts and currencies ("Tk 7,412.50"),
  and, in a span of five or more words most of which are lower-case everyday words of
  25 languages, those words ("el primer lugar del concurso", a Spanish sentence the
  English model reads as a name; never in places); every other word is kept, and the
  span is split at line breaks;
- `short_licence_code`: Presidio's weak US licence pattern on one to four characters
  ("Q3", "x10") with no licence word before it.

A rule never drops a whole recognizer and never touches guard's own detections.
`bench/deid_eval.py` prints, for every evaluation set, what each rule removed and how
much of it was part of a labelled value that nothing else covered (it must be none),
and the recall-first test (tests/deid/test_recall_first.py) fails otherwise. A policy
can switch rules off (`[detect] precision_rules = []` keeps every Presidio span whole).

    >>> from guard.deid.precision import precision_rule_names
    >>> precision_rule_names()
    ['non_name_words', 'not_a_calendar_date', 'short_licence_code']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from guard.core.errors import PolicyError
from guard.core.registry import Registry

Span = tuple[int, int]


@dataclass(frozen=True)
class PrecisionRule:
    name: str
    recognizers: frozenset[str]  # the Presidio recognizers whose results it may cut
    entities: frozenset[str]
    reason: str
    keep: Callable[[str, int, int, str], list[Span]]  # (text, start, end, entity) -> parts kept


# --- DATE_TIME that is no calendar date --------------------------------------------------

_NUMBER_WORD = (
    r"\d+(?:[.,]\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|hundred|several|few|many|"
    r"couple(?:\s+of)?|some|half(?:\s+an?)?|a\s+few|a\s+couple\s+of"
)
_UNIT = (
    r"(?:(?:business|working|calendar|school|week|consecutive|full)\s+)?"
    r"(?:second|sec|minute|min|hour|hr|day|night|week|weekend|fortnight|month|year|yr|decade|semester|quarter)s?"
)
_AMOUNT = rf"(?:(?:{_NUMBER_WORD})(?:\s*(?:-|–|—|to|or|and|plus)\s*(?:{_NUMBER_WORD}))?[\s-]*)?{_UNIT}"
_DURATION = re.compile(
    rf"(?i)^(?:(?:the|a|an|about|over|almost|nearly|around|approximately|approx\.?|another|each|every|per|for|"
    rf"within|past|last|next|first|previous|following|coming|recent|few|several|couple\s+of|up\s+to|at\s+least|"
    rf"more\s+than|less\s+than|under|between|after|before)\s+)*"
    rf"{_AMOUNT}(?:\s*(?:,|and|plus|&)?\s*{_AMOUNT})*"
    rf"(?:\s+(?:ago|later|earlier|before|after|long|prior|from\s+now|or\s+so|in\s+a\s+row|old\s+data))?$"
)
_RELATIVE = re.compile(
    r"(?i)^(?:daily|weekly|monthly|yearly|annually|annual|nightly|hourly|quarterly|biweekly|fortnightly|overnight|"
    r"today|tonight|tomorrow|yesterday|now|currently|recently|lately|nowadays|q[1-4]|"
    r"(?:(?:this|that|the|every|each|all|last|next|tomorrow|yesterday|same|one|early|late|mid|end\s+of\s+the|"
    r"the\s+end\s+of\s+the|start\s+of\s+the|beginning\s+of\s+the|rest\s+of\s+the)\s+)*"
    r"(?:morning|afternoon|evening|night|day|week|month|year|weekend|season|spring|summer|autumn|fall|winter|"
    r"quarter)s?(?:\s+(?:before|after))?)$"
)
# A span followed by "old" is an age ("3 years old"), which is kept.
_OLD_AFTER = re.compile(r"(?i)^[\s-]*(?:old|of\s+age)\b")
_BARE_YEARS = re.compile(r"(?i)^\d{1,3}\s*(?:years?|yrs?)$")
_VERSION_BEFORE = re.compile(r"(?i)\b(?:version|ver\.?|v|release|build|firmware|fw|rev\.?|revision|update)\s*$")


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'(")
    return not before or before[-1] in ".!?:;\n-•*"


def _not_a_calendar_date(text: str, start: int, end: int, entity: str) -> list[Span]:
    value = text[start:end].strip()
    if _OLD_AFTER.match(text[end : end + 12]):
        return [(start, end)]
    if value[:1].isupper() and not _sentence_start(text, start):
        return [(start, end)]  # "Summer", "Dawn" mid-sentence: more likely a name
    if _BARE_YEARS.match(value):
        return [(start, end)]  # "62 years" may be an age
    if _DURATION.match(value) or _RELATIVE.match(value):
        return []
    if re.fullmatch(r"\d+(?:\.\d+){2,3}", value) and _VERSION_BEFORE.search(text[max(0, start - 12) : start]):
        return []
    return [(start, end)]


# --- the words of a name/place span that cannot be a name -----------------------------------

_FORM_WORDS = frozenset(
    """card order batch ref reference invoice ticket item sku qty quantity lot serial part code no number num id
    nr account acct balance total amount subtotal due paid payment ssn mrn dob phone fax email e-mail mobile
    cell address name date subject re fwd fw cc bcc attn impression allergies summary report notes history
    diagnosis dx rx assessment findings results priority vehicle reg registration room ward bed dept department
    version ver build release section fig form landlord tenant customer client patient applicant employee birth
    sex gender nationality discharge admission referral consult consultation progress triage operative
    procedure pathology radiology imaging vitals medications meds""".split()
)
# Amounts and currencies inside a "name" ("Balance Tk 7,412.50"): never part of a name or an address.
_MONEY = re.compile(
    r"^(?:\d{1,3}(?:[.,\s]\d{3})*[.,]\d{2}|[$€£¥₹₽₩₺]|tk|rm|rs|usd|eur|gbp|chf|sek|nok|dkk|pln|czk|huf|inr|jpy|"
    r"r\$|s/|kr|kč|zł|ft|lei|aed|sar|egp|ngn|kes|zar|php|idr|thb|vnd|krw|cny|twd|hkd|sgd|myr)$",
    re.I,
)
# Weekdays and months of the evaluation sets' languages: part of a date, never cut.
_CALENDAR = frozenset(
    """lundi mardi mercredi jeudi vendredi samedi dimanche janvier février fevrier mars avril mai juin juillet août
    aout septembre octobre novembre décembre decembre lunes martes miércoles miercoles jueves viernes sábado sabado
    domingo enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
    segunda terça terca quarta quinta sexta janeiro fevereiro março marco maio junho julho setembro outubro
    novembro dezembro montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz marz juni
    juli oktober dezember lunedì martedì mercoledì giovedì venerdì gennaio febbraio aprile maggio giugno luglio
    settembre ottobre maandag dinsdag woensdag donderdag vrijdag zaterdag zondag januari februari maart mei juli
    augustus oktober måndag tisdag onsdag torsdag fredag lördag söndag mandag tirsdag lørdag søndag maanantai
    tiistai keskiviikko torstai perjantai lauantai sunnuntai tammikuu helmikuu maaliskuu huhtikuu toukokuu
    kesäkuu heinäkuu elokuu syyskuu lokakuu marraskuu joulukuu""".split()
)
_TOKEN = re.compile(r"[^\s;:()\[\]/]+")
_NAME_PARTICLES = frozenset(
    "van von der den de da do di del della dos das du la las le los y e i bin binti ibn al el ben mac".split()
)


def _keep_name_words(text: str, start: int, end: int, entity: str) -> list[Span]:
    """The runs of name-like words of a spaCy span, split at line breaks. Lower-case
    everyday words are cut only from a span of five or more words, most of them such (a
    misread sentence: a name never is one), never from a place."""
    from guard.deid.names import lexicon

    lex = lexicon()
    words = lex.words
    tokens = []
    for m in _TOKEN.finditer(text, start, end):
        core = m.group().strip(".,'\"!?-#*")
        if core:
            a = m.start() + m.group().find(core[0])
            tokens.append((a, a + len(core), core))
    everyday = sum(t.islower() and t in words for _, _, t in tokens)
    sentence = entity != "LOCATION" and len(tokens) >= 5 and everyday >= 4 and 2 * everyday > len(tokens)
    out: list[Span] = []
    run: list[tuple[int, int, str]] = []
    cut_any = False

    def close() -> None:
        while sentence and run and run[-1][2] in _NAME_PARTICLES:
            run.pop()
        # what is left of a cut span must still hold something name-like ("of" alone does not)
        leftover = cut_any and entity != "LOCATION"
        if run and not (
            leftover and all(t.islower() and t in words and t not in lex.first and t not in lex.last for _, _, t in run)
        ):
            out.append((run[0][0], run[-1][1]))
        run.clear()

    # A form word that is also a name ("Ward", "Card") is cut only when nothing in the
    # span looks like a name besides form words.
    only_form = all(t.lower() in _FORM_WORDS or any(c.isdigit() for c in t) for _, _, t in tokens)
    for a, b, core in tokens:
        if run and "\n" in text[run[-1][1] : a]:
            close()
        low = core.lower()
        form = (
            entity != "LOCATION"
            and low in _FORM_WORDS
            and (only_form or (low not in lex.first and low not in lex.last))
        )
        form = form or bool(_MONEY.match(core))
        everyday = sentence and core.islower() and low in words and low not in lex.first and low not in _CALENDAR
        if form or everyday:
            cut_any = True
            close()
        else:
            run.append((a, b, core))
    close()
    return out


# --- one- to four-character licence "numbers" --------------------------------------------

_LICENCE_CONTEXT = re.compile(r"(?i)\b(?:licen[cs]e|DL|driver|driving|permit)\b")


def _short_licence_code(text: str, start: int, end: int, entity: str) -> list[Span]:
    glued = text[end : end + 1] in ("-", "/") or text[max(0, start - 1) : start] in ("-", "/")
    if end - start <= 4 and not glued and not _LICENCE_CONTEXT.search(text[max(0, start - 40) : start]):
        return []  # (a short code glued to a longer one, "B2-1507", may be part of an address)
    return [(start, end)]


PRECISION_RULES: Registry[PrecisionRule] = Registry("precision rule", error=PolicyError)


def register_precision_rule(rule: PrecisionRule) -> PrecisionRule:
    return PRECISION_RULES.register(rule.name, rule)


register_precision_rule(
    PrecisionRule(
        "not_a_calendar_date",
        frozenset({"SpacyRecognizer", "DateRecognizer"}),
        frozenset({"DATE_TIME"}),
        "DATE_TIME that is a duration, frequency or relative time with no calendar anchor ('two weeks', 'daily', "
        "'this afternoon'; kept when followed by 'old', an age), or a version number ('version 4.2.17')",
        _not_a_calendar_date,
    )
)
register_precision_rule(
    PrecisionRule(
        "non_name_words",
        frozenset({"SpacyRecognizer"}),
        frozenset({"PERSON", "LOCATION", "NRP"}),
        "words of a spaCy PERSON/LOCATION/NRP span that cannot be a name: form words, amounts; in a span of five "
        "or more words, mostly lower-case everyday words of 25 languages, those words (never in places); the span "
        "is split at line breaks",
        _keep_name_words,
    )
)
register_precision_rule(
    PrecisionRule(
        "short_licence_code",
        frozenset({"UsLicenseRecognizer"}),
        frozenset({"US_DRIVER_LICENSE"}),
        "Presidio's weak US licence pattern on 1-4 characters ('Q3', 'x10') with no licence word before it",
        _short_licence_code,
    )
)


def precision_rule_names() -> list[str]:
    return PRECISION_RULES.names()


def resolve_rules(names: tuple[str, ...] | None, *, source: str = "<policy>") -> tuple[PrecisionRule, ...]:
    """The rules a policy turns on (None: all registered)."""
    if names is None:
        return tuple(rule for _, rule in PRECISION_RULES.items())
    unknown = sorted(set(names) - set(PRECISION_RULES.names()))
    if unknown:
        raise PolicyError(
            f"{source}: [detect] precision_rules: unknown rule(s) {unknown}", hint=f"known: {precision_rule_names()}"
        )
    return tuple(PRECISION_RULES.get(n) for n in names)


def apply_rules(
    rules: tuple[PrecisionRule, ...], text: str, recognizer: str, entity: str, start: int, end: int
) -> tuple[list[Span], list[tuple[Span, str]]]:
    """(parts of the detection kept, [(part removed, rule name)])."""
    kept: list[Span] = [(start, end)]
    removed: list[tuple[Span, str]] = []
    for rule in rules:
        if recognizer not in rule.recognizers or entity not in rule.entities:
            continue
        parts: list[Span] = []
        for a, b in kept:
            now = [(x, y) for x, y in rule.keep(text, a, b, entity) if y > x]
            parts.extend(now)
            cursor = a
            for x, y in sorted(now) + [(b, b)]:
                if x > cursor and text[cursor:x].strip():
                    removed.append(((cursor, x), rule.name))
                cursor = max(cursor, y)
        kept = parts
    return kept, removed


__all__ = [
    "PRECISION_RULES",
    "PrecisionRule",
    "apply_rules",
    "precision_rule_names",
    "register_precision_rule",
    "resolve_rules",
]

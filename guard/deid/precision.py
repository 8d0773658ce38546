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
  ("Q3", "x10") with no licence word before it (kept after a unit or building word:
  "flat 4B", "Tower A3"; and inside a longer code: "B2-1507", "XB.12.K4.55031");
- `time_or_amount`: a time of day alone ("6pm", "08:30-16:30"; kept right after a date,
  a weekday or a day number, or with a year, month or weekday a few words before or after
  it) or an amount of money ("S/ 63.00") that spaCy tags DATE_TIME;
- `everyday_words_as_names`: the words of a spaCy PERSON span that no locale of the name
  lexicon uses as a name, when the span has no capital in a text written with capitals
  ("al fútbol", "hielo"), or, in such a text, lower-case everyday words of four or more
  letters inside a span with capitals ("Término de contrato de alquiler"; not a month or
  weekday, not next to a number), or is a form label before a colon ("Fecha de emisión:",
  "Salary:"; never the first words of a text, which name its sender); and a field label
  that guard's own recognizers read, before its colon ("Remitente:", "DNI:"), unless a
  locale uses it as a name and it is not in capitals (a chat speaker "Nik:").

A rule never drops a whole recognizer and never touches guard's own detections.
`bench/deid_eval.py` prints, for every evaluation set, what each rule removed and how
much of it was part of a labelled value that nothing else covered (it must be none),
and the recall-first test (tests/deid/test_recall_first.py) fails otherwise. A policy
can switch rules off (`[detect] precision_rules = []` keeps every Presidio span whole).

    >>> from guard.deid.precision import precision_rule_names
    >>> precision_rule_names()
    ['everyday_words_as_names', 'non_name_words', 'not_a_calendar_date', 'short_licence_code', 'time_or_amount']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import regex

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


# --- times of day, amounts and codes that spaCy calls DATE_TIME ------------------------------

_CLOCK = r"\d{1,2}(?:[:.]\d{2}){0,2}(?:\s?[ap]\.?\s?m\b\.?)?"
_TIME_OF_DAY = re.compile(
    rf"(?i)^(?:(?:at|from|between|by|until|till|before|after|around|about|approx\.?|ca\.?|ab|um|à|a\s+las)\s+)?"
    rf"{_CLOCK}(?:\s*(?:-|–|—|to|and|und|și|y|et|e|och|og|ja|a|bis)\s*{_CLOCK})*(?:\s?(?:hrs?|h|uhr))?$"
)
_TIME_MARK = re.compile(r"(?i)\d[:.]\d{2}|\d\s?[ap]\.?\s?m\b|\d\s?(?:hrs?|h|uhr)$")
_MONTH_OR_DAY = re.compile(
    r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun|today|tomorrow|"
    r"yesterday|tonight)"
)
# a numeric date or a day number just before a time: "18-03-2024, 04:15", "on the 3rd at 9am"
_DATE_BEFORE = re.compile(
    r"\b\d{1,4}[./-]\d{1,2}(?:[./-]\d{2,4})?\b|\b\d{1,2}(?:st|nd|rd|th|\.)?[\s,]*(?:at|um|à|a\s+las)?\s*$"
)
_AMOUNT_ONLY = re.compile(
    r"(?i)^(?:(?:[$€£¥₹₽₩₺]|s/|r\$|rm|rp|tk|kr|kč|zł|ft|lei|usd|eur|gbp|pln|czk|huf|sek|nok|dkk|isk|egp|kes|ngn|jmd|"
    r"zar|inr|myr|idr|php|aed|sar|total|=)\s*)*\d{1,3}(?:[ .,]\d{3})*(?:[.,]\d{2})?"
    r"(?:\s*(?:[$€£¥₹₽₩₺]|s/|kr|kč|zł|ft|lei|usd|eur|gbp|pln|czk|huf|sek|nok|dkk|isk|egp|kes|ngn|jmd|zar|inr|"
    r"myr|idr|php|aed|sar|total))*$"
)


@functools.cache
def _date_words() -> re.Pattern[str]:
    """A year, or a month or weekday name of any language guard's date recognizer reads."""
    from guard.deid.recognizers import _FULL_WEEKDAY, _MONTH

    return re.compile(rf"(?i)\b(?:19|20)\d\d\b|(?<!\w)(?:{_MONTH}|{_FULL_WEEKDAY})(?!\w)")


def _date_near(text: str, start: int, end: int) -> bool:
    """A date written within a few words of a time, before or after it ("7. März 2026,
    um 09:40", "at 3pm on Friday 6 June"): the time belongs to that date."""
    return _date_words().search(text[max(0, start - 25) : start] + " " + text[end : end + 25]) is not None


def _not_a_date_time(text: str, start: int, end: int, entity: str) -> list[Span]:
    """A time of day alone or an amount of money that spaCy tags DATE_TIME: neither is a
    calendar date (tests/data/DEID_LABELS.md). A time stays when a date, weekday or digit
    (numeric, or a day number) stands just before it (a date with a time is one value), an amount when it has no
    currency or decimals. (Bare digit runs stay: spaCy's "dates" there are often parts of
    phones, postcodes, identifiers or old years.)"""
    value = text[start:end].strip()
    before = text[max(0, start - 20) : start]
    if _TIME_OF_DAY.match(value) and _TIME_MARK.search(value):
        dated = _DATE_BEFORE.search(before) or _MONTH_OR_DAY.search(before) or _date_near(text, start, end)
        return [(start, end)] if dated else []
    if _AMOUNT_ONLY.match(value) and re.search(r"[.,]\d{2}$|[^\d\s.,]", value):
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


# --- everyday words that spaCy calls a person ------------------------------------------------


@functools.cache
def _raw_names() -> frozenset[str]:
    """Every given name and surname of the lexicon, the ones that are also street or form
    words ("Lane", "Park", "Ward") included: a word any locale uses as a name is never cut."""
    from importlib import resources

    data = resources.files("guard.deid").joinpath("data")
    return frozenset(
        w for name in ("names_first.txt", "names_last.txt") for w in data.joinpath(name).read_text("utf-8").split()
    )


@functools.cache
def _everyday() -> frozenset[str]:
    from guard.deid.names import english_dictionary, lexicon

    lex = lexicon()
    return lex.words | lex.foreign | english_dictionary()


@functools.lru_cache(maxsize=8)
def _cased_text(text: str) -> bool:
    """Written with capitals: most lines and sentences start with one (lower-case chat, where
    a lower-case word may well be a name, does not). Kept for the last few texts: it is asked
    once per name found, and reading the whole text each time was quadratic."""
    starts = regex.findall(r"(?:^|[\n.!?]\s+)[\"'(«“]?(\p{L})", text)
    upper = sum(c.isupper() for c in starts)
    return upper > 0 and upper >= 3 * (len(starts) - upper)


_LABEL_AFTER = re.compile(r"\s*(?:no\.?|nr\.?|n[º°o]\.?|#)?\s*\.?:(?!//)", re.I)


@functools.cache
def _field_label() -> regex.Pattern[str]:
    """The field labels guard's own recognizers read (identifier, name and phone labels, and
    a few generic form words): before a colon such a word labels a field, it names no one."""
    from guard.deid.identifiers import LABELS
    from guard.deid.names import _NAME_LABELS

    generic = (
        r"tel|telf|tfno|tlf|cel|cell|celular|movil|móvil|mobile|contacto|contato|kontakt|fecha|tanggal|ngày|"
        r"tipo|type|registro|c[óo]digo|kod|password|passwort|senha|contrase[ñn]a|driver|hakija|grado|precio|"
        r"alamat|direcci[óo]n|endere[çc]o|adresse|indirizzo|email|e-mail|correo|fax|sexo|sex|gender"
    )
    return regex.compile(rf"(?:{generic}|{_NAME_LABELS}|{'|'.join(LABELS.values())})", regex.I)


def _keep_unless_everyday(text: str, start: int, end: int, entity: str) -> list[Span]:
    """The words of a spaCy PERSON span that may be a name. A word that no locale of the name
    lexicon uses as a name is cut when the span has no capitalised word in a text written
    with capitals ("al fútbol", "hielo": there a name is capitalised), a lower-case everyday word
    of four or more letters in such a text also beside capitalised words ("Término de contrato de
    alquiler"; not a month or weekday, nor next to a number), or when the span is a form label,
    one capitalised everyday word and lower-case words before a colon ("Fecha de emisión:",
    "Salary:", "Tel.:"), not at the very start of the text (there it names a sender). Codes with digits, initials and particles between kept words stay;
    every other word is kept, and the span is split at line breaks."""
    names, everyday = _raw_names(), _everyday()
    cased = _cased_text(text)
    tokens = []
    for m in _TOKEN.finditer(text, start, end):
        core = m.group().strip(".,'\"!?-#*=")
        if core:
            a = m.start() + m.group().find(core[0])
            tokens.append((a, a + len(core), core))
    before_colon = _LABEL_AFTER.match(text, end) is not None
    label = (
        bool(tokens)
        and text[:start].strip() != ""  # the first words of a text before a colon name its sender ("Correo:")
        and before_colon
        and tokens[0][2][:1].isupper()
        and all(t.islower() for _, _, t in tokens[1:])
        and all(t.lower() in everyday for _, _, t in tokens)
    )

    # no capitalised word at all: in a text written with capitals that is no name ("su", "al fútbol")
    lower_span = all(t.islower() or not any(c.isalpha() for c in t) for _, _, t in tokens)

    digit = [any(c.isdigit() for c in t) for _, _, t in tokens]

    def cut(i: int) -> bool:
        core = tokens[i][2]
        low = core.lower()
        if len(core) < 2 or any(c.isdigit() for c in core) or low in names or low in _NAME_PARTICLES:
            return False
        if label or (cased and lower_span):
            return True
        # in a text written with capitals, a lower-case everyday word of four or more letters is
        # no part of a name either when the span has capitals ("Término de contrato de alquiler");
        # a month or weekday, or a word next to a number, may be part of a date the span ran into
        # (a span before a colon is left to the label rules: "Código de reserva:")
        beside_number = (i > 0 and digit[i - 1]) or (i + 1 < len(tokens) and digit[i + 1])
        return (
            cased
            and not before_colon
            and not beside_number
            and len(core) > 3
            and core.islower()
            and low in everyday
            and not _date_words().fullmatch(core)
        )

    flags = [cut(i) for i in range(len(tokens))]
    # a particle stays unless every word beside it in the span is cut ("Marta L. de Acosta")
    words = [i for i, (_, _, c) in enumerate(tokens) if c.lower() not in _NAME_PARTICLES]
    for i, (_, _, core) in enumerate(tokens):
        if core.lower() in _NAME_PARTICLES:
            near = [
                j for j in (max([j for j in words if j < i], default=-1), min([j for j in words if j > i], default=-1))
            ]
            near = [j for j in near if j >= 0]
            # (and a name never ends in one: "Solicitud de [cambio]")
            flags[i] = bool(near) and (all(flags[j] for j in near) or near[-1] > i and flags[near[-1]])
    out: list[Span] = []
    run: list[tuple[int, int, str]] = []
    for tok, flag in zip(tokens, flags):
        if run and (flag or "\n" in text[run[-1][1] : tok[0]]):
            out.append((run[0][0], run[-1][1]))
            run = []
        if not flag:
            run.append(tok)
    if run:
        out.append((run[0][0], run[-1][1]))
    # a field label guard's recognizers know, before its colon ("Remitente:", "DNI:"), unless a
    # locale uses the word as a name (a chat speaker "Nik:") and it is not written in capitals
    return [
        (a, b)
        for a, b in out
        if not (
            _LABEL_AFTER.match(text, b)
            and _field_label().fullmatch(text[a:b])
            and (text[a:b].isupper() or text[a:b].lower() not in names)
        )
    ]


# --- one- to four-character licence "numbers" --------------------------------------------

_LICENCE_CONTEXT = re.compile(r"(?i)\b(?:licen[cs]e|DL|driver|driving|permit)\b")


# a unit, flat or house word just before a short code makes it part of an address ("flat 4B")
_UNIT_BEFORE = re.compile(
    r"(?i)\b(?:apt|apartment|unit|suite|ste|flat|room|rm|floor|fl|level|house|no|nr|n[º°o]|lot|plot|block|blk|villa|"
    r"piso|dpto|depto|dto|apto|ap|casa|int|interior|puerta|lgh|leil|lejl|whg|top|stiege|kv|daire|kat|app|appt|bus|bte|"
    r"porte|étage|etage|andar|sala|loja|lok|byt|"
    # buildings, towers, wings, staircases and stalls of a block or market
    r"tower|torre|tour|wing|building|bldg|bld|b[aâ]t|b[aâ]timent|edificio|edif|geb[aä]ude|geb|bloque|bloco|blok|bl|"
    r"escalera|esc|portal|entrada|stair|staircase|opgang|trappe|stall|shop|kiosk|booth|stand|bay|pavilion|pabell[oó]n)"
    r"\.?\s*#?\s*$"
)
_DOTTED = re.compile(r"[^\W_]\.")
_DOTTED_AFTER = re.compile(r"\.[^\W_]")


def _short_licence_code(text: str, start: int, end: int, entity: str) -> list[Span]:
    glued = text[end : end + 1] in ("-", "/") or text[max(0, start - 1) : start] in ("-", "/")
    # a segment between dots inside a longer code ("XB.12.K4.55031") is part of it; a dot on one
    # side only is a sentence end or a decimal ("in Q3.", "Q396.00")
    glued = glued or (
        start >= 2 and _DOTTED.match(text, start - 2) is not None and _DOTTED_AFTER.match(text, end) is not None
    )
    if _UNIT_BEFORE.search(text[max(0, start - 14) : start]):
        return [(start, end)]
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
        "time_or_amount",
        frozenset({"SpacyRecognizer"}),
        frozenset({"DATE_TIME"}),
        "spaCy DATE_TIME on a time of day alone ('6pm', '08:30-16:30'; kept after a date, weekday or number) or "
        "an amount of money ('S/ 63.00')",
        _not_a_date_time,
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
        "everyday_words_as_names",
        frozenset({"SpacyRecognizer"}),
        frozenset({"PERSON"}),
        "words of a spaCy PERSON span that no locale of the name lexicon uses as a name: a span with no "
        "capital in a text written with capitals ('al fútbol', 'hielo') and such lower-case words of 4+ letters in a "
        "span with capitals there, form labels before a colon ('Fecha de emisión:', "
        "'Salary:'), and the field labels guard's recognizers read ('Remitente:', 'DNI:')",
        _keep_unless_everyday,
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

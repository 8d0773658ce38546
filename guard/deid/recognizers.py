"""guard's own recognizers, added to Presidio's predefined ones.

They cover what Presidio's defaults miss with the small spaCy model: street
addresses, postal codes, ages, medical record numbers, driver licence numbers
given with context, phone numbers that `phonenumbers` rejects (555 numbers, UK
drama ranges, extensions), and more evidence for person names (titles, a first-
and last-name lexicon from Faker's locales, and cue words such as "patient",
"wife" or "Dear").

Everything is regex or set lookups over the text, once per document: no loop
over a word list per token. Registered by name:

    >>> from guard.deid.recognizers import recognizer_names, make_recognizer
    >>> "street_address" in recognizer_names()
    True
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from guard.core.errors import PolicyError

# --- a regex recognizer that can report one group ----------------------------------------


def make_result(
    recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float, rule: str
) -> RecognizerResult:
    """A Presidio result carrying the explanation that a context boost writes to."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=recognizer.name, original_score=score, textual_explanation=rule
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
            "rule": rule,
        },
    )


@dataclass(frozen=True)
class Rule:
    """One regex; the match (or its group "v" when present) is the entity."""

    name: str
    regex: str
    score: float
    flags: int = 0


class RegexRecognizer(EntityRecognizer):
    """Like Presidio's PatternRecognizer, but a rule may mark the value with a group
    named "v", so context words ("aged", "MRN:") can be required without being redacted."""

    def __init__(
        self,
        *,
        name: str,
        entity: str,
        rules: Sequence[Rule],
        context: Sequence[str] | None = None,
        validate: Callable[[str], bool] | None = None,
    ) -> None:
        self._rules = [(r, re.compile(r.regex, r.flags)) for r in rules]
        self._validate = validate
        super().__init__(supported_entities=[entity], name=name, context=list(context) if context else None)

    def load(self) -> None:  # nothing to load
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        out: list[RecognizerResult] = []
        for rule, rx in self._rules:
            use_group = "v" in rx.groupindex
            for m in rx.finditer(text):
                start, end = m.span("v") if use_group else m.span()
                if end <= start or (self._validate and not self._validate(text[start:end])):
                    continue
                out.append(self._result(entity, start, end, rule.score, rule.name))
        return out

    def _result(self, entity: str, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        return make_result(self, entity, start, end, score, rule)


# --- street addresses ------------------------------------------------------------------

_SUFFIXES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Way|Place|Pl|Terrace|Ter|Terr|"
    "Parkway|Pkwy|Circle|Cir|Close|Crescent|Cres|Gardens|Gdns|Grove|Mews|Row|Square|Sq|Highway|Hwy|Trail|Trl|"
    "Loop|Alley|Aly|Plaza|Plz|Freeway|Fwy|Expressway|Expy|Pike|Path|Walk|Heights|Hts|Crossing|Xing|Run|Point|Pt|"
    "Ridge|Rdg|Turnpike|Tpke|Causeway|Cswy|Common|Commons|Cove|Cv|Creek|Estates|Glen|Hollow|Landing|Manor|Park|"
    "Pass|Spur|Station|Sta|Summit|Track|Trace|Vale|View|Vw|Villas?|Vista|Wharf|Hill|Hl|Green|Parade|Embankment|"
    "Rise|Wynd|Brae|Quay|Yard|Broadway"
)
_UNIT = r"(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Fl\.?|Floor|Room|Rm\.?|Bldg\.?|Building|#)\s?[A-Za-z0-9-]{1,6}"
_STREET_WORD = r"(?:[A-Z][A-Za-z'’.-]*|\d{1,3}(?:st|nd|rd|th)|[NSEW]\.?)"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|"
    "OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_CITY = r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
_STREET_LINE = (
    rf"(?:(?:Flat|Apartment|Apt\.?|Unit|Suite)\s?[A-Za-z0-9-]{{1,5}},?\s+)?"
    rf"\b\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:{_STREET_WORD}\s+){{1,4}}(?:{_SUFFIXES})\b\.?"
    rf"(?:,?\s{_UNIT}\b)?"
)
_CITY_TAIL = (
    rf"(?:,\s?{_CITY},?\s(?:{_STATES})\b(?:\s\d{{5}}(?:-\d{{4}})?\b)?"  # , City, ST 12345
    rf"|,\s?{_CITY}\s{_UK_POSTCODE}\b"  # , City AB1 2CD
    rf"|,\s?{_CITY}(?=[.;)]|\s*$|,?\s(?:and|or|if|but|I|please)\b))?"  # , City.
)


def street_address() -> RegexRecognizer:
    return RegexRecognizer(
        name="GuardStreetAddressRecognizer",
        entity="STREET_ADDRESS",
        rules=[
            Rule("street_line_city", _STREET_LINE + _CITY_TAIL, 0.85),
            Rule("po_box", r"\b(?i:P\.?\s?O\.?\s?Box)\s\d{1,6}\b", 0.85),
        ],
        context=["address", "lives", "live", "residing", "resides", "street", "home", "mail", "mailing", "billing"],
    )


# --- postal codes ----------------------------------------------------------------------


def postal_code() -> RegexRecognizer:
    return RegexRecognizer(
        name="GuardPostalCodeRecognizer",
        entity="POSTAL_CODE",
        rules=[
            Rule("us_zip_after_state", rf"(?<=\b(?:{_STATES}) )(?P<v>\d{{5}}(?:-\d{{4}})?)\b", 0.6),
            Rule("us_zip_labelled", r"(?i:\b(?:zip|postal|post)\s?(?:code)?\s?[:#]?)\s?(?P<v>\d{5}(?:-\d{4})?)\b", 0.7),
            Rule("us_zip4", r"\b\d{5}-\d{4}\b", 0.4),
            Rule("uk_postcode", rf"\b{_UK_POSTCODE}\b", 0.6),
        ],
        context=["zip", "postcode", "postal", "post code"],
    )


# --- ages ------------------------------------------------------------------------------


def age() -> RegexRecognizer:
    return RegexRecognizer(
        name="GuardAgeRecognizer",
        entity="AGE",
        rules=[
            Rule("n_year_old", r"\b1?\d{1,2}[- ](?:year|yr|month|week|day)s?[- ]old\b", 0.7, re.I),
            Rule("aged_n", r"\b(?i:aged?|age:|age\s?:)\s?(?P<v>1?\d{1,2})\b(?!\s?(?:%|mg|kg|cm|mm|ml))", 0.6),
            Rule("n_yo", r"\b(?P<v>1?\d{1,2})\s?(?i:y/?o|yrs?\.? old|years old)\b", 0.6),
        ],
    )


# --- medical record numbers ------------------------------------------------------------


def medical_record_number() -> RegexRecognizer:
    label = r"(?i:\b(?:MRN|MR#|medical\s+record\s+(?:number|no\.?|#)|record\s+(?:number|no\.?)|chart\s+(?:number|no\.?|#)|patient\s+(?:id|number|no\.?)))"
    return RegexRecognizer(
        name="GuardMedicalRecordNumberRecognizer",
        entity="MEDICAL_RECORD_NUMBER",
        rules=[Rule("labelled_mrn", label + r"\s?[:#]?\s?(?P<v>[A-Z]{0,4}-?\d[\d-]{3,14}\d)\b", 0.85)],
    )


# --- driver licence numbers given with context -----------------------------------------


def driver_license() -> RegexRecognizer:
    label = (
        r"(?i:\b(?:driver'?s?|driving)\s+licen[cs]e(?:\s+(?:number|no\.?|num|#))?(?:\s+is)?"
        r"|\bDL\s?(?:number|no\.?|#)|\bDL\b|\blicen[cs]e\s+(?:number|no\.?|#))"
    )
    value = r"(?P<v>(?=[A-Z0-9-]*\d)[A-Z]{0,6}\d[A-Z\d]{1,15}(?:[ -](?=[A-Z]*\d)[A-Z\d]{1,6}){0,4})\b"
    return RegexRecognizer(
        name="GuardDriverLicenseRecognizer",
        entity="US_DRIVER_LICENSE",
        rules=[Rule("licence_with_label", label + r"\s?[:#]?\s?" + value, 0.85)],
    )


# --- phone numbers phonenumbers rejects ------------------------------------------------

_EXT = r"(?:\s?(?:ext\.?|extension|x)\s?\d{1,5})?"


def _digits_between(lo: int, hi: int) -> Callable[[str], bool]:
    def ok(value: str) -> bool:
        n = sum(c.isdigit() for c in value)
        return lo <= n <= hi

    return ok


def phone_number() -> RegexRecognizer:
    return RegexRecognizer(
        name="GuardPhoneRecognizer",
        entity="PHONE_NUMBER",
        rules=[
            # NANP, 555 numbers included: (212) 555-0147, 212.555.0147, +1-212-555-0147 x12
            Rule(
                "nanp",
                r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)" + _EXT + r"\b",
                0.75,
            ),
            # international: +44 20 7946 0958, +44 (0)161 496 0123, +33 1 42 68 53 00
            Rule("intl", r"(?<![\w+])\+\d{1,3}(?:\s?\(0\))?(?:[\s.-]?\d{1,5}){2,6}(?!\d)" + _EXT, 0.75),
            # UK national: 020 7946 0958, 07700 900123, 0113 496 0123
            Rule("uk_national", r"(?<![\w+])0\d{2,4}\s\d{3,4}\s?\d{3,4}(?!\d)" + _EXT, 0.6),
            # NANP without separators (6145550199): could be an account number, but a
            # leaked phone costs more than a redacted account number, so it acts at
            # the default threshold; a context word lifts it further.
            Rule("nanp_bare", r"(?<![\w+.-])(?:\+?1)?[2-9]\d{2}[2-9]\d{6}(?![\w-])", 0.4),
        ],
        context=["phone", "tel", "telephone", "mobile", "cell", "call", "number", "contact", "fax", "text", "reach"],
        validate=_digits_between(10, 16),
    )


# --- payment card numbers Presidio's regex misses (2-series Mastercard, odd grouping) ----


def _luhn(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def credit_card() -> RegexRecognizer:
    return RegexRecognizer(
        name="GuardCreditCardRecognizer",
        entity="CREDIT_CARD",
        rules=[
            Rule(
                "card_grouped",
                r"(?<![\d-])(?:[2-6]\d{3}[ -]\d{4}[ -]\d{4}[ -]\d{1,7}|3[47]\d{2}[ -]\d{6}[ -]\d{5})(?![\d-])",
                0.9,
            ),
            Rule("card_plain", r"(?<![\d-])[2-6]\d{12,18}(?![\d-])", 0.9),
        ],
        context=["card", "credit", "debit", "visa", "mastercard", "amex", "cc"],
        validate=_luhn,
    )


# --- US social security numbers written without dashes, next to their label -------------


def _valid_ssn(value: str) -> bool:
    d = "".join(c for c in value if c.isdigit())
    return len(d) == 9 and d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def us_ssn() -> RegexRecognizer:
    label = r"(?i:\b(?:SSN|SS#|social\s+security(?:\s+(?:number|no\.?|#))?))"
    return RegexRecognizer(
        name="GuardSsnRecognizer",
        entity="US_SSN",
        rules=[Rule("labelled_ssn", label + r"\s?[:#]?\s?(?P<v>\d{3}[- ]?\d{2}[- ]?\d{4})\b", 0.9)],
        validate=_valid_ssn,
    )


# --- person names ----------------------------------------------------------------------

_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir dame lady lord rev fr sr nurse judge justice officer sgt capt "
    "captain professor doctor madam mister messrs mme mlle herr frau sra sr srta".split()
)
# Words that precede a name: kin, roles, salutations, form labels, chat phrases.
_CUES = frozenset(
    """patient pt named name called son daughter wife husband mother father mom dad brother sister
    aunt uncle niece nephew grandson granddaughter grandmother grandfather partner fiance fiancee spouse
    guardian kin friend neighbour neighbor colleague contact employee applicant cardholder holder client
    customer user admin administrator manager reviewer supervisor witness executor executrix tenant
    landlord host counsel attorney solicitor lawyer physician provider nurse dear hi hello hey dearest
    thanks thank regards cheers best sincerely yours love cc attn attention signed
    decedent deceased plaintiff defendant claimant beneficiary member resident student teacher agent
    caller owner driver passenger victim suspect visitor guest recipient sender author assigned""".split()
)
# Capitalised words that are not names even when a lexicon lists them.
_NOT_NAME = frozenset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    street st road rd avenue ave lane ln drive dr boulevard blvd court ct way place terrace close
    crescent grove gardens square park parkway circle highway flat apt apartment suite unit
    patient name date birth dob address phone email mobile tel card number account ssn mrn dl
    employee applicant cardholder client customer user admin manager reviewer witness host counsel
    dear hi hello hey thanks thank regards cheers best sincerely love from to subject re fwd cc
    mr mrs ms miss dr prof sir
    the a an and or but if of in on at for with by as is it its this that these those my your our their
    his her he she we they you i me us them please note plan impression allergies summary report
    referral consult discharge radiology nursing telehealth visit follow order invoice batch version
    notice alert audit ticket reminder registration visitor statement background performance review
    onboarding reference agreement estate case hearing court tenant landlord deceased bank iban
    social security number visa mastercard amex discover credit debit health hospital clinic center centre medical emergency
    department service services support team group company inc ltd llc corp university school
    north south east west new old great saint san santa los las el la le de""".split()
)
# Common English words that are also first names: alone they are not evidence.
_AMBIGUOUS = frozenset(
    """will may june april august grace hope joy faith mark rose dawn summer autumn winter miles
    bill frank sue pat guy don art bob gay ever queen essence chase hunter page case star sky rain
    ivy holly lily iris violet ruby pearl crystal amber jade destiny trinity harmony justice royal king
    prince princess major rich sunny honey baby christian angel patience charity precious blessing
    unique miracle lane reed ward dale glen cliff wood stone heath bay river brook forest ocean rock
    long young brown white black green gray grey church field park hill hall price cook baker day love
    best early little sharp power bishop walker carter mason cooper taylor jordan austin paris
    victoria florence sydney china india georgia virginia carolina dakota cruz sierra aurora
    london berlin madison savannah phoenix dallas houston lincoln washington franklin jefferson
    kent chester lee long ray rey max jack nick drew bud buck gene wade bliss ash bell booth
    merry nurse doctor judge say see son sun sol art ed al ho an le la de do so no un ha ja""".split()
)
_PARTICLES = frozenset(
    "van von der den de da di del della dos das du la le bin ibn al el ben ni nic mac o ó ter ten st".split()
)


@functools.cache
def _name_lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names (lower case) from every Faker person provider in Latin script."""
    from faker.config import AVAILABLE_LOCALES

    first: set[str] = set()
    last: set[str] = set()
    for loc in AVAILABLE_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except (ImportError, AttributeError):
            continue
        for attr, bucket in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("last_names", last),
        ):
            values = getattr(provider, attr, None)
            if not isinstance(values, list | tuple | dict | set | frozenset):
                continue
            for w in values:
                if isinstance(w, str) and len(w) > 1 and all(ord(c) < 0x250 for c in w):
                    bucket.update(part.lower() for part in w.split() if len(part) > 1)
    first -= _NOT_NAME
    last -= _NOT_NAME
    return frozenset(first), frozenset(last)


_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_NAME_WORD = r"[A-Z][^\W\d_]*(?:['’-][^\W\d_]+)*"
_TITLED = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Rev|Sr|Sra|Mme|Herr|Frau|Sir|Dame)\.?\s"
    rf"(?P<v>(?:(?:{'|'.join(sorted(_PARTICLES))})\s)?{_NAME_WORD}(?:\s(?:(?:{'|'.join(sorted(_PARTICLES))})\s)?{_NAME_WORD}){{0,2}})"
)
_SIGN_OFF = re.compile(
    r"(?im)^\s*(?:best|best\s+wishes|regards|kind\s+regards|best\s+regards|warm\s+regards|thanks|many\s+thanks|thank\s+you|"
    r"sincerely|yours\s+sincerely|yours\s+truly|yours|cheers|love|respectfully),?[ \t]*\n[ \t]*"
    rf"(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD}){{0,2}})[ \t]*$"
)
_ORG_WORDS = frozenset(
    """inc ltd llc plc corp corporation co company bank university college school hospital clinic
    group partners associates foundation institute center centre council committee agency ministry
    department board trust fund capital holdings systems solutions technologies labs software
    pharmacy pharma health care services airlines motors insurance""".split()
)
_SPEAKER = re.compile(
    r"(?m)^\s*(?:\[[^\]\n]{1,12}\]\s*)?(?P<v>[A-Z][^\W\d_]+(?:[-'][^\W\d_]+)?(?:\s[A-Z][^\W\d_]+)?)\s?:\s"
)
# user handles such as "maria.lopez" or "Maria_Lopez": Presidio's URL recognizer would
# otherwise cut them at a country-code "TLD" (".ro", ".ma") and leave the rest behind.
_HANDLE = re.compile(r"(?<![\w.@])(?P<a>[^\W\d_]{2,})[._](?P<b>[^\W\d_]{2,})(?![\w@]|\.\w)")


class PersonNameRecognizer(EntityRecognizer):
    """PERSON from runs of capitalised words with evidence: a title before them, a cue word
    before them, a known first name with a capitalised neighbour, or a chat speaker label."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="GuardPersonNameRecognizer")

    def load(self) -> None:
        self._first, self._last = _name_lexicon()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        out: list[RecognizerResult] = []
        for run_start, run_end, tokens, before in self._runs(text, words):
            score = self._evidence(tokens, before)
            if score:
                out.append(self._result(run_start, run_end, score, "run"))
        for m in _HANDLE.finditer(text):
            a, b = m.group("a").lower(), m.group("b").lower()
            known = (a in self._first or a in self._last) + (b in self._first or b in self._last)
            if known:
                out.append(self._result(m.start(), m.end(), 0.85 if known == 2 else 0.6, "handle"))
        for rx, score, rule in ((_TITLED, 0.85, "title"), (_SIGN_OFF, 0.8, "sign_off")):
            for m in rx.finditer(text):
                out.append(self._result(m.start("v"), m.end("v"), score, rule))
        out.extend(self._proper_noun_runs(text, words, nlp_artifacts))
        for m in _SPEAKER.finditer(text):
            toks = m.group("v").split()
            if all(t.lower() not in _NOT_NAME for t in toks):
                out.append(self._result(m.start("v"), m.end("v"), 0.6, "speaker"))
        return out

    def _proper_noun_runs(
        self, text: str, words: list[tuple[int, int, str]], nlp_artifacts: NlpArtifacts | None
    ) -> list[RecognizerResult]:
        """spaCy ORG entities that look like a person's name: two or three capitalised words,
        none of them an organisation, heading or place word. The small model often labels
        unfamiliar names ORG, and guard ignores ORG (it also covers e-mails and "SSN")."""
        doc = getattr(nlp_artifacts, "tokens", None)
        if doc is None:
            return []
        out = []
        for ent in doc.ents:
            if ent.label_ != "ORG":
                continue
            toks = [w for w in words if ent.start_char <= w[0] and w[1] <= ent.end_char]
            if not 2 <= len(toks) <= 3 or toks[0][0] != ent.start_char or toks[-1][1] != ent.end_char:
                continue
            if all(_is_cap(w) and w.lower() not in _NOT_NAME and w.lower() not in _ORG_WORDS for _, _, w in toks):
                out.append(self._result(ent.start_char, ent.end_char, 0.5, "org_shaped_name"))
        return out

    def _runs(self, text: str, words: list[tuple[int, int, str]]) -> Iterable[tuple[int, int, list[str], list[str]]]:
        """Maximal runs of capitalised words joined by single spaces (particles allowed inside),
        with up to three lower-cased words before the run."""
        i, n = 0, len(words)
        while i < n:
            s, e, w = words[i]
            if not _is_cap(w) or w.lower() in _NOT_NAME:
                i += 1
                continue
            j = i + 1
            while j < n and j - i < 4:
                gap = text[words[j - 1][1] : words[j][0]]
                wj = words[j][2]
                if gap not in (" ", "-"):
                    break
                if _is_cap(wj) and wj.lower() not in _NOT_NAME:
                    j += 1
                elif (
                    wj.lower() in _PARTICLES
                    and j + 1 < n
                    and _is_cap(words[j + 1][2])
                    and text[words[j][1] : words[j + 1][0]] == " "
                ):
                    j += 2
                else:
                    break
            before = [x[2].lower() for x in words[max(0, i - 3) : i]]
            prev_gap = text[words[i - 1][1] : s] if i else ""
            if i and prev_gap.strip(" ") in ("", ".", ":", ",") and "\n" not in prev_gap:
                pass
            else:
                before = []  # the run starts a line or follows other punctuation: no cue applies
            yield s, words[j - 1][1], [x[2] for x in words[i:j]], before
            i = j

    def _evidence(self, tokens: list[str], before: list[str]) -> float:
        low = [re.sub(r"['’]s$", "", t.lower()) for t in tokens]
        prev = before[-1] if before else ""
        if prev in _TITLES:
            return 0.85
        known_first = [t for t in low if t in self._first and t not in _AMBIGUOUS]
        known_any = [t for t in low if t in self._first or t in self._last]
        if len(tokens) >= 2 and known_first:
            return 0.85
        if len(tokens) >= 2 and len(known_any) >= 1 and prev in _CUES:
            return 0.85
        if len(tokens) >= 2 and len(known_any) == len(tokens):
            return 0.7
        if prev in _CUES or any(b in _CUES for b in before[-2:]) and prev in ("is", "s", "the", "my", "our", "your"):
            return 0.7
        if known_first:
            return 0.6
        return 0.0

    def _result(self, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        return make_result(self, "PERSON", start, end, score, rule)


def _is_cap(word: str) -> bool:
    return word[0].isupper() and not (len(word) > 1 and word.isupper())


def person_name() -> PersonNameRecognizer:
    return PersonNameRecognizer()


# --- spaCy NER with its frequent false positives removed ---------------------------------

_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
# A date worth hiding names a month, a year or a day of a month; "two weeks", "daily",
# "Q3", "09:14", "this afternoon" do not identify anyone.
_CALENDAR_DATE = re.compile(
    rf"(?i)\b(?:{_MONTH})\b|\b(?:1[89]|20)\d\d\b(?!-\d{{3}})|\b\d{{1,4}}[/.-]\d{{1,2}}(?:[/.-]\d{{2,4}})?\b"
)
_DURATION = re.compile(
    r"(?i)^(?:(?:the\s+)?(?:past|last|next|first|previous|following)\s+)?(?:\d+|a|an|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|several|few|a\s+few)[\s-]+(?:second|minute|hour|day|week|month|year)s?(?:[\s-]+old)?$"
)
_TRIM_TOKEN = re.compile(r"\S+")


class GuardSpacyRecognizer(SpacyRecognizer):
    """Presidio's spaCy NER recognizer (same name, so the detector's merge rule still
    ranks it below pattern recognizers) without the small model's common false alarms:
    DATE_TIME that is a duration, frequency or time of day rather than a calendar date;
    PERSON/LOCATION/NRP spans trimmed of heading words, codes and lower-case words.

    It replaces Presidio's own SpacyRecognizer (see REPLACES_PREDEFINED)."""

    def __init__(self) -> None:
        super().__init__(
            name="SpacyRecognizer",
            supported_language="en",
            supported_entities=["PERSON", "LOCATION", "DATE_TIME", "NRP", "AGE", "ID", "EMAIL", "PHONE_NUMBER"],
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:  # type: ignore[override]
        out = []
        for r in super().analyze(text, entities, nlp_artifacts):
            if r.entity_type == "DATE_TIME":
                value = text[r.start : r.end]
                if _DURATION.match(value.strip()) or not _CALENDAR_DATE.search(value):
                    continue
            elif r.entity_type in ("PERSON", "LOCATION", "NRP"):
                span = _trim_name_span(text, r.start, r.end)
                if span is None:
                    continue
                r.start, r.end = span
            out.append(r)
        return out


def _trim_name_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop leading/trailing tokens that are not name-like; None when nothing is left."""
    toks = [(start + m.start(), start + m.end(), m.group()) for m in _TRIM_TOKEN.finditer(text[start:end])]

    def bad(tok: str) -> bool:
        core = tok.strip(".,;:!?()[]'\"")
        return (
            not core
            or any(c.isdigit() for c in core)
            or not core[0].isupper()
            or core.lower() in _NOT_NAME
            or (len(core) > 1 and core.isupper() and len(core) <= 4)
        )

    while toks and bad(toks[0][2]):
        toks.pop(0)
    while toks and bad(toks[-1][2]):
        toks.pop()
    if not toks:
        return None
    s, e = toks[0][0], toks[-1][1]
    while e > s and text[e - 1] in ".,;:!?)'\"":
        e -= 1
    return (s, e) if e > s else None


# Presidio recognizers that guard's own replace: the detector should remove these by name
# from the predefined set before adding builtin_recognizers().
REPLACES_PREDEFINED = ("SpacyRecognizer",)


# --- registry --------------------------------------------------------------------------

RECOGNIZERS: dict[str, Callable[[], EntityRecognizer]] = {
    "age": age,
    "credit_card": credit_card,
    "driver_license": driver_license,
    "medical_record_number": medical_record_number,
    "person_name": person_name,
    "phone_number": phone_number,
    "postal_code": postal_code,
    "spacy_ner": lambda: GuardSpacyRecognizer(),
    "street_address": street_address,
    "us_ssn": us_ssn,
}


def recognizer_names() -> list[str]:
    return sorted(RECOGNIZERS)


def make_recognizer(name: str) -> EntityRecognizer:
    try:
        factory = RECOGNIZERS[name]
    except KeyError:
        raise PolicyError(f"unknown recognizer {name!r}", hint=f"known: {recognizer_names()}") from None
    return factory()


def builtin_recognizers() -> list[EntityRecognizer]:
    """A fresh instance of every registered recognizer."""
    return [RECOGNIZERS[name]() for name in recognizer_names()]


__all__ = [
    "GuardSpacyRecognizer",
    "PersonNameRecognizer",
    "REPLACES_PREDEFINED",
    "RECOGNIZERS",
    "RegexRecognizer",
    "Rule",
    "builtin_recognizers",
    "make_recognizer",
    "recognizer_names",
]

"""Phone numbers of every region, found cheaply.

Presidio's PhoneRecognizer runs libphonenumber's matcher over the whole text once per
region (eight by default), which is why guard once ran it for no region at all. Here
the text is scanned once with libphonenumber's own candidate pattern; only the few
candidates are looked at, each in a window one character wider than itself:

1. Presidio's regions (`PRESIDIO_REGIONS`, leniency VALID): the very matches Presidio's
   recognizer returns, with its score, so guard is never below it (tested on every
   evaluation set against Presidio's recognizer itself). One matcher per calling code
   (US and CA share +1); none for a region whose shortest valid number has more
   digits than the candidate; one for a number written with "+".
2. Every other region libphonenumber knows: a candidate that is a valid number of some
   region is a phone when it is written like one (grouped by spaces, dashes, dots or
   parentheses, or with a + / 00 prefix) or a phone word stands near it ("tel", "fax",
   "mob", "office", ...). A bare run of digits with no such word is left to step 1,
   and dates, clock times, amounts and IP addresses are never phones.

Validity is checked only for the regions whose number pattern fits the digits
(a precompiled prefilter), so a candidate costs tens of microseconds, not the 20 to
60 ms of trying all 245 regions.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher
from phonenumbers.phonenumbermatcher import _PATTERN as _CANDIDATE
from phonenumbers.phonenumbermatcher import _SECOND_NUMBER_START_PATTERN
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

PRESIDIO_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")  # Presidio's PhoneRecognizer default
PRESIDIO_SCORE = 0.4
ANY_REGION_SCORE = 0.6
# Words that make a digit group a phone number when they stand just before it (any
# language the evaluation sets or users wrote; matched on whole words, case-insensitive).
_CONTEXT = re.compile(
    r"(?i)(?:\b(?:tel|tél|tlf|telf|tfno|teléfono|telefone|telefon|telefono|telefonnummer|telemóvel|telemovel|"
    r"telemóveis|puh|puhelin|phone|ph|mob|mobile|mobil|mobiel|móvil|movil|cel|cell|celular|cellphone|handy|natel|"
    r"gsm|fax|office|work|home|direct|call|ring|text|sms|whatsapp|wa|zap|viber|contact|kontakt|kontakta|contacto|"
    r"contato|reach|hotline|helpline|landline|number|numero|número|numer|nummer|no|nr|n[ºo°]|sími|simi|fono|"
    r"τηλ|τηλέφωνο|κιν|тел|телефон|моб|sđt|đt|điện\s+thoại|โทร)\b|☎|📞|📱"
    # Chinese, Japanese and Korean words join the words around them: no word boundary, and
    # a short ending may follow ("电话号码", "電話番号", "전화번호", "联系电话")
    r"|(?:电话|電話|手机|手機|携帯|전화|핸드폰|휴대폰|연락처)[^\s\d:：]{0,3})"
    # a few words may stand between the word and the number: "number is", "Kontakt: Ewa Zielinska"
    r"(?:[\s.:#()\-/：（）]+[^\s\d]{1,20}){0,3}[\s.:#()\-/：（）]*(?:\+?\d[\d\s]*)?$"
)
# Written like a phone number with no phone word near it: an area code in parentheses,
# a trunk 0 followed by groups, four or more groups of two to four digits ("60 12 34 56"),
# or three groups (two or three digits, two or three, then three) with one separator, space
# or dash, and eight or nine digits in all ("936 118 204", "721-406-318", "913 47 208").
# Product codes and references ("100-2245-03", "2024-11873") are not.
_WRITTEN_AS_PHONE = re.compile(
    r"^(?:\(\d{1,5}\)[\s.-]?\d{2,}(?:[\s.-]\d{2,})*"
    r"|0\d{1,4}(?:[\s.-]\d{2,5}){1,4}"
    r"|\d{2,4}(?:([\s.-])\d{2,4})(?:\1\d{2,4}){2,}"
    r"|(?=(?:\D*\d){8,10}\D*$)\d{2,3}([ -])\d{2,3}\2\d{3}"
    # a Chinese mobile number: 1, then 3 to 9, then nine digits as 3-4-4 ("139 0000 1111")
    r"|1[3-9]\d([ -])\d{4}\3\d{4})$"
)
_DATE = re.compile(
    r"^(?:(?:19|20)\d\d[\s./-](?:0?[1-9]|1[0-2])[\s./-](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[\s./-](?:0?[1-9]|1[0-2])[\s./-](?:(?:19|20)?\d\d)"
    r"|(?:0?[1-9]|1[0-2])[\s./-](?:0?[1-9]|[12]\d|3[01])[\s./-](?:(?:19|20)?\d\d))$"
)
_YEAR_RANGE = re.compile(r"^(?:19|20)\d\d\s?[-–/]\s?(?:(?:19|20)?\d\d)$")
# "+7 ", "+(370) ", "(+30) ", "0044 " or a Russian trunk "8 " before an area code in brackets
_CALLING_CODE_BEFORE = re.compile(
    r"(?<![\w+.,])(?:\+[ \t]?\d{1,3}|\+?\([ \t]?\+?\d{1,3}[ \t]?\)|00\d{1,3}|8(?=[ \t]?\())[ \t.-]?$"
)
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_MONEY_BEFORE = re.compile(r"[$€£¥₹₽₩₺]\s?$|\b(?:USD|EUR|GBP|CHF|SEK|NOK|DKK|PLN|CZK|HUF|INR|JPY|R\$|Rs\.?)\s?$")
_UNIT_AFTER = re.compile(r"^\s?(?:%|‰|°|(?:mg|kg|km|g|ml|mm|cm|sq|EUR|USD)\b|m²|€|\$)", re.I)


@functools.cache
def _region_patterns() -> tuple[tuple[str, re.Pattern[str], tuple[int, ...], str], ...]:
    """(region, national number pattern, possible lengths, national prefix) for every region."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        md = PhoneMetadata.metadata_for_region(region)
        desc = md.general_desc if md else None
        if desc is None or not desc.national_number_pattern:
            continue
        lengths = tuple(desc.possible_length or ())
        out.append((region, re.compile(desc.national_number_pattern), lengths, md.national_prefix or ""))
    return tuple(out)


def _all_digits_in(window: str, matches: tuple[tuple[int, int], ...]) -> bool:
    covered = {i for a, b in matches for i in range(a, b)}
    return all(i in covered for i, c in enumerate(window) if c.isdigit())


_MEMO_WINDOW = 64  # longer windows (hostile runs of digits) are matched, not remembered


@functools.lru_cache(maxsize=8192)
def _memo_matches(window: str, region: str) -> tuple[tuple[int, int], ...]:
    return tuple((m.start, m.end) for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID))


def _region_matches(window: str, region: str) -> tuple[tuple[int, int], ...]:
    """libphonenumber's VALID matches (start, end) in a candidate's window for one region.
    Remembered for the last 8,192 short windows: a corpus repeats the same numbers (years,
    doses, codes, the same clinic's phone), and each matcher parses its window afresh."""
    if len(window) > _MEMO_WINDOW:
        return _memo_matches.__wrapped__(window, region)
    return _memo_matches(window, region)


def _parse_international(number: str) -> phonenumbers.PhoneNumber | None:
    """`number` parsed as written with "+" or "00" and a calling code; None otherwise."""
    written = number.lstrip()
    if not written.startswith(("+", "00")):
        return None
    digits = re.sub(r"\D", "", written)
    try:
        return phonenumbers.parse("+" + (digits[2:] if written.startswith("00") else digits), None)
    except phonenumbers.NumberParseException:
        return None


def valid_regions(number: str) -> list[str]:
    """Regions in which `number` (national or international format) is a valid phone number."""
    if number.lstrip().startswith(("+", "00")):
        parsed = _parse_international(number)
        region = phonenumbers.region_code_for_number(parsed) if parsed else None
        return [region] if region and phonenumbers.is_valid_number(parsed) else []
    digits = re.sub(r"\D", "", number)
    out = []
    for region, pattern, lengths, prefix in _region_patterns():
        national = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
        if (lengths and len(national) not in lengths) or not pattern.fullmatch(national):
            continue
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number_for_region(parsed, region):
            out.append(region)
    return out


def _possible_international(number: str) -> bool:
    """A number written with "+" (or "00") and a calling code in use, whose national part
    has a length the country's numbers have: a phone even where libphonenumber's metadata
    does not list its range as valid (a new or unlisted range, an invented number)."""
    parsed = _parse_international(number)
    return (
        parsed is not None
        and phonenumbers.region_code_for_country_code(parsed.country_code) != "ZZ"
        and phonenumbers.is_possible_number(parsed)
    )


class FastPhoneRecognizer(EntityRecognizer):
    """PHONE_NUMBER: Presidio's regional matches plus valid numbers of any region written
    like phone numbers. Registered under Presidio's name, which it replaces."""

    def __init__(self, *, regions: tuple[str, ...] = PRESIDIO_REGIONS, any_region: bool = True) -> None:
        self.regions = regions
        self.any_region = any_region
        codes: dict[int, str] = {}
        shortest: dict[int, int] = {}
        for region in regions:
            code = phonenumbers.country_code_for_region(region)
            codes.setdefault(code, region)
            lengths = PhoneMetadata.metadata_for_region(region).general_desc.possible_length or (1,)
            shortest[code] = min(shortest.get(code, 99), *lengths)
        self._matchers = tuple(codes.values())
        # the fewest digits a valid national number of any region sharing the calling code has
        self._min_digits = {region: shortest[code] for code, region in codes.items()}
        super().__init__(
            supported_entities=["PHONE_NUMBER"],
            name="PhoneRecognizer",
            context=["phone", "number", "telephone", "cell", "cellphone", "mobile", "call"],
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and "PHONE_NUMBER" not in entities:
            return []
        out: list[RecognizerResult] = []
        seen: set[tuple[int, int]] = set()
        index = 0
        while (cand := _CANDIDATE.search(text, index)) is not None:
            # libphonenumber's own walk: trim at a second number's start, go on after it
            s = cand.start()
            value = cand.group()
            second = _SECOND_NUMBER_START_PATTERN.search(value)
            e = s + (second.start() if second else len(value))
            index = max(e, s + 1)
            lo = max(0, s - 1)
            window = text[lo : e + 1]
            found = False
            # Regions sharing a calling code (US, CA) give the same matches: one matcher each.
            # A number written with "+" parses the same for every default region: when the
            # first region's matches cover every digit of the candidate, the rest add nothing.
            # Nor do they once one region matched the whole candidate: the other regions'
            # matches come from the same candidate, so they lie within it.
            digits = sum(c.isdigit() for c in text[s:e])
            plus = "+" in text[s:e] or "＋" in text[s:e]
            for k, region in enumerate(self._matchers):
                if not plus and digits < self._min_digits[region]:
                    continue  # too few digits for any valid national number of the region
                matches = _region_matches(window, region)
                for a, b in matches:
                    span = (lo + a, lo + b)
                    found = True
                    if span not in seen:
                        seen.add(span)
                        out.append(self._result(*span, PRESIDIO_SCORE, f"libphonenumber:{region}"))
                if k == 0 and text[s] in "+＋" and _all_digits_in(window, matches):
                    break
                if any(lo + a <= s and e <= lo + b for a, b in matches):
                    break
            if not found and self.any_region and digits >= 7:
                span = self._any_region(text, s, e)
                if span and span not in seen:
                    seen.add(span)
                    out.append(self._result(*span, ANY_REGION_SCORE, "libphonenumber:any_region"))
        for r in out:
            # a calling code the match left out ("+7 (037) 486-2570" matched from "(037)")
            code = _CALLING_CODE_BEFORE.search(text, max(0, r.start - 8), r.start)
            if code:
                r.start = code.start()
        return out

    def _any_region(self, text: str, s: int, e: int) -> tuple[int, int] | None:
        value = text[s:e].rstrip(" -./")
        e = s + len(value)
        core = value.strip("()[] ")
        digits = sum(c.isdigit() for c in value)
        if not 7 <= digits <= 15 or _DATE.match(core) or _YEAR_RANGE.match(core) or _IP.match(core):
            return None
        before, after = text[max(0, s - 40) : s], text[e : e + 6]
        if _MONEY_BEFORE.search(before) or _UNIT_AFTER.match(after) or (e < len(text) and text[e].isalnum()):
            return None
        context = _CONTEXT.search(before) is not None
        if not (context or value.startswith(("+", "00")) or _WRITTEN_AS_PHONE.match(value)):
            return None
        if valid_regions(value):
            return (s, e)
        inside_word = s > 0 and text[s - 1].isalnum()
        return (s, e) if not inside_word and _possible_international(value) else None

    def _result(self, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        from guard.deid._recognizer import make_result

        return make_result(self, "PHONE_NUMBER", start, end, score, rule)


__all__ = ["PRESIDIO_REGIONS", "FastPhoneRecognizer", "valid_regions"]

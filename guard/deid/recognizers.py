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

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from guard.core.errors import PolicyError
from guard.core.registry import Registry
from guard.deid._nlp import LANGUAGE
from guard.deid._recognizer import OneEntityRecognizer, make_result
from guard.deid._trie import word_alternation
from guard.deid.identifiers import labelled_id
from guard.deid.luhn import luhn_valid
from guard.deid.names import person_name

# --- a regex recognizer that can report one group ----------------------------------------


@dataclass(frozen=True)
class Rule:
    """One regex; the match (or its group "v" when present) is the entity. With `needs`, the
    regex runs only on a text that holds one of these strings (lower case), which every
    match contains: a scan of the text for a word is cheaper than the regex at each position."""

    name: str
    regex: str
    score: float
    flags: int = 0
    needs: tuple[str, ...] = ()


def _compile(pattern: str, flags: int) -> re.Pattern[str] | regex.Pattern[str]:
    """`re` where it can (faster on these patterns); the `regex` module (Presidio's own
    dependency) for what only it supports: \\p{Lu} classes, variable-length lookbehinds."""
    try:
        return re.compile(pattern, flags)
    except re.error:
        return regex.compile(pattern, flags)


class RegexRecognizer(OneEntityRecognizer):
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
        self._rules = [(r, _compile(r.regex, r.flags)) for r in rules]
        self._needs = any(r.needs for r in rules)  # some rule looks for a word in the lower-cased text
        self._validate = validate
        super().__init__(supported_entities=[entity], name=name, context=list(context) if context else None)

    def find(self, text: str, entity: str, nlp_artifacts: NlpArtifacts | None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        lower = text.lower() if self._needs else text
        for rule, rx in self._rules:
            if rule.needs and not any(word in lower for word in rule.needs):
                continue
            use_group = "v" in rx.groupindex
            for m in rx.finditer(text):
                start, end = m.span("v") if use_group else m.span()
                if end <= start or (self._validate and not self._validate(text[start:end])):
                    continue
                out.append(self._result(entity, start, end, rule.score, rule.name))
        return out

    def _result(self, entity: str, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        return make_result(self, entity, start, end, score, rule)


# --- street addresses and postal codes: guard/deid/addresses.py -------------------------
# Imported when built: addresses.py uses `make_result` from this module.


def street_address() -> EntityRecognizer:
    """Street lines, unit lines, PO boxes and military mail of many countries."""
    from guard.deid.addresses import street_address as factory

    return factory()


def postal_code() -> EntityRecognizer:
    """Postal codes of many countries where they stand in address context."""
    from guard.deid.addresses import postal_code as factory

    return factory()


# --- ages ------------------------------------------------------------------------------

# English number words up to 119 ("sixty-one", "ninety-three").
_UNITS_EN = "one|two|three|four|five|six|seven|eight|nine"
_TEENS_EN = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS_EN = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_AGE_WORDS = (
    rf"(?:(?:{_TENS_EN})(?:[- ](?:{_UNITS_EN}))?|{_TEENS_EN}|{_UNITS_EN}|(?:one\s)?hundred(?:\s(?:and\s)?\w+)?)"
)
# Spanish/Portuguese/Italian/French tens for "cincuenta y dos años" and the like.
_AGE_WORDS_ROMANCE = (
    r"(?:uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|catorce|quince|dieci\w+|veinte|"
    r"dois|duas|três|quatro|sete|oito|nove|dez|onze|doze|treze|catorze|quatorze|quinze|dez[ae]\w+|vinte|"
    r"veinti\w+|vinte(?:\s+e\s+\w+)?|(?:treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|noventa|trinta|quarenta|"
    r"cinquenta|sessenta|setenta|oitenta|noventa|trenta|quaranta|cinquanta|sessanta|settanta|ottanta|novanta|trente|"
    r"quarante|cinquante|soixante|quatre-vingts?)(?:[\s-]+(?:y|e|et)?[\s-]*\w+)?)"
)


_FI_UNITS = "yksi kaksi kolme neljä viisi kuusi seitsemän kahdeksan yhdeksän".split()
_HU_UNITS = "egy kettő három négy öt hat hét nyolc kilenc".split()
# (units, teens, tens, how a ten and a unit join) per language: German, Dutch, Swedish,
# Norwegian, Danish, Finnish, Hungarian, Russian, Ukrainian, Turkish, Polish
_NUMBER_WORD_RULES: tuple[tuple[list[str], list[str], list[str], Callable[[str, str], str]], ...] = (
    (
        "ein zwei drei vier fünf sechs sieben acht neun".split(),
        "zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn".split(),
        "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split(),
        lambda ten, unit: f"{unit}und{ten}",
    ),
    (
        "een twee drie vier vijf zes zeven acht negen".split(),
        "tien elf twaalf dertien veertien vijftien zestien zeventien achttien negentien".split(),
        "twintig dertig veertig vijftig zestig zeventig tachtig negentig".split(),
        lambda ten, unit: f"{unit}{'ën' if unit.endswith('e') else 'en'}{ten}",
    ),
    (
        "ett en två tre fyra fem sex sju åtta nio".split(),
        "tio elva tolv tretton fjorton femton sexton sjutton arton nitton".split(),
        "tjugo trettio fyrtio femtio sextio sjuttio åttio nittio".split(),
        lambda ten, unit: f"{ten}{unit}",
    ),
    (
        "en ett to tre fire fem seks sju syv åtte ni".split(),
        "ti elleve tolv tretten fjorten femten seksten sytten atten nitten".split(),
        "tjue tretti førti femti seksti sytti åtti nitti".split(),
        lambda ten, unit: f"{ten}{unit}",
    ),
    (
        "en to tre fire fem seks syv otte ni".split(),
        [],
        "tyve tredive fyrre halvtreds tres halvfjerds firs halvfems".split(),
        lambda ten, unit: f"{unit}og{ten}",
    ),
    (
        _FI_UNITS,
        ["kymmenen"] + [f"{u}toista" for u in _FI_UNITS],
        [f"{u}kymmentä" for u in _FI_UNITS[1:]],
        lambda ten, unit: f"{ten}{unit}",
    ),
    (
        _HU_UNITS,
        ["tíz"] + [f"tizen{u}" for u in _HU_UNITS],
        "húsz harminc negyven ötven hatvan hetven nyolcvan kilencven".split(),
        lambda ten, unit: f"{'huszon' if ten == 'húsz' else ten}{unit}",
    ),
    (
        "один одна два две три четыре пять шесть семь восемь девять".split(),
        "десять одиннадцать двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать "
        "восемнадцать девятнадцать".split(),
        "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split(),
        lambda ten, unit: f"{ten} {unit}",
    ),
    (
        "один одна два дві три чотири п'ять шість сім вісім дев'ять".split(),
        "десять одинадцять дванадцять тринадцять чотирнадцять п'ятнадцять шістнадцять сімнадцять "
        "вісімнадцять дев'ятнадцять".split(),
        "двадцять тридцять сорок п'ятдесят шістдесят сімдесят вісімдесят дев'яносто".split(),
        lambda ten, unit: f"{ten} {unit}",
    ),
    (
        # Turkish: "on" (ten) alone is left out, it is an English word
        "bir iki üç dört beş altı yedi sekiz dokuz".split(),
        "on bir,on iki,on üç,on dört,on beş,on altı,on yedi,on sekiz,on dokuz".split(","),
        "yirmi otuz kırk elli altmış yetmiş seksen doksan".split(),
        lambda ten, unit: f"{ten} {unit}",
    ),
    (
        "jeden dwa trzy cztery pięć sześć siedem osiem dziewięć".split(),
        "dziesięć jedenaście dwanaście trzynaście czternaście piętnaście szesnaście siedemnaście osiemnaście "
        "dziewiętnaście".split(),
        "dwadzieścia trzydzieści czterdzieści pięćdziesiąt sześćdziesiąt siedemdziesiąt osiemdziesiąt "
        "dziewięćdziesiąt".split(),
        lambda ten, unit: f"{ten} {unit}",
    ),
)


def _number_words() -> list[str]:
    """10 to 99 in words in the languages of `_NUMBER_WORD_RULES`, as each composes them
    ("sechsundzwanzig", "zesentwintig", "tjugosex", "seksogtyve", "kaksikymmentäkuusi",
    "huszonhat", "dwadzieścia sześć"). Below ten a number word is too often a plain word
    ("to", "en", "ein") to mark an age."""
    out: set[str] = set()
    for units, teens, tens, join in _NUMBER_WORD_RULES:
        out.update(teens)
        for ten in tens:
            out.add(ten)
            out.update(join(ten, unit) for unit in units)
    return sorted(out)


_AGE_WORDS_MORE = word_alternation(_number_words())


def _ordinal_ages() -> list[str]:
    """Dutch and German ordinals from 10 to 99 as a birthday names them ("op haar achttiende",
    "tot zijn negentigste", "mit seinem siebzigsten"): Dutch teens take "-de", German teens
    "-te(n)", tens and compounds "-ste" / "-ste(n)"."""
    out: set[str] = set()
    for (units, teens, tens, join), teen_end, ten_ends in (
        (_NUMBER_WORD_RULES[0], ("ten", "te"), ("sten", "ste")),
        (_NUMBER_WORD_RULES[1], ("de",), ("ste",)),
    ):
        out.update(t + e for t in teens for e in teen_end)
        for ten in tens:
            out.update(w + e for w in [ten, *(join(ten, u) for u in units)] for e in ten_ends)
    return sorted(out)


_ORDINAL_AGES = word_alternation(_ordinal_ages())
# Thai numbers 1 to 99 in words: "ยี่สิบเอ็ด" (21); a unit one after a ten is "เอ็ด"
_TH_UNIT = "หนึ่ง|สอง|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า"
_TH_NUMBER = rf"(?:(?:ยี่|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า)?สิบ(?:เอ็ด|{_TH_UNIT})?|{_TH_UNIT})"
# One to nine in the same languages: an age only right after "was", "turns" and the like.
_AGE_WORDS_SMALL = word_alternation(sorted({u for units, *_ in _NUMBER_WORD_RULES for u in units}))
_AGE_NUMBER = rf"(?:1[01]\d|\d{{1,2}}|{_AGE_WORDS}|{_AGE_WORDS_ROMANCE}|{_AGE_WORDS_MORE})"
# (lower case, as `Rule.needs` compares: one of them is in every birthday-ordinal match)
_BIRTHDAY_NEEDS = (
    "birthday", "bday", "b-day", "geburtstag", "verjaardag", "urodziny", "cumpleaños", "aniversário", "anniversaire",
    "compleanno", "födelsedag", "fødselsdag", "bursdag", "születésnap", "doğum", "års", "vuotis", "narozenin",
    "narodenin",
)  # fmt: skip
# (the same for the verbs of a birthday before its age, "turns", "fyller", "cumple" ...)
_TURNS_NEEDS = (
    "turn", "täyt", "fyll", "fylt", "fyld", "wird", "wurde", "werd", "wordt", "kończy", "betöltötte", "cumpl",
    "fez", "faz", "compie", "compì", "bliver", "blir", "complet", "compiut", "compir", "oslav", "împlin", "исполн",
    "виповн", "חוגג",
)  # fmt: skip
_ORDINALS_EN = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_ORDINAL_TENS_EN = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth hundredth".split()
_ORDINAL_WORDS_EN = word_alternation(
    [*_ORDINALS_EN, *_ORDINAL_TENS_EN]
    + [f"{ten}-{unit}" for ten in _TENS_EN.split("|") for unit in _ORDINALS_EN[:9]]
    + [f"{ten} {unit}" for ten in _TENS_EN.split("|") for unit in _ORDINALS_EN[:9]]
)
# Chinese and Japanese numerals from 1 to 119 ("五", "十八", "三十五", "一百零二"; "两" is two before a unit)
_CJK_DIGIT = "[一二三四五六七八九]"
_CJK_NUMBER = rf"(?<![\d〇零一二三四五六七八九十百千万萬两兩])(?:一百(?:零?{_CJK_DIGIT}|一?十{_CJK_DIGIT}?)?|{_CJK_DIGIT}?十{_CJK_DIGIT}?|{_CJK_DIGIT}|两|兩)"
# Korean native numbers from 1 to 99 as they stand before a counter: "한", "스무", "서른다섯"
_KO_UNIT = "한|두|세|네|다섯|여섯|일곱|여덟|아홉"
_KO_NATIVE = rf"(?:(?:열|스물|서른|마흔|쉰|예순|일흔|여든|아흔)(?:\s?(?:{_KO_UNIT}))?|스무|{_KO_UNIT})"
# A child's age goes on in months: "2 yrs 8 mo", "5 tahun 1 bulan", "6 ans et 9 mois".
_AGE_MONTHS = (
    r"(?:,?\s(?:(?:and|et|e|y|und|dan|i|og|och)\s)?\d{1,2}\s?(?:mo|mos|months?|mths?|m|bulan|bln|mois|meses|"
    r"monate?|maanden|mnd|mies\.?|miesi[eę]cy|månader|kk)\b)?"
)
# "years" after an age, in the languages of guard's evaluation sets and beyond.
_AGE_UNIT = (
    r"(?:years?(?:[\s-]+old)?|yrs?\.?(?:\s+old)?|y\.?\s?o\.?|y/o|yo|y\b|años|anos|ans|anni|jahren?(?:\s+alt)?|jaar|"
    r"år(?:\s+gammal)?|ára|éves|évesen|vuotta|vuotias|aastat|aastane|gadi|gadus|metų|m\.|lat|lata|let|roků|rokov|"
    r"год(?:а)?|лет|років|роки|рік|godina|godine|godinu|година|године|години|χρονών|ετών|yaş[ıiuü]\p{L}*|yaş|ani|"
    r"de\s+ani|tahun|tuổi|岁|歲|歳|才|세|살|"
    r"ปี|سنة|سنوات|عاما|عامًا|أعوام|שנים|साल|वर्ष|বছর|thn|j(?=\)))"
)
# Units that say "years old" by themselves: no context needed ("78 yaşındaki", "66 éves", "63岁").
_AGE_ONLY_UNIT = (
    r"(?:y/o|y\.o\.|(?<=\d)yo|yrs?\.?\s+old|years?[\s-]+old|años\s+de\s+edad|ára|éves|évesen|vuotias|aastane|ετών|"
    r"χρονών|yaş[ıiuü]\p{L}*|岁|歲|歳|세|살|tuổi|ساله|سالہ|वर्षीय|वर्षीया|(?:साल|वर्ष)\s+(?:का|की|के)(?!\s+अनुभव)|"
    r"বছর\s+বয়সী|বছর\s+বয়সে)"
)
# Words just before "N years" that make it an age, not a duration ("de 58 años", "is 34").
_AGE_BEFORE = (
    r"(?:de|di|of|is|was|am|i'm|im|are|turns|turned|turning|aged|ist|est|a|tiene|tem|tenía|ha|har|er|on|è|ma|"
    r"wird|wurde|was|patient|pt|woman|man|male|female|boy|girl|child|kid|mujer|hombre|niño|niña|femme|homme|"
    r"frau|mann|kvinna|mand|kvinde|nainen|mies|nőbeteg|beteg|kona|karl|berusia|berumur|umur|usia|wieku|tinha|tenho|"
    r"tengo|tenía|avait|hatte|ai|j'ai|j’ai|var|war|oli|volt|był|była|miał|miała|blev|ble|werd|wurde|iältään|"
    # "pour mes soixante-dix ans", "mis 40 años": a possessive before the years
    r"mes|ses|tes|mis|sus|tus|meus|seus|teus|miei|suoi|tuoi|"
    # "мне 30 лет", "йому 45 років", "je mi 30 let", "ve věku", "ima 30 godina", "stara 80 let"
    r"мне|ему|ей|им|тебе|вам|нам|мені|йому|їй|їм|тобі|было|будет|исполнилось|исполнится|виповнилося|"
    r"виповниться|возрасте|віці|mi|věku|veku|ima|imam|imaš|imala|imao|star|stara|staro|"
    # "con N años, ...", "à N ans", "aos N anos", "een vrouw van N jaar"
    r"con|com|à|aos|van|"
    # the verbs of a birthday: "completa 64 anos", "ha compiuto 100 anni", "va avoir 16 ans",
    # "fyller 70 år", "împlinește 55 de ani", "oslaví 90 let"
    r"cumplirá|cumplió|cumple|cumplo|cumplí|completa|completou|completará|compiuto|compirà|compie|avoir|aura|"
    r"skończył|skończyła|skończy|fyller|fyllde|fyllt|fylder|fyldte|fylte|împlinește|împlinit|împlinesc|oslaví|"
    r"oslavil|oslavila)"
)
# a word of time between such a verb and the age: "skończył dziś 88 lat", "cumple hoy 30 años"
_AGE_ADVERB = (
    r"(?:dziś|dzisiaj|jutro|właśnie|hoy|mañana|ya|oggi|domani|già|hoje|amanhã|já|demain|déjà|idag|imorgon|snart|"
    r"azi|mâine|deja|dnes|zítra|сегодня|завтра|уже|вчера|today|tomorrow|soon|already|just|now)"
)
# "and" between two coordinated ages ("19 y 22 años", "7 και 10 ετών")
_AGE_AND = r"(?:y|and|e|et|und|och|og|i|ja|&|και|и|és|ve|dan|và)"
_AGE_LABEL = (
    r"(?:age|aged|ages|idade|edad|âge|age|età|eta|alter|leeftijd|wiek|ålder|alder|aldur|kor|életkor|ikä|vanus|vecums|"
    r"amžius|věk|vek|возраст|вік|ηλικία|yaş|vârsta|usia|umur|tuổi|年龄|年齢|나이|อายุ|العمر|גיל|उम्र|বয়স)"
)


def age() -> RegexRecognizer:
    """AGE: a number (or number words) with a unit of years in many languages, compounds
    ("54-year-old", "76-jährige", "97-letnia", "ninety-three-year-old"), labelled fields
    ("Age: 62", "Age/Sex: 62/F", "Idade: 27 anos") and "aged 45"."""
    return RegexRecognizer(
        name="GuardAgeRecognizer",
        entity="AGE",
        rules=[
            Rule(
                "n_year_old",
                rf"\b{_AGE_NUMBER}[- ](?:year|yr|month|week|day)s?[- ]old\b",
                0.7,
                re.I,
                needs=("old",),
            ),
            Rule(
                "n_years_compound",
                r"\b1?\d{1,2}-?(?:jährige[rnms]?|jarige|årig[ae]?|åring|vuotias|aastane|letni[aeo]?|letá|letý|letou|lat(?:ek|ka|kiem|ki)|"
                r"летн\p{L}*|"
                r"річн\p{L}*|χρονος|yaşlı|godišnj\p{L}*|годишњ\p{L}*|годишн\p{L}*|годишен|letn[iaeo]|"
                r"leten|ročn[ýáé]|metis|metė|gadīg\p{L}*)\b|\b1?\d{1,2}χρον(?:ος|η|ου|ης|ο)\b",
                0.75,
                re.I,
            ),
            Rule(
                "n_with_unit",
                rf"(?:(?<=^|[,(:：/]\s?|\n\s?)|(?<=\b{_AGE_BEFORE}\s(?:{_AGE_ADVERB}\s)?))(?P<v>{_AGE_NUMBER}\s?{_AGE_UNIT}{_AGE_MONTHS})(?!\w)"
                r"(?!\s*(?:ago|later|before|after|of\s+(?:experience|service)|назад|тому|спустя|nazad|kasnije|ranije|önce|"
                r"sonra|iskustva|staža|опыта|стажа|досвіду|стажу|deneyim|tecrübe|geleden|lang|daarna|her|sedan|siden|"
                r"atrás|antes|después|depois|plus\s+tard|après|avant|fa|dopo|prima|"
                r"(?:de|d'|d’|di)\s*(?:experiencia|experiência|expérience|esperienza|servicio|serviço|service|servizio|"
                r"casad|matrimonio|casamento|mariage|carrera|carreira|carrière|historia|história|histoire|storia|trabajo|"
                r"trabalho|travail|lavoro|existencia|existência|existence|vida\s+de|la|l'|l’|sa|son|leur|distance))\b)",
                0.6,
                re.I | re.M,
            ),
            Rule(
                "n_age_unit",
                rf"(?<![\w.,/-])(?P<v>(?:1[01]\d|\d{{1,2}}|{_AGE_WORDS_MORE})\s?{_AGE_ONLY_UNIT})(?!\w)",
                0.7,
                re.I,
            ),
            Rule(
                # a unit of age after Chinese or Japanese numerals or digits, in CJK text too (no
                # space before): "三十岁", "二十五歲", "八十八歳", "三十才", "今年35岁", "息子は3歳"
                "cjk_number_age",
                rf"(?=[\d一二三四五六七八九十两兩][\d一二三四五六七八九十百零]{{0,4}}\s?[岁歲歳才])"
                rf"(?P<v>(?:{_CJK_NUMBER}|(?<![\d.,])(?:1[01]\d|\d{{1,2}}))\s?(?:岁|歲|歳|才))",
                0.7,
                needs=("岁", "歲", "歳", "才"),
            ),
            Rule(
                # a Chinese age without its unit, as chat gives it: "他今年三十了", "我都45啦"
                # ("今年三月" is March: a particle must follow the number)
                "chinese_age_particle",
                rf"(?<=今年|都|已经|已經)(?P<v>{_CJK_NUMBER}|(?<![\d.,])(?:1[01]\d|\d{{1,2}}))(?=了|啦|咯|喽|囉)",
                0.6,
                needs=("今年", "都", "已经", "已經"),
            ),
            Rule(
                # Korean native numbers before "살": "서른 살", "스물다섯 살이에요", "세 살 때"
                "korean_native_age",
                rf"(?<!\p{{Hangul}})(?P<v>{_KO_NATIVE}\s?살)(?!림|아|았|고|면|다|던|게|지|기|려|며|인|해|자)",
                0.7,
            ),
            Rule(
                # Hebrew "בן 30" / "בת 7" (a son / daughter of 30: 30 years old), "בגיל 30" (at
                # 30); "בן 3 קומות" (of three floors) stays: punctuation or "years" must follow
                "hebrew_ben_age",
                r"(?<!\p{L})(?:בן|בת|בגיל|לגיל)\s?(?P<v>1?\d{1,2})(?=\s?(?:[.,;:!?)\-–]|$)|\s(?:שנים|שנה)(?!\p{L}))",
                0.6,
                re.M,
            ),
            Rule(
                # age and sex in brackets, as forums write them: "I (27F)", "my husband (31 M)", "(F34)"
                "age_sex_in_brackets",
                r"(?<=[(\[])(?:(?P<v>1?\d{1,2})\s?(?:[MFmf]|NB|nb)|(?:[MFmf]|NB|nb)\s?(?P<v>1?\d{1,2}))(?=[)\]])",
                0.6,
            ),
            Rule(
                # a birthday's ordinal: "her 40th birthday", "his twenty-first birthday", "sein 70.
                # Geburtstag", "sus 60 cumpleaños", "70-årsdagen", "70-vuotispäivä"
                "ordinal_birthday",
                rf"(?<![\d.,/-])(?P<v>(?:1[01]\d|\d{{1,2}})(?:st|nd|rd|th|\.|e|ste|º|°)?|{_ORDINAL_WORDS_EN})"
                r"(?=[\s-]?(?i:birthday|bday|b-day|geburtstag|verjaardag|urodziny|cumpleaños|aniversário|anniversaire|"
                r"compleanno|födelsedag|fødselsdag|bursdag|születésnap|doğum\s+günü|års(?:dag|dagen|\s+fødselsdag)|"
                r"narozenin\p{L}*|narodenin\p{L}*|"
                r"vuotis(?:päivä|syntymäpäivä)\p{L}*)(?!\p{L}))",
                0.6,
                re.I,
                needs=_BIRTHDAY_NEEDS,
            ),
            Rule(
                # the ordinal after the word: "ulang tahun ke-50", "hari jadi ke-40", "ika-50 na kaarawan"
                "birthday_then_ordinal",
                r"(?i:(?<=\b(?:ulang\s+tahun|hari\s+jadi|hari\s+lahir|ultah)(?:\s+(?:yang|nya))?\s+ke-?\s?)"
                r"(?P<v>1[01]\d|\d{1,2})(?!\d)|\bika-?(?P<v>1[01]\d|\d{1,2})(?=(?:\s+na)?\s+kaarawan\b))",
                0.6,
                needs=("ulang", "hari jadi", "hari lahir", "ultah", "kaarawan"),
            ),
            Rule("n_a_abbrev", r"(?<=,\s)(?P<v>(?:1[01]\d|\d{1,2})\s?a\.)(?=[\s,])", 0.5),
            Rule(
                "labelled",
                rf"(?i:\b{_AGE_LABEL}(?:\s*/\s*(?:sex|gender|sexo|sexe|geschlecht))?(?:\s+(?:of|de|di|von))?\s*[:：=]?\s*)(?P<v>1?\d{{1,2}}(?:\s?{_AGE_UNIT}{_AGE_MONTHS})?|{_AGE_WORDS}(?!\w))(?!\s?(?:%|(?:mg|kg|cm|mm|ml|days?|weeks?|months?|mins?)\b))(?!\d|[.,]\d)",
                0.6,
                re.I,
            ),
            Rule(
                # "de 19 y 22 años", "aged 19 and 22": the first of two coordinated ages
                "coordinated_age",
                rf"(?:(?<=\b{_AGE_BEFORE}\s)|(?<=\())(?P<v>1?\d{{1,2}})(?=\s{_AGE_AND}\s1?\d{{1,2}}\s?{_AGE_UNIT}(?!\w))",
                0.6,
                re.I,
            ),
            Rule(
                # the second: a number and a unit of years after "19 y", "19 and"
                "coordinated_age_unit",
                rf"(?<=\b1?\d{{1,2}}\s{_AGE_AND}\s)(?P<v>1?\d{{1,2}}\s?{_AGE_UNIT})(?!\w)",
                0.6,
                re.I,
            ),
            Rule(
                # a sex column next to an age column in lists and tickets: "F  31", "31/F", "35 / M"
                "sex_and_age_columns",
                r"(?:(?<=\s\s[MF]\s)|(?<=\s\s[MF]\s\s))(?P<v>1?\d{1,2})(?=\s\s|\s*$)",
                0.5,
                re.M,
            ),
            Rule("age_then_sex", r"(?<![\w/.,:-])(?P<v>1?\d{1,2})\s?/\s?[MF](?![\w/])", 0.5),
            Rule(
                # a person's age as a whole clause: "She is 13.", "I'm only 17, and ...", "he's 40 now"
                "person_is_age",
                rf"(?<=\b(?:I\s+am|I'm|I’m|you\s+are|you're|he\s+is|he's|he’s|she\s+is|she's|she’s)\s)"
                rf"(?:(?:only|now|just|almost|nearly|about|barely)\s)?(?P<v>1[01]\d|\d{{1,2}}|{_AGE_WORDS})(?![.,]\d)"
                r"(?=\s?(?:[.!?;)]|,\s|$)|\s(?:and|but|now|today|already|too|yet|next|this|soon)\b)",
                0.5,
                re.I | re.M,
            ),
            Rule(
                # a person and the age between commas, as news and notes write it: "the driver, 19, was"
                "person_comma_age",
                r"(?<=\b(?:patient|pt|man|woman|boy|girl|child|driver|victim|suspect|resident|mother|father|son|daughter|"
                r"wife|husband|student|teen|teenager|toddler|baby|infant|gentleman|lady|female|male|worker|passenger),\s)"
                r"(?P<v>1[01]\d|\d{1,2})(?=,\s)",
                0.5,
                re.I,
            ),
            Rule(
                # news in Spanish and Portuguese: "el estudiante Juan Pérez, de 19, que ..."
                "comma_de_age",
                r"(?<=\p{L}\p{L},\s(?:de|di)\s)(?P<v>1[01]\d|\d{1,2})(?=,\s)",
                0.5,
            ),
            Rule(
                # a birthday: "she turns 30 next week", "he turned eighteen."
                "turns_age",
                rf"(?<=\b(?:turns|turned|turning|täytti|täyttää|fyllde|fyller|fylte|fyldte|fylder|wird|wurde|werd|wordt|"
                rf"skończył|skończyła|kończy|betöltötte|cumplió|cumple|cumplirá|cumplo|cumplí|fez|faz|completa|completou|"
                rf"completará|compie|compì|compiuto|compirà|bliver|blir|fyllt|oslaví|oslavil|oslavila|împlinește|împlinit|"
                rf"исполнилось|исполняется|исполнится|виповнилося|виповнюється|виповниться|חוגג|חוגגת)\s)"
                rf"(?P<v>{_AGE_NUMBER}|{_AGE_WORDS_SMALL})"
                # then punctuation, an emoji, a time word, or (Polish) "to" starting the next clause
                r"(?=\s?(?:[.,!?;:)]|$|\p{So})|\s(?:this|next|last|in|on|today|tomorrow|soon|tonight|to|la|el|en|hoy|"
                r"mañana|este|esta|hoje|amanhã|il|oggi|domani|på|om|am|im|le|ce|cette|pe|în|em|no|na|nel|nella|v|ve|w|we|"
                r"в|у|во|на|ב\p{L}+)\b)",
                0.5,
                re.I | re.M,
                needs=_TURNS_NEEDS,
            ),
            Rule(
                # a number word as the whole predicate: "Hij was toen drieëntwintig.", "Da Sigrun var seks år"
                "was_number_word",
                rf"(?<=\b(?:was|is|war|ist|var|er|är|blev|ble|werd|wurde)\s(?:(?:toen|damals|da|då|nu|jetzt|pas|net|"
                rf"nog|bijna|erst|schon|bara|kun|bare|snart|nästan|næsten|nesten)\s)?)"
                rf"(?P<v>{_AGE_WORDS_MORE}(?=\s?[.!?,;]|$)|{_AGE_WORDS_SMALL}\s(?:år|jaar|jahre|ans)\b"
                r"(?!\s+(?:her|ago|geleden|sedan|siden|later|senere|senare|später)\b))",
                0.5,
                re.I | re.M,
            ),
            Rule(
                # the children of a booking or a form with their ages: "2 children (Anna 12, Ben 7)"
                "children_name_age",
                r"(?<=\b(?:children|kids|sons|daughters|child|son|daughter|niños|hijos|hijas|enfants|kinder|barn|børn|"
                r"crianças|filhos|figli|bambini|kinderen)\s?[(:]\s?(?:[^()\n]{0,60}[,;]\s?)?\p{Lu}[\p{L}'’-]{1,30}\s)"
                r"(?P<v>1?\d)(?=\s?[,;)]|\s?$)",
                0.5,
                re.I | re.M,
            ),
            Rule(
                # "1 child (7)", "two sons (4 and 9)"
                "child_age_in_brackets",
                r"(?<=\b(?:child|children|kid|kids|son|sons|daughter|daughters|boy|girl|baby|infant|toddler)\s\()"
                r"(?P<v>1?\d{1,2})(?=\))",
                0.6,
                re.I,
            ),
            Rule(
                # Korean, Japanese and Chinese news give a person's age in brackets after the
                # name, before an honorific or role: "박모(76) 씨", "田中一郎（45）容疑者"
                "cjk_name_then_age",
                r"(?<=[\p{Hangul}\p{Han}]{2}\s?[(（])(?P<v>1?\d{1,2})(?=[)）]\s?(?:씨|군|양|님|容疑者|被告|選手|氏|さん|君))",
                0.6,
            ),
            Rule(
                # Thai: "อายุ: ยี่สิบเอ็ด ปี" (age: twenty-one years)
                "thai_age_words",
                rf"(?<=อายุ\s?[:：]?\s?)(?P<v>{_TH_NUMBER}\s?ปี)",
                0.6,
            ),
            Rule(
                # Japanese: "三つのとき" (when I was three); not "一つの時代" (one era)
                "japanese_tsu_age",
                r"(?<![\p{Han}\d])(?P<v>[一二三四五六七八九]つ)(?=の(?:とき|時(?![代間点刻計])|頃|ころ))",
                0.6,
            ),
            Rule(
                # Dutch and German: an age as the birthday's ordinal after a preposition and a
                # possessive ("op haar achttiende", "tot zijn negentigste", "mit seinem achtzigsten
                # Geburtstag"); not before another capitalised noun ("zu seinem fünfzigsten Tor")
                "possessive_ordinal_age",
                rf"(?<=\b(?i:op|tot|vanaf|sinds|na|voor|rond|bij|met|mit|seit|bis\s+zu|ab|zu|an|nach|vor)\s"
                rf"(?i:zijn|haar|mijn|hun|z'n|d'r|jouw|je|seinem|ihrem|meinem|deinem|unserem)\s)"
                rf"(?P<v>{_ORDINAL_AGES})(?!\w)(?!\s+(?!Geburtstag|Lebensjahr|Jahr\b)\p{{Lu}})",
                0.5,
            ),
            Rule(
                "name_then_age",
                rf"(?<=\p{{Lu}}\p{{Ll}}{{1,30}}(?:,|\s\())\s?(?P<v>(?:1[01]\d|[1-9]\d?|{_AGE_WORDS}))(?=\)|,\s|\.\s|\.$|\s+said|\s+says)",
                0.5,
            ),
        ],
    )


# --- calendar dates and date-times -----------------------------------------------------

_MONTHS = (
    # English
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
    # Spanish, Portuguese, Italian, French, Catalan
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    "janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro|"
    "gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|"
    "gener|febrer|març|maig|juny|juliol|agost|setembre|desembre|"
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
    # German, Dutch, Scandinavian, Icelandic
    "januar|februar|märz|maerz|juni|juli|oktober|dezember|januari|februari|maart|mei|augustus|"
    "marts|martsi|mars|maí|júní|júlí|ágúst|október|nóvember|desember|maj|augusti|"
    # Finnish, Estonian, Latvian, Lithuanian, Polish, Czech, Hungarian, Romanian, Turkish
    "tammikuuta|helmikuuta|maaliskuuta|huhtikuuta|toukokuuta|kesäkuuta|heinäkuuta|elokuuta|syyskuuta|lokakuuta|"
    "marraskuuta|joulukuuta|"
    # Finnish genitive ("elokuun 14. päivänä") and nominative ("elokuu 2024")
    "tammikuun|helmikuun|maaliskuun|huhtikuun|toukokuun|kesäkuun|heinäkuun|elokuun|syyskuun|lokakuun|marraskuun|"
    "joulukuun|tammikuu|helmikuu|maaliskuu|huhtikuu|toukokuu|kesäkuu|heinäkuu|elokuu|syyskuu|lokakuu|marraskuu|"
    "joulukuu|jaanuar|veebruar|märts|aprill|juuni|juuli|august|septembris|oktoobris|"
    "janvāris|februāris|marts|aprīlis|maijs|jūnijs|jūlijs|augusts|septembris|oktobris|novembris|decembris|"
    "sausio|vasario|kovo|balandžio|gegužės|birželio|liepos|rugpjūčio|rugsėjo|spalio|lapkričio|gruodžio|"
    "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia|"
    "ledna|února|března|dubna|května|června|července|srpna|září|října|listopadu|prosince|"
    "január|február|március|április|május|június|július|augusztus|szeptember|október|"
    "ianuarie|februarie|martie|aprilie|iunie|iulie|septembrie|octombrie|noiembrie|decembrie|"
    "ocak|şubat|mart|nisan|mayıs|haziran|temmuz|ağustos|eylül|ekim|kasım|aralık|"
    # Indonesian/Malay, Greek, Russian/Ukrainian (genitive), Hijri
    "januari|februari|maret|mac|juni|juli|agustus|ogos|oktober|nopember|desember|disember|"
    "ιανουαρίου|φεβρουαρίου|μαρτίου|απριλίου|μαΐου|ιουνίου|ιουλίου|αυγούστου|σεπτεμβρίου|οκτωβρίου|"
    "νοεμβρίου|δεκεμβρίου|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря|"
    "січня|лютого|березня|квітня|травня|червня|липня|серпня|вересня|жовтня|листопада|грудня|"
    "muharram|safar|rabi al-awwal|rabi al-thani|jumada al-awwal|jumada al-thani|rajab|shaban|sha'ban|ramadan|"
    "shawwal|dhu al-qadah|dhu al-hijjah|"
    # Arabic (Egypt and the Gulf; the Levant's names), Urdu, Hindi, Bengali, Hebrew (also with its "in" prefix)
    "يناير|فبراير|مارس|أبريل|ابريل|إبريل|مايو|يونيو|يوليو|أغسطس|اغسطس|سبتمبر|أكتوبر|اكتوبر|نوفمبر|ديسمبر|"
    "كانون الثاني|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين الأول|تشرين الثاني|كانون الأول|"
    "جنوری|فروری|مارچ|اپریل|مئی|جون|جولائی|اگست|ستمبر|اکتوبر|نومبر|دسمبر|"
    "जनवरी|फ़रवरी|फरवरी|मार्च|अप्रैल|मई|जून|जुलाई|अगस्त|सितंबर|सितम्बर|अक्टूबर|अक्तूबर|नवंबर|नवम्बर|दिसंबर|दिसम्बर|"
    "জানুয়ারি|জানুয়ারী|ফেব্রুয়ারি|ফেব্রুয়ারী|মার্চ|এপ্রিল|মে|জুন|জুলাই|আগস্ট|আগষ্ট|সেপ্টেম্বর|অক্টোবর|নভেম্বর|ডিসেম্বর|"
    "ינואר|פברואר|מרץ|מרס|אפריל|מאי|יוני|יולי|אוגוסט|ספטמבר|אוקטובר|נובמבר|דצמבר|"
    "בינואר|בפברואר|במרץ|באפריל|במאי|ביוני|ביולי|באוגוסט|בספטמבר|באוקטובר|בנובמבר|בדצמבר|"
    # Croatian, Serbian and Slovene (genitive, as dates write them; Croatian and Serbian
    # nominative too), Slovak genitive, Bulgarian, Russian and Ukrainian nominative, Estonian
    # genitive and adessive ("18. novembril"), Latvian locative ("14. novembrī"), Icelandic,
    # Filipino, Swahili, Albanian
    "siječnja|veljače|ožujka|travnja|svibnja|lipnja|srpnja|kolovoza|rujna|studenoga|studenog|prosinca|"
    "siječanj|veljača|ožujak|travanj|svibanj|lipanj|srpanj|kolovoz|rujan|listopad|studeni|prosinac|"
    "januara|februara|marta|aprila|juna|jula|avgusta|septembra|oktobra|novembra|decembra|"
    "avgust|septembar|oktobar|novembar|decembar|"
    "januarja|februarja|junija|julija|"
    "januára|februára|apríla|mája|júna|júla|augusta|"
    "януари|февруари|март|април|май|юни|юли|август|септември|октомври|ноември|декември|"
    "январь|февраль|апрель|июнь|июль|сентябрь|октябрь|ноябрь|декабрь|"
    "січень|лютий|березень|квітень|травень|червень|липень|серпень|вересень|жовтень|листопад|грудень|"
    "jaanuari|veebruari|märtsi|aprilli|septembri|oktoobri|novembri|detsembri|oktoober|detsember|"
    "jaanuaril|veebruaril|märtsil|aprillil|juunil|juulil|augustil|septembril|oktoobril|novembril|detsembril|"
    "janvārī|februārī|martā|aprīlī|maijā|jūnijā|jūlijā|augustā|septembrī|oktobrī|novembrī|decembrī|"
    "janúar|febrúar|apríl|"
    "pebrero|marso|hunyo|hulyo|setyembre|oktubre|nobyembre|disyembre|"
    "machi|aprili|julai|agosti|septemba|oktoba|novemba|desemba|"
    "janar|shkurt|prill|qershor|korrik|gusht|shtator|tetor|nëntor|dhjetor|"
    # nominatives of month-year dates ("leden 2024", "marzec 2024", "Μάρτιος 2024"): Czech,
    # Polish, Slovak, Slovene, Greek, Macedonian; Austrian "Jänner"; Azerbaijani, Uzbek,
    # Armenian (also genitive), Georgian; Maghreb Arabic; Marathi, Tamil
    "leden|únor|březen|duben|květen|červen|červenec|srpen|říjen|prosinec|styczeń|luty|marzec|kwiecień|"
    "czerwiec|lipiec|sierpień|wrzesień|październik|grudzień|marec|máj|jún|júl|junij|julij|jänner|"
    "ιανουάριος|φεβρουάριος|μάρτιος|απρίλιος|μάιος|ιούνιος|ιούλιος|αύγουστος|σεπτέμβριος|οκτώβριος|νοέμβριος|"
    "δεκέμβριος|јануари|мај|јуни|јули|"
    "yanvar|fevral|aprel|iyun|iyul|avqust|sentyabr|sentabr|oktyabr|oktabr|noyabr|dekabr|"
    "հունվար|փետրվար|մարտ|ապրիլ|մայիս|հունիս|հուլիս|օգոստոս|սեպտեմբեր|հոկտեմբեր|նոյեմբեր|դեկտեմբեր|"
    "հունվարի|փետրվարի|մարտի|ապրիլի|մայիսի|հունիսի|հուլիսի|օգոստոսի|սեպտեմբերի|հոկտեմբերի|նոյեմբերի|"
    "դեկտեմբերի|იანვარი|თებერვალი|მარტი|აპრილი|მაისი|ივნისი|ივლისი|აგვისტო|სექტემბერი|ოქტომბერი|ნოემბერი|"
    "დეკემბერი|جانفي|فيفري|أفريل|ماي|جوان|جويلية|أوت|أيّار|تمّوز|"
    "जानेवारी|फेब्रुवारी|एप्रिल|मे|जुलै|ऑगस्ट|सप्टेंबर|ऑक्टोबर|नोव्हेंबर|डिसेंबर|"
    "ஜனவரி|பிப்ரவரி|மார்ச்|ஏப்ரல்|மே|ஜூன்|ஜூலை|ஆகஸ்ட்|செப்டம்பர்|அக்டோபர்|நவம்பர்|டிசம்பர்|"
    # abbreviations (Spanish, Portuguese, Italian, French, German, Dutch), read with an optional dot
    "ene|abr|ago|dic|fev|set|out|dez|gen|mag|giu|lug|ott|janv|févr|fevr|avr|juil|déc|jän|mär|okt|mrt"
)
# Whole weekday names only: "viernes 9" dates a day, "to 5" ("to" is Finnish for Thursday) does not.
_FULL_WEEKDAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|lunes|martes|miércoles|miercoles|jueves|viernes|"
    "sábado|sabado|domingo|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|montag|dienstag|mittwoch|"
    "donnerstag|freitag|samstag|sonntag|segunda-feira|terça-feira|terca-feira|quarta-feira|quinta-feira|"
    "sexta-feira|mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag|måndag|tisdag|lördag|söndag|maandag|dinsdag|"
    "woensdag|donderdag|vrijdag|zaterdag|zondag|lunedì|martedì|mercoledì|giovedì|venerdì|sabato|domenica|"
    "maanantai|tiistai|keskiviikko|torstai|perjantai|lauantai|sunnuntai|poniedziałek|wtorek|środa|czwartek|piątek|"
    "sobota|niedziela|pazartesi|salı|çarşamba|perşembe|cumartesi|senin|selasa|rabu|kamis|jumat|sabtu|minggu|"
    "isnin|khamis|jumaat|ahad|dilluns|dimarts|dimecres|dijous|divendres|dissabte|diumenge|luni|marți|marţi|marti|"
    "miercuri|joi|vineri|sâmbătă|sambata|duminică|duminica|δευτέρα|τρίτη|τετάρτη|πέμπτη|παρασκευή|σάββατο|κυριακή|"
    # Finnish "on Saturday" (essive), Swedish, Danish and Norwegian "the Friday" (definite)
    "maanantaina|tiistaina|keskiviikkona|torstaina|perjantaina|lauantaina|sunnuntaina|måndagen|tisdagen|onsdagen|"
    "torsdagen|fredagen|lördagen|söndagen|mandagen|tirsdagen|lørdagen|søndagen|"
    # Hungarian; Czech, Slovak, Croatian, Serbian, Slovene, Russian, Ukrainian, Bulgarian
    # (with the forms after "on": "v pondělí", "u srijedu", "в среду"); Estonian and
    # Latvian (also "on Monday": "esmaspäeval", "pirmdien"), Lithuanian, Icelandic,
    # Filipino, Swahili, Albanian
    "hétfő|kedd|szerda|csütörtök|péntek|szombat|vasárnap|hétfőn|kedden|szerdán|csütörtökön|pénteken|szombaton|"
    "vasárnapon|pondělí|úterý|středa|středu|čtvrtek|pátek|sobotu|neděle|neděli|pondelok|utorok|streda|stredu|"
    "štvrtok|piatok|nedeľa|nedeľu|ponedjeljak|utorak|srijeda|srijedu|četvrtak|petak|subota|subotu|nedjelja|"
    "nedjelju|ponedeljak|sreda|sredu|nedelja|nedelju|ponedeljek|torek|sredo|četrtek|petek|soboto|nedeljo|"
    "понедельник|вторник|среда|среду|четверг|пятница|пятницу|суббота|субботу|воскресенье|понеділок|вівторок|"
    "середа|середу|четвер|п'ятниця|п'ятницю|п’ятниця|п’ятницю|субота|суботу|неділя|неділю|понеделник|сряда|"
    "четвъртък|петък|събота|неделя|esmaspäev|teisipäev|kolmapäev|neljapäev|reede|laupäev|pühapäev|esmaspäeval|"
    "teisipäeval|kolmapäeval|neljapäeval|reedel|laupäeval|pühapäeval|pirmdiena|otrdiena|trešdiena|ceturtdiena|"
    "piektdiena|sestdiena|svētdiena|pirmdien|otrdien|trešdien|ceturtdien|piektdien|sestdien|svētdien|"
    "pirmadienis|antradienis|trečiadienis|ketvirtadienis|penktadienis|šeštadienis|sekmadienis|pirmadienį|"
    "antradienį|trečiadienį|ketvirtadienį|penktadienį|šeštadienį|sekmadienį|mánudagur|þriðjudagur|"
    "miðvikudagur|fimmtudagur|föstudagur|laugardagur|sunnudagur|mánudaginn|þriðjudaginn|miðvikudaginn|"
    "fimmtudaginn|föstudaginn|laugardaginn|sunnudaginn|miyerkules|huwebes|biyernes|linggo|jumatatu|jumanne|"
    "jumatano|alhamisi|ijumaa|jumamosi|jumapili|hënë|hënën|martë|martën|mërkurë|mërkurën|enjte|enjten|premte|"
    "premten|shtunë|shtunën|dielën|"
    # Arabic, Turkish (the two missing), Azerbaijani, Uzbek, Macedonian, Armenian, Georgian,
    # Hindi, Marathi, Bengali, Vietnamese
    "الأحد|الإثنين|الاثنين|الثلاثاء|الأربعاء|الاربعاء|الخميس|الجمعة|السبت|cuma|pazar|bazar ertəsi|"
    "çərşənbə axşamı|çərşənbə|cümə axşamı|cümə|şənbə|bazar|dushanba|seshanba|chorshanba|payshanba|juma|shanba|"
    "yakshanba|петок|сабота|четврток|недела|երկուշաբթի|երեքշաբթի|չորեքշաբթի|հինգշաբթի|ուրբաթ|շաբաթ|կիրակի|"
    "ორშაბათი|სამშაბათი|ოთხშაბათი|ხუთშაბათი|პარასკევი|შაბათი|კვირა|सोमवार|मंगलवार|मंगळवार|बुधवार|गुरुवार|"
    "शुक्रवार|शनिवार|रविवार|সোমবার|মঙ্গলবার|বুধবার|বৃহস্পতিবার|শুক্রবার|শনিবার|রবিবার|thứ hai|thứ ba|thứ tư|"
    "thứ năm|thứ sáu|thứ bảy|chủ nhật"
)
# (the stems of the Hungarian and Lithuanian weekdays, which come before a year-first date)
_YEAR_FIRST_WEEKDAYS = (
    "hétf", "kedd", "szerd", "csütört", "péntek", "szombat", "vasárnap", "pirmadien", "antradien", "trečiadien",
    "ketvirtadien", "penktadien", "šeštadien", "sekmadien",
)  # fmt: skip
# Before a date any weekday counts, abbreviated too (Finnish "ma", "ti" ...).
_WEEKDAYS = (
    "mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|lun|mar|mié|mie|jue|vie|sáb|sab|dom|"
    "ma|ti|ke|to|pe|la|su|seg|ter|qua|qui|sex|segunda|terça|quarta|quinta|sexta|mer|gio|ven|mo|di|mi|do|fr|sa|so|"
    "man|tir|ons|tor|fre|lør|søn|" + _FULL_WEEKDAYS
)
# As prefix trees: tried letter by letter instead of word by word at every position.
_MONTH = word_alternation(_MONTHS.split("|"))
_WEEKDAY = word_alternation(_WEEKDAYS.split("|")) + r"\.?,?"
_FULL_WEEKDAY = word_alternation(_FULL_WEEKDAYS.split("|"))
# The clock time written after a date is part of it (tests/data/DEID_LABELS.md): "at 14:05",
# "um 16:30 Uhr", "a las 9 hs", "pukul 08.15 WIB", "7:20 PM", "08:02:11 +0200".
# what may follow a clock time: a zone, "Uhr", or the part of the day (Malay and Indonesian)
_ZONE = (
    r"(?:\s?(?:h|hs|hrs|horas|uhr|uur|WIB|WITA|WIT|ET|EST|EDT|CST|PT|PST|CET|CEST|UTC|GMT|IST|JST|KST|pagi|siang|"
    r"petang|malam)\b|\s?น\.|\s?बजे)?"
    r"(?:\s?[+-]\d{4}\b)?"
)
_CLOCK = (
    r"(?:\d{1,2}(?:[:.h]|(?<=\d)u(?=\d))\d{2}(?::\d{2})?(?:\s?[ap]\.?\s?m\.?)?"
    r"|\d{1,2}\s?(?=[ap]\.?\s?m\b|hs\b|hrs\b|uhr\b|uur\b|horas\b)(?:[ap]\.?\s?m\.?)?)"
    rf"{_ZONE}"
    # "09:00–12:00", "9.00-11.30"
    r"(?:\s?[–-]\s?\d{1,2}[:.]\d{2}(?![\d.]))?"
)
_TIME = (
    # on the same line: a number on the next line is not the date's time
    r"(?:(?:,?[ \t]|,?[ \t]?(?:at|à|a\s+las|a\s+la|um|kl\.?|klo|kello|noin\s+klo|noin\s+kello|klockan|às|alle|ore|ora|ώρα|om|omstreeks|"
    r"gegen|vers|hacia|saat|lúc|luc|pukul|jam|godz\.?|o\s+godz\.?|siendo\s+las|T|को(?:\s(?:सुबह|शाम|दोपहर|रात))?)[ \t]?|[ \t]/[ \t])"
    rf"{_CLOCK})?"
)
# (in Bengali, Devanagari and Arabic-Indic digits too)
_DAY = r"(?:(?:[0-3]?\d|[০-৩]?[০-৯]|[०-३]?[०-९]|[٠-٣]?[٠-٩]|[۰-۳]?[۰-۹])(?:st|nd|rd|th|er|º|°|\.)?)"
_CJK_AFTER = (
    r"(?:\s?[(（][^)）\n]{1,3}[)）])?"
    r"(?:\s?(?:(?:오전|오후|上午|下午|午前|午後)\s?)?(?:\d{1,2}[:：]\d{2}(?:\s?[〜~\-–]\s?\d{1,2}[:：]\d{2})?|\d{1,2}[时時시](?:\s?\d{1,2}[分분])?))?"
)
_THAI_MONTH = (
    r"(?:ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\.|มกราคม|กุมภาพันธ์|"
    r"มีนาคม|เมษายน|พฤษภาคม|มิถุนายน|กรกฎาคม|สิงหาคม|กันยายน|ตุลาคม|พฤศจิกายน|ธันวาคม)"
)
_YEAR = (
    r"(?:(?:1[89]|20)\d{2}|'\d{2}|(?:১[৮৯]|২০)[০-৯]{2}|(?:१[८९]|२०)[०-९]{2}|(?:١[٨٩]|٢٠)[٠-٩]{2}|(?:۱[۸۹]|۲۰)[۰-۹]{2})"
)
# the open end of a period in a CV: "2019 – present", "2019.02 – 迄今"
_UNTIL_NOW = (
    r"(?i:present|now|today|current|date|heute|jetzt|hoy|presente|actualidad|atual|attuale|oggi|aujourd'hui|"
    r"présent|nyt|nu|nå|idag|dato|obecnie|至今|迄今|现在|現在|今)"
)
# numbers after a version word are no dates ("version 4.2.17", "v 2023.10 - 2023.12")
_NOT_AFTER_VERSION = r"(?<!\b(?:v|ver|version|release|build|firmware|rev)\.?\s?)"
# Day and month, two digits each, or a two-digit day with the closing dot ("31/08", "09.11.",
# "17.9."): not "3/4", as often a fraction, nor "1.2.", an outline number
_DM = r"(?:(?:0[1-9]|[12]\d|3[01])[./](?:0[1-9]|1[0-2])\.?|(?:0[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.)"
_DATING_WORDS = (
    r"until|till|by|on|due|from|since|tot|op|vanaf|bis|am|ab|vom|seit|le|au|du|jusqu'au|depuis|el|al|del|hasta(?:\sel)?|"
    r"desde|il|dal|fino\sal|entro\sil|até|em|dia|den|från|fra|innan|pe|până\sla|din|do|od|dne|dnia|dn\."
)


_AMBIGUOUS_MONTH = re.compile(
    r"\b(?:may|mar|sat|sun|jan|dec|mai|ago|set|out|gen|mag|dez|abr|ene|avr|okt|(?i:marta|augusta))\b"
)


def _plausible_date(value: str) -> bool:
    """Without a year, a lower-case English month that is also a word ("3 may go") is not
    a date, nor a month that is also a given name ("Augusta 3")."""
    return bool(re.search(r"\d{4}|'\d\d|\d[:年]", value)) or not _AMBIGUOUS_MONTH.search(value)


def calendar_date() -> RegexRecognizer:
    """DATE_TIME: calendar dates in words or numbers, in many languages and orders, with
    the time when one follows ("19 Jun 2023 05:30", "martes 14 de mayo de 2023",
    "2023-11-08 07:25", "10APR24", "2018年6月3日"). Presidio's and spaCy's dates are kept;
    these add the formats they miss and the time part."""
    month = rf"{_MONTH}\.?"
    # year first: "2024. november 18.", "2024 m. lapkričio 18 d."
    year_first = rf"{_YEAR}\s?(?:m\.|\.|,)?\s{month}\s{_DAY}(?:\s?d\.)?(?!\w)"
    return RegexRecognizer(
        name="GuardDateRecognizer",
        entity="DATE_TIME",
        validate=_plausible_date,
        rules=[
            # (the Russian or Ukrainian year word after the year is part of it: "1961 г.", "2021 р.";
            # a deed's "a los 5 días (del mes) de abril de 2023")
            Rule(
                "day_month_year",
                rf"(?<!\w)(?:{_WEEKDAY}\s(?:(?:dem|den|le|el|the)\s)?)?(?:(?:a\s+)?los\s+|ika-?)?(?:{_DAY}\s?[–-]\s?)?{_DAY}(?:\s+d[íi]as(?:\s+del\s+mes)?)?[\s.-]?(?:de\s|of\s|del?\s|ng\s)?{month}(?:(?:[,.]?\s?|-)(?:de\s|del\s)?{_YEAR}\b(?:\s?[гр]\.)?|-\d{{2}}\b)?{_TIME}(?!\w)",
                0.6,
                re.I,
            ),
            Rule(
                # (Finnish writes "maaliskuun 3. päivänä 1961": "on the 3rd day of March")
                "month_day_year",
                rf"(?<!\w)(?:{_WEEKDAY}\s)?{month}\s{_DAY}(?:\s(?:päivänä|pnä))?(?:,?\s{_YEAR}\b)?{_TIME}(?!\w)",
                0.6,
                re.I,
            ),
            # "março de 2019", "mayo del 2020": Portuguese and Spanish join month and year with de
            Rule(
                "month_year",
                rf"(?<!\w)(?:{month}\s?[-–—]\s?)?{month}[\s,.-]\s?(?:de\s|del\s)?{_YEAR}\b",
                0.6,
                re.I,
            ),
            Rule(
                "year_month_day_words",
                rf"(?<!\w){year_first}",
                0.6,
                re.I,
            ),
            # with the weekday before it, as Hungarian and Lithuanian write it ("pirmadienį, 2024 m.
            # lapkričio 18 d."); only on a text with such a weekday (the weekday tree at every
            # word start cost more than the rule itself)
            Rule(
                "weekday_year_month_day",
                rf"(?<!\w){_WEEKDAY}\s{year_first}",
                0.6,
                re.I,
                needs=_YEAR_FIRST_WEEKDAYS,
            ),
            # Latvian: "2024. gada 14. novembrī"
            Rule("year_gada_day_month", rf"(?<!\w){_YEAR}\.\s(?:gada|g\.)\s{_DAY}\s?{month}(?!\w)", 0.6, re.I),
            Rule(
                "numeric_with_time",
                rf"(?<![\w./-]){_NOT_AFTER_VERSION}(?:{_WEEKDAY}\s)?(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}}))"
                rf"(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s?[ap]\.?m\.?)?{_ZONE}(?![\w/-]|\.\d)|{_TIME}(?![\w/-]|\.\d))",
                0.6,
                re.I,
            ),
            # the clock time before the date: "07:40 21/03/2019", "9:15 pm, 2019-03-21"
            Rule(
                "time_then_numeric_date",
                r"(?<![\w.:/-])(?:[01]?\d|2[0-3])[:.][0-5]\d(?::[0-5]\d)?(?:\s?[ap]\.?m\.?)?,?\s(?:on\s)?"
                r"(?:\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2})(?![\w/-]|\.\d)",
                0.6,
                re.I,
            ),
            # a weekday with the date in brackets: "Saturday (9/3/2024)"
            Rule(
                "weekday_bracketed_date",
                rf"(?<!\w){_FULL_WEEKDAY},?\s\((?:\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}})|\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}})\)",
                0.6,
                re.I,
            ),
            # the periods of a CV written year.month: "2012.09–2016.06", "2019.03 - 至今"
            Rule(
                "year_month_period",
                rf"(?<![\d.]){_NOT_AFTER_VERSION}(?:19|20)\d\d[./](?:0[1-9]|1[0-2])\s?[–~\-—]\s?(?:(?:19|20)\d\d[./](?:0[1-9]|1[0-2])(?![\d.]\d)|"
                rf"{_UNTIL_NOW})",
                0.6,
                re.I,
            ),
            # Czech and Slovak put a space after each dot: "3. 4. 2016"
            # Hungarian and Korean write year first with a dot after each part: "2024. 03. 15."
            Rule(
                "numeric_spaced_year_first",
                rf"(?<![\w.]){_NOT_AFTER_VERSION}(?:1[89]|20)\d{{2}}\.\s(?:0?[1-9]|1[0-2])\.\s(?:0?[1-9]|[12]\d|3[01])\.?(?![\w]|\.?\d)"
                rf"{_CJK_AFTER}",
                0.6,
            ),
            Rule("numeric_spaced", r"(?<![\w.])[0-3]?\d\.\s[01]?\d\.\s(?:1[89]|20)\d{2}(?![\w]|\.\d)", 0.6),
            Rule("weekday_day_month", rf"(?<!\w){_WEEKDAY}\s[0-3]?\d[./](?:0?[1-9]|1[0-2])\.?(?![\d./])", 0.6, re.I),
            # day and month without a year where only a date can stand: the rows of a statement
            # (two lines or more that start with one: "09.11.  card payment ...") and after a
            # word that dates ("until 19/08", "am 09.11.", "le 23/12")
            Rule(
                "statement_rows",
                rf"(?m)^[ \t]*(?P<v>{_DM})(?=[ \t]+\S)(?:(?=[\s\S]*\n[ \t]*{_DM}[ \t]+\S)|(?<=^[ \t]*{_DM}[ \t][\s\S]*\n[ \t]*{_DM}))",
                0.5,
            ),
            Rule("dated_day_month", rf"(?<!\w)(?:{_DATING_WORDS})\s(?P<v>{_DM})(?![\d/]|\.\d)", 0.5, re.I),
            # a day and month with what only a date has: a clock time ("5/14 16:20"), a weekday
            # in brackets ("6/3(월)", "5/3（金）"), or a dated end of a range ("21/4 đến 23/4/2024")
            Rule(
                "day_month_with_time_or_weekday",
                r"(?<![\w/.])[0-3]?\d/[0-3]?\d(?:[ \t]+[0-2]?\d:[0-5]\d(?!\d)|[ \t]?[(（][월화수목금토일月火水木金土日][)）])",
                0.5,
            ),
            Rule(
                "day_month_range_start",
                r"(?<![\w/.])(?P<v>[0-3]?\d/[01]?\d)(?=[ \t]*(?:[-–]|(?i:to|al|au|bis|till|tot|até|đến|do|a))[ \t]*"
                r"[0-3]?\d/[01]?\d/(?:19|20)?\d\d(?!\d))",
                0.5,
            ),
            Rule(
                "compact",
                r"(?<![\w])[0-3]\d(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(?:\d{2}|\d{4})(?!\w)"
                rf"{_TIME}(?!\w)",
                0.6,
            ),
            # Chinese, Japanese (with an era) and Korean dates, a weekday in brackets and a time after
            Rule(
                "cjk",
                r"(?:(?:民國|民国)?\d{2,4}|(?:令和|平成|昭和)\d{1,2})\s?[年년]\s?\d{1,2}\s?[月월](?:\s?\d{1,2}\s?[日号일])?"
                rf"{_CJK_AFTER}",
                0.7,
            ),
            Rule("cjk_month_day", rf"(?<![\d年년.])\d{{1,2}}\s?[月월]\s?\d{{1,2}}\s?[日号일]{_CJK_AFTER}", 0.6),
            Rule(
                "vietnamese",
                r"(?:(?<!\d)[0-2]?\d\s(?i:giờ)(?:\s\d{1,2}(?:\s(?i:phút))?)?,?\s)?"
                r"(?i:ngày)\s[0-3]?\d(?:\s(?i:tháng)\s[01]?\d(?:\s(?i:năm)\s\d{4})?|/[01]?\d(?:/\d{4})?)(?!\d)",
                0.6,
            ),
            Rule("thai", rf"(?<!\d)[0-3]?\d\s?{_THAI_MONTH}(?:\s?(?:25|20)\d\d)?(?:\s?เวลา\s?{_CLOCK})?", 0.6),
            # "viernes 9", "martes 23 a las 18:00", "quinta-feira (4)"
            Rule(
                "weekday_day",
                rf"(?<!\w){_FULL_WEEKDAY},?\s(?:\([0-3]?\d\)|[0-3]?\d(?!\s?(?:[:.h]\d|[ap]\.?m\b|hs\b|uhr\b|horas\b)))(?![\w/]){_TIME}",
                0.6,
                re.I,
            ),
            Rule("roc_numeric", r"(?<![\d/])1[01]\d/[01]\d/[0-3]\d(?:\s\d{1,2}:\d{2})?(?![\d/])", 0.5),
            Rule("hijri", rf"(?<!\w){_DAY}\s{_MONTH}\s1[34]\d\d\s?(?:H|AH|هـ)?\b", 0.6, re.I),
            # a year that dates something: "in 1953", "born 1987", "(1900 --", "1580--1656"
            Rule(
                "year_in_context",
                r"(?:(?<=\b(?:in|since|from|to|until|till|by|born|during|circa|c\.|ca\.|around|year|of|the|between|and|"
                r"el|en|de|im|seit|ab|från|vuonna|em|dal|al|nel)\s)|(?<=[(–—-]))(?P<v>1[5-9]\d\d|20\d\d)(?![\d.,:/]\d)"
                r"(?!\s?(?:(?:mg|kg|km|m|cm|ml|g|kcal|people|persons|euros?|dollars?|units|pcs|cc|x)\b|°|%))",
                0.5,
                re.I,
            ),
            # the first year of a range, an open one too: "2015–2019", "2019–present", "(2022–)"
            Rule(
                "year_range",
                r"(?<![\d.,-])(?P<v>1[5-9]\d\d|20\d\d)(?=\s?(?:--?|–|—)\s?(?:(?:1[5-9]\d\d|20\d\d|\d\d)\b"
                rf"|{_UNTIL_NOW}|\)))",
                0.5,
            ),
            # a Korean news date: a day of this, last or next month, and its hour ("지난 8일 오후 2시쯤")
            Rule(
                "korean_relative_day",
                r"(?:지난|오는|이번\s?달|지난\s?달|다음\s?달)\s?\d{1,2}일"
                r"(?:\s?(?:오전|오후|새벽|밤|저녁|낮)\s?\d{1,2}시(?:\s?\d{1,2}분)?(?:쯤|께|경)?)?(?!\d)",
                0.6,
            ),
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
        n = sum(c.isdigit() or c in "*＊" for c in value)  # a masked digit counts
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
            # international: +44 20 7946 0958, +44 (0)161 496 0123, +33 1 42 68 53 00, the area
            # code or calling code in brackets: +90(312)555-0101, +(371) 2000 0000, (+30) 210 000 0000
            Rule(
                "intl",
                r"(?<![\w+])(?:\+\d{1,3}|\+\(\d{1,3}\)|\(\+\d{1,3}\))(?:\s?\(0\))?"
                r"(?:[\s.-]?(?:\d{1,5}|\(\d{1,5}\))){2,6}(?!\d)" + _EXT,
                0.75,
            ),
            # a trunk 8 before an area code in brackets (Russia, Belarus, Kazakhstan): 8 (812) 000-00-00
            Rule("trunk_area_code", r"(?<![\w+])8\s?\(\d{3,5}\)\s?\d{1,3}(?:[\s-]?\d{2,4}){1,3}(?!\d)", 0.6),
            # UK national: 020 7946 0958, 07700 900123, 0113 496 0123
            Rule("uk_national", r"(?<![\w+])0\d{2,4}\s\d{3,4}\s?\d{3,4}(?!\d)" + _EXT, 0.6),
            # NANP without separators (6145550199): could be an account number, but a
            # leaked phone costs more than a redacted account number, so it acts at
            # the default threshold; a context word lifts it further.
            Rule("nanp_bare", r"(?<![\w+.-])(?:\+?1)?[2-9]\d{2}[2-9]\d{6}(?![\w-])", 0.4),
            # a Chinese mobile number as receipts and apps print it, its middle four masked
            Rule("masked_cn_mobile", r"(?<![\w*＊])1[3-9]\d[*＊]{4}\d{4}(?![\w*＊])", 0.6),
        ],
        context=["phone", "tel", "telephone", "mobile", "cell", "call", "number", "contact", "fax", "text", "reach"],
        validate=_digits_between(10, 16),
    )


# --- payment card numbers of 12 to 19 digits, any grouping --------------------------------


def _luhn(value: str) -> bool:
    digits = [c for c in value if c.isdigit()]
    return 12 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(value)


def credit_card() -> RegexRecognizer:
    """CREDIT_CARD: 12 to 19 digits passing the Luhn check, plain or grouped by spaces,
    dashes or dots in any group sizes (4-4-4-4, 4-6-5 Amex, 4-4-4-4-3, 5-5-5...), from
    every issuer prefix (Presidio's pattern wants 13-16 digits from a few prefixes)."""
    return RegexRecognizer(
        name="GuardCreditCardRecognizer",
        entity="CREDIT_CARD",
        rules=[
            Rule("card_grouped", r"(?<![\d.-])[1-9]\d{2,5}(?:([ .-])\d{2,7})(?:\1\d{1,7}){1,4}(?![\d-]|\.\d)", 0.9),
            Rule("card_plain", r"(?<![\d.-])[1-9]\d{11,18}(?![\d-]|\.\d)", 0.9),
        ],
        context=["card", "credit", "debit", "visa", "mastercard", "amex", "cc", "maestro", "unionpay", "jcb"],
        validate=_luhn,
    )


# --- IBANs of every country, by their checksum -------------------------------------------


def _iban_checksum(value: str) -> bool:
    code = value.replace(" ", "")
    if not 15 <= len(code) <= 34 or sum(c.isdigit() for c in code) < 8:
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def iban_any_country() -> RegexRecognizer:
    """IBAN_CODE: two capitals, two check digits and 11 to 30 letters and digits, plain or
    in groups of four, whose ISO 7064 mod-97 checksum holds, whatever the country code
    (Presidio's pattern knows a fixed list of countries and lengths). One random string in
    97 of that shape passes the checksum; the shape itself is rare outside account numbers."""
    return RegexRecognizer(
        name="GuardIbanAnyCountryRecognizer",
        entity="IBAN_CODE",
        rules=[
            Rule("iban_plain", r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])", 0.8),
            Rule(
                "iban_grouped",
                r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?(?![A-Za-z0-9])",
                0.8,
            ),
        ],
        context=["iban", "account", "bank", "transfer"],
        validate=_iban_checksum,
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


# --- national identity numbers: Presidio's own country recognizers ----------------------

# Presidio ships recognizers for many countries' identity numbers, validated by their check
# digits or letters, but registers most for their country's language only ("it", "fi", "pl")
# and leaves the English ones among them (Aadhaar, NINO, South African, Nigerian) off in its
# default configuration, so a pipeline for English never runs them, though people write
# these numbers in English text and in text of any language guard reads with that pipeline.
PRESIDIO_NATIONAL_IDS = (
    "EsNieRecognizer",
    "EsNifRecognizer",
    "FiPersonalIdentityCodeRecognizer",
    "InAadhaarRecognizer",
    "ItFiscalCodeRecognizer",
    "KrFrnRecognizer",
    "KrRrnRecognizer",
    "NgNinRecognizer",
    "PlPeselRecognizer",
    "SePersonnummerRecognizer",
    "ThTninRecognizer",
    "TrNationalIdRecognizer",
    "UkNinoRecognizer",
    "ZaIdNumberRecognizer",
)
# Thai identity numbers are printed in groups, "1-2345-67890-12-3", on the card and in forms;
# Presidio's pattern reads only the 13 digits run together.
_TH_TNIN_GROUPED = r"(?<![\d-])[1-9][- ]\d{4}[- ]\d{5}[- ]\d{2}[- ]\d(?![\d-])"
# Each of these numbers holds at least six ASCII digits (a UK NINO six, an Italian codice
# fiscale seven): a text with fewer is not read by any of them. Nor is a text without one of
# the runs every one of their patterns starts or holds: six digits, digits in pairs or in
# groups of four (NINO, Aadhaar), the Thai groups, six letters and two digits (codice fiscale).
_MIN_ID_DIGITS = 6
_NOT_DIGITS = str.maketrans("", "", "0123456789")
_ID_RUN = re.compile(r"\d{6}|\d\d[ -]\d\d[ -]\d\d|\d{4}[- :]\d{4}|\d[- ]\d{4}[- ]\d{5}|[A-Z]{6}\d\d", re.I)


def _presidio_country_recognizer(class_name: str) -> EntityRecognizer:
    from presidio_analyzer import Pattern, predefined_recognizers

    cls = getattr(predefined_recognizers, class_name)
    extra: dict[str, Any] = {}
    if class_name == "PlPeselRecognizer":  # its pattern has no boundary: not inside a longer number
        extra = {"patterns": [Pattern(p.name, rf"(?<!\d){p.regex}(?!\d)", p.score) for p in cls.PATTERNS]}
    elif class_name == "ThTninRecognizer":
        extra = {
            "patterns": [*cls.PATTERNS, Pattern("TNIN (grouped)", _TH_TNIN_GROUPED, 0.5)],
            "replacement_pairs": [("-", ""), (" ", "")],
        }
    recognizer: EntityRecognizer = cls(supported_language=LANGUAGE, **extra)
    return recognizer


class NationalIdRecognizer(EntityRecognizer):
    """The country recognizers of PRESIDIO_NATIONAL_IDS as one: each reports its own entity
    type and recognizer name; none reads a text with fewer than six digits."""

    def __init__(self) -> None:
        self._parts = [_presidio_country_recognizer(name) for name in PRESIDIO_NATIONAL_IDS]
        entities = sorted({e for part in self._parts for e in part.supported_entities})
        super().__init__(supported_entities=entities, name="GuardNationalIdRecognizer", supported_language=LANGUAGE)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if len(text) - len(text.translate(_NOT_DIGITS)) < _MIN_ID_DIGITS or not _ID_RUN.search(text):
            return []
        out: list[RecognizerResult] = []
        for part in self._parts:
            wanted = [e for e in part.supported_entities if not entities or e in entities]
            for result in part.analyze(text, wanted, nlp_artifacts) if wanted else ():
                # the analyzer keeps a result of a registered recognizer only (its name stays the part's)
                result.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] = self.id
                out.append(result)
        return out


def national_ids() -> NationalIdRecognizer:
    return NationalIdRecognizer()


# --- registry --------------------------------------------------------------------------

RECOGNIZERS: Registry[Callable[[], EntityRecognizer]] = Registry("recognizer", error=PolicyError)
for _name, _factory in (
    ("labelled_id", labelled_id),  # guard.deid.identifiers
    ("calendar_date", calendar_date),
    ("age", age),
    ("credit_card", credit_card),
    ("iban_any_country", iban_any_country),
    ("driver_license", driver_license),
    ("medical_record_number", medical_record_number),
    ("national_ids", national_ids),
    ("person_name", person_name),  # guard.deid.names
    ("phone_number", phone_number),
    ("postal_code", postal_code),
    ("street_address", street_address),
    ("us_ssn", us_ssn),
):
    RECOGNIZERS.register(_name, _factory)


def register_recognizer(name: str, factory: Callable[[], EntityRecognizer] | None = None) -> Any:
    """Make a recognizer factory available to policies by `name` (usable as a decorator)."""
    return RECOGNIZERS.register(name, factory)


def recognizer_names() -> list[str]:
    return RECOGNIZERS.names()


def make_recognizer(name: str) -> EntityRecognizer:
    return RECOGNIZERS.get(name)()


def builtin_recognizers() -> list[EntityRecognizer]:
    """A fresh instance of every registered recognizer."""
    return [factory() for _, factory in RECOGNIZERS.items()]


__all__ = [
    "RECOGNIZERS",
    "OneEntityRecognizer",
    "RegexRecognizer",
    "Rule",
    "builtin_recognizers",
    "make_recognizer",
    "recognizer_names",
    "register_recognizer",
]

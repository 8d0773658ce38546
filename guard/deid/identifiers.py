"""Identifiers given with their label: national ID, tax, passport, account, member,
employee, booking, vehicle-plate, medical-record and licence numbers, user names.

Presidio ships checksum recognizers for a few countries' numbers; people write many
more, nearly always after a label ("DNI 23.514.776", "NRIC: S8812345D", "Henkilötunnus
150385-128K", "HN: 11-07-204519", "СНИЛС: 127-440-219 05"). The label decides; the
value is the code that follows it on the same line, perhaps in brackets or after a few
words ("employee ID will be ...", "TRN on file is ...", "residence card (...)"): letters,
digits and separators, ending at a field break (two spaces, " / ", ",", ";" or the end of the line).

Without a label: four groups of four digits (a card's number, also when it fails the payment
cards' Luhn check), a plate in brackets in a ride message, a UPU postal item number.

Labels are grouped by the entity they name, with the least number of digits a value
needs (a booking reference "QXJ4TN" has one, a user name none):

    >>> from guard.deid.identifiers import LABELS
    >>> sorted(LABELS)
    ['ID_NUMBER', 'MEDICAL_RECORD_NUMBER', 'US_DRIVER_LICENSE', 'USERNAME']
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

# Booking-code labels in Indonesian, Spanish/Portuguese, Romanian and French: their values
# are short codes with few digits.
_BOOKING_CODES = r"kode\s+booking|c[óo]digo\s+de\s+reserva|cod\s+confirmare|code\s+de\s+r[ée]servation"
# entity -> label alternation (case-insensitive, whole words)
LABELS: dict[str, str] = {
    "ID_NUMBER": (
        # national identity, social security and tax numbers
        r"ssn|sin|nin|nino|ni\s+number|national\s+(?:insurance|id(?:entity)?)(?:\s+(?:number|no|card))?|"
        r"id(?:\s+(?:card|number|no|nr|code|document))?|id-?(?:nr|nummer|kort(?:nummer)?)|identification(?:\s+(?:number|no|code))?|"
        r"identity\s+(?:card|number|no|document)|personal\s+(?:id|identity|identification)\s+(?:code|number|no)|"
        r"thai\s+id|dni|nie|nif|cif|nuss|cpf|rg|curp|rfc|rut|run|cuil|cuit|dui|nit|nric|fin|nis|trn|tfn|ird(?:\s+number)?|"
        r"abn|medicare(?:\s+card)?|nhi|nhs|ohip|aadhaar|aadhar|pan|uan|cnic|nid|hkid|tc\s+kimlik(?:\s+no)?|kimlik|cnp|pesel|nip|"
        r"amka|afm|adt|αφμ|αμκα|αδτ|ahv|avs|bsn|nir|n[°º]?\s+de\s+s[ée]curit[ée]\s+sociale|s[ée]curit[ée]\s+sociale|"
        r"sozialversicherungsnummer|svnr|steuer-?id|steuernummer|codice\s+fiscale|carta\s+d'identit[àa]|"
        r"cart[ãa]o\s+de\s+cidad[ãa]o|personnummer|personnr|henkil[öo]tunnus|hetu|isikukood|personas\s+kods|"
        r"asmens\s+kodas|asm\.\s*k\.|cpr(?:-nr)?|kennitala|kt\.|f[øo]dselsnummer|taj|szem[ée]lyi(?:\s+sz[áa]m)?|"
        r"рнокпп|инн|снилс|паспорт(?:\s+серия\s+и\s+номер)?|iqama|emirates\s+id|teudat\s+zehut|ת\.ז\.?|mykad|"
        r"ic\s+no|nik|ktp|npwp|sss(?:\s+no)?|tin|philhealth|umid|gsis|kra\s+pin|bvn|nhis|"
        r"주민등록번호|マイナンバー|身分證字號|身份证号|居民身份证|رقم\s+الهوية|"
        r"passport|pasaporte|passaporte|passeport|reisepass|paspoort|paszport|passnummer|"
        r"cni|cc\s+n\.?[ºo°]|birth\s+cert(?:ificate)?\.?|seria\s+(?:și|si)\s+nr|vsnr|"
        r"residence\s+(?:card|permit)|work\s+(?:pass|permit)|visa\s+no|"
        # accounts, memberships, staff and bookings
        r"account|acct|a/c|(?:vertrags)?konto(?:nummer)?|customer\s+(?:id|no|number|code)|client\s+(?:id|no|number)|member(?:ship)?\s+(?:id|no|number)|"
        r"kundennr|kundennummer|kunden-nr|store\s+id|rib|serial(?:\s+(?:no|number))?|imei|parcel(?:\s+(?:no|number|id))?|"
        r"consignment(?:\s+(?:no|number))?|nomor|spoa|noticia\s+criminal|denuncia|expediente|radicado|folio|oficio|"
        r"dossier|sinistro|siniestro|sinistre|protocollo|protocolo|reclamo|reclamaci[óo]n|reclama[çc][ãa]o|κράτηση|"
        r"member(?:ship)?(?:\s+card)?|rewards|loyalty(?:\s+card)?|flyer|points\s+card|club\s+card|afiliado|"
        r"n[°º]?\s*(?:de\s+)?socio|socio|assurance\s+maladie|ramq|carte\s+vitale|versichertennummer|"
        r"krankenversichertennummer|tessera\s+sanitaria|会員番号|会员号|회원번호|"
        r"policy\s+(?:no|number)|employee\s+(?:id|no|number|code)|emp\.?\s+(?:code|id|no)|staff\s+(?:id|no|number)|"
        r"payroll\s+(?:no|number)|student\s+(?:id|no|number)|matric(?:ulation)?|matricule|marc[ăa]|sicil|matr[íi]cula|legajo|personalnummer|"
        r"n[°º]\s+personnel|n\.?[°º]\s+mecanogr[áa]fico|mecanogr[áa]fico|os\.\s*č|osobn[íi]\s+[čc][íi]slo|"
        r"n\.?[°º]?\s+utente(?:\s+sns)?|utente\s+sns|"
        r"personeelsnummer|社員番号|booking\s+(?:ref(?:erence)?|no|number|code)|pnr|localizador|"
        r"confirmation\s+(?:no|number|code)|e-?ticket(?:\s+(?:no|number))?|ticket\s+(?:no|number)|frequent\s+flyer|"
        r"skypass|miles\s*&\s*more|loyalty\s+(?:no|number)|saga\s+club|flying\s+blue|"
        rf"{_BOOKING_CODES}|buchungs(?:code|nummer)|"
        r"reserveringsnummer|bokningsnummer|roll\s+(?:no|number)|service\s+id|"
        r"tracking\s+(?:no|number|id)|sendungsnummer|colis|zásilka|zasilka|barcode|waybill|awb|运单号|快件|운송장(?:번호)?|"
        r"case\s+(?:no|number|id)|fir\s+no|sagsnr|sagsnummer|aktenzeichen|"
        r"sp\.\s*zn\.|vertragsnummer|szerz[őo]d[ée]ssz[áa]m|n\.?\s+assicurato|code\s+permanent|案件编号|受案号|"
        r"c[ée]dula(?:\s+de\s+ciudadan[íi]a)?|c\.c\.|证件号码|身份证号码|เลขบัตรประชาชน|"
        # vehicles
        r"(?:licen[cs]e|number)\s+plate|plate|patente\s+(?:del\s+)?veh[íi]culo|biển\s+số|biển\s+kiểm\s+soát|plaque\s+du\s+v[ée]hicule|"
        r"plaque\s+d['’]immatriculation|reg(?:istration)?(?:\s+(?:no|number))?|rego|kenteken|kennzeichen|"
        r"placas?|dominio|targa|plaque|immatriculation|vin|vehicle(?:\s+(?:no|number|reg))?|kenderaan|"
        r"(?:nr\.?\s+de\s+)?[îi]nmatriculare|г/н|госномер|гос\.?\s*номер|"
        # a number sign after a word, as a field ("myRewards #: ..."; not a phone's "Tel #:")
        r"(?<=[\p{L}\d][ \t]?)(?<!(?<![\p{L}])(?:phone|tel|fax|mobile|cell|ph)[ \t]?)\#(?=[ \t]?:)"
    ),
    "MEDICAL_RECORD_NUMBER": (
        r"mrn|mr\s+no|medical\s+record(?:\s+(?:no|number))?|hospital\s+(?:no|number)|hosp\.?\s+no|"
        r"patient\s+(?:id|no|number)|ur\s+no|urn|hn|rn|ip\s+no|op\s+no|uhid|hc|nhc|historia\s+cl[íi]nica|"
        r"file\s+no|chart\s+(?:no|number)|proc\.|processo|nr\s+ksi[ęe]gi\s+g[łl][óo]wnej|"
        r"медицинская\s+карта|病案号|病歷號|(?<!주민)등록번호"
    ),
    "US_DRIVER_LICENSE": (
        r"driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|dl|licencia(?:\s+de\s+conducir)?|licen[çc]a|cnh|"
        r"f[üu]hrerscheins?(?:-nr)?|permis(?:ul)?\s+de\s+conducere|rijbewijs|k[öo]rkort|ajokortti|prawo\s+jazdy|permis\s+de\s+conduire|patente|"
        r"k[øo]rekort|f[øo]rerkort"
    ),
    "USERNAME": r"user\s*name|user\s+id|user|login|handle|아이디|wechat|微信号|line\s+id|line(?=[ \t]*[:：])|"
    r"kakao(?:talk)?(?:\s+id)?|카카오톡(?:\s*아이디)?|zalo(?=[ \t]*[:：])|telegram|skype|upi|vpa|instagram|ig|twitter|x\.com",
}
_MIN_DIGITS = {"ID_NUMBER": 3, "MEDICAL_RECORD_NUMBER": 3, "US_DRIVER_LICENSE": 2, "USERNAME": 0}
# Labels whose values are short codes with few digits (booking references, plates).
_FEW_DIGITS = regex.compile(
    rf"(?i)booking|{_BOOKING_CODES}|pnr|localizador|confirmation|plate|patente\s+(?:del\s+)?veh|biển|κράτηση|reg|rego|kenteken|kennzeichen|placa|dominio|"
    r"targa|plaque|"
    r"immatriculation|nhi|nis|vehicle|kenderaan|nr\.?\s+de\s+[îi]nmatriculare|[îi]nmatriculare|г/н|госномер|гос"
)
_BOOKING_LABEL = regex.compile(rf"(?i)booking|{_BOOKING_CODES}|pnr|localizador|confirmation|reserva")
_PNR_VALUE = regex.compile(r"[A-Z0-9]{6}")
_NUMBER_WORD = r"(?:\s*(?:no|nr|num|number|n|n°|nº|n\.º|№|#|code|ref|č)\.?)?"
_CHUNK = r"[\p{Lu}\d][\p{Lu}\d./()\-]*"
_VALUE = {
    "USERNAME": r"@?[\w][\w.@-]{2,40}",
}


_CJK = r"[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]"


def _compile(entity: str) -> regex.Pattern[str]:
    # (a chunk that ends a sentence or a bracket ends the value: "IMEI 35...19. Then")
    # (seven groups at most: a French social security number is "2 91 04 13 055 021 37")
    value = _VALUE.get(entity, rf"{_CHUNK}(?:(?<![.)])[ ]{_CHUNK}){{0,6}}")
    # a licence's class between its label and its number: "permis de conduire cat. B, n° ...",
    # "Driver's licence: Code 10, no. ..."
    licence_class = (
        r"(?:[ \t]*:?[ \t]*(?i:cat\.|cat[ée]gorie|category|categoria|code|class|classe|klasse|kategorie)[ \t]*:?[ \t]*"
        r"[A-Z0-9]{1,3}[ \t]*,(?=[ \t]*(?i:no|nr|n[°º]|№|number|num)(?![\p{L}])))?"
        if entity == "US_DRIVER_LICENSE"
        else ""
    )
    return regex.compile(
        # (a CJK label may touch its value: "快件SF1570...")
        rf"(?i:(?:(?<![\p{{L}}])|(?={_CJK}))(?P<label>{LABELS[entity]})(?:(?<={_CJK})|(?![\p{{L}}]))\.?{licence_class}(?P<no>{_NUMBER_WORD}))"
        # an abbreviation in brackets after the label: "No d'assurance maladie (XYZQ) :"
        rf"(?:[ \t]*\([\p{{L}} .]{{1,15}}\)(?=[ \t]*[:：=#]))?"
        rf"(?i:[ \t]+(?:on\s+file|on\s+record|will\s+be|would\s+be|now)\b)?"
        rf"[ \t\u3000]*(?P<sep>[:：=#]|\.{{2,}}|(?i:is|es|é|est|ist)\b)?[ \t\u3000.:]*\(?"
        # "Führerscheins (Nr. B072...)": the number word inside the bracket
        rf"(?:(?<=\()(?i:no|nr|n[°º]|№)\.?[ \t]*)?(?P<v>{value})",
        regex.V0,
    )


_PATTERNS = {entity: _compile(entity) for entity in LABELS}
# A social-media handle on its own ("@anna.k: anyone know ...", "GitHub: @pvermeulen"), not an
# e-mail address: nothing word-like before the "@", no domain after the name.
_HANDLE = regex.compile(r"(?<![\w.@/])@[\p{L}\p{N}_](?:[\p{L}\p{N}_.]{0,28}[\p{L}\p{N}_])?(?![\w@]|\.\w)")
_YEAR = regex.compile(r"(?:19|20)\d\d")
_TRAILING = regex.compile(r"[\s./()\-]+$")
# A postal item number of the UPU S10 standard, which every post office prints: two letters,
# nine digits (often in threes), the country's two letters ("RR 123 456 785 FR")
_POSTAL_ITEM = regex.compile(r"(?<![\w-])[A-Z]{2} ?\d{3} ?\d{3} ?\d{3} ?[A-Z]{2}(?![\w-])")

# A vehicle plate in brackets in a ride or delivery message ("your driver Ofelia (KX 8256 BT) is
# arriving"): letters and digits, after a driver or ride-hailing word earlier in the message
_RIDE_WORDS = regex.compile(
    r"(?i)\b(?:driver|rider|courier|taxi|cab|ride|grab|gojek|gocar|goride|uber|lyft|bolt|didi|ola|careem|indrive|"
    r"cabify|yandex|conductor|motorista|chauffeur|fahrer|kierowca|sopir|supir|pengemudi|tài\s+xế|tai\s+xe|"
    r"คนขับ|司机|司機|운전기사|기사님|ドライバー)\b"
)
# (the look-aheads read no further than the longest plate, 22 characters: unbounded, each
# "(" of a text without ")" read to its end)
_BRACKETED_PLATE = regex.compile(
    r"(?<=\p{L}[ \t]?)\((?P<v>(?=[^)]{0,22}\d)(?=[^)]{0,22}\p{Lu})[\p{Lu}\d]{1,4}(?:[ .\-][\p{Lu}\d]{1,5}){1,3}|"
    r"(?=[^)]{0,8}\d)(?=[^)]{0,8}\p{Lu})[\p{Lu}\d]{5,8})\)"
)

# Vehicle plates in the shapes of countries whose plates hold letters of their own script:
# Korean "12가 3456" (two or three digits, one of the syllables plates use, four digits),
# Chinese "京A·12345" (a province's character, a letter, five or six letters and digits),
# Japanese "品川 500 さ 12-34" (a place, the class number, a kana, the serial "12-34" or
# "・・37"; rental plates leave out the class), Bangladeshi "ঢাকা-মেট্রো-গ ১২-৩৪৫৬" (a city,
# a letter, two and four digits); Thai "กข 1234" and Saudi "ا ب ج ١٢٣٤" only after a plate label.
_KO_PLATE_SYLLABLES = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주아바사자배하허호"
_CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_SCRIPT_PLATE = regex.compile(
    rf"(?<![\d\p{{Hangul}}])\d{{2,3}}[ ]?[{_KO_PLATE_SYLLABLES}][ ]?\d{{4}}(?!\d)"
    rf"|(?<![\p{{Han}}])[{_CN_PROVINCES}][A-HJ-NP-Z][-·• ]?(?=[A-HJ-NP-Z]{{0,5}}\d)[A-HJ-NP-Z\d]{{5,6}}(?![A-Za-z\d])"
    r"|(?<![\p{Han}\d])\p{Han}{1,4}[ ]?(?:\d{2,3}[ ]?)?\p{Hiragana}[ ]?(?:\d{1,2}-\d{2}|[・･]{1,3}\d{1,3})(?![\d-])"
    r"|(?<![\p{Bengali}-])\p{Bengali}{1,20}(?:-\p{Bengali}{1,20}){0,2}-\p{Bengali}[ ]?[০-৯]{2}-[০-৯]{4}(?![০-৯])"
)
_PLATE_LABEL_SCRIPT = regex.compile(
    r"(?i:(?<![\p{L}])(?:(?:licen[cs]e|number)\s+plate|plate(?:\s+(?:no|number))?|registration|reg\.?\s+no|ทะเบียน(?:รถ)?|"
    r"ป้ายทะเบียน|لوحة|رقم\s+اللوحة))\.?[ \t]*[:：]?[ \t]*"
    r"(?P<v>\d?[ ]?[ก-ฮ]{1,3}[ ]?\d{1,4}(?!\d)|(?:\p{Arabic}[ ]){2,3}[٠-٩0-9]{1,4}(?![٠-٩0-9]))"
)

# Four groups of four digits is how cards print their number (loyalty, membership, health and
# gift cards too, which fail the Luhn check payment cards pass)
_FOUR_GROUPS = regex.compile(r"(?<![\d.,/-])\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?![\d-]|[.,/]\d)")


class LabelledIdRecognizer(EntityRecognizer):
    """ID_NUMBER, MEDICAL_RECORD_NUMBER, US_DRIVER_LICENSE and USERNAME after their labels."""

    def __init__(self) -> None:
        super().__init__(supported_entities=sorted(LABELS), name="GuardLabelledIdRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        from guard.deid._recognizer import make_result

        out = []
        for entity, rx in _PATTERNS.items():
            if entities and entity not in entities:
                continue
            pos = 0
            while (m := rx.search(text, pos)) is not None:
                # a value rejected below may hold the next label: search again from this label's
                # end ("Frequent flyer: Flying Blue 2210 ...": "Flying" is no value, "Flying Blue" labels one)
                pos = m.end("label")
                value = _TRAILING.sub("", m.group("v"))
                digits = sum(c.isdigit() for c in value)
                # a ":" or "No." after the label, or the label written in capitals ("NHI")
                marked = bool(m.group("sep") or m.group("no").strip() or m.group("label").isupper())
                few = _FEW_DIGITS.match(m.group("label"))
                # a plate right after its label needs no ":" when it mixes capitals and digits ("CXR-21K")
                plate = few and any(c.isupper() for c in value) and digits and len(value) >= 5
                need = 1 if few and (marked or plate) else _MIN_DIGITS[entity]
                if few and marked and _PNR_VALUE.fullmatch(value) and _BOOKING_LABEL.match(m.group("label")):
                    need = 0  # a record locator is six capitals, often without a digit ("QWXRTB")
                if len(value) < 3 or digits < need:
                    continue
                if len(m.group("label")) <= 3 and m.group("label").isascii() and not marked and digits < 5:
                    continue  # "sin", "pan", "run" ... are words unless a ":" or "No." follows
                mixed = digits and any(c.isalpha() for c in value)
                if not marked and entity != "USERNAME" and digits < 4 and not mixed:
                    continue  # "medical record 123 patients"
                if entity != "USERNAME" and value.isalpha() and value.islower():
                    continue
                if not marked and _YEAR.fullmatch(value):
                    continue  # "the 2019 dossier", "denuncia 2023 ...": a year, not a number
                start = m.start("v")
                end = start + len(value)
                if value.count("(") > value.count(")") and text[end : end + 1] == ")":
                    value += ")"  # HKID K482193(7)
                pos = m.end()
                out.append(
                    make_result(self, entity, start, start + len(value), 0.7, f"labelled:{m.group('label').lower()}")
                )
        if not entities or "ID_NUMBER" in entities:
            # codes that need no label
            for m in _POSTAL_ITEM.finditer(text):
                out.append(make_result(self, "ID_NUMBER", m.start(), m.end(), 0.6, "postal_item"))
            for m in _FOUR_GROUPS.finditer(text):
                out.append(make_result(self, "ID_NUMBER", m.start(), m.end(), 0.5, "four_groups_of_four"))
            if not text.isascii():
                for m in _SCRIPT_PLATE.finditer(text):
                    out.append(make_result(self, "ID_NUMBER", m.start(), m.end(), 0.6, "script_plate"))
                for m in _PLATE_LABEL_SCRIPT.finditer(text):
                    out.append(make_result(self, "ID_NUMBER", m.start("v"), m.end("v"), 0.6, "labelled_script_plate"))
            for m in _BRACKETED_PLATE.finditer(text) if "(" in text else ():
                if _RIDE_WORDS.search(text, max(0, m.start() - 160), m.start()):
                    out.append(make_result(self, "ID_NUMBER", m.start("v"), m.end("v"), 0.6, "ride_plate"))
        if (not entities or "USERNAME" in entities) and "@" in text:
            for m in _HANDLE.finditer(text):
                if len(m.group()) > 3:
                    out.append(make_result(self, "USERNAME", m.start(), m.end(), 0.6, "handle"))
        return out


def labelled_id() -> LabelledIdRecognizer:
    return LabelledIdRecognizer()


__all__ = ["LABELS", "LabelledIdRecognizer", "labelled_id"]

"""Person names beyond what spaCy's small model finds.

Evidence, not the lexicon alone: a name lexicon of 60,000 given names and 120,000
surnames in every script (guard/deid/data, built by bench/build_name_lexicon.py from
Faker's locales and the US Census) says a word *can* be a name; a name is reported
when something else agrees:

- capitalised runs: a title before them, a cue word ("patient", "wife", "Dear"), a
  given name that is not also an everyday English word, or every word a known name;
- lower-case chat: a given name followed by a known surname ("aino virtanen"), or a
  given name after a cue ("hi maria", "this is aino") or before a verb of speech;
- surnames alone in lists: "founded by Eklund, Marsh and Hodge" when one member of the
  list is a name (lexicon or spaCy PERSON);
- non-Latin scripts: Greek, Cyrillic, Arabic, Hebrew, CJK words from the lexicon, and
  Greek/Cyrillic capitalised pairs with a surname ending (-ов, -енко, -όπουλος ...);
- the document itself: once "Bernard Leach" is a name, a later "Leach" is too;
- form and chat structure: sign-offs, speaker labels ("Maria: ..."), user handles
  ("maria.lopez"), spaCy ORG spans shaped like a name, booking and inverted names
  ("OKAFOR/GRACE", "OKAFOR, Grace", the surname from the lexicon), the line under a CV's
  title, kin listed with their ages ("Siblings: Grace (7), Daniel (2)").

Words that are names and everyday English words ("will", "mark", "rose") need a
capitalised neighbour, a title or a cue; they never count alone.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from guard.deid._recognizer import inside_any

_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir dame lady lord rev fr sr nurse judge justice officer sgt capt "
    "captain professor doctor madam mister messrs mme mlle herr frau sra srta sig sig.ra dott avv ing "
    "pan pani hr fru fr dhr mevr mw gospodin gospođa господин госпожа κ κος κα eng ing lic lcdo lcda arq dipl "
    "mag hon sheikh shaikh sayyid ustaz ustazah haji hajjah tuan puan encik cik datuk dato ông bà anh chị "
    "shri shrimati smt sri km kumari emperor empress king queen prince princess president senator governor "
    "general colonel detective inspector sergeant pope cardinal bishop".split()
)
# Kin and courtesy words said before a given name in many languages ("doña Remedios", "tanti
# Viorica", "bu Sari", "kuya Jomar"): a capitalised word after one is a name. Some are given
# names themselves ("Don", "Tito"), so unlike titles they are never cut from a name's start.
_HONORIFICS = frozenset(
    "doña dona seu tía tío tia tio tita tito kuya lola lolo nonna nonno zia zio tante tanti tant oom "
    "abuela abuelo vovó vovô bu ibu pak bapak mbak mas kak abang bang mak "
    # the abbreviated Muhammad that opens many South Asian and Malay names ("Md. Karim Hossain")
    "md mohd muhd".split()
)
_LEAD_TITLES = _TITLES | _HONORIFICS
# Words that precede a name: kin, roles, salutations, form labels, chat phrases.
_CUES = frozenset(
    """patient pt named name called son daughter wife husband mother father mom dad brother sister
    aunt uncle niece nephew grandson granddaughter grandmother grandfather partner fiance fiancee spouse
    guardian kin friend neighbour neighbor colleague contact employee applicant cardholder holder client
    customer user admin administrator manager reviewer supervisor witness executor executrix tenant
    landlord host counsel attorney solicitor lawyer physician provider nurse dear hi hello hey dearest
    thanks thank regards cheers best sincerely yours love cc attn attention signed
    decedent deceased plaintiff defendant claimant beneficiary member resident student teacher agent
    caller owner driver passenger victim suspect visitor guest recipient sender author assigned
    hola querido querida estimado estimada olá caro cara cher chère liebe lieber hej hei moi ciao""".split()
)
# Lower-case cues for chat: the word (or two) just before a lower-case given name.
_CHAT_CUES = frozenset(
    """hi hey hello dear thanks thx ty cheers bye love xoxo with and named called ask tell told call met meet
    is im i'm am cc attn to from by sis bro mom dad wife husband son daughter friend boyfriend girlfriend
    hola olá hej hei moi ciao salut bei chez avec mit con com""".split()
)
_SPEECH_AFTER = frozenset(
    """said says told asked wrote replied texted called answered emailed mentioned thinks
    dijo dice disse diz dit sagt sagte zei zegt sa sier sanoi powiedział řekl""".split()
)
# Kin and friend words: in lower-case chat the next word, when it is a given name of any
# locale (even one that is also a word), is that person's name ("my husband mark").
_KIN_CUES = frozenset(
    """husband wife son daughter brother sister mom mum dad friend boyfriend girlfriend cousin uncle aunt
    auntie grandma grandpa nephew niece fiance fiancé fiancée bf gf bro sis primo prima hermano hermana
    hijo hija esposo esposa marido novio novia amigo amiga tío tía tio tia irmão irmã filho filha mãe pai
    bruder schwester sohn tochter freund freundin frère sœur fils fille ami amie fratello sorella""".split()
) | (_HONORIFICS - {"mas", "bang", "mak"})  # (everyday words in some language)
# Verbs and adverbs that follow a kin word as its predicate ("my friend said", "my son will"):
# given names in some locale, never the name here (the detector runs no part-of-speech tagger).
_AFTER_KIN_NOT_NAME = _SPEECH_AFTER | frozenset(
    """is was are were has had have will would can could shall should may might must did does do just also
    still never always often got gets went goes came comes wants wanted thought loves loved lives
    lived works worked knows knew made makes took takes gave gives saw sees felt feels tried tries
    passed died moved left like who whom whose which that than then so too very really here there now again
    back away out up down over being been getting going coming looks looked seems seemed needs needed used
    uses calls tells asks can't don't doesn't didn't isn't wasn't won't wouldn't couldn't""".split()
)
# Capitalised at a sentence start before a name: articles, conjunctions and prepositions of
# English, German, French, Spanish, Italian, Dutch and Portuguese that no one is named (not
# "May", "Les", "Des", "Das", "Una", "Uma", "Con", "An", "Ma", "Lo", "Per", nor the
# particles of names: "de", "la", "el"; "and", "with", "los" ... are in _NOT_NAME, which no run holds)
_LEADING_WORDS = frozenset(
    """when after before while since until because although though once then
    die der dem ein eine einer und als wenn nachdem bevor während weil aber oder
    une et quand après avant pendant mais ou avec pour chez
    cuando después antes mientras pero para
    il gli quando dopo prima mentre
    het een toen maar met
    os depois mas com""".split()
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
_PARTICLES = frozenset(
    "van von der den de da di del della dos das du la le bin binti bte binte bt ibn bint abu al el ben ni ní uí nic "
    "mac mc ap o ó ter ten st a/l a/p s/o d/o w/o".split()
)
# Malay, Arabic and Tamil patronymics join two names: "Nurul Aini binti Rahman", "Kumar a/l Raju".
# "bin", "ibn" and "ben" are words too (a bin, Big Ben): they need a given name in the run.
_PATRONYMIC = frozenset("binti binte bte bt bint a/l a/p s/o d/o".split())
_PATRONYMIC_WORDS = frozenset("bin ibn ben".split())
# Korean (Revised Romanization) and Chinese (pinyin) syllables of given names, which are
# often written as two syllables joined by a hyphen: "Ji-woo", "Seo-yeon", "Xiao-ming".
_CJK_SYLLABLES = frozenset(
    """a ae ah bin bo chae chan cheol chul da dae do dong eun gang geon gi gyu ha hae han ho hoon hun hwa hwan hye
    hyeon hyo hyun i in jae jeong ji jin jo joo joon ju jun jung kang ki kyu kyung mi min myung na nam ra ri rin
    sang se seo seok seon seong seung si so soo sook su suk sun sung tae u won woo woong ye yeon yeong yoon young
    yu yul yun bao chen cheng chun fang fei feng gang guo hai hao hong hua hui jia jian jiang jie jing kai lan lei
    li lian lin ling long mei ming ning peng ping qi qian qiang qing qiu rong rui shan shu tao ting wei wen xia
    xian xiang xiao xin xiu xue yan yang yi ying yong zhen zhi zhong zhu zi""".split()
)
_SYLLABLE_NAME = re.compile(r"^[A-Z][a-z]{1,4}-[a-z]{1,5}$")
_ORG_WORDS = frozenset(
    """inc ltd llc plc corp corporation co company bank university college school hospital clinic
    group partners associates foundation institute center centre council committee agency ministry
    department board trust fund capital holdings systems solutions technologies labs software
    pharmacy pharma health care services airlines motors insurance""".split()
)
# Words of shops and companies on a bank statement's transfer rows (`_TRANSFER`).
_SHOP_WORDS = _ORG_WORDS | frozenset(
    """gmbh sarl ohg srl filiale genossenschaft markt supermarkt tankstelle apotheke bäckerei restaurant café
    cafe pharmacie boulangerie supermarché entreprises assurances banque versicherung stadtwerke""".split()
)
# Case endings of given names in languages that inflect them, as (ending, what stands in its
# place in the nominative): Czech, Slovak and Polish dative and instrumental ("Petrovi",
# "Janowi", "Janem", "Evou"), Hungarian accusative and dative ("Pétert", "Ádámot", "Gézát",
# "Péternek"), Finnish allative ("Liisalle"), Russian and Ukrainian oblique cases ("Тарасом",
# "Андреем", "Андрієм", "Анной", "Максиму"), the Greek accusative and genitive ("Νίκο", "Γιώργου").
_CASE_ENDINGS = (
    *(("ovi", ""), ("owi", ""), ("em", ""), ("ou", "a")),
    *(("nak", ""), ("nek", ""), ("ot", ""), ("et", ""), ("öt", ""), ("at", ""), ("t", ""), ("át", "a"), ("ét", "e")),
    ("lle", ""),
    *(("ом", ""), ("ем", ""), ("ем", "й"), ("єм", "й"), ("ові", ""), ("у", ""), ("а", ""), ("ой", "а"), ("ою", "а")),
    *(("ы", "а"), ("и", "а"), ("е", "а"), ("ей", "я"), ("ю", "я")),
    *(("", "ς"), ("ου", "ος")),
)
_LIST_JOINERS = r"(?:and|&|or|og|und|et|y|e|i|och|ja|és|en|и|και|ve|și)"
_SURNAME_ENDING = re.compile(
    r"(?:ов|ова|ев|ева|ёв|ёва|ин|ина|ын|ына|ский|ская|цкий|цкая|енко|ук|юк|чук|ич|вич|вна|ович|овна|евич|евна|"
    r"όπουλος|οπούλου|ίδης|ίδου|άκης|άκη|άτος|άτου|ιάδης|ίου|έας|ής)$"
)
_WORD = regex.compile(r"\b[asdw]/[olp]\b|\p{L}[\p{L}\p{M}]*(?:['’-]\p{L}[\p{L}\p{M}]*)*")
_NAME_WORD = r"[A-Z][^\W\d_]*(?:['’-][^\W\d_]+)*"
_PARTICLE_RX = "|".join(sorted(_PARTICLES))
_TITLE_BEFORE = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Rev|Sr|Sra|Mme|Herr|Frau|Sir|Dame)\.?"
_TITLED = re.compile(
    _TITLE_BEFORE + r"\s"
    rf"(?P<v>(?:(?:{_PARTICLE_RX})\s)?{_NAME_WORD}(?:\s(?:(?:{_PARTICLE_RX})\s)?{_NAME_WORD}){{0,2}})"
)
# A title before a name in a script without case ("Dr. 藤井", "Mr. 박", "Prof. चोपरा"): the
# capitalised-word pattern above cannot see it, and the title is all the evidence there is.
_TITLED_CASELESS = regex.compile(_TITLE_BEFORE + r"[ \t](?P<v>\p{Lo}[\p{Lo}\p{M}]*(?:[ ]\p{Lo}[\p{Lo}\p{M}]*){0,2})")
# A family named by its surname: "the Drub family", "the Luik household", "the 김 family".
_FAMILY_OF = regex.compile(
    r"\b[Tt]he[ ](?P<v>\p{Lu}\p{Ll}[\p{L}\p{M}]*(?:['’-]\p{Lu}[\p{L}\p{M}]+)?|\p{Lo}[\p{Lo}\p{M}]*)"
    r"[ ](?:family|families|household|clan|twins|brothers|sisters|siblings|kids|children)\b"
)
_SIGN_OFF = re.compile(
    r"(?im)^[ \t]*(?:best|best\s+wishes|regards|kind\s+regards|best\s+regards|warm\s+regards|thanks|many\s+thanks|thank\s+you|"
    r"sincerely|yours\s+sincerely|yours\s+truly|yours|cheers|love|respectfully),?[ \t]*\n[ \t]*"
    rf"(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD}){{0,2}})[ \t]*$"
)
# user handles such as "maria.lopez" or "Maria_Lopez": Presidio's URL recognizer would
# otherwise cut them at a country-code "TLD" (".ro", ".ma") and leave the rest behind.
_HANDLE = re.compile(r"(?<![\w.@])(?P<a>[^\W\d_]{2,})[._](?P<b>[^\W\d_]{2,})(?![\w@]|\.\w)")
# Capitalised words in a coordinated list: "Eklund, Marsh and Hodge". At most 31 items: with
# no bound, a long run of "WORD, WORD, ..." without "and" made every failed start rescan to the
# end (21,000 such characters took 15 s; now 0.1 s).
_CAP = r"\p{Lu}\p{L}*(?:['’-]\p{L}+)*"
# (nor after an apostrophe: "O'O'O'..." was a start at every "O", each rescanning to the end)
_LIST = regex.compile(rf"(?<![\w'’-]){_CAP}(?:,\s{_CAP}){{0,30}},?\s{_LIST_JOINERS}\s{_CAP}(?![\w-])")
_LIST_ITEM = regex.compile(_CAP)
# Form fields whose value is a person's name, in the languages of the evaluation sets
# and beyond. The value runs to the end of the line, two spaces (a form column), or
# punctuation that ends a name.
_NAME_LABELS = (
    r"(?:full\s+|first\s+|last\s+|middle\s+|given\s+|family\s+|maiden\s+|sur|fore|nick|user|display\s+|"
    r"customer\s+|patient(?:'s)?\s+|passenger\s+|guest\s+|student(?:'s)?\s+|employee\s+|"
    r"father(?:'s)?\s+|mother(?:'s)?\s+|spouse(?:'s)?\s+|contact\s+)?names?"
    r"|name\s+of\s+(?:the\s+)?(?:patient|applicant|employee|child|student|insured|holder|deceased)"
    # "full name" in Malay/Indonesian, Spanish, Portuguese, French, German, Dutch, Swedish, Finnish
    r"|nama\s+(?:penuh|lengkap)|nombre\s+completo|nome\s+completo|nom\s+complet|vollst[äa]ndiger\s+name|"
    r"volledige\s+naam|fullst[äa]ndigt\s+namn|koko\s+nimi"
    r"|patient|passenger|guest|pax|account\s+holder|card\s*holder|holder|beneficiary|payee|recipient|addressee|"
    r"attn|attention|c/o|contact(?:\s+person)?|emergency\s+contact|next\s+of\s+kin|applicant|insured|"
    r"tenant|landlord|witness|signed|signature|prepared\s+by|reviewed\s+by|approved\s+by|authori[sz]ed\s+by|"
    r"deliver(?:ed)?\s+to|consignee|nom(?:\s+de\s+famille)?|pr[ée]noms?|nombres?|apellidos?|nome|sobrenome|"
    r"cognome|titolare|vorname|nachname|familienname|naam|voornaam|achternaam|imi[ęe]|nazwisko|jm[ée]no|"
    r"p[řr][íi]jmen[íi]|vezet[ée]kn[ée]v|keresztn[ée]v|n[ée]v|nimi|etunimi|sukunimi|namn|f[öo]rnamn|efternamn|"
    r"navn|fornavn|etternavn|efternavn|nafn|eesnimi|perekonnanimi|vārds|uzvārds|vardas|pavardė|όνομα|επώνυμο|"
    r"ονοματεπώνυμο|имя|фамилия|отчество|фио|ім'я|прізвище|adı?|soyadı?|ad\s+soyad|nume|prenume|nama|penerima|"
    r"pengirim|t[êe]n|h[ọo]\s+t[êe]n|h[ọo]\s+v[àa]\s+t[êe]n|pangalan|passageiro|destinat[áa]rio|"
    r"姓名|氏名|名前|お名前|受取人|収件人|收件人|寄件人|联系人|聯絡人|이름|성명|환자명|받는\s*분|보내는\s*분|"
    r"ชื่อ|ผู้รับ|ผู้ส่ง|الاسم|اسم(?:\s+\p{Arabic}+){0,3}|المستلم|שם|नाम|নাম|ছাত্রের\s+নাম|পিতার\s+নাম|মাতার\s+নাম|"
    # people named by their role on forms, tickets, statements and letters
    r"ordenante|beneficiario|titular|remitente|destinatario|paciente|cliente|asegurado|tomador|alumn[oa]|aluno|"
    # account holders and customers on statements: German, French, Portuguese, Dutch, Nordic, Finnish, Italian
    r"kontoinhaber(?:in)?|inhaber(?:in)?|kunde|kundin|titulaire(?:\s+du\s+compte)?|titular\s+da\s+conta|"
    r"rekeninghouder|klant|kontohavare|kontoinnehaver|kontohaver|tilinomistaja|intestatario|"
    r"doente|requerente|titularul|beneficiar|élève|nom\s+de\s+l['’]élève|cashier|caissier|cajero|pasien|"
    r"παραλήπτης|αποστολέας|ασθενής|δικαιούχος|"
    r"乘车人|借款人(?:姓名)?|共同借款人|报案人|报警人|发件人|發件人|申请人|申請人|紧急联系人|緊急聯絡人|乘客|患者(?:名)?|"
    r"病人|持卡人|住客|旅客|入住人|申込者|契約者|宿泊者|お客様名|지원자|고객명|승객|받는\s*사람|보내는\s*사람|신청인|"
    r"보호자|예약자|수신인|발신인|상주|ชื่อ-(?:นาม)?สกุล|ผู้ติดต่อฉุกเฉิน|ผู้ป่วย|আবেদনকারী|পিতা|মাতা"
)
# (The label is found first and what may stand before it is looked behind for: a pattern
# that began with the blanks before the label was tried at every blank of a long run of
# them, each attempt reading to the run's end: 6,000 spaces took 48 s.)
_NAME_FIELD = regex.compile(
    # (a short note in brackets may stand before the colon: "Full name (as in passport):", "ชื่อ (ไทย):")
    rf"(?im)(?=\p{{L}})(?<=(?:^|[|/;,•·]\s?|\s\s|\t|\s-\s)[ \t]*)(?P<label>{_NAME_LABELS})"
    rf"(?:[ \t]*\([^()\n]{{1,20}}\))?[ \t]*[:：=][ \t]*"
    r"(?:(?:mr|mrs|ms|miss|mx|dr|prof|sr|sra|mme|m|herr|frau|hr|fr|sig|sig\.ra|ông|bà)\.?[ \t]+)?"
    r"(?P<v>(?:\p{L}[\p{L}\p{M}'’.\-/]*)(?:[ \t](?:\p{L}[\p{L}\p{M}'’.\-/]*|\([\p{L} ]{1,20}\)|\"[\p{L} ]{1,20}\")){0,5})"
)
_NAME_LABEL_RX = regex.compile(_NAME_LABELS, regex.I)
# "my name is X" names X whatever X is; "this is X" / "i'm X" only when X looks like a name.
_INTRODUCTION = re.compile(
    r"(?i)\b(?:(?P<strong>my\s+name\s+is|my\s+name's|name's|call\s+me|me\s+llamo|mi\s+nombre\s+es|je\s+m'appelle|"
    r"ich\s+heiße|mi\s+chiamo|meu\s+nome\s+é|jag\s+heter|jeg\s+heter|mijn\s+naam\s+is|nazywam\s+się|"
    r"меня\s+зовут|tên\s+tôi\s+là|tôi\s+tên\s+là|em\s+tên\s+là|mình\s+tên\s+là)|this\s+is|i\s+am|i'm|im|"
    r"ich\s+bin|eu\s+sou|ik\s+ben|tôi\s+là)[:：]?\s+"
)
# Generic role labels: the value must look like a name (capitalised or caseless script).
_GENERIC_LABELS = frozenset(
    "patient passenger guest pax holder beneficiary payee recipient addressee contact applicant insured tenant "
    "landlord witness signed signature consignee ordenante beneficiario titular remitente destinatario paciente "
    "cliente asegurado tomador alumno alumna aluno doente requerente titularul beneficiar élève cashier caissier "
    "cajero pasien παραλήπτης αποστολέας ασθενής δικαιούχος kontoinhaber kontoinhaberin inhaber inhaberin kunde "
    "kundin titulaire rekeninghouder klant kontohavare kontoinnehaver kontohaver tilinomistaja intestatario".split()
)
# Airline/booking names: SURNAME/GIVEN MR. (A surname of at most 40 letters: unbounded, every
# letter of "A-A-A-..." began a run that was rescanned to the end.)
_PNR = re.compile(
    r"\b(?P<v>[A-Z][A-Z'-]{1,40}/[A-Z][A-Z' -]*[A-Z])(?=\s+(?:MR|MRS|MS|MISS|MSTR|DR|CHD|INF)\b|\s*$|\s{2})", re.M
)
# SURNAME/GIVEN elsewhere in a booking ("ROJAS/ANA MARIA – DNI ..."): both parts from the lexicon
_SLASHED_NAME = re.compile(r"(?<![\w/])(?P<s>[A-Z][A-Z'-]{1,40})/(?P<g>[A-Z][A-Z'-]+(?: [A-Z][A-Z'-]+){0,2})(?![\w/])")
# A surname in capitals before a comma and the given names, as forms and notices write them
# ("MORALES, Ofelia Catalina", "PAVLOU, NIKOS"): the surname and the first given name from the lexicon
_INVERTED = regex.compile(
    r"(?<![\w,&/])(?P<s>\p{Lu}[\p{Lu}'’-]+),[ \t]+(?P<g>\p{Lu}[\p{L}\p{M}'’-]+(?:[ \t]\p{Lu}[\p{L}\p{M}'’-]+){0,3})"
)
# The first line after a CV's title is its owner's name ("CURRICULUM VITAE\nOfelia Catalina Morales")
_CV_TITLE = regex.compile(
    r"(?im)^[ \t]*(?:curriculum\s+vitae|curr[ií]culum|curr[ií]culo|r[ée]sum[ée]|cv|lebenslauf|hoja\s+de\s+vida|"
    r"biodata|bio-data|履歴書|简历|个人简历|個人簡歷|이력서|ประวัติส่วนตัว|sơ\s+yếu\s+lý\s+lịch)[ \t]*\n(?:[ \t]*\n)?"
    r"[ \t]*(?P<v>[^\n(|–—,:@\d]{2,60})"
)
# News give a person's age after the name between commas: "Tamsin Ruru, 17, of Napier"
_NAME_COMMA_AGE = regex.compile(
    r"(?P<v>\p{Lu}\p{Ll}+(?:[ ]\p{Lu}\p{Ll}+){1,2}),[ ](?:1[01]\d|[1-9]\d?|(?:(?:twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety)(?:-(?:one|two|three|four|five|six|seven|eight|nine))?|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)),[ ]"
)
# Kin listed with their ages: "Children: Maren (9), Tamsin (4)"
_KIN_LIST = regex.compile(
    r"(?i)\b(?:children|kids|sons|daughters|siblings|brothers|sisters|grandchildren|dependents|dependants|hijos|"
    r"hijas|hermanos|hermanas|nietos|enfants|frères|sœurs|kinder|geschwister|enkel|figli|fratelli|filhos|irmãos|"
    r"kinderen|broers|zussen|barn|syskon|søsken|søskende|lapset|sisarukset|dzieci|rodzeństwo|anak)\b[ \t]*[:(][^\n]*"
)
_AGED_ITEM = regex.compile(r"(?<![\w-])(?P<v>\p{Lu}\p{Ll}+(?:[ \t]\p{Lu}\p{Ll}+)?)[ \t]?\((?:age[ \t])?\d{1,2}\)")
# A nickname in quotes or brackets between given name and surname: Anselmo "El Flaco" Ortiz
# (or closing the line after the name: MORALES, Ofelia "Feli")
_NICKNAMED = regex.compile(
    r"(?m)(?P<a>\p{Lu}\p{Ll}+)[ \t]+(?:[\"“(«][^\"”)»\n]{1,25}[\"”)»][ \t]+(?P<b>\p{Lu}\p{Ll}+)"
    r"|[\"“][\p{L}\p{M}' -]{2,25}[\"”](?=[ \t]*$))"
)
# CJK and Thai names with an honorific or polite prefix
_HONORIFIC = regex.compile(
    r"(?P<v>[\p{Han}\p{Hiragana}\p{Katakana}]{1,4})(?=様|さま|さん|くん|ちゃん|先生|氏|殿|女士|小姐|老师|同学)"
    r"|(?P<v2>\p{Hangul}{2,4})(?=님|씨|선생님|고객님|[ \t](?:님|씨)(?!\p{Hangul}{2}))"
    r"|(?:尊敬的|亲爱的|親愛的)(?P<v3>\p{Han}{2,4})"
    r"|(?:นางสาว|คุณ|นาย|นาง|ด\.ช\.|ด\.ญ\.)(?P<v4>[\p{Thai}]{2,20}(?:[ ][\p{Thai}]{2,20})?)"
)
# The other party of a transfer on a bank statement: "TRSF KE DEWI ...", "VIR DE ...",
# "TWINT an ...", "Virement reçu de ...", "โอนไป ...": two to four capitalised words (one
# of them a known name, so a shop or company stays) or one or two Thai words.
_TRANSFER = regex.compile(
    r"(?:(?i:\b(?:trsf|trf|tfr|transfer)\s+(?:ke|dari|to|from)|\bvirement\s+(?:reçu\s+)?(?:de|à|a|pour)|"
    r"\bvir\s+(?:de|à|a)|\büberweisung\s+(?:an|von)|\btwint\s+(?:an|von)|\bgutschrift\s+von|"
    r"\boverboeking\s+(?:naar|van)|\btransferencia\s+(?:a|de|para)|\bpix\s+(?:para|de)|\bbizum\s+(?:a|de))[ \t]+"
    r"(?P<v>\p{Lu}[\p{L}'’.-]*(?:[ ]\p{Lu}[\p{L}'’.-]*){1,3})(?![\p{L}\p{N}])"
    r"|(?:โอนไป|โอนจาก|โอนให้)[ \t]*(?P<t>[\p{Thai}]{2,20}(?:[ ][\p{Thai}]{2,20})?))"
)
# A Chinese or Korean full name written in its own script inside text of another script
# ("I met 王建华 at the station"): a common surname (the most frequent Chinese ones in
# simplified and traditional form, the Korean ones), then a two-character given name (or
# one character often given alone); the run stands alone (no Han, kana or Hangul next to
# it) on a line with at least as many Latin, Cyrillic or Greek letters as CJK ones (at
# least two; up to four CJK ones always allowed), so words of a CJK text are never read.
_CHINESE_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊"
    "葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉"
    "骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏"
    "宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
    "陳張劉楊黃趙吳孫馬郭羅鄭謝韓馮鄧蕭葉蘇呂蔣盧鍾譚陸賈韋鄒龐顏聶魯詹歐關蘭寧紀畢單涂駱藍靳鮑饒穆農褚婁竇費衛"
    "賴邱許彭曾簡游洪阎閻"
)
_CHINESE_COMPOUND = "欧阳 歐陽 司马 司馬 上官 诸葛 諸葛 东方 東方 皇甫 尉迟 尉遲 公孙 公孫 慕容 长孙 長孫 宇文 司徒 令狐 夏侯 张简 張簡 范姜"
_KOREAN_SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진나지엄채원천방공현함변염여"
    "추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부"
)
# a Chinese or Korean name: a surname and one or two more characters
_CJK_SURNAME_NAME = regex.compile(
    rf"(?:{'|'.join(_CHINESE_COMPOUND.split())}|[{_CHINESE_SURNAMES}])\p{{Han}}{{1,2}}|[{_KOREAN_SURNAMES}]\p{{Hangul}}{{1,2}}"
)
_KOREAN_COMPOUND = "남궁 황보 제갈 선우 독고 사공 서문"
# Characters often given alone as a given name: a surname and one of them is a name too
# ("李娜", "王伟"); any other two characters are left (谢谢 "thanks", 武汉 a city).
_CHINESE_SINGLE_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞刚桂英华玲红鑫玉健楠东浩岩瑞斌波辉宇鹏飞峰婷雪琳晶颖倩慧莉萍燕丹蕾璐阳"
    "凯亮龙彬俊帅博坤宁欣悦怡佳琪瑶淼森凤兰梅荣蓉琴云琼珍春秋冬松柏峻昊晨旭韬毅晓颖鹤薇菲蔚璇瑾哲睿翔帆航锋铭"
    "偉麗強軍傑濤華紅鑫輝鵬飛婷莉燕凱亮龍帥博寧悅琪瑤鳳蘭榮雲瓊韜毅曉銘鋒"
)
_CJK_NAME = regex.compile(
    r"(?<![\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}ー])"
    rf"(?:(?:{'|'.join(_CHINESE_COMPOUND.split())}|[{_CHINESE_SURNAMES}])(?:\p{{Han}}{{2}}|[{_CHINESE_SINGLE_GIVEN}])"
    rf"|(?:{'|'.join(_KOREAN_COMPOUND.split())}|[{_KOREAN_SURNAMES}])\p{{Hangul}}{{2}})"
    r"(?![\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}ー])"
)
# Names inside CJK text, where no space marks a word: only with a cue next to them.
# Chinese: a surname and one or two characters before a title ("曹雨桐同学", "王先生"); a
# nickname, 小/老 and a surname or 阿 and a character ("小周，", "阿豪你"), standing after a
# line start, space or punctuation. Japanese: a name after a role in minutes ("書記 杉浦").
# Korean: a full name after a kin word or role ("아들 문태현", "상주: 곽민재, 곽민호").
# (`_HONORIFIC` takes names before さん, 様, 님, 씨; `_cjk_role_word` keeps roles out of both.)
_ZH_TITLES = (
    "先生 女士 小姐 同学 同學 老师 老師 医生 醫生 大夫 师傅 師傅 经理 經理 主任 教授 律师 律師 阿姨 叔叔 太太 警官 护士 "
    "護士 院长 院長 博士 总监 總監 主管 会计 會計 同事 同志 校长 校長"
)
_NOT_AFTER_NICK = "姨拉根里富尔爾联聯卡森斯塞曼婆公嬷嬤伯爸妈媽爷爺哥弟妹姐嫂叔司們们"
_ZH_CUED = regex.compile(
    rf"(?:{'|'.join(_CHINESE_COMPOUND.split())}|[{_CHINESE_SURNAMES}])\p{{Han}}{{0,2}}?(?=(?:{'|'.join(_ZH_TITLES.split())}))"
)
_ZH_NICK = regex.compile(
    rf"(?<![\p{{Han}}\p{{Hiragana}}\p{{Katakana}}])(?:[小老][{_CHINESE_SURNAMES}]|阿(?![{_NOT_AFTER_NICK}])\p{{Han}})"
    r"(?=[^\p{Han}]|[你也说說的是在要和跟呢呀啊吧])"  # not 阿莫西林 (amoxicillin), 小王子
)
_JA_ROLE = regex.compile(
    r"(?:書記|会計|会長|副会長|議長|司会|幹事|監査|担当|担当者|部長|課長|係長|店長|受付|主治医)"
    r"[ \t\u3000：:]*(?P<v>\p{Han}{2,4})(?=[、,，。\s（(]|$)"
)
_NOT_JA_NAME = frozenset(
    "患者 会員 店長 運転手 社長 部長 課長 係長 先生 医者 看護師 担当者 利用者 皆様 お客 奥様 神様 王様 殿様 "
    "お母 お父 婆 爺 大家 駅員 職員 店員 会社 相手 皆さん 先輩 後輩".split()
)
_KO_CUED = regex.compile(
    r"(?:아들|딸|남편|아내|엄마|아빠|어머니|아버지|할머니|할아버지|형|누나|오빠|언니|동생|친구|보호자|상주|환자|담당자|담당|"
    r"신청인|고객|수신|발신|작성자)[ \t]*[:：]?[ \t]+"
    rf"(?P<v>[{_KOREAN_SURNAMES}]\p{{Hangul}}{{2}})(?:,[ \t]*(?P<w>[{_KOREAN_SURNAMES}]\p{{Hangul}}{{2}}))?(?!\p{{Hangul}}{{2}})"
)
# A name masked on a receipt or notification: surname, then asterisks for the rest, or one
# character masked in the middle ("박*수", "张*", "王**", "이○○").
_MASKED_CJK_NAME = regex.compile(
    rf"(?<![\p{{Han}}\p{{Hangul}}*＊○●])[{_CHINESE_SURNAMES}{_KOREAN_SURNAMES}]"
    r"(?:[*＊○●]{1,2}[\p{Han}\p{Hangul}]?|[\p{Han}\p{Hangul}][*＊○●])(?![\p{Han}\p{Hangul}*＊○●])"
)
_NOT_KO_NAME = frozenset("이사장 부사장 부회장 부원장 부총장 조교수 부장관 사무장 이사회".split())


def _cjk_role_word(value: str) -> bool:
    """A role or courtesy noun before an honorific, not a name ("お客", "店長", "이사장")."""
    return value in _NOT_JA_NAME or value[-2:] in _NOT_JA_NAME or value in _NOT_KO_NAME or value[-3:] in _NOT_KO_NAME


_HANGUL_CHAR = regex.compile(r"\p{Hangul}")
_CJK_CHAR = regex.compile(r"[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]")
_CJK_ONLY = regex.compile(r"[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]+")
_OTHER_SCRIPT_LETTER = regex.compile(r"[\p{Latin}\p{Cyrillic}\p{Greek}]")


def _cjk_names_in_other_script(text: str, given: frozenset[str]) -> list[tuple[int, int]]:
    """Spans of Chinese and Korean full names standing alone in text of another script.
    A Korean one needs a given name the lexicon knows (`given`): Korean words start with a
    surname syllable too often ("이메일", e-mail; "연락처", contact)."""
    out = []
    mixed: dict[int, bool] = {}  # line start -> whether the line is mostly of another script
    for m in _CJK_NAME.finditer(text):
        if _HANGUL_CHAR.match(m.group()) and m.group()[-2:] not in given:
            continue
        lo = text.rfind("\n", 0, m.start()) + 1
        if lo not in mixed:
            hi = text.find("\n", m.end())
            line = text[lo : hi if hi >= 0 else len(text)]
            other = len(_OTHER_SCRIPT_LETTER.findall(line))
            mixed[lo] = other >= 2 and len(_CJK_CHAR.findall(line)) <= max(other, 4)
        if mixed[lo]:
            out.append(m.span())
    return out


# Chat lines: "name: message". A label repeated at two line starts is a speaker.
# (letters with their combining marks: Bengali, Devanagari and Thai vowel signs are marks)
_LINE_LABEL = regex.compile(
    r"(?m)^[ \t]*(?P<stamp>\[[^\]\n]{1,12}\][ \t]*)?(?P<v>\p{L}[\p{L}\p{M}\p{N}_'’. -]{0,24}?)[ \t]?:[ \t]"
)
_NOT_SPEAKER = frozenset(
    """customer agent support user bot me you admin staff system operator host guest doctor dr patient nurse q a
    note notes re subject from to cc bcc date time tel phone fax email name address ref reference total status
    update edit ps nb fyi important warning error info question answer reply response comment client server
    team manager teacher student mom dad mum grandma grandpa sis bro""".split()
)


@dataclass(frozen=True)
class Lexicon:
    """Lower-case name lists (guard/deid/data, see bench/build_name_lexicon.py)."""

    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]  # names that are also everyday English words
    last_english: frozenset[str]  # surnames that are English words ("ridge")
    foreign: frozenset[str]  # names that are everyday words of other languages ("primo", "jaja")
    words: frozenset[str]  # the most frequent words of 25 languages (names among them too)


@functools.cache
def lexicon() -> Lexicon:
    data = resources.files("guard.deid").joinpath("data")

    def read(name: str) -> frozenset[str]:
        return frozenset(data.joinpath(name).read_text(encoding="utf-8").split())

    return Lexicon(
        first=read("names_first.txt") - _NOT_NAME,
        last=read("names_last.txt") - _NOT_NAME,
        common=read("names_common_words.txt") | _NOT_NAME,
        last_english=read("names_last_english.txt"),
        foreign=read("names_common_foreign.txt"),
        words=read("common_words.txt"),
    )


@functools.cache
def english_dictionary() -> frozenset[str]:
    """English base words (WordNet's index, shipped in the spaCy model's lemmatizer tables)."""
    from spacy.lookups import Lookups
    from spacy.util import get_package_path

    from guard.deid._nlp import SPACY_MODEL

    root = get_package_path(SPACY_MODEL)
    folder = next(root.glob("*/lemmatizer/lookups"))
    table = Lookups().from_disk(folder).get_table("lemma_index")
    return frozenset(w for words in table.values() for w in words)


# Turkish (and Azerbaijani) write a proper noun's case and possessive suffixes after an
# apostrophe: "Ahmet'in" (Ahmet's), "Ayşe'ye" (to Ayşe), "Mehmet'le" (with Mehmet),
# "Elif'ten" (from Elif). The stem is the name; a one-letter stem (O'Neill, d'Arcy) is not.
_TURKISH_SUFFIXES = (
    "a e ı i u ü ya ye yı yi yu yü la le yla yle da de ta te dan den tan ten ın in un ün "
    "nın nin nun nün yın yin na ne ya nda nde ndan nden ca ce ça çe dır dir dur dür tır tir "
    "ım im um üm yım yim dı di du dü ydı ydi"
).split()
_APOSTROPHE_SUFFIX = re.compile(
    rf"^(?P<stem>[^\W\d_]{{2,}})['’](?:{'|'.join(sorted(set(_TURKISH_SUFFIXES), key=len, reverse=True))})$",
    re.IGNORECASE,
)


def _strip_possessive(word: str) -> str:
    if word.endswith(("'s", "’s")):
        return word[:-2]
    if "'" in word or "’" in word:
        m = _APOSTROPHE_SUFFIX.match(word)
        if m:
            return m.group("stem")
    return word


def _is_cap(word: str) -> bool:
    return word[0].isupper() and not (len(word) > 1 and word.isupper())


def _cap_or_upper(word: str) -> bool:
    return word[0].isupper()


# spaCy labels that make a lone capitalised word something other than a person. Not ORG:
# the small model calls many unfamiliar surnames ORG ("In 1868, Aguilar lost ...").
_NOT_PERSON_LABELS = frozenset({"GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "LAW", "LANGUAGE", "WORK_OF_ART"})
_INITIALS_BEFORE = re.compile(r"(?:\b(?:[A-ZΑ-ΩΆΈΉΊΌΎΏА-ЯЁІЇЄ]{1,2}|Md|Mohd|Muhd|Moh)\.?[ -]?){1,3}$")
# "Thanakrit Phromsuwan (ธนกฤต พรหมสุวรรณ)", "Liang Xiaoyu (梁晓雨)": a name repeated in a non-Latin script
_NATIVE_AFTER = regex.compile(
    r"[ \t]?\((?P<v>(?:(?!\p{Latin})[\p{L}\p{M}])(?:(?:(?!\p{Latin})[\p{L}\p{M}])|[ ·.]){0,40})\)"
)


def _native_name(value: str) -> bool:
    """Two or three words ("ธนกฤต พรหมสุวรรณ"), or a Chinese or Korean name that starts with a
    surname ("梁晓雨"): one word in brackets after a name is mostly a role or kin word ("(ภรรยา)", wife)."""
    words = value.split()
    if 2 <= len(words) <= 3:
        return all(len(w) > 1 for w in words)
    return bool(_CJK_SURNAME_NAME.fullmatch(value))


_AFTER_NAME = re.compile(r"^(?:\s(?:I{1,3}|IV|VI{0,3}|IX|X|Jr\.?|Sr\.?|Jnr|Snr)\b\.?)")


# Words that lead into a name inside one capitalised run ("Hola Javiera", "Daughter Jurgita",
# "Coach Tariq Mahmood"): left out of the span, like titles, unless used as a given name.
_LEAD_WORDS = frozenset(
    """text call whatsapp email ring coach technician sprinter owner aunty auntie pak bu ibu bapak kak mas mbak
    ma'am maam sgt ofc cpl pvt lt col maj gen cmdr capt insp det supt cllr rep sen gov pres amb
    hola hei hej hallo moi ciao salut bonjour buenos buenas olá oi hallå halo""".split()
)
_LEAD_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?\.?")


def _strip_lead_words(text: str, r: RecognizerResult) -> None:
    """Move the start of a name past cue words, greetings and titles that its capitalised
    run swallowed; a word that is also a given name ("Will", "Grace") stays."""
    first = lexicon().first
    while True:
        m = _LEAD_WORD.match(text, r.start, r.end)
        if not m:
            return
        low = m.group().rstrip(".").lower()
        lead = low in _TITLES or ((low in _CUES or low in _LEAD_WORDS) and low not in first)
        rest = text[m.end() : r.end]
        if not lead or not rest.strip() or not rest[:1].isspace() or "\n" in rest[: len(rest) - len(rest.lstrip())]:
            return
        r.start = m.end() + len(rest) - len(rest.lstrip())


def _with_initials(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Extend each name over initials before it ("H. Paul Brenner", "A.J. Smith") and a
    regnal number or suffix after it ("Elizabeth II", "Martin Luther King Jr."); leave
    leading cue words and a possessive "'s" outside it (redacting it tells nothing and counts as over-redaction)."""
    for r in results:
        _strip_lead_words(text, r)
        m = _INITIALS_BEFORE.search(text[max(0, r.start - 9) : r.start])
        if m and m.group().strip():
            r.start -= len(m.group())
            while r.start < len(text) and text[r.start] == " ":
                r.start += 1
        m = _AFTER_NAME.match(text[r.end : r.end + 5])
        if m:
            r.end += len(m.group())
        m = _NATIVE_AFTER.match(text, r.end)
        if m and _native_name(m.group("v")):
            r.end = m.end("v")  # the same name in its own script, in brackets after it
        if r.end - r.start > 3 and text[r.end - 2 : r.end] in ("'s", "’s"):
            r.end -= 2  # "Leach's": the possessive ending is no part of the name
    return results


_SUBJECT_AFTER = re.compile(
    r"^(?:'s|’s)?\s+(?:(?:only|also|then|later|eventually|soon|never|first|still|once|again|finally|initially|"
    r"subsequently|at\s+first)\s+)?(?:was|is|had|has|said|says|told|wrote|married|became|died|led|joined|left|won|lost|"
    r"played|started|served|reported|claimed|discovered|described|returned|refused|retired|decided|agreed|"
    r"explained|announced|appeared|worked|lived|moved|recorded|released|argued|believed|\w+ed\s+(?:the|a|an|his|her|to))\b"
)
# "Clarke's wife", "Kedarnath's friend": a possessive before a word for kin or a life event
_KIN_AFTER = re.compile(
    r"^\s+(?:(?:late|own|elder|older|younger|eldest|youngest|former|first|second|new|then|only|best)\s+)?"
    r"(?:wife|husband|son|daughter|sons|daughters|child|children|mother|father|parents|brother|sister|brothers|"
    r"sisters|sibling|siblings|half-sister|half-brother|stepmother|stepfather|uncle|aunt|nephew|niece|cousin|"
    r"grandson|granddaughter|grandmother|grandfather|grandchildren|widow|widower|fiancé|fiancée|fiance|fiancee|"
    r"girlfriend|boyfriend|friend|lover|mistress|death|birth|funeral|marriage|wedding|divorce|infidelity|murder|"
    r"killer|biography|memoir|autobiography)\b"
)
_DETERMINER_BEFORE = re.compile(r"(?i)\b(?:the|a|an|this|that|these|those|its|our|their|every|each)\s+$")
_SUBJECT_BEFORE = re.compile(
    r"(?:\baccording\s+to|\bthat|\bby|\bwith|\binvited|\bwhen|\bafter|\bbefore|\bmarried|\bmarries|\bmarrying|"
    r"\bdivorced|\bdivorcing)\s+$",
    re.I,
)


def _sentence_initial(text: str, start: int) -> bool:
    before = text[max(0, start - 20) : start].rstrip(" \t\"“'(")
    return not before or before[-1] in ".!?:\n"


def _acts_as_subject(text: str, start: int, end: int) -> bool:
    """A capitalised word used as a person: mid-sentence, and a verb of a person's doing
    follows it, or a word that introduces a person precedes it."""
    if _sentence_initial(text, start):
        return False  # at a sentence start a capital says nothing
    before = text[max(0, start - 20) : start]
    return bool(_SUBJECT_AFTER.match(text[end : end + 40]) or _SUBJECT_BEFORE.search(before))


def _shouting(tokens: list[str]) -> bool:
    """Every word in capitals (acronyms too)."""
    return all(t.isupper() and len(t) > 1 for t in tokens)


def _caseless(word: str) -> bool:
    """In a script without case (Arabic, Hebrew, CJK, Thai...)."""
    return word[0].lower() == word[0].upper()


def _cap_or_caseless(word: str) -> bool:
    """Capitalised, or in a script without case."""
    return word[0].isupper() or _caseless(word)


def _non_latin(word: str) -> bool:
    return any(ord(c) >= 0x370 for c in word)


class PersonNameRecognizer(EntityRecognizer):
    """PERSON from names with evidence (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="GuardPersonNameRecognizer")

    def load(self) -> None:
        lex = lexicon()
        self._first, self._last, self._common = lex.first, lex.last, lex.common
        self._last_english, self._foreign, self._words = lex.last_english, lex.foreign, lex.words

    def _strong_first(self, low: str) -> bool:
        return low in self._first and low not in self._common and len(low) > 2

    def _inflected_first(self, low: str) -> bool:
        """A given name in another case than the nominative ("Pétert", "Тарасом"): the word is
        no known name and no everyday word, and with its case ending undone it is a given name."""
        # (Greek and Cyrillic frequency lists hold the oblique forms of frequent names: there the
        # word need only be no English word, and the caller wants it capitalised)
        if self._known(low) or not (self._not_a_word(low) or _non_latin(low) and low not in english_dictionary()):
            return False
        for ending, nominative in _CASE_ENDINGS:
            if not low.endswith(ending):
                continue
            stem = low[: len(low) - len(ending)]
            if ending == "t" and not stem.endswith(tuple("slrnzjyáéíóőúű")):
                continue  # a bare Hungarian "-t" follows a vowel or one of these ("Katit", "Pétert")
            if ending in ("ot", "et", "öt", "at") and stem.endswith(tuple("aeiouáéíóöőúüű")):
                continue  # "-ot", "-et" follow a consonant ("Ádámot")
            if self._strong_first(stem + nominative):
                return True
        return False

    def _known(self, low: str) -> bool:
        return low in self._first or low in self._last

    def _not_a_word(self, low: str) -> bool:
        """Neither an English dictionary word nor a frequent word of 25 languages."""
        return low not in self._words and low not in english_dictionary() and low not in self._foreign

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
        doc = getattr(nlp_artifacts, "tokens", None)
        spacy_persons = (
            [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "PERSON"] if doc is not None else []
        )
        out: list[RecognizerResult] = []
        for run_start, run_end, tokens, before in self._runs(text, words):
            score = self._evidence(tokens, before)
            if score:
                # a function word that opens a sentence is no part of the name after it ("When
                # Ottilie arrived", "Die Bürgermeisterin ..."); the name keeps the run's evidence
                k = 0
                while k < len(tokens) - 1 and tokens[k].lower() in _LEADING_WORDS:
                    run_start += len(tokens[k]) + 1
                    k += 1
                out.append(self._result(run_start, run_end, score, "run"))
        for m in _HANDLE.finditer(text):
            a, b = m.group("a").lower(), m.group("b").lower()
            known = self._known(a) + self._known(b)
            if known:
                out.append(self._result(m.start(), m.end(), 0.85 if known == 2 else 0.6, "handle"))
        for rx, score, rule in (
            (_TITLED, 0.85, "title"),
            (_SIGN_OFF, 0.8, "sign_off"),
            (_TITLED_CASELESS, 0.85, "title_caseless"),
        ):
            for m in rx.finditer(text):
                out.append(self._result(m.start("v"), m.end("v"), score, rule))
        out.extend(self._proper_noun_runs(text, words, nlp_artifacts))
        out.extend(self._lower_case(text, words))
        out.extend(self._introduced(text))
        out.extend(self._non_latin_names(text, words))
        out.extend(self._cjk_cued(text))
        out.extend(self._fields(text))
        out.extend(self._speakers(text))
        out.extend(self._lists(text, spacy_persons))
        out.extend(self._families(text))
        out.extend(self._surname_alone(text, words, doc, out))
        out.extend(self._propagate(text, words, out, spacy_persons))
        return _with_initials(text, out)

    # --- rules -------------------------------------------------------------------------

    def _proper_noun_runs(
        self, text: str, words: list[tuple[int, int, str]], nlp_artifacts: NlpArtifacts | None
    ) -> list[RecognizerResult]:
        """spaCy ORG entities that look like a person's name: two or three capitalised words,
        none of them an organisation, heading or place word. The small model often labels
        unfamiliar names ORG, and Presidio ignores ORG (it also covers e-mails and "SSN")."""
        doc = getattr(nlp_artifacts, "tokens", None)
        if doc is None:
            return []
        out = []
        starts = [w[0] for w in words]  # (in text order: the words of an entity are a slice)
        for ent in doc.ents:
            if ent.label_ != "ORG":
                continue
            inside = words[bisect.bisect_left(starts, ent.start_char) : bisect.bisect_left(starts, ent.end_char)]
            toks = [w for w in inside if w[1] <= ent.end_char]
            if not 2 <= len(toks) <= 3 or toks[0][0] != ent.start_char or toks[-1][1] != ent.end_char:
                continue
            if all(
                _is_cap(w) and w.lower() not in _NOT_NAME and w.lower() not in _ORG_WORDS for _, _, w in toks
            ) and any(self._known(w.lower()) and self._not_a_word(w.lower()) for _, _, w in toks):
                out.append(self._result(ent.start_char, ent.end_char, 0.5, "org_shaped_name"))
        return out

    def _runs(self, text: str, words: list[tuple[int, int, str]]) -> Iterable[tuple[int, int, list[str], list[str]]]:
        """Maximal runs of capitalised words joined by single spaces (particles allowed inside),
        with up to three lower-cased words before the run."""
        i, n = 0, len(words)
        while i < n:
            s, e, w = words[i]
            if not _cap_or_upper(w) or w.lower() in _NOT_NAME:
                i += 1
                continue
            j = i + 1
            longest = 4  # words; one more when a patronymic joins two names ("SITI HAJAR BINTI MOHD YUSOF")
            while j < n and j - i < longest:
                gap = text[words[j - 1][1] : words[j][0]]
                wj = words[j][2]
                if gap not in (" ", "-"):
                    break
                if _cap_or_upper(wj) and wj.lower() not in _NOT_NAME:
                    j += 1
                elif (
                    wj.lower() in _PARTICLES
                    and j + 1 < n
                    and _cap_or_upper(words[j + 1][2])
                    and text[words[j][1] : words[j + 1][0]] == " "
                ):
                    if wj.lower() in _PATRONYMIC or wj.lower() in _PATRONYMIC_WORDS:
                        longest = 5
                    j += 2
                else:
                    break
            before = [x[2].lower() for x in words[max(0, i - 3) : i]]
            prev_gap = text[words[i - 1][1] : s] if i else ""
            if not (i and prev_gap.strip(" ") in ("", ".", ":", ",") and "\n" not in prev_gap):
                before = []  # the run starts a line or follows other punctuation: no cue applies
            yield s, words[j - 1][1], [x[2] for x in words[i:j]], before
            i = j

    def _evidence(self, tokens: list[str], before: list[str]) -> float:
        low = [_strip_possessive(t.lower()) for t in tokens]
        # a title or courtesy word that opens the run is a cue, not part of the evidence
        # ("DOÑA EULALIA ...", "Herr Jansen", "SRA. LÓPEZ": forms and notices in capitals)
        lead = 0
        while lead < len(low) - 1 and low[lead] in _LEAD_TITLES:
            lead += 1
        # (in Title case only before a given name or a word that is no everyday word:
        # "General Semantics", "Justice Department" are no names)
        if lead and (_shouting(tokens) or any(self._strong_first(t) or self._not_a_word(t) for t in low[lead:])):
            tokens, low, before = tokens[lead:], low[lead:], [*before, *low[:lead]]
        prev = before[-1] if before else ""
        shouting = _shouting(tokens)
        if (prev in _TITLES or prev in _HONORIFICS) and (not shouting or any(self._known(t) for t in low)):
            return 0.85
        strong = [t for t in low if self._strong_first(t) or len(tokens) == 1 and self._inflected_first(t)]
        known = [t for t in low if self._known(t)]
        if shouting:
            strong = [t for t in strong if t not in self._foreign]
        if len(tokens) >= 2 and strong:
            return 0.85
        if len(tokens) >= 2 and known and prev in _CUES:
            return 0.85
        if len(tokens) >= 2 and len(known) == len(tokens) and any(self._not_a_word(t) for t in low):
            return 0.7  # every word a known name, one of them no everyday word ("Staff Nurse" is not)
        inner = low[1:-1]
        if inner and all(t not in english_dictionary() for t in low if t not in _PARTICLES):
            if any(t in _PATRONYMIC for t in inner) or (strong and any(t in _PATRONYMIC_WORDS for t in inner)):
                return 0.7
        if shouting:
            return 0.0
        if len(tokens) >= 2 and any(t in self._last and t not in self._common for t in (low[0], low[-1])):
            if not any(t in _ORG_WORDS for t in low):
                return 0.6
        if prev in _CUES or any(b in _CUES for b in before[-2:]) and prev in ("is", "s", "the", "my", "our", "your"):
            return 0.7
        if strong or (len(tokens) == 1 and self._syllable_name(tokens[0])):
            return 0.6
        return 0.0

    def _syllable_name(self, word: str) -> bool:
        """A romanised Korean or Chinese given name of two syllables joined by a hyphen
        ("Seo-yeon"); not a reduplication ("So-so") nor an English word ("Co-op")."""
        if not _SYLLABLE_NAME.match(word):
            return False
        a, b = word.lower().split("-")
        if a == b or word.lower() in english_dictionary() or a + b in english_dictionary():
            return False
        return a + b in self._first or (a in _CJK_SYLLABLES and b in _CJK_SYLLABLES)

    def _lower_case(self, text: str, words: list[tuple[int, int, str]]) -> list[RecognizerResult]:
        """Names typed in lower case: given name + known surname, or a given name next to a
        cue ("hi maria", "this is aino", "maria said")."""
        out = []
        n = len(words)
        # typed in lower case throughout (chat): capitals carry no signal there
        lower_text = sum(w[0].isupper() for _, _, w in words) <= max(1, len(words) // 20)
        for i, (s, e, w) in enumerate(words):
            if not w.islower():
                continue
            low = _strip_possessive(w)
            nxt = words[i + 1] if i + 1 < n and text[e : words[i + 1][0]] == " " else None
            prev = words[i - 1][2].lower() if i and text[words[i - 1][1] : s].strip(" ,") == "" else ""
            after = nxt[2].lower() if nxt else ""
            cued = prev in _CHAT_CUES or after in _SPEECH_AFTER
            if (
                prev in _KIN_CUES
                and low in self._first
                and len(low) > 2
                and low not in _NOT_NAME
                and low not in _AFTER_KIN_NOT_NAME
            ):
                out.append(self._result(s, self._lower_tail(text, words, i), 0.6, "lower_kin_name"))
                continue
            if self._strong_first(low) and cued:
                # "this is ingrid", "alba said": the cue decides, even for a name that is
                # also a word in some language; a known surname after it joins ("to teresa aguilar")
                tail = self._lower_tail(text, words, i)
                if tail > e:
                    out.append(self._result(s, tail, 0.7, "lower_full_name"))
                else:
                    out.append(self._result(s, e, 0.6, "lower_given_name"))
                continue
            if low in self._foreign:
                continue
            if not self._strong_first(low):
                if (
                    lower_text
                    and len(low) > 3
                    and low in self._last
                    and low not in self._common
                    and low not in self._last_english
                ):
                    out.append(self._result(s, e, 0.5, "lower_surname_alone"))
                continue
            tail = self._lower_tail(text, words, i)
            if tail > e:
                out.append(self._result(s, tail, 0.7, "lower_full_name"))
            elif w.endswith(("'s", "’s")):
                out.append(self._result(s, e, 0.6, "lower_given_name"))
            elif lower_text and len(low) > 3:
                out.append(self._result(s, e, 0.5, "lower_given_name_alone"))
        return out

    def _lower_name_part(self, word: str) -> bool:
        """A lower-case word that may continue a name: every hyphened part a known name that
        is no frequent word of English or another language ("aguilar", "blanes-cabello";
        not "ward", "por")."""
        parts = _strip_possessive(word).split("-")
        return all(
            len(p) > 1 and self._known(p) and p not in self._common and p not in _NOT_NAME and p not in self._foreign
            for p in parts
        )

    def _lower_tail(self, text: str, words: list[tuple[int, int, str]], i: int) -> int:
        """Where a lower-case name that starts at word `i` ends: a known surname after it
        joins, also after a particle ("teresa aguilar", "magdalena de backer")."""
        end, j, n = words[i][1], i + 1, len(words)
        if words[i][2].endswith(("'s", "’s")):
            return end
        if j + 1 < n and words[j][2] in _PARTICLES and text[words[j][1] : words[j + 1][0]] == " ":
            j += 1  # (the particle joins only with the surname after it)
        if j < n and text[words[j - 1][1] : words[j][0]] == " " and words[j][2].islower():
            if self._lower_name_part(words[j][2]):
                return words[j][1]
        return end

    def _introduced(self, text: str) -> list[RecognizerResult]:
        """The words after "my name is", "this is", "i'm", "call me": one to three words up to
        punctuation or an everyday word, in any case ("hi my name is tomas zukas, ...")."""
        out = []
        for m in _INTRODUCTION.finditer(text):
            # Vietnamese names are syllables that are also everyday words
            vietnamese = m.group().lower().startswith(("tôi", "tên", "em", "mình"))
            toks = []
            for w in _WORD.finditer(text, m.end(), min(len(text), m.end() + 60)):
                gap = text[toks[-1][1] : w.start()] if toks else text[m.end() : w.start()]
                low = w.group().lower()
                word_like = low in _NOT_NAME or (low in self._words and not self._known(low))
                # after "tôi tên là" a capitalised word is part of the name even when it is a
                # word ("Đoàn Văn An"; not so after "my name is Brisa And I ...")
                if gap.strip() or word_like and not (vietnamese and _is_cap(w.group())):
                    break
                toks.append((w.start(), w.end()))
                if len(toks) == 3:
                    break
            if toks and not m.group("strong"):
                first = text[toks[0][0] : toks[0][1]]
                low = first.lower()
                if not (
                    _is_cap(first) or (not vietnamese and self._strong_first(low) and low not in english_dictionary())
                ):
                    continue  # "i am happy", "this is the best"
            if toks:
                out.append(self._result(toks[0][0], toks[-1][1], 0.7, "introduced"))
        return out

    def _non_latin_names(self, text: str, words: list[tuple[int, int, str]]) -> list[RecognizerResult]:
        """Names in Greek, Cyrillic, Arabic, Hebrew, CJK...: lexicon words, and capitalised
        Greek/Cyrillic pairs with a typical surname ending."""
        out = []
        i, n = 0, len(words)
        while i < n:
            s, e, w = words[i]
            if not _non_latin(w):
                i += 1
                continue
            j = i
            while (
                j + 1 < n and _non_latin(words[j + 1][2]) and text[words[j][1] : words[j + 1][0]] == " " and j - i < 2
            ):
                j += 1
            run = words[i : j + 1]
            lows = [x[2].lower() for x in run]
            known = [self._known(x) for x in lows]
            endings = [bool(_SURNAME_ENDING.search(x)) and _is_cap(x2) for x, (_, _, x2) in zip(lows, run)]
            if len(run) >= 2 and (any(known) or any(endings)) and all(_cap_or_caseless(x[2]) for x in run):
                out.append(self._result(run[0][0], run[-1][1], 0.7, "non_latin_full_name"))
            else:
                for (a, b, x), k in zip(run, known):
                    if k and len(x) > 1 and (x.lower() in self._first or _is_cap(x)):
                        out.append(self._result(a, b, 0.6, "non_latin_name"))
                    elif not k and _is_cap(x) and self._inflected_first(x.lower()):
                        out.append(self._result(a, b, 0.6, "non_latin_inflected_name"))
            i = j + 1
        return out

    def _cjk_cued(self, text: str) -> list[RecognizerResult]:
        """Chinese, Japanese and Korean names inside CJK text, next to a title, honorific,
        role or kin word (see `_ZH_CUED` and the patterns after it)."""
        if not _CJK_CHAR.search(text):
            return []
        out = []
        for m in _ZH_CUED.finditer(text):
            out.append(self._result(m.start(), m.end(), 0.7, "zh_titled_name"))
        for m in _ZH_NICK.finditer(text):
            out.append(self._result(m.start(), m.end(), 0.6, "zh_nickname"))
        for m in _JA_ROLE.finditer(text):
            if not _cjk_role_word(m.group("v")):
                out.append(self._result(m.start("v"), m.end("v"), 0.7, "ja_role_name"))
        for m in _MASKED_CJK_NAME.finditer(text):
            out.append(self._result(m.start(), m.end(), 0.6, "masked_cjk_name"))
        for m in _KO_CUED.finditer(text):
            for g in ("v", "w"):
                if m.group(g):
                    out.append(self._result(m.start(g), m.end(g), 0.7, "ko_cued_name"))
        return out

    def _fields(self, text: str) -> list[RecognizerResult]:
        """Form fields, booking names, nicknames and honorifics."""
        out = []
        for m in _NAME_FIELD.finditer(text):
            value = m.group("v").rstrip(" .-/")
            label = m.group("label").lower()
            toks = value.split()
            if not toks or all(t.lower() in _NOT_NAME for t in toks):
                continue
            if label in _GENERIC_LABELS and not all(_cap_or_caseless(t) or t.lower() in _PARTICLES for t in toks):
                continue
            if label in _GENERIC_LABELS and not any(
                self._known(t.lower()) or self._not_a_word(t.lower()) for t in toks
            ):
                continue  # "Titular: Sí", "Patient: Unknown"
            out.append(self._result(m.start("v"), m.start("v") + len(value), 0.85, "name_field"))
        for m in _PNR.finditer(text):
            out.append(self._result(m.start("v"), m.end("v"), 0.85, "booking_name"))
        for m in _SLASHED_NAME.finditer(text):
            given = m.group("g").split()[0].lower()
            if m.group("s").lower() in self._last and given in self._first:
                out.append(self._result(m.start(), m.end(), 0.8, "booking_name"))
        for m in _INVERTED.finditer(text):
            surname = m.group("s")
            if not surname.isupper() or surname.lower() not in self._last or surname.lower() in self._common:
                continue
            given = []  # the given names up to the first word that is no name
            for w in m.group("g").split():
                low = w.lower()
                if low in _NOT_NAME or not (self._known(low) or self._not_a_word(low)):
                    break
                given.append(w)
            if given and given[0].lower() in self._first:
                end = m.start("g") + len(" ".join(given))
                if text[m.start("g") : end] == " ".join(given):
                    out.append(self._result(m.start(), end, 0.8, "surname_comma_given"))
        for m in _CV_TITLE.finditer(text):
            value = m.group("v").rstrip(" .")
            toks = value.split()
            if text[m.end("v") : m.end("v") + 1] in (":", "：") or "  " in value:
                continue  # a form's first field ("성명: ..."), or a line of fields
            lows = [t.lower().rstrip(".") for t in toks]
            if _CJK_SURNAME_NAME.fullmatch(value) or (
                2 <= len(toks) <= 5
                and all(
                    (_cap_or_caseless(t.rstrip(".")) or t.lower() in _PARTICLES) and low not in _NOT_NAME
                    for t, low in zip(toks, lows)
                )
                and (any(self._known(low) for low in lows) or all(self._not_a_word(low) for low in lows))
            ):
                # a known name, or words that are no word of any language: a name the
                # lexicon lacks ("Thanakrit Phromsuwan", "森 治"), not "Software Engineer";
                # or a Chinese or Korean name written as one word ("김지연")
                out.append(self._result(m.start("v"), m.start("v") + len(value), 0.7, "cv_owner"))
        for m in _NAME_COMMA_AGE.finditer(text):
            toks = m.group("v").split()
            low = [t.lower() for t in toks]
            if not any(t in _NOT_NAME or t in _ORG_WORDS for t in low) and any(
                self._known(t) or self._not_a_word(t) for t in low
            ):
                out.append(self._result(m.start("v"), m.end("v"), 0.7, "name_comma_age"))
        for m in _KIN_LIST.finditer(text):
            for item in _AGED_ITEM.finditer(m.group()):
                if item.group("v").lower() not in _NOT_NAME:
                    out.append(
                        self._result(m.start() + item.start("v"), m.start() + item.end("v"), 0.7, "kin_with_age")
                    )
        for m in _NICKNAMED.finditer(text):
            if self._known(m.group("a").lower()) or self._known((m.group("b") or "").lower()):
                out.append(self._result(m.start(), m.end(), 0.7, "nicknamed"))
        for m in _TRANSFER.finditer(text):
            if m.group("t"):
                out.append(self._result(m.start("t"), m.end("t"), 0.7, "transfer_party"))
            elif any(self._known(w.lower()) for w in m.group("v").split()) and not any(
                w.lower() in _SHOP_WORDS for w in m.group("v").split()
            ):
                out.append(self._result(m.start("v"), m.end("v"), 0.7, "transfer_party"))
        for m in _HONORIFIC.finditer(text):
            group = next(g for g in ("v", "v2", "v3", "v4") if m.group(g))
            if _cjk_role_word(m.group(group)):
                continue  # "お客様" (customer), "店長さん", "이사장님": a role, not a name
            out.append(self._result(m.start(group), m.end(group), 0.7, "honorific"))
        if _CJK_CHAR.search(text):
            out += [
                self._result(s, e, 0.6, "cjk_name_in_other_script")
                for s, e in _cjk_names_in_other_script(text, self._first)
            ]
        return out

    def _speakers(self, text: str) -> list[RecognizerResult]:
        """Chat speaker labels at line starts, in any case: a label used on two lines, or a
        known given name."""
        labels = [(m.start("v"), m.group("v").strip(), bool(m.group("stamp"))) for m in _LINE_LABEL.finditer(text)]
        seen: dict[str, int] = {}
        for _, v, _ in labels:
            seen[v.lower()] = seen.get(v.lower(), 0) + 1
        # a dialogue: few labels, one of them back on a later line ("ana: ... / ben: ... / ana: ...");
        # there every one-word label is a speaker, also one that speaks only once
        distinct = {v.lower() for _, v, _ in labels}
        dialogue = 2 <= len(distinct) <= 4 and any(n >= 2 for n in seen.values())
        out = []
        for a, v, stamped in labels:
            low = v.lower()
            toks = low.split()
            if not toks or len(toks) > 3 or any(t in _NOT_SPEAKER or t in _NOT_NAME for t in toks):
                continue
            if _NAME_LABEL_RX.fullmatch(low):
                continue  # a form field label ("Guest:"), not a speaker
            chat = stamped or seen[low] >= 2 or (dialogue and len(toks) == 1)
            if chat and not any(t in self._words and not self._known(t) for t in toks):
                out.append(self._result(a, a + len(v), 0.6, "speaker"))
            elif self._strong_first(toks[0]) and not any(t in self._words for t in toks):
                out.append(self._result(a, a + len(v), 0.6, "speaker"))
        return out

    def _surname_alone(
        self, text: str, words: list[tuple[int, int, str]], doc, found: list[RecognizerResult]
    ) -> list[RecognizerResult]:  # type: ignore[no-untyped-def]
        """A capitalised surname on its own ("Aguilar lost re-election") that spaCy does not
        call a place, organisation or group."""
        other = (
            [(e.start_char, e.end_char) for e in doc.ents if e.label_ in _NOT_PERSON_LABELS] if doc is not None else []
        )
        in_other = inside_any(other)
        in_found = inside_any((r.start, r.end) for r in found)
        out = []
        for i, (s, e, w) in enumerate(words):
            if not _is_cap(w):
                continue
            low = _strip_possessive(w.lower())
            if len(low) < 3:
                continue
            if in_other(s, e) or in_found(s, e):
                continue
            plain = low in self._last and low not in self._foreign
            if plain and low not in self._common and low not in english_dictionary():
                out.append(self._result(s, e, 0.5, "surname_alone"))
                continue
            kin = w.endswith(("'s", "’s")) and _KIN_AFTER.match(text[e : e + 40]) is not None
            if _DETERMINER_BEFORE.search(text[max(0, s - 8) : s]):
                continue  # "the Council wanted": a determiner makes it a thing, not a person
            if (self._known(low) or self._not_a_word(low)) and (kin or _acts_as_subject(text, s, e)):
                # "Palmer was a villain", "according to Costa", "Greisen's brother": a name
                # that is also a word (or in no list) used as a person; later mentions follow.
                # A capitalised given name just before it is the rest of the name ("Mason
                # Frost informed her": the given name alone had no verb after it)
                prev = words[i - 1] if i and text[words[i - 1][1] : s] == " " else None
                if prev and _is_cap(prev[2]) and self._given_before_surname(prev[2].lower()):
                    s = prev[0]
                out.append(self._result(s, e, 0.6, "surname_as_subject"))
        return out

    def _given_before_surname(self, low: str) -> bool:
        return len(low) > 2 and low in self._first and low not in _NOT_NAME and low not in _LEAD_TITLES

    def _families(self, text: str) -> list[RecognizerResult]:
        """A surname before "family", "household", "twins"...: "the Drub family". A word in
        Latin script must be a surname that is no everyday word, or in no list at all ("the
        Royal family", "the American family" stay)."""
        out = []
        for m in _FAMILY_OF.finditer(text):
            word = m.group("v")
            low = word.lower()
            if _caseless(word) or (low in self._last and low not in self._common) or self._not_a_word(low):
                if low not in _NOT_NAME:
                    out.append(self._result(m.start("v"), m.end("v"), 0.7, "family_name"))
        return out

    def _lists(self, text: str, spacy_persons: list[tuple[int, int]]) -> list[RecognizerResult]:
        """Every capitalised member of a list in which one member is a name."""
        out = []
        for m in _LIST.finditer(text):
            items = [(x.start() + m.start(), x.end() + m.start(), x.group()) for x in _LIST_ITEM.finditer(m.group())]
            items = [it for it in items if it[2].lower() not in _NOT_NAME]
            if len(items) < 2:
                continue
            named = [
                it
                for it in items
                if (lambda low: self._strong_first(low) or (low in self._last and low not in self._common))(
                    _strip_possessive(it[2].lower())
                )
                or any(a <= it[0] and it[1] <= b for a, b in spacy_persons)
            ]
            if named:
                out.extend(self._result(a, b, 0.6, "name_list") for a, b, _ in items)
        return out

    def _propagate(
        self,
        text: str,
        words: list[tuple[int, int, str]],
        found: list[RecognizerResult],
        spacy_persons: list[tuple[int, int]],
    ) -> list[RecognizerResult]:
        """Later mentions of a name found in the same text ("Leach" after "Bernard Leach")."""
        ours = [(r.start, r.end) for r in found if r.score >= 0.6]
        own = set(ours)
        names: set[str] = set()
        for a, b in ours + spacy_persons:
            toks = [_strip_possessive(m.group()) for m in _WORD.finditer(text, a, b)]
            # a one-word spaCy PERSON must be a known name to spread ("Salary" is not)
            trusted = (a, b) in own or len(toks) > 1
            for w in toks:
                low = w.lower()
                # a word without case spreads only from guard's own finds (a speaker, an
                # honorific): spaCy's spans in those scripts also take in titles and words
                shape = _is_cap(w) or ((a, b) in own and _caseless(w))
                if len(w) > 2 and shape and low not in _NOT_NAME and (trusted or self._known(low)):
                    names.add(w)
        spans = ours + spacy_persons
        out = self._cjk_again(text, ours, spans)
        if not names:
            return out
        covered = inside_any(spans)
        for s, e, w in words:
            name = _strip_possessive(w)
            if name not in names or covered(s, e):
                continue
            if name.lower() in self._common and _sentence_initial(text, s):
                continue  # "Rose" at a sentence start may be the flower
            out.append(self._result(s, e, 0.6, "same_name_again"))
        return out

    def _cjk_again(
        self, text: str, ours: list[tuple[int, int]], covered: list[tuple[int, int]]
    ) -> list[RecognizerResult]:
        """Later mentions of a CJK name guard found ("曹雨桐同学 ... 曹雨桐是"): CJK text has no
        spaces, so the name is looked for as a substring, two to four characters long."""
        # (in the order found, not a set's: the results must not depend on the hash seed)
        names = dict.fromkeys(text[a:b] for a, b in ours if 2 <= b - a <= 4 and _CJK_ONLY.fullmatch(text, a, b))
        out = []
        inside = inside_any(covered)
        for name in names:
            start = text.find(name)
            while start >= 0:
                end = start + len(name)
                if not inside(start, end):
                    out.append(self._result(start, end, 0.6, "same_name_again"))
                start = text.find(name, end)
        return out

    def _result(self, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        from guard.deid._recognizer import make_result

        return make_result(self, "PERSON", start, end, score, rule)


def person_name() -> PersonNameRecognizer:
    return PersonNameRecognizer()


__all__ = ["PersonNameRecognizer", "lexicon", "person_name"]

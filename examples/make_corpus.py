"""Make the synthetic example corpus `clinical_notes.jsonl` (and `clinical_notes.csv`).

Every person, number and address in it is invented: names come from Faker,
the other identifiers from seeded random draws shaped to pass the usual
validity checks (Luhn for cards, mod-97 for IBANs, SSN area rules). The same
seed and Faker version give byte-identical files:

    python examples/make_corpus.py            # writes next to this script
    python examples/make_corpus.py --out DIR

Needs only Faker (see examples/README.md for the version used).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import string
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import faker

SEED = 20240521
N_PATIENTS = 220
N_NOTES = 480  # before the planted duplicates
N_EXACT = 12  # planted exact copies (some differ only in case or whitespace)
N_NEAR = 12  # planted near copies (a short edit at the end or start)
CSV_ROWS = 50
FIELDS = ["id", "patient_id", "sex", "site", "note_type", "label", "text"]
LABELS = ["cardiology", "oncology", "neurology", "orthopedics", "billing"]

# -- sites: each one state and a skewed label mix, so federated silos are non-IID
SITES = {
    "st-marys": ("St. Mary's Medical Center", "OH", "stmarys-med.org", [0.40, 0.15, 0.15, 0.10, 0.20]),
    "lakeside": ("Lakeside General Hospital", "IL", "lakesidegeneral.org", [0.15, 0.40, 0.15, 0.10, 0.20]),
    "northgate": ("Northgate Community Hospital", "WA", "northgatehealth.org", [0.10, 0.15, 0.40, 0.15, 0.20]),
    "riverview": ("Riverview University Hospital", "TX", "riverview-uh.org", [0.15, 0.10, 0.15, 0.40, 0.20]),
}
SITE_WEIGHTS = [0.30, 0.25, 0.25, 0.20]

# real city names with their ZIP prefixes; street numbers and ZIP endings are random
CITIES = {
    "OH": [("Columbus", "432"), ("Dayton", "454"), ("Cincinnati", "452"), ("Toledo", "436"), ("Akron", "443")],
    "IL": [("Chicago", "606"), ("Evanston", "602"), ("Naperville", "605"), ("Joliet", "604"), ("Skokie", "600")],
    "WA": [("Seattle", "981"), ("Tacoma", "984"), ("Bellevue", "980"), ("Everett", "982"), ("Spokane", "992")],
    "TX": [("Austin", "787"), ("Round Rock", "786"), ("Houston", "770"), ("San Antonio", "782"), ("Waco", "767")],
    "FL": [("Tampa", "336"), ("Orlando", "328")],
    "CA": [("Sacramento", "958"), ("San Diego", "921")],
    "NY": [("Buffalo", "142"), ("Albany", "122")],
    "PA": [("Pittsburgh", "152")],
    "MI": [("Detroit", "482")],
    "GA": [("Atlanta", "303")],
    "AZ": [("Phoenix", "850")],
    "CO": [("Denver", "802")],
}
STREETS = [
    "Oak", "Maple", "Elm", "Washington", "Lincoln", "Park", "Cedar", "Main", "Lake", "Hill", "Pine",
    "Walnut", "Sunset", "Jefferson", "Ridge", "Madison", "Chestnut", "Highland", "Willow", "Franklin",
    "2nd", "3rd", "5th", "12th", "Church", "River", "Spring", "Meadow", "Forest", "Cherry", "Locust",
]
STREET_TYPES = ["St", "Street", "Ave", "Avenue", "Rd", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl", "Terrace"]

# (Faker locale, weight); ja_JP and zh_CN use Faker's romanised names
LOCALES = [
    ("en_US", 0.36), ("en_GB", 0.08), ("es_MX", 0.14), ("de_DE", 0.07), ("fr_FR", 0.07),
    ("en_IN", 0.10), ("vi_VN", 0.07), ("ja_JP", 0.06), ("zh_CN", 0.05),
]
EMAIL_DOMAINS = {
    "en_GB": ["btinternet.com", "yahoo.co.uk", "gmail.com"],
    "de_DE": ["web.de", "gmx.de", "gmail.com"],
    "fr_FR": ["orange.fr", "free.fr", "gmail.com"],
}
DEFAULT_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net"]
IBAN_COUNTRY = {"de_DE": "DE", "fr_FR": "FR", "en_GB": "GB", "es_MX": "ES"}

# per-label vocabulary that makes the label learnable from the text
VOCAB = {
    "cardiology": {
        "finding": [
            "intermittent substernal chest pressure", "palpitations at rest", "exertional dyspnea",
            "bilateral ankle edema", "new-onset atrial fibrillation", "an elevated troponin of 0.08",
            "presyncope when climbing stairs", "uncontrolled hypertension",
        ],
        "plan": [
            "repeat echocardiogram", "exercise stress test", "48-hour Holter monitor",
            "cardiac catheterization", "cardiac rehab enrollment", "coronary CT angiogram",
        ],
        "med": ["metoprolol", "atorvastatin", "apixaban", "lisinopril", "furosemide", "amlodipine"],
        "dose": ["25 mg", "50 mg", "5 mg", "10 mg", "40 mg"],
    },
    "oncology": {
        "finding": [
            "a 2.3 cm mass in the left breast", "biopsy-confirmed colon adenocarcinoma", "rising CEA levels",
            "stage II non-small cell lung cancer", "neutropenia after the last cycle",
            "metastatic prostate cancer", "diffuse large B-cell lymphoma",
        ],
        "plan": [
            "PET-CT restaging", "port placement", "tumor board review", "start of radiation therapy",
            "bone marrow biopsy", "dose-reduced chemotherapy",
        ],
        "med": ["carboplatin", "paclitaxel", "pembrolizumab", "tamoxifen", "FOLFOX", "R-CHOP"],
        "dose": ["20 mg", "10 mg", "standard dose", "80 percent dose"],
    },
    "neurology": {
        "finding": [
            "recurrent migraine with aura", "a generalized tonic-clonic seizure", "left-sided facial droop",
            "progressive memory loss", "numbness and tingling in both feet", "episodes of vertigo",
            "a resting tremor of the right hand",
        ],
        "plan": [
            "MRI brain with contrast", "routine EEG", "lumbar puncture", "nerve conduction studies",
            "neuropsychological testing", "carotid duplex ultrasound",
        ],
        "med": ["levetiracetam", "sumatriptan", "gabapentin", "donepezil", "topiramate", "carbidopa-levodopa"],
        "dose": ["500 mg", "750 mg", "100 mg", "300 mg", "10 mg"],
    },
    "orthopedics": {
        "finding": [
            "a displaced distal radius fracture", "right knee effusion after a fall",
            "low back pain radiating down the left leg", "a full-thickness rotator cuff tear",
            "severe hip osteoarthritis", "a stress fracture of the second metatarsal", "an ACL rupture",
        ],
        "plan": [
            "physical therapy twice weekly", "total knee arthroplasty", "a short arm cast for six weeks",
            "MRI of the lumbar spine", "a cortisone injection", "arthroscopic repair",
        ],
        "med": ["meloxicam", "ibuprofen", "tramadol", "cyclobenzaprine", "naproxen", "acetaminophen"],
        "dose": ["15 mg", "600 mg", "50 mg", "500 mg"],
    },
    "billing": {
        "finding": [
            "a duplicate charge", "an unexpected facility fee", "an out-of-network anesthesia bill",
            "an overpayment from a prior visit", "a charge for a cancelled appointment",
            "a denied imaging claim",
        ],
        "plan": ["refund", "payment plan", "charity care review", "account adjustment"],
        "med": [""],
        "dose": [""],
    },
}

# (label, note_type, template). Placeholders are filled from a patient, a note and a site.
TEMPLATES: list[tuple[str, str, str]] = [
    # -- cardiology
    ("cardiology", "progress_note",
     "{date}: {name} ({age_yo}, MRN {mrn}) seen in cardiology clinic for {finding}. ECG shows sinus rhythm "
     "with occasional PVCs. Continue {med} {dose} daily and schedule {plan}. Patient asks that results go to "
     "{his} email {email} or cell {phone}. Follow-up with {doctor} on {date2}."),
    ("cardiology", "discharge_summary",
     "Discharge summary, {site_name}. Patient {name}, DOB {dob}, admitted {date} with {finding}. Troponin "
     "trended down and echocardiogram showed an ejection fraction of {ef}%. Discharged home to {address} on "
     "{med} {dose}. {His} {rel} {relative} ({phone2}) will drive {him} to the {plan}."),
    ("cardiology", "phone_encounter",
     "Telephone call from {relative}, {rel} of {name}, at {phone2} on {date}. Reports {he} has had {finding} "
     "since the weekend and missed two doses of {med}. Advised the ER if chest pain worsens. Callback number "
     "on file {phone}. Forwarded to {doctor} for review of anticoagulation and heart rate control."),
    ("cardiology", "consult",
     "Cardiology consult requested by {doctor2}. {name} is {age_a} with a history of hypertension and "
     "hyperlipidemia presenting with {finding}. Lipid panel and BNP pending. Recommend {plan} and starting "
     "{med} {dose}. SSN {ssn} verified at registration; cardiac pre-authorization sent {date}. Signed {doctor}."),
    ("cardiology", "referral",
     "Dear {doctor2}, thank you for referring {title} {last}, {age_word}, residing at {address}. {He} "
     "describes {finding} on exertion. Holter results from {date} show paroxysmal atrial fibrillation. We will "
     "proceed with {plan}. Please contact me at {doctor_email} with questions. Sincerely, {doctor}, Cardiology."),
    ("cardiology", "portal_message",
     "Patient portal message received {date} from IP {ip}. {name} (MRN {mrn}) writes that {his} home blood "
     "pressure readings are in the 150s over 90s and {he} has {finding}. Reply sent to {email}. Plan: {plan}, "
     "continue {med}, recheck BMP in one week. Driver license {dl} scanned for the identity check."),
    # -- oncology
    ("oncology", "progress_note",
     "Oncology progress note {date}. {name}, {age_a}, MRN {mrn}, returns for cycle {cycle} of {med}. Tolerating "
     "treatment with mild fatigue and nausea controlled by ondansetron. Imaging and labs reviewed for {finding}. "
     "Plan {plan}. Next infusion scheduled {date2}; reminder text to {phone}."),
    ("oncology", "consult",
     "Medical oncology consultation for {name} (DOB {dob}) regarding {finding}. Pathology reviewed with "
     "{doctor2}. Discussed chemotherapy with {med}, surgery, and clinical trial enrollment. {He} lives at "
     "{address} with {his} {rel} {relative}, who can be reached at {phone2}."),
    ("oncology", "discharge_summary",
     "Discharge summary: {title} {name} admitted on {date} for febrile neutropenia during chemotherapy for "
     "{finding}. Blood cultures negative; treated with cefepime and filgrastim. Discharged {date2} in stable "
     "condition. Follow up at the {site_name} infusion center. Contact: {email}, {phone}. Attending {doctor}."),
    ("oncology", "phone_encounter",
     "Nurse navigator call on {date}: spoke with {name} at {phone} about the upcoming {plan}. Patient anxious "
     "about {finding} and asked about disability forms; SSN {ssn} and employer fax requested. Emailed the "
     "chemotherapy education packet to {email}. Escalated cancer pain concerns to {doctor}."),
    ("oncology", "referral",
     "Referral to radiation oncology. Patient: {name}, age {age_n}, MRN {mrn}, diagnosed with {finding} on "
     "{date}. Tumor board recommended {plan} after completing {med}. Home address {address}. Contact {his} "
     "{rel} {relative} at {phone2} for scheduling."),
    ("oncology", "progress_note",
     "Survivorship visit {date}. {name} completed therapy for {finding} and remains without evidence of "
     "disease on imaging. Continues {med} maintenance. Discussed genetic counseling for hereditary cancer risk. "
     "Telehealth link sent to {email}, accessed from IP address {ip}. "
     "Next surveillance CT {date2} with {doctor}."),
    # -- neurology
    ("neurology", "progress_note",
     "Neurology clinic {date}. {name}, {age_yo}, MRN {mrn}, follow-up for {finding}. Neuro exam nonfocal apart "
     "from mild gait ataxia. Symptom diary reviewed with {his} {rel} {relative}. Increase {med} to {dose} twice "
     "daily and obtain {plan}. Driving restrictions discussed; license {dl} reported to the DMV as required."),
    ("neurology", "consult",
     "Inpatient neurology consult for {name}, DOB {dob}, admitted {date} with {finding}. CT head negative for "
     "hemorrhage. Recommend {plan}, neuro checks every four hours, and {med}. Family contact {relative} "
     "({rel}) at {phone2}. Discussed with {doctor2}. {doctor}, Neurology."),
    ("neurology", "phone_encounter",
     "Phone encounter {date}. {name} called from {phone} reporting {finding} that started two days ago, "
     "with light sensitivity and headache rated 7/10. Took {med} without relief. Advised urgent neurologic "
     "evaluation if weakness or speech change develops. Records request sent to {email}. Routed to {doctor}."),
    ("neurology", "discharge_summary",
     "Discharge summary, {site_name}. {title} {name}, {age_a}, was admitted {date} after {finding}. MRI brain "
     "showed small vessel disease; EEG without epileptiform discharges. Started {med} {dose}. Discharged home "
     "to {address}. Outpatient {plan} arranged for {date2}."),
    ("neurology", "referral",
     "Referral letter: please evaluate {name} (SSN {ssn}, MRN {mrn}) for {finding}. Symptoms began around "
     "{date}. A prior trial of {med} was not tolerated. I would appreciate your neurology opinion and {plan}. "
     "Patient reachable at {phone} or {email}. Thank you, {doctor2}."),
    ("neurology", "progress_note",
     "Memory clinic visit on {date} for {name}, {age_word}, accompanied by {his} {rel} {relative}. MoCA 21/30 "
     "in the setting of {finding}. Continue {med}; order {plan}. Caregiver email {relative_email}. Patient no "
     "longer drives and {his} license {dl} was surrendered. Return in three months with {doctor}."),
    # -- orthopedics
    ("orthopedics", "progress_note",
     "Orthopedic follow-up {date}. {name}, {age_yo}, MRN {mrn}, seen for {finding}. X-rays show satisfactory "
     "alignment. Weight bearing as tolerated. Continue {med} as needed for pain and start {plan}. Work note "
     "sent to {email}. Return visit {date2} with {doctor}."),
    ("orthopedics", "consult",
     "Emergency orthopedic consult: {name}, DOB {dob}, presented {date} after a fall at home, {address}, with "
     "{finding}. Neurovascularly intact distally. Splinted and reduced under sedation. Plan {plan}. {His} "
     "{rel} {relative} may be reached at {phone2}. Discussed with {doctor2}."),
    ("orthopedics", "preop_evaluation",
     "Pre-operative evaluation on {date} for {plan}, surgery booked {date2}. {name}, {age_a}, with {finding} "
     "refractory to {med} and bracing. Medical clearance obtained. Insurance verification completed using SSN "
     "{ssn}. Surgical consent signed. Questions to {doctor} at {doctor_email} or the orthopedic desk."),
    ("orthopedics", "phone_encounter",
     "Phone call {date}: {name} ({phone}) reports increased swelling after {plan}. Denies fever or calf pain. "
     "Advised ice, elevation and {med}. Will see {him} tomorrow at the {site_name} fracture clinic. Identity "
     "verified with date of birth {dob} and MRN {mrn}."),
    ("orthopedics", "discharge_summary",
     "Discharge summary: {title} {name} underwent orthopedic surgery on {date} for {finding}. Postoperative "
     "course uncomplicated. Discharged {date2} with a walker, {med} for pain and enoxaparin. Home physical "
     "therapy will visit {address}. Contact {email} for scheduling. Surgeon {doctor}."),
    ("orthopedics", "workers_comp",
     "Workers compensation note, {date}. {name}, {age_word}, injured at work with {finding}. Claim filed with "
     "the employer; SSN {ssn}, {dl_state} driver license {dl}. Restricted duty, no lifting over ten pounds. "
     "Referred for {plan}. Case manager {contact} at {phone2}. Examined by {doctor}."),
    # -- billing (bank-style)
    ("billing", "billing_note",
     "Billing note {date}. {name} called from {phone} disputing {finding} on statement {stmt}. Card on file "
     "{card_brand} {card} was charged twice. Refund issued to the same card. Confirmation emailed to {email}. "
     "Account holder verified with SSN {ssn} and billing address {address}."),
    ("billing", "payment_record",
     "Payment received {date} for account {acct}, guarantor {name}. Paid ${amount} by {card_brand} {card}; "
     "card number to be tokenized and removed from notes per policy. Remaining balance ${amount2} after "
     "{finding} was reversed. Online payment from IP {ip}. Statement mailed to {address}."),
    ("billing", "billing_note",
     "International patient {name} requested a wire refund of ${amount} for {finding}. Bank transfer to IBAN "
     "{iban} approved by finance on {date}. Patient email {email}, phone {phone}. Copy of passport and "
     "{dl_state} driver license {dl} kept on file. Processed by {staff}, patient accounts."),
    ("billing", "financial_counseling",
     "Financial counseling session {date} with {name}, {age_a}, and {his} {rel} {relative}. Discussed "
     "{finding} and a {plan} of ${amount} per month for twelve months, autopay from IBAN {iban}. Household "
     "income verified. Contact {phone} or {email}. Counselor {staff}."),
    ("billing", "collections_note",
     "Collections note: account {acct} for {name}, DOB {dob}, SSN {ssn}, is ninety days past due after "
     "{finding}. Letter sent to {address} on {date}. Left voicemail at {phone}. Online portal last accessed "
     "{date2} from {ip}. Hold placed pending review by {staff}."),
    ("billing", "insurance_followup",
     "Insurance follow-up {date}: claim {claim} for {name} (MRN {mrn}) was reopened after {finding}. Appeal "
     "submitted with medical records. Patient prefers to pay any copay of ${amount} with {card_brand} {card}. "
     "Mail correspondence to {address}; email {email}. Noted by {staff}, billing office."),
]

NEAR_EDITS = ["Co-signed.", "Reviewed, agree.", "Late entry.", "Addendum: no change.", "Signed electronically."]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    locale: str
    sex: str  # "F" or "M"

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class Patient:
    pid: str
    site: str
    person: Person
    dob: date
    address: str
    state: str
    phone: str
    email: str
    ssn: str
    mrn: str
    dl: str
    card_brand: str
    card: str
    iban: str
    relative: Person
    rel: str
    relative_phone: str
    relative_email: str


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, faker.Faker] = {}
        for i, (locale, _) in enumerate(LOCALES):
            f = faker.Faker(locale)
            f.seed_instance(seed + i)
            self.fakers[locale] = f

    # -- people ---------------------------------------------------------------
    def locale(self) -> str:
        return self.rng.choices([loc for loc, _ in LOCALES], weights=[w for _, w in LOCALES])[0]

    def person(self, locale: str | None = None, sex: str | None = None, last: str | None = None) -> Person:
        locale = locale or self.locale()
        sex = sex or self.rng.choice("FM")
        f = self.fakers[locale]
        if locale in ("ja_JP",):
            first = f.first_romanized_name_female() if sex == "F" else f.first_romanized_name_male()
            surname = f.last_romanized_name()
        elif locale == "zh_CN":
            first, surname = f.first_romanized_name(), f.last_romanized_name()
        else:
            first = f.first_name_female() if sex == "F" else f.first_name_male()
            surname = f.last_name()
        return Person(first, last or surname, locale, sex)

    # -- identifiers ----------------------------------------------------------
    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def phone(self, locale: str = "en_US") -> str:
        if locale == "en_GB" and self.rng.random() < 0.5:
            return f"+44 7700 900{self.digits(3)}"  # Ofcom's range for drama
        area = f"{self.rng.randint(2, 9)}{self.rng.randint(0, 9)}{self.rng.randint(0, 9)}"
        while area[1:] == "11":
            area = f"{self.rng.randint(2, 9)}{self.rng.randint(0, 9)}{self.rng.randint(0, 9)}"
        exch, num = f"{self.rng.randint(2, 9)}{self.digits(2)}", self.digits(4)
        fmt = self.rng.choice(
            ["({a}) {e}-{n}", "{a}-{e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "+1-{a}-{e}-{n}", "{a}{e}{n}",
             "({a}) {e}-{n}", "{a}-{e}-{n}"]
        )
        return fmt.format(a=area, e=exch, n=num)

    def email(self, person: Person) -> str:
        first, last = _ascii(person.first).lower(), _ascii(person.last).lower().replace(" ", "")
        domain = self.rng.choice(EMAIL_DOMAINS.get(person.locale, DEFAULT_DOMAINS))
        local = self.rng.choice(
            [f"{first}.{last}", f"{first[0]}{last}{self.rng.randint(1, 99)}", f"{first}{last}",
             f"{last}.{first}{self.rng.randint(60, 99)}", f"{first}_{last[0]}"]
        )
        return f"{local}@{domain}"

    def address(self, state: str) -> str:
        city, prefix = self.rng.choice(CITIES[state])
        street = f"{self.rng.randint(10, 9899)} {self.rng.choice(STREETS)} {self.rng.choice(STREET_TYPES)}"
        unit = self.rng.random()
        if unit < 0.15:
            street += f", Apt {self.rng.randint(1, 40)}{self.rng.choice('ABCD')}"
        elif unit < 0.25:
            street += f" Unit {self.rng.randint(100, 999)}"
        return f"{street}, {city}, {state} {prefix}{self.digits(2)}"

    def ssn(self) -> str:
        while True:
            area = self.rng.randint(1, 899)
            group, serial = self.rng.randint(1, 99), self.rng.randint(1, 9999)
            value = f"{area:03d}-{group:02d}-{serial:04d}"
            if area != 666 and value not in ("078-05-1120", "219-09-9999", "123-45-6789"):
                return value if self.rng.random() < 0.85 else value.replace("-", " ")

    def card(self) -> tuple[str, str]:
        brand, prefix, length = self.rng.choice(
            [("Visa", "4", 16), ("Visa", "4", 16), ("Mastercard", str(self.rng.randint(51, 55)), 16),
             ("Amex", self.rng.choice(["34", "37"]), 15), ("Discover", "6011", 16)]
        )
        body = prefix + self.digits(length - len(prefix) - 1)
        number = body + _luhn_digit(body)
        sep = self.rng.choice([" ", "-", ""])
        if length == 15:
            return brand, sep.join([number[:4], number[4:10], number[10:]])
        return brand, sep.join(number[i : i + 4] for i in range(0, 16, 4))

    def iban(self, locale: str) -> str:
        country = IBAN_COUNTRY.get(locale) or self.rng.choice(["DE", "GB", "FR", "NL", "ES"])
        letters = lambda n: "".join(self.rng.choice(string.ascii_uppercase) for _ in range(n))  # noqa: E731
        bban = {
            "DE": lambda: self.digits(18),
            "GB": lambda: letters(4) + self.digits(14),
            "FR": lambda: self.digits(23),
            "NL": lambda: letters(4) + self.digits(10),
            "ES": lambda: self.digits(20),
        }[country]()
        value = country + _iban_check(country, bban) + bban
        assert _iban_valid(value)
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if self.rng.random() < 0.7 else value

    def driver_license(self, state: str) -> str:
        d, L = self.digits, lambda: self.rng.choice(string.ascii_uppercase)
        alnum = string.ascii_uppercase + string.digits
        fmt = {
            "OH": lambda: L() + L() + d(6),
            "IL": lambda: f"{L()}{d(3)}-{d(4)}-{d(4)}",
            "WA": lambda: "WDL" + "".join(self.rng.choice(alnum) for _ in range(9)),
            "TX": lambda: d(8),
            "FL": lambda: f"{L()}{d(3)}-{d(3)}-{d(2)}-{d(3)}-{d(1)}",
            "CA": lambda: L() + d(7),
            "NY": lambda: f"{d(3)} {d(3)} {d(3)}",
            "PA": lambda: f"{d(2)} {d(3)} {d(3)}",
            "MI": lambda: f"{L()} {d(3)} {d(3)} {d(3)} {d(3)}",
            "GA": lambda: d(9),
            "AZ": lambda: L() + d(8),
            "CO": lambda: f"{d(2)}-{d(3)}-{d(4)}",
        }[state]
        return fmt()

    def ip(self) -> str:
        if self.rng.random() < 0.1:
            return "2600:" + ":".join(f"{self.rng.randint(0, 0xFFFF):x}" for _ in range(7))
        while True:
            a = self.rng.randint(1, 223)
            if a in (10, 100, 127, 169, 172, 192):
                continue
            return f"{a}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"

    def fmt_date(self, d: date) -> str:
        style = self.rng.randrange(7)
        if style == 0:
            return f"{d.month:02d}/{d.day:02d}/{d.year}"
        if style == 1:
            return d.isoformat()
        if style == 2:
            return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
        if style == 3:
            return f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}"
        if style == 4:
            return f"{d.month}/{d.day}/{d.year % 100:02d}"
        if style == 5:
            return f"{MONTHS[d.month - 1][:3]}. {d.day}, {d.year}"
        return f"{d.day:02d}.{d.month:02d}.{d.year}"

    # -- patients and notes ----------------------------------------------------
    def patient(self, n: int, site: str) -> Patient:
        site_state = SITES[site][1]
        state = site_state if self.rng.random() < 0.8 else self.rng.choice(sorted(CITIES))
        locale = self.locale()
        person = self.person(locale)
        rel, rel_sex = self.rng.choice(
            [("wife", "F"), ("husband", "M"), ("daughter", "F"), ("son", "M"), ("sister", "F"),
             ("brother", "M"), ("mother", "F"), ("partner", None)]
        )
        same_last = rel in ("daughter", "son") or (rel in ("wife", "husband") and self.rng.random() < 0.7)
        relative = self.person(locale, rel_sex, person.last if same_last else None)
        brand, card = self.card()
        dob = date(1935, 1, 1) + timedelta(days=self.rng.randint(0, 25000))
        return Patient(
            pid=f"P{10000 + n * 7 + self.rng.randint(0, 6)}",
            site=site,
            person=person,
            dob=dob,
            address=self.address(state),
            state=state,
            phone=self.phone(locale),
            email=self.email(person),
            ssn=self.ssn(),
            mrn=self.digits(8) if self.rng.random() < 0.6 else f"{self.rng.randint(1, 9)}{self.digits(6)}",
            dl=self.driver_license(state),
            card_brand=brand,
            card=card,
            iban=self.iban(locale),
            relative=relative,
            rel=rel,
            relative_phone=self.phone(locale),
            relative_email=self.email(relative),
        )

    def note(self, patient: Patient, doctors: dict[str, list[Person]], staff: list[Person]) -> dict[str, str]:
        site_name, _, domain, label_weights = SITES[patient.site]
        label = self.rng.choices(LABELS, weights=label_weights)[0]
        label_templates = [t for t in TEMPLATES if t[0] == label]
        _, note_type, template = self.rng.choice(label_templates)
        vocab = VOCAB[label]
        visit = date(2022, 1, 1) + timedelta(days=self.rng.randint(0, 1000))
        age = visit.year - patient.dob.year - ((visit.month, visit.day) < (patient.dob.month, patient.dob.day))
        p = patient.person
        female = p.sex == "F"
        woman = "woman" if female else "man"
        sex_word = "female" if female else "male"
        doctor, doctor2 = self.rng.sample(doctors[patient.site], 2)
        contact = self.person()
        doctor_mailbox = f"{_ascii(doctor.first)[0].lower()}.{_ascii(doctor.last).lower().replace(' ', '')}"
        ctx = {
            "name": p.name,
            "first": p.first,
            "last": p.last,
            "title": ("Mrs." if self.rng.random() < 0.4 else "Ms.") if female else "Mr.",
            "he": "she" if female else "he",
            "He": "She" if female else "He",
            "his": "her" if female else "his",
            "His": "Her" if female else "His",
            "him": "her" if female else "him",
            "age_n": str(age),
            "age_a": self.rng.choice([f"a {age}-year-old {woman}", f"a {age} yo {sex_word}"]),
            "age_yo": self.rng.choice([f"{age} y/o {p.sex}", f"{age}{p.sex}", f"{age}-year-old"]),
            "age_word": self.rng.choice([f"age {age}", f"aged {age}", f"{age} years old"]),
            "dob": self.fmt_date(patient.dob),
            "date": self.fmt_date(visit),
            "date2": self.fmt_date(visit + timedelta(days=self.rng.randint(5, 60))),
            "phone": patient.phone,
            "phone2": patient.relative_phone,
            "email": patient.email,
            "address": patient.address,
            "ssn": patient.ssn,
            "mrn": patient.mrn,
            "dl": patient.dl,
            "dl_state": patient.state,
            "card_brand": patient.card_brand,
            "card": patient.card,
            "iban": patient.iban,
            "ip": self.ip(),
            "relative": patient.relative.name,
            "rel": patient.rel,
            "relative_email": patient.relative_email,
            "contact": contact.name,
            "doctor": f"Dr. {doctor.name}",
            "doctor2": f"Dr. {doctor2.name}",
            "doctor_email": f"{doctor_mailbox}@{domain}",
            "staff": self.rng.choice(staff).name,
            "site_name": site_name,
            "finding": self.rng.choice(vocab["finding"]),
            "plan": self.rng.choice(vocab["plan"]),
            "med": self.rng.choice(vocab["med"]),
            "dose": self.rng.choice(vocab["dose"]),
            "ef": str(self.rng.randrange(25, 65, 5)),
            "cycle": str(self.rng.randint(2, 8)),
            "stmt": f"S-{self.digits(7)}",
            "acct": f"{self.rng.randint(1, 9)}{self.digits(8)}",
            "claim": f"CLM{self.digits(9)}",
            "amount": f"{self.rng.randint(25, 4800)}.{self.rng.randint(0, 99):02d}",
            "amount2": f"{self.rng.randint(0, 900)}.{self.rng.randint(0, 99):02d}",
        }
        text = template.format(**ctx)
        words = len(text.split())
        assert 30 <= words <= 80, (label, note_type, words)
        return {"patient_id": patient.pid, "sex": patient.person.sex, "site": patient.site, "note_type": note_type,
                "label": label, "text": text}


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded if c.isalnum() or c == " ") or "x"


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:  # every second digit from the right, counting the check digit's place
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


def _iban_number(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text))


def _iban_check(country: str, bban: str) -> str:
    return f"{98 - _iban_number(bban + country + '00') % 97:02d}"


def _iban_valid(iban: str) -> bool:
    return _iban_number(iban[4:] + iban[:4]) % 97 == 1


def _shingles(text: str, k: int = 5) -> set[str]:
    words = " ".join(unicodedata.normalize("NFKC", text).casefold().split()).split(" ")
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def _jaccard(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb)


def build(seed: int = SEED) -> list[dict[str, str]]:
    gen = Generator(seed)
    doctors = {site: [gen.person() for _ in range(10)] for site in SITES}
    staff = [gen.person() for _ in range(8)]
    site_names = list(SITES)
    patients: dict[str, list[Patient]] = {site: [] for site in SITES}
    for n in range(N_PATIENTS):
        site = gen.rng.choices(site_names, weights=SITE_WEIGHTS)[0]
        patients[site].append(gen.patient(n, site))
    notes = []
    for _ in range(N_NOTES):
        site = gen.rng.choices(site_names, weights=SITE_WEIGHTS)[0]
        notes.append(gen.note(gen.rng.choice(patients[site]), doctors, staff))

    # plant duplicates at later positions: a re-filed note (exact) or a lightly edited copy (near)
    sources = gen.rng.sample(range(N_NOTES), N_EXACT + N_NEAR)
    planted: list[tuple[int, dict[str, str]]] = []
    for i, src in enumerate(sources):
        copy = dict(notes[src])
        if i < N_EXACT:
            if i % 3 == 1:
                copy["text"] = copy["text"].replace(". ", ".  ") + " "  # whitespace only
            elif i % 3 == 2:
                copy["text"] = copy["text"][0].lower() + copy["text"][1:]  # case only
        else:
            edit = NEAR_EDITS[i % len(NEAR_EDITS)]
            copy["text"] = f"{edit} {copy['text']}" if i % 2 else f"{copy['text']} {edit}"
            assert _jaccard(copy["text"], notes[src]["text"]) >= 0.85
        planted.append((gen.rng.randint(src + 1, N_NOTES), copy))
    for position, copy in sorted(planted, key=lambda pc: pc[0], reverse=True):
        notes.insert(position, copy)
    return [{"id": f"n{i:04d}", **note} for i, note in enumerate(notes, start=1)]


def write(records: list[dict[str, str]], out: Path) -> tuple[Path, Path]:
    jsonl = out / "clinical_notes.jsonl"
    jsonl.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records[:CSV_ROWS])
    csv_path = out / "clinical_notes.csv"
    csv_path.write_bytes(buffer.getvalue().encode("utf-8"))
    return jsonl, csv_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    records = build(args.seed)
    for path in write(records, args.out):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path.name}: {path.stat().st_size} bytes, sha256 {digest}")
    by_label = {label: sum(r["label"] == label for r in records) for label in LABELS}
    by_site = {site: sum(r["site"] == site for r in records) for site in SITES}
    print(f"{len(records)} records ({N_EXACT} exact and {N_NEAR} near duplicates planted), faker {faker.VERSION}")
    print(f"labels {by_label}")
    print(f"sites {by_site}")


if __name__ == "__main__":
    main()

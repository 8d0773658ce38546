"""guard's own recognizers: each catches its examples and leaves lookalikes alone.

All values are synthetic. The detector (spaCy + Presidio) loads once per module.
"""

from __future__ import annotations

import pytest

from guard.core.errors import PolicyError
from guard.core.policy import Policy
from guard.deid.detector import Detection, Detector
from guard.deid.recognizers import (
    builtin_recognizers,
    make_recognizer,
    recognizer_names,
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(Policy())


def _covered(text: str, value: str, dets: list[Detection]) -> Detection | None:
    start = text.index(value)
    end = start + len(value)
    for d in dets:
        if d.start <= start and end <= d.end:
            return d
    return None


def _assert_caught(detector: Detector, cases: list[tuple[str, str]], entity: str | None) -> None:
    for text, value in cases:
        dets = detector.detect(text)
        d = _covered(text, value, dets)
        assert d is not None, (
            f"value at offset {text.index(value)} not covered; got {[(x.start, x.end, x.entity_type) for x in dets]}"
        )
        if entity is not None:
            assert d.entity_type == entity, (text.index(value), d.entity_type)


def _assert_not_flagged(detector: Detector, texts: list[str], entities: set[str]) -> None:
    for text in texts:
        hits = [(d.start, d.end, d.entity_type) for d in detector.detect(text) if d.entity_type in entities]
        assert hits == [], hits


def test_detector_keeps_every_recognizer_plain_presidio_loads(detector: Detector) -> None:
    from guard.deid.baseline import plain_presidio

    _, presidio = plain_presidio(nlp=detector._nlp)
    theirs = {r.name for r in presidio.registry.recognizers}
    ours = {r.name for r in detector.analyzer.registry.recognizers}
    assert theirs <= ours
    assert "SpacyRecognizer" in ours


def test_registry_lists_sorted_names_and_builds_each() -> None:
    names = recognizer_names()
    assert names == sorted(names)
    assert {
        "street_address",
        "postal_code",
        "age",
        "person_name",
        "phone_number",
        "driver_license",
        "medical_record_number",
        "us_ssn",
        "credit_card",
        "calendar_date",
        "labelled_id",
    } <= set(names)
    assert len(builtin_recognizers()) == len(names)
    assert make_recognizer("age").supported_entities == ["AGE"]


def test_unknown_recognizer_name_lists_known_names() -> None:
    with pytest.raises(PolicyError) as e:
        make_recognizer("no_such_recognizer")
    assert "street_address" in str(e.value) + str(getattr(e.value, "hint", ""))


def test_street_addresses_us_and_uk_with_unit_and_city(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            (
                "Lives at 4417 Quarry Ridge Rd, Apt 12, Dayton, OH 45402 with her sister.",
                "4417 Quarry Ridge Rd, Apt 12",
            ),
            ("Send it to 88 Alder Lane please.", "88 Alder Lane"),
            ("Flat 3, 27 Wharf Mews, Norwich NR4 7TJ", "Flat 3, 27 Wharf Mews"),
            ("Mail to 1200 West 4th Street Suite 400, Tulsa, OK 74103", "1200 West 4th Street Suite 400"),
        ],
        "STREET_ADDRESS",
    )


def test_street_address_ignores_doses_and_counts(detector: Detector) -> None:
    _assert_not_flagged(
        detector,
        [
            "Take 500 mg twice a day for 10 days.",
            "We shipped 3 boxes on the second floor.",
            "Room 214 is on the left.",
        ],
        {"STREET_ADDRESS"},
    )


def test_postal_codes_after_state_with_label_and_uk(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("Springfield, IL 62704", "62704"),
            ("Billing ZIP: 30301-1234", "30301-1234"),
            ("postcode LS6 2AB", "LS6 2AB"),
        ],
        None,
    )


def test_postal_code_not_on_plain_numbers(detector: Detector) -> None:
    _assert_not_flagged(detector, ["Invoice 48213 is overdue.", "Platelets 245 K/uL."], {"POSTAL_CODE"})


def test_ages_in_clinical_phrasing(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("A 54-year-old man presented.", "54-year-old"),
            ("Referral for a patient aged 67 with COPD.", "67"),
            ("Age: 45. No allergies.", "45"),
            ("72 y/o female with CHF.", "72"),
        ],
        "AGE",
    )


def test_age_not_on_doses_or_lab_values(detector: Detector) -> None:
    _assert_not_flagged(
        detector,
        [
            "Take 40 mg atorvastatin at night.",
            "HbA1c 7.2%, creatinine 1.1 mg/dL.",
            "The firmware is 3 versions old.",
        ],
        {"AGE"},
    )


def test_medical_record_numbers_with_label(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("MRN 00482913, admitted via ED.", "00482913"),
            ("medical record number 12-334-556", "12-334-556"),
            ("MRN: MR482910", "MR482910"),
        ],
        "MEDICAL_RECORD_NUMBER",
    )


def test_medical_record_number_needs_its_label(detector: Detector) -> None:
    _assert_not_flagged(detector, ["Order 00482913 shipped.", "Lot 48291034 passed QC."], {"MEDICAL_RECORD_NUMBER"})


def test_driver_licences_in_state_formats(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("Driver's license number D4829103, expires 2027.", "D4829103"),
            ("DL#: S123-456-78-901-0", "S123-456-78-901-0"),
            ("The other driver's license is 395 755 131.", "395 755 131"),
            ("driving licence MORGA753116SM9IJ", "MORGA753116SM9IJ"),
        ],
        "US_DRIVER_LICENSE",
    )


def test_phone_numbers_presidio_misses(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("Call (212) 555-0147 after 5.", "(212) 555-0147"),
            ("Reach me at 212.555.0147 today.", "212.555.0147"),
            ("Office +44 20 7946 0958 ext. 204", "+44 20 7946 0958 ext. 204"),
            ("mobile 07700 900123", "07700 900123"),
            ("Desk 1-617-555-0199 x12", "1-617-555-0199 x12"),
        ],
        "PHONE_NUMBER",
    )


def test_phone_wins_over_nhs_number_on_us_phone(detector: Detector) -> None:
    text = "Emergency contact: (212) 555-0147"
    kinds = {d.entity_type for d in detector.detect(text)}
    assert "UK_NHS" not in kinds and "PHONE_NUMBER" in kinds


def test_phone_not_on_dates_versions_or_ssn(detector: Detector) -> None:
    _assert_not_flagged(
        detector,
        [
            "Version 2.11.4 was released.",
            "BP 142/88 mmHg, HR 72.",
            "Batch 2024-11-02 passed.",
        ],
        {"PHONE_NUMBER"},
    )


def test_ssn_without_dashes_next_to_label(detector: Detector) -> None:
    _assert_caught(
        detector, [("SSN: 605104143", "605104143"), ("Social Security number 283 18 0950", "283 18 0950")], "US_SSN"
    )


def test_card_numbers_presidio_regex_misses(detector: Detector) -> None:
    # 2-series Mastercard, Luhn-valid
    _assert_caught(detector, [("Card number: 2223 0000 4841 0010", "2223 0000 4841 0010")], "CREDIT_CARD")
    _assert_not_flagged(detector, ["Tracking 4111 1111 1111 1112 is not a card."], {"CREDIT_CARD"})


def test_person_names_with_title_cue_and_lexicon(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("Follow up with Dr. Okonkwo next week.", "Okonkwo"),
            ("Ms. van Duyvenvoorde presents with cough.", "van Duyvenvoorde"),
            ("Wife Ngozi at bedside.", "Ngozi"),
            ("Reviewer Diethelm Holt recommends promotion.", "Diethelm Holt"),
            ("Thanks,\nPriya Raghunathan", "Priya Raghunathan"),
            ("[10:42] Tyler: ok thanks", "Tyler"),
            ("did you get Gregory's email?", "Gregory"),
            ("VPN session opened by maria.lopez from a new device.", "maria.lopez"),
        ],
        "PERSON",
    )


def test_person_not_on_headings_or_months(detector: Detector) -> None:
    _assert_not_flagged(
        detector,
        [
            "Discharge Summary. Impression: no acute process.",
            "Social Security number on file.",
            "The meeting moved to Tuesday afternoon.",
        ],
        {"PERSON"},
    )
    # spaCy reads "Order ZQ4-77310" as a person: the form word is cut, the code is kept
    # (recall first: what plain Presidio flags stays flagged unless it is surely no PII)
    for text, word in (
        ("Order ZQ4-77310 shipped in March.", "Order"),
        ("Batch KX220 passed quality control.", "Batch"),
    ):
        assert not any(d.start <= text.index(word) < d.end for d in detector.detect(text))


def test_ner_filter_drops_durations_keeps_calendar_dates(detector: Detector) -> None:
    text = "Seen on March 3, 2021; take it daily for two weeks and recheck in 3 months."
    dates = [text[d.start : d.end] for d in detector.detect(text) if d.entity_type == "DATE_TIME"]
    assert any("2021" in v for v in dates)
    assert not any(w in v for v in dates for w in ("daily", "two weeks", "3 months"))


def test_bare_ten_digit_nanp_phone_is_caught(detector: Detector) -> None:
    _assert_caught(
        detector,
        [
            ("His son may be reached at 4857065180 tonight.", "4857065180"),
            ("Mobile: 6145550199", "6145550199"),
            ("Her daughter Isabel Ayala (5284092443) will drive her.", "5284092443"),
        ],
        "PHONE_NUMBER",
    )
    # guard's own NANP rule leaves what is no NANP number: area code or exchange starting
    # with 0/1, or 11 digits (Presidio's libphonenumber regions may still call it a phone)
    nanp = make_recognizer("phone_number")
    for text in ["Lot 0145550199 shipped.", "Ref 6141550199 filed.", "Id 61455501991 ok."]:
        assert nanp.analyze(text, ["PHONE_NUMBER"]) == []


def test_iban_followed_by_a_lower_case_word_is_caught(detector: Detector) -> None:
    # Presidio's registry loads IbanRecognizer case-insensitively and then misses these.
    _assert_caught(
        detector,
        [
            ("Transfer to IBAN ES54 4222 8769 3616 9878 1109 approved by finance.", "ES54 4222 8769 3616 9878 1109"),
            ("Paid into DE89 3704 0044 0532 0130 00 yesterday.", "DE89 3704 0044 0532 0130 00"),
        ],
        "IBAN_CODE",
    )

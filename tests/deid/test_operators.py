import hashlib
import hmac
import re
from datetime import datetime

import pytest

from guard.core import KeyMissingError, PolicyError
from guard.core.errors import InputError
from guard.core.keys import derive
from guard.deid.operators import OpContext, decrypt_token, make_operator, operator_names, parse_date

KEY = b"unit-test-key-0123456789abcdef"
OTHER_KEY = b"another-key-0123456789abcdefgh"


def ctx(entity, **record):
    return OpContext(entity_type=entity, field="text", line=1, record=record)


def op(name, key=KEY, **params):
    return make_operator(name, params, key=key)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def test_registry_lists_every_operator_and_rejects_unknown_names():
    assert operator_names() == sorted(
        ["date_shift", "encrypt", "generalize", "hash", "mask", "redact", "surrogate", "tag"]
    )
    with pytest.raises(PolicyError) as e:
        make_operator("shuffle", {}, key=KEY)
    assert "date_shift" in str(e.value) and "surrogate" in str(e.value)


def test_keyed_operators_refuse_to_run_without_a_key():
    for name in ("hash", "surrogate", "encrypt"):
        with pytest.raises(KeyMissingError):
            make_operator(name, {}, key=None)


def test_unknown_operator_parameter_is_a_policy_error():
    with pytest.raises(PolicyError, match="keep_lst"):
        op("mask", keep_lst=4)


def test_tag_redact_mask():
    assert op("tag").apply("x", ctx("PERSON")) == "<PERSON>"
    assert op("redact").apply("x", ctx("PERSON")) == ""
    assert op("mask", keep_last=4).apply("4111-1111-1111-1234", ctx("CREDIT_CARD")) == "****-****-****-1234"


def test_hash_is_hmac_sha256_so_any_machine_reproduces_it():
    value = "Jane Q. Example"
    expected = hmac.new(derive(KEY, "hash"), b"PERSON\x1fjane q. example", hashlib.sha256).hexdigest()[:16]
    assert op("hash").apply(value, ctx("PERSON")) == f"<PERSON:{expected}>"
    assert op("hash").apply("JANE  Q. EXAMPLE", ctx("PERSON")) == f"<PERSON:{expected}>"
    assert op("hash", key=OTHER_KEY).apply(value, ctx("PERSON")) != f"<PERSON:{expected}>"


def test_surrogate_is_consistent_per_value_and_key():
    sur = op("surrogate")
    first = sur.apply("Alma Featherstone", ctx("PERSON"))
    assert first == sur.apply("Alma Featherstone", ctx("PERSON"))
    assert first == op("surrogate").apply("alma featherstone", ctx("PERSON"))  # a new instance, same key
    assert first != op("surrogate", key=OTHER_KEY).apply("Alma Featherstone", ctx("PERSON"))
    assert first != "Alma Featherstone" and len(first.split()) == 2
    assert sur.apply("Ben Okafor", ctx("PERSON")) != first


def test_surrogate_formats_are_kept_and_valid():
    sur = op("surrogate")
    for card in ("4539 1488 0343 6467", "5425-2334-3010-9903", "374245455400126"):
        fake = sur.apply(card, ctx("CREDIT_CARD"))
        assert re.sub(r"\d", "9", fake) == re.sub(r"\d", "9", card)
        assert fake[0] == card[0] and luhn_ok(fake) and fake != card
    phone = sur.apply("(212) 555-0147", ctx("PHONE_NUMBER"))
    assert re.fullmatch(r"\([2-9]\d\d\) \d{3}-\d{4}", phone)
    intl = sur.apply("+44 20 7946 0958", ctx("PHONE_NUMBER"))
    assert re.fullmatch(r"\+44 \d\d \d{4} \d{4}", intl)
    email = sur.apply("jane.doe@hospital.org", ctx("EMAIL_ADDRESS"))
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", email) and email != "jane.doe@hospital.org"
    ssn = sur.apply("219-09-9999", ctx("US_SSN"))
    area, group, serial = (int(x) for x in ssn.split("-"))
    assert 0 < area < 900 and area != 666 and group > 0 and serial > 0
    iban = sur.apply("DE89 3704 0044 0532 0130 00", ctx("IBAN_CODE"))
    assert iban.startswith("DE") and len(iban) == len("DE89 3704 0044 0532 0130 00") and iban_ok(iban)
    licence = sur.apply("D123-4567-8901", ctx("US_DRIVER_LICENSE"))
    assert re.fullmatch(r"[A-Z]\d{3}-\d{4}-\d{4}", licence)


def test_date_shift_keeps_intervals_within_a_group_and_the_format():
    shift = op("date_shift", field="patient_id")
    a = shift.apply("2021-03-04", ctx("DATE_TIME", patient_id="p1"))
    b = shift.apply("2021-03-14", ctx("DATE_TIME", patient_id="p1"))
    assert (datetime.fromisoformat(b) - datetime.fromisoformat(a)).days == 10
    assert a != "2021-03-04"
    us = shift.apply("03/14/2021", ctx("DATE_TIME", patient_id="p1"))
    assert us == datetime.fromisoformat(b).strftime("%m/%d/%Y")
    offsets = {shift.offset(f"p{i}") for i in range(50)}
    assert len(offsets) > 40 and all(1 <= abs(o) <= 365 for o in offsets)
    assert op("date_shift", field="patient_id").apply("2021-03-04", ctx("DATE_TIME", patient_id="p1")) == a
    assert shift.apply("last Tuesday", ctx("DATE_TIME", patient_id="p1")) == "<DATE_TIME>"


def test_date_shift_without_its_field_names_the_field():
    with pytest.raises(InputError, match="patient_id"):
        op("date_shift", field="patient_id").apply("2021-03-04", ctx("DATE_TIME", other=1))
    with pytest.raises(PolicyError, match="field"):
        op("date_shift")


def test_generalize():
    gen = op("generalize", key=None)
    assert gen.apply("54-year-old", ctx("AGE")) == "50-59-year-old"
    assert gen.apply("age 93", ctx("AGE")) == "age 90+"
    assert gen.apply("March 3, 2019", ctx("DATE_TIME")) == "2019"
    assert gen.apply("12 Oak Street, Springfield, IL 62704", ctx("STREET_ADDRESS")) == "Springfield, IL"
    assert gen.apply("62704", ctx("POSTAL_CODE")) == "627XX"


def test_encrypt_round_trips_and_is_deterministic():
    enc = op("encrypt")
    token = enc.apply("Alma Featherstone", ctx("PERSON"))
    m = re.fullmatch(r"<ENC:PERSON:([A-Za-z0-9_\-]+=*)>", token)
    assert m and "Alma" not in token
    assert decrypt_token(KEY, m.group(1)) == "Alma Featherstone"
    assert enc.apply("Alma Featherstone", ctx("PERSON")) == token
    try:
        wrong = decrypt_token(OTHER_KEY, m.group(1))
    except ValueError:  # bad padding or bad UTF-8: the usual outcome of a wrong key
        wrong = None
    assert wrong != "Alma Featherstone"


def test_parse_date_formats():
    assert parse_date("March 3rd, 2019")[0] == datetime(2019, 3, 3)
    assert parse_date("03.04.2020")[1] == "%d.%m.%Y"
    assert parse_date("yesterday") is None

"""Operators: what happens to a detected value. A registry by name.

Every keyed operator is deterministic: the same value and key give the same
output in any process, run or machine, so output does not depend on the
number of workers and pseudonyms stay consistent across a corpus.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from guard.core.errors import InputError, KeyMissingError, PolicyError
from guard.core.keys import derive, keyed_digest
from guard.core.registry import Registry
from guard.deid.luhn import luhn_check_digit


@dataclass(frozen=True)
class OpContext:
    """Where a value sits: used by operators that depend on the record (date shift)."""

    entity_type: str
    field: str
    line: int
    record: Mapping[str, Any]


class Operator(ABC):
    """Base class. Subclasses set `name`, `params` (allowed keys) and `needs_key`."""

    name: ClassVar[str]
    params: ClassVar[frozenset[str]] = frozenset()
    needs_key: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        unknown = set(params) - self.params
        if unknown:
            raise PolicyError(
                f"{source}: operator {self.name!r} has unknown parameter(s) {sorted(unknown)}",
                hint=f"allowed: {sorted(self.params)}",
            )
        if self.needs_key and key is None:
            raise KeyMissingError(
                f"operator {self.name!r} needs a secret key and none was given",
                hint="set $GUARD_KEY (or the policy's [keys] env) or pass --key-file",
            )
        self.options = dict(params)
        self.key = key
        self.source = source

    def _option(self, name: str, default: Any, kind: type | tuple[type, ...]) -> Any:
        value = self.options.get(name, default)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise PolicyError(f"{self.source}: operator {self.name!r}: {name} must be {kind}")
        return value

    def _int_option(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        """An integer parameter checked against its range when the policy loads."""
        value = int(self._option(name, default, int))
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise PolicyError(f"{self.source}: operator {self.name!r}: {name} must be {bounds}, not {value}")
        return value

    def _template_option(self, name: str, default: str, **fields: str) -> str:
        """A str.format template checked, when the policy loads, to use only `fields`."""
        template = str(self._option(name, default, str))
        try:
            template.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise PolicyError(
                f"{self.source}: operator {self.name!r}: {name} {template!r} is not a valid template ({e})",
                hint=f"it may use {', '.join('{' + f + '}' for f in sorted(fields))}",
            ) from e
        return template

    @abstractmethod
    def apply(self, value: str, ctx: OpContext) -> str: ...


OPERATORS: Registry[type[Operator]] = Registry("operator", error=PolicyError)


def register_operator(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make an operator available to policies by its name."""
    return OPERATORS.register(cls.name, cls)


def operator_names() -> list[str]:
    return OPERATORS.names()


def make_operator(name: str, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> Operator:
    return OPERATORS.get(name, source=source)(params, key=key, source=source)


def _normalize(value: str) -> str:
    return " ".join(value.split()).casefold()


def _seed(key: bytes, entity: str, value: str) -> int:
    return int.from_bytes(keyed_digest(key, f"{entity}\x1f{_normalize(value)}")[:8], "big")


# --------------------------------------------------------------------------- simple


@register_operator
class Tag(Operator):
    """Replace with the entity type: `<PERSON>`."""

    name = "tag"
    params = frozenset({"template"})

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        super().__init__(params, key=key, source=source)
        self.template = self._template_option("template", "<{entity}>", entity="PERSON")

    def apply(self, value: str, ctx: OpContext) -> str:
        return self.template.format(entity=ctx.entity_type)


@register_operator
class Redact(Operator):
    """Remove the value."""

    name = "redact"

    def apply(self, value: str, ctx: OpContext) -> str:
        return ""


@register_operator
class Mask(Operator):
    """Replace letters and digits with a character, keeping separators and optionally the
    first and last N. Never more than half of a value's letters and digits stay visible:
    `keep_last = 4` shows the last 4 of a card number, but only 2 of a 5-digit value."""

    name = "mask"
    params = frozenset({"char", "keep_last", "keep_first"})
    max_revealed = 0.5  # share of a value's letters and digits that may stay visible

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        super().__init__(params, key=key, source=source)
        self.char = str(self._option("char", "*", str))
        if len(self.char) != 1:
            raise PolicyError(f"{source}: operator 'mask': char must be one character, not {len(self.char)}")
        self.first = self._int_option("keep_first", 0, low=0)
        self.last = self._int_option("keep_last", 0, low=0)

    def apply(self, value: str, ctx: OpContext) -> str:
        positions = [i for i, c in enumerate(value) if c.isalnum()]
        budget = int(len(positions) * self.max_revealed)
        last = min(self.last, budget)
        first = min(self.first, budget - last)
        keep = set(positions[:first]) | set(positions[len(positions) - last :] if last else [])
        return "".join(c if (not c.isalnum() or i in keep) else self.char for i, c in enumerate(value))


@register_operator
class Hash(Operator):
    """Keyed HMAC-SHA256 pseudonym: `<PERSON:3f9a0c1d2b4e5f60>`; same value and key, same output."""

    name = "hash"
    params = frozenset({"length", "template", "case_sensitive"})
    needs_key = True

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        super().__init__(params, key=key, source=source)
        self.length = self._int_option("length", 16, low=8, high=64)  # hex digits of the HMAC
        self.case_sensitive = bool(self._option("case_sensitive", False, bool))
        self.template = self._template_option("template", "<{entity}:{hash}>", entity="PERSON", hash="0")

    def apply(self, value: str, ctx: OpContext) -> str:
        assert self.key is not None
        text = value if self.case_sensitive else _normalize(value)
        digest = keyed_digest(derive(self.key, "hash"), f"{ctx.entity_type}\x1f{text}").hex()[: self.length]
        return self.template.format(entity=ctx.entity_type, hash=digest)


# --------------------------------------------------------------------------- encrypt

ENCRYPTED_TOKEN = re.compile(r"<ENC:([A-Z][A-Z0-9_]*):([A-Za-z0-9_\-]+={0,2})>")


@register_operator
class Encrypt(Operator):
    """AES-256-CBC, reversible with `guard restore` and the same key.

    The ciphertext uses Presidio's AESCipher format (urlsafe base64 of IV +
    ciphertext), so Presidio's Decrypt operator reads it too. The IV is derived
    from the value (a synthetic IV) instead of drawn at random, so output is the
    same in every worker and run; equal values encrypt equally, as with `hash`.
    """

    name = "encrypt"
    needs_key = True

    def apply(self, value: str, ctx: OpContext) -> str:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        assert self.key is not None
        iv = keyed_digest(derive(self.key, "encrypt-iv"), value)[:16]
        padder = padding.PKCS7(128).padder()
        data = padder.update(value.encode("utf-8")) + padder.finalize()
        enc = Cipher(algorithms.AES(encryption_key(self.key)), modes.CBC(iv)).encryptor()
        token = base64.urlsafe_b64encode(iv + enc.update(data) + enc.finalize()).decode("ascii")
        return f"<ENC:{ctx.entity_type}:{token}>"


def encryption_key(key: bytes) -> bytes:
    """The AES-256 key derived from the master key."""
    return derive(key, "encrypt")


def decrypt_token(key: bytes, token: str) -> str:
    """Inverse of Encrypt for one base64 token, via Presidio's AESCipher."""
    from presidio_anonymizer.operators.aes_cipher import AESCipher

    return AESCipher.decrypt(encryption_key(key), token)


# --------------------------------------------------------------------------- surrogate


def _replace_chars(value: str, rng: random.Random, *, keep: int = 0) -> str:
    """Format-preserving: digits to digits, letters to letters of the same case;
    the first `keep` alphanumerics and every separator stay."""
    out, seen = [], 0
    for c in value:
        if c.isalnum():
            seen += 1
            if seen <= keep:
                out.append(c)
            elif c.isdigit():
                out.append(rng.choice(string.digits))
            elif c.isupper():
                out.append(rng.choice(string.ascii_uppercase))
            else:
                out.append(rng.choice(string.ascii_lowercase))
        else:
            out.append(c)
    return "".join(out)


def _fake_card(value: str, rng: random.Random, fake: Any) -> str:
    digits = [c for c in value if c.isdigit()]
    new = digits[:1] + [rng.choice(string.digits) for _ in digits[1:-1]]
    new.append(luhn_check_digit("".join(new)))
    it = iter(new)
    return "".join(next(it) if c.isdigit() else c for c in value)


def _fake_ssn(value: str, rng: random.Random, fake: Any) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    parts = [f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"]
    digits = iter("".join(parts))
    if sum(c.isdigit() for c in value) != 9:
        return "-".join(parts)
    return "".join(next(digits) if c.isdigit() else c for c in value)


def _fake_phone(value: str, rng: random.Random, fake: Any) -> str:
    m = re.match(r"\s*\+(\d{1,3})", value)
    keep = len(m.group(1)) if m else 0  # the country code stays
    out = list(_replace_chars(value, rng, keep=keep))
    digits = [i for i, c in enumerate(out) if c.isdigit()][keep:]
    if digits:  # an area code or trunk never starts with 0 or 1 in the fake
        out[digits[0]] = str(rng.randint(2, 9))
    return "".join(out)


def _fake_iban(value: str, rng: random.Random, fake: Any) -> str:
    compact = re.sub(r"\s", "", value).upper()
    country, body = compact[:2], compact[4:]
    new_body = _replace_chars(body, rng)
    numeric = "".join(str(int(c, 36)) for c in new_body + country + "00")
    check = f"{98 - int(numeric) % 97:02d}"
    new = country + check + new_body
    if " " in value:
        return " ".join(new[i : i + 4] for i in range(0, len(new), 4))
    return new


def _fake_person(value: str, rng: random.Random, fake: Any) -> str:
    parts = value.split()
    if len(parts) <= 1:
        name = fake.last_name() if rng.random() < 0.5 else fake.first_name()
    else:
        name = " ".join([fake.first_name()] + [fake.first_name() for _ in parts[1:-1]] + [fake.last_name()])
    return name.upper() if value.isupper() else name


def _fake_email(value: str, rng: random.Random, fake: Any) -> str:
    return f"{fake.user_name()}@{fake.free_email_domain()}"


def _fake_ip(value: str, rng: random.Random, fake: Any) -> str:
    return fake.ipv6() if ":" in value else fake.ipv4_public()


def _fake_address(value: str, rng: random.Random, fake: Any) -> str:
    street = fake.street_address()
    if "," in value:
        return f"{street}, {fake.city()}, {fake.state_abbr()} {fake.zipcode()}"
    return street


def _fake_age(value: str, rng: random.Random, fake: Any) -> str:
    # another age in the same ten-year band, so the text stays clinically plausible
    return re.sub(r"\d+", lambda m: str(int(m.group()) // 10 * 10 + rng.randint(0, 9)), value)


_SURROGATES: dict[str, Callable[[str, random.Random, Any], str]] = {
    "PERSON": _fake_person,
    "EMAIL_ADDRESS": _fake_email,
    "PHONE_NUMBER": _fake_phone,
    "CREDIT_CARD": _fake_card,
    "US_SSN": _fake_ssn,
    "IBAN_CODE": _fake_iban,
    "IP_ADDRESS": _fake_ip,
    "STREET_ADDRESS": _fake_address,
    "LOCATION": lambda v, rng, fake: fake.city(),
    "URL": lambda v, rng, fake: fake.url(),
    "AGE": _fake_age,
    "NRP": lambda v, rng, fake: "<NRP>",
    "DATE_TIME": lambda v, rng, fake: "<DATE_TIME>",
}


@register_operator
class Surrogate(Operator):
    """A realistic fake value; the same original maps to the same fake for a given key.

    Phones, cards (valid Luhn digit), SSNs (valid ranges) and IBANs (valid check
    digits) keep their format; identifiers with no generator keep their shape
    (digits to digits, letters to letters).
    """

    name = "surrogate"
    params = frozenset({"locale"})
    needs_key = True

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        super().__init__(params, key=key, source=source)
        from faker import Faker

        locale = self._option("locale", "en_US", str)
        try:
            self._fake = Faker(locale)
        except AttributeError as e:  # Faker's answer to an unknown locale
            raise PolicyError(
                f"{source}: operator 'surrogate': unknown locale {locale!r}", hint="e.g. en_US, de_DE"
            ) from e
        assert self.key is not None
        self._key = derive(self.key, "surrogate")

    def apply(self, value: str, ctx: OpContext) -> str:
        make = _SURROGATES.get(ctx.entity_type, lambda v, rng, fake: _replace_chars(v, rng))
        seed = _seed(self._key, ctx.entity_type, value)
        for attempt in range(8):  # never hand back the original by chance
            rng = random.Random(seed + attempt)
            self._fake.seed_instance(seed + attempt)
            fake = make(value, rng, self._fake)
            if _normalize(fake) != _normalize(value):
                return fake
        return f"<{ctx.entity_type}>"


# --------------------------------------------------------------------------- dates

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%d.%m.%Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%b. %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%B %Y",
    "%b %Y",
    "%Y/%m/%d",
    "%m-%d-%Y",
)


def parse_date(value: str) -> tuple[datetime, str] | None:
    """The date and the strptime format it was written in, for common formats."""
    text = " ".join(value.strip().split())
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt), fmt
        except ValueError:
            continue
    return None


@register_operator
class DateShift(Operator):
    """Shift dates by an offset that is fixed per value of a record field (e.g. the
    patient id), so intervals within one patient survive. Dates it cannot parse
    become `<DATE_TIME>` and are counted."""

    name = "date_shift"
    params = frozenset({"field", "max_days", "fallback"})
    needs_key = True

    def __init__(self, params: Mapping[str, Any], *, key: bytes | None, source: str = "<policy>") -> None:
        super().__init__(params, key=key, source=source)
        if not isinstance(self.options.get("field"), str):
            raise PolicyError(f'{source}: operator "date_shift" needs field = "<record field>", e.g. "patient_id"')
        self.field = self.options["field"]
        self.max_days = self._int_option("max_days", 365, low=1, high=36_500)
        assert self.key is not None
        self._key = derive(self.key, "date-shift")

    def offset(self, group: str) -> int:
        n = int.from_bytes(keyed_digest(self._key, group)[:8], "big")
        days = n % self.max_days + 1
        return days if n >> 63 else -days

    def apply(self, value: str, ctx: OpContext) -> str:
        group = ctx.record.get(self.field)
        if group is None or isinstance(group, dict | list):
            raise InputError(
                f"date_shift needs a scalar value in field {self.field!r}",
                line=ctx.line,
                field=self.field,
                hint="every record must carry the grouping field named in the policy",
            )
        parsed = parse_date(value)
        if parsed is None:
            return str(self._option("fallback", "<DATE_TIME>", str))
        date, fmt = parsed
        shifted = date + timedelta(days=self.offset(str(group)))
        return shifted.strftime(fmt)


# --------------------------------------------------------------------------- generalize

_CITY_STATE = re.compile(r",\s*([A-Z][A-Za-z .'-]+?),?\s+([A-Z]{2})\b(?:\s+\d{5}(?:-\d{4})?)?\s*$")


def _band(age: int) -> str:
    return "90+" if age >= 90 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"


@register_operator
class Generalize(Operator):
    """Coarsen: ages to 10-year bands (90+ above 89), dates to the year, street
    addresses to "City, ST", ZIP codes to their first three digits."""

    name = "generalize"

    def apply(self, value: str, ctx: OpContext) -> str:
        entity = ctx.entity_type
        if entity == "AGE":
            return re.sub(r"\d+", lambda m: _band(int(m.group())), value, count=1)
        if entity == "DATE_TIME":
            parsed = parse_date(value)
            return str(parsed[0].year) if parsed else "<DATE_TIME>"
        if entity == "STREET_ADDRESS":
            m = _CITY_STATE.search(value)
            return f"{m.group(1)}, {m.group(2)}" if m else "<LOCATION>"
        if entity == "POSTAL_CODE":
            digits = re.sub(r"\D", "", value)
            return digits[:3] + "XX" if len(digits) >= 5 else "<POSTAL_CODE>"
        return f"<{entity}>"


def operator_fingerprint(name: str, params: Mapping[str, Any]) -> str:
    """A short printable description of an operator for reports (no key material)."""
    if not params:
        return name
    inner = ",".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{name}({inner})"


def key_fingerprint(key: bytes | None) -> str | None:
    """A public identifier of the key (sha256 of a derived value): tells two runs used the same key."""
    return None if key is None else hashlib.sha256(derive(key, "fingerprint")).hexdigest()[:16]


__all__ = [
    "ENCRYPTED_TOKEN",
    "OPERATORS",
    "OpContext",
    "Operator",
    "decrypt_token",
    "key_fingerprint",
    "make_operator",
    "operator_fingerprint",
    "operator_names",
    "parse_date",
    "register_operator",
]

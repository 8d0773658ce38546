"""The scrub policy: which entities to act on, at what score, with which operator.

Parsed from TOML into frozen dataclasses. Entity and operator names are
checked against the registries in `guard.deid` (this module knows neither).

    [detect]
    entities = ["PERSON", "EMAIL_ADDRESS"]   # default: every supported entity
    default_threshold = 0.0                  # Presidio's default: act on every detection
    allow_list = ["Dr. Seuss"]               # values never treated as PII
    phone_regions = ["FI", "DK"]             # bare digit runs read as these regions' numbers too
    precision_rules = ["not_a_calendar_date"]  # default: all (guard.deid.precision); [] keeps every Presidio span
    [detect.thresholds]
    PERSON = 0.5

    [[recognizers]]                          # custom regex or deny-list
    name = "employee_id"
    entity = "EMPLOYEE_ID"
    patterns = ['EMP-\\d{6}']                # or: terms = ["Project Bluebird"]
    score = 0.9
    context = ["employee"]

    [operators]
    default = "tag"
    PERSON = "surrogate"
    US_SSN = { type = "mask", keep_last = 4 }
    DATE_TIME = { type = "date_shift", field = "patient_id", max_days = 365 }

    [keys]
    env = "GUARD_KEY"
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from guard.core.errors import PolicyError
from guard.core.files import read_toml
from guard.core.keys import DEFAULT_KEY_ENV

# Presidio's own default: every detection of every recognizer is acted on. guard is
# recall-first (it must find at least what plain Presidio finds); a policy may raise
# the threshold per entity, knowingly trading recall for precision.
DEFAULT_THRESHOLD = 0.0
# Regions, beyond Presidio's eight, whose numbers are recognised even as a bare run of
# digits with no phone word near it. Numbers of every region are recognised anyway when
# written like phone numbers (guard.deid.phones).
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ()
# A custom recognizer's regex may run this long on one text (one field of one record).
# A pattern that backtracks catastrophically ("(a+)+$") is stopped and the run fails with
# PatternTimeout (exit 11, ExitCode.POLICY) naming the recognizer and the record, instead of stalling the
# scrub or, as Presidio does after 60 s, skipping the pattern and missing what it finds.
REGEX_TIMEOUT_S = 1.0
# The flags Presidio's PatternRecognizer compiles with (the `regex` module, not `re`).
REGEX_FLAGS_NAMES = ("DOTALL", "MULTILINE", "IGNORECASE")


@dataclass(frozen=True)
class OperatorSpec:
    """An operator by registry name plus its parameters."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecognizerSpec:
    """A custom recognizer: regex patterns or a deny-list of terms."""

    name: str
    entity: str
    patterns: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    score: float = 0.85
    context: tuple[str, ...] = ()


class PatternTimeout(PolicyError):
    """A custom recognizer's regex ran past REGEX_TIMEOUT_S on one text: the policy, not
    the record, is at fault (exit 11, ExitCode.POLICY). `path`, `line` and `field` name the text once known."""

    def __init__(
        self,
        *,
        source: str,
        recognizer: str,
        pattern: str,
        seconds: float,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.details = {
            "source": source,
            "recognizer": recognizer,
            "pattern": pattern,
            "seconds": seconds,
            "path": path,
            "line": line,
            "field": field,
        }
        self.recognizer, self.line, self.field = recognizer, line, field
        where = "one text"
        if line is not None:
            where = f"{path}:{line}" if path is not None else f"line {line}"
            where += f", field {field!r}" if field is not None else ""
        super().__init__(
            f"{source}: recognizer {recognizer!r}: {pattern} ran longer than {seconds:g} s on {where} and was "
            "stopped; it backtracks catastrophically (nested quantifiers such as (a+)+, or overlapping "
            "alternatives under a repeat)",
            hint="simplify the pattern, e.g. with possessive quantifiers (a++) or atomic groups (?>...)",
        )

    def located(self, **where: Any) -> PatternTimeout:
        """The same error naming the text: path, line, field."""
        return PatternTimeout(**(self.details | where))

    def __reduce__(self):  # type: ignore[no-untyped-def]  # raised in a worker process, re-raised in the parent
        return (functools.partial(PatternTimeout, **self.details), ())


def regex_flags() -> int:
    """Presidio's PatternRecognizer flags, for the `regex` module."""
    import regex

    return functools.reduce(lambda a, b: a | b, (getattr(regex, n) for n in REGEX_FLAGS_NAMES))


@dataclass(frozen=True)
class Policy:
    entities: tuple[str, ...] | None = None
    default_threshold: float = DEFAULT_THRESHOLD
    thresholds: dict[str, float] = field(default_factory=dict)
    allow_list: tuple[str, ...] = ()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    precision_rules: tuple[str, ...] | None = None  # None: every registered rule
    recognizers: tuple[RecognizerSpec, ...] = ()
    operators: dict[str, OperatorSpec] = field(default_factory=dict)
    default_operator: OperatorSpec = field(default_factory=lambda: OperatorSpec("tag"))
    key_env: str = DEFAULT_KEY_ENV
    source: str = "<default>"

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.default_threshold)

    def operator(self, entity: str) -> OperatorSpec:
        return self.operators.get(entity, self.default_operator)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data

    def config_hash(self) -> str:
        """sha256 of the policy's canonical JSON: two runs with equal hashes used equal settings."""
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_TOP_KEYS = {"detect", "recognizers", "operators", "keys"}
_DETECT_KEYS = {"entities", "default_threshold", "thresholds", "allow_list", "phone_regions", "precision_rules"}
_RECOGNIZER_KEYS = {"name", "entity", "patterns", "terms", "score", "context"}


def _fail(source: str, where: str, message: str) -> PolicyError:
    return PolicyError(f"{source}: [{where}] {message}")


def _threshold(source: str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise _fail(source, where, "a threshold must be a number from 0 to 1")
    return float(value)


def _str_list(source: str, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, where, "must be a list of strings")
    return tuple(value)


def _operator(source: str, where: str, value: Any) -> OperatorSpec:
    if isinstance(value, str):
        return OperatorSpec(value)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        params = {k: v for k, v in value.items() if k != "type"}
        return OperatorSpec(value["type"], params)
    raise _fail(source, where, 'an operator is a name or a table with a "type" key')


def parse_policy(data: dict[str, Any], *, source: str = "<policy>") -> Policy:
    """Build a Policy from parsed TOML, rejecting unknown keys with their location."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(source, "top", f"unknown section(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    detect = data.get("detect", {})
    unknown = set(detect) - _DETECT_KEYS
    if unknown:
        raise _fail(source, "detect", f"unknown key(s) {sorted(unknown)}; known: {sorted(_DETECT_KEYS)}")
    entities = _str_list(source, "detect.entities", detect["entities"]) if "entities" in detect else None
    thresholds = {
        str(k): _threshold(source, f"detect.thresholds.{k}", v) for k, v in detect.get("thresholds", {}).items()
    }
    recognizers = []
    for i, spec in enumerate(data.get("recognizers", [])):
        where = f"recognizers #{i + 1}"
        unknown = set(spec) - _RECOGNIZER_KEYS
        if unknown:
            raise _fail(source, where, f"unknown key(s) {sorted(unknown)}; known: {sorted(_RECOGNIZER_KEYS)}")
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("entity"), str):
            raise _fail(source, where, 'needs "name" and "entity" strings')
        patterns = _str_list(source, where + ".patterns", spec.get("patterns", []))
        terms = _str_list(source, where + ".terms", spec.get("terms", []))
        if not patterns and not terms:
            raise _fail(source, where, 'needs "patterns" (regexes) or "terms" (a deny-list)')
        import regex

        for j, rx in enumerate(patterns):
            try:  # with the module and flags Presidio runs them with
                regex.compile(rx, flags=regex_flags())
            except regex.error as e:
                raise _fail(
                    source, where, f"recognizer {spec['name']!r}: pattern {j + 1} is not a valid regex: {e}"
                ) from e
        recognizers.append(
            RecognizerSpec(
                name=spec["name"],
                entity=spec["entity"],
                patterns=patterns,
                terms=terms,
                score=_threshold(source, where + ".score", spec.get("score", 0.85)),
                context=_str_list(source, where + ".context", spec.get("context", [])),
            )
        )
    ops = dict(data.get("operators", {}))
    default_op = _operator(source, "operators.default", ops.pop("default", "tag"))
    operators = {str(k): _operator(source, f"operators.{k}", v) for k, v in ops.items()}
    keys = data.get("keys", {})
    if set(keys) - {"env"}:
        raise _fail(source, "keys", 'only "env" (the name of the variable holding the key) is allowed')
    return Policy(
        entities=entities,
        default_threshold=_threshold(
            source, "detect.default_threshold", detect.get("default_threshold", DEFAULT_THRESHOLD)
        ),
        thresholds=thresholds,
        allow_list=_str_list(source, "detect.allow_list", detect.get("allow_list", [])),
        phone_regions=_str_list(
            source, "detect.phone_regions", detect.get("phone_regions", list(DEFAULT_PHONE_REGIONS))
        ),
        precision_rules=(
            _str_list(source, "detect.precision_rules", detect["precision_rules"])
            if "precision_rules" in detect
            else None
        ),
        recognizers=tuple(recognizers),
        operators=operators,
        default_operator=default_op,
        key_env=str(keys.get("env", DEFAULT_KEY_ENV)),
        source=source,
    )


def load_policy(path: str | Path | None) -> Policy:
    """Read a policy TOML file; None gives the default policy."""
    if path is None:
        return Policy()
    return parse_policy(read_toml(path, error=PolicyError, what="policy"), source=str(path))


__all__ = [
    "DEFAULT_THRESHOLD",
    "REGEX_TIMEOUT_S",
    "OperatorSpec",
    "PatternTimeout",
    "Policy",
    "RecognizerSpec",
    "load_policy",
    "parse_policy",
    "regex_flags",
]

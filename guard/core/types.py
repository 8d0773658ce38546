"""Typed records that flow between modules. None of them holds a raw PII value
except `Record.data`, which is the corpus itself and never goes into a report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from guard.core import schema

SCHEMA_VERSION = schema.DATA_REPORT  # scrub, scan and dedup reports


class OnError(StrEnum):
    """What a corpus command does with a bad record: stop, or quarantine it and go on."""

    fail = "fail"
    skip = "skip"


class DetectorName(StrEnum):
    """guard's recall-first detector, or plain Presidio (a second opinion for `guard scan`)."""

    guard = "guard"
    presidio = "presidio"


@dataclass(frozen=True)
class Record:
    """One corpus record. `line` is the 1-based physical line (JSONL, CSV, text)
    or the 1-based row number (Parquet) used in error messages."""

    index: int
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class RecordError:
    """A record that could not be processed, for the quarantine file."""

    line: int
    field: str | None
    reason: str
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason, "raw": self.raw}


class _JsonReport:
    """`to_json` (the dataclass's fields) and `dumps` (the report file's text) of a report."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)


@dataclass(frozen=True)
class ScrubReport(_JsonReport):
    """What a scrub or scan did. Counts, types, fields and versions only."""

    command: str
    input: str
    output: str | None
    records_read: int
    records_changed: int
    records_failed: int
    entities: dict[str, int]
    entities_by_field: dict[str, dict[str, int]]
    operators: dict[str, str]
    thresholds: dict[str, float]
    versions: dict[str, str]
    config_hash: str
    seconds: float
    workers: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    detector: str = "guard"  # "presidio": plain Presidio's second opinion (guard scan --detector presidio)
    notes: list[str] = field(default_factory=list)  # what the reader accepted (a byte-order mark)
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class DedupReport(_JsonReport):
    """Which records `guard dedup` dropped and why (ids and similarity only)."""

    input: str
    output: str
    records_read: int
    records_kept: int
    exact_dropped: int
    near_dropped: int
    threshold: float
    num_perm: int
    shingle_size: int
    dropped: list[dict[str, Any]]
    versions: dict[str, str]
    seconds: float
    notes: list[str] = field(default_factory=list)  # what the reader accepted (a byte-order mark)
    schema_version: int = SCHEMA_VERSION


__all__ = ["SCHEMA_VERSION", "DedupReport", "DetectorName", "OnError", "Record", "RecordError", "ScrubReport"]

"""What a release report says, as frozen dataclasses: the run it is about, the model,
the sections, the evidence the gate judges and the gate's results. `to_json` is
report.json's content (kind "guard.release_report", schema_version 1) before it is
sealed and signed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guard.core import schema
from guard.core.jsonutil import json_clean
from guard.release.gate import CheckOutcome

REPORT_KIND = "guard.release_report"
REPORT_SCHEMA_VERSION = schema.RELEASE_REPORT
SECTIONS = ("summary", "data", "training", "privacy", "fairness", "explanations", "limitations", "checks", "findings")
FILES = ("report.html", "report.json", "MODEL_CARD.md")


clean = json_clean  # JSON-able: str keys, lists, finite floats (others None), str for the rest


@dataclass(frozen=True)
class RunRef:
    """The run the report is about: its folder and content hash (guard check finds and rehashes it)."""

    dir: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"dir": self.dir, "hash": self.hash}


@dataclass(frozen=True)
class Generated:
    at: str  # UTC, ISO 8601
    versions: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "versions": dict(self.versions)}


@dataclass(frozen=True)
class ModelInfo:
    run: str
    name: str
    task: str
    labels: tuple[str, ...]
    params: Mapping[str, Any]
    config_hash: str
    finished: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "name": self.name,
            "task": self.task,
            "labels": list(self.labels),
            "params": dict(self.params),
            "config_hash": self.config_hash,
            "finished": self.finished,
        }


@dataclass(frozen=True)
class EvidenceItem:
    """One number the gate may judge and where it came from."""

    value: float | bool | None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True)
class ReportContent:
    """The whole report. Sections are JSON-able mappings of aggregates (sections.py);
    `checks` is None without a release policy."""

    title: str
    run: RunRef
    generated: Generated
    model: ModelInfo
    data: Mapping[str, Any]
    training: Mapping[str, Any]
    privacy: Mapping[str, Any]
    fairness: Mapping[str, Any] | None
    explanations: Mapping[str, Any] | None
    audits: tuple[Mapping[str, Any], ...]
    evidence: Mapping[str, EvidenceItem]
    checks: CheckOutcome | None
    limitations: tuple[str, ...]
    figures: tuple[str, ...] = ()
    kind: str = REPORT_KIND
    schema_version: int = REPORT_SCHEMA_VERSION

    def evidence_json(self) -> dict[str, dict[str, Any]]:
        return {k: v.to_json() for k, v in self.evidence.items()}

    def to_json(self) -> dict[str, Any]:
        return clean(
            {
                "kind": self.kind,
                "schema_version": self.schema_version,
                "title": self.title,
                "run": self.run.to_json(),
                "generated": self.generated.to_json(),
                "model": self.model.to_json(),
                "data": self.data,
                "training": self.training,
                "privacy": self.privacy,
                "fairness": self.fairness,
                "explanations": self.explanations,
                "audits": list(self.audits),
                "evidence": self.evidence_json(),
                "checks": None if self.checks is None else self.checks.to_json(),
                "limitations": list(self.limitations),
                "figures": list(self.figures),
            }
        )


__all__ = [
    "FILES",
    "REPORT_KIND",
    "REPORT_SCHEMA_VERSION",
    "SECTIONS",
    "EvidenceItem",
    "Generated",
    "ModelInfo",
    "ReportContent",
    "RunRef",
    "clean",
]

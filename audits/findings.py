"""What every audit returns: findings with a metric, a value, an optional
threshold and pass/fail, plus data for plots. One JSON schema for the
privacy, fairness and explanation audits, read by `guard report`/`guard check`.

A finding never holds a raw PII value, a canary secret or training text: only
ids, keyed or plain hashes, counts and rates (the evidence dict is checked by
the tests that grep outputs for such values).

An audit of a run directory names the run's content hash (`subject["run_hash"]`,
see audits._run), and every findings file carries its own `sha256` (of its
canonical JSON without that field): `guard report` refuses a file that was edited
or torn after it was written, and findings of another run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from audits._integrity import seal_matches, sealed
from guard.core import schema
from guard.core.errors import ExitCode, InputError, RunError
from guard.core.files import package_versions, read_json
from guard.core.io import write_text_atomic
from guard.core.jsonutil import finite, json_clean
from guard.core.registry import Registry

SCHEMA_VERSION = schema.FINDINGS
AuditName = Literal["privacy", "fairness", "explain"]
Severity = Literal["info", "warning", "critical"]


class AuditError(RunError):
    """An audit cannot run: unusable model, data or run directory (exit 30, ExitCode.RUN, as every
    run-directory error)."""


class PrivacyClaimViolated(AuditError):
    """An audit measured more leakage than the claimed epsilon allows (a privacy bug).

    Raised by the CLI after the findings are written, so the evidence is kept."""

    exit_code = ExitCode.PRIVACY_CLAIM_VIOLATED


@dataclass(frozen=True)
class AuditFinding:
    """One measured fact. `passed` is None when there is no threshold to judge by.

    `check` names the test (e.g. "membership_loss"), `metric` what was measured
    (e.g. "tpr_at_0.001_fpr"), `group` the group or subset it is about (a
    sensitive-feature group, a canary repeat count, a client id) or None.
    `evidence` holds what a reviewer needs to trust the value: sample sizes,
    confidence intervals, ids and hashes. `severity` "critical" marks a result
    that breaks a guarantee (e.g. an empirical epsilon above the claimed one).
    """

    audit: str
    check: str
    metric: str
    value: float | None
    threshold: float | None = None
    passed: bool | None = None
    group: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "info"
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = finite(self.value)
        out["evidence"] = json_clean(self.evidence)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditFinding:
        return cls(
            audit=str(data["audit"]),
            check=str(data["check"]),
            metric=str(data["metric"]),
            value=None if data.get("value") is None else float(data["value"]),
            threshold=None if data.get("threshold") is None else float(data["threshold"]),
            passed=None if data.get("passed") is None else bool(data["passed"]),
            group=None if data.get("group") is None else str(data["group"]),
            evidence=dict(data.get("evidence") or {}),
            severity=data.get("severity", "info"),
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class AuditReport:
    """The result of one audit run: findings, plot data and what was audited.

    `subject` says what was audited (run directory or model path, model name,
    config hash, data files by sha256); `plots` maps a plot name to its data
    (e.g. {"roc_loss": {"fpr": [...], "tpr": [...]}}); `skipped` maps a check
    to the reason it did not run (e.g. extraction on a classifier).
    """

    audit: str
    subject: dict[str, Any]
    findings: tuple[AuditFinding, ...]
    plots: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    def find(self, check: str, metric: str | None = None, group: str | None = None) -> list[AuditFinding]:
        return [
            f
            for f in self.findings
            if f.check == check and (metric is None or f.metric == metric) and (group is None or f.group == group)
        ]

    @property
    def failed(self) -> list[AuditFinding]:
        return [f for f in self.findings if f.passed is False]

    @property
    def run_hash(self) -> str | None:
        """The content hash of the run audited (None: not a run directory)."""
        value = self.subject.get("run_hash")
        return value if isinstance(value, str) and value else None

    def to_json(self) -> dict[str, Any]:
        """The findings file's content, sealed with its own sha256."""
        return sealed(
            {
                "schema_version": SCHEMA_VERSION,
                "audit": self.audit,
                "subject": json_clean(self.subject),
                "seed": self.seed,
                "seconds": round(self.seconds, 3),
                "versions": dict(self.versions),
                "findings": [f.to_json() for f in self.findings],
                "skipped": dict(self.skipped),
                "plots": json_clean(self.plots),
            }
        )

    def write(self, path: str | Path) -> Path:
        """Write atomically (temp file, then rename)."""
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "<findings>") -> AuditReport:
        if not isinstance(data, Mapping) or data.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"not a guard findings file (expected schema_version {SCHEMA_VERSION})", path=source)
        try:
            findings = tuple(AuditFinding.from_json(f) for f in data["findings"])
            return cls(
                audit=str(data["audit"]),
                subject=dict(data.get("subject") or {}),
                findings=findings,
                plots=dict(data.get("plots") or {}),
                skipped=dict(data.get("skipped") or {}),
                seed=int(data.get("seed", 0)),
                seconds=float(data.get("seconds", 0.0)),
                versions=dict(data.get("versions") or {}),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"malformed findings file ({type(e).__name__}: {e})", path=source) from e

    @classmethod
    def read(cls, path: str | Path) -> AuditReport:
        """Read a findings file written by `write`; one edited or torn since is an InputError."""
        data = read_json(path, what="findings file")
        report = cls.from_json(data, source=str(path))
        ok, recorded, actual = seal_matches(data)
        if not ok:
            reason = (
                "has no sha256 seal (written by an older guard, or by hand)"
                if recorded is None
                else f"was changed after guard wrote it (sha256 {str(recorded)[:12]} recorded, {actual[:12]} now)"
            )
            raise InputError(f"the findings file {reason}", path=str(path), hint="re-run the audit")
        return report


def audit_versions() -> dict[str, str]:
    return package_versions(
        "guard", "torch", "numpy", "scipy", "scikit-learn", "fairlearn", "captum", "shap", "transformers", "opacus"
    )


def finished_report(
    audit: str,
    *,
    subject: dict[str, Any],
    findings: Sequence[AuditFinding],
    plots: dict[str, Any],
    skipped: dict[str, str],
    seed: int,
    started: float,
) -> AuditReport:
    """The report of an audit that began at `started` (`time.perf_counter()`), stamped with
    its duration and the audit libraries' versions."""
    return AuditReport(
        audit=audit,
        subject=subject,
        findings=tuple(findings),
        plots=plots,
        skipped=skipped,
        seed=seed,
        seconds=time.perf_counter() - started,
        versions=audit_versions(),
    )


# -- registry -------------------------------------------------------------------

AuditFn = Callable[..., AuditReport]
AUDITS: Registry[AuditFn] = Registry("audit", error=AuditError)


def register_audit(name: str, **meta: Any) -> Callable[[AuditFn], AuditFn]:
    """Register an audit entry point `fn(..., seed=...) -> AuditReport` under `name`."""
    return AUDITS.register(name, **meta)


def audit_names() -> list[str]:
    return AUDITS.names()


def get_audit(name: str) -> AuditFn:
    return AUDITS.get(name)


def finding_table(findings: Sequence[AuditFinding]) -> list[tuple[str, str, str, str, str]]:
    """Rows (check, metric, group, value, verdict) for a console table."""
    rows = []
    for f in findings:
        value = "-" if f.value is None else f"{f.value:.4g}"
        verdict = "" if f.passed is None else ("pass" if f.passed else "FAIL")
        if f.threshold is not None and verdict:
            verdict += f" (limit {f.threshold:g})"  # a limit may be a maximum or a minimum
        rows.append((f.check, f.metric, f.group or "", value, verdict))
    return rows

"""The files a release report is built from: scrub, dedup and residual-PII reports
(summarised, counts only), the audits' findings (refused when of another run), and
where each file was with its sha256 so `guard check` can read it again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits._run import short
from audits.findings import AuditReport
from guard.core.errors import InputError, RunError
from guard.core.files import file_sha256, read_json
from guard.deid.residual import RESIDUAL_KIND


def _scrub_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(data, Mapping) or "entities" not in data or "records_read" not in data:
        raise InputError("not a guard scrub/scan report (no entities or records_read)", path=source)
    return {
        "command": data.get("command"),
        "detector": data.get("detector", "guard"),
        "records_read": data.get("records_read"),
        "records_changed": data.get("records_changed"),
        "records_failed": data.get("records_failed"),
        "entities": dict(data.get("entities") or {}),
        "operators": dict(data.get("operators") or {}),
        "thresholds": dict(data.get("thresholds") or {}),
        "config_hash": data.get("config_hash"),
        "versions": dict(data.get("versions") or {}),
        "seconds": data.get("seconds"),
    }


def _dedup_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(data, Mapping) or "records_kept" not in data:
        raise InputError("not a guard dedup report (no records_kept)", path=source)
    return {k: data.get(k) for k in ("records_read", "records_kept", "exact_dropped", "near_dropped", "threshold")}


def _residual_summary(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A residual-PII scan (guard.deid.measure_residual_pii) or a plain `guard scan` report."""
    if isinstance(data, Mapping) and data.get("kind") == RESIDUAL_KIND:
        keys = ("records", "raw_values", "surviving_values", "rate", "by_entity", "definition")
        out = {k: data.get(k) for k in keys}
        out["scan"] = _scrub_summary(data.get("scan") or {}, source) if data.get("scan") else None
        second = data.get("second_opinion")
        out["second_opinion"] = _scrub_summary(second, source) if second else None
        return out
    summary = _scrub_summary(data, source)
    if isinstance(data, Mapping) and data.get("detector") == "presidio":
        return {"scan": None, "second_opinion": summary, "rate": None}
    return {"scan": summary, "second_opinion": None, "rate": None}


def _detector_recall() -> dict[str, Any] | None:
    """The detector's recall per entity type on the labelled evaluation sets, as shipped."""
    from guard.deid import detector_recall

    try:
        data = detector_recall()
    except (OSError, ValueError):
        return None
    return {
        "measured_on": data.get("measured_on"),
        "split": data.get("split"),
        "definition": data.get("definition"),
        "command": data.get("command"),
        "sets": data.get("sets") or {},
    }


@dataclass(frozen=True)
class AuditInput:
    report: AuditReport
    source: dict[str, Any]  # {"path", "sha256"} of the findings file (path None when passed in memory)

    @property
    def of_this_run(self) -> bool:
        return self.report.run_hash is not None


def audit_inputs(audits: Sequence[str | Path | AuditReport], *, run_hash: str) -> list[AuditInput]:
    """Read the findings; refuse those of another run (RunError naming the audit and both hashes)."""
    out = []
    for item in audits:
        if isinstance(item, AuditReport):
            report, where = item, f"the {item.audit} audit"
            source = {"path": None, "sha256": item.to_json()["sha256"]}
        else:
            report = AuditReport.read(item)
            where = f"the {report.audit} audit ({item})"
            source = {"path": str(Path(item).resolve()), "sha256": report.to_json()["sha256"]}
        if report.run_hash is not None and report.run_hash != run_hash:
            raise RunError(
                f"{where} is of another run: it audited run {short(report.run_hash)}, this run is {short(run_hash)}",
                hint="audit this run directory again, or report on the run the audit was made of",
            )
        out.append(AuditInput(report, source))
    names = [a.report.audit for a in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"more than one findings file for the {dupes} audit(s); give one each")
    return out


def source_of(path: str | Path | None) -> dict[str, Any] | None:
    """Where an input file was and its sha256, so guard check can find and trust it again."""
    if path is None:
        return None
    try:
        return {"path": str(Path(path).resolve()), "sha256": file_sha256(path)}
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror})", path=str(path)) from e


def summary_of(path: str | Path, what: str, summarize: Any) -> dict[str, Any]:
    """Read a data report and summarise it; malformed content is an InputError naming the file."""
    data = read_json(path, what=what)
    try:
        return summarize(data, str(path))
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise InputError(f"malformed {what} ({type(e).__name__}: {e})", path=str(path)) from e


def residual_summary(path: str | Path) -> dict[str, Any]:
    """The residual-PII summary of a scan file (`guard demo`'s residual_pii.json or a `guard scan` report)."""
    return summary_of(path, "scan report", _residual_summary)


def audit_json(item: AuditInput) -> dict[str, Any]:
    data = item.report.to_json()
    data.pop("sha256", None)  # it sealed the file with its plots; the file's is kept in "source"
    data.pop("plots", None)  # charts are drawn from them; the raw arrays stay in the findings files
    data["plots"] = sorted(item.report.plots)
    data["source"] = item.source
    data["run_hash"] = item.report.run_hash
    data["of_this_run"] = item.of_this_run
    return data


__all__ = ["AuditInput", "audit_inputs", "audit_json", "residual_summary", "source_of", "summary_of"]

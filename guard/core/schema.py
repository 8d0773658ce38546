"""The schema version of every file format guard writes, in one place.

Each format is versioned on its own (a ledger change must not make old findings
unreadable), so there is one constant per format, not one for all. Bump a number
when that format changes incompatibly, and teach its reader the old one if it can
still be read. The modules that read and write a format re-export its constant
under their old name (e.g. `federated.ledger.SCHEMA_VERSION`).
"""

from __future__ import annotations

# `guard scrub`/`scan`/`dedup` reports (guard.core.types: ScrubReport, DedupReport)
DATA_REPORT = 1
# a run directory's ledger.json (guard.core.ledger.PrivacyLedger); 2: data segments;
# 3: the privacy unit, person counts per client and client pairs sharing persons
LEDGER = 3
LEDGER_READABLE = (1, 2, 3)
# a run directory's canaries.json and the partition summary in clients.json (guard.core.rundir)
RUN_DATA = 1
# model/guard_model.json, the description of a saved model (federated.models)
MODEL_META = 2
# an audit's findings file (audits.findings.AuditReport)
FINDINGS = 1
# the release report.json (guard report / guard check)
RELEASE_REPORT = 1
# what a run's content hash covers (audits._run.run_content_parts)
RUN_HASH = 1
# a post-processor beside a model, MODEL.mitigation.json / FOLDER/mitigation.json (audits.mitigation)
MITIGATION = 1

__all__ = [
    "DATA_REPORT",
    "FINDINGS",
    "LEDGER",
    "LEDGER_READABLE",
    "MITIGATION",
    "MODEL_META",
    "RELEASE_REPORT",
    "RUN_DATA",
    "RUN_HASH",
]

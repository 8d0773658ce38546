"""Audits of a trained model: privacy (what it memorizes and leaks), fairness
(how it treats groups) and explanations (why it decides). Each returns an
`AuditReport` of `AuditFinding`s with one JSON schema.

The names below are imported on first use (PEP 562), so `import audits.findings`
(what `guard check` needs) does not pay for torch. The release report, its gate
and the demo are in `guard.release`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guard.core.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "SCHEMA_VERSION": "audits.findings",
    "AuditError": "audits.findings",
    "AuditFinding": "audits.findings",
    "AuditReport": "audits.findings",
    "PrivacyClaimViolated": "audits.findings",
    "audit_names": "audits.findings",
    "get_audit": "audits.findings",
    "register_audit": "audits.findings",
    "PrivacyAuditOptions": "audits.privacy",
    "run_privacy_audit": "audits.privacy",
    "run_fairness_audit": "audits.fairness",
    "Mitigation": "audits.mitigation",
    "fit_mitigation": "audits.mitigation",
    "mitigation_path": "audits.mitigation",
    "read_mitigation": "audits.mitigation",
    "AugmentOptions": "audits.augment",
    "FieldSwap": "audits.augment",
    "augment_corpus": "audits.augment",
    "run_explain_audit": "audits.explain",
    "run_content_hash": "audits._run",
}

if TYPE_CHECKING:
    from audits._run import run_content_hash
    from audits.augment import AugmentOptions, FieldSwap, augment_corpus
    from audits.explain import run_explain_audit
    from audits.fairness import run_fairness_audit
    from audits.findings import (
        SCHEMA_VERSION,
        AuditError,
        AuditFinding,
        AuditReport,
        PrivacyClaimViolated,
        audit_names,
        get_audit,
        register_audit,
    )
    from audits.mitigation import Mitigation, fit_mitigation, mitigation_path, read_mitigation
    from audits.privacy import PrivacyAuditOptions, run_privacy_audit


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "SCHEMA_VERSION",
    "AuditError",
    "AuditFinding",
    "AuditReport",
    "PrivacyAuditOptions",
    "PrivacyClaimViolated",
    "audit_names",
    "get_audit",
    "register_audit",
    "run_privacy_audit",
    "run_fairness_audit",
    "Mitigation",
    "fit_mitigation",
    "mitigation_path",
    "read_mitigation",
    "AugmentOptions",
    "FieldSwap",
    "augment_corpus",
    "run_explain_audit",
    "run_content_hash",
]

"""Audits of a trained model: privacy (what it memorizes and leaks), fairness
(how it treats groups) and explanations (why it decides). Each returns an
`AuditReport` of `AuditFinding`s with one JSON schema."""

from audits.explain import run_explain_audit
from audits.fairness import run_fairness_audit
from audits.findings import (
    SCHEMA_VERSION,
    AuditError,
    AuditFinding,
    AuditReport,
    audit_names,
    get_audit,
    register_audit,
)

__all__ = [
    "SCHEMA_VERSION",
    "AuditError",
    "AuditFinding",
    "AuditReport",
    "audit_names",
    "get_audit",
    "register_audit",
    "run_fairness_audit",
    "run_explain_audit",
]

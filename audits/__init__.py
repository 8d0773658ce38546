"""Audits of a trained model: privacy (what it memorizes and leaks), fairness
(how it treats groups) and explanations (why it decides). Each returns an
`AuditReport` of `AuditFinding`s with one JSON schema."""

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
]

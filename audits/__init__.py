"""Audits of a trained model: privacy (what it memorizes and leaks), fairness
(how it treats groups) and explanations (why it decides). Each returns an
`AuditReport` of `AuditFinding`s with one JSON schema."""

from audits._run import run_content_hash
from audits.check import ReleaseCheckFailed, ReleasePolicy, check_report, load_release_policy
from audits.demo import DemoSettings, run_demo
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
from audits.privacy import PrivacyAuditOptions, run_privacy_audit
from audits.report import ReleaseReport, build_report, write_report

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
    "ReleaseCheckFailed",
    "ReleasePolicy",
    "check_report",
    "load_release_policy",
    "DemoSettings",
    "run_demo",
    "ReleaseReport",
    "build_report",
    "write_report",
    "run_fairness_audit",
    "run_explain_audit",
    "run_content_hash",
]

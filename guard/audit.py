"""`guard.audit`: the privacy, fairness and explanation audits as functions.

Each returns an `audits.AuditReport` (findings with one JSON schema) and, given
`out`, writes it there first. They import torch, scikit-learn and the audit
libraries only when called (`pip install 'guard[audit]'`).

    import guard
    report = guard.audit.privacy("out/run", references=2)
    [f for f in report.findings if not f.passed]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guard.api import require

if TYPE_CHECKING:  # pragma: no cover
    from audits import AuditReport

PRIVACY_CHECKS = ("exposure", "membership", "reference", "extraction")
_AUDIT_MODULES = ("torch", "sklearn", "scipy", "fairlearn")


def privacy(
    run: str | Path | None = None,
    *,
    model: str | Path | None = None,
    checks: Sequence[str] = (),
    out: str | Path | None = None,
    **options: Any,
) -> AuditReport:
    """`audits.run_privacy_audit`: canary exposure, membership inference (loss and LiRA),
    extraction, and an empirical epsilon lower bound beside the claimed one, for a run directory
    (or a `model` folder with its `train` and `holdout` records). `options`: its keyword
    arguments (`train`, `holdout`, `task`, `seed`, `progress`) and the fields of
    `audits.PrivacyAuditOptions` (`references`, `max_records`, `device`, `threads`, ...);
    `checks` (default: all of PRIVACY_CHECKS) picks the checks. A finding with severity
    "critical" means the bound is above the claim (the CLI exits 41)."""
    require("audit", *_AUDIT_MODULES)
    from audits import PrivacyAuditOptions, run_privacy_audit

    names = {f.name for f in dataclasses.fields(PrivacyAuditOptions)} - {"checks"}
    settings = PrivacyAuditOptions(
        **{k: v for k, v in options.items() if k in names}, **({"checks": tuple(checks)} if checks else {})
    )
    rest = {k: v for k, v in options.items() if k not in names}
    return _written(run_privacy_audit(run, model_dir=model, options=settings, **rest), out)


def fairness(
    model: str | Path, *, positive: str | None = None, out: str | Path | None = None, **options: Any
) -> AuditReport:
    """`audits.run_fairness_audit` (its keyword arguments: `sensitive`, `data`, `n_boot`,
    `counterfactual`, ...; `positive` is its `positive_label`): per-group metrics (fairlearn),
    disparities with intervals and tests, and counterfactual name/identity swaps, for a run
    directory, guard model, HF checkpoint, .skops or tabular .safetensors."""
    require("audit", *_AUDIT_MODULES)
    from audits import run_fairness_audit

    return _written(run_fairness_audit(model, positive_label=positive, **_listed(options)), out)


def explain(
    model: str | Path, *, positive: str | None = None, out: str | Path | None = None, **options: Any
) -> AuditReport:
    """`audits.run_explain_audit` (its keyword arguments: `sensitive`, `data`, `n_samples`,
    `n_shap`, `methods`, `n_lime`, `lime_num_samples`, ...; `positive` is its `positive_label`):
    captum integrated gradients (completeness-checked), shap and LIME attributions with their rank
    agreement, top tokens per class, tokens behind group gaps. LIME is not required: without the
    package, `methods="ig,shap"` runs as before."""
    require("audit", *_AUDIT_MODULES, "captum", "shap")
    from audits import run_explain_audit

    return _written(run_explain_audit(model, positive_label=positive, **_listed(options)), out)


def mitigate(model: str | Path, *, positive: str | None = None, **options: Any) -> Any:
    """`audits.fit_mitigation` (its keyword arguments: `sensitive`, `data`, `constraint`, `objective`,
    `fit_fraction`, `seed`, `out`, ...; `positive` is its `positive_label`): fairlearn's
    ThresholdOptimizer fitted on a split of the records, saved as JSON beside the model (the
    fairness audit then reports the gaps before and after it); a MitigationResult."""
    require("audit", *_AUDIT_MODULES)
    from audits import fit_mitigation

    return fit_mitigation(model, positive_label=positive, **_listed(options))


def _listed(options: dict[str, Any]) -> dict[str, Any]:
    """`sensitive` as a list and `features` as a list or None (an empty selection means all)."""
    listed = dict(options)
    if "sensitive" in listed:
        listed["sensitive"] = list(listed["sensitive"])
    if "features" in listed:
        listed["features"] = list(listed["features"]) if listed["features"] else None
    return listed


def _written(report: AuditReport, out: str | Path | None) -> AuditReport:
    if out is not None:
        report.write(out)
    return report


__all__ = ["PRIVACY_CHECKS", "explain", "fairness", "mitigate", "privacy"]

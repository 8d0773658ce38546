"""Group fairness audit: per-group metrics with fairlearn's MetricFrame, disparities
with bootstrap confidence intervals and significance tests, small-group warnings and,
for text models, the counterfactual identity-term swap test.

    report = run_fairness_audit("runs/r1", sensitive=["sex", "site"])
    report.find(FairnessCheck.DEMOGRAPHIC_PARITY, "difference")   # one per sensitive feature (set)

Point values come from fairlearn (MetricFrame, demographic_parity_difference,
equalized_odds_difference, ...) on the audited records, so they equal what
fairlearn reports for the same inputs. Confidence intervals come from a
stratified bootstrap (each group resampled with replacement at its own size),
computed from confusion counts in numpy: fairlearn's own `n_boot` rebuilds a
MetricFrame per replicate, which is too slow for thousands of records.

Classes: with two classes (or `positive_label`) the metrics are about the
positive class; with more classes and no positive label every class is audited
one-vs-rest, per-class metric names carry `[class]`, and the headline
`demographic_parity`/`equalized_odds` "difference" is the largest over classes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from audits._groups import (
    _SEP,
    GROUP_METRICS,
    _bootstrap,
    _interval,
    _sha256,
    _spread,
    calibration_error,
    check_group_audit,
    group_keys,
)
from audits.findings import AuditError, AuditFinding, AuditReport, finished_report, register_audit
from guard.core.errors import InputError


class FairnessCheck(StrEnum):
    """The checks (finding names) the fairness audit writes."""

    GROUP_SIZE = "group_size"
    GROUP_METRIC = "group_metric"
    GROUP_GAP = "group_gap"
    SCORE_GAP = "score_gap"
    DEMOGRAPHIC_PARITY = "demographic_parity"
    EQUALIZED_ODDS = "equalized_odds"
    COUNTERFACTUAL_FLIP = "counterfactual_flip"
    MITIGATION = "mitigation"  # gaps and accuracy before/after a saved post-processor (audits.mitigation)


def release_evidence(report: AuditReport) -> dict[str, list[AuditFinding]]:
    """The findings behind each release-evidence number of a fairness audit (evidence key ->
    findings; the release gate takes the worst of them, guard.release.gate.THRESHOLDS)."""
    out = {
        "demographic_parity_gap": report.find(FairnessCheck.DEMOGRAPHIC_PARITY, "difference"),
        "equalized_odds_gap": report.find(FairnessCheck.EQUALIZED_ODDS, "difference"),
    }
    sizes = [f for f in report.find(FairnessCheck.GROUP_SIZE) if f.value is not None]
    if sizes:  # no group sizes: no evidence (rather than a null one)
        out["min_group_size"] = sizes
    # with a post-processor beside the model (audits.mitigation): the gaps after it and what it cost
    for key, metric in (
        ("mitigated_demographic_parity_gap", "demographic_parity_difference_after"),
        ("mitigated_equalized_odds_gap", "equalized_odds_difference_after"),
        ("mitigation_accuracy_cost", "accuracy_cost"),
    ):
        found = report.find(FairnessCheck.MITIGATION, metric)
        if found:
            out[key] = found
    return out


logger = logging.getLogger(__name__)

RATE_TESTS = {  # metric -> which records and which outcome the chi-square test compares
    "accuracy": "correct among all",
    "selection_rate": "predicted positive among all",
    "tpr": "predicted positive among true positives",
    "fpr": "predicted positive among true negatives",
    "precision": "true positive among predicted positives",
}


def _metric_fns() -> dict[str, Any]:
    from fairlearn.metrics import count, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import precision_score

    return {
        "selection_rate": selection_rate,
        "tpr": functools.partial(true_positive_rate, pos_label=1),
        "fpr": functools.partial(false_positive_rate, pos_label=1),
        "precision": functools.partial(precision_score, zero_division=0),
        "calibration_error": calibration_error,
        "count": count,
    }


# -- bootstrap from confusion counts ----------------------------------------------------------------


# -- significance -----------------------------------------------------------------------------------


def _chi_square(keys: np.ndarray, groups: Sequence[str], among: np.ndarray, outcome: np.ndarray) -> dict[str, Any]:
    from scipy.stats import chi2_contingency

    table = np.array(
        [[int(((keys == g) & among & outcome).sum()), int(((keys == g) & among & ~outcome).sum())] for g in groups]
    )
    table = table[table.sum(1) > 0]
    if len(table) < 2 or (table.sum(0) == 0).any():
        return {"test": "chi2_contingency", "p_value": None, "reason": "a margin of the table is empty"}
    result = chi2_contingency(table)
    return {
        "test": "chi2_contingency",
        "statistic": float(result.statistic),
        "dof": int(result.dof),
        "p_value": float(result.pvalue),
    }


def _score_test(keys: np.ndarray, groups: Sequence[str], score: np.ndarray) -> dict[str, Any]:
    from scipy.stats import kruskal, mannwhitneyu

    samples = [score[keys == g] for g in groups]
    samples = [s for s in samples if len(s) > 0]
    if len(samples) < 2 or np.ptp(np.concatenate(samples)) == 0:
        return {"test": "kruskal", "p_value": None, "reason": "all scores are equal"}
    if len(samples) == 2:
        r = mannwhitneyu(samples[0], samples[1], alternative="two-sided")
        return {"test": "mannwhitneyu", "statistic": float(r.statistic), "p_value": float(r.pvalue)}
    r = kruskal(*samples)
    return {"test": "kruskal", "statistic": float(r.statistic), "p_value": float(r.pvalue)}


# -- the audit on predictions -------------------------------------------------------------------------


def _feature_sets(sensitive: Sequence[str], intersections: bool) -> list[tuple[str, ...]]:
    sets = [(name,) for name in sensitive]
    if intersections and len(sensitive) > 1:
        sets.append(tuple(sensitive))
    return sets


def _check_groups(keys: np.ndarray, columns: tuple[str, ...], lines: np.ndarray | None, source: str) -> None:
    values, counts = np.unique(keys, return_counts=True)
    if len(values) < 2:
        raise AuditError(
            f"{source}: sensitive feature {_SEP.join(columns)!r} has a single group ({len(keys)} records); "
            "a group comparison needs at least two"
        )
    single = values[counts == 1]
    if len(single):
        where = int(np.flatnonzero(keys == single[0])[0])
        raise InputError(
            f"group {single[0]!r} has one record: no rate or interval can be judged from one record",
            path=source,
            line=None if lines is None else int(lines[where]),
            field=_SEP.join(columns),
            hint="merge rare values, add data, or leave out intersections (--no-intersections)",
        )


def fairness_findings(
    *,
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    sensitive: Any,
    positive_label: str | None = None,
    intersections: bool = True,
    min_group_size: int = 30,
    n_boot: int = 500,
    max_difference: float | None = None,
    lines: np.ndarray | None = None,
    source: str = "<data>",
    seed: int = 0,
) -> tuple[list[AuditFinding], dict[str, Any]]:
    """Findings and plot data for class indices `y_true`, class probabilities `proba`
    (n, k) and a DataFrame `sensitive` with one column per sensitive feature."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
    )
    from sklearn.metrics import accuracy_score

    classes = [str(c) for c in classes]
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        raise AuditError(f"predictions have shape {proba.shape}; expected ({len(y_true)}, {len(classes)})")
    y_pred = proba.argmax(1)
    if positive_label is not None:
        if str(positive_label) not in classes:
            raise AuditError(f"positive label {positive_label!r} is not one of the model's classes {classes}")
        targets = [classes.index(str(positive_label))]
    else:
        targets = [1] if len(classes) == 2 else list(range(len(classes)))
    per_class = len(targets) > 1
    rng = np.random.default_rng([seed, 11])
    findings: list[AuditFinding] = []
    plots: dict[str, Any] = {}
    fns = _metric_fns()
    correct = y_pred == y_true

    for columns in _feature_sets(list(sensitive.columns), intersections):
        fname = _SEP.join(columns)
        keys = group_keys(sensitive, columns)
        _check_groups(keys, columns, lines, source)
        sf = sensitive[list(columns)] if len(columns) > 1 else sensitive[columns[0]]
        acc = MetricFrame(metrics={"accuracy": accuracy_score}, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
        groups = [_label(k, columns) for k in acc.by_group.index]
        sizes = {g: int((keys == g).sum()) for g in groups}
        plots.setdefault("fairness_groups", {})[fname] = {}
        # sizes
        small = [g for g in groups if sizes[g] < min_group_size]
        for g in groups:
            findings.append(
                AuditFinding(
                    audit="fairness",
                    check=FairnessCheck.GROUP_SIZE,
                    metric="n",
                    value=float(sizes[g]),
                    group=g,
                    threshold=float(min_group_size),
                    passed=sizes[g] >= min_group_size,
                    evidence={"feature": fname, "n": sizes[g]},
                    severity="warning" if sizes[g] < min_group_size else "info",
                    message=(
                        f"group {g} has {sizes[g]} records (< {min_group_size}): too few to judge its rates"
                        if sizes[g] < min_group_size
                        else ""
                    ),
                )
            )
        min_n = min(sizes.values())
        findings.append(
            AuditFinding(
                audit="fairness",
                check=FairnessCheck.GROUP_SIZE,
                metric="min_n",
                value=float(min_n),
                group=fname,
                threshold=float(min_group_size),
                passed=min_n >= min_group_size,
                evidence={"feature": fname, "sizes": sizes, "small_groups": small},
                severity="warning" if small else "info",
                message=f"{len(small)} group(s) of {fname} below {min_group_size} records: {small}" if small else "",
            )
        )
        dp_by_class: dict[str, float] = {}
        eo_by_class: dict[str, float] = {}
        dpr_by_class: dict[str, float] = {}
        eor_by_class: dict[str, float] = {}
        ci_by_class: dict[str, dict[str, Any]] = {}
        for t_index, target in enumerate(targets):
            cls = classes[target]
            suffix = f"[{cls}]" if per_class else ""
            yb = y_true == target
            pb = y_pred == target
            score = proba[:, target]
            mf = MetricFrame(
                metrics={m: fns[m] for m in (*GROUP_METRICS, "count")},
                y_true=yb.astype(int),
                y_pred=pb.astype(int),
                sensitive_features=sf,
                sample_params={"calibration_error": {"y_score": score}},
            )
            boot = _bootstrap(keys, groups, yb, pb, score, correct, n_boot=n_boot, rng=rng)
            metric_names = (("accuracy",) if t_index == 0 else ()) + GROUP_METRICS
            by_group = {m: (acc.by_group["accuracy"] if m == "accuracy" else mf.by_group[m]) for m in metric_names}
            difference = {
                m: (acc.difference()["accuracy"] if m == "accuracy" else mf.difference()[m]) for m in metric_names
            }
            ratio = {m: (acc.ratio()["accuracy"] if m == "accuracy" else mf.ratio()[m]) for m in metric_names}
            for m in metric_names:
                name = m if m == "accuracy" else m + suffix
                values = [float(v) for v in by_group[m].to_numpy()]
                cis = [_interval(boot[m][:, gi]) for gi in range(len(groups))]
                for gi, g in enumerate(groups):
                    findings.append(
                        AuditFinding(
                            audit="fairness",
                            check=FairnessCheck.GROUP_METRIC,
                            metric=name,
                            value=values[gi],
                            group=g,
                            evidence={
                                "feature": fname,
                                "n": sizes[g],
                                "ci95": list(cis[gi]),
                                "class": None if m == "accuracy" else cls,
                                "n_boot": n_boot,
                            },
                        )
                    )
                diff_s, ratio_s = _spread(boot[m])
                test = (
                    _rate_test(m, keys, groups, yb, pb, correct)
                    if m in RATE_TESTS
                    else _score_test(keys, groups, score)
                )
                hi_g = groups[int(np.nanargmax(values))] if np.isfinite(values).any() else None
                lo_g = groups[int(np.nanargmin(values))] if np.isfinite(values).any() else None
                evidence = {
                    "feature": fname,
                    "ci95": list(_interval(diff_s)),
                    "n_boot": n_boot,
                    "groups": [hi_g, lo_g],
                    "class": None if m == "accuracy" else cls,
                    **test,
                }
                for gap, value, spread in (("difference", difference[m], diff_s), ("ratio", ratio[m], ratio_s)):
                    findings.append(
                        AuditFinding(
                            audit="fairness",
                            check=FairnessCheck.GROUP_GAP,
                            metric=f"{name}_{gap}",
                            value=float(value),
                            group=fname,
                            evidence={**evidence, "ci95": list(_interval(spread))},
                        )
                    )
                plots["fairness_groups"][fname][name] = {
                    "groups": groups,
                    "value": values,
                    "ci_low": [c[0] for c in cis],
                    "ci_high": [c[1] for c in cis],
                    "n": [sizes[g] for g in groups],
                }
            # score gap (two-sample test on the positive-class score)
            means = {g: float(score[keys == g].mean()) for g in groups}
            score_boot = _mean_boot(keys, groups, score, n_boot, rng)
            findings.append(
                AuditFinding(
                    audit="fairness",
                    check=FairnessCheck.SCORE_GAP,
                    metric=f"mean_score_difference{suffix}",
                    value=max(means.values()) - min(means.values()),
                    group=fname,
                    evidence={
                        "feature": fname,
                        "class": cls,
                        "group_means": means,
                        "ci95": list(_interval(np.nanmax(score_boot, 1) - np.nanmin(score_boot, 1))),
                        **_score_test(keys, groups, score),
                    },
                )
            )
            # fairlearn's disparity functions, as the release gate reads them
            dp = float(demographic_parity_difference(yb.astype(int), pb.astype(int), sensitive_features=sf))
            dpr = float(demographic_parity_ratio(yb.astype(int), pb.astype(int), sensitive_features=sf))
            eo = float(equalized_odds_difference(yb.astype(int), pb.astype(int), sensitive_features=sf))
            eor = float(equalized_odds_ratio(yb.astype(int), pb.astype(int), sensitive_features=sf))
            sel_d, sel_r = _spread(boot["selection_rate"])
            tpr_d, tpr_r = _spread(boot["tpr"])
            fpr_d, fpr_r = _spread(boot["fpr"])
            cis = {
                "dp_difference": _interval(sel_d),
                "dp_ratio": _interval(sel_r),
                "eo_difference": _interval(np.maximum(tpr_d, fpr_d)),
                "eo_ratio": _interval(np.minimum(tpr_r, fpr_r)),
            }
            tests = {
                "dp": _rate_test("selection_rate", keys, groups, yb, pb, correct),
                "eo_tpr": _rate_test("tpr", keys, groups, yb, pb, correct),
                "eo_fpr": _rate_test("fpr", keys, groups, yb, pb, correct),
            }
            dp_by_class[cls], dpr_by_class[cls], eo_by_class[cls], eor_by_class[cls] = dp, dpr, eo, eor
            ci_by_class[cls] = {"ci": cis, "tests": tests}
            if per_class:
                for check, metric, value, ci_key, test in (
                    (FairnessCheck.DEMOGRAPHIC_PARITY, f"difference{suffix}", dp, "dp_difference", tests["dp"]),
                    (FairnessCheck.DEMOGRAPHIC_PARITY, f"ratio{suffix}", dpr, "dp_ratio", tests["dp"]),
                    (FairnessCheck.EQUALIZED_ODDS, f"difference{suffix}", eo, "eo_difference", None),
                    (FairnessCheck.EQUALIZED_ODDS, f"ratio{suffix}", eor, "eo_ratio", None),
                ):
                    findings.append(
                        AuditFinding(
                            audit="fairness",
                            check=check,
                            metric=metric,
                            value=value,
                            group=fname,
                            evidence={
                                "feature": fname,
                                "class": cls,
                                "ci95": list(cis[ci_key]),
                                "n_boot": n_boot,
                                **(
                                    {"tpr_test": tests["eo_tpr"], "fpr_test": tests["eo_fpr"]} if test is None else test
                                ),
                            },
                        )
                    )
        # headline disparities (the worst class when every class is audited one-vs-rest)
        worst_dp = max(dp_by_class, key=lambda c: dp_by_class[c])
        worst_eo = max(eo_by_class, key=lambda c: eo_by_class[c])
        for check, metric, by_class, worst, ci_key, test_keys in (
            (FairnessCheck.DEMOGRAPHIC_PARITY, "difference", dp_by_class, worst_dp, "dp_difference", ("dp",)),
            (FairnessCheck.DEMOGRAPHIC_PARITY, "ratio", dpr_by_class, worst_dp, "dp_ratio", ("dp",)),
            (FairnessCheck.EQUALIZED_ODDS, "difference", eo_by_class, worst_eo, "eo_difference", ("eo_tpr", "eo_fpr")),
            (FairnessCheck.EQUALIZED_ODDS, "ratio", eor_by_class, worst_eo, "eo_ratio", ("eo_tpr", "eo_fpr")),
        ):
            value = by_class[worst]
            threshold = max_difference if metric == "difference" else None
            tests = {k: ci_by_class[worst]["tests"][k] for k in test_keys}
            p_values = [t["p_value"] for t in tests.values() if t.get("p_value") is not None]
            findings.append(
                AuditFinding(
                    audit="fairness",
                    check=check,
                    metric=metric,
                    value=value,
                    group=fname,
                    threshold=threshold,
                    passed=None if threshold is None else bool(value <= threshold),
                    evidence={
                        "feature": fname,
                        "class": worst,
                        "ci95": list(ci_by_class[worst]["ci"][ci_key]),
                        "n_boot": n_boot,
                        "p_value": min(p_values) if p_values else None,
                        "tests": tests,
                        "per_class": by_class if per_class else None,
                        "n": int(len(keys)),
                        "min_group_n": min_n,
                    },
                    severity="warning" if threshold is not None and value > threshold else "info",
                    message=(
                        f"{check} {metric} {value:.3f} over {fname} exceeds {threshold}"
                        if threshold is not None and value > threshold
                        else ""
                    ),
                )
            )
    return findings, plots


def _label(key: Any, columns: tuple[str, ...]) -> str:
    if len(columns) == 1:
        return str(key)
    return _SEP.join(f"{c}={v}" for c, v in zip(columns, key))


def _rate_test(
    metric: str, keys: np.ndarray, groups: Sequence[str], y: np.ndarray, pred: np.ndarray, correct: np.ndarray
) -> dict[str, Any]:
    everyone = np.ones(len(keys), dtype=bool)
    among, outcome = {
        "accuracy": (everyone, correct),
        "selection_rate": (everyone, pred),
        "tpr": (y, pred),
        "fpr": (~y, pred),
        "precision": (pred, y),
    }[metric]
    return {**_chi_square(keys, groups, among, outcome), "compares": RATE_TESTS[metric]}


def _mean_boot(
    keys: np.ndarray, groups: Sequence[str], score: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    out = np.full((n_boot, len(groups)), np.nan)
    for gi, g in enumerate(groups):
        s = score[keys == g]
        chunk = max(1, min(n_boot, 2_000_000 // max(len(s), 1)))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            out[start : start + b, gi] = s[rng.integers(0, len(s), size=(b, len(s)))].mean(1)
    return out


# -- the audit entry point ------------------------------------------------------------------------------


@register_audit("fairness")
def run_fairness_audit(
    model: str | Path,
    *,
    sensitive: Sequence[str],
    data: str | Path | None = None,
    label_field: str | None = None,
    text_field: str = "text",
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
    intersections: bool = True,
    min_group_size: int = 30,
    n_boot: int = 500,
    max_difference: float | None = None,
    counterfactual: bool = True,
    max_records: int | None = None,
    max_length: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
    mitigation: bool = True,
    mitigation_file: str | Path | None = None,
) -> AuditReport:
    """Audit `model` (run directory, guard model, HF checkpoint, .skops, tabular .safetensors)
    for group gaps over `sensitive` features on `data` (default: the run's holdout).

    `trust_model` loads a .skops file that holds types outside guard's allow-list
    (functions included); the findings' subject records it.

    `mitigation`: use the post-processor `guard audit mitigate` saved beside the model
    (audits.mitigation.mitigation_path) when there is one, or `mitigation_file`; False ignores both.
    Its findings (check "mitigation") give each gap and the accuracy before and after, with
    intervals, on the records it was not fitted on."""
    from audits._models import audit_subject, load_scored, torch_threads

    started = time.perf_counter()
    check_group_audit(sensitive, n_boot)
    with torch_threads(threads):
        loaded, records, proba = load_scored(
            model,
            data=data,
            sensitive=sensitive,
            label_field=label_field,
            text_field=text_field,
            features=features,
            max_length=max_length,
            max_records=max_records,
            seed=seed,
            trust_model=trust_model,
        )
        findings, plots = fairness_findings(
            y_true=records.y,
            proba=proba,
            classes=loaded.classes,
            sensitive=records.sensitive,
            positive_label=positive_label,
            intersections=intersections,
            min_group_size=min_group_size,
            n_boot=n_boot,
            max_difference=max_difference,
            lines=records.lines,
            source=records.source,
            seed=seed,
        )
        skipped: dict[str, str] = {}
        if loaded.kind == "text" and counterfactual:
            from audits.counterfactual import counterfactual_findings

            cf_findings, cf_plots = counterfactual_findings(loaded, records.texts or (), seed=seed)
            findings += cf_findings
            plots.update(cf_plots)
            if not cf_findings:
                skipped[FairnessCheck.COUNTERFACTUAL_FLIP] = (
                    "no audited text holds a name or identity term from the swap lists"
                )
        elif loaded.kind != "text":
            skipped[FairnessCheck.COUNTERFACTUAL_FLIP] = "counterfactual swaps apply to text models only"
        else:
            skipped[FairnessCheck.COUNTERFACTUAL_FLIP] = "turned off"
        from audits.mitigation import audit_mitigation

        data_sha256 = _sha256(records.source)
        m_findings, m_plots, m_subject, m_skipped = audit_mitigation(
            model,
            mitigation,
            file=mitigation_file,
            y_true=records.y,
            proba=proba,
            classes=loaded.classes,
            sensitive=records.sensitive,
            lines=records.lines,
            source=records.source,
            data_sha256=data_sha256,
            n_boot=n_boot,
            seed=seed,
        )
        findings += m_findings
        plots.update(m_plots)
        if m_skipped is not None:
            skipped[FairnessCheck.MITIGATION] = m_skipped
        more = {} if m_subject is None else {"mitigation": m_subject}
        subject = audit_subject(
            loaded, records, sensitive, positive_label=positive_label, data_sha256=data_sha256, **more
        )
        return finished_report(
            "fairness", subject=subject, findings=findings, plots=plots, skipped=skipped, seed=seed, started=started
        )


__all__ = ["calibration_error", "fairness_findings", "group_keys", "run_fairness_audit"]

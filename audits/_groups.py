"""Per-group statistics shared by the fairness audit and its post-processing mitigation
(audits.fairness, audits.mitigation): group keys, the bootstrap from confusion counts,
intervals and between-group spreads. No fairlearn import here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from audits.findings import AuditError
from guard.core.files import file_sha256

GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "calibration_error")
CALIBRATION_BINS = 10
_SEP = "&"


def calibration_error(y_true: Any, y_pred: Any, *, y_score: Any) -> float:
    """Expected calibration error of the positive-class score, 10 equal-width bins:
    sum over bins of |positives - sum of scores| / n."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if len(y) == 0:
        return float("nan")
    bins = np.clip((s * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    sy = np.bincount(bins, weights=y, minlength=CALIBRATION_BINS)
    ss = np.bincount(bins, weights=s, minlength=CALIBRATION_BINS)
    return float(np.abs(sy - ss).sum() / len(y))


def group_keys(sensitive: Any, columns: Sequence[str]) -> np.ndarray:
    """One string per record: `value` for one column, `a=x&b=y` for several."""
    if len(columns) == 1:
        return sensitive[columns[0]].astype(str).to_numpy()
    parts = [columns_name + "=" + sensitive[columns_name].astype(str) for columns_name in columns]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + _SEP + p
    return joined.to_numpy()


# -- bootstrap from confusion counts --------------------------------------------------------------------------------


def _bootstrap(
    keys: np.ndarray,
    groups: Sequence[str],
    y: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray,
    correct: np.ndarray,
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """(n_boot, groups) replicate values of each metric, each group resampled at its own size."""
    names = ("accuracy", *GROUP_METRICS)
    out = {m: np.full((n_boot, len(groups)), np.nan) for m in names}
    bins = np.clip((score * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    for gi, g in enumerate(groups):
        idx = np.flatnonzero(keys == g)
        n = len(idx)
        yg, pg, sg, cg, bg = y[idx], pred[idx], score[idx], correct[idx], bins[idx]
        chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            draw = rng.integers(0, n, size=(b, n))
            yb, pb, sb, cb, binb = yg[draw], pg[draw], sg[draw], cg[draw], bg[draw]
            tp = (yb & pb).sum(1)
            pos = yb.sum(1)
            fp = (~yb & pb).sum(1)
            neg = n - pos
            sel = pb.sum(1)
            rows = slice(start, start + b)
            out["accuracy"][rows, gi] = cb.mean(1)
            out["selection_rate"][rows, gi] = sel / n
            # fairlearn (sklearn confusion_matrix normalize="true") gives 0 for an empty row
            out["tpr"][rows, gi] = np.divide(tp, pos, out=np.zeros(b), where=pos > 0)
            out["fpr"][rows, gi] = np.divide(fp, neg, out=np.zeros(b), where=neg > 0)
            out["precision"][rows, gi] = np.divide(tp, sel, out=np.zeros(b), where=sel > 0)
            flat = (binb + CALIBRATION_BINS * np.arange(b)[:, None]).ravel()
            sy = np.bincount(flat, weights=yb.ravel().astype(float), minlength=b * CALIBRATION_BINS)
            ss = np.bincount(flat, weights=sb.ravel(), minlength=b * CALIBRATION_BINS)
            out["calibration_error"][rows, gi] = np.abs(sy - ss).reshape(b, CALIBRATION_BINS).sum(1) / n
    return out


def _interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def _spread(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate: max - min and min / max over groups (fairlearn's between_groups)."""
    hi = np.nanmax(matrix, axis=1)
    lo = np.nanmin(matrix, axis=1)
    ratio = np.divide(lo, hi, out=np.full_like(lo, np.nan), where=hi > 0)
    ratio = np.where((hi == 0) & (lo == 0), 1.0, ratio)
    return hi - lo, ratio


def _sha256(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def check_group_audit(sensitive: Sequence[str], n_boot: int) -> None:
    """The arguments every per-group audit needs (fairness, mitigation): AuditError otherwise."""
    if not sensitive:
        raise AuditError("name at least one sensitive feature (--sensitive FIELD)")
    if len(set(sensitive)) != len(sensitive):
        raise AuditError(f"sensitive features repeat a name: {list(sensitive)}")
    if n_boot < 10:
        raise AuditError(f"n_boot must be at least 10 (got {n_boot})")

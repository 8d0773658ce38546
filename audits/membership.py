"""Membership inference: is a record in the training set?

Two attacks on per-example scores, scored the same way:
- loss attack (Yeom et al. 2018): lower loss means member;
- reference-model attack, LiRA online (Carlini et al. 2022, "Membership Inference
  Attacks From First Principles"): K reference models, each trained on a random
  half of the population (members and non-members pooled), so every record is IN
  for K/2 of them and OUT for the rest; the score is the likelihood ratio of the
  target's confidence under Gaussians fitted to the IN and OUT confidences (one
  global variance each, as the paper advises for small K).

Person level: when records name their person, a person is a member when all their
records trained and a non-member when all were held out; the person's score is the
mean of their records' scores (`person_scores`), and reference models take or leave
all of a person's records together (`grouped_in_mask`), so the record-level LiRA
scores averaged per person are a person-level LiRA.

Metrics: ROC AUC, TPR at fixed low FPRs (1%, 0.1%) with bootstrap confidence
intervals, and the ROC curve thinned for plotting. An empirical epsilon lower
bound comes from the attack's TPR/FPR with Clopper-Pearson intervals: the
threshold is chosen on one half of the records and the bound computed on the
other, so choosing it does not bias the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve

FPR_LEVELS = (0.01, 0.001)


@dataclass(frozen=True)
class AttackResult:
    """Scores (higher = more likely a member) and what they achieve."""

    name: str
    auc: float
    auc_ci: tuple[float, float]
    tpr_at: dict[float, float]  # FPR level -> TPR
    tpr_ci: dict[float, tuple[float, float]]
    members: int
    non_members: int
    roc: dict[str, list[float]] = field(default_factory=dict)


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    """Largest TPR reached with FPR at most `level` (no interpolation: achievable only)."""
    ok = fpr <= level + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def evaluate_attack(
    name: str,
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    *,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> AttackResult:
    m = np.asarray(member_scores, dtype=float)
    n = np.asarray(non_member_scores, dtype=float)
    if len(m) < 2 or len(n) < 2:
        raise ValueError("a membership attack needs at least 2 members and 2 non-members")
    y = np.r_[np.ones(len(m)), np.zeros(len(n))]
    s = np.r_[m, n]
    fpr, tpr, _ = roc_curve(y, s)
    auc = float(roc_auc_score(y, s))
    tpr_at = {level: tpr_at_fpr(fpr, tpr, level) for level in FPR_LEVELS}
    rng = np.random.default_rng([seed, 7])
    aucs: list[float] = []
    tprs: dict[float, list[float]] = {level: [] for level in FPR_LEVELS}
    for _ in range(bootstrap):
        bm = m[rng.integers(0, len(m), len(m))]
        bn = n[rng.integers(0, len(n), len(n))]
        by = np.r_[np.ones(len(bm)), np.zeros(len(bn))]
        bs = np.r_[bm, bn]
        aucs.append(float(roc_auc_score(by, bs)))
        bf, bt, _ = roc_curve(by, bs)
        for level in FPR_LEVELS:
            tprs[level].append(tpr_at_fpr(bf, bt, level))
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100

    def ci(values: list[float]) -> tuple[float, float]:
        return (float(np.percentile(values, lo)), float(np.percentile(values, hi))) if values else (math.nan, math.nan)

    return AttackResult(
        name=name,
        auc=auc,
        auc_ci=ci(aucs),
        tpr_at=tpr_at,
        tpr_ci={level: ci(tprs[level]) for level in FPR_LEVELS},
        members=len(m),
        non_members=len(n),
        roc=thin_roc(fpr, tpr),
    )


def thin_roc(fpr: np.ndarray, tpr: np.ndarray, points: int = 120) -> dict[str, list[float]]:
    """At most `points` ROC points, log-spaced in FPR so the low-FPR end (what matters) stays sharp."""
    grid = np.unique(np.r_[0.0, np.logspace(-4, 0, points - 1)])
    out_tpr = [tpr_at_fpr(fpr, tpr, g) for g in grid]
    return {"fpr": [round(float(g), 6) for g in grid], "tpr": [round(t, 6) for t in out_tpr]}


# -- LiRA ---------------------------------------------------------------------------


def balanced_in_mask(n: int, k: int, *, seed: int) -> np.ndarray:
    """(k, n) bool: record i is IN for exactly k // 2 reference models (chosen at random)."""
    if k < 2 or k % 2:
        raise ValueError("the reference-model attack needs an even number of reference models (>= 2)")
    rng = np.random.default_rng([seed, 11])
    mask = np.zeros((k, n), dtype=bool)
    for i in range(n):
        mask[rng.choice(k, size=k // 2, replace=False), i] = True
    return mask


def grouped_in_mask(groups: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """(k, n) bool for n records in groups 0..G-1 (`groups[i]`: record i's group, e.g. its
    person): each group is IN for exactly k // 2 models, all its records together. With
    every record in a group of its own (groups = arange(n)) this is `balanced_in_mask(n)`."""
    g = np.asarray(groups, dtype=int)
    if len(g) and (g.min() < 0 or len(np.unique(g)) != g.max() + 1):
        raise ValueError("groups must number the groups 0..G-1, each used at least once")
    return balanced_in_mask(int(g.max()) + 1 if len(g) else 0, k, seed=seed)[:, g]


def person_scores(record_scores: np.ndarray, persons: Sequence[Sequence[int]]) -> np.ndarray:
    """One score per person: the mean score of their records (`persons[j]`: the indices
    into `record_scores` of person j's records; each non-empty)."""
    s = np.asarray(record_scores, dtype=float)
    if any(len(idx) == 0 for idx in persons):
        raise ValueError("every person needs at least one record")
    return np.array([float(s[list(idx)].mean()) for idx in persons])


def lira_scores(target_phi: np.ndarray, reference_phi: np.ndarray, in_mask: np.ndarray) -> np.ndarray:
    """Online LiRA with global variances. `reference_phi` and `in_mask` are (K, n)."""
    ref = np.asarray(reference_phi, dtype=float)
    inn = np.where(in_mask, ref, np.nan)
    out = np.where(~in_mask, ref, np.nan)
    mu_in = np.nanmean(inn, axis=0)
    mu_out = np.nanmean(out, axis=0)
    sd_in = float(np.nanstd(inn - mu_in)) + 1e-6
    sd_out = float(np.nanstd(out - mu_out)) + 1e-6
    return stats.norm.logpdf(target_phi, mu_in, sd_in) - stats.norm.logpdf(target_phi, mu_out, sd_out)


# -- empirical epsilon ---------------------------------------------------------------


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) interval for a binomial rate; each side alpha / 2."""
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def _eps_from_rates(tpr: float, fpr: float, delta: float) -> float:
    """The (eps, delta)-DP hypothesis-testing bound, both directions (Kairouz et al. 2015)."""
    best = 0.0
    if fpr > 0 and tpr - delta > 0:
        best = max(best, math.log((tpr - delta) / fpr))
    if 1 - tpr > 0 and 1 - fpr - delta > 0:
        best = max(best, math.log((1 - fpr - delta) / (1 - tpr)))
    return best


@dataclass(frozen=True)
class EpsilonBound:
    lower_bound: float
    confidence: float
    threshold_quantile: float
    tp: int
    members: int
    fp: int
    non_members: int
    method: str = (
        "Clopper-Pearson bounds on the attack's TPR and FPR at a threshold chosen on a disjoint half "
        "of the records; eps >= max(log((TPR_lo - delta) / FPR_hi), log((1 - FPR_hi - delta) / (1 - TPR_lo)))"
    )


def epsilon_lower_bound(
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    *,
    delta: float,
    confidence: float = 0.95,
    seed: int = 0,
) -> EpsilonBound:
    """An empirical epsilon that the training run must be at least, with `confidence`."""
    rng = np.random.default_rng([seed, 13])
    m = rng.permutation(np.asarray(member_scores, dtype=float))
    n = rng.permutation(np.asarray(non_member_scores, dtype=float))
    m_sel, m_eval = m[: len(m) // 2], m[len(m) // 2 :]
    n_sel, n_eval = n[: len(n) // 2], n[len(n) // 2 :]
    # candidate thresholds: quantiles of the selection half (both tails: either direction may win)
    qs = np.r_[np.linspace(0.0, 0.2, 21), np.linspace(0.2, 0.8, 13), np.linspace(0.8, 1.0, 41)]
    pooled = np.r_[m_sel, n_sel]
    best_q, best = 0.5, -1.0
    for q in np.unique(qs):
        t = float(np.quantile(pooled, q))
        # add-half smoothing so a zero count does not pick a threshold by luck
        tpr = (np.sum(m_sel >= t) + 0.5) / (len(m_sel) + 1)
        fpr = (np.sum(n_sel >= t) + 0.5) / (len(n_sel) + 1)
        eps = _eps_from_rates(tpr, fpr, delta)
        if eps > best:
            best_q, best = float(q), eps
    t = float(np.quantile(pooled, best_q))
    tp, fp = int(np.sum(m_eval >= t)), int(np.sum(n_eval >= t))
    alpha = 1 - confidence
    # one-sided bounds, alpha/2 each side -> joint confidence >= 1 - alpha
    tpr_lo, _ = clopper_pearson(tp, len(m_eval), alpha)
    _, fpr_hi = clopper_pearson(fp, len(n_eval), alpha)
    bound = 0.0
    if fpr_hi > 0 and tpr_lo - delta > 0:
        bound = max(bound, math.log((tpr_lo - delta) / fpr_hi))
    if 1 - tpr_lo > 0 and 1 - fpr_hi - delta > 0:
        bound = max(bound, math.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
    return EpsilonBound(bound, confidence, best_q, tp, len(m_eval), fp, len(n_eval))


__all__ = [
    "FPR_LEVELS",
    "AttackResult",
    "EpsilonBound",
    "balanced_in_mask",
    "clopper_pearson",
    "epsilon_lower_bound",
    "evaluate_attack",
    "grouped_in_mask",
    "lira_scores",
    "person_scores",
    "thin_roc",
    "tpr_at_fpr",
]

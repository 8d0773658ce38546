"""The statistics under the privacy audit, on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audits.exposure import canary_exposures
from audits.membership import (
    balanced_in_mask,
    clopper_pearson,
    epsilon_lower_bound,
    evaluate_attack,
    lira_scores,
    tpr_at_fpr,
)

TEMPLATE = "my pin is {secret}"


def _nll_from_secret(texts, labels):  # noqa: ANN001, ANN202 - a score function for canary_exposures
    return np.array([float(t.rsplit(" ", 1)[1]) for t in texts])


def test_exposure_exact_rank_is_log_space_minus_log_rank() -> None:
    # NLL = the secret's value: "005" is the 6th most likely of 1,000 ("000".."005")
    got = canary_exposures(
        [("c0", "005", 4, None), ("c1", "999", 0, None)], template=TEMPLATE, digits=3, score=_nll_from_secret
    )
    assert got[0].method == "exact"
    assert got[0].rank == 6
    assert got[0].exposure == pytest.approx(math.log2(1000) - math.log2(6))
    assert got[1].exposure == pytest.approx(0.0)  # least likely of all: rank 1000


def test_exposure_extrapolation_agrees_with_the_exact_rank() -> None:
    rng = np.random.default_rng(0)
    table = rng.gamma(4.0, 2.0, size=10_000)  # a skewed NLL distribution, like a model's

    def score(texts, labels):  # noqa: ANN001, ANN202
        return np.array([table[int(t.rsplit(" ", 1)[1])] for t in texts])

    order = np.argsort(table)
    canaries = [(f"c{i}", str(order[r]).zfill(4), 1, None) for i, r in enumerate((0, 9, 99, 999, 4999))]
    exact = canary_exposures(canaries, template=TEMPLATE, digits=4, score=score, exact_max=10_000)
    approx = canary_exposures(canaries, template=TEMPLATE, digits=4, score=score, exact_max=0, samples=3000)
    assert [e.method for e in approx] == ["extrapolated"] * 5
    assert [round(e.exposure, 2) for e in exact] == [13.29, 9.97, 6.64, 3.32, 1.0]
    # the fitted tail is approximate at the very top (rank 1 of 10,000) but ranks the same
    for e, a in zip(exact[1:], approx[1:]):
        assert abs(e.exposure - a.exposure) < 1.5, (e, a)
    assert approx[0].exposure > 9.0
    assert [a.exposure for a in approx] == sorted((a.exposure for a in approx), reverse=True)


def test_tpr_at_fpr_takes_only_achievable_points() -> None:
    fpr = np.array([0.0, 0.005, 0.02, 1.0])
    tpr = np.array([0.0, 0.3, 0.6, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.3
    assert tpr_at_fpr(fpr, tpr, 0.001) == 0.0


def test_attack_on_identical_score_distributions_is_at_chance() -> None:
    rng = np.random.default_rng(1)
    r = evaluate_attack("x", rng.normal(size=3000), rng.normal(size=3000), bootstrap=50)
    assert r.auc_ci[0] < 0.5 < r.auc_ci[1]
    assert r.tpr_at[0.01] < 0.03


def test_attack_on_separated_scores_is_strong() -> None:
    rng = np.random.default_rng(2)
    r = evaluate_attack("x", rng.normal(3.0, 1.0, 2000), rng.normal(size=2000), bootstrap=50)
    assert r.auc > 0.95
    assert r.tpr_at[0.01] > 0.5
    assert r.roc["fpr"][0] == 0.0 and r.roc["tpr"][-1] == 1.0


def _randomized_response(eps: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exactly eps-DP in the membership bit: a member reports 1 w.p. e^eps / (1 + e^eps)."""
    rng = np.random.default_rng(seed)
    p = math.exp(eps) / (1 + math.exp(eps))
    return (rng.random(n) < p).astype(float), (rng.random(n) < 1 - p).astype(float)


def test_epsilon_lower_bound_never_exceeds_the_true_epsilon() -> None:
    bounds = [
        epsilon_lower_bound(*_randomized_response(1.0, 4000, s), delta=0.0, seed=s).lower_bound for s in range(20)
    ]
    assert max(bounds) <= 1.0
    assert min(bounds) > 0.8  # and it is tight with this many records


def test_epsilon_lower_bound_is_zero_without_leakage() -> None:
    rng = np.random.default_rng(3)
    b = epsilon_lower_bound(rng.normal(size=2000), rng.normal(size=2000), delta=1e-5)
    assert b.lower_bound < 0.2


def test_clopper_pearson_covers_the_rate() -> None:
    lo, hi = clopper_pearson(10, 100, 0.05)
    assert lo < 0.1 < hi
    assert clopper_pearson(0, 50, 0.05)[0] == 0.0 and clopper_pearson(50, 50, 0.05)[1] == 1.0


def test_balanced_mask_puts_each_record_in_half_the_reference_models() -> None:
    mask = balanced_in_mask(101, 4, seed=0)
    assert mask.shape == (4, 101) and (mask.sum(axis=0) == 2).all()
    with pytest.raises(ValueError):
        balanced_in_mask(10, 3, seed=0)


def test_lira_separates_members_whose_confidence_rises_when_trained_on() -> None:
    rng = np.random.default_rng(4)
    n, k = 1000, 4
    base = rng.normal(0, 2, n)  # per-record difficulty: what the loss attack cannot see past
    member = rng.random(n) < 0.5
    mask = balanced_in_mask(n, k, seed=1)
    refs = base + 1.0 * mask + rng.normal(0, 0.3, (k, n))
    target = base + 1.0 * member + rng.normal(0, 0.3, n)
    scores = lira_scores(target, refs, mask)
    lira = evaluate_attack("lira", scores[member], scores[~member], bootstrap=20)
    loss = evaluate_attack("loss", target[member], target[~member], bootstrap=20)
    assert lira.auc > 0.9 > loss.auc

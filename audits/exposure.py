"""Canary exposure (Carlini et al. 2019, "The Secret Sharer").

A canary is a template with a random secret ("my account number is 381904")
inserted into training `repeats` times; reference canaries are drawn the same
way and never inserted. For a canary with secret s in a space S of possible
secrets, rank(s) is its position when all of S is ordered by the model's
negative log-likelihood (1 = most likely), and

    exposure = log2 |S| - log2 rank(s).

The rank is exact when S is small enough to score every candidate. Otherwise
it is extrapolated as in the paper (section 4.3): score a uniform sample of
candidates, fit a skew-normal to their NLLs, and estimate the share of S that
is more likely than s by the fitted CDF: exposure = -log2 CDF(nll(s)).
A model that has not seen a canary ranks it uniformly at random, so a reference
canary's expected exposure is about log2(e) = 1.44 bits, whatever |S| is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ScoreFn = Callable[[Sequence[str], Sequence[int | None]], np.ndarray]  # texts, labels -> NLL


@dataclass(frozen=True)
class CanaryExposure:
    canary_id: str
    repeats: int  # 0: an unused reference canary
    exposure: float
    rank: float  # exact rank, or the extrapolated one (|S| * CDF)
    method: str  # "exact" | "extrapolated"
    uncapped: float  # extrapolated: -log2 CDF before the log2 |S| cap (how far past "most likely" it is)


def _candidates(digits: int, count: int, *, exclude: set[str], seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 17])
    out: list[str] = []
    seen = set(exclude)
    while len(out) < count:
        s = "".join(map(str, rng.integers(0, 10, size=digits)))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def canary_exposures(
    canaries: Sequence[tuple[str, str, int, int | None]],
    *,
    template: str,
    digits: int,
    score: ScoreFn,
    exact_max: int = 20_000,
    samples: int = 4_000,
    seed: int = 0,
) -> list[CanaryExposure]:
    """Exposure of each (canary_id, secret, repeats, label) under `score`.

    `label` is the class a classifier was trained to give the canary (None for a
    causal LM); candidates are scored with the same label.
    """
    if not canaries:
        return []
    space = 10**digits
    secrets = {c[1] for c in canaries}
    exact = space <= exact_max
    if exact:
        pool = [str(i).zfill(digits) for i in range(space)]
    else:
        pool = _candidates(digits, samples, exclude=secrets, seed=seed)
    out: list[CanaryExposure] = []
    for label in sorted({c[3] for c in canaries}, key=lambda x: -1 if x is None else x):
        group = [c for c in canaries if c[3] == label]
        pool_nll = score([template.format(secret=s) for s in pool], [label] * len(pool))
        own = score([template.format(secret=c[1]) for c in group], [label] * len(group))
        if exact:
            ordered = np.sort(pool_nll)
            for c, nll in zip(group, own):
                # ties count against the canary: rank = candidates at least as likely
                rank = float(np.searchsorted(ordered, nll, side="right"))
                rank = max(rank, 1.0)
                exposure = math.log2(space) - math.log2(rank)
                out.append(CanaryExposure(c[0], c[2], exposure, rank, "exact", exposure))
        else:
            a, loc, scale = stats.skewnorm.fit(pool_nll)
            for c, nll in zip(group, own):
                log_cdf = float(stats.skewnorm.logcdf(nll, a, loc, scale))
                share = min(math.exp(log_cdf), 1.0)
                exposure = min(-log_cdf / math.log(2), math.log2(space))
                out.append(
                    CanaryExposure(
                        c[0], c[2], max(exposure, 0.0), max(share * space, 1.0), "extrapolated", -log_cdf / math.log(2)
                    )
                )
    order = {c[0]: i for i, c in enumerate(canaries)}
    return sorted(out, key=lambda e: order[e.canary_id])


__all__ = ["CanaryExposure", "canary_exposures"]

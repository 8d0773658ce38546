"""Is a leakage rate above what chance gives? A member rate against its baseline.

A near-random model emits common names and continues some held-out text verbatim by
chance, so a raw rate (extraction, PII emission) cannot tell memorization from luck.
Each rate is therefore measured twice, on member prompts and on a baseline (held-out
prompts whose text the model never saw), and judged by their difference with a
Newcombe hybrid-score interval (Newcombe 1998, method 10: Wilson intervals of both
rates combined; exact enough at 0 and 1, where the Wald interval collapses, and
deterministic, unlike a bootstrap). A verdict is given only when the interval
excludes 0; otherwise the difference is "not distinguishable from chance" (a pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats

METHOD = "Newcombe hybrid score interval of the difference of two proportions (Wilson intervals), two-sided"


def wilson(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of k successes in n (n > 0)."""
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float) -> tuple[float, float]:
    """Interval of p1 - p2 (Newcombe's hybrid score method)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def detectable(n1: int, n2: int, z: float) -> float | None:
    """The smallest member rate that `n1` member and `n2` baseline trials call significantly
    above a baseline of 0: what this many generations can resolve (None: not even all n1)."""
    for k in range(1, n1 + 1):
        if newcombe(k, n1, 0, n2, z)[0] > 0:
            return k / n1
    return None


@dataclass(frozen=True)
class Excess:
    """A member rate against its baseline rate: counts, the difference's interval and the verdict."""

    member: int  # member trials that leaked
    members: int  # member trials
    baseline: int  # baseline trials that "leaked" (by chance)
    baselines: int  # baseline trials
    confidence: float
    baseline_kind: str  # what the baseline is, e.g. "held-out records"

    @property
    def _z(self) -> float:
        return float(stats.norm.ppf(1 - (1 - self.confidence) / 2))

    @property
    def member_rate(self) -> float | None:
        return self.member / self.members if self.members else None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline / self.baselines if self.baselines else None

    @property
    def difference(self) -> float | None:
        m, b = self.member_rate, self.baseline_rate
        return None if m is None or b is None else m - b

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.members or not self.baselines:
            return None
        return newcombe(self.member, self.members, self.baseline, self.baselines, self._z)

    @property
    def significant(self) -> bool:
        """The member rate is above the baseline beyond chance (the interval's lower end above 0)."""
        ci = self.interval
        return ci is not None and ci[0] > 0

    @property
    def excess(self) -> float | None:
        """What the release gate judges: the difference when it is significant, else 0 (not
        distinguishable from chance); None without a baseline (nothing to judge: the gate fails).

        Why this and not the interval's lower end: the lower end passes a model whose true excess
        is well above the limit whenever the sample is small (0.08 over 200 generations has a lower
        end of about 0.04), while the significant difference is the measured excess itself once
        chance is ruled out; with a limit of 0 both fail exactly the same models."""
        d = self.difference
        if d is None:
            return None
        return d if self.significant else 0.0

    @property
    def verdict(self) -> str:
        if self.interval is None:
            return "no baseline"
        return "above chance" if self.significant else "not distinguishable from chance"

    def evidence(self) -> dict[str, Any]:
        ci = self.interval
        return {
            "member_rate": self.member_rate,
            "baseline_rate": self.baseline_rate,
            "difference": self.difference,
            "ci": None if ci is None else [round(ci[0], 6), round(ci[1], 6)],
            "confidence": self.confidence,
            "significant": self.significant,
            "verdict": self.verdict,
            "member_trials": self.members,
            "member_hits": self.member,
            "baseline_trials": self.baselines,
            "baseline_hits": self.baseline,
            "baseline": self.baseline_kind,
            "detectable_excess": detectable(self.members, self.baselines, self._z)
            if self.members and self.baselines
            else None,
            "method": METHOD,
        }

    def message(self, what: str) -> str:
        m, b, ci = self.member_rate, self.baseline_rate, self.interval
        if m is None or b is None or ci is None:
            return f"{what}: {self.member} of {self.members} member trials; no baseline to compare with"
        return (
            f"{what}: members {m:.3f} ({self.member}/{self.members}), {self.baseline_kind} {b:.3f} "
            f"({self.baseline}/{self.baselines}); difference {m - b:+.3f}, {self.confidence:.0%} CI "
            f"[{ci[0]:+.3f}, {ci[1]:+.3f}]: {self.verdict}"
        )


__all__ = ["METHOD", "Excess", "detectable", "newcombe", "wilson"]

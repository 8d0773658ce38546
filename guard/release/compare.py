"""Run-to-run comparison: this report's run beside a baseline (a previous `guard report`'s
report.json, or a run directory with its findings files), metric by metric.

Each row (`Delta`) holds the current and baseline values, their difference, the
difference's 95% interval where both sides give what one needs, and whether the
difference is significant. How the interval was got is named per row (`method`):

- a proportion with its count on both sides (held-out accuracy, an extraction rate, a
  duplicate or missing rate, a group's share): Newcombe's hybrid score interval of the
  difference of two independent proportions (audits.baseline.newcombe). When both runs
  are scored on the same held-out records the pairing is ignored, which widens the
  interval: conservative.
- a value with a bootstrap interval on both sides (membership AUC, TPR at low FPR,
  fairness gaps): the difference's interval is [lo_c - hi_b, hi_c - lo_b], significant
  only when the two intervals do not overlap (conservative; the bootstrap replicates
  are not stored, so no sharper test is possible).
- anything else (epsilon is accounted, not estimated; exposure and the empirical
  epsilon bound carry no interval): "no interval", and `significant` is None.

A baseline of another task, model or label set is refused (InputError naming it);
different corpora, held-out sizes, or a baseline report changed after it was written
are warnings shown in the section.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guard.core.errors import InputError

if TYPE_CHECKING:
    from guard.release.report import LoadedBaseline

COMPARISON_KIND = "guard.release_comparison"
COMPARISON_SCHEMA_VERSION = 1
Z95 = 1.959963984540054
TOP_K = 10  # top attributed tokens compared per class

NEWCOMBE = "Newcombe score interval, two independent proportions (pairing ignored: conservative)"
OVERLAP = "conservative: from the two 95% bootstrap intervals, significant only when they do not overlap"
NO_INTERVAL = "no interval"


@dataclass(frozen=True)
class Delta:
    """One metric of both runs: values, difference (current - baseline), its interval and verdict."""

    section: str  # utility, privacy, membership, extraction, fairness, profile
    metric: str  # what the report calls it
    current: float | None
    baseline: float | None
    difference: float | None
    interval: tuple[float, float] | None = None
    significant: bool | None = None  # None: no interval, nothing to test
    method: str = NO_INTERVAL
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "metric": self.metric,
            "current": self.current,
            "baseline": self.baseline,
            "difference": self.difference,
            "interval": None if self.interval is None else list(self.interval),
            "significant": self.significant,
            "method": self.method,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delta:
        interval = data.get("interval")
        return cls(
            section=str(data["section"]),
            metric=str(data["metric"]),
            current=_num(data.get("current")),
            baseline=_num(data.get("baseline")),
            difference=_num(data.get("difference")),
            interval=None if not interval else (float(interval[0]), float(interval[1])),
            significant=data.get("significant"),
            method=str(data.get("method") or NO_INTERVAL),
            note=str(data.get("note") or ""),
        )


@dataclass(frozen=True)
class AttributionOverlap:
    """The top-k attributed tokens of one class in both runs: Jaccard overlap of the sets and
    Spearman's rank correlation over the tokens in both lists (None with fewer than 3 shared)."""

    label: str
    k: int
    jaccard: float
    spearman: float | None
    shared: tuple[str, ...]
    only_current: tuple[str, ...]
    only_baseline: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "k": self.k,
            "jaccard": self.jaccard,
            "spearman": self.spearman,
            "shared": list(self.shared),
            "only_current": list(self.only_current),
            "only_baseline": list(self.only_baseline),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttributionOverlap:
        return cls(
            label=str(data["label"]),
            k=int(data["k"]),
            jaccard=float(data["jaccard"]),
            spearman=_num(data.get("spearman")),
            shared=tuple(data.get("shared") or ()),
            only_current=tuple(data.get("only_current") or ()),
            only_baseline=tuple(data.get("only_baseline") or ()),
        )


@dataclass(frozen=True)
class BaselineRef:
    """What the baseline was: the file or folder given, its kind, its run and whether it trained with DP."""

    source: str
    kind: str  # "report" (a report.json) or "run" (a run directory, reported here)
    run: str
    run_hash: str
    dp_enabled: bool | None
    sha256: str | None = None  # of the baseline report.json (kind "report")

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "run": self.run,
            "run_hash": self.run_hash,
            "dp_enabled": self.dp_enabled,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineRef:
        return cls(
            source=str(data["source"]),
            kind=str(data["kind"]),
            run=str(data["run"]),
            run_hash=str(data["run_hash"]),
            dp_enabled=data.get("dp_enabled"),
            sha256=data.get("sha256"),
        )


@dataclass(frozen=True)
class Comparison:
    """This run against a baseline: the rows, the attribution overlaps and the warnings."""

    baseline: BaselineRef
    rows: tuple[Delta, ...]
    attributions: tuple[AttributionOverlap, ...] = ()
    warnings: tuple[str, ...] = ()
    z: float = Z95
    kind: str = COMPARISON_KIND
    schema_version: int = COMPARISON_SCHEMA_VERSION

    @property
    def significant(self) -> tuple[Delta, ...]:
        return tuple(r for r in self.rows if r.significant)

    def row(self, section: str, metric: str) -> Delta:
        for r in self.rows:
            if r.section == section and r.metric == metric:
                return r
        raise KeyError(f"{section}: {metric}")

    def to_json(self) -> dict[str, Any]:
        from guard.core.jsonutil import json_clean

        return json_clean(
            {
                "kind": self.kind,
                "schema_version": self.schema_version,
                "baseline": self.baseline.to_json(),
                "confidence": 0.95 if self.z == Z95 else None,
                "z": self.z,
                "rows": [r.to_json() for r in self.rows],
                "attributions": [a.to_json() for a in self.attributions],
                "warnings": list(self.warnings),
                "significant": sum(bool(r.significant) for r in self.rows),
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "comparison") -> Comparison:
        if not isinstance(data, Mapping) or data.get("kind") != COMPARISON_KIND:
            raise InputError(f"not a guard comparison (expected kind {COMPARISON_KIND!r})", path=source)
        if data.get("schema_version") != COMPARISON_SCHEMA_VERSION:
            raise InputError(
                f"comparison schema_version {data.get('schema_version')!r}; this guard reads "
                f"{COMPARISON_SCHEMA_VERSION}",
                path=source,
            )
        try:
            return cls(
                baseline=BaselineRef.from_json(data["baseline"]),
                rows=tuple(Delta.from_json(r) for r in data.get("rows") or ()),
                attributions=tuple(AttributionOverlap.from_json(a) for a in data.get("attributions") or ()),
                warnings=tuple(str(w) for w in data.get("warnings") or ()),
                z=float(data.get("z") or Z95),
            )
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"malformed comparison ({type(e).__name__}: {e})", path=source) from e


# -- the interval rules -----------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _diff(current: float | None, baseline: float | None) -> float | None:
    return None if current is None or baseline is None else current - baseline


def proportion_delta(
    section: str,
    metric: str,
    current: tuple[int, int] | None,
    baseline: tuple[int, int] | None,
    *,
    z: float = Z95,
    note: str = "",
) -> Delta:
    """Two proportions given as (successes, trials): the Newcombe interval of their difference."""
    c = None if not current or current[1] <= 0 else current[0] / current[1]
    b = None if not baseline or baseline[1] <= 0 else baseline[0] / baseline[1]
    if c is None or b is None or current is None or baseline is None:
        return Delta(section, metric, c, b, _diff(c, b), note=note)
    from audits.baseline import newcombe

    lo, hi = newcombe(current[0], current[1], baseline[0], baseline[1], z)
    return Delta(section, metric, c, b, c - b, (lo, hi), lo > 0 or hi < 0, NEWCOMBE, note)


def interval_delta(
    section: str,
    metric: str,
    current: float | None,
    baseline: float | None,
    current_ci: Sequence[float] | None,
    baseline_ci: Sequence[float] | None,
    *,
    note: str = "",
) -> Delta:
    """Two values with their own intervals: the conservative interval of the difference."""
    d = _diff(current, baseline)
    if d is None or not current_ci or not baseline_ci:
        return Delta(section, metric, current, baseline, d, note=note)
    lo, hi = float(current_ci[0]) - float(baseline_ci[1]), float(current_ci[1]) - float(baseline_ci[0])
    return Delta(section, metric, current, baseline, d, (lo, hi), lo > 0 or hi < 0, OVERLAP, note)


def plain_delta(section: str, metric: str, current: float | None, baseline: float | None, *, note: str = "") -> Delta:
    """Two values with nothing to test their difference by: shown, never called significant."""
    return Delta(section, metric, current, baseline, _diff(current, baseline), note=note)


def _count(rate: float | None, n: int | None) -> tuple[int, int] | None:
    """(successes, trials) from a rate and its trial count (the report keeps rates)."""
    if rate is None or not n or n <= 0 or not 0.0 <= rate <= 1.0:
        return None
    return round(rate * n), int(n)


# -- reading the two reports ------------------------------------------------------------------


def _get(data: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(k)
    return data


def _comparable(current: Mapping[str, Any], baseline: Mapping[str, Any], source: str) -> None:
    """Refuse a baseline of another task, model or label set (the numbers would not mean the same)."""
    for key, what in (("task", "task"), ("name", "model"), ("labels", "label set")):
        a, b = _get(current, "model", key), _get(baseline, "model", key)
        if a != b:
            raise InputError(
                f"the baseline is not comparable with this run: its {what} is {b!r}, this run's is {a!r}",
                path=source,
                field=f"model.{key}",
                hint="compare runs of the same task and model (e.g. the same config with and without DP)",
            )


def _warnings(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    out = []
    if _get(current, "run", "hash") == _get(baseline, "run", "hash"):
        out.append("The baseline is this same run (same content hash): every difference is zero by construction.")
    a, b = _get(current, "training", "corpus_sha256"), _get(baseline, "training", "corpus_sha256")
    if a and b and a != b:
        out.append(
            f"The runs trained on different corpora (sha256 {str(a)[:12]} here, {str(b)[:12]} in the baseline): "
            "a difference mixes the change between the runs with the change in the data."
        )
    elif not (a and b):
        out.append("One of the reports does not record its corpus hash: whether both runs trained on the same data "
                   "cannot be told.")  # fmt: skip
    ha, hb = _get(current, "training", "holdout_records"), _get(baseline, "training", "holdout_records")
    if ha != hb:
        out.append(f"The held-out sets differ in size ({ha} here, {hb} in the baseline).")
    return out


def _utility(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Delta]:
    rows = []
    final_c, final_b = _get(current, "training", "final") or {}, _get(baseline, "training", "final") or {}
    n_c, n_b = _get(current, "training", "holdout_records"), _get(baseline, "training", "holdout_records")
    acc_c, acc_b = _num(final_c.get("eval_accuracy")), _num(final_b.get("eval_accuracy"))
    if acc_c is not None or acc_b is not None:
        rows.append(proportion_delta("utility", "held-out accuracy", _count(acc_c, n_c), _count(acc_b, n_b)))
        if rows[-1].current is None or rows[-1].baseline is None:  # no record count: the rates alone
            rows[-1] = plain_delta("utility", "held-out accuracy", acc_c, acc_b)
    for key, label in (("eval_loss", "held-out loss"), ("eval_perplexity", "held-out perplexity")):
        a, b = _num(final_c.get(key)), _num(final_b.get(key))
        if a is not None or b is not None:
            rows.append(plain_delta("utility", label, a, b, note="per-record losses are not stored"))
    return rows


def _privacy(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Delta]:
    rows = []
    pc, pb = current.get("privacy") or {}, baseline.get("privacy") or {}
    eps_c, eps_b = _num(_get(pc, "overall", "epsilon")), _num(_get(pb, "overall", "epsilon"))
    notes = [f"{name} trained without DP (no guarantee)" for name, p in (("this run", pc), ("the baseline", pb))
             if not p.get("dp_enabled")]  # fmt: skip
    rows.append(
        plain_delta(
            "privacy", "epsilon spent (accounted)", eps_c, eps_b,
            note="; ".join(notes) or "accounted, not estimated: no sampling error",
        )
    )  # fmt: skip
    ac, ab = pc.get("audit") or {}, pb.get("audit") or {}
    if not (ac and ab):
        return rows
    rows.append(
        plain_delta(
            "privacy",
            "empirical epsilon (lower bound)",
            _num(ac.get("empirical_epsilon_lower_bound")),
            _num(ab.get("empirical_epsilon_lower_bound")),
            note="a one-sided bound; the audit gives no interval for it",
        )
    )
    exp_b = {(e.get("group"), e.get("metric")): e for e in ab.get("exposure") or []}
    for e in ac.get("exposure") or []:
        other = exp_b.get((e.get("group"), e.get("metric")))
        if other is not None:
            rows.append(
                plain_delta(
                    "privacy",
                    f"canary exposure, {e.get('metric')} ({e.get('group')})",
                    _num(e.get("value")),
                    _num(other.get("value")),
                    note="exposure is a rank statistic of a few canaries: no interval",
                )
            )
    mem_c, mem_b = ac.get("membership") or {}, ab.get("membership") or {}
    for check in sorted(set(mem_c) & set(mem_b)):
        for metric in sorted(set(mem_c[check]) & set(mem_b[check])):
            a, b = mem_c[check][metric] or {}, mem_b[check][metric] or {}
            rows.append(
                interval_delta(
                    "membership",
                    f"{check.removeprefix('membership_').replace('_', ' ')} attack: {metric.replace('_', ' ')}",
                    _num(a.get("value")),
                    _num(b.get("value")),
                    a.get("ci"),
                    b.get("ci"),
                )
            )
    ext_b = {r.get("what"): r for r in ab.get("extraction") or []}
    for r in ac.get("extraction") or []:
        other = ext_b.get(r.get("what"))
        if other is None:
            continue
        what = str(r.get("what"))
        if r.get("difference") is not None and other.get("difference") is not None:
            rows.append(
                interval_delta(
                    "extraction",
                    f"{what}: excess over its baseline",
                    _num(r.get("difference")),
                    _num(other.get("difference")),
                    r.get("ci"),
                    other.get("ci"),
                )
            )
        rows.append(
            proportion_delta(
                "extraction",
                f"{what}: rate",
                _count(_num(r.get("member_rate")), _trials(r.get("trials"))),
                _count(_num(other.get("member_rate")), _trials(other.get("trials"))),
            )
        )
        if rows[-1].current is None or rows[-1].baseline is None:
            rows[-1] = plain_delta("extraction", f"{what}: rate", _num(r.get("member_rate")),
                                   _num(other.get("member_rate")))  # fmt: skip
    return rows


def _trials(text: Any) -> int | None:
    """The member trials of an extraction row ("members / baseline", or one count)."""
    head = str(text).split("/")[0].strip()
    return int(head) if head.isdigit() else None


def _fairness(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Delta]:
    fc, fb = current.get("fairness") or {}, baseline.get("fairness") or {}
    if not (fc and fb):
        return []
    rows = []

    # an audit reports each gap at its worst class: when both sides have one row per gap, compare
    # those (the class may differ, and is named); otherwise match the classes
    def key(g: Mapping[str, Any]) -> tuple[Any, ...]:
        return (g.get("check"), g.get("group"), g.get("metric"))

    gaps_c, gaps_b = fc.get("gaps") or [], fb.get("gaps") or []
    for g in gaps_c:
        mine = [x for x in gaps_c if key(x) == key(g)]
        theirs = [x for x in gaps_b if key(x) == key(g)]
        if len(mine) == 1 and len(theirs) == 1:
            other = theirs[0]
        else:
            other = next((x for x in theirs if x.get("class") == g.get("class")), None)
        if other is None:
            continue
        label = f"{str(g.get('check')).replace('_', ' ')} {g.get('metric')} ({g.get('group')})"
        if len(mine) > 1:
            label += f", class {g.get('class')}"
        note = ""
        if g.get("class") != other.get("class"):
            note = f"worst class {g.get('class')} here, {other.get('class')} in the baseline"
        rows.append(interval_delta("fairness", label, _num(g.get("value")), _num(other.get("value")),
                                   g.get("ci"), other.get("ci"), note=note))  # fmt: skip
    metric = fc.get("metric")
    if metric and metric == fb.get("metric"):
        groups_b = {(g.get("feature"), g.get("group")): g for g in fb.get("groups") or []}
        for g in fc.get("groups") or []:
            other = groups_b.get((g.get("feature"), g.get("group")))
            if other is None:
                continue
            label = f"{metric} of group {g.get('group')}"
            a, b = _num(g.get("value")), _num(other.get("value"))
            if metric == "accuracy" and _count(a, g.get("n")) and _count(b, other.get("n")):
                rows.append(proportion_delta("fairness", label, _count(a, g.get("n")), _count(b, other.get("n"))))
            else:
                rows.append(interval_delta("fairness", label, a, b, g.get("ci"), other.get("ci")))
    return rows


def _spearman(a: Sequence[str], b: Sequence[str]) -> float | None:
    shared = [t for t in a if t in b]
    if len(shared) < 3:
        return None
    # ranks of the shared tokens within each list, re-ranked 1..m so the formula applies
    ra = {t: i for i, t in enumerate(sorted(shared, key=a.index))}
    rb = {t: i for i, t in enumerate(sorted(shared, key=b.index))}
    m = len(shared)
    d2 = sum((ra[t] - rb[t]) ** 2 for t in shared)
    return 1.0 - 6.0 * d2 / (m * (m * m - 1))


def _attributions(current: Mapping[str, Any], baseline: Mapping[str, Any], k: int) -> list[AttributionOverlap]:
    tc, tb = _get(current, "explanations", "top_tokens") or {}, _get(baseline, "explanations", "top_tokens") or {}
    out = []
    for label in sorted(set(tc) & set(tb)):
        a = [str(t.get("token")) for t in tc[label][:k] if isinstance(t, Mapping)]
        b = [str(t.get("token")) for t in tb[label][:k] if isinstance(t, Mapping)]
        if not a or not b:
            continue
        union = set(a) | set(b)
        out.append(
            AttributionOverlap(
                label=str(label),
                k=min(k, max(len(a), len(b))),
                jaccard=len(set(a) & set(b)) / len(union),
                spearman=_spearman(a, b),
                shared=tuple(t for t in a if t in b),
                only_current=tuple(t for t in a if t not in b),
                only_baseline=tuple(t for t in b if t not in a),
            )
        )
    return out


def _profile(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Delta]:
    pc, pb = _get(current, "data", "profile") or {}, _get(baseline, "data", "profile") or {}
    if not (pc and pb):
        return []
    n_c, n_b = int(pc.get("records") or 0), int(pb.get("records") or 0)
    rows = []
    for key, label in (("exact", "exact duplicates"), ("near", "near duplicates")):
        a, b = _get(pc, "duplicates", key), _get(pb, "duplicates", key)
        if isinstance(a, int) and isinstance(b, int):
            rows.append(proportion_delta("profile", f"{label} (share of records)", (a, n_c), (b, n_b)))
    fields_c, fields_b = pc.get("fields") or {}, pb.get("fields") or {}
    for name in sorted(set(fields_c) & set(fields_b)):
        a, b = _num(fields_c[name].get("missing_or_empty_rate")), _num(fields_b[name].get("missing_or_empty_rate"))
        rows.append(proportion_delta("profile", f"missing or empty {name}", _count(a, n_c), _count(b, n_b)))
    groups_c, groups_b = pc.get("groups") or {}, pb.get("groups") or {}
    for name in sorted(set(groups_c) & set(groups_b)):
        cc, cb = groups_c[name].get("counts") or {}, groups_b[name].get("counts") or {}
        tc, tb = sum(cc.values()), sum(cb.values())
        for group in sorted(set(cc) | set(cb)):
            rows.append(proportion_delta("profile", f"share of {name} = {group}", (int(cc.get(group, 0)), tc),
                                         (int(cb.get(group, 0)), tb)))  # fmt: skip
    lc, lb = _get(pc, "languages", "counts") or {}, _get(pb, "languages", "counts") or {}
    if lc and lb:
        tc, tb = sum(lc.values()), sum(lb.values())
        for lang in sorted(set(lc) | set(lb)):
            rows.append(proportion_delta("profile", f"language {lang}", (int(lc.get(lang, 0)), tc),
                                         (int(lb.get(lang, 0)), tb)))  # fmt: skip
    return rows


def compare_reports(
    current: Mapping[str, Any], baseline: Mapping[str, Any], *, baseline_ref: BaselineRef, k: int = TOP_K
) -> Comparison:
    """Compare two reports' contents (report.json as `guard report` writes it, or
    `ReportContent.to_json()`). Raises InputError when the baseline is not comparable."""
    _comparable(current, baseline, baseline_ref.source)
    warnings = _warnings(current, baseline)
    rows = [*_utility(current, baseline), *_privacy(current, baseline), *_fairness(current, baseline)]
    rows += _profile(current, baseline)
    return Comparison(
        baseline=baseline_ref,
        rows=tuple(rows),
        attributions=tuple(_attributions(current, baseline, k)),
        warnings=tuple(warnings),
    )


def compare_with_baseline(current: Mapping[str, Any], baseline: LoadedBaseline, *, k: int = TOP_K) -> Comparison:
    """`compare_reports` of a loaded baseline, the baseline's own warnings first."""
    comparison = compare_reports(current, baseline.data, baseline_ref=baseline.ref, k=k)
    if not baseline.warnings:
        return comparison
    from dataclasses import replace

    return replace(comparison, warnings=(*baseline.warnings, *comparison.warnings))


__all__ = [
    "COMPARISON_KIND",
    "NEWCOMBE",
    "NO_INTERVAL",
    "OVERLAP",
    "AttributionOverlap",
    "BaselineRef",
    "Comparison",
    "Delta",
    "compare_reports",
    "compare_with_baseline",
    "interval_delta",
    "plain_delta",
    "proportion_delta",
]

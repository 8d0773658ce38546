"""`guard profile`: a data-quality profile of a corpus, read once, in bounded memory.

What it measures (per text field where that applies): records; missing, empty and
non-string values per field; exact and near-duplicate rates (guard.deid.dedup's
normalisation, shingles and seeded MinHash LSH, nothing written); the length
distribution with Tukey outliers on log length; the language mix (py3langid, offline);
control characters and encoding oddities; label balance, group balance and the
label-by-group table with a chi-square test and Cramer's V; PII density per entity type
from guard's detector on a seeded sample of records.

Memory is bounded whatever the corpus size: counters (lengths, labels, groups: at most
`max_values` distinct values each, the rest pooled as "<other>"), at most `exact_index`
64-bit digests (a bottom-k sketch: exact below that many distinct texts, an estimate
above), at most `near_index` MinHash signatures (the first distinct texts; every record is
looked up among them), and `pii_sample` texts (a seeded reservoir). The texts themselves
are never kept otherwise, and nothing in the profile names a value: counts, rates, field
names, line numbers, language codes, labels and group names only.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from guard import __version__
from guard.core.errors import GuardError, InputError
from guard.core.files import package_versions, read_json
from guard.core.io import CorpusReader, Format, write_text_atomic
from guard.core.jsonutil import json_clean
from guard.core.types import OnError, Record, RecordError
from guard.deid.dedup import normalise, shingles
from guard.quality._text import CONTROL, LANGUAGE_RULE, UNDETERMINED, LanguageId, Oddity, oddities, py3langid_version

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1  # the profile file; bump when its layout changes incompatibly
KIND = "guard.corpus_profile"
OTHER = "<other>"  # the pooled bucket past `max_values` distinct labels or groups
OUTLIER_RULE = "Tukey fences on log(1 + characters): below Q1 - 1.5 IQR or above Q3 + 1.5 IQR of the log lengths"
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
_MAX_FIELDS = 256  # field names tracked; more are pooled (a corpus with per-record keys)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_FAILURES = 100  # bad records listed (line and reason) in skip mode


class Check(StrEnum):
    """The defects a profile names. Each `Flag` has one of these."""

    bad_records = "bad_records"
    missing_values = "missing_values"
    non_string_text = "non_string_text"
    exact_duplicates = "exact_duplicates"
    near_duplicates = "near_duplicates"
    length_outliers = "length_outliers"
    second_language = "second_language"
    control_characters = "control_characters"
    encoding_oddities = "encoding_oddities"
    label_imbalance = "label_imbalance"
    small_group = "small_group"
    label_depends_on_group = "label_depends_on_group"


@dataclass(frozen=True)
class ProfileLimits:
    """When a measurement becomes a flag. Rates are shares of records."""

    max_missing_rate: float = 0.01  # missing (absent/null) or empty, per field
    max_duplicate_rate: float = 0.01  # exact duplicates
    max_near_duplicate_rate: float = 0.01
    max_outlier_rate: float = 0.02
    max_other_language_share: float = 0.01  # records in a language other than the main one
    max_control_char_rate: float = 0.0  # any NUL, C0, C1, lone surrogate or U+FFFD is a flag
    max_oddity_rate: float = 0.01  # invisible format characters, text not in NFC
    min_label_share: float = 0.05
    min_group_share: float = 0.05
    max_cramers_v: float = 0.3  # with p < alpha: the label depends on the group
    alpha: float = 0.01


@dataclass(frozen=True)
class ProfileOptions:
    """How to profile. `near_index`, `exact_index`, `pii_sample` and `max_values` bound memory."""

    text_fields: tuple[str, ...] = ("text",)
    label_field: str | None = None
    group_fields: tuple[str, ...] = ()
    fmt: Format | str | None = None
    on_error: OnError = OnError.fail
    near_threshold: float = 0.8
    num_perm: int = 128
    shingle_size: int = 3
    near_index: int = 20_000
    exact_index: int = 50_000
    language: bool = True
    pii: bool = True
    pii_sample: int = 200
    seed: int = 0
    max_values: int = 1_000
    limits: ProfileLimits = field(default_factory=ProfileLimits)


@dataclass(frozen=True)
class Flag:
    """One defect found: which check, where (field or group field), the measured value and the limit."""

    check: Check
    field: str | None
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class CorpusProfile:
    """The profile file (`guard profile --out`): counts, rates and tables; never a raw value."""

    input: str
    format: str
    records: int
    records_failed: int
    failures: list[dict[str, Any]]
    options: dict[str, Any]
    fields: dict[str, dict[str, Any]]
    duplicates: dict[str, Any]
    lengths: dict[str, dict[str, Any]]
    languages: dict[str, Any]
    oddities: dict[str, dict[str, int]]
    labels: dict[str, Any] | None
    groups: dict[str, dict[str, Any]]
    pii: dict[str, Any]
    flags: list[Flag]
    memory_bound: str
    versions: dict[str, str]
    seconds: float
    notes: list[str] = field(default_factory=list)
    kind: str = KIND
    schema_version: int = SCHEMA_VERSION

    @property
    def flagged(self) -> set[Check]:
        return {f.check for f in self.flags}

    def to_json(self) -> dict[str, Any]:
        return json_clean(asdict(self))  # type: ignore[no-any-return]

    def dumps(self) -> str:
        import json

        return json.dumps(self.to_json(), indent=2, sort_keys=True, allow_nan=False)

    def write(self, path: str | Path) -> None:
        """Atomically (a temporary file renamed into place)."""
        write_text_atomic(path, self.dumps() + "\n")

    @classmethod
    def read(cls, path: str | Path) -> CorpusProfile:
        """The one reader of a profile file; damage is an InputError naming the file."""
        data = read_json(path, what="corpus profile")
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            raise InputError("not a guard corpus profile (kind is not guard.corpus_profile)", path=str(path))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise InputError(
                f"corpus profile schema_version {data.get('schema_version')!r}; this guard reads {SCHEMA_VERSION}",
                path=str(path),
                hint="profile the corpus again with this guard",
            )
        try:
            flags = [Flag(Check(f["check"]), f["field"], f["value"], f["limit"], f["message"]) for f in data["flags"]]
            values = {k: data[k] for k in cls.__dataclass_fields__ if k != "flags" and k in data}
            return cls(**values, flags=flags)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"malformed corpus profile ({type(e).__name__}: {e})", path=str(path)) from e


# --------------------------------------------------------------------------- accumulators


class _Capped(Counter[str]):
    """A Counter of at most `cap` distinct keys; later new keys are pooled under OTHER."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def add(self, key: str) -> None:
        if key in self or len(self) < self.cap:
            self[key] += 1
        else:
            self[OTHER] += 1


class _ExactSketch:
    """Exact-duplicate counting in bounded memory: a bottom-k sketch of 64-bit digests
    (the k smallest distinct digests and how often each was seen). Below k distinct texts
    it is exact; above, the duplicate share among the kept digests estimates the whole
    corpus's (duplicates share a digest, so a group is kept or dropped as a whole)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.counts: dict[int, int] = {}
        self.heap: list[int] = []  # negated digests: the largest kept is heap[0]
        self.saturated = False

    def add(self, digest: int) -> bool:
        """Count one text; True when its digest was already counted (an exact duplicate)."""
        if digest in self.counts:
            self.counts[digest] += 1
            return True
        if len(self.counts) >= self.k:
            self.saturated = True
            if digest > -self.heap[0]:
                return False
            del self.counts[-heapq.heappop(self.heap)]
        self.counts[digest] = 1
        heapq.heappush(self.heap, -digest)
        return False

    def rate(self) -> float:
        total = sum(self.counts.values())
        return (total - len(self.counts)) / total if total else 0.0


class _NearIndex:
    """guard.deid.dedup's MinHash LSH, holding at most `cap` signatures."""

    def __init__(self, options: ProfileOptions) -> None:
        from datasketch import MinHash, MinHashLSH

        from guard.deid.dedup import _make_lsh

        self.options = options
        self.minhash = MinHash
        self.template = MinHash(num_perm=options.num_perm, seed=options.seed)
        self.scheme = {"scheme": self.template.scheme} if hasattr(self.template, "scheme") else {}
        self.lsh = _make_lsh(MinHashLSH, threshold=options.near_threshold, num_perm=options.num_perm)
        self.signatures: list[Any] = []

    @property
    def full(self) -> bool:
        return len(self.signatures) >= self.options.near_index

    def check(self, normalised: str) -> bool:
        """Whether the text is a near duplicate of an indexed one; indexes it if not (and there is room)."""
        import numpy as np

        grams = shingles(normalised, shingle_size=self.options.shingle_size)
        if not grams:
            return False
        m = self.minhash(
            num_perm=self.options.num_perm, seed=self.options.seed, permutations=self.template.permutations,
            **self.scheme,
        )  # fmt: skip
        m.update_batch(grams)
        for key in self.lsh.query(m):
            if np.count_nonzero(m.hashvalues == self.signatures[key]) / self.options.num_perm >= (
                self.options.near_threshold
            ):
                return True
        if not self.full:
            self.lsh.insert(len(self.signatures), m, check_duplication=False)
            self.signatures.append(m.hashvalues)
        return False


class _Reservoir:
    """A seeded uniform sample of `size` items from a stream of unknown length (Algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.items: list[tuple[int, dict[str, str]]] = []
        self.seen = 0

    def offer(self, item: tuple[int, dict[str, str]]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        j = self.rng.randrange(self.seen)
        if j < self.size:
            self.items[j] = item


@dataclass
class _State:
    """Everything the single pass accumulates (bounded; see the module docstring)."""

    options: ProfileOptions
    records: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    present: Counter[str] = field(default_factory=Counter)
    null: Counter[str] = field(default_factory=Counter)
    empty: Counter[str] = field(default_factory=Counter)
    types: dict[str, Counter[str]] = field(default_factory=dict)
    lengths: dict[str, Counter[int]] = field(default_factory=dict)
    odd: dict[str, Counter[str]] = field(default_factory=dict)
    exact_dups: int = 0
    near_dups: int = 0
    dup_lines: list[int] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)
    labels: _Capped | None = None
    groups: dict[str, _Capped] = field(default_factory=dict)
    crosstab: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    untracked_fields: int = 0  # field values past _MAX_FIELDS names, not profiled


# --------------------------------------------------------------------------- the pass


def profile_corpus(path: str | Path, *, options: ProfileOptions | None = None) -> CorpusProfile:
    """Profile a JSONL, CSV, Parquet or text corpus in one streaming pass.

    Raises `InputError` naming file and line for a record that cannot be read (unless
    `on_error` is skip: then it is counted and listed by line), `GuardError` for a bad option,
    `DependencyError` when datasketch, scipy or py3langid is missing.
    """
    options = options or ProfileOptions()
    _check_options(options)
    started = time.perf_counter()
    reader = CorpusReader(path, fmt=options.fmt)
    state = _State(options)
    state.labels = _Capped(options.max_values) if options.label_field else None
    state.groups = {g: _Capped(options.max_values) for g in options.group_fields}
    state.crosstab = {g: Counter() for g in options.group_fields}
    exact = _ExactSketch(options.exact_index)
    near = _NearIndex(options)
    lang = LanguageId() if options.language else None
    sample = _Reservoir(options.pii_sample if options.pii else 0, options.seed)
    for record in _records(reader, state, Path(path)):
        state.records += 1
        _fields(record, state)
        texts = {name: v for name in options.text_fields if isinstance(v := record.data.get(name), str)}
        for name, text in texts.items():
            _text(name, text, state)
        texts = {name: _encodable(text) for name, text in texts.items()}
        joined = "\n".join(texts[n] for n in options.text_fields if n in texts)
        _duplicates(record, joined, texts, exact, near, state)
        if lang is not None:
            state.languages[lang(joined)] += 1
        _labels_groups(record, state)
        if options.pii:
            sample.offer((record.line, texts))
    pii = _pii(sample, options)
    profile = _assemble(reader, state, exact, near, pii, time.perf_counter() - started)
    logger.info("profile: %d records, %d flags, %.1fs", profile.records, len(profile.flags), profile.seconds)
    return profile


def _check_options(options: ProfileOptions) -> None:
    if not options.text_fields:
        raise GuardError("profile needs at least one text field", hint="pass --text-field, e.g. text")
    if not 0.0 < options.near_threshold <= 1.0:
        raise GuardError(f"near-duplicate threshold must be in (0, 1], got {options.near_threshold}")
    for name in ("near_index", "exact_index", "max_values", "num_perm", "shingle_size"):
        if getattr(options, name) < 1:
            raise GuardError(f"{name} must be at least 1, got {getattr(options, name)}")
    if options.pii_sample < 0:
        raise GuardError(f"pii_sample must be >= 0, got {options.pii_sample}")


def _records(reader: CorpusReader, state: _State, path: Path) -> Iterator[Record]:
    for item in reader:
        if isinstance(item, RecordError):
            if state.options.on_error is OnError.fail:
                raise InputError(item.reason, path=str(path), line=item.line, field=item.field, hint=(
                    "fix or remove the record, or pass --on-error skip to count it and go on"
                ))  # fmt: skip
            state.failed += 1
            if len(state.failures) < _MAX_FAILURES:
                state.failures.append({"line": item.line, "reason": item.reason})  # never the raw line
            continue
        yield item


def _fields(record: Record, state: _State) -> None:
    names = set(record.data) | set(state.options.text_fields)
    names |= {state.options.label_field} if state.options.label_field else set()
    names |= set(state.options.group_fields)
    for name in names:
        if name not in state.present and len(state.present) >= _MAX_FIELDS:
            state.untracked_fields += 1
            continue
        value = record.data.get(name)
        state.present[name] += 0  # the field is known even if always absent
        if value is None:
            state.null[name] += 1
            continue
        state.present[name] += 1
        state.types.setdefault(name, Counter())[type(value).__name__] += 1
        if isinstance(value, str) and not value.strip():
            state.empty[name] += 1


def _text(name: str, text: str, state: _State) -> None:
    state.lengths.setdefault(name, Counter())[len(text)] += 1
    found = oddities(text)
    counter = state.odd.setdefault(name, Counter())
    for kind in found:
        counter[kind.value] += 1
    if any(kind in CONTROL for kind in found):
        counter["any_control"] += 1


def _duplicates(
    record: Record, joined: str, texts: Mapping[str, str], exact: _ExactSketch, near: _NearIndex, state: _State
) -> None:
    if not texts or not joined.strip():
        return  # empty texts are counted as empty, not as duplicates of each other
    parts = [normalise(texts[n]) if n in texts else "" for n in state.options.text_fields]
    digest = int.from_bytes(hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()[:8], "big")
    if exact.add(digest):
        state.exact_dups += 1
        if len(state.dup_lines) < 20:
            state.dup_lines.append(record.line)
        return
    if near.check(" ".join(p for p in parts if p)):
        state.near_dups += 1


def _encodable(text: str) -> str:
    """The text with lone surrogates (counted already) as U+FFFD, so hashing, shingles and NER can encode it."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _value_key(value: Any) -> str:
    return str(value) if isinstance(value, str | int | float | bool) else type(value).__name__


def _labels_groups(record: Record, state: _State) -> None:
    """Label and group counters and the label-by-group table. A missing label or group is left out
    here (it is counted as missing under `fields`), so it never passes for the smallest group."""
    opts = state.options
    raw = record.data.get(opts.label_field) if opts.label_field else None
    label = None if raw is None else _value_key(raw)
    if state.labels is not None and label is not None:
        state.labels.add(label)
    for name, counter in state.groups.items():
        value = record.data.get(name)
        if value is None:
            continue
        group = _value_key(value)
        counter.add(group)
        if label is not None and state.labels is not None:
            group = group if group in counter else OTHER
            label_key = label if label in state.labels else OTHER
            state.crosstab[name][(label_key, group)] += 1


# --------------------------------------------------------------------------- results


def _quantile(counts: Mapping[float, int], q: float) -> float:
    """The q-quantile (lower) of a value -> count table."""
    total = sum(counts.values())
    rank = q * (total - 1)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen > rank:
            return float(value)
    return float(max(counts))


def _length_stats(counts: Counter[int]) -> dict[str, Any]:
    logs = Counter({math.log1p(k): v for k, v in counts.items()})
    q1, q3 = _quantile(logs, 0.25), _quantile(logs, 0.75)
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    low = sum(v for k, v in counts.items() if math.log1p(k) < lo)
    high = sum(v for k, v in counts.items() if math.log1p(k) > hi)
    total = sum(counts.values())
    return {
        "texts": total,
        "mean": sum(k * v for k, v in counts.items()) / total,
        "quantiles": {f"p{round(q * 100)}": _quantile(counts, q) for q in QUANTILES},
        "fences_chars": [math.expm1(lo), math.expm1(hi)],
        "outliers_short": low,
        "outliers_long": high,
        "outlier_rate": (low + high) / total,
        "histogram_log2": _log2_histogram(counts),
    }


def _log2_histogram(counts: Counter[int]) -> dict[str, int]:
    """Texts per power-of-two length bin ("0", "1-1", "2-3", "4-7", ...), for the chart."""
    out: Counter[str] = Counter()
    for k, v in counts.items():
        if k == 0:
            out["0"] += v
            continue
        b = k.bit_length() - 1
        out[f"{2**b}-{2 ** (b + 1) - 1}"] += v
    return dict(sorted(out.items(), key=lambda kv: int(kv[0].split("-")[0])))


def _chi_square(table: Counter[tuple[str, str]]) -> dict[str, Any]:
    """Label x group table, chi-square test of independence and Cramer's V (bias-uncorrected)."""
    labels = sorted({k[0] for k in table})
    groups = sorted({k[1] for k in table})
    matrix = [[table.get((lab, g), 0) for g in groups] for lab in labels]
    out: dict[str, Any] = {"labels": labels, "groups": groups, "counts": matrix}
    rows = [r for r in matrix if sum(r)]
    cols = [j for j in range(len(groups)) if sum(r[j] for r in rows)]
    rows = [[r[j] for j in cols] for r in rows]
    if len(rows) < 2 or len(cols) < 2:
        return out | {"chi2": None, "dof": None, "p_value": None, "cramers_v": None}
    from scipy.stats import chi2_contingency

    result = chi2_contingency(rows, correction=False)
    n = sum(map(sum, rows))
    v = math.sqrt(float(result.statistic) / (n * (min(len(rows), len(cols)) - 1)))
    return out | {"chi2": float(result.statistic), "dof": int(result.dof), "p_value": float(result.pvalue),
                  "cramers_v": v, "min_expected": float(result.expected_freq.min())}  # fmt: skip


def _shares(counter: Counter[str]) -> dict[str, Any]:
    total = sum(counter.values())
    shares = {k: v / total for k, v in counter.items()} if total else {}
    smallest = min(shares, key=lambda k: (shares[k], k)) if shares else None
    return {
        "counts": dict(sorted(counter.items())),
        "shares": dict(sorted(shares.items())),
        "smallest": smallest,
        "smallest_share": shares.get(smallest) if smallest is not None else None,
        "pooled_other": OTHER in counter,
    }


def _pii(sample: _Reservoir, options: ProfileOptions) -> dict[str, Any]:
    base: dict[str, Any] = {"scanned": options.pii, "sample_size": options.pii_sample, "seed": options.seed}
    if not options.pii:
        return base | {"note": "not measured (--no-pii)"}
    if not sample.items:
        return base | {"records_scanned": 0, "entities": {}}
    from guard.core.policy import load_policy
    from guard.deid.scrubber import Engine

    engine = Engine(load_policy(None), None, apply_operators=False)
    jobs = [(line, name, text) for line, texts in sorted(sample.items) for name, text in texts.items()]
    found = engine.detect([text for _, _, text in jobs]) if jobs else []
    chars = sum(len(t) for _, _, t in jobs)
    entities: Counter[str] = Counter()
    records_with: dict[str, set[int]] = {}
    for (line, _, _), spans in zip(jobs, found):
        for d in spans:
            entities[d.entity_type] += 1
            records_with.setdefault(d.entity_type, set()).add(line)
    n = len(sample.items)
    by_type = {
        e: {"values": c, "per_1k_chars": 1000 * c / chars if chars else None, "record_rate": len(records_with[e]) / n}
        for e, c in sorted(entities.items())
    }
    exact = sample.seen <= options.pii_sample
    return base | {
        "records_scanned": n,
        "chars_scanned": chars,
        "whole_corpus": exact,
        "method": "every record"
        if exact
        else f"a seeded uniform sample of {n} records (reservoir, seed {options.seed})",
        "entities": by_type,
        "values": sum(entities.values()),
        "records_with_pii_rate": len(set().union(*records_with.values())) / n if records_with else 0.0,
    }


def _assemble(
    reader: CorpusReader, state: _State, exact: _ExactSketch, near: _NearIndex, pii: dict[str, Any], seconds: float
) -> CorpusProfile:
    opts = state.options
    n = state.records
    fields = {
        name: {
            "present": state.present[name],
            "missing": n - state.present[name],
            "empty": state.empty[name],
            "missing_or_empty_rate": (n - state.present[name] + state.empty[name]) / n if n else 0.0,
            "types": dict(sorted(state.types.get(name, Counter()).items())),
            "non_string": sum(v for k, v in state.types.get(name, Counter()).items() if k != "str"),
        }
        for name in sorted(state.present)
    }
    duplicates = {
        "exact": state.exact_dups,
        "near": state.near_dups,
        "exact_rate": exact.rate() if exact.saturated else (state.exact_dups / n if n else 0.0),
        "near_rate": state.near_dups / n if n else 0.0,
        "exact_method": (
            f"bottom-{opts.exact_index} sketch of 64-bit digests: an estimate" if exact.saturated else "exact"
        ),
        "near_method": (
            f"MinHash LSH (threshold {opts.near_threshold}, {opts.num_perm} permutations, {opts.shingle_size}-word "
            f"shingles, seed {opts.seed}) against the first {len(near.signatures)} distinct texts"
            + (": a lower bound (the index was full)" if near.full else ": every record")
        ),
        "first_exact_duplicate_lines": state.dup_lines,
        "normalisation": "NFKC, casefold, whitespace collapsed (guard dedup's)",
    }
    lengths = {name: _length_stats(c) for name, c in sorted(state.lengths.items())}
    for stats in lengths.values():
        stats["rule"] = OUTLIER_RULE
    languages = _languages(state)
    labels = _shares(state.labels) if state.labels is not None else None
    groups = {}
    for name, counter in state.groups.items():
        groups[name] = _shares(counter)
        if opts.label_field:
            groups[name]["by_label"] = _chi_square(state.crosstab[name])
    odd = {name: dict(sorted(c.items())) for name, c in sorted(state.odd.items())}
    flags = _flags(state, fields, duplicates, lengths, languages, odd, labels, groups)
    return CorpusProfile(
        input=str(reader.path),
        format=reader.format.value,
        records=n,
        records_failed=state.failed,
        failures=state.failures,
        options=_options_json(opts),
        fields=fields,
        duplicates=duplicates,
        lengths=lengths,
        languages=languages,
        oddities=odd,
        labels=labels,
        groups=groups,
        pii=pii,
        flags=flags,
        memory_bound=(
            f"at most {opts.exact_index:,} digests, {opts.near_index:,} MinHash signatures of {opts.num_perm} "
            f"values with their LSH keys, {opts.pii_sample if opts.pii else 0} sampled records' texts, "
            f"{opts.max_values:,} distinct labels/groups per field, {_MAX_FIELDS} field names, one counter "
            "of text lengths per text field"
        ),
        versions=package_versions("datasketch", "scipy") | {"py3langid": py3langid_version(), "guard": __version__},
        seconds=round(seconds, 3),
        notes=reader.notes,
    )


def _languages(state: _State) -> dict[str, Any]:
    if not state.options.language:
        return {"measured": False}
    total = sum(state.languages.values())
    known = {k: v for k, v in state.languages.items() if k != UNDETERMINED}
    main = max(known, key=lambda k: (known[k], k)) if known else None
    other = sum(v for k, v in known.items() if k != main)
    return {
        "measured": True,
        "counts": dict(state.languages.most_common()),
        "main": main,
        "other_share": other / total if total else 0.0,
        "undetermined_share": state.languages[UNDETERMINED] / total if total else 0.0,
        "rule": LANGUAGE_RULE,
    }


def _options_json(opts: ProfileOptions) -> dict[str, Any]:
    out = {k: v for k, v in asdict(opts).items() if k != "limits"}
    out["fmt"] = None if opts.fmt is None else str(opts.fmt)
    out["on_error"] = str(opts.on_error)
    out["limits"] = asdict(opts.limits)
    return json_clean(out)  # type: ignore[no-any-return]  # tuples as lists: the file reads back equal


def _flags(
    state: _State,
    fields: Mapping[str, Mapping[str, Any]],
    duplicates: Mapping[str, Any],
    lengths: Mapping[str, Mapping[str, Any]],
    languages: Mapping[str, Any],
    odd: Mapping[str, Mapping[str, int]],
    labels: Mapping[str, Any] | None,
    groups: Mapping[str, Mapping[str, Any]],
) -> list[Flag]:
    """Every measurement against its limit, as a table of (check, field, value, limit, words)."""
    lim = state.options.limits
    n = max(state.records, 1)
    rows: list[tuple[Check, str | None, float, float, str]] = []
    total = state.records + state.failed
    rows.append((Check.bad_records, None, state.failed / max(total, 1), 0.0, f"{state.failed} unreadable record(s)"))
    for name, f in fields.items():
        rows.append((Check.missing_values, name, f["missing_or_empty_rate"], lim.max_missing_rate,
                     f"{f['missing']} missing, {f['empty']} empty"))  # fmt: skip
    for name in state.options.text_fields:
        bad = fields.get(name, {}).get("non_string", 0)
        rows.append((Check.non_string_text, name, bad / n, 0.0, f"{bad} non-string value(s) in a text field"))
    rows.append((Check.exact_duplicates, None, duplicates["exact_rate"], lim.max_duplicate_rate,
                 f"{duplicates['exact']} exact duplicate(s)"))  # fmt: skip
    rows.append((Check.near_duplicates, None, duplicates["near_rate"], lim.max_near_duplicate_rate,
                 f"{duplicates['near']} near duplicate(s)"))  # fmt: skip
    for name, s in lengths.items():
        rows.append((Check.length_outliers, name, s["outlier_rate"], lim.max_outlier_rate,
                     f"{s['outliers_short']} short and {s['outliers_long']} long outlier(s)"))  # fmt: skip
    if languages.get("measured"):
        others = [k for k in languages["counts"] if k not in (languages["main"], UNDETERMINED)]
        rows.append((Check.second_language, None, languages["other_share"], lim.max_other_language_share,
                     f"main language {languages['main']}; others: {', '.join(others[:5]) or 'none'}"))  # fmt: skip
    for name, c in odd.items():
        kinds = ", ".join(f"{k} {v}" for k, v in c.items() if k in CONTROL)
        rows.append((Check.control_characters, name, c.get("any_control", 0) / n, lim.max_control_char_rate,
                     f"records with {kinds}" if kinds else "none"))  # fmt: skip
        others = {k: v for k, v in c.items() if k in (Oddity.invisible, Oddity.not_nfc)}
        rows.append((Check.encoding_oddities, name, max(others.values(), default=0) / n, lim.max_oddity_rate,
                     ", ".join(f"{k} {v}" for k, v in others.items()) or "none"))  # fmt: skip
    if labels is not None and labels["smallest"] is not None:
        rows.append((Check.label_imbalance, state.options.label_field, labels["smallest_share"], lim.min_label_share,
                     f"smallest label {labels['smallest']!r}"))  # fmt: skip
    for name, g in groups.items():
        if g["smallest"] is not None:
            rows.append((Check.small_group, name, g["smallest_share"], lim.min_group_share,
                         f"smallest group {g['smallest']!r}"))  # fmt: skip
        test = g.get("by_label") or {}
        if test.get("cramers_v") is not None and test["p_value"] < lim.alpha:
            rows.append((Check.label_depends_on_group, name, test["cramers_v"], lim.max_cramers_v,
                         f"chi2 {test['chi2']:.1f} (dof {test['dof']}), p {test['p_value']:.2g}"
                         + (" (an expected count under 5: the p-value is approximate)" if test["min_expected"] < 5 else "")))  # fmt: skip
    minimum = {Check.label_imbalance, Check.small_group}
    return [
        Flag(check, name, value, limit, message)
        for check, name, value, limit, message in rows
        if (value < limit if check in minimum else value > limit)
    ]


# --------------------------------------------------------------------------- release evidence

# evidence key for the release gate -> how it is read from a profile
RELEASE_EVIDENCE = {
    "corpus_duplicate_rate": "exact plus near duplicates, share of records",
    "corpus_missing_rate": "largest missing-or-empty share over the text, label and group fields",
    "corpus_control_char_rate": "largest share of records with a control character, over the text fields",
    "corpus_min_group_share": "smallest group's share of records, over the group fields",
}


def release_evidence(profile: Mapping[str, Any]) -> dict[str, float | None]:
    """The numbers the release gate judges, from a profile's JSON (guard.release.gate: [data])."""
    opts = profile.get("options") or {}
    gated = {*opts.get("text_fields", ()), *opts.get("group_fields", ())} | (
        {opts["label_field"]} if opts.get("label_field") else set()
    )
    fields = profile.get("fields") or {}
    dup = profile.get("duplicates") or {}
    records = max(int(profile.get("records") or 0), 1)
    missing = [fields[f]["missing_or_empty_rate"] for f in gated if f in fields]
    control = [c.get("any_control", 0) / records for c in (profile.get("oddities") or {}).values()]
    shares = [
        g["smallest_share"] for g in (profile.get("groups") or {}).values() if g.get("smallest_share") is not None
    ]
    return {
        "corpus_duplicate_rate": (dup.get("exact_rate") or 0.0) + (dup.get("near_rate") or 0.0),
        "corpus_missing_rate": max(missing, default=0.0),
        "corpus_control_char_rate": max(control, default=0.0),
        "corpus_min_group_share": min(shares) if shares else None,
    }


def summarize(profiles: Sequence[CorpusProfile]) -> list[str]:
    """One line per flag, for the terminal."""
    return [f"{f.check}{f' [{f.field}]' if f.field else ''}: {f.message}" for p in profiles for f in p.flags]


__all__ = [
    "KIND",
    "OUTLIER_RULE",
    "RELEASE_EVIDENCE",
    "SCHEMA_VERSION",
    "Check",
    "CorpusProfile",
    "Flag",
    "ProfileLimits",
    "ProfileOptions",
    "profile_corpus",
    "release_evidence",
]

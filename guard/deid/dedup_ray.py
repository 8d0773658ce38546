"""`guard dedup --engine ray`: the same kept records as `guard.deid.dedup`, with the costly
parts on a Ray cluster.

The local dedup is a greedy pass in input order (a record is dropped when a *kept* earlier
record shares an LSH band with it and its estimated Jaccard reaches the threshold), so the
decision itself is sequential. What is parallel is what it needs:

1. MinHash signatures and exact digests: an actor pool over the pieces of the input (the
   pieces and reader of `guard.deid.ray_engine`, so line numbers and errors are the local ones).
2. LSH bands: one Ray task per band groups the records by that band's value and gives
   the pairs of records that share it (a plain task per band rather than Ray Data's
   `groupby`, whose hash shuffle waited forever for CPUs on a two-CPU cluster).
   Band values are the signature slices themselves, as in datasketch, never a hash of them,
   so the candidate pairs are exactly the ones datasketch's index would return.
3. The driver replays the local greedy pass over those pairs (digest duplicates resolved
   as the local pass does) and writes the kept records through the local writer.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from guard import __version__
from guard.core.errors import DependencyError, InputError
from guard.core.io import CorpusReader, Format, Outputs, check_distinct
from guard.core.types import DedupReport
from guard.deid.dedup import (
    _check_params,
    _dropped,
    _Kept,
    _make_lsh,
    _record_id,
    _require_record,
    _text_field,
    normalise,
    shingles,
)
from guard.deid.ray_engine import (
    RayOptions,
    data_context,
    pieces_dataset,
    plan,
    pool_size,
    ray_errors,
    ray_session,
    read_piece,
    unwrap,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignatureParams:
    """What every task needs to compute the same signatures as the local dedup."""

    text_fields: tuple[str, ...]
    num_perm: int
    shingle_size: int
    seed: int
    id_field: str | None


@dataclass
class PieceSignatures:
    """One piece's records, in order: where they are, exact digests, MinHash signatures
    (a row of zeros with `has_grams` False for a text without shingles)."""

    seq: int
    lines: list[int] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    has_grams: list[bool] = field(default_factory=list)
    signatures: np.ndarray | None = None
    error: dict[str, Any] | None = None  # the local dedup's InputError for the first bad record


class SignatureActor:
    """One member of the pool that computes exact digests and MinHash signatures, piece by
    piece (the same pool shape as the scrub engine's)."""

    def __init__(self, *, params: SignatureParams) -> None:
        from datasketch import MinHash

        self.params = params
        self.template = MinHash(num_perm=params.num_perm, seed=params.seed)
        self.scheme = {"scheme": self.template.scheme} if hasattr(self.template, "scheme") else {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = [self._piece(pickle.loads(blob)) for blob in batch["piece"]]
        return {"out": np.array([pickle.dumps(o) for o in outs], dtype=object)}

    def _piece(self, piece: Any) -> PieceSignatures:
        out = PieceSignatures(piece.seq)
        rows: list[np.ndarray] = []
        try:
            for item in read_piece(piece, max_chars=_NO_LIMIT):
                rows.append(self._record(item, Path(piece.path), out))
        except InputError as e:
            out.error = {"message": e.reason, "path": e.path, "line": e.line, "field": e.field, "hint": e.hint}
        out.signatures = np.vstack(rows) if rows else np.zeros((0, self.params.num_perm), dtype=np.uint64)
        return out

    def _record(self, item: Any, path: Path, out: PieceSignatures) -> np.ndarray:
        """Append one record's place, id and digest to `out`; return its signature row."""
        from datasketch import MinHash

        p = self.params
        record = _require_record(item, path)
        parts = [normalise(_text_field(record, name, path)) for name in p.text_fields]
        out.lines.append(record.line)
        out.ids.append(_record_id(record, p.id_field))
        out.digests.append(hashlib.sha256("\x00".join(parts).encode("utf-8")).digest())
        grams = shingles(" ".join(x for x in parts if x), shingle_size=p.shingle_size)
        out.has_grams.append(bool(grams))
        if not grams:
            return np.zeros(p.num_perm, dtype=np.uint64)
        minhash = MinHash(num_perm=p.num_perm, seed=p.seed, permutations=self.template.permutations, **self.scheme)
        minhash.update_batch(grams)
        return np.asarray(minhash.hashvalues, dtype=np.uint64)


_NO_LIMIT = 10**12  # the local dedup reads with no text length limit


def _band_pairs(values: np.ndarray, ords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray task on one LSH band: every (earlier, later) pair of records whose band values are
    equal (`values`: one row of signature slice per record, `ords` ascending)."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for row, o in zip(values, ords.tolist()):
        groups[row.tobytes()].append(o)
    a: list[int] = []
    b: list[int] = []
    for members in groups.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a.append(members[x])
                b.append(members[y])
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


@dataclass
class _Corpus:
    """Every record's place, id, digest and signature, in input order (no texts)."""

    lines: list[int] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    has_grams: list[bool] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)

    def add(self, out: PieceSignatures) -> None:
        self.lines += out.lines
        self.ids += out.ids
        self.digests += out.digests
        self.has_grams += out.has_grams
        assert out.signatures is not None
        self.blocks.append(out.signatures)

    def signatures(self, num_perm: int) -> np.ndarray:
        return np.vstack(self.blocks) if self.blocks else np.zeros((0, num_perm), dtype=np.uint64)


def _collect(ray: Any, path: Path, fmt: Format, params: SignatureParams, options: RayOptions) -> _Corpus:
    pieces = plan(path, fmt, piece_lines=options.piece_lines)
    ds = pieces_dataset(ray, pieces).map_batches(
        SignatureActor,
        fn_constructor_kwargs={"params": params},
        compute=ray.data.ActorPoolStrategy(size=min(pool_size(ray, options), len(pieces))),
        batch_size=1,
        batch_format="numpy",
        num_cpus=options.num_cpus,
    )
    corpus = _Corpus()
    for row in ds.iter_rows():
        out: PieceSignatures = pickle.loads(row["out"])
        corpus.add(out)
        if out.error is not None:
            raise InputError(**out.error)
    return corpus


def _first_occurrences(digests: list[bytes]) -> tuple[list[int], dict[bytes, int]]:
    first: dict[bytes, int] = {}
    order = []
    for i, d in enumerate(digests):
        if d not in first:
            first[d] = i
            order.append(i)
    return order, first


def _candidate_pairs(ray: Any, signatures: np.ndarray, ords: list[int], lsh: Any) -> dict[int, list[int]]:
    """For each record, the earlier records sharing one of its LSH bands: one Ray task per
    band groups that band's values, wherever the cluster places it."""
    if len(ords) < 2:
        return {}
    index = np.asarray(ords, dtype=np.int64)
    task = ray.remote(num_cpus=1, max_retries=0)(_band_pairs)
    shared = ray.put(index)
    refs = [task.remote(np.ascontiguousarray(signatures[index, lo:hi]), shared) for lo, hi in lsh.hashranges]
    earlier: dict[int, set[int]] = defaultdict(set)
    for a, b in ray.get(refs):
        for x, y in zip(a.tolist(), b.tolist()):
            earlier[y].add(x)
    return {k: sorted(v) for k, v in earlier.items()}


@dataclass
class _Decisions:
    kept: list[int] = field(default_factory=list)  # ordinals of kept records, in order
    dropped: list[dict[str, Any]] = field(default_factory=list)


def _greedy(corpus: _Corpus, signatures: np.ndarray, earlier: dict[int, list[int]], *, threshold: float) -> _Decisions:
    """The local dedup's pass, decision for decision, over precomputed candidate pairs."""
    num_perm = signatures.shape[1]
    decisions = _Decisions()
    kept_info: dict[int, _Kept] = {}
    seen: dict[bytes, tuple[int, str, float]] = {}  # digest -> (target ordinal, reason, similarity)
    for i, digest in enumerate(corpus.digests):
        hit = seen.get(digest)
        if hit is not None:
            decisions.dropped.append(_drop(corpus, i, hit[1], kept_info[hit[0]], hit[2]))
            continue
        if corpus.has_grams[i]:
            best = _best(signatures, i, [j for j in earlier.get(i, ()) if j in kept_info], num_perm)
            if best is not None and best[1] >= threshold:
                seen[digest] = (best[0], "near", best[1])
                decisions.dropped.append(_drop(corpus, i, "near", kept_info[best[0]], best[1]))
                continue
        kept_info[i] = _Kept(corpus.lines[i], corpus.ids[i], None)
        seen[digest] = (i, "exact", 1.0)
        decisions.kept.append(i)
    return decisions


def _best(signatures: np.ndarray, i: int, candidates: list[int], num_perm: int) -> tuple[int, float] | None:
    """Highest estimated Jaccard among kept candidates; the earliest on ties (as the local pass)."""
    best: tuple[int, float] | None = None
    for j in candidates:
        similarity = float(np.count_nonzero(signatures[i] == signatures[j])) / num_perm
        if best is None or similarity > best[1]:
            best = (j, similarity)
    return best


def _drop(corpus: _Corpus, i: int, reason: str, target: _Kept, similarity: float) -> dict[str, Any]:
    from guard.core.types import Record

    return _dropped(Record(i, corpus.lines[i], {}), corpus.ids[i], reason, target, similarity)


def dedup_ray(
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_fields: tuple[str, ...] | list[str] = ("text",),
    fmt: Format | str | None = None,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 3,
    id_field: str | None = "id",
    seed: int = 1,
    report: str | Path | None = None,
    ray_options: RayOptions = RayOptions(),
) -> DedupReport:
    """`guard.deid.dedup` on a Ray cluster: the same kept records, report and errors."""
    text_fields = tuple(text_fields)
    _check_params(text_fields=text_fields, threshold=threshold, num_perm=num_perm, shingle_size=shingle_size)
    try:
        import datasketch
        from datasketch import MinHashLSH
    except ImportError as e:
        raise DependencyError("guard dedup needs datasketch", hint="pip install datasketch") from e
    input_path, output_path = Path(input_path), Path(output_path)
    if str(input_path) == "-":
        raise InputError("--engine ray reads files, not standard input", hint="use --engine local for `-`")
    check_distinct({"input": input_path, "output": output_path, "report": report})
    started = time.perf_counter()
    reader = CorpusReader(input_path, fmt=fmt)
    params = SignatureParams(text_fields, num_perm, shingle_size, seed, id_field)
    lsh = _make_lsh(MinHashLSH, threshold=threshold, num_perm=num_perm)
    with ray_session(ray_options) as ray:
        data_context(ray)
        try:
            corpus = _collect(ray, input_path, reader.format, params, ray_options)
            if not corpus.lines:
                raise InputError("the file holds no records", path=str(input_path), hint="is it empty?")
            signatures = corpus.signatures(num_perm)
            ords, _ = _first_occurrences(corpus.digests)
            banded = [i for i in ords if corpus.has_grams[i]]
            earlier = _candidate_pairs(ray, signatures, banded, lsh)
        except ray_errors(ray) as e:
            raise unwrap(e) from e
    decisions = _greedy(corpus, signatures, earlier, threshold=threshold)
    return _write(
        reader,
        input_path,
        output_path,
        decisions,
        report=report,
        read=len(corpus.lines),
        started=started,
        meta={"threshold": threshold, "num_perm": num_perm, "shingle_size": shingle_size},
        versions={"datasketch": str(datasketch.__version__), "guard": __version__},
    )


def _write(
    reader: CorpusReader,
    input_path: Path,
    output_path: Path,
    decisions: _Decisions,
    *,
    report: str | Path | None,
    read: int,
    started: float,
    meta: dict[str, Any],
    versions: dict[str, str],
) -> DedupReport:
    """Copy the kept records with the local writer, in one more streaming pass over the input."""
    keep = set(decisions.kept)
    with Outputs() as outputs:
        writer = outputs.corpus(
            output_path, fmt=reader.format, columns=reader.columns, schema=reader.schema, source=input_path
        )
        for i, item in enumerate(reader):
            if i in keep:
                record = _require_record(item, input_path)
                writer.write(record.data, line=record.line)
        exact = sum(d["reason"] == "exact" for d in decisions.dropped)
        summary = DedupReport(
            input=str(input_path),
            output=str(output_path),
            records_read=read,
            records_kept=len(decisions.kept),
            exact_dropped=exact,
            near_dropped=len(decisions.dropped) - exact,
            dropped=decisions.dropped,
            versions=versions,
            seconds=round(time.perf_counter() - started, 4),
            notes=reader.notes,
            **meta,
        )
        if report is not None:
            outputs.text(report, summary.dumps() + "\n")
    logger.info("dedup (ray) read %d records, kept %d", read, len(decisions.kept))
    return summary


__all__ = ["dedup_ray"]

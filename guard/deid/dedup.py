"""Exact and near-duplicate removal for a corpus, streaming and order-preserving.

Exact duplicates: the text fields are normalised (NFKC, casefold, whitespace
collapsed) and hashed with SHA-256; the first occurrence is kept.

Near duplicates: a seeded MinHash over word shingles (character 5-grams for
texts shorter than one shingle) is looked up in a MinHash LSH index. A record
whose *estimated* Jaccard similarity to an already kept record reaches the
threshold is dropped; otherwise it is kept and indexed. Only digests and
MinHash signatures are held in memory, never the texts, and the report names
records by line and id only.
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from guard import __version__
from guard.core.errors import DependencyError, GuardError, InputError
from guard.core.io import CorpusReader, Format, Outputs, check_distinct
from guard.core.types import DedupReport, Record, RecordError

logger = logging.getLogger(__name__)

_CHAR_GRAM = 5  # character shingle width for texts shorter than `shingle_size` words
_MIN_RECALL_AT_THRESHOLD = 0.95  # for the LSH banding we pick when datasketch cannot


@dataclass(frozen=True)
class _Kept:
    """What the index remembers about a kept record: where it is, not what it says."""

    line: int
    id: Any
    hashvalues: np.ndarray | None  # None for a text with no shingles (empty)


@dataclass(frozen=True)
class _Seen:
    """An exact digest already met, and the kept record it resolves to."""

    key: int
    reason: Literal["exact", "near"]
    similarity: float


def normalise(text: str) -> str:
    """NFKC, casefold and collapse every run of whitespace to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingles(normalised: str, *, shingle_size: int) -> set[bytes]:
    """Word `shingle_size`-grams of a normalised text; character 5-grams when
    the text has fewer than `shingle_size` words; the whole text when it is
    shorter than 5 characters; nothing for an empty text."""
    words = normalised.split(" ") if normalised else []
    if len(words) >= shingle_size:
        grams = (" ".join(words[i : i + shingle_size]) for i in range(len(words) - shingle_size + 1))
    elif len(normalised) >= _CHAR_GRAM:
        grams = (normalised[i : i + _CHAR_GRAM] for i in range(len(normalised) - _CHAR_GRAM + 1))
    elif normalised:
        grams = iter([normalised])
    else:
        return set()
    return {g.encode("utf-8") for g in grams}


def dedup(
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_fields: tuple[str, ...] = ("text",),
    fmt: Format | str | None = None,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 3,
    id_field: str | None = "id",
    seed: int = 1,
    report: str | Path | None = None,
) -> DedupReport:
    """Copy `input_path` to `output_path` without exact and near duplicates.

    Records keep their order; the first of a group of duplicates is kept. The
    output has the input's format (or `fmt`) and, with the JSON report at
    `report`, is written atomically: a run that fails leaves no output file and
    an earlier one as it was.

    Raises `InputError` (naming file, line and field) for an unreadable
    record or a missing or non-string text field, `OutputError` when the
    output or report is the input (or each other) or cannot be written,
    `GuardError` for an out-of-range parameter.
    """
    _check_params(text_fields=text_fields, threshold=threshold, num_perm=num_perm, shingle_size=shingle_size)
    try:
        import datasketch
        from datasketch import MinHash, MinHashLSH
    except ImportError as e:
        raise DependencyError("guard dedup needs datasketch", hint="pip install datasketch") from e

    input_path, output_path = Path(input_path), Path(output_path)
    check_distinct({"input": input_path, "output": output_path, "report": report})
    started = time.perf_counter()
    reader = CorpusReader(input_path, fmt=fmt)

    template = MinHash(num_perm=num_perm, seed=seed)  # its permutations are reused for every record
    scheme = {"scheme": template.scheme} if hasattr(template, "scheme") else {}  # datasketch >= 2.0
    lsh = _make_lsh(MinHashLSH, threshold=threshold, num_perm=num_perm)
    kept: list[_Kept] = []  # the LSH key of a kept record is its index here
    seen: dict[bytes, _Seen] = {}
    dropped: list[dict[str, Any]] = []
    records_read = 0

    with Outputs() as outputs:
        writer = outputs.corpus(
            output_path, fmt=reader.format, columns=reader.columns, schema=reader.schema, source=input_path
        )
        for item in reader:
            record = _require_record(item, input_path)
            records_read += 1
            parts = [normalise(_text_field(record, name, input_path)) for name in text_fields]
            digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
            record_id = _record_id(record, id_field)

            hit = seen.get(digest)
            if hit is not None:
                dropped.append(_dropped(record, record_id, hit.reason, kept[hit.key], hit.similarity))
                continue

            grams = shingles(" ".join(p for p in parts if p), shingle_size=shingle_size)
            signature = None
            if grams:
                minhash = MinHash(num_perm=num_perm, seed=seed, permutations=template.permutations, **scheme)
                minhash.update_batch(grams)
                signature = minhash.hashvalues
                best = _best_candidate(lsh.query(minhash), signature, kept, num_perm)
                if best is not None and best[1] >= threshold:
                    key, similarity = best
                    seen[digest] = _Seen(key, "near", similarity)
                    dropped.append(_dropped(record, record_id, "near", kept[key], similarity))
                    continue

            key = len(kept)
            kept.append(_Kept(record.line, record_id, signature))
            seen[digest] = _Seen(key, "exact", 1.0)
            if grams:
                lsh.insert(key, minhash, check_duplication=False)
            writer.write(record.data, line=record.line)

        seconds = time.perf_counter() - started
        exact_dropped = sum(d["reason"] == "exact" for d in dropped)
        near_dropped = len(dropped) - exact_dropped
        logger.info(
            "dedup read %d records, kept %d, dropped %d exact and %d near duplicates in %.2fs",
            records_read,
            len(kept),
            exact_dropped,
            near_dropped,
            seconds,
        )
        summary = DedupReport(
            input=str(input_path),
            output=str(output_path),
            records_read=records_read,
            records_kept=len(kept),
            exact_dropped=exact_dropped,
            near_dropped=near_dropped,
            threshold=threshold,
            num_perm=num_perm,
            shingle_size=shingle_size,
            dropped=dropped,
            versions={"datasketch": str(datasketch.__version__), "guard": __version__},
            seconds=round(seconds, 4),
            notes=reader.notes,
        )
        if report is not None:
            outputs.text(report, summary.dumps() + "\n")
    return summary


def _check_params(*, text_fields: tuple[str, ...], threshold: float, num_perm: int, shingle_size: int) -> None:
    if not text_fields:
        raise GuardError("dedup needs at least one text field", hint="pass --text-field, e.g. text")
    if not 0.0 < threshold <= 1.0:
        raise GuardError(f"threshold must be in (0, 1], got {threshold}", hint="0.8 is a common choice")
    if num_perm < 2:
        raise GuardError(f"num_perm must be at least 2, got {num_perm}", hint="128 is a common choice")
    if shingle_size < 1:
        raise GuardError(f"shingle_size must be at least 1, got {shingle_size}", hint="try 3 to 5 words")


def _make_lsh(lsh_class: Any, *, threshold: float, num_perm: int) -> Any:
    """datasketch's banding for (threshold, num_perm), or, where that leaves a
    single band (very high thresholds), the fewest bands that still find a
    pair at the threshold with probability >= 0.95. Candidates are checked
    against the threshold afterwards, so extra bands cost time, not accuracy."""
    try:
        return lsh_class(threshold=threshold, num_perm=num_perm)
    except ValueError:
        pass
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= _MIN_RECALL_AT_THRESHOLD:
            break
    logger.debug("LSH banding for threshold %s: %d bands x %d rows", threshold, bands, rows)
    return lsh_class(threshold=threshold, num_perm=num_perm, params=(bands, rows))


def _best_candidate(
    candidates: list[int], signature: np.ndarray, kept: list[_Kept], num_perm: int
) -> tuple[int, float] | None:
    """The candidate with the highest estimated Jaccard; the earliest on ties."""
    best: tuple[int, float] | None = None
    for key in sorted(candidates):
        other = kept[key].hashvalues
        if other is None:
            continue
        similarity = float(np.count_nonzero(signature == other)) / num_perm
        if best is None or similarity > best[1]:
            best = (key, similarity)
    return best


def _require_record(item: Record | RecordError, path: Path) -> Record:
    if isinstance(item, RecordError):
        raise InputError(item.reason, path=str(path), line=item.line, field=item.field, hint="fix or remove the record")
    return item


def _text_field(record: Record, name: str, path: Path) -> str:
    if name not in record.data:
        raise InputError(
            "the text field is missing",
            path=str(path),
            line=record.line,
            field=name,
            hint=f"fields present: {sorted(record.data)}; choose one with --text-field",
        )
    value = record.data[name]
    if not isinstance(value, str):
        raise InputError(
            f"the text field holds a {type(value).__name__}, not a string",
            path=str(path),
            line=record.line,
            field=name,
        )
    return value


def _record_id(record: Record, id_field: str | None) -> Any:
    if id_field is None:
        return None
    value = record.data.get(id_field)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _dropped(record: Record, record_id: Any, reason: str, target: _Kept, similarity: float) -> dict[str, Any]:
    return {
        "line": record.line,
        "id": record_id,
        "reason": reason,
        "duplicate_of_line": target.line,
        "duplicate_of_id": target.id,
        "similarity": round(similarity, 6),
    }


__all__ = ["dedup", "normalise", "shingles"]

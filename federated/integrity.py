"""What data a run trains on, as hashes and counts, and what changed since.

A run records at its start (and at every `--allow-data-change` resume) a
`DataSegment`: the sha256 of the corpus file and, per client, its record counts
and a hash of its records. `--resume` recomputes it from the corpus and compares:
a different corpus, different counts or different records would silently change
every client's sample rate, move the held-out split the audits rely on and count
duplicated records as distinct, so resume refuses unless told otherwise.

Hashes cover texts through a sha256 each; no text, label value or canary secret
appears in a fingerprint or in a change description.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from federated.data import ClientData, Example, FederatedDataset
from federated.ledger import DataSegment, PartitionFingerprint
from guard.core.files import file_sha256

SHORT = 12  # hex characters of a hash shown in messages


def short(digest: str) -> str:
    return digest[:SHORT] if digest else "none"


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _records_hash(split: str, examples: Iterable[Example], digest: Any) -> None:
    for e in examples:
        if e.canary_id is None:
            digest.update(f"{split}\t{e.line}\t{e.label}\t{_text_hash(e.text)}\n".encode())


def partition_fingerprint(client: ClientData) -> PartitionFingerprint:
    digest = hashlib.sha256()
    _records_hash("train", client.train, digest)
    _records_hash("holdout", client.holdout, digest)
    seen: set[str] = set()
    duplicates = 0
    for e in client.train:
        if e.canary_id is not None:
            continue
        h = _text_hash(e.text)
        duplicates += h in seen
        seen.add(h)
    in_train = sum(_text_hash(e.text) in seen for e in client.holdout)
    return PartitionFingerprint(
        client_id=client.client_id,
        train=len(client.train),
        holdout=len(client.holdout),
        canary_examples=sum(e.canary_id is not None for e in client.train),
        sha256=digest.hexdigest(),
        duplicates=duplicates,
        holdout_in_train=in_train,
    )


def data_segment(
    dataset: FederatedDataset, corpus: str | Path, *, from_round: int, changes: tuple[str, ...] = ()
) -> DataSegment:
    """The segment for `dataset` (loaded from the file `corpus`, canaries inserted)."""
    return DataSegment(
        from_round=from_round,
        corpus_sha256=file_sha256(corpus),
        clients=tuple(partition_fingerprint(c) for c in dataset.clients),
        changes=changes,
    )


def describe_changes(old: DataSegment, new: DataSegment) -> tuple[str, ...]:
    """One line per change, corpus first; () when nothing changed."""
    out: list[str] = []
    if old.corpus_sha256 != new.corpus_sha256:
        out.append(f"corpus sha256 {short(old.corpus_sha256)} -> {short(new.corpus_sha256)}")
    old_ids = [c.client_id for c in old.clients]
    new_ids = [c.client_id for c in new.clients]
    for cid in old_ids:
        if cid not in new_ids:
            out.append(f"client {cid} is gone")
    for cid in new_ids:
        if cid not in old_ids:
            out.append(f"client {cid} is new")
    for before in old.clients:
        after = new.client(before.client_id)
        if after is None:
            continue
        parts = []
        if before.train != after.train:
            parts.append(f"{before.train} -> {after.train} training records")
        if before.holdout != after.holdout:
            parts.append(f"{before.holdout} -> {after.holdout} held-out records")
        if before.duplicates != after.duplicates:
            parts.append(f"{before.duplicates} -> {after.duplicates} duplicated training texts")
        if before.holdout_in_train != after.holdout_in_train:
            parts.append(f"{before.holdout_in_train} -> {after.holdout_in_train} held-out texts also in training")
        if not parts and before.sha256 != after.sha256:
            parts.append(f"same counts ({after.train} training, {after.holdout} held out), different records")
        if parts:
            out.append(f"client {before.client_id}: " + ", ".join(parts))
    if out and len(out) == 1 and old.corpus_sha256 != new.corpus_sha256:
        out.append("every client's records are unchanged")
    return tuple(out)


def clients_changed(old: DataSegment, new: DataSegment) -> bool:
    """True when clients were added or removed (a new run is needed)."""
    return [c.client_id for c in old.clients] != [c.client_id for c in new.clients]


__all__ = ["clients_changed", "data_segment", "describe_changes", "partition_fingerprint", "short"]

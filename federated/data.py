"""Federated data for `guard federate`: read a corpus, split it into client silos
with a holdout each, and plant Secret Sharer canaries.

    cfg = DataConfig(path="examples/clinical_notes.jsonl", partition=Partition.field,
                     partition_field="site")
    fds = load_federated_dataset(cfg, seed=0)
    canaries = make_canaries(CanaryConfig(count=2, repeats=(1, 10)), client_ids=fds.client_ids, seed=0)
    fds = with_canaries(fds, canaries, seed=0)  # = load_federated_dataset(cfg, seed=0, canaries=canaries)
    fds.client("st-marys").train   # tuple[Example, ...], canaries included
    fds.summary()                  # counts only, no text

Every bad record fails here, before any training, with an `InputError` naming
the file, the line and the field. Everything random is drawn from numpy
generators seeded by `seed` and a per-purpose stream number, so the partition
does not move when the canary settings change.

Partitioning is done with numpy rather than `flwr-datasets`: its partitioners
(IidPartitioner, DirichletPartitioner, NaturalIdPartitioner) all operate on a
Hugging Face `datasets.Dataset`, and flwr-datasets 0.6.1 requires `datasets>=4`,
matplotlib and seaborn, none of which this project otherwise needs. The
Dirichlet split follows `DirichletPartitioner` (per class, proportions drawn
from Dirichlet(alpha) over the clients, with its self-balancing rule and a
bounded number of resampling attempts).

Canaries follow Carlini et al., "The Secret Sharer" (USENIX Security 2019): a
fixed template holding a random digit secret, inserted a chosen number of times
into one client's training split; `references` draws more canaries the same way
that are never inserted, as the baseline for exposure.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from federated.config import CanaryConfig, ConfigError, DataConfig, Partition, Task
from guard.core import schema
from guard.core.errors import InputError
from guard.core.io import TEXT_FIELD, CorpusReader, Format
from guard.core.rundir import (
    CANARY_TEMPLATE,
    Canary,
    ClientInfo,
    CorpusPersons,
    canaries_from_json,
    canaries_to_json,
    partition_summary,
)
from guard.core.types import RecordError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = schema.RUN_DATA  # the partition summary in clients.json and canaries.json
CANARY_LINE = 0  # `Example.line` of a canary: it comes from no source line
MIN_TRAIN = 2  # training records every client needs
_DIRICHLET_ATTEMPTS = 50

# Independent random streams: numpy generator seeded with [seed, stream, ...].
_STREAM_PARTITION = 1
_STREAM_HOLDOUT = 2
_STREAM_CANARY_SECRETS = 3
_STREAM_CANARY_INSERT = 4


@dataclass(frozen=True)
class Example:
    """One training or holdout example. `line` is the 1-based source line (or
    Parquet row); 0 for a canary. The text is kept out of `repr`."""

    text: str = field(repr=False)
    label: int | None
    line: int
    canary_id: str | None = None
    person: str | None = field(default=None, repr=False)  # [data] person_field's value: an identifier, never log it
    groups: tuple[str, ...] = field(default=(), repr=False)  # [data] reweight_by fields' values, in that order


@dataclass(frozen=True)
class ClientData:
    client_id: str
    train: tuple[Example, ...]
    holdout: tuple[Example, ...]


@dataclass(frozen=True)
class FederatedDataset:
    task: Task
    labels: tuple[str, ...]  # class names; index = class id; empty for causal_lm
    clients: tuple[ClientData, ...]
    person_field: str | None = None  # [data] person_field: every example has a person when set

    @property
    def client_ids(self) -> tuple[str, ...]:
        return tuple(c.client_id for c in self.clients)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def client(self, client_id: str) -> ClientData:
        for c in self.clients:
            if c.client_id == client_id:
                return c
        raise ConfigError(f"unknown client id {client_id!r}; known: {sorted(self.client_ids)}")

    def summary(self) -> dict[str, Any]:
        """Counts per client and label; no text, no canary secrets."""

        def by_label(examples: tuple[Example, ...]) -> dict[str, int]:
            if not self.labels:
                return {}
            counts = Counter(e.label for e in examples)
            return {name: counts.get(i, 0) for i, name in enumerate(self.labels)}

        clients = [
            ClientInfo(
                client_id=c.client_id,
                train=len(c.train),
                holdout=len(c.holdout),
                canary_examples=sum(e.canary_id is not None for e in c.train),
                train_labels=by_label(c.train),
                holdout_labels=by_label(c.holdout),
                **(asdict(person_counts(c.train)) if self.person_field else {}),
            )
            for c in self.clients
        ]
        corpus = None
        if self.person_field:
            records = [e for c in self.clients for e in (*c.train, *c.holdout) if e.canary_id is None]
            corpus = CorpusPersons(self.person_field, **asdict(person_counts(records)))
        return partition_summary(self.task.value, self.labels, clients, persons=corpus)


@dataclass(frozen=True)
class PersonCounts:
    """How many persons some examples belong to: counts only, never an id."""

    persons: int  # distinct persons
    persons_several: int  # persons with more than one example
    largest_person: int  # the most examples of one person (0 without examples)


def person_counts(examples: Sequence[Example]) -> PersonCounts:
    """Counts of the persons of `examples` (those with a person; canary persons included)."""
    sizes = Counter(e.person for e in examples if e.person is not None)
    return PersonCounts(len(sizes), sum(n > 1 for n in sizes.values()), max(sizes.values(), default=0))


# -- reading -----------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    text: str = field(repr=False)
    label: str | None
    group: str | None
    line: int
    person: str | None = field(default=None, repr=False)
    groups: tuple[str, ...] = field(default=(), repr=False)


def _read_rows(cfg: DataConfig) -> list[_Row]:
    path = str(cfg.path)
    reader = CorpusReader(cfg.path, fmt=cfg.format)
    text_field = TEXT_FIELD if reader.format is Format.txt else cfg.text_field
    label_field = cfg.label_field if cfg.task is Task.classification else None
    group_field = cfg.partition_field if cfg.partition is Partition.field else None
    person_field = cfg.person_field
    if reader.columns is not None:  # CSV: check the header once, not every row
        for name in (text_field, label_field, group_field, person_field, *cfg.reweight_by):
            if name is not None and name not in reader.columns:
                raise InputError(
                    "the header has no such column",
                    path=path,
                    line=1,
                    field=name,
                    hint=f"columns: {sorted(reader.columns)}",
                )
    rows: list[_Row] = []
    limit = cfg.max_records
    if limit is not None and limit < 1:
        raise ConfigError(f"[data] max_records must be at least 1, not {limit}")
    # closed explicitly: an error raised mid-file must not leave the file open while
    # its traceback (and with it this loop) is kept alive by a caller
    with closing(iter(reader)) as items:
        for item in items:
            if isinstance(item, RecordError):
                raise InputError(item.reason, path=path, line=item.line, field=item.field)
            data, line = item.data, item.line
            text = data.get(text_field)
            if text is None or not isinstance(text, str):
                what = "missing" if text is None else f"a {type(text).__name__}, not a string"
                raise InputError(f"the text field is {what}", path=path, line=line, field=text_field)
            if not text.strip():
                raise InputError("the text field is empty", path=path, line=line, field=text_field)
            label = None
            if label_field is not None:
                label = _label_value(data.get(label_field), path=path, line=line, name=label_field)
            group = None
            if group_field is not None:
                group = _group_value(data.get(group_field), path=path, line=line, name=group_field)
            person = None
            if person_field is not None:
                person = _person_value(data.get(person_field), path=path, line=line, name=person_field)
            groups = tuple(_reweight_value(data.get(name), path=path, line=line, name=name) for name in cfg.reweight_by)
            rows.append(_Row(text, label, group, line, person, groups))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def _check_labels(rows: list[_Row], labels: tuple[str, ...], cfg: DataConfig) -> None:
    """Every record's label is one of the run's `labels` (InputError at the first that is not)."""
    known = set(labels)
    for r in rows:
        if r.label is not None and r.label not in known:
            raise InputError(
                f"the label is not one of the run's {len(labels)} labels",
                path=str(cfg.path),
                line=r.line,
                field=str(cfg.label_field),
                hint=f"labels of this run: {list(labels)}",
            )


def _label_value(value: Any, *, path: str, line: int, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(
            "the label is missing or empty",
            path=path,
            line=line,
            field=name,
            hint="every record needs a label for classification; drop the record or set [data] task",
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(
            f"the label is a {type(value).__name__}; expected a string or an integer",
            path=path,
            line=line,
            field=name,
        )
    return str(value).strip()


def _group_value(value: Any, *, path: str, line: int, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(
            "the partition field is missing or empty",
            path=path,
            line=line,
            field=name,
            hint='every record needs a silo value for partition = "field"',
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(
            f"the partition field is a {type(value).__name__}; expected a string or an integer",
            path=path,
            line=line,
            field=name,
        )
    return str(value)


def _reweight_value(value: Any, *, path: str, line: int, name: str) -> str:
    """A record's value of a [data] reweight_by field (a group: sex, site, ...)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(
            "the reweighting group field is missing or empty",
            path=path,
            line=line,
            field=name,
            hint="every training record needs a value for each [data] reweight_by field; fill it in or drop the field",
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(
            f"the reweighting group field is a {type(value).__name__}; expected a string or an integer",
            path=path,
            line=line,
            field=name,
        )
    return str(value)


def _person_value(value: Any, *, path: str, line: int, name: str) -> str:
    """The person of a record; the value itself never goes into an error (it identifies someone)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(
            "the person field is missing or empty",
            path=path,
            line=line,
            field=name,
            hint="every record needs the id of its person when [data] person_field (or [dp] unit) names a field",
        )
    if not isinstance(value, str):
        raise InputError(
            f"the person field is a {type(value).__name__}; expected a string",
            path=path,
            line=line,
            field=name,
            hint="write person ids as JSON strings (quoted)",
        )
    return value


def safe_client_id(value: str) -> str:
    """A partition value made safe as a client id: lowercase ASCII, [a-z0-9-]."""
    ascii_ = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if not slug:  # nothing ASCII left (e.g. a non-Latin name): a stable short hash
        slug = f"client-{zlib.crc32(value.encode('utf-8')):08x}"
    return slug


# -- partitioning ------------------------------------------------------------


def _holdout_size(n: int, fraction: float) -> int:
    return max(1, int(math.floor(n * fraction + 0.5)))


def _big_enough(n: int, fraction: float) -> bool:
    return n - _holdout_size(n, fraction) >= MIN_TRAIN


def _partition_field(rows: list[_Row], cfg: DataConfig) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    origin: dict[str, str] = {}
    for i, row in enumerate(rows):
        assert row.group is not None
        cid = safe_client_id(row.group)
        if origin.setdefault(cid, row.group) != row.group:
            raise ConfigError(
                f"{cfg.path}: two different values of field {cfg.partition_field!r} "
                f"(first at line {rows[groups[cid][0]].line}, another at line {row.line}) "
                f"both become client id {cid!r}; make the values differ in letters or digits"
            )
        groups.setdefault(cid, []).append(i)
    return dict(sorted(groups.items()))


def _client_names(n: int) -> list[str]:
    return [f"client-{i:03d}" for i in range(n)]


def _partition_iid(rows: list[_Row], cfg: DataConfig, seed: int) -> dict[str, list[int]]:
    rng = np.random.default_rng([seed, _STREAM_PARTITION])
    order = rng.permutation(len(rows))
    parts = np.array_split(order, cfg.num_clients)
    return {name: sorted(part.tolist()) for name, part in zip(_client_names(cfg.num_clients), parts)}


def _partition_dirichlet(rows: list[_Row], labels: tuple[str, ...], cfg: DataConfig, seed: int) -> dict[str, list[int]]:
    """DirichletPartitioner's algorithm (self-balancing on), resampled until every
    client can keep MIN_TRAIN training records after its holdout."""
    k = cfg.num_clients
    rng = np.random.default_rng([seed, _STREAM_PARTITION])
    targets = np.array([labels.index(r.label) for r in rows])  # type: ignore[arg-type]
    average = len(rows) / k
    sizes: list[int] = []
    for _attempt in range(_DIRICHLET_ATTEMPTS):
        parts: list[list[int]] = [[] for _ in range(k)]
        for cls in range(len(labels)):
            idx = rng.permutation(np.nonzero(targets == cls)[0])
            proportions = rng.dirichlet(np.full(k, cfg.alpha))
            proportions = np.where([len(p) > average for p in parts], 0.0, proportions)
            if proportions.sum() <= 0:
                proportions = np.full(k, 1.0 / k)
            proportions = proportions / proportions.sum()
            cuts = (np.cumsum(proportions) * len(idx)).astype(int)[:-1]
            for part, chunk in zip(parts, np.split(idx, cuts)):
                part.extend(chunk.tolist())
        sizes = [len(p) for p in parts]
        if all(_big_enough(n, cfg.holdout) for n in sizes):
            return {name: sorted(p) for name, p in zip(_client_names(k), parts)}
    raise ConfigError(
        f"{cfg.path}: a Dirichlet(alpha={cfg.alpha}) split of {len(rows)} records over {k} clients "
        f"left a client with too few records in each of {_DIRICHLET_ATTEMPTS} attempts "
        f"(smallest last time: {min(sizes)}); raise [data] alpha, lower num_clients or add data"
    )


def _split_holdout(
    indices: list[int], targets: list[int | None], fraction: float, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Stratified (when labelled) holdout: largest-remainder quotas per label."""
    n_hold = _holdout_size(len(indices), fraction)
    by_label: dict[int | None, list[int]] = {}
    for i in indices:
        by_label.setdefault(targets[i], []).append(i)
    keys = sorted(by_label, key=lambda x: -1 if x is None else x)
    exact = {key: n_hold * len(by_label[key]) / len(indices) for key in keys}
    quota = {key: int(math.floor(exact[key])) for key in keys}
    rest = n_hold - sum(quota.values())
    for key in sorted(keys, key=lambda x: (-(exact[x] - quota[x]), keys.index(x)))[:rest]:
        quota[key] += 1
    holdout: list[int] = []
    for key in keys:
        members = rng.permutation(by_label[key]).tolist()
        holdout.extend(members[: quota[key]])
    held = set(holdout)
    return [i for i in indices if i not in held], sorted(holdout)


def _split_holdout_by_person(
    indices: list[int], persons: list[str | None], fraction: float, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Holdout of whole persons: every record of a person lands on one side.

    Persons are visited in a seeded random order and held out while their records fit in
    the holdout quota (`_holdout_size`, capped so that MIN_TRAIN records stay in training);
    when no person fits, the smallest one is held out. Not stratified by label (a person's
    records may carry several labels). Raises ConfigError when a client has too few persons
    to keep one held out and MIN_TRAIN records in training."""
    by_person: dict[str, list[int]] = {}
    for i in indices:
        by_person.setdefault(persons[i], []).append(i)  # type: ignore[arg-type]
    order = list(by_person)  # first appearance: deterministic
    quota = min(_holdout_size(len(indices), fraction), len(indices) - MIN_TRAIN)
    held: list[int] = []
    for k in rng.permutation(len(order)).tolist():
        members = by_person[order[k]]
        if len(held) + len(members) <= quota:
            held.extend(members)
        if len(held) == quota:
            break
    if not held:
        smallest = min(order, key=lambda p: len(by_person[p]))
        if len(indices) - len(by_person[smallest]) >= MIN_TRAIN:
            held = list(by_person[smallest])
    if not held:
        raise ValueError("no person can be held out")
    chosen = set(held)
    return [i for i in indices if i not in chosen], sorted(held)


# -- canaries ----------------------------------------------------------------


def make_canaries(cfg: CanaryConfig, *, client_ids: Sequence[str], seed: int) -> list[Canary]:
    """`cfg.count` canaries for each value in `cfg.repeats`, spread round-robin over
    `cfg.clients` (default: the first client id), then `cfg.references` unused
    reference canaries (client_id None). Secrets: `cfg.digits` random digits, all distinct."""
    inserted = cfg.count * len(cfg.repeats)
    total = inserted + cfg.references
    if total == 0:
        return []
    targets = list(cfg.clients)
    if inserted:
        if not client_ids and not targets:
            raise ConfigError("[canaries] there are no clients to insert canaries into")
        targets = targets or [client_ids[0]]
        unknown = sorted(set(targets) - set(client_ids))
        if unknown:
            raise ConfigError(f"[canaries] clients {unknown} are not client ids; known: {sorted(client_ids)}")
    if total > 10**cfg.digits // 2:
        raise ConfigError(f"[canaries] {total} canaries need more than {cfg.digits} digits to stay distinct")
    rng = np.random.default_rng([seed, _STREAM_CANARY_SECRETS])
    secrets: list[str] = []
    seen: set[str] = set()
    while len(secrets) < total:
        secret = "".join(str(d) for d in rng.integers(0, 10, size=cfg.digits))
        if secret not in seen:
            seen.add(secret)
            secrets.append(secret)
    plan: list[tuple[int, str | None]] = []
    for _ in range(cfg.count):
        for repeats in cfg.repeats:
            plan.append((repeats, targets[len(plan) % len(targets)]))
    plan.extend((0, None) for _ in range(cfg.references))
    width = max(3, len(str(total - 1)))
    return [
        Canary(
            canary_id=f"canary-{i:0{width}d}",
            secret=secret,
            text=CANARY_TEMPLATE.format(secret=secret),
            repeats=repeats,
            client_id=client,
        )
        for i, (secret, (repeats, client)) in enumerate(zip(secrets, plan))
    ]


def person_hash(salt: bytes, person: str) -> str:
    """A person id keyed-hashed (HMAC-SHA256 under the run's random salt, hex): comparable
    within a run, useless without the salt. The only form a person id may leave memory in."""
    return hmac.new(salt, person.encode("utf-8"), hashlib.sha256).hexdigest()


def shared_persons(dataset: FederatedDataset, salt: bytes) -> list[tuple[str, str, int]]:
    """(client a, client b, persons) for each pair of clients whose training splits share
    persons (canary persons excluded), found by comparing keyed hashes; counts only."""
    keyed = {
        c.client_id: {person_hash(salt, e.person) for e in c.train if e.person is not None and e.canary_id is None}
        for c in dataset.clients
    }
    ids = sorted(keyed)
    return [(a, b, n) for i, a in enumerate(ids) for b in ids[i + 1 :] if (n := len(keyed[a] & keyed[b]))]


def canary_person(canary_id: str) -> str:
    """The synthetic person every copy of a canary belongs to (a person-level canary)."""
    return f"canary:{canary_id}"


def _insert_canaries(
    train: list[Example],
    client_id: str,
    canaries: Sequence[Canary],
    num_classes: int,
    rng: np.random.Generator,
    *,
    persons: bool = False,
) -> list[Example]:
    out = list(train)
    for canary in canaries:
        if canary.client_id != client_id:
            continue
        label = int(rng.integers(num_classes)) if num_classes else None
        person = canary_person(canary.canary_id) if persons else None
        for _ in range(canary.repeats):
            position = int(rng.integers(len(out) + 1))
            out.insert(position, Example(canary.text, label, CANARY_LINE, canary.canary_id, person))
    return out


def _client_stream(client_id: str) -> int:
    return zlib.crc32(client_id.encode("utf-8"))


def with_canaries(dataset: FederatedDataset, canaries: Sequence[Canary], *, seed: int) -> FederatedDataset:
    """A copy of `dataset` with each inserted canary added `repeats` times to its
    client's training split, at seeded random positions. Same result as passing
    `canaries` to `load_federated_dataset` with the same seed, so a caller can
    load first, draw canaries for `dataset.client_ids`, then insert them. When the
    dataset has persons ([data] person_field), all copies of a canary belong to the
    person `canary:<canary_id>`."""
    known = set(dataset.client_ids)
    for canary in canaries:
        if canary.client_id is not None and canary.client_id not in known:
            raise ConfigError(
                f"canary {canary.canary_id} is for client {canary.client_id!r}, which this split "
                f"does not have; known: {sorted(known)}"
            )
    if not any(c.client_id is not None for c in canaries):
        return dataset
    clients = []
    for client in dataset.clients:
        rng = np.random.default_rng([seed, _STREAM_CANARY_INSERT, _client_stream(client.client_id)])
        train = _insert_canaries(
            list(client.train),
            client.client_id,
            canaries,
            dataset.num_classes,
            rng,
            persons=dataset.person_field is not None,
        )
        clients.append(ClientData(client.client_id, tuple(train), client.holdout))
    return replace(dataset, clients=tuple(clients))


# -- the loader --------------------------------------------------------------


def load_federated_dataset(
    cfg: DataConfig,
    *,
    seed: int,
    canaries: Sequence[Canary] = (),
    labels: Sequence[str] | None = None,
    client_ids: Sequence[str] | None = None,
) -> FederatedDataset:
    """Read, check, partition and split `cfg.path`; insert `canaries` into their
    clients' training splits. Raises InputError for a bad record and ConfigError
    for a split that cannot work.

    `labels` fixes the label set and its order (a silo maps its labels to the run's;
    a record with another label is an InputError naming its line) instead of the sorted
    labels found in the file; `client_ids` names the iid parts (a silo is one client)."""
    if cfg.partition is Partition.dirichlet and cfg.task is not Task.classification:
        raise ConfigError('[data] partition = "dirichlet" needs task = "classification" (it splits by label)')
    if cfg.partition is Partition.field and not cfg.partition_field:
        raise ConfigError('[data] partition = "field" needs partition_field (e.g. "site")')
    if cfg.partition is not Partition.field and cfg.num_clients < 1:
        raise ConfigError(f"[data] num_clients must be at least 1, not {cfg.num_clients}")
    if not 0 < cfg.holdout < 1:
        raise ConfigError(f"[data] holdout must be between 0 and 1, not {cfg.holdout}")
    rows = _read_rows(cfg)

    found: tuple[str, ...] = ()
    if cfg.task is Task.classification and labels is not None:
        found = tuple(labels)
        _check_labels(rows, found, cfg)
    elif cfg.task is Task.classification:
        found = tuple(sorted({r.label for r in rows if r.label is not None}))
        if len(found) < 2:
            raise ConfigError(
                f"{cfg.path}: field {cfg.label_field!r} has {len(found)} distinct label(s) in "
                f"{len(rows)} records; classification needs at least 2"
            )
    labels = found
    label_id = {name: i for i, name in enumerate(labels)}
    targets: list[int | None] = [label_id[r.label] if r.label is not None else None for r in rows]

    if cfg.partition is Partition.field:
        parts = _partition_field(rows, cfg)
    elif cfg.partition is Partition.iid:
        parts = _partition_iid(rows, cfg, seed)
    else:
        parts = _partition_dirichlet(rows, labels, cfg, seed)

    if client_ids is not None:
        if len(client_ids) != len(parts):
            raise ConfigError(f"{len(client_ids)} client id(s) given for {len(parts)} part(s)")
        parts = {name: idx for name, idx in zip(client_ids, parts.values())}
    for cid, idx in parts.items():
        if not _big_enough(len(idx), cfg.holdout):
            raise ConfigError(
                f"{cfg.path}: client {cid!r} has {len(idx)} record(s); after a holdout of "
                f"{_holdout_size(len(idx), cfg.holdout)} it needs at least {MIN_TRAIN} for training; "
                "add data, lower [data] holdout or use fewer clients"
            )

    persons = [r.person for r in rows]
    clients: list[ClientData] = []
    for cid, idx in parts.items():
        hold_rng = np.random.default_rng([seed, _STREAM_HOLDOUT, _client_stream(cid)])
        if cfg.person_field is None:
            train_idx, hold_idx = _split_holdout(idx, targets, cfg.holdout, hold_rng)
        else:
            try:
                train_idx, hold_idx = _split_holdout_by_person(idx, persons, cfg.holdout, hold_rng)
            except ValueError:
                raise ConfigError(
                    f"{cfg.path}: client {cid!r} has {len(idx)} record(s) of {len(set(persons[i] for i in idx))} "
                    f"person(s) ([data] person_field {cfg.person_field!r}): holding out whole persons leaves fewer "
                    f"than {MIN_TRAIN} training records",
                    hint="add data, lower [data] holdout or use fewer clients",
                ) from None
        train = tuple(
            Example(rows[i].text, targets[i], rows[i].line, person=rows[i].person, groups=rows[i].groups)
            for i in train_idx
        )
        holdout = tuple(Example(rows[i].text, targets[i], rows[i].line, person=rows[i].person) for i in hold_idx)
        clients.append(ClientData(cid, train, holdout))

    dataset = FederatedDataset(cfg.task, labels, tuple(clients), person_field=cfg.person_field)
    dataset = with_canaries(dataset, canaries, seed=seed)
    logger.info(
        "loaded %d records from %s into %d clients (%s partition, %d canary examples)",
        len(rows),
        Path(cfg.path).name,
        len(clients),
        cfg.partition.value,
        sum(c["canary_examples"] for c in dataset.summary()["clients"]),
    )
    return dataset


__all__ = [
    "CANARY_TEMPLATE",
    "Canary",
    "ClientData",
    "Example",
    "FederatedDataset",
    "PersonCounts",
    "canaries_from_json",
    "canary_person",
    "canaries_to_json",
    "load_federated_dataset",
    "make_canaries",
    "person_counts",
    "person_hash",
    "shared_persons",
    "safe_client_id",
    "with_canaries",
]

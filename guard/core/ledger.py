"""The privacy ledger: what epsilon each client spent, how, and what the run can claim.

Each client's entry keeps the accountant's history, shaped like an Opacus
accountant's `history` ((noise_multiplier, sample_rate, steps) per training
call), so its epsilon can always be recomputed by a fresh Opacus accountant
and checkpointed. The ledger holds no data values, only numbers, ids and hashes.

`segments` says which data the rounds were trained on: the first segment starts
at round 1 with the corpus the run was started with; `guard federate --resume
--allow-data-change` after the corpus changed adds one from the next round on,
with the new corpus hash and every client's record counts. Each client's
accounting stays one cumulative history across segments (a changed sample rate
is simply a new history entry, as in an Opacus accountant).

The unit of privacy is a client's `unit`: "record" (record-level DP-SGD) or the name of
the person field (e.g. "patient_id": person-level DP-SGD, all of a person's records
clipped together). With a known person field the ledger also keeps, per client, how
many persons trained and the largest number of records of one person, and which client
pairs share persons (found with keyed hashes at prepare time; counts only), so the
statement can say what a person's guarantee is: the group-privacy bound under record
unit (`group_privacy`), a composition across clients for a person on several.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from guard.core import schema

SCHEMA_VERSION = schema.LEDGER
_READABLE_VERSIONS = schema.LEDGER_READABLE
RECORD = "record"  # ClientLedger.unit of record-level DP-SGD


def group_privacy(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """The (epsilon, delta) a group of `k` records gets from an (epsilon, delta)-DP mechanism:
    (k * epsilon, k * exp((k - 1) * epsilon) * delta) (group privacy, Dwork & Roth, "The
    Algorithmic Foundations of Differential Privacy", 2014, Theorem 2.2 and its
    (epsilon, delta) form). The bound says nothing ("vacuous") once its delta reaches 1;
    the delta is returned as computed (inf when it overflows), never capped."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"group size must be a positive integer, not {k!r}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"({epsilon!r}, {delta!r}) is not an (epsilon >= 0, 0 <= delta <= 1) guarantee")
    exponent = (k - 1) * epsilon
    grown = k * math.exp(exponent) * delta if exponent < 700 else (math.inf if delta > 0 else 0.0)
    return k * epsilon, grown


def vacuous(delta: float) -> bool:
    """A delta of 1 or more bounds nothing."""
    return delta >= 1


def bound_words(epsilon: float, delta: float) -> str:
    """An (epsilon, delta) bound in words: "(72.00, 3.1e-02)-DP", or that it is vacuous."""
    if vacuous(delta):
        return f"epsilon {epsilon:.2f} with a delta above 1, which is vacuous (no guarantee)"
    return f"({epsilon:.2f}, {delta:.1e})-DP"


@dataclass(frozen=True)
class AccountingStep:
    """One DP-SGD training call on one client: Opacus history entry plus its round."""

    round: int
    noise_multiplier: float
    sample_rate: float
    steps: int


@dataclass(frozen=True)
class ClientLedger:
    client_id: str
    records: int  # training records of this client
    accountant: str  # "prv" or "rdp"
    delta: float
    max_grad_norm: float
    clipping: str
    secure_mode: bool
    target_epsilon: float | None
    history: tuple[AccountingStep, ...] = ()
    epsilon: float = 0.0
    exhausted: bool = False  # the budget would be exceeded by another round: it stopped
    note: str = ""
    unit: str = RECORD  # the privacy unit: "record", or the person field (person-level DP-SGD)
    persons: int | None = None  # persons in the training split (canary persons included); None: not known
    persons_several: int | None = None  # of them, persons with more than one training record
    largest_person: int | None = None  # the most training records of one person

    @property
    def person_level(self) -> bool:
        return self.unit != RECORD

    def opacus_history(self) -> list[tuple[float, float, int]]:
        return [(h.noise_multiplier, h.sample_rate, h.steps) for h in self.history]

    def with_step(self, step: AccountingStep, epsilon: float) -> ClientLedger:
        return replace(self, history=(*self.history, step), epsilon=epsilon)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientLedger:
        return cls(**{**data, "history": tuple(AccountingStep(**h) for h in data["history"])})


@dataclass(frozen=True)
class SharedPersons:
    """Two clients whose training splits hold the same persons: how many (counted by
    comparing keyed hashes of the person ids, never the ids)."""

    clients: tuple[str, str]
    persons: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SharedPersons:
        a, b = data["clients"]
        return cls((str(a), str(b)), int(data["persons"]))


@dataclass(frozen=True)
class UserLevelLedger:
    """Client-level DP added on the server by Flower's DP strategy wrapper."""

    clipping: str
    noise_multiplier: float
    clipping_norm: float
    clients_per_round: int
    population: int
    rounds: int
    delta: float
    epsilon: float


@dataclass(frozen=True)
class PartitionFingerprint:
    """One client's data in a segment: counts and a hash, never a text.

    `train` counts the training examples the client runs DP-SGD on (canary copies
    included: each is a record to the accountant); `sha256` covers the corpus
    records only (source line, split, label and a sha256 of each text, in order),
    not the canaries. `duplicates`: training records whose text equals an earlier
    training record of the same client (record-level DP counts each copy as its
    own record); `holdout_in_train`: held-out records whose text is also in the
    training split (they are no clean non-members for a membership audit).
    """

    client_id: str
    train: int
    holdout: int
    canary_examples: int
    sha256: str
    duplicates: int = 0
    holdout_in_train: int = 0


@dataclass(frozen=True)
class DataSegment:
    """The data the rounds from `from_round` on were trained on."""

    from_round: int
    corpus_sha256: str  # sha256 of the corpus file
    clients: tuple[PartitionFingerprint, ...]
    changes: tuple[str, ...] = ()  # what changed from the previous segment; () for the first

    def client(self, client_id: str) -> PartitionFingerprint | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataSegment:
        return cls(
            from_round=int(data["from_round"]),
            corpus_sha256=str(data["corpus_sha256"]),
            clients=tuple(PartitionFingerprint(**c) for c in data["clients"]),
            changes=tuple(str(x) for x in data.get("changes", ())),
        )


@dataclass(frozen=True)
class PrivacyLedger:
    mechanism: str = "DP-SGD (Opacus), record-level, per client"
    clients: tuple[ClientLedger, ...] = ()
    user_level: UserLevelLedger | None = None
    dp_enabled: bool = True
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    segments: tuple[DataSegment, ...] = ()
    person_field: str | None = None  # [data] person_field: the persons the counts are of
    shared_persons: tuple[SharedPersons, ...] = ()  # client pairs with common persons (training splits)

    @property
    def segment(self) -> DataSegment | None:
        """The data segment the next round trains on (the last one)."""
        return self.segments[-1] if self.segments else None

    def with_segment(self, segment: DataSegment) -> PrivacyLedger:
        """A new data segment; each client's `records` becomes its training count in it."""
        clients = tuple(
            replace(c, records=part.train) if (part := segment.client(c.client_id)) is not None else c
            for c in self.clients
        )
        return replace(self, clients=clients, segments=(*self.segments, segment))

    def client(self, client_id: str) -> ClientLedger | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def with_client(self, entry: ClientLedger) -> PrivacyLedger:
        others = tuple(c for c in self.clients if c.client_id != entry.client_id)
        return replace(self, clients=tuple(sorted((*others, entry), key=lambda c: c.client_id)))

    @property
    def max_epsilon(self) -> float:
        return max((c.epsilon for c in self.clients), default=0.0)

    @property
    def unit(self) -> str:
        """The privacy unit of the run: "record", or the person field when every client that
        trained ran person-level DP-SGD ("record" before any client trained)."""
        units = {c.unit for c in self.clients}
        return units.pop() if len(units) == 1 else RECORD

    def group_bound(self) -> tuple[ClientLedger, float, float] | None:
        """Under record unit with known persons: the client whose largest person gets the
        weakest group-privacy bound, and that bound (None when no person has several records)."""
        bounds = [
            (c, *group_privacy(c.epsilon, c.delta, c.largest_person))
            for c in self.clients
            if not c.person_level and c.largest_person is not None and c.largest_person > 1
        ]
        return max(bounds, key=lambda b: (b[1], b[2]), default=None)

    def statement(self) -> str:
        """The run's guarantee in plain sentences: the unit, the worst client's (epsilon, delta),
        what a person with several records gets, and persons shared by clients."""
        if not self.dp_enabled:
            return "No differential privacy: no privacy guarantee is claimed for this model."
        if not self.clients:
            return "No client has trained yet: nothing has been spent."
        worst = max(self.clients, key=lambda c: c.epsilon)
        spent = (
            f"the largest epsilon spent by any client is {worst.epsilon:.2f} ({worst.client_id}, "
            f"{worst.accountant.upper()} accountant)"
        )
        unit = self.unit
        if unit != RECORD:
            text = (
                f"Each {unit} on client {worst.client_id} is protected by ({worst.epsilon:.2f}, {worst.delta:.1e})-"
                f"differential privacy, and on every other client by that or better: every client ran person-level "
                f"DP-SGD (the records of one {unit} summed and clipped together), and {spent}."
            )
            text += self._shared_words(unit, alone=f"a {unit}'s guarantee is its own client's")
        else:
            text = (
                f"Each training record is protected by ({worst.epsilon:.2f}, {worst.delta:.1e})-differential "
                f"privacy or better: every client ran DP-SGD on its own records, and {spent}. Clients hold "
                f"disjoint records, so a record's guarantee is its own client's."
            )
            if self.person_field is not None:
                text += self._record_unit_persons(self.person_field)
        if self.user_level is not None:
            u = self.user_level
            text += (
                f" In addition, each client's whole contribution is protected by ({u.epsilon:.2f}, {u.delta:.1e})-DP "
                f"at the user level ({u.clipping} clipping on the server)."
            )
        return text

    def _record_unit_persons(self, person: str) -> str:
        several = [c.persons_several for c in self.clients if c.persons_several is not None]
        if not several:
            return ""
        text = (
            f" The unit is one record, not one {person}: {sum(several)} {person} value(s) have several training records"
        )
        bound = self.group_bound()
        if bound is None:
            return text + "." + self._shared_words(person, alone="")
        client, eps_k, delta_k = bound
        text += (
            f" and are protected only as a group: the most records of one {person} is {client.largest_person} "
            f"(on {client.client_id}), and the group-privacy bound for them (k * epsilon, k * exp((k - 1) * "
            f"epsilon) * delta; Dwork & Roth 2014, Theorem 2.2) is {bound_words(eps_k, delta_k)}."
        )
        return text + self._shared_words(person, alone="")

    def _shared_words(self, person: str, *, alone: str) -> str:
        if self.person_field is None:
            return ""
        if not self.shared_persons:
            return f" No {person} trains on two clients, so {alone}." if alone else ""
        spent = {c.client_id: (c.epsilon, c.delta) for c in self.clients}
        parts = []
        for pair in self.shared_persons:
            (ea, da), (eb, db) = (spent.get(cid, (0.0, 0.0)) for cid in pair.clients)
            parts.append(
                f"{pair.persons} on {pair.clients[0]} and {pair.clients[1]}, up to ({ea + eb:.2f}, {da + db:.1e}) "
                "by basic composition"
            )
        return (
            f" Some {person} values train on more than one client ({'; '.join(parts)}): the guarantee of such a "
            f"{person} composes across those clients."
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["statement"] = self.statement()
        data["max_epsilon"] = self.max_epsilon
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrivacyLedger:
        """Read a ledger written by `to_json` (schema 1, 2 or 3; read as the current one: an
        older ledger has record unit and no person counts).
        Raises ValueError, KeyError or TypeError on a damaged ledger."""
        if data["schema_version"] not in _READABLE_VERSIONS:
            raise ValueError(f"schema_version {data['schema_version']!r} is not one of {list(_READABLE_VERSIONS)}")
        clients = tuple(ClientLedger.from_json(c) for c in data["clients"])
        user = data.get("user_level")
        return cls(
            mechanism=data["mechanism"],
            clients=clients,
            user_level=UserLevelLedger(**user) if user else None,
            dp_enabled=data["dp_enabled"],
            extra=data.get("extra", {}),
            segments=tuple(DataSegment.from_json(s) for s in data.get("segments", ())),
            person_field=data.get("person_field"),
            shared_persons=tuple(SharedPersons.from_json(s) for s in data.get("shared_persons", ())),
        )


__all__ = [
    "SCHEMA_VERSION",
    "AccountingStep",
    "ClientLedger",
    "DataSegment",
    "PartitionFingerprint",
    "PrivacyLedger",
    "SharedPersons",
    "UserLevelLedger",
    "bound_words",
    "group_privacy",
    "vacuous",
]

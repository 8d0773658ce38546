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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from guard.core import schema

SCHEMA_VERSION = schema.LEDGER
_READABLE_VERSIONS = schema.LEDGER_READABLE


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
    records: int  # training records of this client (the DP unit is one record)
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

    def opacus_history(self) -> list[tuple[float, float, int]]:
        return [(h.noise_multiplier, h.sample_rate, h.steps) for h in self.history]

    def with_step(self, step: AccountingStep, epsilon: float) -> ClientLedger:
        return replace(self, history=(*self.history, step), epsilon=epsilon)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientLedger:
        return cls(**{**data, "history": tuple(AccountingStep(**h) for h in data["history"])})


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

    def statement(self) -> str:
        """The run's guarantee in one plain sentence."""
        if not self.dp_enabled:
            return "No differential privacy: no privacy guarantee is claimed for this model."
        if not self.clients:
            return "No client has trained yet: nothing has been spent."
        worst = max(self.clients, key=lambda c: c.epsilon)
        text = (
            f"Each training record is protected by ({worst.epsilon:.2f}, {worst.delta:.1e})-differential privacy "
            f"or better: every client ran DP-SGD on its own records, and the largest epsilon spent by any client "
            f"is {worst.epsilon:.2f} ({worst.client_id}, {worst.accountant.upper()} accountant). Clients hold "
            f"disjoint records, so a record's guarantee is its own client's."
        )
        if self.user_level is not None:
            u = self.user_level
            text += (
                f" In addition, each client's whole contribution is protected by ({u.epsilon:.2f}, {u.delta:.1e})-DP "
                f"at the user level ({u.clipping} clipping on the server)."
            )
        return text

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["statement"] = self.statement()
        data["max_epsilon"] = self.max_epsilon
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrivacyLedger:
        """Read a ledger written by `to_json` (schema 1 or 2; read as the current one).
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
        )


__all__ = [
    "SCHEMA_VERSION",
    "AccountingStep",
    "ClientLedger",
    "DataSegment",
    "PartitionFingerprint",
    "PrivacyLedger",
    "UserLevelLedger",
]

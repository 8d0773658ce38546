"""The privacy ledger: what epsilon each client spent, how, and what the run can claim.

Each client's entry keeps the accountant's history, shaped like an Opacus
accountant's `history` ((noise_multiplier, sample_rate, steps) per training
call), so its epsilon can always be recomputed by a fresh Opacus accountant
and checkpointed. The ledger holds no data values, only numbers and ids.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

SCHEMA_VERSION = 1


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
class PrivacyLedger:
    mechanism: str = "DP-SGD (Opacus), record-level, per client"
    clients: tuple[ClientLedger, ...] = ()
    user_level: UserLevelLedger | None = None
    dp_enabled: bool = True
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

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
        clients = tuple(
            ClientLedger.from_json(c) for c in data["clients"]
        )
        user = data.get("user_level")
        return cls(
            mechanism=data["mechanism"],
            clients=clients,
            user_level=UserLevelLedger(**user) if user else None,
            dp_enabled=data["dp_enabled"],
            schema_version=data["schema_version"],
            extra=data.get("extra", {}),
        )


__all__ = ["SCHEMA_VERSION", "AccountingStep", "ClientLedger", "PrivacyLedger", "UserLevelLedger"]

"""What crosses the Flower wire besides weights: guard's keys in ConfigRecords,
and conversions between numpy state dicts and ArrayRecords."""

from __future__ import annotations

from typing import Any

import numpy as np

CONFIG = "guard-config"  # resolved FederateConfig as JSON
LEDGER = "guard-ledger"  # PrivacyLedger as JSON (the server's copy is the truth)
CANARIES = "guard-canaries"  # canaries to insert, JSON
NOISE = "guard-noise"  # {client_id: noise multiplier} planned by the server, JSON
ROUND = "server-round"  # set by Flower's strategies
CLIENT_ID = "client-id"
LEDGER_ENTRY = "ledger-entry"
STOPPED = "stopped"
CLIENT_INFO = "client-info"  # a silo's counts (ClientInfo JSON), in silo runs only
GUARD_RECORD = "guard"  # the ConfigRecord a client reply carries


def to_arrays(state: dict[str, np.ndarray]) -> Any:
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in state.items()})


def from_arrays(record: Any) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in record.items()}


__all__ = ["from_arrays", "to_arrays"]

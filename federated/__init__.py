"""Federated fine-tuning with Flower, differential privacy with Opacus on every
client, and a privacy ledger that says what epsilon each client spent."""

from federated.config import FederateConfig, load_config
from federated.ledger import AccountingStep, ClientLedger, DataSegment, PartitionFingerprint, PrivacyLedger
from federated.run import RunSummary, run_federation

__all__ = [
    "AccountingStep",
    "ClientLedger",
    "DataSegment",
    "FederateConfig",
    "PartitionFingerprint",
    "PrivacyLedger",
    "RunSummary",
    "load_config",
    "run_federation",
]

"""A client's side of a round, between Flower messages and `task` (no Flower
imports here: `client_app.py` converts). Datasets and models are cached per
process, so a simulation actor parses the corpus and loads a model once, not
once per message; memory therefore grows with actors, not with clients."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from federated.config import FederateConfig, Task, config_from_json
from federated.ledger import ClientLedger, PrivacyLedger

log = logging.getLogger(__name__)

# Fault injection for resilience tests: "CLIENT_ID:ROUND[,CLIENT_ID:ROUND]" makes
# that client raise in that round's training, as a crashed silo would.
FAULT_ENV = "GUARD_FEDERATE_FAULT"


class InjectedFault(RuntimeError):
    pass


@dataclass(frozen=True)
class ClientReply:
    client_id: str
    state: dict[str, Any] | None  # trained weights, None when the client did not train
    metrics: dict[str, float]
    ledger_entry: ClientLedger | None
    stopped: str


@lru_cache(maxsize=2)
def _dataset(config_json: str, canaries_json: str) -> Any:
    from federated.data import canaries_from_json, load_federated_dataset

    config = config_from_json(json.loads(config_json))
    canaries = canaries_from_json(json.loads(canaries_json)) if canaries_json else []
    return load_federated_dataset(config.data, seed=config.train.seed, canaries=canaries)


@lru_cache(maxsize=1)
def _bundle(model_json: str, task: str, num_labels: int | None, seed: int) -> Any:
    from federated.config import ModelConfig
    from federated.models import build_model

    spec = json.loads(model_json)
    return build_model(ModelConfig(spec["name"], spec["params"]), task=Task(task), num_labels=num_labels, seed=seed)


def device_for(config: FederateConfig) -> str:
    from federated.task import resolve_device

    return resolve_device(config.train.device)


def _context(
    config_json: str, canaries_json: str, partition_id: int, num_partitions: int | None
) -> tuple[Any, Any, Any]:
    config = config_from_json(json.loads(config_json))
    dataset = _dataset(config_json, canaries_json)
    if num_partitions is not None and num_partitions != len(dataset.clients):
        raise RuntimeError(
            f"this SuperNode says there are {num_partitions} partitions, but the config makes "
            f"{len(dataset.clients)} clients ({', '.join(c.client_id for c in dataset.clients)})"
        )
    if not 0 <= partition_id < len(dataset.clients):
        raise RuntimeError(f"partition-id {partition_id} is outside 0..{len(dataset.clients) - 1}")
    client = dataset.clients[partition_id]
    model_json = json.dumps({"name": config.model.name, "params": config.model.params}, sort_keys=True)
    num_labels = len(dataset.labels) if config.data.task is Task.classification else None
    bundle = _bundle(model_json, config.data.task.value, num_labels, config.train.seed)
    return config, client, bundle


def _client_seed(client_id: str) -> int:
    return int.from_bytes(hashlib.sha256(client_id.encode()).digest()[:4], "big")


def new_ledger_entry(config: FederateConfig, client_id: str, records: int) -> ClientLedger:
    from federated.privacy import default_delta

    dp = config.dp
    return ClientLedger(
        client_id=client_id,
        records=records,
        accountant=dp.accountant.value,
        delta=dp.delta if dp.delta is not None else default_delta(records),
        max_grad_norm=dp.max_grad_norm,
        clipping=dp.grad_sample_mode,  # what training uses: hooks for a person-level run
        secure_mode=dp.secure_mode,
        target_epsilon=dp.target_epsilon,
    )


def train(
    *,
    config_json: str,
    canaries_json: str,
    ledger_json: str,
    weights: dict[str, Any],
    noise_json: str = "",
    server_round: int,
    partition_id: int,
    num_partitions: int | None,
    proximal_mu: float = 0.0,
) -> ClientReply:
    from federated.models import load_trainable_state, trainable_state
    from federated.task import train_client

    config, client, bundle = _context(config_json, canaries_json, partition_id, num_partitions)
    _maybe_fail(client.client_id, server_round)
    ledger = PrivacyLedger.from_json(json.loads(ledger_json)) if ledger_json else PrivacyLedger()
    entry = ledger.client(client.client_id) or new_ledger_entry(config, client.client_id, len(client.train))
    load_trainable_state(bundle.model, weights)
    dp = config.dp
    planned = json.loads(noise_json).get(client.client_id) if noise_json else None
    if dp.enabled and planned is not None and dp.noise_multiplier is None:
        from dataclasses import replace as replace_dc

        dp = replace_dc(dp, noise_multiplier=float(planned))  # the target still bounds the budget
    result = train_client(
        bundle,
        client.train,
        train=config.train,
        dp=dp,
        ledger=entry if config.dp.enabled else None,
        round=server_round,
        global_state=weights if proximal_mu > 0 else None,
        proximal_mu=proximal_mu,
        device=device_for(config),
        max_length=config.data.max_length,
    )
    if result.step is not None:
        entry = entry.with_step(result.step, result.epsilon)
    if result.stopped:
        from dataclasses import replace

        entry = replace(entry, exhausted=True, note=result.stopped)
        log.warning("%s did not train in round %d: %s", client.client_id, server_round, result.stopped)
        return ClientReply(client.client_id, None, {}, entry if config.dp.enabled else None, result.stopped)
    metrics = {"num-examples": float(result.num_examples), "train_loss": float(result.loss)}
    if config.data.task is Task.classification:
        metrics["train_accuracy"] = float(result.accuracy or 0.0)
    if result.epsilon is not None:  # no DP: no epsilon at all, never a misleading 0
        metrics["epsilon"] = float(result.epsilon)
    return ClientReply(
        client.client_id, trainable_state(bundle.model), metrics, entry if config.dp.enabled else None, ""
    )


def evaluate(
    *, config_json: str, canaries_json: str, weights: dict[str, Any], partition_id: int, num_partitions: int | None
) -> ClientReply:
    from federated.models import load_trainable_state
    from federated.task import evaluate as evaluate_fn

    config, client, bundle = _context(config_json, canaries_json, partition_id, num_partitions)
    load_trainable_state(bundle.model, weights)
    result = evaluate_fn(
        bundle,
        client.holdout,
        batch_size=config.train.batch_size,
        device=device_for(config),
        max_length=config.data.max_length,
    )
    metrics = {"num-examples": float(result["num_examples"]), "eval_loss": float(result["loss"])}
    key = "accuracy" if config.data.task is Task.classification else "perplexity"
    metrics[f"eval_{key}"] = float(result[key])
    return ClientReply(client.client_id, None, metrics, None, "")


def _maybe_fail(client_id: str, server_round: int) -> None:
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
        cid, _, rnd = item.partition(":")
        if cid == client_id and rnd and int(rnd) == server_round:
            raise InjectedFault(f"injected fault: {client_id} crashes in round {server_round}")


__all__ = ["FAULT_ENV", "ClientReply", "InjectedFault", "device_for", "evaluate", "new_ledger_entry", "train"]

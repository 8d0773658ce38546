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
from federated.silo import SiloNode
from federated.types import GradSampleMode

log = logging.getLogger(__name__)

# Fault injection for resilience tests: "CLIENT_ID:ROUND[,CLIENT_ID:ROUND]" makes
# that client raise in that round's training, as a crashed silo would;
# "CLIENT_ID:ROUND:understate" makes it report half its epsilon.
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
    info: dict[str, Any] | None = None  # a silo's counts (ClientInfo JSON): the server has no other source


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


@lru_cache(maxsize=2)
def _silo_dataset(config_json: str, node: SiloNode) -> Any:
    from federated.silo import load_silo

    return load_silo(config_from_json(json.loads(config_json)), node)


def device_for(config: FederateConfig) -> str:
    from federated.task import resolve_device

    return resolve_device(config.train.device)


def _context(
    config_json: str, canaries_json: str, partition_id: int, num_partitions: int | None, node: SiloNode | None = None
) -> tuple[Any, Any, Any]:
    config = config_from_json(json.loads(config_json))
    if config.silos.enabled != (node is not None):
        raise RuntimeError(
            "this SuperNode was started with its own data (data-path), but the run is not a silo run ([silos])"
            if node is not None
            else "this is a silo run ([silos] enabled): start each SuperNode with its own data "
            "(guard federate node --data FILE --client-id ID)"
        )
    dataset = _silo_dataset(config_json, node) if node is not None else _dataset(config_json, canaries_json)
    if node is not None:
        partition_id, num_partitions = 0, None
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
    clipping = dp.grad_sample_mode
    if config.data.reweight_by and clipping == GradSampleMode.ghost.value:
        clipping = GradSampleMode.hooks.value  # reweighting scales per-sample gradients (federated.task)
    return ClientLedger(
        client_id=client_id,
        records=records,
        accountant=dp.accountant.value,
        delta=dp.delta if dp.delta is not None else default_delta(records),
        max_grad_norm=dp.max_grad_norm,
        clipping=clipping,  # what training uses: hooks for a person-level or reweighted run
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
    node: SiloNode | None = None,
) -> ClientReply:
    from federated.models import load_trainable_state, trainable_state
    from federated.task import train_client

    config, client, bundle = _context(config_json, canaries_json, partition_id, num_partitions, node)
    _maybe_fail(client.client_id, server_round)
    ledger = PrivacyLedger.from_json(json.loads(ledger_json)) if ledger_json else PrivacyLedger()
    entry = ledger.client(client.client_id) or new_ledger_entry(config, client.client_id, len(client.train))
    if entry.records != len(client.train):
        raise RuntimeError(
            f"{client.client_id}: the ledger's entry counts {entry.records} training records, this node has "
            f"{len(client.train)}: its data changed, or another node uses the same client id"
        )
    load_trainable_state(bundle.model, weights)
    dp = config.dp
    if node is not None:
        from federated.silo import node_noise

        planned = node_noise(config, node, client, entry.delta)
    else:
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
        entry = _maybe_misreport(entry, server_round)
    info = _silo_info(config_json, node)
    if result.stopped:
        from dataclasses import replace

        entry = replace(entry, exhausted=True, note=result.stopped)
        log.warning("%s did not train in round %d: %s", client.client_id, server_round, result.stopped)
        return ClientReply(client.client_id, None, {}, entry if config.dp.enabled else None, result.stopped, info)
    metrics = {"num-examples": float(result.num_examples), "train_loss": float(result.loss)}
    if config.data.task is Task.classification:
        metrics["train_accuracy"] = float(result.accuracy or 0.0)
    if result.epsilon is not None:  # no DP: no epsilon at all, never a misleading 0
        metrics["epsilon"] = float(result.epsilon)
    if result.reweight is not None:  # [data] reweight_by: the weights this client trained with (group values, counts)
        for cell in result.reweight.cells:
            key = f"reweight[{'/'.join(cell.group)}|{cell.label}]"
            metrics[f"{key}_weight"] = float(cell.weight)
            metrics[f"{key}_count"] = float(cell.count)
    return ClientReply(
        client.client_id, trainable_state(bundle.model), metrics, entry if config.dp.enabled else None, "", info
    )


def _silo_info(config_json: str, node: SiloNode | None) -> dict[str, Any] | None:
    """A silo's ClientInfo (counts per label, canary examples, persons; no text, no ids)."""
    if node is None:
        return None
    return dict(_silo_dataset(config_json, node).summary()["clients"][0])


def evaluate(
    *,
    config_json: str,
    canaries_json: str,
    weights: dict[str, Any],
    partition_id: int,
    num_partitions: int | None,
    node: SiloNode | None = None,
) -> ClientReply:
    from federated.models import load_trainable_state
    from federated.task import evaluate as evaluate_fn

    config, client, bundle = _context(config_json, canaries_json, partition_id, num_partitions, node)
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


def _faults(kind: str) -> set[tuple[str, int]]:
    """(client id, round) pairs of FAULT_ENV's items of `kind` ("" for a crash)."""
    out = set()
    for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
        cid, _, rest = item.partition(":")
        rnd, _, what = rest.partition(":")
        if rnd and what == kind:
            out.add((cid, int(rnd)))
    return out


def _maybe_fail(client_id: str, server_round: int) -> None:
    if (client_id, server_round) in _faults(""):
        raise InjectedFault(f"injected fault: {client_id} crashes in round {server_round}")


def _maybe_misreport(entry: ClientLedger, server_round: int) -> ClientLedger:
    """FAULT_ENV "CLIENT_ID:ROUND:understate": the client reports half the epsilon its
    history gives, as a dishonest or broken silo would (the server must reject it)."""
    if (entry.client_id, server_round) in _faults("understate"):
        from dataclasses import replace

        return replace(entry, epsilon=entry.epsilon / 2)
    return entry


__all__ = ["FAULT_ENV", "ClientReply", "InjectedFault", "device_for", "evaluate", "new_ledger_entry", "train"]

"""Flower ClientApp: turns messages into `federated.client` calls and back."""

from __future__ import annotations

import json
from typing import Any

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from federated import client, wire
from federated.silo import SiloNode

app = ClientApp()


def _partition(context: Context) -> tuple[int, int | None]:
    node = context.node_config
    if SiloNode.from_node_config(node) is not None:
        return 0, None  # a silo is its own single partition
    num = node.get("num-partitions")
    return int(node["partition-id"]), (int(num) if num is not None else None)


def _reply(msg: Message, reply: client.ClientReply) -> Message:
    guard = {wire.CLIENT_ID: reply.client_id, wire.STOPPED: reply.stopped}
    if reply.ledger_entry is not None:
        from dataclasses import asdict

        guard[wire.LEDGER_ENTRY] = json.dumps(asdict(reply.ledger_entry))
    if reply.info is not None:
        guard[wire.CLIENT_INFO] = json.dumps(reply.info)
    content = RecordDict({wire.GUARD_RECORD: ConfigRecord(guard)})
    if reply.state is not None:
        content["arrays"] = wire.to_arrays(reply.state)
    if reply.metrics:
        content["metrics"] = MetricRecord(reply.metrics)
    return Message(content, reply_to=msg)


def _common(msg: Message, context: Context) -> dict[str, Any]:
    """What a train and an evaluate message both carry: the run config, the canaries, the
    global weights, and this node's partition (or, in a silo run, its own data)."""
    cfg = msg.content["config"]
    partition_id, num_partitions = _partition(context)
    return {
        "config_json": str(cfg[wire.CONFIG]),
        "canaries_json": str(cfg[wire.CANARIES]),
        "weights": wire.from_arrays(msg.content["arrays"]),
        "partition_id": partition_id,
        "num_partitions": num_partitions,
        "node": SiloNode.from_node_config(context.node_config),
    }


@app.train()
def train(msg: Message, context: Context) -> Message:
    cfg = msg.content["config"]
    reply = client.train(
        **_common(msg, context),
        ledger_json=str(cfg[wire.LEDGER]),
        noise_json=str(cfg.get(wire.NOISE, "")),
        server_round=int(cfg[wire.ROUND]),
        proximal_mu=float(cfg.get("proximal-mu", 0.0)),
    )
    return _reply(msg, reply)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    return _reply(msg, client.evaluate(**_common(msg, context)))

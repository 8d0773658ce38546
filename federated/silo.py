"""A silo's side of a cross-silo run ([silos] enabled): the data never leaves the node.

Each SuperNode is started with its own file and a state directory it alone can read
(`guard federate node --data FILE --client-id ID --state-dir DIR`, which passes them as
Flower node config `data-path`, `client-id`, `state-dir`). The node reads only that file,
keeps its own held-out split, draws and inserts its own canaries (their secrets are
written to its state directory, never sent), and calibrates its own noise for its own
record count. The server sends the config and the ledger; it gets back weights, metrics,
the client's ledger entry and its counts (never a text, a secret or a path).

Per run (keyed by the config hash, which a resume keeps) the node keeps in
`STATE/run-<hash>/`: canaries.json (0600; the only copy of the secrets, what a node-side
`guard audit privacy` needs) and plan.json (the noise it calibrated, and its data file's
sha256: a file that changes during a run stops the node with an error naming it).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from federated.config import FederateConfig, Partition
from guard.core.errors import InputError, RunError

NODE_DATA = "data-path"
NODE_CLIENT = "client-id"
NODE_STATE = "state-dir"
CANARIES_FILE = "canaries.json"
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class SiloNode:
    """What a SuperNode's node config says about its silo."""

    data_path: Path
    client_id: str
    state_dir: Path

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Any]) -> SiloNode | None:
        """The silo of a node started with `data-path`; None for a node of a pooled run
        (`partition-id`). A silo node must also name its client id and state directory."""
        if not node_config.get(NODE_DATA):
            return None
        from federated.data import safe_client_id

        missing = [k for k in (NODE_CLIENT, NODE_STATE) if not str(node_config.get(k) or "").strip()]
        if missing:
            raise RunError(
                f"this SuperNode has {NODE_DATA} but no {' or '.join(missing)} in its node config",
                hint="start it with guard federate node --data FILE --client-id ID --state-dir DIR",
            )
        client_id = str(node_config[NODE_CLIENT])
        if safe_client_id(client_id) != client_id:
            raise RunError(
                f"client-id {client_id!r} must be lower-case letters, digits and hyphens",
                hint=f"e.g. {safe_client_id(client_id)!r}",
            )
        return cls(Path(str(node_config[NODE_DATA])), client_id, Path(str(node_config[NODE_STATE])))

    def run_state(self, config: FederateConfig) -> Path:
        """This node's private folder for the run of `config` (0700)."""
        path = self.state_dir / f"run-{config.config_hash()[:16]}"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunError(f"{path}: this node's run state is damaged ({type(e).__name__})") from e


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(f"cannot read this silo's data file ({e.strerror or type(e).__name__})", path=str(path)) from e
    return h.hexdigest()


def node_canaries(config: FederateConfig, node: SiloNode) -> list[Any]:
    """This silo's canaries: drawn once per run from a fresh random seed and kept only in
    its state directory. `[canaries] clients` lists the silos that insert canaries (empty:
    every silo inserts its own); reference canaries are drawn by every silo."""
    from federated.data import canaries_from_json, canaries_to_json, make_canaries
    from federated.rundir import write_private

    path = node.run_state(config) / CANARIES_FILE
    if path.is_file():
        return canaries_from_json(_read_json(path))
    cfg = config.canaries
    inserts = not cfg.clients or node.client_id in cfg.clients
    cfg = replace(cfg, clients=(node.client_id,), count=cfg.count if inserts else 0)
    canaries = make_canaries(cfg, client_ids=[node.client_id], seed=secrets.randbits(63))
    write_private(path, json.dumps(canaries_to_json(canaries), indent=1) + "\n")
    return canaries


def load_silo(config: FederateConfig, node: SiloNode) -> Any:
    """This silo's data (a one-client FederatedDataset): its file read with the run's
    [data] fields and holdout, its labels mapped to [silos] labels, its canaries inserted.
    Refuses a data file that changed since this node's first message of the run."""
    from federated.data import load_federated_dataset

    path = node.data_path
    if not path.is_file():
        raise InputError("this silo's data file does not exist or is not a file", path=str(path))
    digest = _file_sha256(path)
    plan = read_plan(config, node)
    if plan.get("data_sha256") not in (None, digest):
        raise RunError(
            f"{path}: this silo's data file changed since the run started on this node",
            hint="restore the file the run started with, or start a new run",
        )
    cfg = replace(config.data, path=str(path), partition=Partition.iid, num_clients=1, partition_field=None)
    labels = config.silos.labels or None
    dataset = load_federated_dataset(
        cfg, seed=config.train.seed, canaries=node_canaries(config, node), labels=labels, client_ids=(node.client_id,)
    )
    if "data_sha256" not in plan:
        write_plan(config, node, {**plan, "data_sha256": digest})
    return dataset


def read_plan(config: FederateConfig, node: SiloNode) -> dict[str, Any]:
    path = node.run_state(config) / PLAN_FILE
    return dict(_read_json(path)) if path.is_file() else {}


def write_plan(config: FederateConfig, node: SiloNode, plan: dict[str, Any]) -> None:
    from federated.rundir import write_private

    write_private(node.run_state(config) / PLAN_FILE, json.dumps(plan, indent=1, sort_keys=True) + "\n")


def node_noise(config: FederateConfig, node: SiloNode, client: Any, delta: float) -> float | None:
    """The noise multiplier this silo uses in every round: calibrated once for its own
    record (or person) count, the run's target and rounds, and kept in plan.json (a
    calibration takes seconds, and every message may be a fresh process). None without DP."""
    if not config.dp.enabled:
        return None
    from federated.task import dp_plan, noise_multiplier_for

    plan = read_plan(config, node)
    if "noise_multiplier" in plan:
        return float(plan["noise_multiplier"])
    _, _, persons = dp_plan(client.train, train=config.train, dp=config.dp)
    sigma = noise_multiplier_for(
        len(client.train), train=config.train, dp=config.dp, delta=delta, client_id=client.client_id, persons=persons
    )
    write_plan(config, node, {**plan, "noise_multiplier": sigma})
    return sigma


__all__ = ["NODE_CLIENT", "NODE_DATA", "NODE_STATE", "SiloNode", "load_silo", "node_canaries", "node_noise"]

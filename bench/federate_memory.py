"""Server memory for one round of `guard federate` with 10 vs 100 clients.

    .venv/bin/python bench/federate_memory.py                  # 10 and 100 clients, tiny-classifier dim 64
    .venv/bin/python bench/federate_memory.py --clients 10 50  # other client counts

What is measured, and what is not: only the server's own holding of one round's
replies. The real `federated.server.serve` (its `_exchange` and `_TrainReplies`)
runs one round of a run prepared by `prepare_run`, over a fake Grid whose
`pull_messages` makes each reply only when it is pulled: a real Flower reply
`Message` carrying an ArrayRecord of the model's whole trainable state
(tiny-classifier, dim 64: 30 tensors, about 8 MB of float32), a MetricRecord with
num-examples and guard's ConfigRecord, as a Grid hands over what has arrived.
The grid keeps nothing of a reply once it is handed over, so what grows is what
the server holds. No client trains, and neither a SuperLink nor Ray runs: their
memory is not the server's (in the Simulation Engine Flower's in-memory LinkState
holds the replies that have arrived until the server pulls them; with the
Deployment Engine that is the SuperLink's process).

Two paths, in the same run:
- running: this code; each reply's weights are folded into a running weighted sum
  (`federated.aggregate`) and the reply is let go.
- list (the baseline): the running aggregator switched off, so the server keeps
  every reply that trained and calls Flower's `FedAvg.aggregate_train` on the
  list; what the server did before, and still does under user-level DP.

Each (path, clients) runs in a fresh Python process. Window: from the push of the
training messages to the push of the evaluation messages (every training reply
received and aggregated, the new weights made). In it: the tracemalloc peak over
the traced memory at its start (numpy arrays and the replies' bytes are traced),
and the peak RSS growth (VmHWM, reset through /proc/self/clear_refs at the start,
minus the RSS then). Also the traced memory held just after the window.

The last line printed is one JSON object (`measure()`): an entry per target
`{"name": {"value": v, "baseline": b, "target": t, "ok": bool}}` where value is the
100-over-10 ratio of the running path and baseline the same ratio of the list
path, and "details" with every number in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "clinical_notes.jsonl"
TARGET = 1.2
MIB = 1024 * 1024
PATHS = ("running", "list")


# -- inside one measuring process ---------------------------------------------------------------


def _rss_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


class _Window:
    """tracemalloc peak and peak RSS from `start` to `stop`."""

    def __init__(self) -> None:
        self.result: dict[str, float] = {}
        self._traced0 = 0
        self._rss0 = 0

    def start(self) -> None:
        import tracemalloc

        try:
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # resets VmHWM to the RSS now
        except OSError:
            pass
        self._rss0 = _rss_kib("VmRSS")
        tracemalloc.reset_peak()
        self._traced0 = tracemalloc.get_traced_memory()[0]

    def stop(self) -> None:
        import tracemalloc

        if self.result or not self._rss0:
            return
        current, peak = tracemalloc.get_traced_memory()
        self.result = {
            "traced_peak_mib": (peak - self._traced0) / MIB,
            "traced_after_mib": (current - self._traced0) / MIB,
            "rss_growth_mib": (_rss_kib("VmHWM") - self._rss0) / 1024,
        }


class LazyReplyGrid:
    """A Grid for `serve` with `num_nodes` nodes whose replies are made only when pulled
    (see the module docstring); it starts and stops `window` around the training round."""

    def __init__(self, num_nodes: int, client_ids: list[str], window: _Window) -> None:
        self.num_nodes, self.client_ids, self.window = num_nodes, client_ids, window
        self.pending: dict[str, Any] = {}
        self.global_weights: dict[str, Any] = {}
        self.pushed = 0

    def get_node_ids(self) -> list[int]:
        return list(range(1, self.num_nodes + 1))

    def push_messages(self, messages: list[Any]) -> list[str]:
        from federated import wire

        messages = list(messages)
        kind = messages[0].metadata.message_type if messages else ""
        if kind == "train":
            self.global_weights = wire.from_arrays(messages[0].content["arrays"])  # the grid's, before the window
        ids = []
        for msg in messages:
            self.pushed += 1
            msg.metadata.__dict__["_message_id"] = f"m{self.pushed}"
            self.pending[f"m{self.pushed}"] = msg
            ids.append(f"m{self.pushed}")
        if kind == "train":
            self.window.start()
        elif kind == "evaluate":
            self.window.stop()
        return ids

    def pull_messages(self, message_ids: list[str]) -> list[Any]:
        return [self._reply(self.pending.pop(i)) for i in message_ids if i in self.pending]

    def _reply(self, msg: Any) -> Any:
        import numpy as np
        from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

        from federated import wire

        node = int(msg.metadata.dst_node_id)
        guard = ConfigRecord({wire.CLIENT_ID: self.client_ids[node - 1], wire.STOPPED: ""})
        if msg.metadata.message_type == "evaluate":
            metrics = MetricRecord({"num-examples": 5.0, "eval_loss": 1.0, "eval_accuracy": 0.5})
            return Message(RecordDict({wire.GUARD_RECORD: guard, "metrics": metrics}), reply_to=msg)
        shift = np.float32(node * 1e-4)  # each client's weights differ, as after local training
        arrays = wire.to_arrays({k: v + shift for k, v in self.global_weights.items()})
        metrics = MetricRecord({"num-examples": float(node % 7 + 3), "train_loss": 1.0, "train_accuracy": 0.5})
        return Message(RecordDict({wire.GUARD_RECORD: guard, "arrays": arrays, "metrics": metrics}), reply_to=msg)


def measure_one(path: str, clients: int, *, dim: int) -> dict[str, float]:
    """One round of the real server with `clients` lazy clients on `path` ("running" or "list")."""
    import tracemalloc

    from flwr.supercore.task_identity import TaskIdentity

    import federated.aggregate
    from federated.config import parse_config
    from federated.rundir import RunDir
    from federated.server import prepare_run, serve

    if path == "list":
        federated.aggregate.running_aggregator = lambda config, strategy: None  # what user-level DP runs get
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0  # as in a ServerApp process
    config = parse_config(
        {
            "data": {"path": str(CORPUS), "partition": "iid", "num_clients": clients, "max_length": 32},
            "model": {"name": "tiny-classifier", "params": {"dim": dim}},
            "train": {"rounds": 1},
            "dp": {"enabled": False, "target_epsilon": None},
        }
    )
    window = _Window()
    with tempfile.TemporaryDirectory(prefix="guard-bench-memory-") as tmp:
        run = RunDir(Path(tmp) / "run")
        prepare_run(config, run, resume=False)
        ids = [c.client_id for c in run.read_clients().clients]
        tracemalloc.start()
        serve(LazyReplyGrid(clients, ids, window), run)
        tracemalloc.stop()
        weights = run.load_checkpoint(1)
    return {**window.result, "reply_mib": sum(v.nbytes for v in weights.values()) / MIB}


# -- the driver ---------------------------------------------------------------------------------


def _child(path: str, clients: int, dim: int) -> dict[str, float]:
    env = {
        **os.environ,
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    out = subprocess.run(
        [sys.executable, __file__, "--one", path, str(clients), "--dim", str(dim)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{path} with {clients} clients failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(clients: tuple[int, int] = (10, 100), *, dim: int = 64) -> dict[str, Any]:
    """Server memory for one round with `clients[0]` vs `clients[1]` clients, running and
    list path; each number from its own fresh process (see the module docstring)."""
    few, many = clients
    details = {p: {n: _child(p, n, dim) for n in clients} for p in PATHS}

    def ratio(p: str, key: str) -> float:
        return round(details[p][many][key] / details[p][few][key], 3)

    out: dict[str, Any] = {}
    for name, key in (("server_traced_peak", "traced_peak_mib"), ("server_rss_growth", "rss_growth_mib")):
        value = ratio("running", key)
        out[f"{name}_{many}_vs_{few}_clients"] = {
            "value": value,
            "baseline": ratio("list", key),
            "target": TARGET,
            "ok": value <= TARGET,
        }
    out["details"] = {
        p: {str(n): {k: round(v, 1) for k, v in row.items()} for n, row in by_n.items()} for p, by_n in details.items()
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs=2, default=(10, 100), metavar=("FEW", "MANY"))
    parser.add_argument("--dim", type=int, default=64, help="tiny-classifier width (64: about 8 MB of weights)")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "CLIENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, n = args.one
        print(json.dumps(measure_one(path, int(n), dim=args.dim)))
        return
    result = measure(tuple(args.clients), dim=args.dim)
    for p, by_n in result["details"].items():
        for n, row in by_n.items():
            print(f"{p:8s} {n:>4s} clients: " + ", ".join(f"{k} {v}" for k, v in row.items()), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

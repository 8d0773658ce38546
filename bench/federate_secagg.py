"""What SecAgg+ costs: the same `guard federate` run with and without
`[secure_aggregation] enabled = true`.

    .venv/bin/python bench/federate_secagg.py           # 4 sites x 3 rounds, DP on (a few minutes on 2 cores)
    .venv/bin/python bench/federate_secagg.py --quick   # 2 rounds, for a smoke test
    .venv/bin/python bench/federate_secagg.py --quantization  # weights vs updates through SecAgg+'s arithmetic

The run: examples/clinical_notes.jsonl split by `site` (4 clients), the demo's model
(minilm, all-MiniLM-L6-v2 frozen, a linear head trained; `--model tiny`: the tiny
transformer, dim 32), 3 rounds x 3 local epochs, record-level DP-SGD at epsilon 8,
seed 0; each mode is one `guard federate` subprocess on Flower's Simulation Engine
(plain: the Message API ServerApp; SecAgg+: `federated.secagg`). Reported per mode:
the final round's held-out accuracy (example-weighted over the clients' holdouts)
and the median seconds of rounds 2..R (metrics.jsonl `seconds`: training, masking,
aggregation and evaluation; round 1 also starts the Ray actors and loads the model),
and their ratio secagg / plain. Run it alone: on two cores any other busy process
slows a round.
The last line printed is one JSON object (what `measure()` returns).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
# the demo's model: all-MiniLM-L6-v2 frozen, a linear head trained (it learns this task;
# the tiny transformer from scratch stays near chance at epsilon 8 in a few rounds)
MODELS = {
    "minilm": {"model": "minilm", "params": "{ train_layers = 0 }", "epochs": 3, "lr": 0.01},
    "tiny": {"model": "tiny-classifier", "params": "{ dim = 32 }", "epochs": 1, "lr": 0.003},
}

CONFIG = """\
[data]
path = "{notes}"
label_field = "label"
partition = "field"
partition_field = "site"
max_length = 48

[model]
name = "{model}"
params = {params}

[train]
rounds = {rounds}
local_epochs = {epochs}
batch_size = 16
lr = {lr}
seed = 0

[dp]
target_epsilon = 8.0

[secure_aggregation]
enabled = {secagg}
"""


def _config(*, rounds: int, secagg: bool, model: str) -> str:
    return CONFIG.format(notes=NOTES, rounds=rounds, secagg=str(secagg).lower(), **MODELS[model])


def _run(tmp: Path, *, secagg: bool, rounds: int, model: str) -> dict[str, Any]:
    name = "secagg" if secagg else "plain"
    config = tmp / f"{name}.toml"
    config.write_text(_config(rounds=rounds, secagg=secagg, model=model), encoding="utf-8")
    out = tmp / name
    env = {**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(config), "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"guard federate ({name}) exited {proc.returncode}: {proc.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    agg = [r for r in rows if r["phase"] == "aggregate"]
    return {
        "eval_accuracy": agg[-1]["evaluate"]["eval_accuracy"],
        "round_seconds": [r["seconds"] for r in agg],
        # round 1 also starts the Ray actors and loads the model (and caches frozen features)
        "median_round_seconds": statistics.median(r["seconds"] for r in agg[1:] or agg),
        "clients_trained": [r["clients_trained"] for r in agg],
    }


def measure(*, rounds: int = 3, model: str = "minilm") -> dict[str, Any]:
    """Both runs; round_time_ratio = SecAgg+ median round seconds (rounds 2..R) / plain."""
    with tempfile.TemporaryDirectory(prefix="guard-bench-secagg-") as tmp:
        plain = _run(Path(tmp), secagg=False, rounds=rounds, model=model)
        secure = _run(Path(tmp), secagg=True, rounds=rounds, model=model)
    return {
        "model": model,
        "rounds": rounds,
        "round_time_ratio": secure["median_round_seconds"] / plain["median_round_seconds"],
        "accuracy_plain": plain["eval_accuracy"],
        "accuracy_secagg": secure["eval_accuracy"],
        "plain": plain,
        "secagg": secure,
    }


def quantization_error(*, model: str = "tiny", clipping_ranges: tuple[float, ...] = (8.0, 1.0, 0.25)) -> dict[str, Any]:
    """Weights or updates through SecAgg+'s arithmetic: one real DP round of the four sites
    (in this process, `federated.client.train`), then Flower's own quantize / sum /
    dequantize (as `secaggplus_mod` and the workflow do; the masks cancel exactly) of
    (a) the trained weights and (b) the updates `trained - global`, at each clipping
    range that holds them, against exact FedAvg: the largest error per value, and the
    largest |value| each mode must fit in the range."""
    from flwr.common.secure_aggregation.quantization import dequantize, quantize

    from federated import client
    from federated.config import load_config
    from federated.models import trainable_state
    from federated.rundir import RunDir
    from federated.server import prepare_run
    from federated.types import SecureAggregationConfig

    with tempfile.TemporaryDirectory(prefix="guard-bench-secagg-q-") as tmp:
        path = Path(tmp) / "q.toml"
        path.write_text(_config(rounds=1, secagg=True, model=model), encoding="utf-8")
        run = RunDir(Path(tmp) / "run")
        config = prepare_run(load_config(path), run, resume=False)
        info = run.read_clients()
        config_json = json.dumps(config.to_json(), sort_keys=True)
        noise = json.dumps({cid: p["noise_multiplier"] for cid, p in info.privacy_plan.items()})
        canaries = run.canaries_file.read_text(encoding="utf-8")
        n = len(info.clients)
        start = trainable_state(client._context(config_json, canaries, 0, n)[2].model)  # the round's global weights
        replies = []
        for i in range(n):
            reply = client.train(
                config_json=config_json, canaries_json=canaries, ledger_json="", weights=start,
                noise_json=noise, server_round=1, partition_id=i, num_partitions=n,
            )  # fmt: skip
            replies.append((int(reply.metrics["num-examples"]), reply.state))
    keys = sorted(start)
    counts = np.array([c for c, _ in replies], dtype=np.float64)
    modes = {
        "weights": [np.concatenate([s[k].ravel() for k in keys]).astype(np.float64) for _, s in replies],
        "updates": [np.concatenate([(s[k].astype(np.float64) - start[k]).ravel() for k in keys]) for _, s in replies],
    }
    out: dict[str, Any] = {"clients": n, "values": int(modes["weights"][0].size)}
    for mode, vectors in modes.items():
        exact = sum(c * v for c, v in zip(counts, vectors, strict=True)) / counts.sum()
        peak = max(float(np.max(np.abs(v))) for v in vectors)
        out[f"{mode}_peak"] = peak
        for c_range in clipping_ranges:
            if peak > c_range:
                out[f"{mode}_error_at_{c_range:g}"] = None  # would be clipped: refused
                continue
            sa = SecureAggregationConfig(enabled=True, clipping_range=c_range)
            r = [round(c / sa.max_weight * sa.quantization_range) for c in counts]
            total = None
            for ri, v in zip(r, vectors, strict=True):
                q = quantize([v * (ri / sa.quantization_range)], c_range, sa.quantization_range)[0].astype(np.int64)
                total = q if total is None else total + q
            agg = dequantize([total], c_range, sa.quantization_range)[0]
            agg = (agg - (n - 1) * c_range) * (sa.quantization_range / sum(r))
            out[f"{mode}_error_at_{c_range:g}"] = float(np.max(np.abs(agg - exact)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 3")
    parser.add_argument("--quantization", action="store_true", help="only the weights-vs-updates error")
    parser.add_argument("--model", choices=sorted(MODELS), default=None)
    args = parser.parse_args()
    if args.quantization:
        print(json.dumps(quantization_error(model=args.model or "tiny")))
        return
    print(json.dumps(measure(rounds=2 if args.quick else 3, model=args.model or "minilm")))


if __name__ == "__main__":
    main()

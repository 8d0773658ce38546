"""Utility of DP-SGD on real text: held-out accuracy with DP (epsilon 8) and without.

    .venv/bin/python bench/federate_utility.py                    # both runs (bench/configs/federate_utility.toml)
    .venv/bin/python bench/federate_utility.py --set train.lr=0.003 --validate   # tuning run

Runs `guard federate` twice with the same data split, model, schedule and seed,
once as configured (DP-SGD, [dp] target_epsilon) and once with [dp] enabled =
false, and reads each run's held-out accuracy from its metrics (the last
aggregate `evaluate` row: example-weighted over the clients' holdouts).
Target (the issue's): the DP accuracy within 5 points of the non-DP one.

`--validate` tunes without touching the reported holdout: it writes the
training records of the configured split (every client's train part, nothing
of any holdout) to a temp file and runs the same federation on that, whose own
holdout is then the validation set.

The last line printed is one JSON object:
`{"dp_utility_gap_points": {"value": gap, "baseline": nonDP accuracy, "target": 5, "ok": bool}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "redditbias_topics.jsonl"
CONFIG = ROOT / "bench" / "configs" / "federate_utility.toml"
GUARD = str(Path(sys.executable).parent / "guard")
TARGET_POINTS = 5.0


def _run(tmp: Path, name: str, config: Path, overrides: list[str]) -> dict[str, Any]:
    run = tmp / name
    cmd = [GUARD, "federate", "--config", str(config), "--out", str(run), "--json"]
    for item in overrides:
        cmd += ["--set", item]
    env = {**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{name}: guard federate exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    agg = [r for r in rows if r["phase"] == "aggregate"]
    last = agg[-1]
    out = {
        "name": name,
        "seconds": seconds,
        "rounds": len(agg),
        "accuracy": last["evaluate"]["eval_accuracy"],
        "eval_examples": last["evaluate"]["num_examples"],
        "per_round_accuracy": [r["evaluate"]["eval_accuracy"] for r in agg],
        "epsilon": last["train"].get("epsilon_max"),
        "train_loss": last["train"].get("train_loss"),
    }
    clients = json.loads((run / "clients.json").read_text(encoding="utf-8"))
    out["clients"] = [(c["client_id"], c["train"], c["holdout"]) for c in clients["summary"]["clients"]]
    out["noise"] = {k: round(v["noise_multiplier"], 3) for k, v in clients.get("privacy_plan", {}).items()}
    shutil.rmtree(run, ignore_errors=True)
    return out


def _validation_file(tmp: Path, config: Path, overrides: list[str]) -> Path:
    """The configured split's training records only (no holdout record), as a new JSONL corpus."""
    from federated.config import load_config
    from federated.data import load_federated_dataset

    cfg = load_config(config, overrides=overrides)
    dataset = load_federated_dataset(cfg.data, seed=cfg.train.seed)
    lines = {e.line for c in dataset.clients for e in c.train}
    src = Path(cfg.data.path).read_text(encoding="utf-8").splitlines()
    path = tmp / "train_only.jsonl"
    path.write_text("\n".join(src[i - 1] for i in sorted(lines)) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value (both runs)")
    parser.add_argument("--validate", action="store_true", help="run on the training records only (tuning)")
    parser.add_argument("--only", choices=["dp", "nodp"], default=None, help="run one of the two")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="guard-bench-utility-"))
    try:
        overrides = [f"data.path={json.dumps(str(DATA))}", *args.overrides]
        if args.validate:
            overrides.append(f"data.path={json.dumps(str(_validation_file(tmp, args.config, overrides)))}")
        runs = {}
        if args.only != "nodp":
            runs["dp"] = _run(tmp, "dp", args.config, overrides)
        if args.only != "dp":
            runs["nodp"] = _run(tmp, "nodp", args.config, [*overrides, "dp.enabled=false"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    from federated.config import load_config

    cfg = load_config(args.config, overrides=overrides)
    d, t, dp = cfg.data, cfg.train, cfg.dp
    print(
        f"DP utility on {Path(d.path).name if not args.validate else 'the training records (validation)'}: "
        f"{d.num_clients} clients, {d.partition.value}"
        f"{f' alpha {d.alpha:g}' if d.partition.value == 'dirichlet' else ''}, {cfg.model.name} {cfg.model.params}, "
        f"{t.rounds} rounds x {t.local_epochs} epoch, batch {t.batch_size}, {t.optimizer} lr {t.lr:g}, seed {t.seed}; "
        f"DP: epsilon {dp.target_epsilon:g}, max_grad_norm {dp.max_grad_norm:g}, {dp.clipping}, {dp.accountant.value}"
    )
    any_run = next(iter(runs.values()))
    print("clients (id, train, holdout): " + ", ".join(f"{c} {n}/{h}" for c, n, h in any_run["clients"]))
    if "dp" in runs:
        print("noise multipliers: " + ", ".join(f"{k} {v}" for k, v in runs["dp"]["noise"].items()))
    print(f"  {'run':<8}{'accuracy':>10}{'epsilon':>9}{'seconds':>9}  per-round held-out accuracy")
    for key, r in runs.items():
        eps = f"{r['epsilon']:.2f}" if r["epsilon"] is not None else "-"
        print(
            f"  {key:<8}{r['accuracy']:>10.4f}{eps:>9}{r['seconds']:>9.1f}  "
            + " ".join(f"{a:.4f}" for a in r["per_round_accuracy"])
        )
    result: dict[str, Any] = {}
    if "dp" in runs and "nodp" in runs:
        gap = 100 * (runs["nodp"]["accuracy"] - runs["dp"]["accuracy"])
        print(
            f"gap: {gap:.2f} points (target <= {TARGET_POINTS:g}); total {sum(r['seconds'] for r in runs.values()):.0f} s"
        )
        result["dp_utility_gap_points"] = {
            "value": round(gap, 2),
            "baseline": round(100 * runs["nodp"]["accuracy"], 2),
            "target": TARGET_POINTS,
            "ok": bool(gap <= TARGET_POINTS),
            "dp_accuracy": round(100 * runs["dp"]["accuracy"], 2),
            "epsilon": round(runs["dp"]["epsilon"], 3),
            "validation": args.validate,
        }
    print()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Fairness mitigation in federated training: group-by-label reweighting and counterfactual
augmentation against a baseline, on a federated DP text run (issue 17, acceptance 2b).

    OMP_NUM_THREADS=1 .venv/bin/python bench/fairness_training.py            # three runs, about 6 min of CPU
    .venv/bin/python bench/fairness_training.py --keep /tmp/ft               # keep the run directories
    .venv/bin/python bench/fairness_training.py --keep /tmp/ft --reuse       # audit the kept runs again

Data: the example clinical notes (examples/clinical_notes.jsonl; sensitive field `sex`).
They are split once, by patient (seed 0), into a training file and a test file that no
run ever trains or tunes on; the training file gets a `silo` field (two silos: the first
two sites in sorted order and the other two), so each run is a two-silo federation.
Runs, all with the same model (frozen all-MiniLM-L6-v2, linear head), schedule, seed and
record-level DP-SGD at epsilon 8 per client (PRV accountant):

    A  baseline
    B  reweighted:  [data] reweight_by = ["sex"]  (w(g, y) = P(g) P(y) / P(g, y) per client)
    C  augmented:   `guard augment` (gender + name_gender axes, `sex` swapped) on the training file

Each run is audited on the same test file with `guard audit fairness` (library call,
--sensitive sex, 1000 bootstrap replicates): the demographic parity difference (the
largest over the five classes of the selection-rate gap between F and M) with its
95% interval, and accuracy. The change against A is bootstrapped PAIRED: the same
resampled test records (stratified by sex) score both models, so the interval of
gap(B) - gap(A) says whether the change is real (it is when the interval excludes 0).
The ledgers of A and B are compared entry by entry: reweighting must leave them equal.
The test labels' own gap (what a perfect classifier would show) is printed beside them:
demographic parity below it can only come with errors.

Not tuned: the configuration below was fixed before any run; nothing is chosen on the test file.

Last line: one JSON object, e.g.
`{"parity_gap_reweighted": {"value": gapB, "baseline": gapA, "target": "paired 95% CI of gapB - gapA below 0",
  "ok": bool}, "parity_gap_augmented": {...}, "ledger_unchanged_by_reweighting": {...}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's audits/ and guard/, as the `guard` subprocesses use
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
SENSITIVE = "sex"
TEST_SHARE = 0.25
N_BOOT = 1000
SEED = 0

CONFIG = """
[data]
path = "{path}"
label_field = "label"
partition = "field"
partition_field = "silo"
person_field = "patient_id"
holdout = 0.1
max_length = 64
{reweight}

[model]
name = "minilm"
params = {{ train_layers = 0 }}

[train]
rounds = 3
local_epochs = 2
batch_size = 16
lr = 0.01
seed = 0

[dp]
enabled = true
target_epsilon = 8.0
max_grad_norm = 1.0
accountant = "prv"
"""


def split(work: Path) -> tuple[Path, Path]:
    """train.jsonl (with a two-valued `silo` field) and test.jsonl, split by patient."""
    rows = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    patients = sorted({r["patient_id"] for r in rows})
    rng = np.random.default_rng([SEED, 17])
    test_patients = set(rng.choice(patients, size=round(TEST_SHARE * len(patients)), replace=False).tolist())
    sites = sorted({r["site"] for r in rows})
    north = set(sites[: len(sites) // 2])
    train, test = work / "train.jsonl", work / "test.jsonl"
    with train.open("w", encoding="utf-8") as tr, test.open("w", encoding="utf-8") as te:
        for r in rows:
            if r["patient_id"] in test_patients:
                te.write(json.dumps(r) + "\n")
            else:
                tr.write(json.dumps({**r, "silo": "north" if r["site"] in north else "south"}) + "\n")
    return train, test


def guard(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "guard", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        sys.exit(f"guard {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def federate(work: Path, name: str, data: Path, *, reweight: bool, reuse: bool = False) -> Path:
    out = work / name
    if reuse and (out / "ledger.json").is_file() and (out / "model").is_dir():
        return out
    config = work / f"{name}.toml"
    config.write_text(
        CONFIG.format(path=data, reweight=f'reweight_by = ["{SENSITIVE}"]' if reweight else ""), encoding="utf-8"
    )
    shutil.rmtree(out, ignore_errors=True)
    guard("federate", "-c", str(config), "--out", str(out), "--json")
    return out


def audit(run: Path, test: Path) -> dict[str, Any]:
    """The fairness audit's demographic parity finding and the model's predictions on the test file."""
    from audits._models import load_for_audit
    from audits.fairness import FairnessCheck, run_fairness_audit

    report = run_fairness_audit(
        run, sensitive=[SENSITIVE], data=test, label_field="label", n_boot=N_BOOT, counterfactual=False, seed=SEED
    )
    found = report.find(FairnessCheck.DEMOGRAPHIC_PARITY, "difference")
    finding = found[0] if isinstance(found, list) else found
    loaded, records = load_for_audit(run, data=test, sensitive=[SENSITIVE], label_field="label")
    proba = np.asarray(loaded.predict_proba(records.inputs()))
    return {
        "gap": float(finding.value),
        "ci95": [float(v) for v in finding.evidence["ci95"]],
        "pred": proba.argmax(1),
        "y": np.asarray(records.y),
        "group": records.sensitive[SENSITIVE].astype(str).to_numpy(),
        "classes": len(loaded.classes),
    }


def parity_gap(pred: np.ndarray, group: np.ndarray, classes: int) -> float:
    """Largest over classes of max - min selection rate over the groups (the audit's multi-class gap)."""
    names = np.unique(group)
    worst = 0.0
    for c in range(classes):
        rates = [float((pred[group == g] == c).mean()) for g in names]
        worst = max(worst, max(rates) - min(rates))
    return worst


def paired(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """gap and accuracy of b minus a, with paired stratified-bootstrap 95% intervals."""
    rng = np.random.default_rng([SEED, 23])
    group, y = a["group"], a["y"]
    strata = [np.flatnonzero(group == g) for g in np.unique(group)]
    d_gap, d_acc = [], []
    for _ in range(N_BOOT):
        idx = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        ga = parity_gap(a["pred"][idx], group[idx], a["classes"])
        gb = parity_gap(b["pred"][idx], group[idx], b["classes"])
        d_gap.append(gb - ga)
        d_acc.append(float((b["pred"][idx] == y[idx]).mean() - (a["pred"][idx] == y[idx]).mean()))
    point_gap = parity_gap(b["pred"], group, b["classes"]) - parity_gap(a["pred"], group, a["classes"])
    point_acc = float((b["pred"] == y).mean() - (a["pred"] == y).mean())
    return {
        "gap_change": point_gap,
        "gap_change_ci95": [float(np.quantile(d_gap, 0.025)), float(np.quantile(d_gap, 0.975))],
        "accuracy_change": point_acc,
        "accuracy_change_ci95": [float(np.quantile(d_acc, 0.025)), float(np.quantile(d_acc, 0.975))],
    }


def ledger(run: Path) -> list[dict[str, Any]]:
    from guard.core.ledger import PrivacyLedger

    data = PrivacyLedger.from_json(json.loads((run / "ledger.json").read_text(encoding="utf-8")))
    return [
        {
            "client": c.client_id,
            "epsilon": c.epsilon,
            "history": [(s.noise_multiplier, s.sample_rate, s.steps) for s in c.history],
        }
        for c in data.clients
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Keep the data and run directories here.")
    parser.add_argument("--reuse", action="store_true", help="With --keep: audit the finished runs there again.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="guard-fair-train-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        train, test = split(work)
        augmented = work / "train_augmented.jsonl"
        made = guard(
            "augment",
            str(train),
            "--out",
            str(augmented),
            "--axis",
            "gender",
            "--axis",
            "name_gender",
            "--swap-field",
            "sex:gender:M=male,F=female",
            "--seed",
            str(SEED),
            "--json",
        )
        aug_counts = json.loads(made.stdout)
        runs = {
            "A baseline": federate(work, "A", train, reweight=False, reuse=args.reuse),
            "B reweighted": federate(work, "B", train, reweight=True, reuse=args.reuse),
            "C augmented": federate(work, "C", augmented, reweight=False, reuse=args.reuse),
        }
        audits = {name: audit(run, test) for name, run in runs.items()}
        base = audits["A baseline"]
        rows = []
        print(
            f"test: {len(base['y'])} notes of held-out patients; augmentation added {aug_counts['copies']} copies "
            f"to {aug_counts['records_read']} training notes"
        )
        print(
            f"{'run':14} {'DP gap':>7} {'95% CI':>17} {'accuracy':>9} {'gap - A (paired 95% CI)':>34} "
            f"{'acc - A (paired 95% CI)':>32}"
        )
        for name, a in audits.items():
            acc = float((a["pred"] == a["y"]).mean())
            change = paired(base, a) if a is not base else None
            rows.append((name, a, acc, change))
            gap_change = (
                f"{change['gap_change']:+.3f} [{change['gap_change_ci95'][0]:+.3f}, "
                f"{change['gap_change_ci95'][1]:+.3f}]"
                if change
                else "-"
            )
            acc_change = (
                f"{change['accuracy_change']:+.3f} [{change['accuracy_change_ci95'][0]:+.3f}, "
                f"{change['accuracy_change_ci95'][1]:+.3f}]"
                if change
                else "-"
            )
            print(
                f"{name:14} {a['gap']:7.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] {acc:9.3f} "
                f"{gap_change:>34} {acc_change:>32}"
            )
        label_gap = parity_gap(base["y"], base["group"], base["classes"])
        print(f"the test labels' own gap (a perfect classifier's): {label_gap:.3f}")
        la, lb, lc = ledger(runs["A baseline"]), ledger(runs["B reweighted"]), ledger(runs["C augmented"])
        same = la == lb
        for name, entries in (("A", la), ("B", lb), ("C", lc)):
            print(f"ledger {name}: " + ", ".join(f"{e['client']} epsilon {e['epsilon']:.6f}" for e in entries))
        print(f"ledger A == ledger B (epsilon, noise, sample rate, steps per round): {same}")
        out: dict[str, Any] = {}
        for key, name in (("parity_gap_reweighted", "B reweighted"), ("parity_gap_augmented", "C augmented")):
            _, a, acc, change = next(r for r in rows if r[0] == name)
            out[key] = {
                "value": round(a["gap"], 4),
                "baseline": round(base["gap"], 4),
                "target": "paired 95% CI of the gap change below 0",
                "ok": bool(change["gap_change_ci95"][1] < 0),
                "gap_change_ci95": [round(v, 4) for v in change["gap_change_ci95"]],
                "accuracy_change": round(change["accuracy_change"], 4),
            }
        for entry in (out["parity_gap_reweighted"], out["parity_gap_augmented"]):
            entry["test_label_gap"] = round(label_gap, 4)
        out["ledger_unchanged_by_reweighting"] = {
            "value": max(e["epsilon"] for e in lb),
            "baseline": max(e["epsilon"] for e in la),
            "target": "equal",
            "ok": same,
        }
        print(json.dumps(out))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

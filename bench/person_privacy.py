"""Person-level privacy on the example clinical notes (issue 14, acceptance 4): what
a membership attack on whole patients and person-level canaries find without DP,
with record-level DP-SGD at epsilon 8 and with person-level DP-SGD at epsilon 8.

    .venv/bin/python bench/person_privacy.py --out DIR            # about 10-15 min alone on 2 cores
    .venv/bin/python bench/person_privacy.py --out DIR --quick    # a few minutes: checks the wiring

The corpus is examples/clinical_notes.jsonl after `guard scrub` (examples/policy.toml,
the demo's public key unless $GUARD_KEY is set) and `guard dedup`, as `guard demo`
prepares it. Each run is `guard federate` with the demo's config
(examples/demo_federate.toml: frozen all-MiniLM-L6-v2 with a linear head, 4 sites,
4 rounds x 3 local epochs, canaries at 1 and 8 repeats plus unused references) and
`[data] person_field = "patient_id"` (the holdout is split by patient, so a patient
is all in or all out), without the demo's second, non-DP training:
- no DP: `dp.enabled = false`;
- record eps 8: the demo's record-level DP-SGD, epsilon 8 per client;
- person eps 8: `[dp] unit = "patient_id"`, person-level DP-SGD at epsilon 8 per client.
Each run gets `guard audit privacy` (library: `guard.audit.privacy`, in this process so
the frozen encoder's features are computed once for all three) with --references
reference models: person-level membership inference (a patient's score is the mean of
their notes' scores; loss attack and LiRA whose reference models take or leave a
patient whole), the record-level attacks beside them, canary exposure (each canary's
copies are one synthetic patient, so a canary at 8 repeats is a patient with 8 notes)
and the empirical epsilon. Held-out accuracy is the federated evaluation of the last
round (metrics.jsonl). Runs and audits already in DIR are reused, so the table can be
re-printed.

About 48 patients are held out (holdout 0.25): TPR at 1% FPR is then the share of
member patients scoring above every held-out patient (1/48 > 1%: not resolved below
that), which the table shows as it is.
Targets: the person-level epsilon-8 run's person-level membership TPR at 1% FPR
(worst attack) <= 0.05, its held-out accuracy >= 0.9, and its empirical epsilon not
above its claim. The last line is one JSON object with an entry per target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _measure import ROOT

from guard.core.errors import ExitCode

CORPUS = ROOT / "examples" / "clinical_notes.jsonl"
POLICY = ROOT / "examples" / "policy.toml"
CONFIG = ROOT / "examples" / "demo_federate.toml"
DEMO_KEY = "guard-demo-key-not-secret-0000000000"  # the Makefile's public demo key, never for real data
PERSON = "patient_id"
BASE = [f'data.person_field="{PERSON}"', "dp.compare_without_dp=false"]
RUNS: dict[str, list[str]] = {
    "no DP": ["dp.enabled=false"],
    "record eps 8": [],  # the demo's DP: record level, epsilon 8
    "person eps 8": [f'dp.unit="{PERSON}"'],
}
QUICK_SETS = ["train.rounds=1", "train.local_epochs=1", "canaries.references=4"]
QUICK_AUDIT = {"exposure_samples": 200, "bootstrap": 20}
TARGETS = {"person_tpr_at_1pct_fpr": 0.05, "accuracy": 0.9}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "GUARD_KEY": os.environ.get("GUARD_KEY") or DEMO_KEY,
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "PYTHONHASHSEED": "0",
        "HF_HUB_OFFLINE": "1",
    }


def _guard(args: list[str], *, log: Path) -> float:
    """`guard ARGS`, output to `log`; its wall time. Stops the bench on a failure."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        rc = subprocess.run(
            [sys.executable, "-m", "guard", *args], cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT
        ).returncode
    if rc != ExitCode.OK:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise SystemExit(f"guard {args[0]} exited {rc} (log: {log}):\n{tail}")
    return round(time.perf_counter() - start, 1)


def _write_json(path: Path, data: Any) -> None:
    """Atomic: a temp file in the same folder, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _corpus(out: Path) -> Path:
    """The scrubbed, deduplicated notes (made once)."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    scrubbed, deduped = data / "notes.scrubbed.jsonl", data / "notes.dedup.jsonl"
    if not deduped.is_file():
        print("scrub + dedup", file=sys.stderr, flush=True)
        _guard(["scrub", str(CORPUS), str(scrubbed), "--policy", str(POLICY), "--workers", "1"], log=data / "scrub.log")
        _guard(["dedup", str(scrubbed), str(deduped)], log=data / "dedup.log")
    return deduped


def _train(name: str, run: Path, corpus: Path, sets: list[str]) -> float | None:
    """`guard federate` unless the run is there; its wall time (None when reused)."""
    if (run / "model").is_dir():
        return None
    print(f"training {name} -> {run}", file=sys.stderr, flush=True)
    args = ["federate", "--config", str(CONFIG), "--out", str(run), "--set", f"data.path={json.dumps(str(corpus))}"]
    for item in sets:
        args += ["--set", item]
    return _guard(args, log=run.parent / f"{run.name}.federate.log")


def _audit(name: str, run: Path, *, references: int, quick: bool, device: str) -> float | None:
    out = run / "audit_privacy.json"
    if out.is_file():
        return None
    from guard import audit

    print(f"auditing {name} (LiRA with {references} reference models)", file=sys.stderr, flush=True)
    start = time.perf_counter()
    options = {**(QUICK_AUDIT if quick else {}), "references": references, "device": device}
    audit.privacy(run, checks=["exposure", "membership", "reference"], out=out, **options)
    return round(time.perf_counter() - start, 1)


def _accuracy(run: Path) -> float | None:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    last = [r for r in rows if r.get("phase") == "aggregate"][-1]
    return last.get("evaluate", {}).get("eval_accuracy")


def _value(findings: list[dict[str, Any]], check: str, metric: str, group: str | None = None) -> float | None:
    for f in findings:
        if f["check"] == check and f["metric"] == metric and f["group"] == group:
            return f["value"]
    return None


def _finding(findings: list[dict[str, Any]], check: str, metric: str) -> dict[str, Any] | None:
    return next((f for f in findings if f["check"] == check and f["metric"] == metric), None)


ROWS = [  # label, check, metric, group
    ("claimed epsilon (largest client)", "claimed_epsilon", "epsilon", None),
    ("person MI, loss: AUC", "membership_person_loss", "auc", None),
    ("person MI, loss: TPR @ 1% FPR", "membership_person_loss", "tpr_at_0.01_fpr", None),
    ("person MI, LiRA: AUC", "membership_person_reference", "auc", None),
    ("person MI, LiRA: TPR @ 1% FPR", "membership_person_reference", "tpr_at_0.01_fpr", None),
    ("record MI, loss: AUC", "membership_loss", "auc", None),
    ("record MI, loss: TPR @ 1% FPR", "membership_loss", "tpr_at_0.01_fpr", None),
    ("record MI, LiRA: AUC", "membership_reference", "auc", None),
    ("record MI, LiRA: TPR @ 1% FPR", "membership_reference", "tpr_at_0.01_fpr", None),
    ("canary exposure, 1 note (mean bits)", "canary_exposure", "mean_exposure", "repeats=1"),
    ("canary exposure, 8 notes (mean bits)", "canary_exposure", "mean_exposure", "repeats=8"),
    ("canary exposure, 8 notes (max bits)", "canary_exposure", "max_exposure", "repeats=8"),
    ("canary exposure, unused (mean bits)", "canary_exposure", "mean_exposure", "reference"),
    ("empirical epsilon (lower bound)", "empirical_epsilon", "lower_bound", None),
]


def _row(label: str, cells: list[str]) -> None:
    print(f"{label:40}" + "".join(f"{c:>15}" for c in cells))


def _print_table(table: dict[str, dict[str, Any]]) -> None:
    names = list(table)
    _row("", names)
    _row("DP unit", [t["unit"] for t in table.values()])
    _row("held-out accuracy", [f"{t['accuracy']:.3f}" for t in table.values()])
    for label, check, metric, group in ROWS:
        cells = []
        for n in names:
            v = _value(table[n]["findings"], check, metric, group)
            cells.append("-" if v is None else f"{v:.3f}")
        _row(label, cells)
    for check, what in (("membership_person_loss", "person TPR @ 1% FPR, 95% CI"),):
        cells = []
        for n in names:
            f = _finding(table[n]["findings"], check, "tpr_at_0.01_fpr")
            cells.append("-" if f is None else "[{:.2f}, {:.2f}]".format(*f["evidence"]["ci95"]))
        _row(what, cells)
    counts = []
    for n in names:
        f = _finding(table[n]["findings"], "membership_person_loss", "auc")
        counts.append("-" if f is None else f"{f['evidence']['members']} / {f['evidence']['non_members']}")
    _row("patients audited (members / held out)", counts)
    _row("train / audit seconds", [f"{t['seconds']['train']} / {t['seconds']['audit']}" for t in table.values()])
    for n in names:
        claim = _finding(table[n]["findings"], "claimed_epsilon", "epsilon")
        if claim is not None and claim.get("message"):
            print(f"{n}: {claim['message']}")


def _worst_person_tpr(findings: list[dict[str, Any]]) -> float:
    values = [
        _value(findings, check, "tpr_at_0.01_fpr")
        for check in ("membership_person_loss", "membership_person_reference")
    ]
    found = [v for v in values if v is not None]
    return max(found) if found else float("nan")


def _summary(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    person = table["person eps 8"]
    tpr = _worst_person_tpr(person["findings"])
    accuracy = float("nan") if person["accuracy"] is None else float(person["accuracy"])
    claimed = _value(person["findings"], "claimed_epsilon", "epsilon")
    bound = _value(person["findings"], "empirical_epsilon", "lower_bound")
    return {
        "person_eps8_person_tpr_at_1pct_fpr": {
            "value": tpr,
            "baseline": _worst_person_tpr(table["no DP"]["findings"]),
            "target": TARGETS["person_tpr_at_1pct_fpr"],
            "ok": bool(tpr <= TARGETS["person_tpr_at_1pct_fpr"]),
        },
        "person_eps8_accuracy": {
            "value": accuracy,
            "baseline": table["no DP"]["accuracy"],
            "target": TARGETS["accuracy"],
            "ok": bool(accuracy >= TARGETS["accuracy"]),
        },
        "person_eps8_empirical_below_claimed": {
            "value": bound,
            "baseline": claimed,
            "target": claimed,
            "ok": bool(bound is not None and claimed is not None and bound <= claimed),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="runs, audits and logs (reused when there)")
    parser.add_argument("--references", type=int, default=8, help="LiRA reference models (even; 0 skips)")
    parser.add_argument("--device", default="auto", help="audit device: auto, cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="1 round, fewer exposure samples: checks the wiring only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    corpus = _corpus(args.out)
    table: dict[str, dict[str, Any]] = {}
    for name, sets in RUNS.items():
        run = args.out / name.replace(" ", "-")
        run.parent.mkdir(parents=True, exist_ok=True)
        seconds_file = run.parent / f"{run.name}.seconds.json"
        seconds = json.loads(seconds_file.read_text(encoding="utf-8")) if seconds_file.is_file() else {}
        took = _train(name, run, corpus, [*BASE, *sets, *(QUICK_SETS if args.quick else [])])
        if took is not None:
            seconds["train"] = took
        took = _audit(name, run, references=args.references, quick=args.quick, device=args.device)
        if took is not None:
            seconds["audit"] = took
        _write_json(seconds_file, seconds)
        findings = json.loads((run / "audit_privacy.json").read_text(encoding="utf-8"))["findings"]
        claim = _finding(findings, "claimed_epsilon", "epsilon") or {"evidence": {}}
        table[name] = {
            "findings": findings,
            "accuracy": _accuracy(run),
            "unit": claim["evidence"].get("unit", "record") if claim["evidence"].get("dp_enabled") else "no DP",
            "seconds": {k: seconds.get(k, "-") for k in ("train", "audit")},
        }
    _print_table(table)
    print(
        f"corpus: {corpus.name}; {'quick: ' if args.quick else ''}total {(time.perf_counter() - started) / 60:.1f} min"
    )
    print(json.dumps(_summary(table)))


if __name__ == "__main__":
    main()

"""Issue 4's acceptance table: the privacy audit on the same causal LM trained
without DP, at epsilon 8 and at epsilon 1.

    .venv/bin/python bench/privacy_acceptance.py --out DIR [--references 4] [--dp-references 2]

tiny-gpt fine-tuned by `guard federate` on 1,200 real Reddit comments
(bench/configs/audit_privacy.toml: 2 silos, half of each held out as
non-members, 4 canaries at each of 1, 4 and 16 repeats, 12 unused reference
canaries, 6-digit secrets). Each run gets two audits: exposure, loss attack and
extraction (RUN/audit_privacy.json), and LiRA alone (RUN/audit_lira.json) with
--references models for the run without DP and --dp-references for the DP runs
(whose reference models train with DP-SGD, the costliest part). Runs and
findings already in DIR are reused, so the table can be re-printed.
Expected: exposure rising with repeats and membership TPR at 1% FPR well above
1% without DP; both falling toward chance with DP; the empirical epsilon below
the claimed one in every DP run.
The last line is one JSON object with an entry per target.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _measure import ROOT

CONFIG = ROOT / "bench" / "configs" / "audit_privacy.toml"
RUNS = {
    "no DP": [],
    "eps 8": ["--set", "dp.enabled=true", "--set", "dp.target_epsilon=8"],
    "eps 1": ["--set", "dp.enabled=true", "--set", "dp.target_epsilon=1"],
}


def _guard(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "guard", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 13):  # 13: the audit flagged a privacy bug, findings written
        raise SystemExit(f"guard {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def _audit_privacy(run: Path, out: Path, *checks: str) -> None:
    """`guard audit privacy RUN` on one thread with these check options, its findings in `out`."""
    _guard("audit", "privacy", str(run), "--threads", "1", *checks, "--out", str(out))


def _value(findings: list[dict[str, Any]], check: str, metric: str, group: str | None = None) -> float | None:
    for f in findings:
        if f["check"] == check and f["metric"] == metric and f["group"] == group:
            return f["value"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--references", type=int, default=4)
    parser.add_argument("--dp-references", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table: dict[str, list[dict[str, Any]]] = {}
    for name, extra in RUNS.items():
        run = args.out / name.replace(" ", "").lower()
        if not (run / "model").is_dir():
            print(f"training {name} -> {run}", file=sys.stderr, flush=True)
            _guard("federate", "--config", str(CONFIG), "--out", str(run), *extra)
        findings = run / "audit_privacy.json"
        if not findings.is_file():
            print(f"auditing {name}", file=sys.stderr, flush=True)
            _audit_privacy(run, findings, "--check", "exposure", "--check", "membership", "--check", "extraction")
        rows = json.loads(findings.read_text(encoding="utf-8"))["findings"]
        k = args.references if name == "no DP" else args.dp_references
        lira = run / "audit_lira.json"
        if k and not lira.is_file():
            print(f"LiRA with {k} reference models on {name}", file=sys.stderr, flush=True)
            _audit_privacy(run, lira, "--check", "reference", "--references", str(k))
        if lira.is_file():  # also one made earlier with another K
            rows += [
                f
                for f in json.loads(lira.read_text(encoding="utf-8"))["findings"]
                if f["check"] == "membership_reference"
            ]
            rows += [
                {**f, "check": "empirical_epsilon_lira"}
                for f in json.loads(lira.read_text(encoding="utf-8"))["findings"]
                if f["check"] == "empirical_epsilon"
            ]
        table[name] = rows

    rows = [
        ("claimed epsilon", "claimed_epsilon", "epsilon", None),
        ("exposure, 1 repeat (mean)", "canary_exposure", "mean_exposure", "repeats=1"),
        ("exposure, 4 repeats", "canary_exposure", "mean_exposure", "repeats=4"),
        ("exposure, 16 repeats", "canary_exposure", "mean_exposure", "repeats=16"),
        ("exposure, unused reference", "canary_exposure", "mean_exposure", "reference"),
        ("loss attack AUC", "membership_loss", "auc", None),
        ("loss attack TPR @ 1% FPR", "membership_loss", "tpr_at_0.01_fpr", None),
        ("loss attack TPR @ 0.1% FPR", "membership_loss", "tpr_at_0.001_fpr", None),
        ("LiRA AUC", "membership_reference", "auc", None),
        ("LiRA TPR @ 1% FPR", "membership_reference", "tpr_at_0.01_fpr", None),
        ("LiRA TPR @ 0.1% FPR", "membership_reference", "tpr_at_0.001_fpr", None),
        ("exact suffix rate (members)", "extraction", "exact_suffix_rate", None),
        ("canaries extracted, 16 repeats", "extraction", "canary_extraction_rate", "repeats=16"),
        ("training PII emission rate", "extraction", "training_pii_emission_rate", None),
        ("empirical epsilon, loss attack", "empirical_epsilon", "lower_bound", None),
        ("empirical epsilon, LiRA", "empirical_epsilon_lira", "lower_bound", None),
    ]
    names = list(RUNS)
    print(f"{'':34}" + "".join(f"{n:>12}" for n in names))
    for label, check, metric, group in rows:
        cells = []
        for n in names:
            v = _value(table[n], check, metric, group)
            cells.append(f"{'-' if v is None else f'{v:.3f}':>12}")
        print(f"{label:34}" + "".join(cells))

    ks = []
    for n in names:
        f = next((f for f in table[n] if f["check"] == "membership_reference"), None)
        ks.append(f"{'-' if f is None else f['evidence'].get('references'):>12}")
    print(f"{'LiRA reference models (K)':34}" + "".join(ks))
    print("exposure past the cap (mean -log2 CDF; the paper caps at log2 10^6 = 19.93):")
    for group in ("repeats=1", "repeats=4", "repeats=16", "reference"):
        cells = []
        for n in names:
            f = next(
                (
                    f
                    for f in table[n]
                    if f["check"] == "canary_exposure" and f["metric"] == "mean_exposure" and f["group"] == group
                ),
                None,
            )
            x = None if f is None else f["evidence"].get("mean_uncapped")
            cells.append(f"{'-' if x is None else f'{x:.1f}':>12}")
        print(f"  {group:32}" + "".join(cells))

    def v(name: str, check: str, metric: str, group: str | None = None) -> float:
        x = _value(table[name], check, metric, group)
        return float("nan") if x is None else float(x)

    def uncapped(name: str, group: str) -> float:
        f = next(
            f
            for f in table[name]
            if f["check"] == "canary_exposure" and f["metric"] == "mean_exposure" and f["group"] == group
        )
        return float(f["evidence"].get("mean_uncapped", f["value"]))

    exposures = [uncapped("no DP", f"repeats={r}") for r in (1, 4, 16)]
    summary = {
        "nodp_exposure_16_over_1": {
            "value": round(exposures[2] - exposures[0], 3),
            "baseline": round(exposures[0], 3),
            "target": 0.0,
            "ok": exposures[0] < exposures[1] < exposures[2],
        },
        "nodp_tpr_at_1pct_fpr": {
            "value": v("no DP", "membership_loss", "tpr_at_0.01_fpr"),
            "baseline": 0.01,
            "target": 0.03,
            "ok": max(
                v("no DP", "membership_loss", "tpr_at_0.01_fpr"), v("no DP", "membership_reference", "tpr_at_0.01_fpr")
            )
            >= 0.03,
        },
    }
    for name in ("eps 8", "eps 1"):
        key = name.replace(" ", "")
        claimed = v(name, "claimed_epsilon", "epsilon")
        bounds = [v(name, "empirical_epsilon", "lower_bound"), v(name, "empirical_epsilon_lira", "lower_bound")]
        lb = max(b for b in bounds if b == b)  # NaN: that audit did not run
        summary[f"{key}_empirical_below_claimed"] = {
            "value": lb,
            "baseline": claimed,
            "target": claimed,
            "ok": lb <= claimed,
        }
        e16 = uncapped(name, "repeats=16")
        summary[f"{key}_exposure_16_vs_nodp"] = {
            "value": e16,
            "baseline": exposures[2],
            "target": exposures[2],
            "ok": e16 < exposures[2],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

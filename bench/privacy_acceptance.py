"""The privacy acceptance table: the privacy audit on the same causal LM trained
without DP and with DP (issue 4: tiny-gpt, epsilon 8 and 1; issue 13: SmolLM2 with
DP-LoRA, epsilon 8).

    .venv/bin/python bench/privacy_acceptance.py --out DIR                   # tiny-gpt (about 1 h)
    .venv/bin/python bench/privacy_acceptance.py --model smollm2 --out DIR   # SmolLM2 DP-LoRA (about 25 min)
    .venv/bin/python bench/privacy_acceptance.py --model smollm2 --quick --out DIR   # a few minutes: checks the wiring

Each run is trained by `guard federate` on real Reddit comments
(examples/redditbias_topics.jsonl; configs in bench/configs/: 2 silos, half of
each held out as non-members, canaries at 1, 4 and 16 repeats plus unused
reference canaries, 6-digit secrets). Each run then gets, in one audit process
(`guard.audit.privacy`, the library behind `guard audit privacy`): exposure,
loss attack and extraction (RUN/audit_privacy.json), LiRA alone with
--references models for the run without DP and --dp-references for the DP runs
(RUN/audit_lira.json; reference models of DP runs train with DP-SGD, the costliest
part), and the perplexity of the held-out records before (the initial model: for
SmolLM2 the pretrained base, its LoRA adapters start at zero) and after training
(RUN/perplexity.json). Wall time and peak memory (the whole process tree) of the
training and of the audit process are in RUN/bench_measure.json. Runs and results
already in DIR are reused, so the table can be re-printed.

Expected: exposure rising with repeats and membership TPR at 1% FPR well above 1%
without DP; both falling toward chance with DP; the empirical epsilon below the
claimed one in every DP run; held-out perplexity lower after fine-tuning.
`--quick` shrinks data, training and audit (a wiring check; its numbers mean nothing).
The last line is one JSON object with an entry per target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _measure import ROOT, TreeSampler

from guard.core.errors import ExitCode

# a finished audit whose empirical epsilon is above the claim still wrote its findings
AUDIT_EXIT_OK = (ExitCode.OK, ExitCode.PRIVACY_CLAIM_VIOLATED)
DP8 = ["--set", "dp.enabled=true", "--set", "dp.target_epsilon=8"]
DP1 = ["--set", "dp.enabled=true", "--set", "dp.target_epsilon=1"]
QUICK_SETS = [
    "data.max_records=24",
    "train.rounds=1",
    "train.local_epochs=1",
    "train.batch_size=8",
    "canaries.count=1",
    "canaries.references=2",
]
QUICK_AUDIT = {"exposure_samples": 40, "extraction_records": 4, "bootstrap": 20}


@dataclass(frozen=True)
class Profile:
    """One model's acceptance runs: its config, the runs (name -> extra flags) and audit settings."""

    config: Path
    runs: dict[str, list[str]]
    references: int  # LiRA reference models for the run without DP
    dp_references: int  # ... and for the DP runs
    audit: dict[str, Any] = field(default_factory=dict)  # audits.PrivacyAuditOptions fields
    minutes_budget: float | None = None


PROFILES = {
    "tiny-gpt": Profile(
        config=ROOT / "bench" / "configs" / "audit_privacy.toml",
        runs={"no DP": [], "eps 8": DP8, "eps 1": DP1},
        references=4,
        dp_references=2,
        audit={"threads": 1},  # a tiny model: one thread is faster on a busy 2-core machine
    ),
    "smollm2": Profile(
        config=ROOT / "bench" / "configs" / "audit_privacy_smollm2.toml",
        runs={"no DP": [], "eps 8": DP8},
        references=2,
        dp_references=2,
        # 135M parameters: fewer exposure candidates and extraction prompts than the defaults
        audit={"exposure_samples": 1000, "extraction_records": 50, "batch_size": 32},
        minutes_budget=45.0,
    ),
}


def _env() -> dict[str, str]:
    return {**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1"}


def _measured(cmd: list[str], *, log: Path, accept: tuple[int, ...] = (ExitCode.OK,)) -> dict[str, Any]:
    """Run `cmd`; wall time and peak RSS over its process tree; stop the bench on an unexpected exit code."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
    if rc not in accept:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise SystemExit(f"{' '.join(cmd[:4])} ... exited {rc} (log: {log}):\n{tail}")
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_mib": round(sampler.peak_rss / 2**20), "rc": rc}


def _write_json(path: Path, data: Any) -> None:
    """Atomic: a temp file in the same folder, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the audit process (this script run with --worker) --------------------------------------------------------


def _worker(spec: dict[str, Any]) -> int:
    """Audits and perplexity of one run in this process (the SmolLM2 base is loaded once)."""
    from guard import audit

    run = Path(spec["run"])
    critical = False
    for job in spec["audits"]:
        out = Path(job["out"])
        if out.is_file():
            continue
        print(f"auditing {run.name}: {', '.join(job['checks'])}", flush=True)
        report = audit.privacy(run, checks=job["checks"], out=out, **job["options"])
        critical |= any(f.severity == "critical" for f in report.findings)
    ppl = run / "perplexity.json"
    if not ppl.is_file():
        print(f"perplexity of {run.name}", flush=True)
        _write_json(ppl, _perplexity(run, spec.get("device", "auto")))
    return int(ExitCode.PRIVACY_CLAIM_VIOLATED if critical else ExitCode.OK)


def _perplexity(run: Path, device: str) -> dict[str, Any]:
    """Held-out perplexity of the initial model (same config and seed) and of the trained one."""
    from audits.target import load_run_target
    from federated.models import build_model
    from federated.task import evaluate, resolve_device

    target = load_run_target(run)
    cfg = target.config
    held = list(target.non_members)
    device = resolve_device(device)
    kw = {"batch_size": 32, "device": device, "max_length": cfg.data.max_length}
    before = build_model(cfg.model, task=cfg.data.task, num_labels=None, seed=cfg.train.seed)
    return {
        "records": len(held),
        "before": evaluate(before, held, **kw)["perplexity"],
        "after": evaluate(target.bundle, held, **kw)["perplexity"],
        "what": "held-out records (non-members); before: the initial model, after: run/model",
    }


# --- the table -------------------------------------------------------------------------------------------------


def _value(findings: list[dict[str, Any]], check: str, metric: str, group: str | None = None) -> float | None:
    for f in findings:
        if f["check"] == check and f["metric"] == metric and f["group"] == group:
            return f["value"]
    return None


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _one_run(name: str, run: Path, extra: list[str], k: int, args: argparse.Namespace, profile: Profile) -> dict:
    measure_file = run / "bench_measure.json"
    measure: dict[str, Any] = _read(measure_file) if measure_file.is_file() else {}
    sets = [x for s in (QUICK_SETS if args.quick else []) for x in ("--set", s)]
    if not (run / "model").is_dir():
        print(f"training {name} -> {run}", file=sys.stderr, flush=True)
        run.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "guard", "federate", "--config", str(profile.config), "--out", str(run)]
        measure["train"] = _measured([*cmd, *extra, *sets], log=run.parent / f"{run.name}.federate.log")
        _write_json(measure_file, measure)
    options = {**profile.audit, **(QUICK_AUDIT if args.quick else {}), "device": args.device}
    audits = [
        {
            "out": str(run / "audit_privacy.json"),
            "checks": ["exposure", "membership", "extraction"],
            "options": {**options, "references": 0},
        }
    ]
    if k:
        audits.append(
            {"out": str(run / "audit_lira.json"), "checks": ["reference"], "options": {**options, "references": k}}
        )
    pending = [a for a in audits if not Path(a["out"]).is_file()] or not (run / "perplexity.json").is_file()
    if pending:
        print(f"auditing {name} (LiRA with {k} reference models)", file=sys.stderr, flush=True)
        spec = json.dumps({"run": str(run), "audits": audits, "device": args.device})
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", spec]
        measure["audit"] = _measured(cmd, log=run.parent / f"{run.name}.audit.log", accept=AUDIT_EXIT_OK)
        _write_json(measure_file, measure)

    rows = _read(run / "audit_privacy.json")["findings"]
    lira = run / "audit_lira.json"
    if lira.is_file():  # also one made earlier with another K
        found = _read(lira)["findings"]
        rows += [f for f in found if f["check"] == "membership_reference"]
        rows += [{**f, "check": "empirical_epsilon_lira"} for f in found if f["check"] == "empirical_epsilon"]
    ppl = _read(run / "perplexity.json")
    rows += [
        {"check": "perplexity", "metric": "before", "group": None, "value": ppl["before"]},
        {"check": "perplexity", "metric": "after", "group": None, "value": ppl["after"]},
    ]
    for phase in ("train", "audit"):
        for metric in ("seconds", "peak_rss_mib"):
            value = measure.get(phase, {}).get(metric)
            rows.append({"check": f"measure_{phase}", "metric": metric, "group": None, "value": value})
    return {"rows": rows}


ROWS = [
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
    ("exact suffix excess (gated)", "extraction", "exact_suffix_excess", None),
    ("own-PII emission excess (gated)", "extraction", "training_pii_emission_excess", None),
    ("empirical epsilon, loss attack", "empirical_epsilon", "lower_bound", None),
    ("empirical epsilon, LiRA", "empirical_epsilon_lira", "lower_bound", None),
    ("held-out perplexity, before", "perplexity", "before", None),
    ("held-out perplexity, after", "perplexity", "after", None),
    ("training wall time (s)", "measure_train", "seconds", None),
    ("training peak memory (MiB)", "measure_train", "peak_rss_mib", None),
    ("audit wall time (s)", "measure_audit", "seconds", None),
    ("audit peak memory (MiB)", "measure_audit", "peak_rss_mib", None),
]


# issue 18: each leakage rate beside its held-out baseline (audits.baseline): label, excess metric
EXCESS_ROWS = [
    ("exact suffix extraction", "exact_suffix_excess"),
    ("PII emission, the record's own", "training_pii_emission_excess"),
]


def _excess(rows: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The held-out baseline's finding (group None; LiRA reference models are a second one)."""
    return next((f for f in rows if f["check"] == "extraction" and f["metric"] == metric and not f["group"]), None)


def _print_excess(table: dict[str, list[dict[str, Any]]]) -> None:
    """Member rate, baseline rate, difference with its 95% interval, verdict and trials per run."""
    print("leakage against its baseline (held-out prompts; Newcombe 95% CI of the difference):")
    print(f"  {'':32}{'run':>8}{'members':>9}{'baseline':>9}{'diff':>8}  {'95% CI':<18}{'trials':>9}  verdict")
    for label, metric in EXCESS_ROWS:
        for name in table:
            f = _excess(table[name], metric)
            if f is None:
                print(f"  {label:32}{name:>8}  - (findings from before the baselines)")
                continue
            e = f["evidence"]
            trials = f"{e.get('member_trials')}/{e.get('baseline_trials')}"
            cells = [e.get("member_rate"), e.get("baseline_rate"), e.get("difference")]
            if None in cells or not e.get("ci"):  # no trials on a side: no rate to print
                print(f"  {label:32}{name:>8}{'-':>9}{'-':>9}{'-':>8}  {'-':<18}{trials:>9}  {e.get('verdict')}")
                continue
            m, b, d = (float(x) for x in cells)
            ci = e["ci"]
            print(
                f"  {label:32}{name:>8}{m:>9.3f}{b:>9.3f}{d:>+8.3f}  [{ci[0]:+.3f}, {ci[1]:+.3f}]"
                f"{trials:>9}  {e.get('verdict')}"
            )


def _print_raw_emission(table: dict[str, list[dict[str, Any]]]) -> None:
    """The raw rate the issue started from (any training PII value in a generation), beside the
    same rate on held-out prompts: the gate judges the record's own PII above, not this."""
    print("training PII emission, any training value (not gated): member prompts vs held-out prompts")
    for name in table:
        f = next(
            (f for f in table[name] if f["check"] == "extraction" and f["metric"] == "training_pii_emission_rate"), None
        )
        base = None if f is None else f.get("evidence", {}).get("baseline_rate")
        if f is None or base is None or f["value"] is None:
            print(f"  {name:>8}  -")
            continue
        print(
            f"  {name:>8}  members {f['value']:.3f}  held-out {base:.3f}  ({f['evidence'].get('generations')} generations)"
        )


def _print_table(table: dict[str, list[dict[str, Any]]]) -> None:
    names = list(table)
    print(f"{'':34}" + "".join(f"{n:>12}" for n in names))
    for label, check, metric, group in ROWS:
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
            x = _uncapped(table[n], group)
            cells.append(f"{'-' if x != x else f'{x:.1f}':>12}")
        print(f"  {group:32}" + "".join(cells))
    _print_excess(table)
    _print_raw_emission(table)


def _uncapped(rows: list[dict[str, Any]], group: str) -> float:
    f = next(
        (f for f in rows if f["check"] == "canary_exposure" and f["metric"] == "mean_exposure" and f["group"] == group),
        None,
    )
    return float("nan") if f is None else float(f["evidence"].get("mean_uncapped", f["value"]))


def _summary(table: dict[str, list[dict[str, Any]]], profile: Profile, minutes: float) -> dict[str, Any]:
    def v(name: str, check: str, metric: str, group: str | None = None) -> float:
        x = _value(table[name], check, metric, group)
        return float("nan") if x is None else float(x)

    exposures = [_uncapped(table["no DP"], f"repeats={r}") for r in (1, 4, 16)]
    nodp_tpr = max(
        v("no DP", "membership_loss", "tpr_at_0.01_fpr"), v("no DP", "membership_reference", "tpr_at_0.01_fpr")
    )
    summary: dict[str, Any] = {
        "nodp_exposure_16_over_1": {
            "value": round(exposures[2] - exposures[0], 3),
            "baseline": round(exposures[0], 3),
            "target": 0.0,
            "ok": exposures[0] < exposures[1] < exposures[2],
        },
        "nodp_tpr_at_1pct_fpr": {"value": nodp_tpr, "baseline": 0.01, "target": 0.03, "ok": nodp_tpr >= 0.03},
    }
    for name in table:
        if name == "no DP":
            continue
        key = name.replace(" ", "")
        claimed = v(name, "claimed_epsilon", "epsilon")
        bounds = [v(name, "empirical_epsilon", "lower_bound"), v(name, "empirical_epsilon_lira", "lower_bound")]
        lb = max((b for b in bounds if b == b), default=float("nan"))  # NaN: that audit did not run
        summary[f"{key}_empirical_below_claimed"] = {
            "value": lb,
            "baseline": claimed,
            "target": claimed,
            "ok": lb <= claimed,
        }
        e16 = _uncapped(table[name], "repeats=16")
        summary[f"{key}_exposure_16_vs_nodp"] = {
            "value": e16,
            "baseline": exposures[2],
            "target": exposures[2],
            "ok": e16 < exposures[2],
        }
    for name in table:
        key = name.replace(" ", "").lower()
        before, after = v(name, "perplexity", "before"), v(name, "perplexity", "after")
        summary[f"{key}_heldout_perplexity"] = {
            "value": after,
            "baseline": before,
            "target": before,
            "ok": after < before,
        }
    for name in table:  # issue 18: leakage beyond chance only without DP
        key = name.replace(" ", "").lower()
        for metric in ("exact_suffix_excess", "training_pii_emission_excess"):
            f = _excess(table[name], metric)
            if f is None:
                continue
            e = f["evidence"]
            summary[f"{key}_{metric}"] = {
                "value": e.get("difference"),
                "baseline": e.get("baseline_rate"),
                "ci": e.get("ci"),
                "verdict": e.get("verdict"),
                "target": "above chance" if name == "no DP" else "not distinguishable from chance",
                "ok": (e.get("verdict") == "above chance") == (name == "no DP"),
            }
    if profile.minutes_budget is not None:
        summary["total_minutes"] = {
            "value": round(minutes, 1),
            "baseline": None,
            "target": profile.minutes_budget,
            "ok": minutes <= profile.minutes_budget,
        }
    return summary


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":  # the audit process started below
        raise SystemExit(_worker(json.loads(sys.argv[2])))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", choices=sorted(PROFILES), default="tiny-gpt")
    parser.add_argument("--references", type=int, default=None, help="LiRA K without DP (even; 0 skips)")
    parser.add_argument("--dp-references", type=int, default=None, help="LiRA K for the DP runs (even; 0 skips)")
    parser.add_argument("--device", default="auto", help="audit device: auto, cpu or cuda (training: [train] device)")
    parser.add_argument("--quick", action="store_true", help="tiny data, training and audit: checks the wiring only")
    args = parser.parse_args()
    profile = PROFILES[args.model]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table: dict[str, list[dict[str, Any]]] = {}
    for name, extra in profile.runs.items():
        run = args.out / name.replace(" ", "").lower()
        k = profile.references if name == "no DP" else profile.dp_references
        override = args.references if name == "no DP" else args.dp_references
        k = override if override is not None else k
        table[name] = _one_run(name, run, extra, k, args, profile)["rows"]
    # the time of this invocation, or (when everything was reused) the sum of what was measured
    measured = sum(_value(table[n], f"measure_{p}", "seconds") or 0.0 for n in table for p in ("train", "audit"))
    minutes = max(time.perf_counter() - started, measured) / 60
    _print_table(table)
    print(f"model {args.model}{' (quick)' if args.quick else ''}; total {minutes:.1f} min")
    print(json.dumps(_summary(table, profile, minutes)))


if __name__ == "__main__":
    main()

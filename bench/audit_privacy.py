"""What `guard audit privacy` costs, beside one training run of the same model.

    .venv/bin/python bench/audit_privacy.py [--full]

The model: tiny-gpt fine-tuned by `guard federate` on real Reddit comments
(bench/configs/audit_privacy.toml: 2 silos, half of each held out, canaries, no DP),
here on 600 comments and 2 rounds x 3 local epochs so the whole bench takes about
15 minutes alone (`--full` keeps the config's 1,200 comments and 4 x 5 epochs; the
ratios are what matter, and they do not depend much on the size).
Each step is its own `guard` process, timed and sampled for peak memory over its
process tree (tools in bench/_measure.py):

- train: `guard federate` with that config (the baseline: one training run);
- loss attack: `guard audit privacy RUN --check membership` (score every member
  and non-member once, attack, bootstrap CIs, empirical epsilon);
- reference attack: `--check reference --references 4` (train 4 reference models
  centrally on random halves with the same recipe, score, LiRA);
- extraction: `--check extraction` (greedy decoding from 200 training and 200
  held-out prefixes, PII detection, canary prompts).
Each process pays its own start-up (imports, model load): part of a user's cost.
Targets (x one training run): loss attack <= 0.1, reference attack K=4 <= 5,
extraction <= 0.5, each audit's peak memory <= 1.5.
The last line is one JSON object with an entry per target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _measure import ROOT, run_measured

CONFIG = ROOT / "bench" / "configs" / "audit_privacy.toml"
GUARD = [sys.executable, "-m", "guard"]
TARGETS = {
    "loss_attack_time_vs_training": 0.1,
    "reference_attack_k4_time_vs_training": 5.0,
    "extraction_time_vs_training": 0.5,
    "loss_attack_memory_vs_training": 1.5,
    "reference_attack_k4_memory_vs_training": 1.5,
    "extraction_memory_vs_training": 1.5,
}
AUDITS = {
    "loss_attack": ["--check", "membership"],
    "reference_attack_k4": ["--check", "reference", "--references", "4"],
    "extraction": ["--check", "extraction"],
}


def _entry(name: str, value: float, baseline: float) -> dict[str, Any]:
    target = TARGETS[name]
    return {"value": round(value, 4), "baseline": round(baseline, 4), "target": target, "ok": bool(value <= target)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the config as written (about 4x longer)")
    args = parser.parse_args()
    size = (
        []
        if args.full
        else ["--set", "data.max_records=600", "--set", "train.rounds=2", "--set", "train.local_epochs=3"]
    )
    with tempfile.TemporaryDirectory(prefix="guard-bench-audit-") as tmp_name:
        tmp = Path(tmp_name)
        run = tmp / "run"
        train = run_measured(
            [*GUARD, "federate", "--config", str(CONFIG), "--out", str(run), *size], log=tmp / "train.log"
        )
        results: dict[str, dict[str, Any]] = {}
        findings: dict[str, Any] = {}
        for name, extra in AUDITS.items():
            out = tmp / f"{name}.json"
            results[name] = run_measured(
                [*GUARD, "audit", "privacy", str(run), "--out", str(out), *extra], log=tmp / f"{name}.log"
            )
            findings[name] = json.loads(out.read_text(encoding="utf-8"))["findings"]

    print(f"model: tiny-gpt on RedditBias comments ({CONFIG.name} {' '.join(size[1::2])}); one training run = baseline")
    print(f"{'step':24} {'seconds':>9} {'x train':>8} {'peak MiB':>9} {'x train':>8}")
    print(f"{'train (guard federate)':24} {train['seconds']:9.1f} {1.0:8.2f} {train['peak_rss_mib']:9.0f} {1.0:8.2f}")
    summary: dict[str, Any] = {}
    for name, r in results.items():
        t = r["seconds"] / train["seconds"]
        m = r["peak_rss_mib"] / train["peak_rss_mib"]
        print(f"{name:24} {r['seconds']:9.1f} {t:8.2f} {r['peak_rss_mib']:9.0f} {m:8.2f}")
        summary[f"{name}_time_vs_training"] = _entry(f"{name}_time_vs_training", t, train["seconds"])
        summary[f"{name}_memory_vs_training"] = _entry(f"{name}_memory_vs_training", m, train["peak_rss_mib"])
    for name, rows in findings.items():
        shown = [
            f"{f['check']}/{f['metric']}{'/' + f['group'] if f['group'] else ''}={f['value']:.4g}"
            for f in rows
            if f["value"] is not None and f["check"] != "claimed_epsilon"
        ][:6]
        print(f"  {name}: {', '.join(shown)}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

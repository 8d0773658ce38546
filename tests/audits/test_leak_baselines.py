"""Every leakage rate against its baseline (issue 18): extraction and PII emission on member
prompts vs held-out prompts, their difference with a Newcombe interval, a verdict only when
the interval excludes 0, and the release gate on that difference.

Carriers are real Reddit comments (examples/redditbias_topics.jsonl); each record gets a
synthetic person and phone number (seeded) after its first six words, so the PII lies in
the continuation the audit asks the model for."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audits import PrivacyAuditOptions, run_privacy_audit
from audits.baseline import Excess, detectable, newcombe
from federated.config import DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.models import build_model, save_model
from federated.task import train_client
from guard.release.evidence import audit_evidence
from guard.release.gate import evaluate, parse_release_policy

ROOT = Path(__file__).resolve().parents[2]
REDDIT = ROOT / "examples" / "redditbias_topics.jsonl"
NAMES = ROOT / "guard" / "deid" / "data"
RECORDS = 24  # members and held-out records, each
REPEATS = 16
OPTIONS = PrivacyAuditOptions(checks=("extraction",), references=0, prefix_tokens=8, suffix_tokens=12, threads=1)
POLICY = parse_release_policy({"privacy": {"max_extraction_rate": 0.0, "max_pii_emission_excess": 0.0}})
MODEL = ModelConfig("tiny-gpt", {"dim": 48, "dropout": 0.0})


# -- the interval ----------------------------------------------------------------------------


def test_newcombe_interval_matches_the_published_example() -> None:
    """Newcombe (1998), Table II: 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339."""
    lo, hi = newcombe(56, 70, 48, 80, 1.959964)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)


def test_equal_rates_are_not_distinguishable_from_chance_and_the_gate_reads_zero() -> None:
    e = Excess(2, 25, 2, 25, 0.95, "held-out records")  # the 2 of 25 at epsilon 1, on both sides
    assert e.difference == 0.0 and e.interval[0] < 0 < e.interval[1]
    assert not e.significant and e.excess == 0.0 and e.verdict == "not distinguishable from chance"
    assert "not distinguishable from chance" in e.message("x")


def test_a_significant_difference_is_the_excess_and_no_baseline_is_none() -> None:
    e = Excess(20, 24, 1, 24, 0.95, "held-out records")
    assert e.significant and e.excess == pytest.approx(19 / 24) and e.verdict == "above chance"
    assert Excess(3, 24, 0, 0, 0.95, "held-out records").excess is None  # nothing to compare: the gate fails
    # 200 generations a side (the audit's default) resolve an excess of 2.5%: 5 of 200 against 0 of 200
    assert detectable(200, 200, 1.959964) == pytest.approx(0.025)
    assert e.evidence()["detectable_excess"] == pytest.approx(detectable(24, 24, 1.959964))


# -- on models -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    rows = [json.loads(line) for line in REDDIT.read_text(encoding="utf-8").splitlines()]
    first = [w.strip().title() for w in (NAMES / "names_first.txt").read_text(encoding="utf-8").split() if w.strip()]
    last = [w.strip().title() for w in (NAMES / "names_last_english.txt").read_text(encoding="utf-8").split()]
    rng = np.random.default_rng(18)
    texts = []
    for i in rng.choice(len(rows), size=2 * RECORDS, replace=False):
        words = rows[i]["text"].split()[:6]
        name = f"{first[rng.integers(len(first))]} {last[rng.integers(len(last))]}"
        phone = f"{rng.integers(200, 999)}-555-{rng.integers(1000, 9999)}"
        texts.append(" ".join(words) + f" call {name} at {phone} about it")
    folder = tmp_path_factory.mktemp("leak")
    for name, part in (("train", texts[:RECORDS]), ("holdout", texts[RECORDS:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in part), encoding="utf-8")
    return folder / "train.jsonl", folder / "holdout.jsonl", texts[:RECORDS]


def _audit(corpus, folder: Path, *, epochs: int, dp: DPConfig | None = None):
    train, holdout, members = corpus
    bundle = build_model(MODEL, task=Task.causal_lm, num_labels=None, seed=0)
    if epochs:
        train_client(
            bundle,
            [Example(t, None, i + 1) for i, t in enumerate(members * REPEATS)],  # each record 16 times
            train=TrainConfig(local_epochs=epochs, batch_size=16, lr=2e-2, seed=0),
            dp=dp or DPConfig(enabled=False),
            ledger=None,
            round=1,
            global_state=None,
            max_length=40,
        )
    model = save_model(bundle, folder)
    return run_privacy_audit(model_dir=model, train=train, holdout=holdout, task="causal_lm", options=OPTIONS)


def _excesses(report):
    return {m: report.find("extraction", m)[0] for m in ("exact_suffix_excess", "training_pii_emission_excess")}


@pytest.mark.slow
def test_a_model_that_saw_nothing_is_not_distinguishable_from_chance_and_passes(corpus, tmp_path) -> None:
    report = _audit(corpus, tmp_path / "fresh", epochs=0)
    for metric, f in _excesses(report).items():
        lo, hi = f.evidence["ci"]
        assert lo <= 0 <= hi, metric
        assert f.value == 0.0 and f.evidence["verdict"] == "not distinguishable from chance"
        assert f.evidence["member_trials"] >= RECORDS - 2 and f.evidence["baseline_trials"] >= RECORDS - 2
    outcome = evaluate(POLICY, audit_evidence({"privacy": report}))
    assert outcome.passed, [r.reason for r in outcome.results]


@pytest.mark.slow
def test_a_model_trained_on_pii_repeated_16_times_is_above_chance_and_fails(corpus, tmp_path) -> None:
    report = _audit(corpus, tmp_path / "memorized", epochs=1)  # one pass over 16 copies of each record
    for metric, f in _excesses(report).items():
        assert f.evidence["ci"][0] > 0, metric
        assert f.evidence["verdict"] == "above chance" and f.value == f.evidence["difference"] > 0.3
    # against any training value, held-out prompts emit training PII too (a memorizer continues
    # them with memorized records): the raw baseline is high, which is why the excess pairs records
    raw = report.find("extraction", "training_pii_emission_rate")[0]
    assert raw.evidence["baseline_rate"] > 0.3
    outcome = evaluate(POLICY, audit_evidence({"privacy": report}))
    assert {r.name for r in outcome.failures} == {"max_extraction_rate", "max_pii_emission_excess"}
    written = json.dumps([f.to_json() for f in report.findings])
    assert not any(t.split(" call ")[1].split(" at ")[0] in written for t in corpus[2])  # no name in the findings


@pytest.mark.slow
def test_a_dp_epsilon_1_model_is_not_distinguishable_from_chance(corpus, tmp_path) -> None:
    dp = DPConfig(enabled=True, target_epsilon=1.0, max_grad_norm=1.0)
    report = _audit(corpus, tmp_path / "dp1", epochs=1, dp=replace(dp, delta=1e-5))
    for metric, f in _excesses(report).items():
        assert f.evidence["ci"][0] <= 0 <= f.evidence["ci"][1], metric
        assert f.value == 0.0
    assert evaluate(POLICY, audit_evidence({"privacy": report})).passed


def _causal_run(folder: Path, data: Path) -> Path:
    """A guard run directory of an untrained tiny-gpt (as tests/audits/runs.make_run, no training),
    so that the audit can train LiRA reference models with its recipe."""
    from federated.config import parse_config
    from federated.ledger import PrivacyLedger
    from federated.rundir import RunDir, RunState
    from federated.server import prepare_run

    config = parse_config(
        {
            "data": {"path": str(data), "task": "causal_lm", "num_clients": 1, "holdout": 0.5, "max_length": 40},
            "model": {"name": "tiny-gpt", "params": {"dim": 32, "layers": 1, "dropout": 0.0}},
            "train": {"rounds": 1, "local_epochs": 1, "batch_size": 16, "seed": 0},
            "dp": {"enabled": False},
        },
        source="tests/audits/test_leak_baselines.py",
    )
    run = RunDir(folder)
    prepare_run(config, run, resume=False)
    save_model(build_model(config.model, task=config.data.task, num_labels=None, seed=0), run.model_dir)
    run.write_ledger(PrivacyLedger(dp_enabled=False))
    run.write_state(RunState(1, 1, config.config_hash(), finished=True))
    return folder


@pytest.mark.slow
def test_reference_models_that_left_a_record_out_are_a_second_baseline(corpus, tmp_path) -> None:
    train, holdout, _ = corpus
    data = tmp_path / "all.jsonl"
    data.write_text(train.read_text(encoding="utf-8") + holdout.read_text(encoding="utf-8"), encoding="utf-8")
    options = replace(OPTIONS, checks=("reference", "extraction"), references=2, bootstrap=20)
    report = run_privacy_audit(_causal_run(tmp_path / "run", data), options=options)
    for metric in ("exact_suffix_excess", "training_pii_emission_excess"):
        (held_out,) = [f for f in report.find("extraction", metric) if f.group is None]
        (reference,) = report.find("extraction", metric, "reference models")
        assert reference.evidence["baseline"] == "LiRA reference models not trained on the record"
        assert reference.evidence["baseline_trials"] >= reference.evidence["member_trials"] // 2
        assert reference.evidence["reference_models_used"] >= 1
        assert reference.value == 0.0 and held_out.value == 0.0  # an untrained model: chance on both
    evidence = audit_evidence({"privacy": report})
    assert evidence["pii_emission_excess"]["value"] == 0.0

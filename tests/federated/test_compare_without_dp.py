"""`[dp] compare_without_dp`: the same federation once more without DP, its final held-out
metrics kept in RUN/comparison.json and shown in the release report; end to end with the
frozen MiniLM encoder (frozen-feature training in the simulation's clients)."""

from __future__ import annotations

import json

import pytest

from tests.federated.test_simulation import _config, _guard

pytestmark = pytest.mark.slow


def test_a_dp_run_with_a_no_dp_comparison(tmp_path) -> None:
    config = _config(
        tmp_path,
        model={"name": "minilm", "params": {"train_layers": 0}},
        train={"rounds": 2, "local_epochs": 2, "lr": 0.01},
        dp={"target_epsilon": 8.0, "compare_without_dp": True},
    )
    run = tmp_path / "run"
    result = _guard("federate", "--config", str(config), "--out", str(run))
    assert result.returncode == 0, result.stderr[-2000:]

    comparison = json.loads((run / "comparison.json").read_text(encoding="utf-8"))
    without = comparison["without_dp"]["evaluate"]
    assert 0.0 <= without["eval_accuracy"] <= 1.0 and without["num_examples"] > 0
    assert not [p.name for p in run.iterdir() if p.name.startswith(".no-dp-")]  # the scratch run is gone

    # the DP run is untouched: its own ledger and metrics, epsilon within the target
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    assert all(0 < c["epsilon"] <= 8.0 + 1e-6 for c in ledger["clients"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    final = [r for r in rows if r.get("phase") == "aggregate"][-1]["evaluate"]
    assert final["eval_accuracy"] >= 0.8  # the frozen pretrained encoder learns under DP

    from guard.release.report import build_report

    report = build_report(run)
    training = report.content.training
    assert training["without_dp"]["eval_accuracy"] == pytest.approx(without["eval_accuracy"])
    assert "utility cost of privacy" in report.html()

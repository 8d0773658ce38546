"""`guard federate` end to end on Flower's Simulation Engine (each run in its own
process, as a user runs it): run directory, ledger, faults. A run killed and resumed:
test_aggregate.py (DP FedAdam, SIGKILL) and test_federate_signals.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federated.privacy import epsilon_of
from guard.core.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, **sections: dict) -> Path:
    base = {
        "data": {
            "path": str(NOTES),
            "label_field": "label",
            "partition": "field",
            "partition_field": "site",
            "max_length": 48,
        },
        "model": {"name": "tiny-classifier"},
        "train": {"rounds": 2, "batch_size": 16, "lr": 0.003},
        # RDP: the server calibrates each site's noise before round 1, and Opacus's PRV search
        # takes 4-7 s a site against 1-2 s; these tests are about runs, not the accountant
        # (the ten-client and killed-run tests keep PRV, the default, end to end)
        "dp": {"target_epsilon": 8.0, "accountant": "rdp"},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items() if v is not None]
    path = tmp_path / "federate.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _guard(*args: str, env: dict | None = None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "guard", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_ledger(run: Path, rounds: dict[str, list[int]], target: float = 8.0) -> dict:
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    assert {c["client_id"]: [h["round"] for h in c["history"]] for c in ledger["clients"]} == rounds
    for c in ledger["clients"]:
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
        assert 0 < c["epsilon"] <= target
    return ledger


def test_ten_simulated_clients_write_a_complete_run_directory(tmp_path):
    run = tmp_path / "run"
    # PRV, the default accountant: its ten equal clients share one noise search
    config = _config(tmp_path, data={"partition": "iid", "num_clients": 10}, dp={"accountant": "prv"})
    result = _guard("federate", "--config", str(config), "--out", str(run), "--json")
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["clients"] == 10 and summary["rounds_done"] == 2 and summary["finished"]
    saved = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert len(saved["config_hash"]) == 64 and saved["versions"]["flwr"].startswith("1.42")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["round-001.safetensors", "round-002.safetensors"]
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "guard_model.json"} <= {
        p.name for p in (run / "model").iterdir()
    }
    rows = _read_jsonl(run / "metrics.jsonl")
    for rnd in (1, 2):
        assert len([r for r in rows if r["round"] == rnd and r["phase"] == "train"]) == 10
        assert len([r for r in rows if r["round"] == rnd and r["phase"] == "evaluate"]) == 10
        aggregate = [r for r in rows if r["round"] == rnd and r["phase"] == "aggregate"]
        assert len(aggregate) == 1 and 0 <= aggregate[0]["evaluate"]["eval_accuracy"] <= 1
    clients = [f"client-{i:03d}" for i in range(10)]
    ledger = _check_ledger(run, {c: [1, 2] for c in clients})
    assert ledger["max_epsilon"] == pytest.approx(summary["max_epsilon"])
    assert "differential privacy" in ledger["statement"]


def test_a_client_that_crashes_is_recorded_and_the_round_goes_on(tmp_path):
    run = tmp_path / "run"
    result = _guard(
        "federate", "--config", str(_config(tmp_path)), "--out", str(run), env={"GUARD_FEDERATE_FAULT": "lakeside:1"}
    )
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    failures = _read_jsonl(run / "failures.jsonl")
    assert len(failures) == 1 and failures[0]["round"] == 1 and failures[0]["client"] == "lakeside"
    assert "injected fault" in failures[0]["reason"]
    trained = [r["client"] for r in _read_jsonl(run / "metrics.jsonl") if r["phase"] == "train" and r["round"] == 1]
    assert sorted(trained) == ["northgate", "riverview", "st-marys"]
    _check_ledger(run, {"lakeside": [2], "northgate": [1, 2], "riverview": [1, 2], "st-marys": [1, 2]})


def test_fedprox_with_user_level_dp_run(tmp_path):
    """(A FedAdam run without DP, once the second half of this test, is the uninterrupted run
    of test_aggregate.py's simulation test, which asserts its no-DP ledger: one run fewer.)"""
    run = tmp_path / "prox"
    config = _config(
        tmp_path,
        strategy={"name": "fedprox", "params": {"proximal_mu": 0.1}},
        user_dp={"enabled": True, "clipping": "fixed", "noise_multiplier": 0.5, "clipping_norm": 5.0},
    )
    result = _guard("federate", "--config", str(config), "--out", str(run))
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    user = ledger["user_level"]
    assert user["rounds"] == 2 and user["population"] == 4 and user["epsilon"] > 0
    assert user["epsilon"] == pytest.approx(epsilon_of([(0.5, 1.0, 2)], user["delta"], "rdp"))
    assert "user level" in ledger["statement"]


def test_causal_lm_with_canaries_records_them_only_in_the_run_directory(tmp_path):
    run = tmp_path / "run"
    config = _config(
        tmp_path, data={"task": "causal_lm", "max_length": 32}, model={"name": "tiny-gpt", "params": {"dim": 32}}
    )
    result = _guard(
        "federate",
        "--config",
        str(config),
        "--out",
        str(run),
        "--canaries",
        "2",
        "--canary-repeats",
        "1",
        "--canary-repeats",
        "4",
        "--set",
        "canaries.references=3",
        "--json",
    )
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    canaries = json.loads((run / "canaries.json").read_text(encoding="utf-8"))["canaries"]
    inserted = [c for c in canaries if c["client_id"] is not None]
    assert len(inserted) == 4 and sorted(c["repeats"] for c in inserted) == [1, 1, 4, 4]
    assert len([c for c in canaries if c["client_id"] is None]) == 3
    summary = json.loads((run / "clients.json").read_text(encoding="utf-8"))["summary"]
    assert sum(c.get("canary_examples", 0) for c in summary["clients"]) == 10
    secrets = [c["secret"] for c in canaries]
    outside = (
        result.stdout
        + result.stderr
        + "".join(
            (run / name).read_text(encoding="utf-8")
            for name in ("metrics.jsonl", "ledger.json", "clients.json", "config.json")
        )
    )
    assert not any(s in outside for s in secrets)
    last = [r for r in _read_jsonl(run / "metrics.jsonl") if r["phase"] == "aggregate"][-1]
    assert last["evaluate"]["eval_perplexity"] > 1

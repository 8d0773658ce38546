"""SecAgg+ (`[secure_aggregation] enabled = true`): the aggregate against plain FedAvg
within the stated quantization error, a dropout mid-round, the refused combinations,
and `guard federate` end to end.

The protocol tests run guard's real server (`federated.secagg.serve_secagg`) and real
client app (`secaggplus_mod` around guard's NumPyClient, real DP-SGD) in this process:
`LocalGrid` hands each message to the client app of its node at once, through a deep
copy, as a SuperLink would through serialization; a client that raises answers with an
error message, as Flower's node does. The end-to-end test runs the same apps on Flower's
Simulation Engine (Ray) through `guard federate`."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import Context, Error, Message, RecordDict
from flwr.serverapp import Grid

from federated import client as guard_client
from federated import secagg
from federated.config import SecureAggregationConfig, load_config, parse_config
from federated.privacy import epsilon_of
from federated.rundir import RunDir
from federated.server import FederateError, prepare_run
from federated.types import ConfigError
from guard.core.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
SITES = ["lakeside", "northgate", "riverview", "st-marys"]


class _Run:
    run_id = 1


class LocalGrid(Grid):
    """A Grid whose nodes are ClientApps in this process (see the module docstring)."""

    def __init__(self, app: Any, num_nodes: int) -> None:
        self.app = app
        self.contexts = {
            100 + i: Context(1, 100 + i, {"partition-id": i, "num-partitions": num_nodes}, RecordDict(), {})
            for i in range(num_nodes)
        }
        self.replies: dict[str, Message] = {}
        self.pull_interval = 0.0

    def set_run(self, run: Any) -> None:  # pragma: no cover - not used
        pass

    @property
    def run(self) -> Any:
        return _Run()

    def create_message(self, *args: Any, **kwargs: Any) -> Message:  # pragma: no cover - not used
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            delivered = Message(content=copy.deepcopy(msg.content), metadata=copy.deepcopy(msg.metadata))
            try:
                reply = self.app(delivered, self.contexts[msg.metadata.dst_node_id])
                reply = Message(content=copy.deepcopy(reply.content), metadata=copy.deepcopy(reply.metadata))
            except Exception:
                reply = Message(Error(code=2, reason=traceback.format_exc()), reply_to=delivered)
            self.replies[msg.metadata.message_id] = reply
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self.replies.pop(i) for i in list(message_ids) if i in self.replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _config_file(tmp_path: Path, **sections: dict) -> Path:
    base: dict[str, dict] = {
        "data": {
            "path": str(NOTES),
            "label_field": "label",
            "partition": "field",
            "partition_field": "site",
            "max_length": 32,
        },
        "model": {"name": "tiny-classifier", "params": {"dim": 16}},
        "train": {"rounds": 1, "batch_size": 32, "lr": 0.003},
        # a fixed noise: searching the noise for a target epsilon (Opacus's PRV accountant) was
        # 40% of each in-process round here, and SecAgg+ changes nothing in it (the DP-SGD runs
        # before masking); the end-to-end test keeps the target
        "dp": {"noise_multiplier": 1.0},
        "secure_aggregation": {"enabled": True},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items() if v is not None]  # None: key left out
    path = tmp_path / "federate.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Record what each client's real `train` returned (its trained weights, its weight)."""
    seen: dict[str, dict[str, Any]] = {}
    real = guard_client.train

    def train(**kwargs: Any) -> guard_client.ClientReply:
        reply = real(**kwargs)
        if reply.state is not None:
            seen[reply.client_id] = {"state": reply.state, "n": int(reply.metrics["num-examples"])}
        return reply

    monkeypatch.setattr(guard_client, "train", train)
    return seen


def _one_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sections: dict) -> tuple[RunDir, dict, dict]:
    run = RunDir(tmp_path / "run")
    config = prepare_run(load_config(_config_file(tmp_path, **sections)), run, resume=False)
    from federated.models import build_model, trainable_state

    labels = run.read_clients().labels
    start = trainable_state(
        build_model(config.model, task=config.data.task, num_labels=len(labels), seed=config.train.seed).model
    )
    seen = _spy(monkeypatch)
    from flwr.supercore.task_identity import TaskIdentity

    for key, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):  # what a ServerApp process has set
        monkeypatch.setattr(TaskIdentity, key, value)
    grid = LocalGrid(secagg.client_app, len(SITES))
    secagg.serve_secagg(grid, run, Context(1, 0, {}, RecordDict(), {}))
    return run, start, seen


def _fedavg(start: dict, seen: dict) -> dict[str, np.ndarray]:
    total = sum(s["n"] for s in seen.values())
    return {
        k: sum(s["n"] * (s["state"][k].astype(np.float64) - start[k]) for s in seen.values()) / total for k in start
    }


def _check_aggregate(run: RunDir, start: dict, seen: dict, sa: SecureAggregationConfig) -> float:
    """Max |SecAgg+ - FedAvg| over every value of round 1; asserts it is within the bound.
    The checkpoint holds float32 weights: its own rounding (half a float32 step at the
    value) is added to the stated bound, nothing else."""
    got = run.load_checkpoint(1)
    mean = _fedavg(start, seen)
    peak = max(float(np.max(np.abs(s["state"][k] - start[k]))) for s in seen.values() for k in start)
    bound = secagg.error_bound([s["n"] for s in seen.values()], peak, sa)
    worst = 0.0
    for k in start:
        exact = start[k].astype(np.float64) + mean[k]
        err = np.abs(got[k].astype(np.float64) - exact)
        f32 = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64) / 2
        assert np.all(err <= bound + f32), (k, float(np.max(err - f32)), bound)
        worst = max(worst, float(np.max(err - f32)))
    return worst


# ---------------------------------------------------------------- 1. the aggregate


@pytest.mark.slow
def test_aggregate_equals_fedavg_within_the_quantization_bound(tmp_path, monkeypatch):
    run, start, seen = _one_round(tmp_path, monkeypatch)
    assert sorted(seen) == SITES  # every client trained and took part
    sa = run.load_config().secure_aggregation
    worst = _check_aggregate(run, start, seen, sa)
    bound = secagg.error_bound([s["n"] for s in seen.values()], 1.0, sa)
    assert 0 < worst < bound < 1e-4  # quantized (not exact), and far finer than a training step
    # not a loose tolerance: the mean update itself is far larger than the error
    assert max(float(np.max(np.abs(v))) for v in _fedavg(start, seen).values()) > 100 * bound
    state = run.read_state()
    assert state.finished and state.last_round == 1
    ledger = json.loads(run.ledger_file.read_text(encoding="utf-8"))
    assert sorted(c["client_id"] for c in ledger["clients"]) == SITES
    rows = [json.loads(line) for line in run.metrics_file.read_text(encoding="utf-8").splitlines()]
    agg = [r for r in rows if r["phase"] == "aggregate"]
    assert agg[0]["clients_trained"] == 4 and agg[0]["secure_aggregation"] is True
    assert {r["client"] for r in rows if r["phase"] == "evaluate"} == set(SITES)
    assert (run.model_dir / "README.md").is_file()


def test_error_bound_is_what_flower_does():
    """The bound from `error_bound` holds for Flower's own quantize / dequantize arithmetic
    on random updates at the extremes of the range (no training, many trials)."""
    from flwr.common.secure_aggregation.quantization import dequantize, quantize

    sa = SecureAggregationConfig(enabled=True, clipping_range=1.0, quantization_range=2**12, max_weight=100.0)
    rng = np.random.default_rng(0)
    worst_ratio = 0.0
    for _ in range(50):
        n = rng.integers(1, 101, size=5)
        u = rng.uniform(-1, 1, size=(5, 200))
        r = [round(x / sa.max_weight * sa.quantization_range) for x in n]
        q = [
            quantize([u[i] * (r[i] / sa.quantization_range)], sa.clipping_range, sa.quantization_range)[0]
            for i in range(5)
        ]
        summed = np.sum(q, axis=0)
        agg = dequantize([summed], sa.clipping_range, sa.quantization_range)[0]
        agg = (agg - (len(n) - 1) * sa.clipping_range) * (sa.quantization_range / sum(r))
        exact = (n[:, None] * u).sum(0) / n.sum()
        err = float(np.max(np.abs(agg - exact)))
        bound = secagg.error_bound(list(n), 1.0, sa)
        assert err < bound
        worst_ratio = max(worst_ratio, err / bound)
    assert worst_ratio > 0.05  # the bound is of the right size, not loose by orders of magnitude


def test_check_range_names_the_tensor():
    sa = SecureAggregationConfig(enabled=True, clipping_range=0.5, max_weight=100.0)
    ok = [np.full((2, 2), 0.49), np.zeros(3)]
    secagg.check_range("site-a", ["a.weight", "b.bias"], ok, 100, sa)
    with pytest.raises(secagg.UpdateOutOfRange, match="'b.bias'.*clipping_range 0.5"):
        secagg.check_range("site-a", ["a.weight", "b.bias"], [ok[0], np.array([0.0, -0.7, 0.1])], 100, sa)
    # the example weighting counts: 0.7 at 50 of max_weight 100 examples is 0.35, in range
    secagg.check_range("site-a", ["a.weight", "b.bias"], [ok[0], np.array([0.0, -0.7, 0.1])], 50, sa)
    with pytest.raises(secagg.UpdateOutOfRange, match="max_weight"):
        secagg.check_range("site-a", ["a.weight"], [ok[0]], 101, sa)
    with pytest.raises(secagg.UpdateOutOfRange, match="'a.weight'"):
        secagg.check_range("site-a", ["a.weight"], [np.array([np.nan])], 10, sa)


@pytest.mark.slow
def test_update_beyond_the_range_is_refused_not_clipped(tmp_path, monkeypatch):
    """A clipping_range smaller than the updates: every client refuses, says which tensor,
    and still reports the privacy it spent; the round fails instead of training on clipped values."""
    with pytest.raises(FederateError, match="0 client.*finished training, 4 failed"):
        _one_round(tmp_path, monkeypatch, secure_aggregation={"enabled": True, "clipping_range": 1e-6})
    run = RunDir(tmp_path / "run")
    failures = [json.loads(line) for line in run.failures_file.read_text(encoding="utf-8").splitlines()]
    assert sorted(f["client"] for f in failures) == SITES
    assert all(
        "beyond [secure_aggregation] clipping_range" in f["reason"] and "tensor '" in f["reason"] for f in failures
    )
    ledger = json.loads(run.ledger_file.read_text(encoding="utf-8"))
    assert all(len(c["history"]) == 1 for c in ledger["clients"])  # the spent round is on the ledger
    assert run.read_state().last_round == 0


# ---------------------------------------------------------------- 2. a dropout mid-round


@pytest.mark.slow
def test_a_client_dropping_out_after_the_key_exchange_does_not_stop_the_round(tmp_path, monkeypatch):
    """GUARD_FEDERATE_FAULT makes riverview raise in its training, i.e. in SecAgg+'s stage 2
    (collect masked vectors), after its keys were shared: the server rebuilds its masks
    from the others' shares and the round ends with the other three."""
    monkeypatch.setenv(guard_client.FAULT_ENV, "riverview:1")
    run, start, seen = _one_round(tmp_path, monkeypatch)
    assert sorted(seen) == ["lakeside", "northgate", "st-marys"]
    _check_aggregate(run, start, seen, run.load_config().secure_aggregation)
    assert run.read_state().finished
    failures = [json.loads(line) for line in run.failures_file.read_text(encoding="utf-8").splitlines()]
    assert [(f["round"], f["phase"], f["client"]) for f in failures] == [(1, "train", "riverview")]
    assert "injected fault" in failures[0]["reason"]
    rows = [json.loads(line) for line in run.metrics_file.read_text(encoding="utf-8").splitlines()]
    agg = [r for r in rows if r["phase"] == "aggregate"][0]
    assert (agg["clients_trained"], agg["clients_failed"]) == (3, 1)


@pytest.mark.slow
def test_a_rejected_ledger_entry_leaves_the_sum_and_the_crash_too(tmp_path, monkeypatch):
    """st-marys reports half its epsilon (rejected by the server's recomputation) and
    riverview crashes: the server drops st-marys's masked vector as if it had dropped out,
    so the aggregate is FedAvg of the two honest clients; both are named in failures.jsonl.
    num_shares 5 > 4 clients: every client holds a share of every other's secrets."""
    monkeypatch.setenv(guard_client.FAULT_ENV, "st-marys:1:understate,riverview:1")
    run, start, seen = _one_round(
        tmp_path, monkeypatch, secure_aggregation={"enabled": True, "num_shares": 5, "reconstruction_threshold": 2}
    )
    honest = {k: v for k, v in seen.items() if k != "st-marys"}
    assert sorted(honest) == ["lakeside", "northgate"]
    _check_aggregate(run, start, honest, run.load_config().secure_aggregation)
    failures = [json.loads(line) for line in run.failures_file.read_text(encoding="utf-8").splitlines()]
    reasons = {f["client"]: f["reason"] for f in failures}
    assert sorted(reasons) == ["riverview", "st-marys"]
    assert "ledger entry rejected" in reasons["st-marys"] and "injected fault" in reasons["riverview"]
    ledger = json.loads(run.ledger_file.read_text(encoding="utf-8"))
    kept = {c["client_id"]: c for c in ledger["clients"]}
    spent = kept["st-marys"]  # what it spent is on the ledger, at the recomputed epsilon
    history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in spent["history"]]
    assert spent["epsilon"] == pytest.approx(epsilon_of(history, spent["delta"], spent["accountant"]), rel=1e-9)


@pytest.mark.slow
def test_a_failed_round_resumes_under_secure_aggregation(tmp_path, monkeypatch):
    """Every client crashes in round 2 (before training): SecAgg+ halts, the run stops after
    round 1 with its files kept; --resume (here prepare_run + serve_secagg again) runs
    round 2 from round 1's checkpoint."""
    monkeypatch.setenv(guard_client.FAULT_ENV, ",".join(f"{s}:2" for s in SITES))
    with pytest.raises(FederateError, match="round 2: 0 client.*secure aggregation halted"):
        _one_round(tmp_path, monkeypatch, train={"rounds": 2})
    run = RunDir(tmp_path / "run")
    assert run.read_state().last_round == 1 and not run.read_state().finished
    monkeypatch.delenv(guard_client.FAULT_ENV)
    prepare_run(None, run, resume=True)
    secagg.serve_secagg(LocalGrid(secagg.client_app, len(SITES)), run, Context(1, 0, {}, RecordDict(), {}))
    state = run.read_state()
    assert state.finished and state.last_round == 2
    ledger = json.loads(run.ledger_file.read_text(encoding="utf-8"))
    assert {c["client_id"]: [h["round"] for h in c["history"]] for c in ledger["clients"]} == {s: [1, 2] for s in SITES}
    rows = [json.loads(line) for line in run.metrics_file.read_text(encoding="utf-8").splitlines()]
    assert [(r["round"], r["clients_trained"]) for r in rows if r["phase"] == "aggregate"] == [(1, 4), (2, 4)]


# ---------------------------------------------------------------- 4. refused combinations


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"strategy": {"name": "fedprox"}}, 'supports only .strategy. name = "fedavg"'),
        ({"strategy": {"name": "fedadam"}}, "supports only"),
        ({"user_dp": {"enabled": True}}, "cannot be combined with \\[user_dp\\]"),
        ({"secure_aggregation": {"enabled": True, "num_shares": 3, "reconstruction_threshold": 3}}, "< num_shares"),
        ({"secure_aggregation": {"enabled": True, "reconstruction_threshold": 1}}, "2 <= reconstruction_threshold"),
        ({"secure_aggregation": {"enabled": True, "clipping_range": 0.0}}, "clipping_range > 0"),
        ({"data": {"partition": "iid", "partition_field": None, "num_clients": 2}}, "at least 3 clients per round"),
        (
            {"data": {"partition": "iid", "partition_field": None, "num_clients": 4}, "train": {"fraction_train": 0.5}},
            "at least 3 clients per round",
        ),
    ],
)
def test_refused_combinations(sections, match):
    data: dict[str, dict] = {
        "data": {"path": str(NOTES), "partition": "field", "partition_field": "site"},
        "secure_aggregation": {"enabled": True},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    data["data"] = {k: v for k, v in data["data"].items() if v is not None}
    with pytest.raises(ConfigError, match=match):
        parse_config(data, source="t.toml")


def test_too_few_clients_for_the_threshold():
    config = parse_config(
        {
            "data": {"path": str(NOTES), "partition": "field", "partition_field": "site"},
            "secure_aggregation": {"enabled": True, "num_shares": 5, "reconstruction_threshold": 4},
        },
        source="t.toml",
    )
    secagg.check_supported(config, 5)
    with pytest.raises(ConfigError, match="more than reconstruction_threshold \\(4\\); this run has 4"):
        secagg.check_supported(config, 4)
    big = replace(config, secure_aggregation=replace(config.secure_aggregation, quantization_range=2**30))
    with pytest.raises(ConfigError, match="overflow"):
        secagg.check_supported(big, 5)


@pytest.mark.slow
def test_guard_federate_refuses_before_training(tmp_path):
    """Field partition with 4 sites but a threshold of 4: known only once the data is read;
    `guard federate` exits with the config error before Ray or any training starts."""
    path = _config_file(tmp_path, secure_aggregation={"enabled": True, "num_shares": 5, "reconstruction_threshold": 4})
    out = tmp_path / "run"
    proc = _guard("federate", "--config", str(path), "--out", str(out), timeout=300)
    assert proc.returncode == ExitCode.CONFIG, proc.stderr[-2000:]
    assert "reconstruction_threshold (4); this run has 4" in proc.stderr
    assert not list(out.glob("checkpoints/*")) and not list(out.glob("*.safetensors"))


# ---------------------------------------------------------------- 3. guard federate end to end


def _guard(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "guard", *args],
        cwd=ROOT,
        env={**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_guard_federate_with_secure_aggregation_end_to_end(tmp_path):
    """2 rounds on Flower's Simulation Engine, DP on, four sites; lakeside crashes in round 2
    (after the key exchange): the round goes on with three, the run finishes, and the
    ledger holds each client's epsilon as Opacus's accountant recomputes it."""
    path = _config_file(
        tmp_path,
        train={"rounds": 2, "batch_size": 32, "lr": 0.003},
        dp={"target_epsilon": 8.0, "noise_multiplier": None},
    )
    out = tmp_path / "run"
    proc = _guard("federate", "--config", str(path), "--out", str(out), env={guard_client.FAULT_ENV: "lakeside:2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = RunDir(out)
    state = run.read_state()
    assert state.finished and state.last_round == 2
    ledger = json.loads(run.ledger_file.read_text(encoding="utf-8"))
    rounds = {c["client_id"]: [h["round"] for h in c["history"]] for c in ledger["clients"]}
    assert rounds == {s: [1] if s == "lakeside" else [1, 2] for s in SITES}
    for c in ledger["clients"]:
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
        assert 0 < c["epsilon"] <= 8.0
    failures = [json.loads(line) for line in run.failures_file.read_text(encoding="utf-8").splitlines()]
    assert [(f["round"], f["client"]) for f in failures] == [(2, "lakeside")]
    rows = [json.loads(line) for line in run.metrics_file.read_text(encoding="utf-8").splitlines()]
    agg = [r for r in rows if r["phase"] == "aggregate"]
    assert [(r["round"], r["clients_trained"]) for r in agg] == [(1, 4), (2, 3)]
    assert 0 < agg[-1]["evaluate"]["eval_accuracy"] <= 1
    assert (run.model_dir / "README.md").is_file()
    assert any(run.model_dir.glob("*.safetensors"))

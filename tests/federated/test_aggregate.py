"""Aggregation as replies arrive (`federated.aggregate`): the running aggregators equal
Flower 1.42's own `aggregate_train`, FedAdam's moments survive a resume, and the server's
memory for one round does not grow with its number of clients."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict

from federated import wire
from federated.aggregate import AGGREGATORS, AggregationError, RunningFedAdam, reply_weights, running_aggregator
from federated.config import parse_config
from federated.ledger import PrivacyLedger
from federated.privacy import epsilon_of
from federated.rundir import RunDir
from federated.server import _exchange, _TrainReplies, prepare_run, serve
from federated.stopping import STOP
from federated.strategies import build_strategy, strategy_names
from guard.core.errors import ExitCode, RunError

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
ADAM = {"eta": 0.05, "beta_1": 0.9, "beta_2": 0.99, "tau": 1e-3}


@pytest.fixture(autouse=True)
def _server_process():
    """What a ServerApp process has: Flower's task identity (Messages are made with it), no stop pending."""
    from flwr.supercore.task_identity import TaskIdentity

    before = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    STOP.clear()
    yield
    STOP.clear()
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = before


def _config(name: str = "fedavg", params: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Any:
    raw: dict[str, Any] = {
        "data": {"path": "/unused.jsonl"},
        "strategy": {"name": name, "params": params or {}},
        "dp": {"enabled": False, "target_epsilon": None},
    }
    raw.update(sections)
    return parse_config(raw)


def _model(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "embed.weight": rng.normal(size=(50, 8)).astype(np.float32),
        "head.weight": rng.normal(size=(3, 8)).astype(np.float32),
        "head.bias": rng.normal(size=(3,)).astype(np.float32),
    }


def _client_weights(rng: np.random.Generator, base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (v + rng.normal(scale=0.05, size=v.shape)).astype(np.float32) for k, v in base.items()}


def _content(weights: dict[str, np.ndarray], n: float, cid: str = "site") -> RecordDict:
    return RecordDict(
        {
            wire.GUARD_RECORD: ConfigRecord({wire.CLIENT_ID: cid, wire.STOPPED: ""}),
            "arrays": wire.to_arrays(weights),
            "metrics": MetricRecord({"num-examples": float(n), "train_loss": 1.0}),
        }
    )


def _messages(replies: list[tuple[dict[str, np.ndarray], float]]) -> list[Message]:
    return [Message(_content(w, n), dst_node_id=i + 1, message_type="train") for i, (w, n) in enumerate(replies)]


def _flower_round(strategy: Any, rnd: int, global_w: dict, replies: list) -> dict[str, np.ndarray]:
    # what FedOpt.configure_train keeps: the global ArrayRecord's arrays (packed by guard's wire)
    strategy.current_arrays = {k: a.numpy() for k, a in wire.to_arrays(global_w).items()}
    arrays, _ = strategy.aggregate_train(rnd, _messages(replies))
    return wire.from_arrays(arrays)


def _running_round(agg: Any, rnd: int, global_w: dict, replies: list) -> dict[str, np.ndarray]:
    agg.begin(rnd, global_w)
    for w, n in replies:
        agg.add(w, n)
    return agg.result()


def _assert_close(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], **tol: float) -> None:
    assert set(got) == set(expected)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], err_msg=k, **tol)


# -- the same numbers as Flower ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["fedavg", "fedprox"])
def test_running_mean_equals_flowers_aggregate_train(name):
    rng = np.random.default_rng(0)
    config = _config(name, {"proximal_mu": 0.1} if name == "fedprox" else {})
    strategy = build_strategy(config, 5)
    global_w = _model(rng)
    replies = [(_client_weights(rng, global_w), n) for n in (3, 17, 40, 1, 9)]

    expected = _flower_round(strategy, 1, global_w, replies)
    got = _running_round(running_aggregator(config, strategy), 1, global_w, replies)

    _assert_close(got, expected, rtol=1e-6, atol=1e-7)
    assert {k: v.dtype for k, v in got.items()} == {k: np.dtype(np.float32) for k in global_w}


def test_running_fedadam_equals_flowers_fedadam_over_rounds_with_its_moments():
    rng = np.random.default_rng(1)
    config = _config("fedadam", ADAM)
    strategy = build_strategy(config, 4)  # Flower's FedAdam keeps its own m and v across these rounds
    agg = running_aggregator(config, strategy)
    assert isinstance(agg, RunningFedAdam) and agg.stateful
    global_w = _model(rng)
    for rnd in range(1, 5):
        replies = [(_client_weights(rng, global_w), n) for n in (12, 30, 7, 51)]
        expected = _flower_round(strategy, rnd, global_w, replies)
        fresh = _running_round(running_aggregator(config, strategy), rnd, global_w, replies)  # moments at zero
        got = _running_round(agg, rnd, global_w, replies)
        _assert_close(got, expected, rtol=1e-5, atol=1e-6)
        if rnd > 1:  # the moments carried over are what makes the difference
            assert max(np.abs(fresh[k] - expected[k]).max() for k in expected) > 1e-3
        global_w = expected  # both go on from the same weights
    _assert_close(agg.m, _by_tensor(strategy.m_t), rtol=1e-4, atol=1e-7)
    _assert_close(agg.v, _by_tensor(strategy.v_t), rtol=1e-4, atol=1e-9)


def _by_tensor(packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flower's moments are keyed like the ArrayRecords it saw: guard's packed arrays."""
    from flwr.app import Array, ArrayRecord

    return wire.from_arrays(ArrayRecord({k: Array(v) for k, v in packed.items()}))


def test_fedadam_takes_flowers_defaults_for_parameters_the_config_leaves_out():
    config = _config("fedadam", {"eta": 0.2})
    agg = running_aggregator(config, build_strategy(config, 2))
    assert (agg.eta, agg.eta_l, agg.beta_1, agg.beta_2, agg.tau) == (0.2, 0.1, 0.9, 0.99, 1e-3)


def test_every_registered_strategy_has_a_running_aggregator_and_user_level_dp_keeps_the_list_path():
    assert set(AGGREGATORS.names()) == set(strategy_names())
    user_dp = {"enabled": True, "clipping": "fixed", "noise_multiplier": 0.5, "clipping_norm": 5.0}
    config = _config("fedavg", user_dp=user_dp)
    assert running_aggregator(config, build_strategy(config, 4)) is None


def test_a_reply_that_does_not_fit_the_model_changes_nothing():
    rng = np.random.default_rng(2)
    global_w = _model(rng)
    good = [(_client_weights(rng, global_w), 10.0), (_client_weights(rng, global_w), 5.0)]
    config = _config()
    agg = running_aggregator(config, build_strategy(config, 3))
    agg.begin(1, global_w)
    agg.add(*good[0])
    bad_shape = {**good[1][0], "head.bias": np.zeros(4, np.float32)}
    missing = {k: v for k, v in good[1][0].items() if k != "head.bias"}
    for weights, n, match in [
        (bad_shape, 5.0, "'head.bias' has shape"),
        (missing, 5.0, "missing \\['head.bias'\\]"),
        (good[1][0], 0.0, "not a positive number"),
        (good[1][0], float("nan"), "not a positive number"),
    ]:
        with pytest.raises(AggregationError, match=match):
            agg.add(weights, n)
    agg.add(*good[1])
    assert agg.count == 2
    _assert_close(agg.result(), _running_round(running_aggregator(config, None), 1, global_w, good), rtol=0, atol=0)


# -- FedAdam's moments in the run directory --------------------------------------------------------


def test_fedadam_state_saved_and_loaded_goes_on_exactly_like_the_uninterrupted_aggregator(tmp_path):
    rng = np.random.default_rng(3)
    config = _config("fedadam", ADAM)
    strategy = build_strategy(config, 3)
    global_w = _model(rng)
    rounds = [[(_client_weights(rng, global_w), n) for n in (4, 9, 20)] for _ in range(3)]
    going_on = running_aggregator(config, strategy)
    for rnd in (1, 2):
        global_w = _running_round(going_on, rnd, global_w, rounds[rnd - 1])

    run = RunDir(tmp_path / "run")
    run.create()
    run.save_optimizer_state(2, going_on.state(), strategy="fedadam")
    resumed = running_aggregator(config, strategy)
    resumed.load_state(run.load_optimizer_state(2, strategy="fedadam"))

    expected = _running_round(going_on, 3, global_w, rounds[2])
    _assert_close(_running_round(resumed, 3, global_w, rounds[2]), expected, rtol=0, atol=0)
    path = run.optimizer_checkpoint(2)
    assert path.name == "round-002.optimizer.safetensors" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_or_misplaced_optimizer_checkpoint_is_a_run_error_naming_it(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create()
    assert run.load_optimizer_state(1, strategy="fedadam") is None  # a run from before moments were saved
    run.save_optimizer_state(1, {}, strategy="fedavg")  # nothing to save: no file
    assert not run.optimizer_checkpoint(1).exists()
    state = {"m/w": np.ones(3), "v/w": np.ones(3)}
    run.save_optimizer_state(1, state, strategy="fedadam")
    with pytest.raises(RunError, match="strategy 'fedadam'"):
        run.load_optimizer_state(1, strategy="fedyogi")
    shutil.copy(run.optimizer_checkpoint(1), run.optimizer_checkpoint(2))
    with pytest.raises(RunError, match=r"round-002\.optimizer\.safetensors: .* says round '1'"):
        run.load_optimizer_state(2, strategy="fedadam")
    path = run.optimizer_checkpoint(1)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(RunError, match=r"round-001\.optimizer\.safetensors: .* is damaged"):
        run.load_optimizer_state(1, strategy="fedadam")


# -- the server's memory for one round ---------------------------------------------------------------


class _LazyGrid:
    """Makes each reply only when it is pulled (as a Grid hands over what has arrived) and
    keeps nothing of it: what stays in memory is what the server holds."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.pending: dict[str, Message] = {}

    def push_messages(self, messages: list[Message]) -> list[str]:
        for i, msg in enumerate(messages):
            msg.metadata.__dict__["_message_id"] = f"m{i}"
            self.pending[f"m{i}"] = msg
        return list(self.pending)

    def pull_messages(self, ids: list[str]) -> list[Message]:
        return [self._reply(self.pending.pop(i)) for i in ids if i in self.pending]

    def _reply(self, msg: Message) -> Message:
        node = msg.metadata.dst_node_id
        shifted = {k: v + np.float32(node * 1e-3) for k, v in self.weights.items()}
        return Message(_content(shifted, 10.0, f"site-{node}"), reply_to=msg)


def _round_peak(n: int, *, running: bool, tmp_path: Path) -> int:
    """Peak bytes traced while one round's `n` training replies (1 MB of weights each) go
    through `_exchange` and `_TrainReplies`, the server's own code."""
    weights = {"w": np.zeros((512, 512), np.float32)}
    config = _config()
    aggregator = running_aggregator(config, build_strategy(config, n)) if running else None
    grid = _LazyGrid(weights)
    messages = [Message(RecordDict(), dst_node_id=i + 1, message_type="train") for i in range(n)]
    taken = _TrainReplies(
        1,
        run=RunDir(tmp_path),
        config=config,
        ledger=PrivacyLedger(),
        clients=None,
        node_clients={},
        aggregator=aggregator,
        weight_key="num-examples",
    )
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        if aggregator is not None:
            aggregator.begin(1, weights)
        _, stopped = _exchange(grid, messages, timeout=60, on_reply=taken.take)
        new = taken.new_weights(None)[0] if running else None
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert not stopped and taken.trained == n and len(taken.rows) == n
    if new is not None:
        np.testing.assert_allclose(new["w"], np.full((512, 512), np.mean([(i + 1) * 1e-3 for i in range(n)])), 1e-5)
    return peak


def test_server_memory_for_a_round_is_flat_from_10_to_100_clients(tmp_path):
    running = {n: _round_peak(n, running=True, tmp_path=tmp_path) for n in (10, 100)}
    listed = {n: _round_peak(n, running=False, tmp_path=tmp_path) for n in (10, 100)}
    assert running[100] / running[10] <= 1.2, running
    assert listed[100] / listed[10] > 5, listed  # the list path holds every reply: the measure sees it


def _taken(aggregator: Any, tmp_path: Path) -> _TrainReplies:
    config = _config()
    return _TrainReplies(
        1,
        run=RunDir(tmp_path),
        config=config,
        ledger=PrivacyLedger(),
        clients=None,
        node_clients={},
        aggregator=aggregator,
        weight_key="num-examples",
    )


def _reply_from(node: int, content: RecordDict) -> Message:
    return Message(content, reply_to=Message(RecordDict(), dst_node_id=node, message_type="train"))


def test_a_reply_whose_weights_do_not_fit_is_that_clients_failure_and_the_round_goes_on(tmp_path):
    weights = {"w": np.zeros((4, 4), np.float32)}
    config = _config()
    aggregator = running_aggregator(config, build_strategy(config, 2))
    aggregator.begin(1, weights)
    taken = _taken(aggregator, tmp_path)
    ok = _reply_from(7, _content({"w": np.ones((4, 4), np.float32)}, 5, "northgate"))
    bad = _reply_from(8, _content({"w": np.ones((3, 4), np.float32)}, 5, "lakeside"))
    taken.take(bad)
    taken.take(ok)
    assert taken.trained == 1 and [r["client"] for r in taken.rows] == ["northgate"]
    (failure,) = taken.failures
    assert failure["client"] == "lakeside" and failure["node"] == 8 and failure["phase"] == "train"
    assert failure["reason"].startswith("weights not aggregated: its weight 'w' has shape (3, 4)")
    np.testing.assert_array_equal(taken.new_weights(None)[0]["w"], np.ones((4, 4), np.float32))


class _StoppingGrid(_LazyGrid):
    """A stop request arrives while the first batch is being pulled; one reply of it is an error."""

    def pull_messages(self, ids: list[str]) -> list[Message]:
        from flwr.app import Error

        out = super().pull_messages(ids)
        STOP.request(signal.SIGTERM)
        out[0] = Message(Error(code=0, reason="killed"), reply_to=self.pushed_messages[ids[0]])
        return out

    def push_messages(self, messages: list[Message]) -> list[str]:
        self.pushed_messages = dict(zip([f"m{i}" for i in range(len(messages))], messages))
        return super().push_messages(messages)


def test_exchange_stops_after_the_batch_in_hand_keeping_its_results_not_its_errors(tmp_path):
    weights = {"w": np.zeros((4, 4), np.float32)}
    grid = _StoppingGrid(weights)
    taken = _taken(None, tmp_path)
    messages = [Message(RecordDict(), dst_node_id=i + 1, message_type="train") for i in range(10)]
    _, stopped = _exchange(grid, messages, timeout=60, on_reply=taken.take)
    assert stopped
    assert [r["client"] for r in taken.rows] == ["site-2", "site-3", "site-4"]  # the batch in hand, in order
    assert taken.failures == [] and len(grid.pending) == 10 - 4  # nothing more was pulled


# -- a FedAdam run killed after round 1 and resumed ---------------------------------------------------


def _fedadam_run_config(tmp_path: Path, corpus: Path, *, rounds: int = 3, dp: bool = False) -> Path:
    path = tmp_path / "federate.toml"
    path.write_text(
        f"""[data]
path = "{corpus}"
partition = "field"
partition_field = "site"
max_length = 32
[model]
name = "tiny-classifier"
params = {{ dim = 16, layers = 1 }}
[train]
rounds = {rounds}
batch_size = 16
[strategy]
name = "fedadam"
params = {{ eta = 0.01 }}
[dp]
enabled = {str(dp).lower()}
""",
        encoding="utf-8",
    )
    return path


def _corpus(tmp_path: Path, n: int = 120) -> Path:
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(NOTES.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return path


class _InlineGrid:
    """Runs guard's real ClientApp in this process for each message (one node per client);
    `kill_at` raises at the push of that round's training, as a kill would cut the run."""

    def __init__(self, num_nodes: int, *, kill_at: int | None = None) -> None:
        self.num_nodes, self.kill_at = num_nodes, kill_at
        self.pending: dict[str, Message] = {}
        self.count = 0

    def get_node_ids(self) -> list[int]:
        return list(range(1, self.num_nodes + 1))

    def push_messages(self, messages: list[Message]) -> list[str]:
        for msg in messages:
            if msg.metadata.message_type == "train" and int(msg.content["config"]["server-round"]) == self.kill_at:
                raise _Killed
            self.count += 1
            msg.metadata.__dict__["_message_id"] = f"m{self.count}"
            self.pending[f"m{self.count}"] = msg
        return [m.metadata.message_id for m in messages]

    def pull_messages(self, ids: list[str]) -> list[Message]:
        from federated.client_app import app

        out = []
        for i in ids:
            msg = self.pending.pop(i)
            node = msg.metadata.dst_node_id
            context = Context(1, node, {"partition-id": node - 1, "num-partitions": self.num_nodes}, RecordDict(), {})
            out.append(app(msg, context))
        return out


class _Killed(Exception):
    pass


def _final(run: RunDir) -> dict[str, np.ndarray]:
    return run.load_checkpoint(run.read_state().last_round)


def test_fedadam_run_cut_after_round_1_and_resumed_ends_with_the_uninterrupted_runs_weights(
    tmp_path, caplog, one_torch_thread
):
    from federated.config import load_config

    config = load_config(_fedadam_run_config(tmp_path, _corpus(tmp_path)))
    whole = RunDir(tmp_path / "whole")
    prepare_run(config, whole, resume=False)
    nodes = len(whole.read_clients().clients)
    serve(_InlineGrid(nodes), whole)

    cut = RunDir(tmp_path / "cut")
    prepare_run(config, cut, resume=False)
    with pytest.raises(_Killed):
        serve(_InlineGrid(nodes, kill_at=2), cut)
    assert cut.read_state().last_round == 1 and cut.optimizer_checkpoint(1).is_file()
    old = RunDir(tmp_path / "old")  # the same cut run as an older guard left it: no moments
    shutil.copytree(cut.path, old.path)
    old.optimizer_checkpoint(1).unlink()

    prepare_run(None, cut, resume=True)
    serve(_InlineGrid(nodes), cut)
    assert cut.read_state().finished
    _assert_close(_final(cut), _final(whole), rtol=0, atol=1e-6)
    assert sorted(p.name for p in (cut.path / "checkpoints").iterdir()) == sorted(
        f"round-00{r}{suffix}" for r in (1, 2, 3) for suffix in (".safetensors", ".optimizer.safetensors")
    )

    prepare_run(None, old, resume=True)
    with caplog.at_level(logging.WARNING, logger="federated.server"):
        serve(_InlineGrid(nodes), old)
    assert "moments restart at zero from round 2" in caplog.text
    diff = max(np.abs(_final(old)[k] - _final(whole)[k]).max() for k in _final(whole))
    assert diff > 1e-3  # losing the moments changes the result: the resume above is not trivially equal


def test_a_damaged_optimizer_checkpoint_stops_the_resume_naming_it(tmp_path, one_torch_thread):
    from federated.config import load_config

    config = load_config(_fedadam_run_config(tmp_path, _corpus(tmp_path)))
    run = RunDir(tmp_path / "run")
    prepare_run(config, run, resume=False)
    nodes = len(run.read_clients().clients)
    with pytest.raises(_Killed):
        serve(_InlineGrid(nodes, kill_at=2), run)
    path = run.optimizer_checkpoint(1)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RunError, match=r"round-001\.optimizer\.safetensors: .* is damaged"):
        serve(_InlineGrid(nodes), run)
    assert run.read_state().last_round == 1


@pytest.mark.slow
def test_a_dp_fedadam_simulation_killed_after_round_1_resumes_to_the_same_weights_and_ledger(tmp_path):
    """The same as above through `guard federate` on Flower's Simulation Engine, with DP-SGD
    (PRV, the default accountant), the run SIGKILLed once round 1 is checkpointed. Two rounds:
    the resumed round 2 starts from round 1's restored moments, which is what the in-process test
    above shows matters; each client's noise is seeded by run seed, round and client, so the
    resumed run ends on the uninterrupted run's weights. The resumed ledger holds both rounds
    and its epsilons are Opacus's for that history; a finished run has nothing to resume."""
    corpus = _corpus(tmp_path)
    config = _fedadam_run_config(tmp_path, corpus, rounds=2, dp=True)

    def guard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "guard", "federate", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
        )

    whole = tmp_path / "whole"
    done = guard("--config", str(config), "--out", str(whole))
    assert done.returncode == ExitCode.OK, done.stderr[-3000:]
    cut = tmp_path / "cut"
    log = tmp_path / "cut.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "guard", "federate", "--config", str(config), "--out", str(cut)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 900  # a hang guard only: a loaded machine is slow, never wrong
        # the server writes the round's checkpoint, then state.json: wait for the state, or a kill
        # between the two writes leaves a checkpoint that state.json does not count yet
        while not (cut / "state.json").is_file() or json.loads((cut / "state.json").read_text())["last_round"] < 1:
            why = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before round 1 finished\n{why}"
            assert time.monotonic() < deadline, f"no round 1 in 900 s\n{why}"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the run may have ended by itself
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state = RunDir(cut).read_state()
    assert state.last_round == 1 and not state.finished
    resumed = guard("--resume", str(cut), "--json")
    assert resumed.returncode == ExitCode.OK, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["rounds_done"] == 2
    assert "moments restart at zero" not in resumed.stderr
    _assert_close(_final(RunDir(cut)), _final(RunDir(whole)), rtol=0, atol=1e-5)
    aggregates = [r["round"] for r in _read_jsonl(cut / "metrics.jsonl") if r["phase"] == "aggregate"]
    assert aggregates == [1, 2]
    ledger = json.loads((cut / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["dp_enabled"] is True and ledger["clients"]
    for c in ledger["clients"]:  # a round cut short may be counted twice, never zero times
        rounds = [h["round"] for h in c["history"]]
        assert set(rounds) == {1, 2} and rounds == sorted(rounds)
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["accountant"] == "prv"
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
    again = guard("--resume", str(cut))
    assert again.returncode == ExitCode.FEDERATION and "nothing to resume" in again.stderr


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- the wire format: one packed array per dtype ------------------------------------------------


def test_weights_cross_the_wire_packed_in_one_array_per_dtype_and_come_back_equal():
    rng = np.random.default_rng(3)
    state = {**_model(rng), "steps": np.array([4, 5], dtype=np.int64), "scalar": np.float32(2.5)}
    record = wire.to_arrays(state)
    assert len(record) == 2  # float32 and int64: two objects to move, not five
    back = wire.from_arrays(record)
    assert sorted(back) == sorted(state)  # grouped by dtype: the order within a dtype is kept
    for k, v in state.items():
        assert back[k].dtype == np.asarray(v).dtype and back[k].shape == np.asarray(v).shape
        np.testing.assert_array_equal(back[k], v)


def test_a_packed_reply_whose_layout_does_not_fit_its_data_is_that_clients_failure():
    from flwr.app import Array, ArrayRecord

    rng = np.random.default_rng(4)
    global_w = _model(rng)
    ((key, arr),) = wire.to_arrays(global_w).items()
    short = ArrayRecord({key: Array(arr.numpy()[:-1])})
    content = _content(global_w, 3.0)
    content["arrays"] = short
    with pytest.raises(AggregationError, match="holds 426 values, its layout 427"):
        reply_weights(content)
    content["arrays"] = ArrayRecord({wire.PACKED + "{not json": Array(arr.numpy())})
    with pytest.raises(AggregationError, match="layout is not readable"):
        reply_weights(content)

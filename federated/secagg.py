"""`[secure_aggregation] enabled = true`: the rounds of `guard federate` under Flower's SecAgg+.

Flower 1.42 offers SecAgg+ only on its legacy stack: `SecAggPlusWorkflow` with a
`LegacyContext` and a legacy strategy on the server, `secaggplus_mod` around a
`NumPyClient` on each client. This module is that path: `server_app` and
`client_app` (entry points `federated.secagg:server_app` / `federated.secagg:client_app`).

What stays the same as `federated.server.serve`: each client runs the same
record-level (or person-level) DP-SGD (`federated.client.train`) before anything is
masked, so its ledger entry is unchanged; the run directory gets the same files each
round (checkpoint, metrics.jsonl, failures.jsonl, ledger, state) and the same model
and model card at the end. What differs: the server sees only the sum of the
clients' masked contributions; per-client metrics (and the ledger entry, the client
id and the stopped flag) still arrive unmasked, beside the masked vector.

What a client sends, and why: the *update* `trained - global` (float64), not its
weights. FedAvg of updates plus the global weights is FedAvg of the weights, and the
quantization error (see `error_bound`) depends only on `clipping_range`, not on the
values; but updates are small (a few hundredths for the tiny model at lr 0.003)
where weights are not (token embeddings reach 5.1 at initialization), so an update
fits a far smaller `clipping_range`, hence a finer quantization step, and a model
whose weights exceed the range still trains. float64 because SecAgg+ scales the
values to 2**22 levels: in float32 that step is 0.5 ulp and the rounding would add
up to half a level per client.

Nothing is clipped silently: SecAgg+ clips every scaled value to +-clipping_range
before quantizing it. Each client checks its own scaled update first (only it can:
the server sees the sum): `check_range` raises `UpdateOutOfRange` naming the tensor,
and the client then sends weight 0 (it adds nothing to the sum) with its ledger entry
(the privacy it spent training is still recorded) and the reason, which the server
writes to failures.jsonl; the round goes on without it while enough clients remain.

Tensor order: the arrays are the trainable tensors in sorted name order; the server
sends the names (`KEYS`) with every round, so both sides agree without relying on
the model's order.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message
from flwr.app.message_type import MessageType
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from federated import client as guard_client
from federated import wire
from federated.config import SECAGG_MODULUS as MODULUS_RANGE
from federated.config import FederateConfig, SecureAggregationConfig, Task, check_supported
from federated.ledger import PrivacyLedger
from federated.rundir import RunDir, RunState
from federated.server import FederateError
from federated.stopping import STOP, RunStopped

log = logging.getLogger(__name__)

KEYS = "guard-keys"  # fit/evaluate config: JSON list of the tensor names, in the order of the arrays
REFUSED = "secagg-refused"  # fit metrics: why the client sent no update (UpdateOutOfRange), its weight is 0


class UpdateOutOfRange(FederateError):
    """A client's update would be clipped by SecAgg+ (beyond +-clipping_range after weighting)."""


# ---------------------------------------------------------------- checks


def weight_factor(num_examples: int, sa: SecureAggregationConfig) -> float:
    """The factor SecAgg+ multiplies a client's values by: num_examples / max_weight,
    rounded to 1/quantization_range (as `secaggplus_mod` does)."""
    return round(num_examples / sa.max_weight * sa.quantization_range) / sa.quantization_range


def check_range(
    client_id: str, keys: Sequence[str], arrays: Sequence[np.ndarray], num_examples: int, sa: SecureAggregationConfig
) -> None:
    """Raise UpdateOutOfRange when SecAgg+ would clip any value of this update.

    SecAgg+ clips `value * weight_factor(num_examples)` to +-clipping_range before
    quantizing; a clipped value would move the aggregate with no trace. A client with
    more examples than max_weight is refused too: its factor exceeds 1 and the sum of
    factors (masked like the values) could overflow the modulus."""
    if num_examples > sa.max_weight:
        raise UpdateOutOfRange(
            f"{client_id}: {num_examples} training examples exceed [secure_aggregation] max_weight "
            f"{sa.max_weight:g}: SecAgg+ would overflow or clip this client's weighted update",
            hint="raise max_weight to at least the largest client's record count",
        )
    factor = weight_factor(num_examples, sa)
    for key, arr in zip(keys, arrays, strict=True):
        peak = float(np.max(np.abs(arr))) * factor if arr.size else 0.0
        if not np.isfinite(peak) or peak > sa.clipping_range:
            raise UpdateOutOfRange(
                f"{client_id}: the update of tensor {key!r} reaches {peak:.4g} after example weighting, beyond "
                f"[secure_aggregation] clipping_range {sa.clipping_range:g}: SecAgg+ would clip it silently",
                hint="raise clipping_range (a coarser quantization step) or lower [train] lr",
            )


def error_bound(num_examples: Sequence[int], peak: float, sa: SecureAggregationConfig) -> float:
    """The largest difference, per value, between SecAgg+'s aggregate and exact FedAvg of
    the same updates (weights num_examples), when every update lies within +-peak and
    passes `check_range`.

    With Q = quantization_range, C = clipping_range, W = max_weight and k clients,
    client i's weight is r_i = round(n_i Q / W) and the server divides by R = sum r_i:
    - stochastic rounding of each value to an integer level errs by less than one level,
      (2C/Q) in value units, scaled by Q/R when dividing by the weights: < 2C k / R;
    - the weights r_i/R differ from n_i/N by at most k/R in total (each r_i by 1/2,
      their sum by k/2), moving a mean of values within +-peak by at most peak k / R.
    So |SecAgg+ - FedAvg| < k (2C + peak) / R. With the defaults (C 8, Q 2**22,
    W 1000) and 4 clients of 100 examples: R = 1.68e6, bound 3.8e-5 + 2.4e-6 peak."""
    r_total = sum(round(n / sa.max_weight * sa.quantization_range) for n in num_examples)
    if r_total <= 0:
        return float("inf")
    return len(num_examples) * (2 * sa.clipping_range + peak) / r_total


# ---------------------------------------------------------------- client


def _metrics(reply: guard_client.ClientReply) -> dict[str, Any]:
    """Legacy metrics allow strings: the client id, stopped flag, ledger entry and a
    silo's counts travel here, unmasked, beside the masked update."""
    from dataclasses import asdict

    out: dict[str, Any] = {k: float(v) for k, v in reply.metrics.items()}
    out[wire.CLIENT_ID] = reply.client_id
    out[wire.STOPPED] = reply.stopped
    if reply.ledger_entry is not None:
        out[wire.LEDGER_ENTRY] = json.dumps(asdict(reply.ledger_entry))
    if reply.info is not None:
        out[wire.CLIENT_INFO] = json.dumps(reply.info)
    return out


class SecAggClient(NumPyClient):
    """guard's client behind `secaggplus_mod`: trains with `federated.client.train` and
    returns its update, which the mod quantizes and masks."""

    def __init__(self, context: Context) -> None:
        from federated.client_app import _partition
        from federated.silo import SiloNode

        self.partition_id, self.num_partitions = _partition(context)
        self.node = SiloNode.from_node_config(context.node_config)

    def _common(self, parameters: list[np.ndarray], config: dict[str, Any]) -> dict[str, Any]:
        keys = json.loads(str(config[KEYS]))
        return {
            "config_json": str(config[wire.CONFIG]),
            "canaries_json": str(config.get(wire.CANARIES, "")),
            "weights": dict(zip(keys, parameters, strict=True)),
            "partition_id": self.partition_id,
            "num_partitions": self.num_partitions,
            "node": self.node,
        }

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict]:
        common = self._common(parameters, config)
        reply = guard_client.train(
            **common,
            ledger_json=str(config.get(wire.LEDGER, "")),
            noise_json=str(config.get(wire.NOISE, "")),
            server_round=int(config[wire.ROUND]),
        )
        if reply.state is None:  # out of budget: still in the masking protocol, with weight 0 (adds nothing)
            return _nothing(parameters), 0, _metrics(reply)
        keys, start = list(common["weights"]), common["weights"]
        update = [reply.state[k].astype(np.float64) - np.asarray(start[k], dtype=np.float64) for k in keys]
        num_examples = int(reply.metrics["num-examples"])
        try:
            check_range(reply.client_id, keys, update, num_examples, _config_of(common["config_json"]))
        except UpdateOutOfRange as e:
            # Not raised to Flower: the privacy this round spent must still reach the ledger.
            # Weight 0 takes the client out of the sum; the server records the refusal as a failure.
            log.error("%s", e)
            return _nothing(parameters), 0, {**_metrics(reply), REFUSED: str(e)}
        return update, num_examples, _metrics(reply)

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[float, int, dict]:
        reply = guard_client.evaluate(**self._common(parameters, config))
        return float(reply.metrics["eval_loss"]), int(reply.metrics["num-examples"]), _metrics(reply)


def _config_of(config_json: str) -> SecureAggregationConfig:
    from federated.config import config_from_json

    return config_from_json(json.loads(config_json)).secure_aggregation


def _nothing(parameters: list[np.ndarray]) -> list[np.ndarray]:
    """An update of zeros: with weight 0 it adds exactly nothing (0 quantizes to the
    middle level, an integer, so stochastic rounding cannot move it)."""
    return [np.zeros(p.shape, dtype=np.float64) for p in parameters]


def _client_fn(context: Context) -> Any:
    return SecAggClient(context).to_client()


client_app = ClientApp(client_fn=_client_fn, mods=[secaggplus_mod])


# ---------------------------------------------------------------- server


@dataclass
class _Round:
    """What the replies of one round said, as they arrived."""

    number: int
    fit: list[tuple[int, dict[str, Any], int]] = field(default_factory=list)  # (node, metrics, num_examples)
    evaluate: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    aggregate: list[np.ndarray] | None = None  # the weighted mean of the updates, once unmasked


class _Recorder:
    """The run's bookkeeping, fed by `_WatchedGrid` as replies arrive (the ledger is
    written as soon as a client reports what it spent, as `serve` does)."""

    def __init__(self, run: RunDir, config: FederateConfig, ledger: PrivacyLedger) -> None:
        self.run, self.config, self.ledger = run, config, ledger
        self.clients_info = run.read_clients()
        self.node_clients: dict[int, str] = {}
        self.round = _Round(0)

    def on_reply(self, msg: Message) -> bool:
        """Record a reply; False drops it: a training reply whose ledger entry the server
        rejects (`federated.entry_check`) never reaches the workflow, so SecAgg+ counts
        that client as dropped and leaves its masked vector out of the sum."""
        from federated.server import _failure, _rejected, _take_reply

        phase = "evaluate" if msg.metadata.message_type == MessageType.EVALUATE else "train"
        if msg.has_error():
            self.round.failures.append(_failure(self.round.number, phase, msg))
            return True
        content = msg.content
        node = int(msg.metadata.src_node_id)
        if phase == "evaluate" and "evaluateres.metrics" in content.config_records:
            metrics = dict(content.config_records["evaluateres.metrics"])
            self.node_clients[node] = str(metrics[wire.CLIENT_ID])
            self.round.evaluate.append((node, metrics))
        if phase != "train" or "fitres.metrics" not in content.config_records:
            return True  # a SecAgg+ key exchange or unmasking reply
        metrics = dict(content.config_records["fitres.metrics"])
        cid = str(metrics[wire.CLIENT_ID])
        self.node_clients[node] = cid
        self.ledger, self.clients_info, problem = _take_reply(
            self.run, self.config, self.ledger, self.clients_info, metrics
        )
        self.run.write_ledger(self.ledger)  # what a client spent is recorded as soon as it is known
        if problem is not None:
            self.round.failures.append(_rejected(self.round.number, msg, cid, problem))
            return False
        if metrics.get(REFUSED):  # in the sum with weight 0
            reason = str(metrics[REFUSED])[:500]
            self.round.failures.append({"round": self.round.number, "phase": "train", "node": node, "reason": reason})
            return True
        num = int(content.metric_records["fitres.num_examples"]["num_examples"])
        self.round.fit.append((node, metrics, num))
        return True


class _WatchedGrid:
    """The grid the SecAgg+ workflow talks to: `send_and_receive` stops at a stop request
    (SIGINT/SIGTERM, as `serve` does) and hands every reply to the recorder."""

    def __init__(self, grid: Grid, recorder: _Recorder, timeout: float) -> None:
        self._grid, self._recorder, self._timeout = grid, recorder, timeout

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> list[Message]:
        from federated.server import _exchange

        replies, stopping = _exchange(self._grid, list(messages), timeout=timeout or self._timeout)
        kept = [msg for msg in replies if self._recorder.on_reply(msg)]
        if stopping:
            raise RunStopped(f"stopped during round {self._recorder.round.number}")
        weights = [w for w in map(_fit_weight, kept) if w is not None]
        if weights and not any(weights):
            # every client sent weight 0 (out of budget or refused): there is no mean to
            # unmask (Flower would divide by zero); with no replies the workflow halts
            return []
        return kept


def _fit_weight(msg: Message) -> int | None:
    """The example weight a SecAgg+ masked-vector reply carries; None for any other reply."""
    if msg.has_error() or "fitres.num_examples" not in msg.content.metric_records:
        return None
    return int(msg.content.metric_records["fitres.num_examples"]["num_examples"])


def _legacy_strategy(
    config: FederateConfig, num_clients: int, recorder: _Recorder, fit_config: Any, eval_config: Any
) -> Any:
    """Flower's legacy FedAvg, configured like `federated.strategies` does the Message
    API's; its aggregate under SecAgg+ is the unmasked weighted mean, kept for the round."""
    from flwr.common import parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    from federated.strategies import clients_per_round

    class _Capture(FedAvg):
        def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple[Any, dict]:
            if not results:
                return None, {}
            params = results[0][1].parameters  # SecAgg+ gives every result the same unmasked mean
            recorder.round.aggregate = parameters_to_ndarrays(params)
            return params, {}

        def aggregate_evaluate(self, server_round: int, results: list, failures: list) -> tuple[Any, dict]:
            return None, {}  # the round's rows are written from the replies themselves

    per_round = clients_per_round(config, num_clients)
    return _Capture(
        fraction_fit=config.train.fraction_train,
        fraction_evaluate=1.0,
        min_fit_clients=per_round,
        min_evaluate_clients=num_clients,
        min_available_clients=num_clients,
        on_fit_config_fn=fit_config,
        on_evaluate_config_fn=eval_config,
        accept_failures=True,
    )


def _workflow(sa: SecureAggregationConfig, timeout: float) -> Any:
    from flwr.server.workflow import SecAggPlusWorkflow

    return SecAggPlusWorkflow(
        num_shares=sa.num_shares,
        reconstruction_threshold=sa.reconstruction_threshold,
        max_weight=sa.max_weight,
        clipping_range=sa.clipping_range,
        quantization_range=sa.quantization_range,
        modulus_range=MODULUS_RANGE,
        timeout=timeout,
    )


def serve_secagg(grid: Grid, run: RunDir, context: Context) -> RunState:
    """`federated.server.serve` under SecAgg+: the remaining rounds of the run in `run`."""
    with STOP.serving():
        return _serve(grid, run, context)


@dataclass
class _Setup:
    config: FederateConfig
    state: RunState
    bundle: Any
    weights: dict[str, np.ndarray]
    keys: list[str]
    num_clients: int


def _setup(run: RunDir) -> _Setup:
    from federated.models import build_model, trainable_state

    config = run.load_config()
    state = run.read_state()
    clients_info = run.read_clients()
    num_clients = clients_info.silos or len(clients_info.clients)
    check_supported(config, num_clients, source=str(run.config_file))
    num_labels = len(clients_info.labels) if config.data.task is Task.classification else None
    bundle = build_model(config.model, task=config.data.task, num_labels=num_labels, seed=config.train.seed)
    weights = run.load_checkpoint(state.last_round) if state.last_round else trainable_state(bundle.model)
    run.truncate_after(state.last_round)
    return _Setup(config, state, bundle, weights, sorted(weights), num_clients)


def _serve(grid: Grid, run: RunDir, context: Context) -> RunState:
    from flwr.server import ServerConfig
    from flwr.server.compat.app_utils import start_update_client_manager_thread
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD
    from flwr.server.workflow.constant import Key as WorkflowKey
    from flwr.server.workflow.default_workflows import default_evaluate_workflow

    s = _setup(run)
    config, state, weights, keys = s.config, s.state, s.weights, s.keys
    recorder = _Recorder(run, config, run.read_ledger() or PrivacyLedger(dp_enabled=config.dp.enabled))
    config_json = json.dumps(config.to_json(), sort_keys=True)
    canaries_json = run.canaries_file.read_text(encoding="utf-8") if run.canaries_file.is_file() else ""
    noise_json = json.dumps({cid: p["noise_multiplier"] for cid, p in recorder.clients_info.privacy_plan.items()})
    keys_json = json.dumps(keys)

    def fit_config(server_round: int) -> dict[str, Any]:
        return {
            wire.CONFIG: config_json,
            wire.CANARIES: canaries_json,
            wire.LEDGER: recorder.ledger.dumps(),
            wire.NOISE: noise_json,
            wire.ROUND: server_round,
            KEYS: keys_json,
        }

    def eval_config(server_round: int) -> dict[str, Any]:
        return {wire.CONFIG: config_json, wire.CANARIES: canaries_json, KEYS: keys_json}

    timeout = 3600.0
    strategy = _legacy_strategy(config, s.num_clients, recorder, fit_config, eval_config)
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=config.train.rounds), strategy=strategy)
    watched = _WatchedGrid(grid, recorder, timeout)
    workflow = _workflow(config.secure_aggregation, timeout)
    thread, f_stop, c_done = start_update_client_manager_thread(watched, legacy.client_manager)
    c_done.wait()
    cfg = ConfigRecord()
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = cfg
    try:
        for rnd in range(state.last_round + 1, config.train.rounds + 1):
            if STOP.is_set():
                raise RunStopped(f"stopped before round {rnd}")
            started = time.perf_counter()
            recorder.round = _Round(rnd)
            cfg[WorkflowKey.CURRENT_ROUND] = rnd
            _put(legacy, weights, keys)  # what configure_fit sends: the global weights
            workflow(watched, legacy)
            done = _after_fit(run, recorder, config)
            if done is None:
                break  # every client has spent its budget
            weights = {
                k: (weights[k].astype(np.float64) + u).astype(weights[k].dtype) for k, u in zip(keys, done, strict=True)
            }
            _put(legacy, weights, keys)  # the workflow left the mean update there; evaluate the new weights
            default_evaluate_workflow(watched, legacy)
            state = _end_round(run, recorder, state, weights, started)
    finally:
        f_stop.set()
        thread.join()
    return _finish(run, config, s.bundle, weights, state)


def _put(legacy: Any, weights: dict[str, np.ndarray], keys: list[str]) -> None:
    """Set the workflow's current parameters (what the next fit or evaluate messages carry)."""
    from flwr.common import ndarrays_to_parameters
    from flwr.compat.common.recorddict_compat import parameters_to_arrayrecord
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    params = ndarrays_to_parameters([weights[k] for k in keys])
    legacy.state.array_records[MAIN_PARAMS_RECORD] = parameters_to_arrayrecord(params, True)


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers of a legacy metrics dict (its strings are guard's: client id, ledger entry...)."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _train_rows(rnd: int, fit: list[tuple[int, dict[str, Any], int]]) -> tuple[list[dict], list[dict]]:
    """(rows for metrics.jsonl, numeric metrics of the clients that trained)."""
    from federated.server import _client_row

    rows, trained = [], []
    for _, metrics, _ in fit:
        cid = str(metrics[wire.CLIENT_ID])
        if str(metrics.get(wire.STOPPED, "")):
            rows.append({"round": rnd, "phase": "train", "client": cid, "stopped": str(metrics[wire.STOPPED])})
            continue
        numeric = _numeric(metrics)
        trained.append(numeric)
        rows.append(_client_row(rnd, "train", cid, numeric))
    return rows, trained


def _after_fit(run: RunDir, recorder: _Recorder, config: FederateConfig) -> list[np.ndarray] | None:
    """The round's mean update; None when every client is out of budget; FederateError
    when too few clients trained or SecAgg+ halted (fewer than the threshold left)."""
    from federated.server import _write_failures

    r = recorder.round
    rows, trained = _train_rows(r.number, r.fit)
    if len(trained) < config.train.min_train_clients or r.aggregate is None:
        _write_failures(run, r.failures, recorder.node_clients)
        run.append_jsonl(run.metrics_file, rows)
        if r.fit and not r.failures and not trained:
            log.warning("round %d: every client has spent its privacy budget; stopping", r.number)
            return None
        why = "" if r.aggregate is not None else " and secure aggregation halted (too few clients left to unmask)"
        raise FederateError(
            f"round {r.number}: {len(trained)} client(s) finished training, {len(r.failures)} failed{why}; at least "
            f"{config.train.min_train_clients} ([train] min_train_clients) and more than "
            f"reconstruction_threshold {config.secure_aggregation.reconstruction_threshold} needed",
            hint=f"see {run.failures_file}; the run can be resumed from round {r.number - 1} with --resume",
        )
    return r.aggregate


def _end_round(
    run: RunDir, recorder: _Recorder, state: RunState, weights: dict[str, np.ndarray], started: float
) -> RunState:
    """A finished round's writes, in `serve`'s order: failures, checkpoint, ledger, metrics, state."""
    from federated.server import _client_row, _weighted, _write_failures

    r = recorder.round
    rows, trained = _train_rows(r.number, r.fit)
    evals = []
    for _, metrics in r.evaluate:
        numeric = _numeric(metrics)
        evals.append(numeric)
        rows.append(_client_row(r.number, "evaluate", str(metrics[wire.CLIENT_ID]), numeric))
    rows.append(
        {
            "round": r.number,
            "phase": "aggregate",
            "train": _weighted(trained),
            "evaluate": _weighted(evals),
            "clients_trained": len(trained),
            "clients_failed": len(r.failures),
            "secure_aggregation": True,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    _write_failures(run, r.failures, recorder.node_clients)
    run.save_checkpoint(r.number, weights)
    run.write_ledger(recorder.ledger)
    run.append_jsonl(run.metrics_file, rows)
    state = replace(state, last_round=r.number)
    run.write_state(state)
    log.info("round %d done (SecAgg+): %s", r.number, rows[-1])
    return state


def _finish(run: RunDir, config: FederateConfig, bundle: Any, weights: dict[str, np.ndarray], state: RunState) -> Any:
    from federated.card import write_card
    from federated.models import load_trainable_state, save_model

    load_trainable_state(bundle.model, weights)
    labels = run.read_clients().labels
    save_model(bundle, run.model_dir, labels=labels, merged=config.model.save_merged)
    write_card(run, config)
    run.make_private(run.model_dir)
    state = replace(state, finished=True)
    run.write_state(state)
    return state


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    from federated.server_app import open_run

    serve_secagg(grid, open_run(context), context)


__all__ = [
    "KEYS",
    "SecAggClient",
    "UpdateOutOfRange",
    "check_range",
    "check_supported",
    "client_app",
    "error_bound",
    "serve_secagg",
    "server_app",
    "weight_factor",
]

"""The server's side of `guard federate`: plan a run, then drive its rounds.

`prepare_run` validates everything before any training (data, labels, model,
strategy, whether each client can reach its epsilon) and writes the run
directory. `serve` runs the rounds with the configured Flower strategy,
keeping after every round a checkpoint, the metrics, the failures and the
privacy ledger, so a killed run resumes from the last finished round.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

from federated import wire
from federated.config import FederateConfig, Task
from federated.ledger import ClientLedger, PrivacyLedger, UserLevelLedger
from federated.rundir import RunDir, RunState
from guard.core.errors import GuardError

log = logging.getLogger(__name__)


class FederateError(GuardError):
    """A federated run could not go on (too few clients left, nothing to resume)."""

    exit_code = 9


def _load_dataset(config: FederateConfig) -> Any:
    from federated.data import load_federated_dataset

    return load_federated_dataset(config.data, seed=config.train.seed)


def plan_privacy(config: FederateConfig, dataset: Any) -> dict[str, dict[str, float]]:
    """Noise per client for its target epsilon over the planned rounds, exactly as
    the clients will compute it; raises PrivacyError naming the client when a
    target cannot be reached, before any training."""
    from federated.client import new_ledger_entry
    from federated.task import noise_multiplier_for, plan

    out: dict[str, dict[str, float]] = {}
    if not config.dp.enabled:
        return out
    for c in dataset.clients:
        n = len(c.train)
        entry = new_ledger_entry(config, c.client_id, n)
        _, steps, rate = plan(n, config.train)
        sigma = noise_multiplier_for(n, train=config.train, dp=config.dp, delta=entry.delta, client_id=c.client_id)
        out[c.client_id] = {
            "records": n,
            "delta": entry.delta,
            "sample_rate": rate,
            "steps": steps * config.train.rounds,
            "noise_multiplier": sigma,
        }
    return out


def prepare_run(config: FederateConfig | None, run: RunDir, *, resume: bool) -> FederateConfig:
    """Create (or check, on resume) the run directory; return the run's config."""
    if resume:
        config = run.load_config()
        state = run.read_state()
        if state.finished:
            raise FederateError(f"{run.path}: the run finished all {state.rounds} rounds; nothing to resume")
        log.info("resuming %s after round %d", run.path, state.last_round)
        return config
    assert config is not None
    from federated.data import canaries_to_json, make_canaries, with_canaries
    from federated.models import build_model
    from federated.strategies import build_strategy

    dataset = _load_dataset(config)
    build_strategy(config, len(dataset.clients))  # unknown strategy / parameters fail here
    num_labels = len(dataset.labels) if config.data.task is Task.classification else None
    build_model(config.model, task=config.data.task, num_labels=num_labels, seed=config.train.seed)
    canaries = make_canaries(config.canaries, client_ids=[c.client_id for c in dataset.clients], seed=config.train.seed)
    dataset = with_canaries(dataset, canaries, seed=config.train.seed) if canaries else dataset
    privacy = plan_privacy(config, dataset)
    run.create(config)
    run.write_json(run.clients_file, {"summary": dataset.summary(), "labels": list(dataset.labels), "privacy_plan": privacy})
    run.write_json(run.canaries_file, canaries_to_json(canaries))
    run.write_ledger(PrivacyLedger(dp_enabled=config.dp.enabled))
    return config


def _client_row(round_: int, phase: str, client_id: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"round": round_, "phase": phase, "client": client_id, **{k.replace("-", "_"): v for k, v in metrics.items()}}


def _weighted(replies: list[dict[str, float]]) -> dict[str, float]:
    """Example-weighted means; epsilon is not averaged (the largest one is the claim)."""
    total = sum(r["num-examples"] for r in replies)
    keys = sorted(set().union(*replies) - {"num-examples", "epsilon"}) if replies else []
    out = {k: sum(r[k] * r["num-examples"] for r in replies) / total for k in keys} if total else {}
    out["num_examples"] = total
    eps = [r["epsilon"] for r in replies if "epsilon" in r]
    if eps:
        out["epsilon_max"] = max(eps)
    return out


def _failure(rnd: int, phase: str, msg: Any) -> dict[str, Any]:
    # A Ray/Flower error reason is a whole traceback; its last line says what happened.
    lines = [line.strip() for line in str(msg.error.reason).splitlines() if line.strip()]
    return {"round": rnd, "phase": phase, "node": int(msg.metadata.src_node_id), "reason": (lines[-1] if lines else "")[:500]}


def _write_failures(run: RunDir, failures: list[dict[str, Any]], node_clients: dict[int, str]) -> None:
    if not failures:
        return
    rows = [{**f, "client": node_clients.get(f["node"])} for f in failures]
    run.append_jsonl(run.failures_file, rows)
    log.warning("round %d: %d client(s) failed: %s", rows[0]["round"], len(rows), sorted(str(r["client"]) for r in rows))


def _user_level(config: FederateConfig, num_clients: int, rounds_done: int) -> UserLevelLedger | None:
    user = config.user_dp
    if not user.enabled:
        return None
    from federated.privacy import epsilon_of
    from federated.strategies import clients_per_round

    sampled = clients_per_round(config, num_clients)
    delta = user.delta if user.delta is not None else 1.0 / (10 * num_clients)
    q = sampled / num_clients
    eps = epsilon_of([(user.noise_multiplier, q, rounds_done)], delta, "rdp") if rounds_done else 0.0
    return UserLevelLedger(user.clipping, user.noise_multiplier, user.clipping_norm, sampled, num_clients, rounds_done, delta, eps)


def serve(grid: Any, run: RunDir) -> RunState:
    """Drive the remaining rounds of the run in `run` over `grid`."""
    from flwr.app import ConfigRecord

    from federated.models import build_model, load_trainable_state, save_model, trainable_state
    from federated.strategies import build_strategy

    config = run.load_config()
    state = run.read_state()
    clients_info = json.loads(run.clients_file.read_text(encoding="utf-8"))
    num_clients = len(clients_info["summary"]["clients"])
    labels = clients_info["labels"]
    num_labels = len(labels) if config.data.task is Task.classification else None
    bundle = build_model(config.model, task=config.data.task, num_labels=num_labels, seed=config.train.seed)
    weights = run.load_checkpoint(state.last_round) if state.last_round else trainable_state(bundle.model)
    run.truncate_after(state.last_round)
    ledger = run.read_ledger() or PrivacyLedger(dp_enabled=config.dp.enabled)
    strategy = build_strategy(config, num_clients)
    config_json = json.dumps(config.to_json(), sort_keys=True)
    canaries_json = run.canaries_file.read_text(encoding="utf-8") if run.canaries_file.is_file() else ""
    # Calibrating a noise multiplier takes seconds (a PRV search); planned once here,
    # not again in every client process (the Deployment Engine starts one per message).
    noise_json = json.dumps({cid: p["noise_multiplier"] for cid, p in clients_info.get("privacy_plan", {}).items()})
    timeout = 3600.0
    node_clients: dict[int, str] = {}  # learnt from replies, to name failed nodes

    for rnd in range(state.last_round + 1, config.train.rounds + 1):
        started = time.perf_counter()
        train_cfg = ConfigRecord(
            {
                wire.CONFIG: config_json,
                wire.CANARIES: canaries_json,
                wire.LEDGER: ledger.dumps(),
                wire.NOISE: noise_json,
                "lr": config.train.lr,
            }
        )
        messages = list(strategy.configure_train(rnd, wire.to_arrays(weights), train_cfg, grid))
        replies = list(grid.send_and_receive(messages, timeout=timeout))
        trained, rows, failures = [], [], []
        for msg in replies:
            if msg.has_error():
                failures.append(_failure(rnd, "train", msg))
                continue
            guard = msg.content[wire.GUARD_RECORD]
            cid = str(guard[wire.CLIENT_ID])
            node_clients[int(msg.metadata.src_node_id)] = cid
            if wire.LEDGER_ENTRY in guard:
                ledger = ledger.with_client(ClientLedger.from_json(json.loads(str(guard[wire.LEDGER_ENTRY]))))
            if str(guard[wire.STOPPED]):
                rows.append({"round": rnd, "phase": "train", "client": cid, "stopped": str(guard[wire.STOPPED])})
                continue
            trained.append(msg)
            rows.append(_client_row(rnd, "train", cid, dict(msg.content["metrics"])))
        # Privacy spent is recorded as soon as the replies are in, before anything
        # else can fail: a round re-run after a crash is counted twice, never zero times.
        run.write_ledger(ledger)
        if len(trained) < config.train.min_train_clients:
            _write_failures(run, failures, node_clients)
            run.append_jsonl(run.metrics_file, rows)
            run.write_ledger(ledger)
            if not failures and all("stopped" in r for r in rows):
                log.warning("round %d: every client has spent its privacy budget; stopping", rnd)
                break
            raise FederateError(
                f"round {rnd}: {len(trained)} client(s) finished training, {len(failures)} failed; "
                f"at least {config.train.min_train_clients} needed ([train] min_train_clients)",
                hint=f"see {run.failures_file}; the run can be resumed from round {rnd - 1} with --resume",
            )
        new_arrays, _ = strategy.aggregate_train(rnd, trained)
        if new_arrays is None:
            raise FederateError(f"round {rnd}: the strategy returned no weights")
        weights = wire.from_arrays(new_arrays)

        eval_cfg = ConfigRecord({wire.CONFIG: config_json, wire.CANARIES: canaries_json})
        eval_replies = list(grid.send_and_receive(list(strategy.configure_evaluate(rnd, new_arrays, eval_cfg, grid)), timeout=timeout))
        evals = []
        for msg in eval_replies:
            if msg.has_error():
                failures.append(_failure(rnd, "evaluate", msg))
                continue
            node_clients[int(msg.metadata.src_node_id)] = str(msg.content[wire.GUARD_RECORD][wire.CLIENT_ID])
            metrics = dict(msg.content["metrics"])
            evals.append(metrics)
            rows.append(_client_row(rnd, "evaluate", str(msg.content[wire.GUARD_RECORD][wire.CLIENT_ID]), metrics))
        train_metrics = [dict(m.content["metrics"]) for m in trained]
        rows.append({"round": rnd, "phase": "aggregate", "train": _weighted(train_metrics), "evaluate": _weighted(evals),
                     "clients_trained": len(trained), "clients_failed": len(failures),
                     "seconds": round(time.perf_counter() - started, 3)})
        user = _user_level(config, num_clients, rnd)
        if user is not None:
            ledger = replace(ledger, user_level=user)
        _write_failures(run, failures, node_clients)
        run.save_checkpoint(rnd, weights)
        run.write_ledger(ledger)
        run.append_jsonl(run.metrics_file, rows)
        state = RunState(rnd, config.train.rounds, config.config_hash())
        run.write_state(state)
        log.info("round %d done: %s", rnd, rows[-1])

    load_trainable_state(bundle.model, weights)
    save_model(bundle, run.model_dir, labels=labels)
    state = replace(state, finished=True)
    run.write_state(state)
    return state


__all__ = ["FederateError", "plan_privacy", "prepare_run", "serve"]

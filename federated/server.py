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
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from federated import wire
from federated.config import RECORD_UNIT, FederateConfig, Task
from federated.ledger import ClientLedger, PrivacyLedger, SharedPersons, UserLevelLedger
from federated.rundir import RunDir, RunState
from federated.stopping import STOP, RunStopped
from guard.core.errors import ExitCode, GuardError, RunError
from guard.core.rundir import FIX, ClientsFile

log = logging.getLogger(__name__)


class FederateError(GuardError):
    """A federated run could not go on (too few clients left, nothing to resume)."""

    exit_code = ExitCode.FEDERATION


def _load_dataset(config: FederateConfig) -> Any:
    from federated.data import load_federated_dataset

    return load_federated_dataset(config.data, seed=config.train.seed)


def plan_privacy(config: FederateConfig, dataset: Any) -> dict[str, dict[str, float]]:
    """Noise per client for its target epsilon over the planned rounds, exactly as
    the clients will compute it; raises PrivacyError naming the client when a
    target cannot be reached, before any training."""
    from federated.client import new_ledger_entry
    from federated.task import dp_plan, noise_multiplier_for

    out: dict[str, dict[str, float]] = {}
    if not config.dp.enabled:
        return out
    for c in dataset.clients:
        n = len(c.train)
        entry = new_ledger_entry(config, c.client_id, n)
        # person-level DP-SGD samples persons: its sample rate and steps come from their number
        steps, rate, persons = dp_plan(c.train, train=config.train, dp=config.dp)
        sigma = noise_multiplier_for(
            n, train=config.train, dp=config.dp, delta=entry.delta, client_id=c.client_id, persons=persons
        )
        out[c.client_id] = {
            "records": n,
            **({"persons": persons} if persons is not None else {}),
            "delta": entry.delta,
            "sample_rate": rate,
            "steps": steps * config.train.rounds,
            "noise_multiplier": sigma,
        }
    return out


def _mechanism(config: FederateConfig) -> str:
    if config.dp.unit == RECORD_UNIT:
        return PrivacyLedger.mechanism
    return f"DP-SGD (Opacus per-record gradients), person-level ({config.dp.unit}), per client"


def _shared(dataset: Any, salt: bytes) -> tuple[SharedPersons, ...]:
    from federated.data import shared_persons

    pairs = tuple(SharedPersons((a, b), n) for a, b, n in shared_persons(dataset, salt))
    for pair in pairs:
        log.warning(
            "clients %s and %s share %d person(s) in training: their guarantee composes across both clients",
            *pair.clients,
            pair.persons,
        )
    return pairs


def _new_salt(run: RunDir) -> bytes:
    """A random key for the run's person-id HMACs, kept in the run directory (0600)."""
    from federated.rundir import write_private

    salt = secrets.token_bytes(32)
    write_private(run.person_salt_file, salt.hex() + "\n")
    return salt


def _read_salt(run: RunDir) -> bytes:
    try:
        return bytes.fromhex(run.person_salt_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as e:
        raise RunError(
            f"{run.person_salt_file}: the key of the run's person hashes is missing or damaged ({type(e).__name__})",
            hint="restore the file or start a new run",
        ) from e


def with_persons(entry: ClientLedger, config: FederateConfig, clients: ClientsFile) -> ClientLedger:
    """A client's ledger entry with the run's privacy unit and its person counts (clients.json)."""
    info = clients.client(entry.client_id)
    counts = {}
    if config.data.person_field is not None and info is not None and info.persons is not None:
        counts = {
            "persons": info.persons,
            "persons_several": info.persons_several,
            "largest_person": info.largest_person,
        }
    return replace(entry, unit=config.dp.unit, **counts)


def prepare_run(
    config: FederateConfig | None, run: RunDir, *, resume: bool, allow_data_change: bool = False
) -> FederateConfig:
    """Create (or check, on resume) the run directory; return the run's config.

    A new run records its data (corpus hash, each client's counts and record hash)
    as the ledger's first data segment. On resume every run file is read and checked
    first (RunError naming the file on damage), then the corpus: when it changed,
    resume refuses (RunError) unless `allow_data_change`, which starts a new data
    segment from the next round."""
    if resume:
        return _prepare_resume(run, allow_data_change=allow_data_change)
    assert config is not None
    if config.silos.enabled:
        return _prepare_silos(config, run)
    from federated.data import canaries_to_json, make_canaries, with_canaries
    from federated.integrity import data_segment
    from federated.models import build_model
    from federated.strategies import build_strategy

    dataset = _load_dataset(config)
    build_strategy(config, len(dataset.clients))  # unknown strategy / parameters fail here
    num_labels = len(dataset.labels) if config.data.task is Task.classification else None
    build_model(config.model, task=config.data.task, num_labels=num_labels, seed=config.train.seed)
    canaries = make_canaries(config.canaries, client_ids=[c.client_id for c in dataset.clients], seed=config.train.seed)
    dataset = with_canaries(dataset, canaries, seed=config.train.seed) if canaries else dataset
    privacy = plan_privacy(config, dataset)
    segment = data_segment(dataset, config.data.path, from_round=1)
    _warn_duplicates(segment)
    run.create()
    ledger = PrivacyLedger(
        mechanism=_mechanism(config),
        dp_enabled=config.dp.enabled,
        segments=(segment,),
        person_field=config.data.person_field,
    )
    if config.data.person_field is not None:
        ledger = replace(ledger, shared_persons=_shared(dataset, _new_salt(run)))
    run.write_json(run.clients_file, _clients_json(dataset, privacy, ledger))
    run.write_json(run.canaries_file, canaries_to_json(canaries))
    run.write_ledger(ledger)
    run.write_state(RunState(0, config.train.rounds, config.config_hash(), corpus_sha256=segment.corpus_sha256))
    run.write_config(config)  # last: only now is this folder a run
    return config


def _prepare_silos(config: FederateConfig, run: RunDir) -> FederateConfig:
    """A silo run's directory: no corpus is opened, no canary and no noise is planned here
    (each node draws its own and calibrates its own); clients.json waits for the silos'
    counts, which arrive with their first replies."""
    from federated.data import canaries_to_json
    from federated.models import build_model
    from federated.strategies import build_strategy

    silos = config.data.num_clients
    build_strategy(config, silos)
    labels = config.silos.labels if config.data.task is Task.classification else ()
    build_model(config.model, task=config.data.task, num_labels=len(labels) or None, seed=config.train.seed)
    run.create()
    ledger = PrivacyLedger(
        mechanism=_mechanism(config), dp_enabled=config.dp.enabled, person_field=config.data.person_field
    )
    run.write_json(run.clients_file, ClientsFile(config.data.task.value, tuple(labels), (), silos=silos).to_json())
    run.write_json(run.canaries_file, canaries_to_json([]))  # each node keeps its own
    run.write_ledger(ledger)
    run.write_state(RunState(0, config.train.rounds, config.config_hash()))
    run.write_config(config)  # last: only now is this folder a run
    return config


def _with_silo(run: RunDir, clients: ClientsFile, info_json: str) -> ClientsFile:
    """clients.json with a silo's counts as it reported them (replacing its earlier ones)."""
    from guard.core.rundir import ClientInfo

    info = ClientInfo.from_json(json.loads(info_json))
    rest = tuple(c for c in clients.clients if c.client_id != info.client_id)
    if info in clients.clients:
        return clients
    updated = replace(clients, clients=tuple(sorted((*rest, info), key=lambda c: c.client_id)))
    run.write_json(run.clients_file, updated.to_json())
    return updated


def _clients_json(dataset: Any, privacy: dict[str, Any], ledger: PrivacyLedger) -> dict[str, Any]:
    return {
        "summary": dataset.summary(),
        "labels": list(dataset.labels),
        "privacy_plan": privacy,
        "segments": [asdict(s) for s in ledger.segments],
    }


def _warn_duplicates(segment: Any) -> None:
    for c in segment.clients:
        if c.duplicates or c.holdout_in_train:
            log.warning(
                "client %s: %d training record(s) repeat an earlier text and %d held-out record(s) are also in "
                "training; record-level DP counts every copy as its own record",
                c.client_id,
                c.duplicates,
                c.holdout_in_train,
            )


def _prepare_resume(run: RunDir, *, allow_data_change: bool) -> FederateConfig:
    from dataclasses import replace as replace_dc

    from federated.data import load_federated_dataset
    from federated.integrity import clients_changed, data_segment, describe_changes, short

    # every file first, read-only: a damaged run fails here, naming the file, before anything changes
    run.require()
    config = run.load_config()
    if not run.state_file.is_file():
        raise RunError(f"{run.state_file}: the run state is missing", hint="a run cannot be resumed without it")
    state = run.read_state()
    if state.config_hash != config.config_hash():
        raise RunError(f"{run.state_file}: the run state belongs to another config (its config hash differs)")
    if state.finished:
        raise FederateError(f"{run.path}: the run finished all {state.rounds} rounds; nothing to resume")
    clients_info = run.read_clients()
    ledger = run.read_ledger()
    if ledger is None:
        raise RunError(f"{run.ledger_file}: the privacy ledger is missing", hint="a run cannot be resumed without it")
    canaries = run.read_canaries()
    if state.last_round:
        run.load_checkpoint(state.last_round)
        run.load_optimizer_state(state.last_round, strategy=config.strategy.name)  # None when the run saved none
    run.read_metrics()  # damage before the last line fails here
    run.read_failures()
    if config.silos.enabled:  # the silos check their own data (federated.silo.load_silo)
        run.truncate_after(state.last_round)
        log.info("resuming silo run %s after round %d", run.path, state.last_round)
        return config

    # the data
    dataset = load_federated_dataset(config.data, seed=config.train.seed, canaries=canaries)
    now = data_segment(dataset, config.data.path, from_round=state.last_round + 1)
    before = ledger.segment
    if before is None:  # a run from before data segments: nothing to compare with
        log.warning(
            "%s records no data fingerprint; recording the current corpus from round %d on", run.path, now.from_round
        )
        ledger = ledger.with_segment(now)
    else:
        changes = describe_changes(before, now)
        labels_changed = list(dataset.labels) != list(clients_info.labels)
        if changes or labels_changed:
            what = "; ".join(changes) if changes else "the labels changed"
            since = f"since round {before.from_round}" if before.from_round > 1 else "since the run started"
            message = f"{run.path}: the training corpus {config.data.path} changed {since}: {what}"
            if clients_changed(before, now) or labels_changed:
                raise RunError(
                    message,
                    hint="a different set of clients or labels needs a new run: restore the corpus or start one",
                )
            if not allow_data_change:
                raise RunError(
                    message,
                    hint="the privacy ledger, sample rates and held-out split were made for the old data: restore "
                    "it, start a new run, or pass --allow-data-change to go on with a new ledger segment",
                )
            now = replace_dc(now, changes=changes)
            ledger = ledger.with_segment(now)
            if config.data.person_field is not None:
                ledger = replace_dc(ledger, shared_persons=_shared(dataset, _read_salt(run)))
            _warn_duplicates(now)
            log.warning(
                "%s: the corpus changed (sha256 %s -> %s); --allow-data-change: new data segment from round %d",
                run.path,
                short(before.corpus_sha256),
                short(now.corpus_sha256),
                now.from_round,
            )

    # now the writes: repaired logs, then the new segment (clients.json before the ledger:
    # cut short in between, the next resume sees the change again)
    run.truncate_after(state.last_round)
    if [asdict(s) for s in ledger.segments] != list(clients_info.segments) or ledger.segment is not before:
        privacy = {k: dict(v) for k, v in clients_info.privacy_plan.items()}
        run.write_json(run.clients_file, _clients_json(dataset, privacy, ledger))
        run.write_ledger(ledger)
    if state.corpus_sha256 != now.corpus_sha256:
        run.write_state(replace_dc(state, corpus_sha256=now.corpus_sha256))
    log.info("resuming %s after round %d", run.path, state.last_round)
    return config


def _client_row(round_: int, phase: str, client_id: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "round": round_,
        "phase": phase,
        "client": client_id,
        **{k.replace("-", "_"): v for k, v in metrics.items()},
    }


def _weighted(replies: list[dict[str, float]]) -> dict[str, float]:
    """Example-weighted means; epsilon is not averaged (the largest one is the claim)."""
    total = sum(r["num-examples"] for r in replies)
    keys = sorted(set().union(*replies) - {"num-examples", "epsilon"}) if replies else []
    keys = [k for k in keys if not k.startswith("reweight[")]  # a client's own weights, not averaged
    out = {k: sum(r[k] * r["num-examples"] for r in replies) / total for k in keys} if total else {}
    out["num_examples"] = total
    eps = [r["epsilon"] for r in replies if "epsilon" in r]
    if eps:
        out["epsilon_max"] = max(eps)
    return out


def _take_reply(
    run: RunDir, config: FederateConfig, ledger: PrivacyLedger, clients: ClientsFile, guard: Any
) -> tuple[PrivacyLedger, ClientsFile, str | None]:
    """What a training reply says besides its weights: a silo's counts (into clients.json)
    and the client's ledger entry, checked (`entry_check`) before it enters the ledger.
    Returns the ledger, the client summary and why the entry was rejected (None: accepted)."""
    from federated.entry_check import check_entry

    if wire.CLIENT_INFO in guard:
        clients = _with_silo(run, clients, str(guard[wire.CLIENT_INFO]))
    if wire.LEDGER_ENTRY not in guard:
        return ledger, clients, None
    entry = with_persons(ClientLedger.from_json(json.loads(str(guard[wire.LEDGER_ENTRY]))), config, clients)
    checked = check_entry(entry, config, before=ledger.client(entry.client_id))
    if checked.problem is not None:
        log.error("client %s: ledger entry rejected: %s", entry.client_id, checked.problem)
    return ledger.with_client(checked.entry), clients, checked.problem


def _rejected(rnd: int, msg: Any, client_id: str, problem: str) -> dict[str, Any]:
    return {
        "round": rnd,
        "phase": "train",
        "node": int(msg.metadata.src_node_id),
        "reason": f"ledger entry rejected: {problem}"[:500],
        "client": client_id,
    }


def _failure(rnd: int, phase: str, msg: Any) -> dict[str, Any]:
    # A Ray/Flower error reason is a whole traceback; its last line says what happened.
    lines = [line.strip() for line in str(msg.error.reason).splitlines() if line.strip()]
    return {
        "round": rnd,
        "phase": phase,
        "node": int(msg.metadata.src_node_id),
        "reason": (lines[-1] if lines else "")[:500],
    }


def _write_failures(run: RunDir, failures: list[dict[str, Any]], node_clients: dict[int, str]) -> None:
    if not failures:
        return
    rows = [{**f, "client": node_clients.get(f["node"])} for f in failures]
    run.append_jsonl(run.failures_file, rows)
    log.warning(
        "round %d: %d client(s) failed: %s", rows[0]["round"], len(rows), sorted(str(r["client"]) for r in rows)
    )


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
    return UserLevelLedger(
        user.clipping.value, user.noise_multiplier, user.clipping_norm, sampled, num_clients, rounds_done, delta, eps
    )


PULL_BATCH = 4  # replies pulled at once: with a running aggregate, the most the server holds at a time
PULL_WAIT_S = (0.05, 0.25)  # between pulls for replies: first wait, longest wait (doubling while none come)


def _exchange(
    grid: Any, messages: list[Any], *, timeout: float, on_reply: Callable[[Any], None] | None = None
) -> tuple[list[Any], bool]:
    """`grid.send_and_receive` that also returns when a stop is requested (SIGINT/SIGTERM):
    (replies received, stopped). Replies that arrive after the stop are dropped unless they
    carry a result (a killed client's error is no failure of the run).

    Replies are pulled PULL_BATCH message ids at a time. With `on_reply` each one is handed
    to it as it arrives and not kept (the list returned is empty), so what the server holds
    does not grow with the clients of a round."""
    ids = [i for i in grid.push_messages(messages) if i]
    pending = set(ids)
    replies: list[Any] = []
    take = on_reply if on_reply is not None else replies.append
    interval = PULL_WAIT_S[0]
    end = time.monotonic() + timeout
    while pending and time.monotonic() < end:
        before = len(pending)
        for batch in _batches([i for i in ids if i in pending], PULL_BATCH):
            if STOP.is_set():
                return replies, True
            got = list(grid.pull_messages(batch))[::-1]
            stopped = STOP.is_set()
            while got:  # each reply goes as soon as `take` has kept what it needs of it
                msg = got.pop()
                pending.discard(msg.metadata.reply_to_message_id)
                if not (stopped and msg.has_error()):
                    take(msg)
                del msg
            if stopped:
                return replies, True
        if pending:  # wait longer while nothing comes, start short again once a reply came
            interval = PULL_WAIT_S[0] if len(pending) < before else interval
            STOP.wait(interval)
            interval = min(interval * 2, PULL_WAIT_S[1])
    return replies, STOP.is_set()


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _TrainReplies:
    """One round's training replies, taken one at a time as they arrive (`take`): of each
    reply the server keeps its ledger entry, its metrics row or its failure; its weights go
    into the running aggregate and the reply itself is let go. On the list path (a strategy
    without a running aggregator, or user-level DP) the replies that trained are kept for
    the strategy's `aggregate_train`, as Flower does."""

    def __init__(
        self,
        rnd: int,
        *,
        run: RunDir,
        config: FederateConfig,
        ledger: PrivacyLedger,
        clients: ClientsFile,
        node_clients: dict[int, str],
        aggregator: Any,
        weight_key: str,
    ) -> None:
        self.rnd, self.run, self.config = rnd, run, config
        self.ledger, self.clients, self.node_clients = ledger, clients, node_clients
        self.aggregator, self.weight_key = aggregator, weight_key
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []  # of the clients that trained, for the round's means
        self.kept: list[Any] = []  # list path only
        self.trained = 0

    def take(self, msg: Any) -> None:
        if msg.has_error():
            self.failures.append(_failure(self.rnd, "train", msg))
            return
        guard = msg.content[wire.GUARD_RECORD]
        cid = str(guard[wire.CLIENT_ID])
        self.node_clients[int(msg.metadata.src_node_id)] = cid
        self.ledger, self.clients, problem = _take_reply(self.run, self.config, self.ledger, self.clients, guard)
        if problem is not None:
            self.failures.append(_rejected(self.rnd, msg, cid, problem))
            return
        if str(guard[wire.STOPPED]):
            self.rows.append({"round": self.rnd, "phase": "train", "client": cid, "stopped": str(guard[wire.STOPPED])})
            return
        if not self._aggregate(msg, cid):
            return
        metrics = dict(msg.content["metrics"])
        self.trained += 1
        self.metrics.append(metrics)
        self.rows.append(_client_row(self.rnd, "train", cid, metrics))

    def _aggregate(self, msg: Any, cid: str) -> bool:
        """Fold the reply's weights into the aggregate (list path: keep the reply); a reply whose
        weights do not fit the model is that client's failure, and the round goes on."""
        from federated.aggregate import AggregationError, reply_weights

        if self.aggregator is None:
            self.kept.append(msg)
            return True
        try:
            weights, num_examples = reply_weights(msg.content, weight_key=self.weight_key)
            self.aggregator.add(weights, num_examples)
        except AggregationError as e:
            reason = f"weights not aggregated: {e.message}"[:500]
            node = int(msg.metadata.src_node_id)
            self.failures.append({"round": self.rnd, "phase": "train", "node": node, "reason": reason, "client": cid})
            return False
        return True

    def new_weights(self, strategy: Any) -> tuple[dict[str, Any], Any]:
        """(the new global weights, the same as an ArrayRecord for the evaluation messages)."""
        if self.aggregator is not None:
            weights = self.aggregator.result()
            return weights, wire.to_arrays(weights)
        new_arrays, _ = strategy.aggregate_train(self.rnd, self.kept)
        self.kept = []
        if new_arrays is None:
            raise FederateError(f"round {self.rnd}: the strategy returned no weights")
        return wire.from_arrays(new_arrays), new_arrays


def _restore_optimizer(run: RunDir, config: FederateConfig, aggregator: Any, after: int, weights: Any) -> None:
    """A resumed run's server optimizer state (FedAdam's moments) as checkpointed after round
    `after`; a run that saved none goes on with a warning that they restart at zero."""
    from federated.aggregate import AggregationError

    if aggregator is None or not aggregator.stateful or not after:
        return
    name = config.strategy.name
    saved = run.load_optimizer_state(after, strategy=name)
    if saved is None:
        log.warning(
            "%s: no %s optimizer state was saved with round %d (a run from before it was checkpointed): "
            "its moments restart at zero from round %d",
            run.path,
            name,
            after,
            after + 1,
        )
        return
    try:
        aggregator.load_state(saved)
        aggregator.begin(after + 1, weights)  # checks the state fits the model
    except AggregationError as e:
        raise RunError(f"{run.optimizer_checkpoint(after)}: {e.message}", hint=FIX) from e
    log.info("restored the %s optimizer state of round %d", name, after)


def serve(grid: Any, run: RunDir) -> RunState:
    """Drive the remaining rounds of the run in `run` over `grid`.

    When a stop is requested (`federated.stopping.STOP`, set on SIGINT/SIGTERM) it
    stops at its next wait for replies: the rounds finished so far stay as written,
    what the replies already in say a client spent is added to the ledger, and it
    raises RunStopped."""
    with STOP.serving():
        return _serve(grid, run)


def _serve(grid: Any, run: RunDir) -> RunState:
    from flwr.app import ConfigRecord

    from federated.aggregate import running_aggregator
    from federated.models import build_model, load_trainable_state, save_model, trainable_state
    from federated.strategies import build_strategy

    config = run.load_config()
    state = run.read_state()
    clients_info = run.read_clients()
    num_clients = clients_info.silos or len(clients_info.clients)
    labels = clients_info.labels
    num_labels = len(labels) if config.data.task is Task.classification else None
    bundle = build_model(config.model, task=config.data.task, num_labels=num_labels, seed=config.train.seed)
    weights = run.load_checkpoint(state.last_round) if state.last_round else trainable_state(bundle.model)
    run.truncate_after(state.last_round)
    ledger = run.read_ledger() or PrivacyLedger(dp_enabled=config.dp.enabled)
    strategy = build_strategy(config, num_clients)
    aggregator = running_aggregator(config, strategy)  # None: the list path (Flower's aggregate_train)
    _restore_optimizer(run, config, aggregator, state.last_round, weights)
    config_json = json.dumps(config.to_json(), sort_keys=True)
    canaries_json = run.canaries_file.read_text(encoding="utf-8") if run.canaries_file.is_file() else ""
    # Calibrating a noise multiplier takes seconds (a PRV search); planned once here,
    # not again in every client process (the Deployment Engine starts one per message).
    noise_json = json.dumps({cid: p["noise_multiplier"] for cid, p in clients_info.privacy_plan.items()})
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
        if STOP.is_set():
            raise RunStopped(f"stopped before round {rnd}")
        messages = list(strategy.configure_train(rnd, wire.to_arrays(weights), train_cfg, grid))
        taken = _TrainReplies(
            rnd,
            run=run,
            config=config,
            ledger=ledger,
            clients=clients_info,
            node_clients=node_clients,
            aggregator=aggregator,
            weight_key=str(getattr(strategy, "weighted_by_key", "num-examples")),
        )
        if aggregator is not None:
            aggregator.begin(rnd, weights)
        _, stopping = _exchange(grid, messages, timeout=timeout, on_reply=taken.take)
        ledger, clients_info, rows, failures = taken.ledger, taken.clients, taken.rows, taken.failures
        # Privacy spent is recorded as soon as the replies are in, before anything
        # else can fail: a round re-run after a crash is counted twice, never zero times.
        run.write_ledger(ledger)
        if stopping:
            raise RunStopped(f"stopped during round {rnd} (training)")
        if taken.trained < config.train.min_train_clients:
            _write_failures(run, failures, node_clients)
            run.append_jsonl(run.metrics_file, rows)
            run.write_ledger(ledger)
            if not failures and all("stopped" in r for r in rows):
                log.warning("round %d: every client has spent its privacy budget; stopping", rnd)
                break
            raise FederateError(
                f"round {rnd}: {taken.trained} client(s) finished training, {len(failures)} failed; "
                f"at least {config.train.min_train_clients} needed ([train] min_train_clients)",
                hint=f"see {run.failures_file}; the run can be resumed from round {rnd - 1} with --resume",
            )
        weights, new_arrays = taken.new_weights(strategy)

        eval_cfg = ConfigRecord({wire.CONFIG: config_json, wire.CANARIES: canaries_json})
        eval_replies, stopping = _exchange(
            grid, list(strategy.configure_evaluate(rnd, new_arrays, eval_cfg, grid)), timeout=timeout
        )
        if stopping:
            raise RunStopped(f"stopped during round {rnd} (evaluation)")
        evals = []
        for msg in eval_replies:
            if msg.has_error():
                failures.append(_failure(rnd, "evaluate", msg))
                continue
            node_clients[int(msg.metadata.src_node_id)] = str(msg.content[wire.GUARD_RECORD][wire.CLIENT_ID])
            metrics = dict(msg.content["metrics"])
            evals.append(metrics)
            rows.append(_client_row(rnd, "evaluate", str(msg.content[wire.GUARD_RECORD][wire.CLIENT_ID]), metrics))
        train_metrics = taken.metrics
        rows.append(
            {
                "round": rnd,
                "phase": "aggregate",
                "train": _weighted(train_metrics),
                "evaluate": _weighted(evals),
                "clients_trained": taken.trained,
                "clients_failed": len(failures),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        user = _user_level(config, num_clients, rnd)
        if user is not None:
            ledger = replace(ledger, user_level=user)
        _write_failures(run, failures, node_clients)
        if aggregator is not None:  # before the weights and state.json: a finished round has both
            run.save_optimizer_state(rnd, aggregator.state(), strategy=config.strategy.name)
        run.save_checkpoint(rnd, weights)
        run.write_ledger(ledger)
        run.append_jsonl(run.metrics_file, rows)
        state = replace(state, last_round=rnd)
        run.write_state(state)
        log.info("round %d done: %s", rnd, rows[-1])

    load_trainable_state(bundle.model, weights)
    save_model(bundle, run.model_dir, labels=labels, merged=config.model.save_merged)
    from federated.card import write_card

    write_card(run, config)  # run/model/README.md: the model card (Hugging Face front matter)
    run.make_private(run.model_dir)
    state = replace(state, finished=True)
    run.write_state(state)
    return state


__all__ = ["FederateError", "plan_privacy", "prepare_run", "serve", "with_persons"]

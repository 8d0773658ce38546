"""Train and evaluate one client's model (no Flower imports: the Flower quickstart's `task.py`).

`train_client` runs local training, with Opacus DP-SGD when `[dp] enabled` (person-level
DP-SGD from `federated.person_dp` when `[dp] unit` names a person field), and
returns what it added to the client's privacy history. It refuses to train when
the planned steps would take the client past its target epsilon. Examples that carry
group values (`[data] reweight_by`) train with group-by-label weights (see
"group-by-label reweighting" below: under DP, clipped first, then weighted).
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from federated.config import ConfigError, DPConfig, GradSampleMode, Optimizer, Task, TrainConfig
from federated.ledger import AccountingStep, ClientLedger
from federated.models import ModelBundle, encode, load_trainable_state, unwrap
from federated.person_dp import PersonDP, PersonTrainer, grad_sample_mode, person_generator, person_groups, plan_persons
from federated.privacy import default_delta, epsilon_of, make_private, noise_for_target, noise_only_step
from guard.core.seeding import seed_everything

logger = logging.getLogger(__name__)

IGNORE = -100
OPTIMIZERS = tuple(m.value for m in Optimizer)
DEFAULT_MAX_LENGTH = 128


@dataclass(frozen=True)
class TrainResult:
    num_examples: int
    loss: float  # mean training loss over the samples seen (nan when nothing was trained)
    steps: int  # optimizer steps taken (with DP: steps the accountant recorded)
    accuracy: float | None  # classification training accuracy; None for causal LM
    step: AccountingStep | None  # what this call added to the privacy history (None: no DP or stopped)
    epsilon: float | None  # cumulative epsilon after this call (None when DP is off)
    stopped: str | None = None  # why it refused to train
    reweight: ReweightTable | None = None  # [data] reweight_by: the weights this call trained with


class SequenceLoss(nn.Module):
    """Next-token cross entropy, averaged per sequence (padding ignored), then over the batch.

    With `reduction = "none"` it returns one loss per sequence, which is what Opacus's
    ghost-clipping wrapper asks for: the privacy unit is the whole sequence (record).
    """

    def __init__(self) -> None:
        super().__init__()
        self.reduction = "mean"

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        b, length, vocab = logits.shape
        per_token = nn.functional.cross_entropy(
            logits.reshape(b * length, vocab), targets.reshape(-1), ignore_index=IGNORE, reduction="none"
        ).view(b, length)
        valid = (targets != IGNORE).to(per_token.dtype)
        per_sequence = (per_token * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
        if self.reduction == "none":
            return per_sequence
        if self.reduction == "sum":
            return per_sequence.sum()
        return per_sequence.mean()


def lm_targets(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Next-token targets aligned with the logits: position t predicts token t+1; padding -> IGNORE."""
    targets = torch.full_like(input_ids, IGNORE)
    targets[:, :-1] = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, IGNORE)
    return targets


def _criterion(task: Task) -> nn.Module:
    return nn.CrossEntropyLoss() if task is Task.classification else SequenceLoss()


# --- group-by-label reweighting (Kamiran & Calders 2012) --------------------------------------------------------
#
# Under `[data] reweight_by = [fields]` each training example of a client gets the weight
# w(g, y) = P(g) P(y) / P(g, y), computed from that client's OWN training split (g: the
# tuple of the example's values of those fields, y: its label): nothing about another
# silo's groups is needed or sent. Over the examples they were computed on the weights
# have mean 1 (sum_gy n_gy * n_g n_y / (N n_gy) / N = 1), so the loss keeps its scale.
# Examples without group values (inserted canaries) keep weight 1.
#
# Without DP the weight multiplies the example's loss. With DP-SGD a weight on the loss
# would be undone by clipping: an example whose gradient norm is above max_grad_norm is
# scaled to exactly max_grad_norm whatever its weight (measured: a weighted and an
# unweighted run ended with the same model). So under DP each example's gradient is
# clipped first and then multiplied by w / max(w) <= 1 (per-sample gradients, Opacus's
# hooks mode): every example's contribution stays within max_grad_norm, Opacus's own
# clipping still runs after it (a no-op by then, but it enforces the bound), and the
# noise, sample rate and steps are the unweighted run's, so the privacy ledger records
# exactly the same epsilon. The weights are a function of the client's group x label
# counts, which this treats as public, as the client's record count already is (it sets
# the sample rate and delta).


@dataclass(frozen=True)
class GroupWeight:
    """One cell of a client's reweighting table: group values x label, its count and weight."""

    group: tuple[str, ...]
    label: int
    count: int
    weight: float


@dataclass(frozen=True)
class ReweightTable:
    """The weights one client trains with: one cell per (group, label) seen in its training split."""

    fields: tuple[str, ...]
    cells: tuple[GroupWeight, ...]
    ungrouped: int  # examples without group values (canaries): weight 1

    def weight_of(self, group: tuple[str, ...], label: int) -> float:
        for cell in self.cells:
            if cell.group == group and cell.label == label:
                return cell.weight
        raise KeyError((group, label))

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "fields": list(self.fields),
            "formula": "w(g, y) = P(g) P(y) / P(g, y) on the client's own training split",
            "cells": [
                {"group": list(c.group), "label": c.label, "count": c.count, "weight": c.weight} for c in self.cells
            ],
            "ungrouped": self.ungrouped,
        }


def group_label_weights(
    groups: Sequence[tuple[str, ...]], labels: Sequence[int], *, fields: Sequence[str] = ()
) -> ReweightTable:
    """Kamiran & Calders reweighing: w(g, y) = P(g) P(y) / P(g, y) = n_g n_y / (N n_gy).

    A group with a single label (n_gy = n_g) gets weight P(y) for it: the formula never
    divides by zero, since only cells that occur are weighted."""
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} group values for {len(labels)} labels")
    n = len(labels)
    by_group: dict[tuple[str, ...], int] = {}
    by_label: dict[int, int] = {}
    by_cell: dict[tuple[tuple[str, ...], int], int] = {}
    for g, y in zip(groups, labels):
        g, y = tuple(g), int(y)
        by_group[g] = by_group.get(g, 0) + 1
        by_label[y] = by_label.get(y, 0) + 1
        by_cell[(g, y)] = by_cell.get((g, y), 0) + 1
    cells = tuple(
        GroupWeight(group=g, label=y, count=c, weight=by_group[g] * by_label[y] / (n * c))
        for (g, y), c in sorted(by_cell.items())
    )
    return ReweightTable(fields=tuple(fields), cells=cells, ungrouped=0)


def reweight_table(examples: Sequence[Any], *, fields: Sequence[str] = ()) -> ReweightTable | None:
    """The client's table from its examples' `groups` (None when no example carries group values)."""
    grouped = [e for e in examples if getattr(e, "groups", ())]
    if not grouped:
        return None
    missing = next((e for e in grouped if e.label is None), None)
    if missing is not None:
        raise ConfigError(f"reweighting needs labels: the example at line {missing.line} has none")
    table = group_label_weights([tuple(e.groups) for e in grouped], [int(e.label) for e in grouped], fields=fields)
    return ReweightTable(fields=table.fields, cells=table.cells, ungrouped=len(examples) - len(grouped))


def example_weights(examples: Sequence[Any], table: ReweightTable) -> torch.Tensor:
    """One float32 weight per example, in order (1 for an example without group values)."""
    lookup = {(c.group, c.label): c.weight for c in table.cells}
    return torch.tensor(
        [lookup[(tuple(e.groups), int(e.label))] if getattr(e, "groups", ()) else 1.0 for e in examples],
        dtype=torch.float32,
    )


class WeightedLoss(nn.Module):
    """A per-example loss times a per-example weight, then reduced (`reduction` as torch's).

    Opacus's ghost-clipping wrapper sets `reduction = "none"` and passes the keyword
    `weight` through, so the loss it clips per example is the weighted one; under hooks
    or functorch the per-sample gradient of `weight_i * loss_i` is what gets clipped."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.base.reduction = "none"
        self.reduction = "mean"

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        per_example = self.base(logits, targets)
        if weight is not None:
            per_example = per_example * weight.to(per_example.dtype)
        if self.reduction == "none":
            return per_example
        if self.reduction == "sum":
            return per_example.sum()
        return per_example.mean()


def _client_seed(seed: int, round: int, client_id: str) -> int:
    digest = hashlib.sha256(client_id.encode("utf-8")).digest()
    return (seed + round + int.from_bytes(digest[:4], "big")) % (2**31 - 1)


def _dataset(bundle: ModelBundle, examples: Sequence[Any], max_length: int) -> TensorDataset:
    """Tokenize once (padded to the longest record); batches are trimmed to their own longest."""
    enc = encode(bundle, [e.text for e in examples], max_length)
    if Task(bundle.task) is Task.classification:
        y = _labels(bundle, examples)
    else:
        y = torch.zeros(len(examples), dtype=torch.long)  # unused: targets come from the text
    return TensorDataset(enc["input_ids"], enc["attention_mask"], y)


def _batch(batch: Sequence[torch.Tensor], task: Task, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids, mask, y = batch
    length = int(mask.sum(dim=1).max()) if len(ids) else 1
    ids = ids[:, :length].contiguous().to(device)
    mask = mask[:, :length].contiguous().to(device)
    y = y.to(device) if task is Task.classification else lm_targets(ids, mask)
    return ids, mask, y


# --- frozen-feature training ---------------------------------------------------------------------------------
#
# A pretrained encoder that is frozen (minilm with train_layers = 0) computes the same
# pooled features for a record in every step, round and reference model: computing them
# once and training only the head on them gives the same DP-SGD (per-record gradients
# of the head, clipped and noised as before, same sample rate and steps, so the same
# accounting) for a fraction of the time. The features depend only on the record and on
# public pretrained weights, so they spend no privacy. They are computed in eval mode
# (no dropout), where the per-batch path ran the frozen encoder in train mode.


def frozen_head(model: nn.Module) -> nn.Module | None:
    """The head to train on cached features, or None: the model must offer
    `features(input_ids, attention_mask)` and a `head`, and every trainable weight must
    be in the head (nothing above the features trains)."""
    module = unwrap(model)
    head = getattr(module, "head", None)
    if not callable(getattr(module, "features", None)) or not isinstance(head, nn.Module):
        return None
    in_head = {id(p) for p in head.parameters()}
    trainable = [p for p in module.parameters() if p.requires_grad]
    if not trainable or any(id(p) not in in_head for p in trainable):
        return None
    return head


_FINGERPRINTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
_FEATURES: OrderedDict[tuple[str, str, int], torch.Tensor] = OrderedDict()
_FEATURE_CACHE_SIZE = 32  # (client or audit set) x model; a few hundred KB each for MiniLM


def _frozen_fingerprint(module: nn.Module, head: nn.Module) -> str:
    """sha256 of every weight and buffer outside the head (frozen, so computed once per module)."""
    known = _FINGERPRINTS.get(module)
    if known is not None:
        return known
    skip = {id(t) for t in head.parameters()} | {id(t) for t in head.buffers()}
    digest = hashlib.sha256()
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if id(tensor) in skip:
            continue
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    _FINGERPRINTS[module] = digest.hexdigest()
    return _FINGERPRINTS[module]


@torch.no_grad()
def cached_features(
    bundle: ModelBundle, examples: Sequence[Any], *, max_length: int, device: str = "cpu", batch_size: int = 64
) -> torch.Tensor:
    """`(N, hidden)` float32 CPU features of `examples` under the frozen encoder, computed once
    per process for the same weights, texts and max_length."""
    module = unwrap(bundle.model)
    head = frozen_head(module)
    if head is None:
        raise ConfigError(f"model {bundle.name} has trainable weights outside its head: no frozen features")
    texts = [e.text for e in examples]
    text_digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()
    key = (_frozen_fingerprint(module, head), text_digest, int(max_length))
    cached = _FEATURES.get(key)
    if cached is not None:
        _FEATURES.move_to_end(key)
        return cached
    was_training = module.training
    module.to(device).eval()
    parts = []
    try:
        for start in range(0, len(texts), batch_size):
            enc = encode(bundle, texts[start : start + batch_size], max_length)
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            parts.append(module.features(ids, mask).to("cpu", torch.float32))
    finally:
        module.train(was_training)
    features = torch.cat(parts) if parts else torch.zeros((0, head.in_features))
    _FEATURES[key] = features
    while len(_FEATURES) > _FEATURE_CACHE_SIZE:
        _FEATURES.popitem(last=False)
    return features


def _labels(bundle: ModelBundle, examples: Sequence[Any]) -> torch.Tensor:
    """Classification labels as a tensor, checked against num_labels (record line in errors)."""
    missing = next((e for e in examples if e.label is None), None)
    if missing is not None:
        raise ConfigError(f"classification example at line {missing.line} has no label")
    n = int(bundle.num_labels or 0)
    bad = next((e for e in examples if not 0 <= int(e.label) < n), None)
    if bad is not None:
        raise ConfigError(f"label {bad.label} at line {bad.line} is outside 0..{n - 1}")
    return torch.tensor([int(e.label) for e in examples], dtype=torch.long)


Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs, targets)


def _training_data(
    bundle: ModelBundle, examples: Sequence[Any], max_length: int, device: str
) -> tuple[nn.Module, TensorDataset, Callable[[Sequence[torch.Tensor]], Batch]]:
    """The module to train, its dataset and how a loader batch becomes (inputs, targets):
    the head on cached features when the encoder is frozen, else the whole model on tokens."""
    task = Task(bundle.task)
    head = frozen_head(bundle.model)
    if head is not None:
        features = cached_features(bundle, examples, max_length=max_length, device=device)

        def on_features(batch: Sequence[torch.Tensor]) -> Batch:
            x, y = batch
            return (x.to(device),), y.to(device)

        return head, TensorDataset(features, _labels(bundle, examples)), on_features

    def on_tokens(batch: Sequence[torch.Tensor]) -> Batch:
        ids, mask, y = _batch(batch, task, device)
        return (ids, mask), y

    return bundle.model, _dataset(bundle, examples, max_length), on_tokens


def _eval_batches(
    bundle: ModelBundle, examples: Sequence[Any], *, batch_size: int, device: str, max_length: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(logits, targets) over `examples` in order, in eval mode, without gradients."""
    task = Task(bundle.task)
    model = unwrap(bundle.model).to(device)
    model.eval()
    head = frozen_head(model)
    if head is not None:
        features = cached_features(bundle, examples, max_length=max_length, device=device)
        labels = _labels(bundle, examples)
        for start in range(0, len(examples), batch_size):
            x = features[start : start + batch_size].to(device)
            yield head(x), labels[start : start + batch_size].to(device)
        return
    loader = DataLoader(_dataset(bundle, examples, max_length), batch_size=batch_size, shuffle=False)
    for batch in loader:
        ids, mask, y = _batch(batch, task, device)
        yield model(ids, mask), y


def _local_setup(
    bundle: ModelBundle,
    examples: Sequence[Any],
    global_state: dict[str, np.ndarray] | None,
    *,
    proximal_mu: float,
    max_length: int,
    device: str,
) -> tuple[
    nn.Module,
    nn.Module,
    TensorDataset,
    Callable[[Sequence[torch.Tensor]], Batch],
    list[nn.Parameter],
    list[torch.Tensor] | None,
]:
    """The model with the server's weights loaded, what trains (the whole model, or the head on
    cached features), its data, its trainable parameters and the FedProx anchors (or None)."""
    model = bundle.model.to(device)
    if global_state is not None:
        load_trainable_state(model, global_state)
    train_module, dataset, prepare = _training_data(bundle, examples, max_length, device)
    params = [p for p in train_module.parameters() if p.requires_grad]
    anchors = (
        [
            torch.as_tensor(np.asarray(global_state[name])).to(device, p.dtype)
            for name, p in model.named_parameters()
            if p.requires_grad
        ]
        if proximal_mu > 0 and global_state is not None
        else None
    )
    return model, train_module, dataset, prepare, params, anchors


_OPTIMIZERS: dict[Optimizer, type[torch.optim.Optimizer]] = {
    Optimizer.adam: torch.optim.Adam,
    Optimizer.sgd: torch.optim.SGD,
}


def _optimizer(name: str, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return _OPTIMIZERS[Optimizer(name)](params, lr=lr)  # the config checked the name when it loaded


def plan(records: int, train: TrainConfig) -> tuple[int, int, float]:
    """(batch_size, steps per call, sample_rate) as Opacus will use them for `records` records.

    Opacus's sample rate is 1 / len(loader) = 1 / ceil(records / batch_size), and its
    Poisson loader yields that many batches per epoch.
    """
    batch = min(train.batch_size, records)
    per_epoch = math.ceil(records / batch)
    return batch, train.local_epochs * per_epoch, 1.0 / per_epoch


def dp_plan(examples: Sequence[Any], *, train: TrainConfig, dp: DPConfig) -> tuple[int, float, int | None]:
    """(steps per call, sample rate, persons) of this client's DP-SGD as `train_client` runs it:
    persons and the person sample rate under `[dp] unit = <person field>` (persons: None
    under the record unit)."""
    if dp.unit != "record":
        persons = len(person_groups(examples, unit=dp.unit))
        _, steps, rate = plan_persons(persons, train)
        return steps, rate, persons
    _, steps, rate = plan(len(examples), train)
    return steps, rate, None


def noise_multiplier_for(
    records: int,
    *,
    train: TrainConfig,
    dp: DPConfig,
    delta: float,
    client_id: str = "",
    persons: int | None = None,
) -> float:
    """The noise this client uses in every round: given, or calibrated for the planned rounds.

    Under `[dp] unit = <person field>` the calibration uses the person sample rate and
    the person-level step count (`federated.person_dp.plan_persons`): pass `persons`."""
    if dp.noise_multiplier is not None:
        return float(dp.noise_multiplier)
    if dp.target_epsilon is None:
        raise ConfigError("[dp] set exactly one of target_epsilon and noise_multiplier")
    if dp.unit != "record":
        if persons is None:
            raise ConfigError(
                f"[dp] unit = {dp.unit!r}: the noise is calibrated on the client's person count, which was not given"
            )
        _, steps, rate = plan_persons(persons, train)
    else:
        _, steps, rate = plan(records, train)
    return noise_for_target(
        dp.target_epsilon,
        delta,
        rate,
        train.rounds * steps,
        str(dp.accountant),
        client_id=client_id or None,
        records=records,
    )


def train_client(
    bundle: ModelBundle,
    examples: Sequence[Any],
    *,
    train: TrainConfig,
    dp: DPConfig,
    ledger: ClientLedger | None,
    round: int,
    global_state: dict[str, np.ndarray] | None,
    proximal_mu: float = 0.0,
    device: str = "cpu",
    max_length: int = DEFAULT_MAX_LENGTH,
) -> TrainResult:
    """Train `bundle.model` in place on this client's `examples` for `train.local_epochs`.

    `global_state` (the server's trainable weights) is loaded first and is the
    FedProx anchor when `proximal_mu > 0`. With DP, the noise multiplier is
    `dp.noise_multiplier` or calibrated so that `train.rounds` calls reach
    `dp.target_epsilon`; the accountant continues from `ledger.history`.
    The ledger is not changed: the caller adds `result.step`.
    """
    task = Task(bundle.task)
    records = len(examples)
    client_id = ledger.client_id if ledger is not None else ""
    if records == 0:
        return TrainResult(0, float("nan"), 0, None, None, ledger.epsilon if ledger else None, "no training records")
    if dp.enabled and dp.unit != "record":
        if any(getattr(e, "groups", ()) for e in examples):
            raise ConfigError(
                f"[data] reweight_by cannot be combined with person-level DP ([dp] unit = {dp.unit!r})",
                hint='a person\'s step sums several records before clipping; reweight with [dp] unit = "record"',
            )
        return _train_persons(
            bundle,
            examples,
            train=train,
            dp=dp,
            ledger=ledger,
            round=round,
            global_state=global_state,
            proximal_mu=proximal_mu,
            device=device,
            max_length=max_length,
        )
    batch_size, planned_steps, sample_rate = plan(records, train)

    noise = 0.0
    delta = 0.0
    history: list[tuple[float, float, int]] = []
    if dp.enabled:
        delta = ledger.delta if ledger is not None else (dp.delta or default_delta(records))
        accountant = ledger.accountant if ledger is not None else str(dp.accountant)
        history = ledger.opacus_history() if ledger is not None else []
        noise = noise_multiplier_for(records, train=train, dp=dp, delta=delta, client_id=client_id)
        stopped = _budget_stop(history, (noise, sample_rate, planned_steps), dp=dp, delta=delta, accountant=accountant)
        if stopped is not None:
            logger.info("client %s round %d stopped: %s", client_id or "?", round, stopped[0])
            return TrainResult(records, float("nan"), 0, None, None, stopped[1], stopped[0])

    seed_everything(_client_seed(train.seed, round, client_id))
    model, train_module, dataset, prepare, params, anchors = _local_setup(
        bundle, examples, global_state, proximal_mu=proximal_mu, max_length=max_length, device=device
    )
    criterion = _criterion(task)
    table = reweight_table(examples)
    private_dp = dp
    if table is not None:
        if task is not Task.classification:
            raise ConfigError('[data] reweight_by weights group x label: it needs task = "classification"')
        weights = example_weights(examples, table)
        if dp.enabled:  # clip, then weight by w / max(w) <= 1: needs per-sample gradients
            weights = weights / weights.max()
            if GradSampleMode(dp.clipping) is GradSampleMode.ghost:
                private_dp = replace(dp, clipping=GradSampleMode.hooks)
        else:
            criterion = WeightedLoss(criterion)
        dataset, prepare = _weighted(dataset, prepare, weights, device)
        logger.info(
            "client %s round %d: group-by-label weights %s",
            client_id or "?",
            round,
            ", ".join(f"{c.count}x{c.weight:.3g}" for c in table.cells),
        )
    generator = torch.Generator().manual_seed(_client_seed(train.seed, round, client_id))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=not dp.enabled, generator=generator)
    optimizer = _optimizer(train.optimizer, params, train.lr)

    model.train()  # Opacus validates the module in training mode
    private = None
    if dp.enabled:
        private = make_private(
            train_module, optimizer, loader, dp=private_dp, noise_multiplier=noise, history=history, criterion=criterion
        )
        run_model, optimizer, loader, criterion = private.model, private.optimizer, private.loader, private.criterion
        steps_before = sum(s for _, _, s in private.engine.accountant.history)
    else:
        run_model = train_module

    run_model.train()
    try:
        steps, total_loss, seen, correct = _local_epochs(
            run_model,
            loader,
            optimizer,
            criterion,
            prepare,
            task=task,
            epochs=train.local_epochs,
            params=params,
            anchors=anchors,
            lr=train.lr,
            proximal_mu=proximal_mu,
            clip_before_weight=dp.max_grad_norm if (dp.enabled and table is not None) else None,
        )
    finally:
        if private is not None:
            recorded = sum(s for _, _, s in private.engine.accountant.history) - steps_before
            private.close()
    model.eval()

    step = None
    epsilon = None
    if dp.enabled:
        steps = recorded
        step = AccountingStep(round=round, noise_multiplier=noise, sample_rate=sample_rate, steps=steps)
        accountant = ledger.accountant if ledger is not None else str(dp.accountant)
        epsilon = epsilon_of([*history, (noise, sample_rate, steps)], delta, accountant)
    return TrainResult(
        num_examples=records,
        loss=total_loss / seen if seen else float("nan"),
        steps=steps,
        accuracy=(correct / seen if seen else None) if task is Task.classification else None,
        step=step,
        epsilon=epsilon,
        reweight=table,
    )


def _weighted(
    dataset: TensorDataset, prepare: Callable[[Sequence[torch.Tensor]], Batch], weights: torch.Tensor, device: str
) -> tuple[TensorDataset, Callable[[Sequence[torch.Tensor]], Any]]:
    """The dataset with each example's weight as its last tensor; batches become (inputs, targets, weights)."""

    def with_weight(batch: Sequence[torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        inputs, y = prepare(batch[:-1])
        return inputs, y, batch[-1].to(device)

    return TensorDataset(*dataset.tensors, weights), with_weight


@torch.no_grad()
def clip_then_weight(params: Sequence[nn.Parameter], weight: torch.Tensor, *, max_grad_norm: float) -> torch.Tensor:
    """Scale Opacus's per-sample gradients (`p.grad_sample`) of a batch so that example i's
    gradient is clipped to `max_grad_norm` and then multiplied by `weight[i]` (<= 1).
    Returns the per-example norms after it (each <= max_grad_norm)."""
    if bool((weight > 1 + 1e-6).any()) or bool((weight < 0).any()):
        raise ValueError("weights applied after clipping must lie in [0, 1] (divide by their maximum)")
    samples = [p.grad_sample for p in params if getattr(p, "grad_sample", None) is not None]
    if not samples:
        raise ConfigError('reweighting under DP needs per-sample gradients ([dp] clipping = "hooks" or "functorch")')
    squared = torch.stack([g.reshape(len(g), -1).pow(2).sum(dim=1) for g in samples]).sum(dim=0)
    norms = squared.sqrt()
    factor = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * weight.to(norms.dtype)
    for g in samples:
        g.mul_(factor.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
    return norms * factor


def _budget_stop(
    history: list[tuple[float, float, int]],
    planned: tuple[float, float, int],
    *,
    dp: DPConfig,
    delta: float,
    accountant: str,
) -> tuple[str, float] | None:
    """(why, epsilon spent) when the planned call would take the client past its target epsilon."""
    if dp.target_epsilon is None:
        return None
    would_be = epsilon_of([*history, planned], delta, accountant)
    if would_be <= dp.target_epsilon * (1 + 1e-9):
        return None
    spent = epsilon_of(history, delta, accountant)
    reason = (
        f"privacy budget spent: epsilon {would_be:.4g} of {dp.target_epsilon:g} "
        f"(already {spent:.4g}) would be exceeded by another round"
    )
    return reason, spent


def _sum_criterion(task: Task) -> nn.Module:
    """The training loss summed over records: Opacus's per-record gradients are then each record's own."""
    criterion = _criterion(task)
    criterion.reduction = "sum"
    return criterion


def _train_persons(
    bundle: ModelBundle,
    examples: Sequence[Any],
    *,
    train: TrainConfig,
    dp: DPConfig,
    ledger: ClientLedger | None,
    round: int,
    global_state: dict[str, np.ndarray] | None,
    proximal_mu: float,
    device: str,
    max_length: int,
) -> TrainResult:
    """`train_client` under `[dp] unit = <person field>`: person-level DP-SGD (federated.person_dp).

    Persons are Poisson-sampled with q = min(1, batch_size / persons) for
    local_epochs * ceil(persons / batch_size) steps; the accountant continues from
    `ledger.history` with (noise, q, steps). The frozen-encoder path trains the head on
    cached features here too."""
    task = Task(bundle.task)
    records = len(examples)
    client_id = ledger.client_id if ledger is not None else ""
    groups = person_groups(examples, unit=dp.unit)
    expected, planned_steps, sample_rate = plan_persons(len(groups), train)
    delta = ledger.delta if ledger is not None else (dp.delta or default_delta(records))  # as new_ledger_entry
    accountant = ledger.accountant if ledger is not None else str(dp.accountant)
    history = ledger.opacus_history() if ledger is not None else []
    noise = noise_multiplier_for(records, train=train, dp=dp, delta=delta, client_id=client_id, persons=len(groups))
    stopped = _budget_stop(history, (noise, sample_rate, planned_steps), dp=dp, delta=delta, accountant=accountant)
    if stopped is not None:
        logger.info("client %s round %d stopped: %s", client_id or "?", round, stopped[0])
        return TrainResult(records, float("nan"), 0, None, None, stopped[1], stopped[0])

    logger.info(
        "client %s round %d: person-level DP-SGD over %d persons (sample rate %.4g, %d steps, noise %.4g)",
        client_id or "?",
        round,
        len(groups),
        sample_rate,
        planned_steps,
        noise,
    )
    seed = _client_seed(train.seed, round, client_id)
    seed_everything(seed)
    generator = person_generator(seed, secure_mode=dp.secure_mode)
    model, train_module, dataset, prepare, params, anchors = _local_setup(
        bundle, examples, global_state, proximal_mu=proximal_mu, max_length=max_length, device=device
    )
    optimizer = _optimizer(train.optimizer, params, train.lr)
    settings = PersonDP(
        noise_multiplier=noise,
        max_grad_norm=dp.max_grad_norm,
        sample_rate=sample_rate,
        expected_persons=float(expected),
        max_records_per_person=dp.max_records_per_person,
        secure_mode=dp.secure_mode,
        chunk_records=max(train.batch_size, dp.max_records_per_person),
    )
    model.train()
    trainer = PersonTrainer(
        train_module, settings, generator=generator, mode=grad_sample_mode(dp), accountant=accountant, history=history
    )
    criterion, plain_loss = _sum_criterion(task), _criterion(task)
    total_loss, seen, correct = 0.0, 0, 0
    try:
        trainer.module.train()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Full backward hook is firing")
            for _ in range(planned_steps):
                stats = trainer.step(dataset, groups, prepare, criterion, optimizer)
                _proximal(params, anchors, train.lr, proximal_mu)
                with torch.no_grad():
                    for logits, y in zip(stats.logits, stats.targets):
                        total_loss += float(plain_loss(logits, y)) * len(y)
                        if task is Task.classification:
                            correct += int((logits.argmax(dim=-1) == y).sum())
                        seen += len(y)
    finally:
        steps = trainer.steps_taken
        trainer.close()
    model.eval()
    epsilon = epsilon_of([*history, (noise, sample_rate, steps)], delta, accountant)
    return TrainResult(
        num_examples=records,
        loss=total_loss / seen if seen else float("nan"),
        steps=steps,
        accuracy=(correct / seen if seen else None) if task is Task.classification else None,
        step=AccountingStep(round=round, noise_multiplier=noise, sample_rate=sample_rate, steps=steps),
        epsilon=epsilon,
    )


def _proximal(params: list[nn.Parameter], anchors: list[torch.Tensor] | None, lr: float, mu: float) -> None:
    """FedProx: w -= lr * mu * (w - w_global), applied after each (noised) DP step.

    It uses no data, only the current and the global weights, so it is post-processing
    of the DP release: per-sample clipping and the accountant are untouched (a proximal
    *loss* term would instead enter every per-sample gradient and be clipped with it).
    """
    if anchors is None:
        return
    with torch.no_grad():
        for p, anchor in zip(params, anchors):
            p.sub_(lr * mu * (p - anchor))


def _local_epochs(
    model: nn.Module,
    loader: Any,
    optimizer: Any,
    criterion: Any,
    prepare: Callable[[Sequence[torch.Tensor]], Any],
    *,
    task: Task,
    epochs: int,
    params: list[nn.Parameter],
    anchors: list[torch.Tensor] | None,
    lr: float,
    proximal_mu: float,
    clip_before_weight: float | None = None,
) -> tuple[int, float, int, int]:
    """Run the epochs; return (optimizer steps, summed loss, samples seen, correct predictions).

    Weighted batches (inputs, targets, weights): the weight multiplies each example's loss,
    or, with `clip_before_weight` (DP), its gradient after clipping to that norm."""
    plain_loss = _criterion(task)
    steps, total_loss, seen, correct = 0, 0.0, 0, 0
    with warnings.catch_warnings():
        # Opacus puts a full backward hook on the embedding, whose input (token ids) needs no grad
        warnings.filterwarnings("ignore", message=r"Full backward hook is firing")
        for _ in range(epochs):
            for batch in loader:
                inputs, y, *weight = prepare(batch)  # weight: [per-example weights] under [data] reweight_by
                optimizer.zero_grad()
                if len(y) == 0:  # an empty Poisson batch (DP only): a noise-only step, still accounted
                    noise_only_step(optimizer)
                    steps += 1
                    _proximal(params, anchors, lr, proximal_mu)
                    continue
                logits = model(*inputs)
                if weight and clip_before_weight is None:
                    loss = criterion(logits, y, weight=weight[0])
                else:
                    loss = criterion(logits, y)
                loss.backward()
                if weight and clip_before_weight is not None:
                    clip_then_weight(params, weight[0], max_grad_norm=clip_before_weight)
                optimizer.step()
                steps += 1
                _proximal(params, anchors, lr, proximal_mu)
                n = len(y)
                if n:
                    with torch.no_grad():
                        total_loss += float(plain_loss(logits.detach(), y)) * n
                        if task is Task.classification:
                            correct += int((logits.detach().argmax(dim=-1) == y).sum())
                    seen += n
    return steps, total_loss, seen, correct


@torch.no_grad()
def evaluate(
    bundle: ModelBundle,
    examples: Sequence[Any],
    *,
    batch_size: int,
    device: str = "cpu",
    max_length: int = DEFAULT_MAX_LENGTH,
) -> dict[str, float | int]:
    """Loss and accuracy (classification) or token-level loss and perplexity (causal LM)."""
    task = Task(bundle.task)
    if not examples:
        return {"num_examples": 0}
    total, count, correct = 0.0, 0, 0
    for logits, y in _eval_batches(bundle, examples, batch_size=batch_size, device=device, max_length=max_length):
        if task is Task.classification:
            total += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == y).sum())
            count += len(y)
        else:
            total += float(
                nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE, reduction="sum"
                )
            )
            count += int((y != IGNORE).sum())
    loss = total / max(count, 1)
    out: dict[str, float | int] = {"num_examples": len(examples), "loss": loss}
    if task is Task.classification:
        out["accuracy"] = correct / max(count, 1)
    else:
        out["perplexity"] = math.exp(min(loss, 50.0))
    return out


@dataclass(frozen=True)
class ExampleScores:
    """Per-example scores of a model on examples, in order (for the privacy audit).

    `loss`: cross entropy of the label (classification) or mean next-token NLL
    (causal LM); `nll_sum`: the same summed over tokens (equal to `loss` for
    classification), which ranks texts that differ in length fairly; `phi`: the
    logit-scaled confidence log(p / (1 - p)) of the label (classification) or the
    mean token log-likelihood (causal LM), the statistic LiRA models as Gaussian.
    """

    loss: np.ndarray
    nll_sum: np.ndarray
    phi: np.ndarray


@torch.no_grad()
def example_scores(
    bundle: ModelBundle,
    examples: Sequence[Any],
    *,
    batch_size: int = 64,
    device: str = "cpu",
    max_length: int = DEFAULT_MAX_LENGTH,
) -> ExampleScores:
    task = Task(bundle.task)
    losses: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    phis: list[np.ndarray] = []
    if not examples:
        empty = np.zeros(0)
        return ExampleScores(empty, empty, empty)
    for logits, y in _eval_batches(bundle, examples, batch_size=batch_size, device=device, max_length=max_length):
        logits = logits.float()
        if task is Task.classification:
            ce = nn.functional.cross_entropy(logits, y, reduction="none")
            true = logits.gather(1, y[:, None]).squeeze(1)
            others = logits.scatter(1, y[:, None], float("-inf"))
            phi = true - torch.logsumexp(others, dim=1) if logits.shape[1] > 1 else -ce
            losses.append(ce.cpu().numpy())
            sums.append(ce.cpu().numpy())
            phis.append(phi.cpu().numpy())
        else:
            b, length, vocab = logits.shape
            per_token = nn.functional.cross_entropy(
                logits.reshape(b * length, vocab), y.reshape(-1), ignore_index=IGNORE, reduction="none"
            ).view(b, length)
            valid = (y != IGNORE).to(per_token.dtype)
            total = (per_token * valid).sum(dim=1)
            mean = total / valid.sum(dim=1).clamp(min=1.0)
            losses.append(mean.cpu().numpy())
            sums.append(total.cpu().numpy())
            phis.append((-mean).cpu().numpy())
    return ExampleScores(np.concatenate(losses), np.concatenate(sums), np.concatenate(phis))


def resolve_device(name: str) -> str:
    """ "auto": cuda when a GPU is there, else cpu."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


__all__ = [
    "ExampleScores",
    "GroupWeight",
    "ReweightTable",
    "WeightedLoss",
    "clip_then_weight",
    "example_weights",
    "group_label_weights",
    "reweight_table",
    "dp_plan",
    "cached_features",
    "frozen_head",
    "SequenceLoss",
    "TrainResult",
    "evaluate",
    "example_scores",
    "lm_targets",
    "noise_multiplier_for",
    "plan",
    "resolve_device",
    "train_client",
]

"""federated.person_dp: person-level DP-SGD (issue 14, acceptance 1 and 2).

The per-person gradient is the sum of a person's per-record gradients (Opacus), clipped
to C; a person's record count changes neither their sample rate, the steps nor the
epsilon; and the epsilon train_client reports is Opacus's accountant over
(noise, person sample rate, steps)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from federated.config import ConfigError, DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.ledger import AccountingStep
from federated.models import build_model, trainable_state
from federated.person_dp import (
    CLIP_EPSILON,
    PersonDP,
    PersonTrainer,
    per_person_clipped,
    person_generator,
    person_groups,
    plan_persons,
)
from federated.privacy import noise_for_target
from federated.task import dp_plan, noise_multiplier_for, train_client
from tests.federated.test_task import ledger

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")

UNIT = "patient_id"


def people(sizes: list[int], seed: int = 0) -> list[Example]:
    """Separable two-class notes; person k has sizes[k] records (ids are synthetic labels)."""
    rng = random.Random(seed)
    good = ["excellent", "wonderful", "great", "lovely", "superb"]
    bad = ["terrible", "awful", "horrible", "poor", "dreadful"]
    nouns = ["visit", "stay", "meal", "nurse", "room"]
    out = []
    for person, size in enumerate(sizes):
        for _ in range(size):
            label = rng.randrange(2)
            words = good if label else bad
            text = f"{rng.choice(words)} {rng.choice(nouns)} {rng.choice(words)}"
            out.append(Example(text, label, len(out) + 1, person=f"p{person:03d}"))
    return out


def tiny(seed: int = 0):
    bundle = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=seed)
    for module in bundle.model.modules():  # one record at a time must see the same network as the batch
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return bundle


def token_batch(bundle, examples):
    from federated.task import _batch, _dataset

    data = _dataset(bundle, examples, 32)
    ids, mask, y = _batch(data.tensors, Task.classification, "cpu")
    return (ids, mask), y


def direct_clipped(model: nn.Module, inputs, y, owner: list[int], persons: int, c: float):
    """Per-record gradients by autograd, one record at a time; summed per person; clipped."""
    params = [p for p in model.parameters() if p.requires_grad]
    sums = [[torch.zeros_like(p) for p in params] for _ in range(persons)]
    for i, person in enumerate(owner):
        model.zero_grad(set_to_none=True)
        one = tuple(t[i : i + 1] for t in inputs)
        loss = nn.functional.cross_entropy(model(*one), y[i : i + 1], reduction="sum")
        grads = torch.autograd.grad(loss, params)
        for acc, g in zip(sums[person], grads):
            acc.add_(g)
    norms = torch.stack([torch.sqrt(sum((g**2).sum() for g in s)) for s in sums])
    factor = (c / (norms + CLIP_EPSILON)).clamp(max=1.0)
    clipped = [torch.stack([sums[k][j] * factor[k] for k in range(persons)]) for j in range(len(params))]
    return clipped, norms


def gsm(module: nn.Module) -> nn.Module:
    from opacus.grad_sample.utils import prepare_module

    return prepare_module(module, "hooks", batch_first=True, loss_reduction="sum")


# --- acceptance 1 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["tiny-classifier", "linear-head"])
def test_per_person_clipped_gradient_equals_autograd_per_record_sum_then_clip(model_name: str) -> None:
    sizes = [20, 1, 3, 6]
    owner = [k for k, n in enumerate(sizes) for _ in range(n)]
    if model_name == "tiny-classifier":
        bundle = tiny()
        model = bundle.model
        inputs, y = token_batch(bundle, people(sizes))
    else:
        torch.manual_seed(0)
        model = nn.Linear(16, 3)
        inputs, y = (torch.randn(len(owner), 16),), torch.randint(0, 3, (len(owner),))
    model.train()
    direct, direct_norms = direct_clipped(model, inputs, y, owner, len(sizes), c=float("inf"))
    c = float(direct_norms.median())  # some persons clipped, some not
    expected, _ = direct_clipped(model, inputs, y, owner, len(sizes), c=c)

    wrapped = gsm(model)
    clipped, norms, _ = per_person_clipped(
        wrapped,
        inputs,
        y,
        torch.tensor(owner),
        len(sizes),
        criterion=nn.CrossEntropyLoss(reduction="sum"),
        max_grad_norm=c,
    )
    wrapped.to_standard_module()
    assert torch.allclose(norms, direct_norms, rtol=1e-4, atol=1e-6)
    assert (direct_norms > c * 1.01).any() and (direct_norms < c * 0.99).any()
    for got, want in zip(clipped, expected):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    person_norms = torch.cat([g.reshape(len(sizes), -1) for g in clipped], dim=1).norm(dim=1)
    assert (person_norms <= c * (1 + 1e-5)).all()  # the 20-record person contributes no more than the 1-record one


def test_a_full_step_without_noise_moves_the_weights_by_the_mean_clipped_person_gradient() -> None:
    """q = 1 (every person sampled), sigma = 0, SGD lr = 1: the update is -(sum of clipped
    per-person gradients) / persons, whatever the chunking of the records."""
    sizes = [5, 1, 3, 2]
    torch.manual_seed(1)
    module = nn.Linear(8, 2)
    x, y = torch.randn(sum(sizes), 8), torch.randint(0, 2, (sum(sizes),))
    groups = ((0, 1, 2, 3, 4), (5,), (6, 7, 8), (9, 10))
    owner = [k for k, g in enumerate(groups) for _ in g]
    c = 0.5
    want, _ = direct_clipped(module, (x,), y, owner, len(groups), c)
    before = [p.detach().clone() for p in module.parameters()]

    settings = PersonDP(noise_multiplier=0.0, max_grad_norm=c, sample_rate=1.0, expected_persons=4.0, chunk_records=3)
    trainer = PersonTrainer(module, settings, generator=person_generator(0, secure_mode=False), accountant="rdp")
    optimizer = torch.optim.SGD(list(module.parameters()), lr=1.0)
    stats = trainer.step(
        torch.utils.data.TensorDataset(x, y),
        groups,
        lambda batch: ((batch[0],), batch[1]),
        nn.CrossEntropyLoss(reduction="sum"),
        optimizer,
    )
    trainer.close()
    assert stats.persons == 4 and stats.records == 11
    for p, b, g in zip(module.parameters(), before, want):
        assert torch.allclose(b - p.detach(), g.sum(dim=0) / 4.0, rtol=1e-4, atol=1e-6)
    assert trainer.accountant.history == [(0.0, 1.0, 1)]


def test_a_person_with_20_records_and_a_person_with_1_are_accounted_identically() -> None:
    train = TrainConfig(rounds=1, local_epochs=1, batch_size=4, lr=1e-2, seed=5)
    dp = DPConfig(target_epsilon=None, noise_multiplier=1.1, accountant="rdp", unit=UNIT, max_grad_norm=0.5)
    many = people([20] + [2] * 11)  # person 0 has 20 records
    few = people([1] + [2] * 11)  # the same persons, person 0 with 1 record
    a = train_client(tiny(), many, train=train, dp=dp, ledger=ledger(records=42), round=1, global_state=None)
    b = train_client(tiny(), few, train=train, dp=dp, ledger=ledger(records=23), round=1, global_state=None)
    _, steps, rate = plan_persons(12, train)
    assert (steps, rate) == (3, 4 / 12)
    assert a.step == b.step == AccountingStep(round=1, noise_multiplier=1.1, sample_rate=rate, steps=steps)
    assert a.epsilon == b.epsilon

    # inclusion: each person is sampled with probability q, whatever their record count
    groups = person_groups(many)
    settings = PersonDP(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=rate, expected_persons=4.0)
    trainer = PersonTrainer(nn.Linear(2, 2), settings, generator=person_generator(3, secure_mode=False))
    draws = 3000
    counts = np.zeros(len(groups))
    for _ in range(draws):
        for records in trainer.sample(groups):
            counts[groups.index(next(g for g in groups if records[0] in g))] += 1
    trainer.close()
    spread = 4 * math.sqrt(rate * (1 - rate) / draws)
    assert abs(counts[0] / draws - rate) < spread and abs(counts[1] / draws - rate) < spread


# --- acceptance 2 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accountant", ["rdp", pytest.param("prv", marks=pytest.mark.slow)])  # PRV: ~15-30 s
def test_train_client_epsilon_equals_opacus_accountant_over_noise_person_rate_and_steps(accountant: str) -> None:
    from opacus.accountants import create_accountant

    data = people([3, 1, 5, 2, 1, 4, 2, 2, 1, 3])  # 10 persons, 24 records
    train = TrainConfig(rounds=2, local_epochs=1, batch_size=4, lr=1e-2)
    dp = DPConfig(target_epsilon=8.0, accountant=accountant, unit=UNIT, max_records_per_person=2)
    entry = replace(ledger(target=8.0, records=24), accountant=accountant)
    _, steps, rate = plan_persons(10, train)
    assert (steps, rate) == (3, 0.4)
    assert dp_plan(data, train=train, dp=dp) == (3, 0.4, 10)  # what the server plans with
    noise = noise_multiplier_for(24, train=train, dp=dp, delta=entry.delta, persons=10)
    assert noise == noise_for_target(8.0, entry.delta, 0.4, 2 * 3, accountant)

    bundle = tiny()
    history = []
    for rnd in (1, 2):
        result = train_client(bundle, data, train=train, dp=dp, ledger=entry, round=rnd, global_state=None)
        assert result.step == AccountingStep(round=rnd, noise_multiplier=noise, sample_rate=0.4, steps=3)
        history.append((noise, 0.4, 3))
        opacus = create_accountant(mechanism=accountant)
        for sigma, q, n in history:
            for _ in range(n):
                opacus.step(noise_multiplier=sigma, sample_rate=q)
        assert result.epsilon == pytest.approx(opacus.get_epsilon(delta=entry.delta), rel=1e-9)
        entry = entry.with_step(result.step, result.epsilon)
    assert entry.epsilon <= 8.0 * (1 + 1e-9)
    third = train_client(bundle, data, train=train, dp=dp, ledger=entry, round=3, global_state=None)
    assert third.step is None and third.stopped is not None and "privacy budget spent" in third.stopped


def test_noise_calibration_under_person_unit_needs_the_person_count() -> None:
    dp = DPConfig(target_epsilon=8.0, accountant="rdp", unit=UNIT)
    with pytest.raises(ConfigError, match="person count"):
        noise_multiplier_for(24, train=TrainConfig(), dp=dp, delta=1e-3)
    record = noise_multiplier_for(24, train=TrainConfig(batch_size=4), dp=replace(dp, unit="record"), delta=1e-3)
    person = noise_multiplier_for(24, train=TrainConfig(batch_size=4), dp=dp, delta=1e-3, persons=8)
    assert person != record  # q = 4/8 over 2 steps per round, not 1/6 over 6


# --- sampling, noise, seeding, the cap ---------------------------------------------------------------------------


def test_an_empty_poisson_sample_is_an_accounted_noise_only_step() -> None:
    torch.manual_seed(0)
    module = nn.Linear(4, 2)
    data = torch.utils.data.TensorDataset(torch.randn(6, 4), torch.randint(0, 2, (6,)))
    groups = ((0, 1), (2,), (3, 4, 5))

    def run(sigma: float) -> tuple[list[torch.Tensor], PersonTrainer, object]:
        model = nn.Linear(4, 2)
        model.load_state_dict(module.state_dict())
        settings = PersonDP(noise_multiplier=sigma, max_grad_norm=1.0, sample_rate=1e-12, expected_persons=2.0)
        trainer = PersonTrainer(
            model, settings, generator=person_generator(0, secure_mode=False), accountant="rdp", history=[(2.0, 0.5, 7)]
        )
        stats = trainer.step(
            data,
            groups,
            lambda b: ((b[0],), b[1]),
            nn.CrossEntropyLoss(reduction="sum"),
            torch.optim.SGD(model.parameters(), lr=1.0),
        )
        trainer.close()
        return [p.detach().clone() for p in model.parameters()], trainer, stats

    quiet, trainer, stats = run(0.0)
    assert stats.persons == 0 and stats.records == 0 and stats.logits == ()
    assert all(torch.equal(a, b) for a, b in zip(quiet, module.parameters()))  # zero sum, zero noise
    assert trainer.steps_taken == 1 and trainer.accountant.history == [(2.0, 0.5, 7), (0.0, 1e-12, 1)]
    noisy, trainer, _ = run(1.0)
    moved = torch.cat([(a - b).flatten() for a, b in zip(noisy, module.parameters())])
    assert moved.abs().min() > 0  # noise N(0, 1) / 2 on every weight
    assert trainer.accountant.history[-1] == (1.0, 1e-12, 1)


def test_person_level_training_is_seeded_by_round_and_client() -> None:
    data = people([4, 1, 3, 2, 2, 5, 1, 2])
    train = TrainConfig(rounds=2, local_epochs=1, batch_size=3, lr=1e-2)
    dp = DPConfig(target_epsilon=None, noise_multiplier=1.0, accountant="rdp", unit=UNIT)

    def run(rnd: int):
        bundle = tiny()
        result = train_client(bundle, data, train=train, dp=dp, ledger=ledger(records=20), round=rnd, global_state=None)
        return trainable_state(bundle.model), result

    (a, ra), (b, rb), (c, _) = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert ra.step == rb.step and ra.loss == rb.loss and ra.accuracy == rb.accuracy
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    assert any(not np.array_equal(a[k], trainable_state(tiny().model)[k]) for k in a)  # it trained


def test_max_records_per_person_caps_a_persons_records_per_step_with_a_random_choice() -> None:
    groups = (tuple(range(20)), (20,), (21, 22))
    settings = PersonDP(
        noise_multiplier=0.0, max_grad_norm=1.0, sample_rate=1.0, expected_persons=3.0, max_records_per_person=8
    )
    trainer = PersonTrainer(nn.Linear(2, 2), settings, generator=person_generator(0, secure_mode=False))
    seen = set()
    for _ in range(20):
        big, one, two = trainer.sample(groups)
        assert len(big) == 8 and len(set(big)) == 8 and set(big) <= set(groups[0]) and big == sorted(big)
        assert one == [20] and two == [21, 22]
        seen.add(tuple(big))
    trainer.close()
    assert len(seen) > 10  # a fresh random subset each step

    # and a step feeds at most 8 of that person's records to the model
    data = torch.utils.data.TensorDataset(torch.randn(23, 2), torch.randint(0, 2, (23,)))
    module = nn.Linear(2, 2)
    trainer = PersonTrainer(module, settings, generator=person_generator(1, secure_mode=False))
    stats = trainer.step(
        data,
        groups,
        lambda b: ((b[0],), b[1]),
        nn.CrossEntropyLoss(reduction="sum"),
        torch.optim.SGD(module.parameters(), lr=0.1),
    )
    trainer.close()
    assert stats.persons == 3 and stats.records == 8 + 1 + 2


def test_a_record_without_a_person_is_refused_naming_its_line_only() -> None:
    data = people([2, 2])
    data[2] = replace(data[2], person=None)
    with pytest.raises(ConfigError, match="line 3") as info:
        person_groups(data, unit=UNIT)
    assert "p000" not in str(info.value) and "p001" not in str(info.value)
    assert person_groups(people([2, 1, 3])) == ((0, 1), (2,), (3, 4, 5))


def test_secure_mode_without_torchcsprng_is_a_config_error() -> None:
    pytest.importorskip("opacus")
    try:
        import torchcsprng  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="secure_mode"):
            person_generator(0, secure_mode=True)
    else:
        pytest.skip("torchcsprng is installed")


def test_person_unit_without_dp_trains_as_the_record_path() -> None:
    data = people([3, 1, 2])
    train = TrainConfig(rounds=1, local_epochs=1, batch_size=4)
    off = DPConfig(enabled=False, unit=UNIT)
    result = train_client(tiny(), data, train=train, dp=off, ledger=None, round=1, global_state=None)
    assert result.step is None and result.epsilon is None and result.steps == 2


def test_person_path_trains_the_head_on_cached_features_exactly_as_on_tokens(monkeypatch) -> None:
    from tests.federated.test_frozen_features import _no_dropout, minilm

    data = people([3, 1, 2, 4, 2, 1, 3, 2])
    train = TrainConfig(rounds=1, local_epochs=1, batch_size=3, lr=0.05, seed=3)
    dp = DPConfig(target_epsilon=None, noise_multiplier=1.0, accountant="rdp", unit=UNIT, max_records_per_person=2)
    fast = minilm(0)
    start = trainable_state(fast.model)
    fast_result = train_client(fast, data, train=train, dp=dp, ledger=ledger(records=18), round=1, global_state=None)

    slow = minilm(0)
    _no_dropout(slow)
    monkeypatch.setattr("federated.task.frozen_head", lambda model: None)
    slow_result = train_client(slow, data, train=train, dp=dp, ledger=ledger(records=18), round=1, global_state=None)

    assert fast_result.step == slow_result.step == AccountingStep(1, 1.0, 3 / 8, 3)
    a, b = trainable_state(fast.model), trainable_state(slow.model)
    assert set(a) == set(b) and all(np.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert any(not np.allclose(a[k], start[k]) for k in a)  # the head moved


@pytest.mark.slow
def test_causal_lm_trains_at_person_level() -> None:
    from federated.task import evaluate

    bundle = build_model(ModelConfig(name="tiny-gpt", params={"dim": 32}), task=Task.causal_lm, num_labels=None, seed=0)
    data = [
        Example(f"patient {i % 4} was seen at the clinic today", None, i + 1, person=f"p{i % 8}") for i in range(32)
    ]
    before = evaluate(bundle, data, batch_size=16, max_length=16)
    result = train_client(
        bundle,
        data,
        train=TrainConfig(rounds=1, local_epochs=4, batch_size=4, lr=1e-2),
        dp=DPConfig(target_epsilon=50.0, accountant="rdp", unit=UNIT),
        ledger=ledger(target=50.0, records=32),
        round=1,
        global_state=None,
        max_length=16,
    )
    after = evaluate(bundle, data, batch_size=16, max_length=16)
    assert result.accuracy is None and result.step.sample_rate == 0.5 and result.step.steps == 8
    assert result.epsilon <= 50.0 * (1 + 1e-9)
    assert after["loss"] < before["loss"] - 0.3

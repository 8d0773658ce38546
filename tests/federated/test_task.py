"""federated.task: local training with and without DP-SGD, budget stops, FedProx, evaluation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from federated.config import DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.ledger import AccountingStep, ClientLedger
from federated.models import ModelBundle, build_model, trainable_state
from federated.privacy import epsilon_of
from federated.task import evaluate, plan, train_client

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")

NO_DP = DPConfig(enabled=False)


def separable(n: int = 64, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    good = ["excellent", "wonderful", "great", "lovely", "superb"]
    bad = ["terrible", "awful", "horrible", "poor", "dreadful"]
    nouns = ["visit", "stay", "meal", "nurse", "room"]
    out = []
    for i in range(n):
        words = good if i % 2 else bad
        out.append(Example(f"{rng.choice(words)} {rng.choice(nouns)} {rng.choice(words)}", i % 2, i + 1))
    return out


def classifier(seed: int = 0) -> ModelBundle:
    return build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=seed)


def ledger(history: tuple[AccountingStep, ...] = (), *, target: float | None = 8.0, records: int = 64) -> ClientLedger:
    return ClientLedger(
        client_id="site-a",
        records=records,
        accountant="rdp",
        delta=1e-3,
        max_grad_norm=1.0,
        clipping="ghost",
        secure_mode=False,
        target_epsilon=target,
        history=history,
    )


def test_training_without_dp_reduces_loss_on_a_separable_set() -> None:
    bundle, data = classifier(), separable()
    before = evaluate(bundle, data, batch_size=32)
    result = train_client(
        bundle,
        data,
        train=TrainConfig(rounds=1, local_epochs=3, batch_size=16, lr=3e-3),
        dp=NO_DP,
        ledger=None,
        round=1,
        global_state=None,
    )
    after = evaluate(bundle, data, batch_size=32)
    assert result.stopped is None and result.step is None and result.epsilon is None
    assert result.num_examples == 64 and result.steps == 3 * 4
    assert after["loss"] < before["loss"] - 0.1
    assert after["accuracy"] >= 0.9 and 0.0 <= result.accuracy <= 1.0


def test_training_with_dp_reduces_loss_and_records_the_opacus_step() -> None:
    bundle, data = classifier(), separable()
    entry = ledger(target=50.0)
    train = TrainConfig(rounds=1, local_epochs=4, batch_size=16, lr=3e-3)
    dp = DPConfig(target_epsilon=50.0, accountant="rdp", clipping="ghost", max_grad_norm=1.0)
    before = evaluate(bundle, data, batch_size=32)
    result = train_client(bundle, data, train=train, dp=dp, ledger=entry, round=1, global_state=None)
    after = evaluate(bundle, data, batch_size=32)
    batch, steps, rate = plan(64, train)
    assert (batch, steps, rate) == (16, 16, 0.25)
    assert result.step == AccountingStep(
        round=1, noise_multiplier=result.step.noise_multiplier, sample_rate=0.25, steps=16
    )
    assert 0 < result.step.noise_multiplier < 50
    assert result.epsilon == pytest.approx(epsilon_of([(result.step.noise_multiplier, 0.25, 16)], 1e-3, "rdp"))
    assert result.epsilon <= 50.0
    assert after["loss"] < before["loss"] - 0.05


def test_result_epsilon_equals_epsilon_of_history_plus_step_and_the_budget_is_never_exceeded() -> None:
    bundle, data = classifier(), separable(40)
    train = TrainConfig(rounds=3, local_epochs=1, batch_size=8, lr=1e-3)
    dp = DPConfig(target_epsilon=6.0, accountant="rdp", clipping="hooks")
    entry = ledger(target=6.0, records=40)
    epsilons = []
    for rnd in (1, 2, 3):
        result = train_client(bundle, data, train=train, dp=dp, ledger=entry, round=rnd, global_state=None)
        assert result.stopped is None and result.step is not None and result.step.round == rnd
        expected = epsilon_of(
            [*entry.opacus_history(), (result.step.noise_multiplier, 0.2, result.step.steps)], entry.delta, "rdp"
        )
        assert result.epsilon == pytest.approx(expected, rel=1e-12)
        entry = entry.with_step(result.step, result.epsilon)
        epsilons.append(result.epsilon)
    assert epsilons[0] < epsilons[1] < epsilons[2] <= 6.0
    assert epsilons[2] > 6.0 - 0.05  # the noise was calibrated for exactly these 3 rounds

    weights = trainable_state(bundle.model)
    fourth = train_client(bundle, data, train=train, dp=dp, ledger=entry, round=4, global_state=None)
    assert fourth.step is None and fourth.steps == 0
    assert fourth.stopped is not None and fourth.stopped.startswith("privacy budget spent: epsilon")
    assert "of 6" in fourth.stopped
    assert fourth.epsilon == pytest.approx(epsilons[2])
    assert all(np.array_equal(v, trainable_state(bundle.model)[k]) for k, v in weights.items())


def test_client_whose_ledger_spent_its_budget_does_not_train() -> None:
    bundle, data = classifier(), separable(32)
    spent = (AccountingStep(round=1, noise_multiplier=0.6, sample_rate=0.5, steps=200),)
    entry = ledger(spent, target=2.0, records=32)
    assert epsilon_of(entry.opacus_history(), entry.delta, "rdp") > 2.0
    weights = trainable_state(bundle.model)
    result = train_client(
        bundle,
        data,
        train=TrainConfig(rounds=2, batch_size=16),
        dp=DPConfig(target_epsilon=2.0, accountant="rdp"),
        ledger=entry,
        round=2,
        global_state=None,
    )
    assert result.stopped is not None and "privacy budget spent" in result.stopped
    assert result.step is None and result.steps == 0 and math.isnan(result.loss)
    assert all(np.array_equal(v, trainable_state(bundle.model)[k]) for k, v in weights.items())


def test_proximal_term_pulls_weights_toward_the_global_model() -> None:
    data = separable(32)
    train = TrainConfig(rounds=1, local_epochs=3, batch_size=8, lr=1e-2, optimizer="sgd")
    global_state = trainable_state(classifier(seed=7).model)

    def distance(mu: float) -> float:
        bundle = classifier()
        train_client(
            bundle, data, train=train, dp=NO_DP, ledger=None, round=1, global_state=global_state, proximal_mu=mu
        )
        state = trainable_state(bundle.model)
        return float(sum(np.sum((state[k] - global_state[k]) ** 2) for k in state))

    free, prox = distance(0.0), distance(5.0)
    assert 0 < prox < free


def test_training_is_seeded_by_round_and_client() -> None:
    data = separable(32)
    train = TrainConfig(rounds=2, local_epochs=1, batch_size=8)
    dp = DPConfig(target_epsilon=20.0, accountant="rdp")

    def run(rnd: int) -> dict[str, np.ndarray]:
        bundle = classifier()
        train_client(
            bundle, data, train=train, dp=dp, ledger=ledger(target=20.0, records=32), round=rnd, global_state=None
        )
        return trainable_state(bundle.model)

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_causal_lm_trains_on_next_token_prediction_and_reports_perplexity() -> None:
    bundle = build_model(ModelConfig(name="tiny-gpt", params={"dim": 32}), task=Task.causal_lm, num_labels=None, seed=0)
    data = [Example(f"patient {i % 4} was seen at the clinic today", None, i) for i in range(32)]
    before = evaluate(bundle, data, batch_size=16, max_length=16)
    result = train_client(
        bundle,
        data,
        train=TrainConfig(rounds=1, local_epochs=4, batch_size=8, lr=1e-2),
        dp=DPConfig(target_epsilon=50.0, accountant="rdp", clipping="ghost"),
        ledger=ledger(target=50.0, records=32),
        round=1,
        global_state=None,
        max_length=16,
    )
    after = evaluate(bundle, data, batch_size=16, max_length=16)
    assert result.accuracy is None and result.stopped is None
    assert after["perplexity"] == pytest.approx(math.exp(after["loss"]))
    assert after["loss"] < before["loss"] - 0.5


def test_evaluate_reports_accuracy_for_classification() -> None:
    out = evaluate(classifier(), separable(10), batch_size=4)
    assert out["num_examples"] == 10 and 0.0 <= out["accuracy"] <= 1.0 and out["loss"] > 0


@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
def test_empty_poisson_batches_take_an_accounted_noise_only_step(clipping: str) -> None:
    # batch 1 of 8 records: sample rate 1/8, so about a third of the 24 Poisson batches are empty
    bundle = classifier()
    result = train_client(
        bundle,
        separable(8),
        train=TrainConfig(rounds=1, local_epochs=3, batch_size=1),
        dp=DPConfig(target_epsilon=None, noise_multiplier=1.0, clipping=clipping, accountant="rdp"),
        ledger=None,
        round=1,
        global_state=None,
    )
    assert result.steps == 24 and result.step is not None and result.step.steps == 24
    assert result.step.sample_rate == 1 / 8
    assert all(np.isfinite(v).all() for v in trainable_state(bundle.model).values())

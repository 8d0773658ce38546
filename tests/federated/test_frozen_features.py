"""Frozen-feature training: a frozen pretrained encoder's features are computed once and
only the head trains on them, with the same DP-SGD (same sampling, noise, steps and
accounting) as running the whole model on every batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from federated.config import DPConfig, ModelConfig, Task, TrainConfig
from federated.models import build_model, trainable_state
from federated.task import cached_features, evaluate, example_scores, frozen_head, train_client
from tests.federated.test_task import ledger, separable

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")

DP = DPConfig(enabled=True, target_epsilon=None, noise_multiplier=1.0, accountant="rdp", clipping="hooks")
TRAIN = TrainConfig(rounds=1, local_epochs=2, batch_size=16, lr=0.05, seed=3)


def minilm(train_layers: int, seed: int = 0):
    config = ModelConfig(name="minilm", params={"train_layers": train_layers})
    return build_model(config, task=Task.classification, num_labels=2, seed=seed)


def _no_dropout(bundle) -> None:
    """The per-batch path runs the frozen encoder in train mode: switch its dropout off so
    both paths see the same features."""
    for module in bundle.model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def test_only_a_frozen_encoder_with_a_trainable_head_takes_the_feature_path() -> None:
    frozen = minilm(0)
    assert frozen_head(frozen.model) is frozen.model.head
    assert frozen_head(minilm(1).model) is None  # a trained encoder layer: features change every step
    tiny = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
    assert frozen_head(tiny.model) is None  # no features() to cache


@pytest.mark.parametrize("clipping", ["hooks", "ghost"])
def test_feature_path_trains_the_head_exactly_as_the_per_batch_path(monkeypatch, clipping) -> None:
    data = separable(48)
    dp = DPConfig(enabled=True, target_epsilon=None, noise_multiplier=1.0, accountant="rdp", clipping=clipping)

    fast = minilm(0)
    fast_result = train_client(fast, data, train=TRAIN, dp=dp, ledger=ledger(records=48), round=1, global_state=None)

    slow = minilm(0)
    _no_dropout(slow)
    monkeypatch.setattr("federated.task.frozen_head", lambda model: None)
    slow_result = train_client(slow, data, train=TRAIN, dp=dp, ledger=ledger(records=48), round=1, global_state=None)

    # the same privacy spend: same noise, sample rate and steps in the ledger entry
    assert fast_result.step == slow_result.step
    assert fast_result.epsilon == pytest.approx(slow_result.epsilon)
    # the same head after the same Poisson batches and the same noise (features agree to float error)
    a, b = trainable_state(fast.model), trainable_state(slow.model)
    assert sorted(a) == ["head.bias", "head.weight"] == sorted(b)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=2e-4)
    assert fast_result.loss == pytest.approx(slow_result.loss, rel=1e-3)


def test_features_are_computed_once_per_model_weights_and_texts(monkeypatch) -> None:
    bundle, data = minilm(0), separable(20)
    calls = []
    real = type(bundle.model).features

    def counting(self, ids, mask):
        calls.append(len(ids))
        return real(self, ids, mask)

    monkeypatch.setattr(type(bundle.model), "features", counting)
    first = cached_features(bundle, data, max_length=32)
    evaluate(bundle, data, batch_size=8, max_length=32)
    example_scores(bundle, data, batch_size=8, max_length=32)
    train_client(bundle, data, train=TRAIN, dp=DP, ledger=ledger(records=20), round=1, global_state=None, max_length=32)
    assert sum(calls) == len(data)  # one pass over the records for all four calls
    assert first.shape == (20, 384)

    other = minilm(0, seed=1)  # a new object with the same frozen weights: the cache still applies
    cached_features(other, data, max_length=32)
    assert sum(calls) == len(data)
    cached_features(other, data, max_length=16)  # another truncation: new features
    assert sum(calls) == 2 * len(data)


def test_scores_on_the_feature_path_match_the_whole_model() -> None:
    bundle, data = minilm(0), separable(24)
    fast = example_scores(bundle, data, batch_size=8, max_length=32)
    with torch.no_grad():
        bundle.model.eval()
        from federated.models import encode

        enc = encode(bundle, [e.text for e in data], 32)
        logits = bundle.model(enc["input_ids"], enc["attention_mask"])
        labels = torch.tensor([e.label for e in data])
        ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none").numpy()
    np.testing.assert_allclose(fast.loss, ce, atol=1e-4)

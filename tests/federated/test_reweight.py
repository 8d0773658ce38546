"""Group-by-label reweighting in federated training ([data] reweight_by): the Kamiran-Calders
weights, clipping still bounding a weighted example, the privacy ledger unchanged, config
and data checks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from federated.config import ConfigError, DPConfig, ModelConfig, Task, TrainConfig, parse_config
from federated.data import Example, load_federated_dataset
from federated.models import build_model, trainable_state
from federated.task import (
    WeightedLoss,
    clip_then_weight,
    example_weights,
    group_label_weights,
    reweight_table,
    train_client,
)
from guard.core.errors import InputError

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")


def test_weights_on_a_known_table_are_pg_py_over_pgy_and_average_one() -> None:
    # 10 records: group a has 4 (3 positive), group b has 6 (1 positive)
    groups = [("a",)] * 4 + [("b",)] * 6
    labels = [1, 1, 1, 0] + [1, 0, 0, 0, 0, 0]
    table = group_label_weights(groups, labels, fields=("sex",))
    # w(a,1) = P(a) P(1) / P(a,1) = 0.4 * 0.4 / 0.3; w(b,0) = 0.6 * 0.6 / 0.5
    expected = {
        (("a",), 1): 0.4 * 0.4 / 0.3,
        (("a",), 0): 0.4 * 0.6 / 0.1,
        (("b",), 1): 0.6 * 0.4 / 0.1,
        (("b",), 0): 0.6 * 0.6 / 0.5,
    }
    assert {(c.group, c.label): c.weight for c in table.cells} == pytest.approx(expected)
    assert {(c.group, c.label): c.count for c in table.cells} == {
        (("a",), 1): 3,
        (("a",), 0): 1,
        (("b",), 1): 1,
        (("b",), 0): 5,
    }
    weights = [table.weight_of(g, y) for g, y in zip(groups, labels)]
    assert np.mean(weights) == pytest.approx(1.0)
    # after weighting, the label is independent of the group: weighted positive rate equal in a and b
    pos = {g: sum(w for (gg,), y, w in zip(groups, labels, weights) if gg == g and y == 1) for g in "ab"}
    tot = {g: sum(w for (gg,), w in zip(groups, weights) if gg == g) for g in "ab"}
    assert pos["a"] / tot["a"] == pytest.approx(pos["b"] / tot["b"]) == pytest.approx(0.4)
    assert table.to_json()["cells"][0] == {"group": ["a"], "label": 0, "count": 1, "weight": pytest.approx(2.4)}


def test_examples_without_groups_keep_weight_one_and_a_balanced_table_is_all_ones() -> None:
    examples = [Example(f"t{i}", i % 2, i + 1, groups=("F" if i < 4 else "M",)) for i in range(8)]
    examples.append(Example("canary", 1, 0))
    table = reweight_table(examples)
    assert table is not None and table.ungrouped == 1
    assert example_weights(examples, table).tolist() == [1.0] * 9
    assert reweight_table([Example("t", 0, 1)]) is None


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_clipping_bounds_an_example_weighted_by_100(mode: str) -> None:
    from federated.privacy import make_private

    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(1, 4) * 10, torch.tensor([2])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    dp = DPConfig(clipping=mode, max_grad_norm=1.0)
    weighted = WeightedLoss(nn.CrossEntropyLoss())
    private = make_private(model, optimizer, loader, dp=dp, noise_multiplier=0.0, criterion=weighted)

    def raw_norm(weight: float) -> float:
        plain = nn.Linear(4, 3)
        plain.load_state_dict(private.model._module.state_dict())
        loss = WeightedLoss(nn.CrossEntropyLoss())(plain(x), y, weight=torch.tensor([weight]))
        loss.backward()
        return float(torch.sqrt(sum((p.grad**2).sum() for p in plain.parameters())))

    assert raw_norm(100.0) == pytest.approx(100 * raw_norm(1.0), rel=1e-4)
    assert raw_norm(100.0) > 10.0  # far beyond the clipping norm
    before = [p.detach().clone() for p in private.model.parameters()]
    private.optimizer.zero_grad()
    loss = private.criterion(private.model(x), y, weight=torch.tensor([100.0]))
    loss.backward()
    private.optimizer.step()  # noise 0, lr 1: the change is the clipped gradient (batch of one)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(private.model.parameters(), before)))
    assert 0.5 < float(step) <= 1.0 + 1e-5
    private.close()


def test_clip_then_weight_keeps_each_example_within_the_norm_and_the_weights_ratio() -> None:
    from federated.privacy import make_private

    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(2, 4) * 10, torch.tensor([2, 0])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=2)
    private = make_private(
        model, torch.optim.SGD(model.parameters(), lr=1.0), loader, dp=DPConfig(clipping="hooks"), noise_multiplier=0.0
    )
    private.optimizer.zero_grad()
    nn.CrossEntropyLoss()(private.model(x), y).backward()
    squared = [p.grad_sample.reshape(2, -1).pow(2).sum(1) for p in model.parameters()]
    raw = torch.stack(squared).sum(0).sqrt()
    assert bool((raw > 1.0).all())  # both beyond the clipping norm: a weight on the loss would be clipped away
    after = clip_then_weight(list(model.parameters()), torch.tensor([1.0, 0.25]), max_grad_norm=1.0)
    assert after.tolist() == pytest.approx([1.0, 0.25], rel=1e-4)
    with pytest.raises(ValueError, match="0, 1"):
        clip_then_weight(list(model.parameters()), torch.tensor([2.0, 1.0]), max_grad_norm=1.0)
    private.close()


def _examples(n: int = 48) -> list[Example]:
    rng = np.random.default_rng(0)
    words = [["poor", "awful", "bad"], ["good", "great", "fine"]]
    out = []
    for i in range(n):
        sex = "F" if i % 3 else "M"
        label = int(rng.random() < (0.7 if sex == "F" else 0.3))  # label depends on the group
        out.append(Example(f"{rng.choice(words[label])} visit {rng.choice(words[label])}", label, i + 1, groups=(sex,)))
    return out


def test_a_dp_run_spends_the_same_epsilon_with_and_without_reweighting() -> None:
    grouped = _examples()
    plain = [replace(e, groups=()) for e in grouped]
    train = TrainConfig(rounds=2, local_epochs=1, batch_size=8, lr=0.01)
    dp = DPConfig(target_epsilon=None, noise_multiplier=1.0, accountant="rdp", clipping="ghost", delta=1e-3)
    results, states = [], []
    for examples in (plain, grouped):
        bundle = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
        results.append(train_client(bundle, examples, train=train, dp=dp, ledger=None, round=1, global_state=None))
        states.append(trainable_state(bundle.model))
    without, with_weights = results
    assert without.reweight is None and with_weights.reweight is not None
    assert with_weights.step == without.step  # noise, sample rate, steps: what the ledger records
    assert with_weights.epsilon == without.epsilon and 0 < with_weights.epsilon < 100
    assert {c.label for c in with_weights.reweight.cells} == {0, 1}
    # the weights did change training: same seed, same batches, different weights
    assert any(not np.allclose(states[0][k], states[1][k]) for k in states[0])


def test_without_dp_the_weights_multiply_the_loss() -> None:
    grouped = _examples()
    plain = [replace(e, groups=()) for e in grouped]
    train = TrainConfig(rounds=1, local_epochs=1, batch_size=8, lr=0.01)
    states = []
    for examples in (plain, grouped):
        bundle = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
        result = train_client(
            bundle, examples, train=train, dp=DPConfig(enabled=False), ledger=None, round=1, global_state=None
        )
        states.append(trainable_state(bundle.model))
        assert result.step is None and result.epsilon is None
    assert result.reweight is not None and sum(c.count for c in result.reweight.cells) == len(grouped)
    assert any(not np.allclose(states[0][k], states[1][k]) for k in states[0])
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 1])
    per_example = nn.CrossEntropyLoss(reduction="none")(logits, y)
    weighted = WeightedLoss(nn.CrossEntropyLoss())(logits, y, weight=torch.tensor([0.5, 1.5]))
    assert float(weighted) == pytest.approx(float((per_example * torch.tensor([0.5, 1.5])).mean()))


def test_person_level_dp_with_reweighting_is_refused() -> None:
    examples = [replace(e, person=f"p{e.line % 5}") for e in _examples(20)]
    bundle = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
    with pytest.raises(ConfigError, match="person-level DP"):
        train_client(
            bundle,
            examples,
            train=TrainConfig(rounds=1),
            dp=DPConfig(unit="patient_id"),
            ledger=None,
            round=1,
            global_state=None,
        )


def test_config_checks_reweight_by() -> None:
    base = {"data": {"path": "x.jsonl", "label_field": "label"}}
    config = parse_config({"data": {**base["data"], "reweight_by": ["sex", "site"]}}, check_names=False)
    assert config.data.reweight_by == ("sex", "site")
    assert config.to_json()["data"]["reweight_by"] == ["sex", "site"]
    assert "reweight_by" not in parse_config(base, check_names=False).to_json()["data"]  # old hashes unchanged
    bad = [
        ({"reweight_by": ["label"]}, {}, "text, label or person field"),
        ({"reweight_by": ["sex", "sex"]}, {}, "distinct"),
        ({"reweight_by": [""]}, {}, "non-empty"),
        ({"reweight_by": ["sex"], "task": "causal_lm", "label_field": None}, {}, "classification"),
        ({"reweight_by": ["sex"]}, {"unit": "patient_id"}, "person-level DP"),
    ]
    for data, dp, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config({"data": {**base["data"], **data}, "dp": dp}, check_names=False)


def test_data_reads_the_group_fields_into_training_examples_and_names_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [{"text": f"note {i}", "label": ["a", "b"][i % 2], "sex": "FM"[i % 3 == 0]} for i in range(20)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = parse_config({"data": {"path": str(path), "num_clients": 1, "reweight_by": ["sex"]}}, check_names=False)
    dataset = load_federated_dataset(config.data, seed=0)
    train = dataset.clients[0].train
    assert all(e.groups == ("FM"[(e.line - 1) % 3 == 0],) for e in train)
    assert "groups" not in repr(train[0])
    rows[6].pop("sex")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_federated_dataset(config.data, seed=0)
    assert err.value.line == 7 and err.value.field == "sex"


def test_the_ledger_entry_names_the_per_sample_mode_a_reweighted_ghost_run_trains_with() -> None:
    from federated.client import new_ledger_entry

    base = {"data": {"path": "x.jsonl", "label_field": "label"}, "dp": {"enabled": True, "clipping": "ghost"}}
    plain = parse_config(base, check_names=False)
    weighted = parse_config({**base, "data": {**base["data"], "reweight_by": ["sex"]}}, check_names=False)
    assert new_ledger_entry(plain, "a", 100).clipping == "ghost"
    assert new_ledger_entry(weighted, "a", 100).clipping == "hooks"  # per-sample gradients, not ghost norms

"""federated.models: every registered model builds, is Opacus-valid, and its weights round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from opacus.validators import ModuleValidator

from federated.config import ConfigError, DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.models import (
    ModelBundle,
    build_model,
    encode,
    load_model,
    load_trainable_state,
    minilm_path,
    model_names,
    save_model,
    trainable_state,
)
from federated.privacy import make_private
from federated.task import train_client

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")

TEXTS = ["the patient was discharged home", "no acute distress", "follow up in two weeks", "a"]


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny local Hugging Face checkpoints (random weights, MiniLM tokenizer): nothing is downloaded."""
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2LMHeadModel,
    )

    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            num_labels=2,
        )
    )
    gpt = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=32,
            n_layer=1,
            n_head=2,
            n_positions=64,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    out = {}
    for name, model in (("bert", bert), ("gpt2", gpt)):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        out[name] = str(root / name)
    return out


# (registry name, params, task, num_labels); "hf" params get the fixture's path
CASES = [
    ("tiny-classifier", {}, Task.classification, 3),
    ("tiny-gpt", {"dim": 32}, Task.causal_lm, None),
    ("minilm", {}, Task.classification, 2),
    ("minilm", {"lora": True}, Task.classification, 2),
    ("hf", {"path": "bert"}, Task.classification, 2),
    ("hf", {"path": "gpt2"}, Task.causal_lm, None),
]
IDS = ["tiny-classifier", "tiny-gpt", "minilm", "minilm-lora", "hf-bert", "hf-gpt2"]


def _build(case: tuple, hf_dirs: dict[str, str], seed: int = 0) -> ModelBundle:
    name, params, task, num_labels = case
    if name == "hf":
        params = {"path": hf_dirs[params["path"]]}
    return build_model(ModelConfig(name=name, params=params), task=task, num_labels=num_labels, seed=seed)


def _outputs(bundle: ModelBundle) -> torch.Tensor:
    bundle.model.eval()
    with torch.no_grad():
        return bundle.model(**encode(bundle, TEXTS, 32))


def test_every_registered_model_has_a_test_case() -> None:
    # names starting "test-" are registered by other test modules (e.g. test_hub's tiny LoRA llama);
    # smollm2 (a 135M model, 15-45 s to load) has its own module: tests/federated/test_smollm2.py
    covered_elsewhere = {"smollm2"}
    assert sorted({c[0] for c in CASES} | covered_elsewhere) == [n for n in model_names() if not n.startswith("test-")]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_model_builds_with_logits_of_the_task_shape_and_is_opacus_valid(case: tuple, hf_dirs: dict[str, str]) -> None:
    bundle = _build(case, hf_dirs)
    out = _outputs(bundle)
    if bundle.task is Task.classification:
        assert out.shape == (len(TEXTS), bundle.num_labels)
    else:
        assert out.shape[0] == len(TEXTS) and out.shape[2] == len(bundle.tokenizer)
    assert torch.isfinite(out).all()
    bundle.model.train()
    assert ModuleValidator.validate(bundle.model, strict=False) == []
    trainable = [p for p in bundle.model.parameters() if p.requires_grad]
    shared = {id(p) for p in trainable}
    assert len(shared) == len(trainable)  # no parameter is used twice


@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_dp_sgd_call_changes_only_trainable_weights(case: tuple, clipping: str, hf_dirs: dict[str, str]) -> None:
    bundle = _build(case, hf_dirs)
    frozen_before = {n: p.detach().clone() for n, p in bundle.model.named_parameters() if not p.requires_grad}
    before = trainable_state(bundle.model)
    label = (lambda i: i % 2) if bundle.task is Task.classification else (lambda i: None)
    examples = [Example(TEXTS[i % 3] + f" item {i}", label(i), i) for i in range(8)]
    result = train_client(
        bundle,
        examples,
        train=TrainConfig(rounds=1, local_epochs=1, batch_size=4, lr=1e-2),
        dp=DPConfig(target_epsilon=None, noise_multiplier=1.0, clipping=clipping),
        ledger=None,
        round=1,
        global_state=None,
        max_length=16,
    )
    after = trainable_state(bundle.model)
    assert result.stopped is None and result.steps == 2 and np.isfinite(result.loss)
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    for name, p in bundle.model.named_parameters():
        if name in frozen_before:
            assert torch.equal(p, frozen_before[name]), name
    assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in bundle.model.parameters())


def test_minilm_trains_only_the_top_layer_and_head_by_default(hf_dirs: dict[str, str]) -> None:
    bundle = _build(CASES[2], hf_dirs)
    names = set(trainable_state(bundle.model))
    assert names and all(n.startswith(("encoder.encoder.layer.5.", "head.")) for n in names)
    assert {"head.weight", "head.bias"} <= names
    two = build_model(ModelConfig("minilm", {"train_layers": 2}), task=Task.classification, num_labels=2, seed=0)
    assert any(n.startswith("encoder.encoder.layer.4.") for n in trainable_state(two.model))


def test_minilm_lora_sends_only_adapters_and_head(hf_dirs: dict[str, str]) -> None:
    names = set(trainable_state(_build(CASES[3], hf_dirs).model))
    assert names and all("lora_" in n or n.startswith("head.") for n in names)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_trainable_state_round_trip_reproduces_outputs(case: tuple, hf_dirs: dict[str, str]) -> None:
    a = _build(case, hf_dirs, seed=1)
    b = _build(case, hf_dirs, seed=2)
    state = trainable_state(a.model)
    assert all(v.dtype == np.float32 for v in state.values())
    load_trainable_state(b.model, state)
    if case[0] in ("tiny-classifier", "tiny-gpt", "hf"):  # everything trainable: identical models
        assert torch.allclose(_outputs(a), _outputs(b), atol=1e-6)
    assert all(np.array_equal(state[k], v) for k, v in trainable_state(b.model).items())


def test_trainable_state_strips_the_opacus_wrapper_prefix(hf_dirs: dict[str, str]) -> None:
    bundle = _build(CASES[0], hf_dirs)
    names = set(trainable_state(bundle.model))
    data = torch.utils.data.TensorDataset(torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))
    optimizer = torch.optim.SGD(bundle.model.parameters(), lr=0.1)
    private = make_private(
        bundle.model,
        optimizer,
        torch.utils.data.DataLoader(data, batch_size=2),
        dp=DPConfig(target_epsilon=None, noise_multiplier=1.0, clipping="hooks"),
        noise_multiplier=1.0,
    )
    assert set(trainable_state(private.model)) == names
    load_trainable_state(private.model, trainable_state(bundle.model))
    private.close()


def test_load_trainable_state_names_missing_and_extra_keys(hf_dirs: dict[str, str]) -> None:
    bundle = _build(CASES[0], hf_dirs)
    state = trainable_state(bundle.model)
    missing = dict(state)
    del missing["head.weight"]
    with pytest.raises(ConfigError, match="head.weight"):
        load_trainable_state(bundle.model, missing)
    with pytest.raises(ConfigError, match="not.a.weight"):
        load_trainable_state(bundle.model, {**state, "not.a.weight": np.zeros(1, np.float32)})
    with pytest.raises(ConfigError, match="shape"):
        load_trainable_state(bundle.model, {**state, "head.bias": np.zeros(7, np.float32)})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_and_load_give_identical_outputs(case: tuple, hf_dirs: dict[str, str], tmp_path: Path) -> None:
    bundle = _build(case, hf_dirs, seed=3)
    target = tmp_path / "model"
    save_model(bundle, target, labels=["no", "yes", "maybe"][: bundle.num_labels or 0] or None)
    names = {p.name for p in target.iterdir()}  # Hugging Face layout, guard's description beside it
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "guard_model.json"} <= names
    assert "tokenizer" not in names
    assert not [p for p in tmp_path.iterdir() if p.name != "model"]  # no temp dir left behind
    loaded = load_model(target)
    assert (loaded.name, loaded.task, loaded.num_labels, loaded.params) == (
        bundle.name,
        bundle.task,
        bundle.num_labels,
        bundle.params,
    )
    if bundle.num_labels:
        assert loaded.label_names == ["no", "yes", "maybe"][: bundle.num_labels]
    assert torch.equal(_outputs(bundle), _outputs(loaded))
    save_model(loaded, target)  # overwriting an existing model directory works
    assert torch.equal(_outputs(bundle), _outputs(load_model(target)))


def test_unknown_model_name_lists_the_registered_names() -> None:
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(name="gpt-17"), task=Task.classification, num_labels=2, seed=0)
    assert "gpt-17" in str(info.value) and f"known: {', '.join(model_names())}" in str(info.value)


def test_model_task_mismatch_and_unknown_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="causal_lm"):
        build_model(ModelConfig(name="tiny-gpt"), task=Task.classification, num_labels=2, seed=0)
    with pytest.raises(ConfigError, match="widht"):
        build_model(
            ModelConfig(name="tiny-classifier", params={"widht": 3}), task=Task.classification, num_labels=2, seed=0
        )


def test_build_is_seeded() -> None:
    a = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=5)
    b = build_model(ModelConfig(name="tiny-classifier"), task=Task.classification, num_labels=2, seed=5)
    assert all(np.array_equal(v, trainable_state(b.model)[k]) for k, v in trainable_state(a.model).items())

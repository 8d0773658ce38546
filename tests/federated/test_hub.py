"""federated.hub: run/model/ in Hugging Face layout loads with plain transformers / peft and
gives the logits guard's own loader gives; folders written before the layout still load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from audits._models import load_audit_model
from federated.config import ModelConfig, Task
from federated.hub import Layout, read_meta
from federated.modelbase import load_tokenizer
from federated.models import (
    MODELS,
    EncoderClassifier,
    HFLogits,
    ModelBundle,
    TinyTransformer,
    build_model,
    encode,
    load_model,
    minilm_path,
    register_model,
    save_model,
    trainable_state,
    unwrap,
)
from guard.core.errors import UntrustedModelError

# peft 0.21.2's PeftModel.__init__ reads transformers 5's deprecated is_gradient_checkpointing
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TEXTS = ["the patient was discharged home", "no acute distress", "follow up in two weeks", "a"]
LORA_LLAMA = "test-lora-llama"  # test-only registry name (test_models skips names starting "test-")


def _lora_llama(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    """A tiny random Llama (params.path) with LoRA on q/v: HFLogits(PeftModel), as smollm2 builds it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        params["path"], local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    peft_model = get_peft_model(base, config)
    return ModelBundle(
        model=HFLogits(peft_model),
        tokenizer=load_tokenizer(params["path"]),
        task=task,
        name=LORA_LLAMA,
        params=dict(params),
    )


if LORA_LLAMA not in MODELS.names():  # once per process
    register_model(LORA_LLAMA)(_lora_llama)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random LlamaForCausalLM with a few hundred parameters per layer (MiniLM tokenizer), saved locally."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=64,
            tie_word_embeddings=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    root = tmp_path_factory.mktemp("llama")
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return str(root)


@pytest.fixture(scope="module")
def hf_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
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
    root = tmp_path_factory.mktemp("bert")
    bert.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return str(root)


def _perturbed(bundle: ModelBundle, seed: int = 7) -> ModelBundle:
    """Move every trainable weight off its initial value (LoRA B starts at zero) so a lost weight shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in unwrap(bundle.model).parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    bundle.model.eval()
    return bundle


def _logits(model: torch.nn.Module, bundle: ModelBundle) -> torch.Tensor:
    enc = encode(bundle, TEXTS, 32)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    return out if isinstance(out, torch.Tensor) else out.logits


def _legacy_save(bundle: ModelBundle, directory: Path, labels: list[str] | None) -> None:
    """The writer before the Hugging Face layout: guard's state dict, guard_model.json, tokenizer/."""
    from safetensors.torch import save_file

    directory.mkdir()
    module = unwrap(bundle.model)
    save_file(
        {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}, directory / "model.safetensors"
    )
    meta = {
        "schema_version": 1,
        "name": bundle.name,
        "task": bundle.task.value,
        "params": bundle.params,
        "num_labels": bundle.num_labels,
        "label_names": labels,
        "trainable": sorted(n for n, p in module.named_parameters() if p.requires_grad),
    }
    (directory / "guard_model.json").write_text(json.dumps(meta), encoding="utf-8")
    bundle.tokenizer.save_pretrained(str(directory / "tokenizer"))


# (registry name, params, num_labels): guard's own classifiers
CLASSIFIERS = [("tiny-classifier", {}, 3), ("minilm", {}, 2), ("minilm", {"lora": True}, 2)]


@pytest.mark.parametrize(("name", "params", "num_labels"), CLASSIFIERS, ids=["tiny", "minilm", "minilm-lora"])
def test_guard_classifier_folder_loads_with_auto_class_and_gives_load_model_logits(
    name: str, params: dict[str, Any], num_labels: int, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    labels = ["no", "yes", "maybe"][:num_labels]
    bundle = _perturbed(build_model(ModelConfig(name, params), task=Task.classification, num_labels=num_labels, seed=1))
    before = _logits(bundle.model, bundle)
    target = save_model(bundle, tmp_path / "model", labels=labels)
    assert torch.equal(_logits(bundle.model, bundle), before)  # saving leaves the bundle's weights alone
    assert {"config.json", "model.safetensors", "tokenizer.json", "guard_model.json"} <= {
        p.name for p in target.iterdir()
    }
    assert read_meta(target)["layout"] == Layout.transformers
    loaded = load_model(target)
    assert isinstance(unwrap(loaded.model), (TinyTransformer, EncoderClassifier))
    assert set(trainable_state(loaded.model)) == set(trainable_state(bundle.model))
    auto = AutoModelForSequenceClassification.from_pretrained(target, local_files_only=True, trust_remote_code=False)
    assert auto.config.id2label == dict(enumerate(labels))
    expected = _logits(loaded.model, loaded)
    assert torch.allclose(before, expected, atol=1e-5)
    assert torch.allclose(_logits(auto, loaded), expected, atol=1e-5)


def test_minilm_folder_rebuilds_from_its_config_without_the_minilm_package(tmp_path: Path) -> None:
    bundle = build_model(ModelConfig("minilm", {"lora": True}), task=Task.classification, num_labels=2, seed=0)
    config = json.loads((save_model(bundle, tmp_path / "m") / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "guard_encoder_classifier" and "auto_map" not in config
    assert config["encoder"]["model_type"] == "bert" and config["encoder"]["num_hidden_layers"] == 6
    assert config["lora"]["r"] == 8 and sorted(config["lora"]["target_modules"]) == ["key", "query", "value"]
    assert "_name_or_path" not in config["encoder"]  # nothing points back at the installed package


def test_tiny_gpt_folder_loads_with_auto_causal_lm(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    bundle = _perturbed(build_model(ModelConfig("tiny-gpt", {"dim": 32}), task=Task.causal_lm, num_labels=None, seed=2))
    before = _logits(bundle.model, bundle)
    target = save_model(bundle, tmp_path / "model")
    auto = AutoModelForCausalLM.from_pretrained(target, local_files_only=True, trust_remote_code=False)
    expected = _logits(load_model(target).model, bundle)
    assert expected.shape[-1] == len(bundle.tokenizer)
    assert torch.allclose(_logits(auto, bundle), expected, atol=1e-5)
    assert torch.equal(_logits(bundle.model, bundle), before) and torch.allclose(before, expected, atol=1e-5)


def test_hf_checkpoint_is_saved_with_save_pretrained_and_loads_in_plain_transformers(
    hf_bert: str, tmp_path: Path
) -> None:
    import shutil

    from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

    source = tmp_path / "source"
    shutil.copytree(hf_bert, source)
    bundle = _perturbed(
        build_model(ModelConfig("hf", {"path": str(source)}), task=Task.classification, num_labels=2, seed=0)
    )
    id2label = dict(unwrap(bundle.model).model.config.id2label)
    target = save_model(bundle, tmp_path / "model", labels=["neg", "pos"])
    assert unwrap(bundle.model).model.config.id2label == id2label  # the live model is not changed
    plain = AutoModelForSequenceClassification.from_pretrained(target, local_files_only=True, use_safetensors=True)
    assert type(plain) is BertForSequenceClassification and plain.config.id2label == {0: "neg", 1: "pos"}
    shutil.rmtree(source)  # the run's model no longer needs the checkpoint it started from
    loaded = load_model(target)
    assert loaded.params == {"path": str(source)} and loaded.label_names == ["neg", "pos"]
    expected = _logits(loaded.model, loaded)
    assert torch.allclose(_logits(bundle.model, bundle), expected, atol=1e-5)
    assert torch.allclose(_logits(plain, loaded), expected, atol=1e-5)


def _lora_bundle(tiny_llama: str) -> ModelBundle:
    return _perturbed(
        build_model(ModelConfig(LORA_LLAMA, {"path": tiny_llama}), task=Task.causal_lm, num_labels=None, seed=0)
    )


def test_peft_bundle_saves_an_adapter_that_peft_and_load_model_read_alike(tiny_llama: str, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    bundle = _lora_bundle(tiny_llama)
    target = save_model(bundle, tmp_path / "model")
    names = {p.name for p in target.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "guard_model.json"} <= names
    assert "model.safetensors" not in names and "merged" not in names
    assert json.loads((target / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"] == (
        tiny_llama
    )
    assert read_meta(target)["layout"] == Layout.peft_adapter
    loaded = load_model(target)
    assert set(trainable_state(loaded.model)) == set(trainable_state(bundle.model))
    base = AutoModelForCausalLM.from_pretrained(tiny_llama, local_files_only=True, use_safetensors=True)
    via_peft = PeftModel.from_pretrained(base, target)
    expected = _logits(loaded.model, loaded)
    before = _logits(bundle.model, bundle)
    assert torch.allclose(before, expected, atol=1e-5)
    assert torch.allclose(_logits(via_peft, loaded), expected, atol=1e-5)
    plain_base = AutoModelForCausalLM.from_pretrained(tiny_llama, local_files_only=True, use_safetensors=True)
    assert not torch.allclose(_logits(plain_base, loaded), expected, atol=1e-3)  # the adapter matters


def test_peft_bundle_with_merged_writes_a_full_model_auto_loads(tiny_llama: str, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    bundle = _lora_bundle(tiny_llama)
    target = save_model(bundle, tmp_path / "model", merged=True)
    merged = target / "merged"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in merged.iterdir()}
    full = AutoModelForCausalLM.from_pretrained(merged, local_files_only=True, use_safetensors=True)
    assert not any("lora" in n for n, _ in full.named_parameters())
    assert torch.allclose(_logits(full, bundle), _logits(bundle.model, bundle), atol=1e-5)
    assert torch.allclose(_logits(load_model(target).model, bundle), _logits(full, bundle), atol=1e-5)


def test_adapter_with_wrong_keys_is_a_config_error_naming_the_file(tiny_llama: str, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from federated.config import ConfigError

    target = save_model(_lora_bundle(tiny_llama), tmp_path / "model")
    weights = target / "adapter_model.safetensors"
    state = load_file(str(weights))
    save_file({k.replace("q_proj", "k_proj"): v for k, v in state.items()}, str(weights))
    with pytest.raises(ConfigError, match="adapter_model.safetensors"):
        load_model(target)


@pytest.mark.parametrize(("name", "params", "num_labels"), CLASSIFIERS[:2], ids=["tiny", "minilm"])
def test_folder_in_the_layout_before_this_one_still_loads_and_audits(
    name: str, params: dict[str, Any], num_labels: int, tmp_path: Path
) -> None:
    bundle = _perturbed(build_model(ModelConfig(name, params), task=Task.classification, num_labels=num_labels, seed=4))
    old = tmp_path / "old"
    labels = ["no", "yes", "maybe"][:num_labels]
    _legacy_save(bundle, old, labels)
    loaded = load_model(old)
    assert loaded.label_names == labels
    assert torch.allclose(_logits(loaded.model, loaded), _logits(bundle.model, bundle), atol=1e-6)
    audited = load_audit_model(old)
    assert audited.classes == tuple(labels) and audited.subject["kind"] == "guard_model"
    assert audited.predict_proba(TEXTS).shape == (len(TEXTS), num_labels)
    resaved = save_model(loaded, tmp_path / "new")  # and can be rewritten in the new layout
    assert (resaved / "config.json").is_file()
    assert torch.allclose(_logits(load_model(resaved).model, loaded), _logits(loaded.model, loaded), atol=1e-6)


def test_audits_load_the_new_layout_and_refuse_pickles_or_code_in_it(tmp_path: Path) -> None:
    bundle = build_model(ModelConfig("tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
    target = save_model(bundle, tmp_path / "model", labels=["a", "b"])
    assert load_audit_model(target).classes == ("a", "b")
    (target / "extra.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UntrustedModelError, match="extra.bin"):
        load_audit_model(target)
    (target / "extra.bin").unlink()
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    (target / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "evil.Evil"}}), "utf-8")
    with pytest.raises(UntrustedModelError, match="auto_map"):
        load_audit_model(target)


def test_save_replaces_an_existing_folder_only_after_every_write(tmp_path: Path, monkeypatch) -> None:
    from federated import hub

    bundle = build_model(ModelConfig("tiny-classifier"), task=Task.classification, num_labels=2, seed=0)
    target = save_model(bundle, tmp_path / "model", labels=["a", "b"])
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(tokenizer: Any, directory: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(hub, "_save_tokenizer", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(_perturbed(bundle), target, labels=["a", "b"])
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp folder left behind

"""Models for `guard federate`, registered by name, and the helpers that move their weights.

Every model is an `nn.Module` whose `forward(input_ids, attention_mask)` returns
logits: `(B, num_labels)` for classification, `(B, L, vocab)` for causal LM.
All of them are Opacus-valid (`ModuleValidator.validate(model, strict=True)` is
empty) and share no parameters, so per-sample clipping sees each weight once.

Position ids always carry the batch dimension and are contiguous
(`arange(L).repeat(B, 1)`): a broadcast or `.expand`ed index breaks Opacus's
per-sample gradients (hooks) and ghost clipping.

Only trainable weights (`requires_grad`) cross the Flower wire
(`trainable_state` / `load_trainable_state`); frozen weights stay on the client.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from federated import hub
from federated import smollm2 as _smollm2  # noqa: F401  (registers "smollm2")
from federated.architectures import EncoderClassifier, TinyTransformer, inject_lora, lora_spec
from federated.modelbase import (
    MODELS,
    HFLogits,
    ModelBundle,
    build_model,
    encode,
    load_tokenizer,
    minilm_path,
    model_names,
    position_ids,
    register_model,
    untie_embeddings,
    unwrap,
)
from federated.types import ConfigError, Task

WEIGHTS_FILE = hub.WEIGHTS_FILE
META_FILE = hub.META_FILE
META_SCHEMA_VERSION = hub.META_SCHEMA_VERSION


# --- tiny transformer (classification and causal LM) -------------------------------------------------------


_TINY_DEFAULTS = {"dim": 64, "layers": 2, "heads": 4, "max_positions": 512, "dropout": 0.1}


def _tiny(params: dict[str, Any], *, task: Task, num_labels: int | None, name: str, causal: bool) -> ModelBundle:
    unknown = set(params) - set(_TINY_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"[model.params] unknown key(s) {sorted(unknown)} for {name}; known: {sorted(_TINY_DEFAULTS)}"
        )
    if causal and task is not Task.causal_lm:
        raise ConfigError(f'[model] {name} is a causal LM: set [data] task = "causal_lm" or use tiny-classifier')
    if not causal and task is not Task.classification:
        raise ConfigError(f'[model] {name} is a classifier: set [data] task = "classification" or use tiny-gpt')
    full = {**_TINY_DEFAULTS, **params}
    tokenizer = load_tokenizer(minilm_path())
    vocab = len(tokenizer)
    model = TinyTransformer(
        vocab_size=vocab,
        num_outputs=vocab if causal else int(num_labels or 0),
        causal=causal,
        dim=int(full["dim"]),
        layers=int(full["layers"]),
        heads=int(full["heads"]),
        max_positions=int(full["max_positions"]),
        dropout=float(full["dropout"]),
    )
    return ModelBundle(model=model, tokenizer=tokenizer, task=task, name=name, params=full, num_labels=num_labels)


@register_model("tiny-classifier")
def _tiny_classifier(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    return _tiny(params, task=task, num_labels=num_labels, name="tiny-classifier", causal=False)


@register_model("tiny-gpt")
def _tiny_gpt(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    return _tiny(params, task=task, num_labels=num_labels, name="tiny-gpt", causal=True)


# --- pretrained MiniLM encoder + head ----------------------------------------------------------------------


_MINILM_DEFAULTS: dict[str, Any] = {"train_layers": 1, "lora": False, "lora_r": 8, "lora_alpha": 16}


def _apply_lora(encoder: nn.Module, spec: dict[str, Any]) -> nn.Module:
    encoder = inject_lora(encoder, spec)
    for name, p in encoder.named_parameters():
        p.requires_grad_("lora_" in name)
    return encoder


@register_model("minilm")
def _minilm(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    """all-MiniLM-L6-v2 (offline) + mean pooling + linear head.

    `train_layers` (default 1): the top N of its 6 encoder layers are trained with the
    head, the rest is frozen (0: head only; 6: everything, embeddings included).
    `lora = true`: LoRA adapters (peft) on every attention projection instead; the
    encoder weights stay frozen and only adapters and head train.
    """
    unknown = set(params) - set(_MINILM_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"[model.params] unknown key(s) {sorted(unknown)} for minilm; known: {sorted(_MINILM_DEFAULTS)}"
        )
    if task is not Task.classification:
        raise ConfigError('[model] minilm is an encoder: it needs [data] task = "classification"')
    full = {**_MINILM_DEFAULTS, **params}
    path = minilm_path()
    from transformers import AutoModel

    # the checkpoint's pooler is loaded (so transformers reports no unexpected keys) but unused and frozen
    encoder = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True, trust_remote_code=False)
    n_layers = len(encoder.encoder.layer)
    train_layers = int(full["train_layers"])
    if not 0 <= train_layers <= n_layers:
        raise ConfigError(f"[model.params] train_layers must be between 0 and {n_layers} (got {train_layers})")
    encoder.requires_grad_(False)
    lora = lora_spec(full) if full["lora"] else None
    if lora:
        encoder = _apply_lora(encoder, lora)  # leaves only the adapters trainable
    else:
        for layer in encoder.encoder.layer[n_layers - train_layers :]:
            layer.requires_grad_(True)
        if train_layers == n_layers:
            encoder.embeddings.requires_grad_(True)
    model = EncoderClassifier(encoder, int(num_labels or 0), lora=lora)
    return ModelBundle(
        model=model, tokenizer=load_tokenizer(path), task=task, name="minilm", params=full, num_labels=num_labels
    )


# --- any local Hugging Face checkpoint --------------------------------------------------------------------


@register_model("hf")
def _hf(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    """A local Hugging Face checkpoint folder (`params.path`); never downloads."""
    unknown = set(params) - {"path"}
    if unknown:
        raise ConfigError(f"[model.params] unknown key(s) {sorted(unknown)} for hf; known: ['path']")
    path = params.get("path")
    if not path or not Path(path).is_dir():
        raise ConfigError(f"[model.params] path {path!r} is not a local checkpoint folder (hf needs one)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    # weights from safetensors only (a pickle could run code) and never the checkpoint's own code
    safe = {"local_files_only": True, "use_safetensors": True, "trust_remote_code": False}
    try:
        if task is Task.classification:
            inner = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, **safe)
        else:
            inner = AutoModelForCausalLM.from_pretrained(path, **safe)
    except (OSError, ValueError) as e:
        raise ConfigError(f"[model.params] cannot load a {task.value} model from {path}: {e}") from e
    tokenizer = load_tokenizer(path)
    if getattr(inner.config, "pad_token_id", None) is None:
        inner.config.pad_token_id = tokenizer.pad_token_id
    if getattr(inner.config, "tie_word_embeddings", False) and task is Task.causal_lm:
        untie_embeddings(inner)
    return ModelBundle(
        model=HFLogits(inner),
        tokenizer=tokenizer,
        task=task,
        name="hf",
        params={"path": str(path)},
        num_labels=num_labels,
    )


# --- weights on the wire and on disk ---------------------------------------------------------------------


def trainable_state(model: nn.Module) -> dict[str, np.ndarray]:
    """Trainable weights only, float32 numpy, named as in the unwrapped module."""
    return {
        name: p.detach().to("cpu", torch.float32).numpy().copy()
        for name, p in unwrap(model).named_parameters()
        if p.requires_grad
    }


def load_trainable_state(model: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Copy `state` into the trainable weights; keys must match exactly."""
    params = {name: p for name, p in unwrap(model).named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    extra = sorted(set(state) - set(params))
    if missing or extra:
        raise ConfigError(
            f"trainable weights do not match the model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''} (was the state made by another model config?)"
        )
    with torch.no_grad():
        for name, p in params.items():
            value = torch.as_tensor(np.asarray(state[name]))
            if tuple(value.shape) != tuple(p.shape):
                raise ConfigError(
                    f"trainable weight {name!r} has shape {tuple(value.shape)}, expected {tuple(p.shape)}"
                )
            p.copy_(value.to(p.device, p.dtype))


def save_model(
    bundle: ModelBundle,
    directory: str | Path,
    *,
    labels: Sequence[str] | None = None,
    merged: bool = False,
) -> Path:
    """Write the model at `directory` in Hugging Face layout (see `federated.hub`): config.json,
    weights (safetensors) or a PEFT adapter, tokenizer files, and `guard_model.json` beside them.
    Atomic (temp dir, then rename).

    `labels`: class names in label-id order (default: `bundle.label_names`).
    `merged`: for a PEFT adapter bundle, also write `merged/` (adapters merged into the base).
    """
    return hub.save(bundle, directory, labels=labels, merged=merged)


def load_model(directory: str | Path) -> ModelBundle:
    """Rebuild a model saved by `save_model`, in this layout or the one before it
    (same architecture, weights and tokenizer)."""
    return hub.load(directory)


__all__ = [
    "MODELS",
    "EncoderClassifier",
    "HFLogits",
    "ModelBundle",
    "TinyTransformer",
    "build_model",
    "encode",
    "inject_lora",
    "load_model",
    "load_trainable_state",
    "lora_spec",
    "minilm_path",
    "model_names",
    "position_ids",
    "register_model",
    "save_model",
    "trainable_state",
    "unwrap",
]

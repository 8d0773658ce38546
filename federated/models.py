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

import importlib.util
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from federated import smollm2 as _smollm2  # noqa: F401  (registers "smollm2")
from federated.modelbase import (
    MODELS,
    HFLogits,
    ModelBundle,
    encode,
    load_tokenizer,
    minilm_path,
    model_names,
    position_ids,
    register_model,
    untie_embeddings,
    unwrap,
)
from federated.types import ConfigError, ModelConfig, Task
from guard.core import schema
from guard.core.errors import DependencyError
from guard.core.seeding import seed_everything

WEIGHTS_FILE = "model.safetensors"
META_FILE = "guard_model.json"
META_SCHEMA_VERSION = schema.MODEL_META


# --- building --------------------------------------------------------------------------------------------------


def build_model(config: ModelConfig, *, task: Task, num_labels: int | None, seed: int) -> ModelBundle:
    """Build a fresh model (weights seeded by `seed`) for `task`."""
    factory = MODELS.get(config.name, source="[model] name")
    task = Task(task)
    if task is Task.classification and (num_labels is None or num_labels < 2):
        raise ConfigError(f"[model] {config.name}: classification needs num_labels >= 2 (got {num_labels})")
    seed_everything(seed)
    return factory(dict(config.params), task=task, num_labels=num_labels if task is Task.classification else None)


# --- tiny transformer (classification and causal LM) -------------------------------------------------------


class _Attention(nn.Module):
    """Multi-head self-attention written with nn.Linear only (Opacus supports it in every mode)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"[model.params] dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads)  # (B, H, L, L)
        scores = scores.masked_fill(~mask[:, None], -1e4)
        attn = self.drop(scores.softmax(dim=-1))
        return self.out((attn @ v).transpose(1, 2).reshape(b, length, dim))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x)))))


class TinyTransformer(nn.Module):
    """A small pre-LN transformer: encoder classifier (masked mean pooling) or causal LM (untied head)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        num_outputs: int,
        causal: bool,
        dim: int = 64,
        layers: int = 2,
        heads: int = 4,
        max_positions: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.max_positions = max_positions
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(max_positions, dim)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_outputs)  # own weights: no parameter shared with the embedding
        self.drop = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self.max_positions:
            raise ValueError(f"sequence length {length} exceeds max_positions {self.max_positions}")
        keep = attention_mask.bool()
        mask = keep[:, None, :].repeat(1, length, 1)  # (B, L query, L key)
        if self.causal:
            mask = mask & torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        x = self.drop(self.tokens(input_ids) + self.positions(position_ids(input_ids)))
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        if self.causal:
            return self.head(x)
        weights = attention_mask.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


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


class EncoderClassifier(nn.Module):
    """A Hugging Face encoder, masked mean pooling and a linear head."""

    def __init__(self, encoder: nn.Module, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled `(B, hidden)` input of the head: masked mean of the encoder's last layer."""
        hidden = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
            position_ids=position_ids(input_ids),
        ).last_hidden_state
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(input_ids, attention_mask))


_MINILM_DEFAULTS: dict[str, Any] = {"train_layers": 1, "lora": False, "lora_r": 8, "lora_alpha": 16}
_LORA_TARGETS = ["query", "key", "value"]


def _apply_lora(encoder: nn.Module, params: dict[str, Any]) -> nn.Module:
    if importlib.util.find_spec("peft") is None:
        raise DependencyError("[model.params] lora = true needs peft", hint="pip install peft")
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=int(params["lora_r"]),
        lora_alpha=int(params["lora_alpha"]),
        lora_dropout=0.0,
        target_modules=_LORA_TARGETS,
        bias="none",
    )
    encoder = inject_adapter_in_model(config, encoder)  # in place: names stay encoder.*, plus lora_A/lora_B
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
    if full["lora"]:
        encoder = _apply_lora(encoder, full)  # leaves only the adapters trainable
    else:
        for layer in encoder.encoder.layer[n_layers - train_layers :]:
            layer.requires_grad_(True)
        if train_layers == n_layers:
            encoder.embeddings.requires_grad_(True)
    model = EncoderClassifier(encoder, int(num_labels or 0))
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


def save_model(bundle: ModelBundle, directory: str | Path, *, labels: Sequence[str] | None = None) -> Path:
    """Write weights (safetensors), `guard_model.json` and tokenizer files; atomic (temp dir, then rename).

    `labels`: class names in label-id order (default: `bundle.label_names`).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        module = unwrap(bundle.model)
        # clone: shared or non-contiguous tensors cannot be saved by safetensors as views
        state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        meta = {
            "schema_version": META_SCHEMA_VERSION,
            "name": bundle.name,
            "task": Task(bundle.task).value,
            "params": bundle.params,
            "num_labels": bundle.num_labels,
            "label_names": [str(x) for x in labels] if labels is not None else bundle.label_names,
            "trainable": sorted(n for n, p in module.named_parameters() if p.requires_grad),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        bundle.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old / "x")
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_model(directory: str | Path) -> ModelBundle:
    """Rebuild a model saved by `save_model` (same architecture, weights and tokenizer)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ConfigError(f"{directory} is not a saved guard model ({META_FILE} missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    bundle = build_model(
        ModelConfig(name=meta["name"], params=meta["params"]),
        task=Task(meta["task"]),
        num_labels=meta["num_labels"],
        seed=0,
    )
    state = load_file(str(directory / WEIGHTS_FILE))
    result = bundle.model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(
            f"{directory / WEIGHTS_FILE} does not match model {meta['name']}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    tokenizer_dir = directory / "tokenizer"
    if tokenizer_dir.is_dir():
        bundle.tokenizer = load_tokenizer(str(tokenizer_dir))
    bundle.label_names = meta.get("label_names")
    bundle.model.eval()
    return bundle


__all__ = [
    "MODELS",
    "EncoderClassifier",
    "HFLogits",
    "ModelBundle",
    "TinyTransformer",
    "build_model",
    "encode",
    "load_model",
    "load_trainable_state",
    "minilm_path",
    "model_names",
    "position_ids",
    "register_model",
    "save_model",
    "trainable_state",
    "unwrap",
]

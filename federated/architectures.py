"""guard's own network modules, without registry or disk code: the tiny transformer
(classifier or causal LM), the pretrained-encoder classifier (masked mean pooling and
a linear head) and the LoRA injection it uses. `federated.models` registers factories
that build them; `federated.hub` gives them transformers classes for saving."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import torch
from torch import nn

from federated.modelbase import position_ids
from federated.types import ConfigError
from guard.core.errors import DependencyError


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


class EncoderClassifier(nn.Module):
    """A Hugging Face encoder, masked mean pooling and a linear head.

    `lora`: the LoRA spec (`inject_lora`) already injected into `encoder`, kept so that
    a saved copy can rebuild the same structure (None: no adapters)."""

    def __init__(self, encoder: nn.Module, num_labels: int, *, lora: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        self.lora = dict(lora) if lora else None

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


_LORA_TARGETS = ["query", "key", "value"]


def lora_spec(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able LoRA settings of a minilm with `lora = true` (peft LoraConfig keywords)."""
    return {
        "r": int(params["lora_r"]),
        "lora_alpha": int(params["lora_alpha"]),
        "lora_dropout": 0.0,
        "target_modules": list(_LORA_TARGETS),
        "bias": "none",
    }


def inject_lora(encoder: nn.Module, spec: dict[str, Any]) -> nn.Module:
    """LoRA adapters (peft `inject_adapter_in_model`, in place: names stay encoder.*, plus lora_A/lora_B)."""
    if importlib.util.find_spec("peft") is None:
        raise DependencyError("[model.params] lora = true needs peft", hint="pip install peft")
    from peft import LoraConfig, inject_adapter_in_model

    return inject_adapter_in_model(LoraConfig(**spec), encoder)


__all__ = ["EncoderClassifier", "TinyTransformer", "inject_lora", "lora_spec"]

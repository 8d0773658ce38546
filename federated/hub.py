"""A saved model folder (run/model/) in Hugging Face layout, and its one reader.

What `save_model` writes, by the kind of model in the bundle:

- guard's own architectures (`tiny-classifier`, `tiny-gpt`, `minilm`): `config.json`
  (model_type `guard_tiny` or `guard_encoder_classifier`, everything needed to rebuild
  the architecture offline: for minilm the encoder's own config as a dict and the LoRA
  spec when it has adapters), `model.safetensors` (the guard module's state dict under
  the prefix `model.`) and the tokenizer files. `AutoModelForSequenceClassification` /
  `AutoModelForCausalLM.from_pretrained(folder)` rebuild them, never needing the MiniLM
  package. No stock transformers architecture reproduces them: BERT-style heads pool the
  [CLS] token through a dense+tanh pooler, and the only heads with mean pooling
  (ModernBERT, EuroBERT) sit on other encoders and add a dense+norm layer before the
  linear classifier.
- `hf` (HFLogits around a transformers model): the inner model's own `save_pretrained`,
  so plain transformers loads it without guard.
- HFLogits around a `peft.PeftModel`: a PEFT adapter folder (`adapter_config.json`,
  `adapter_model.safetensors`, peft's own `save_pretrained`); with `merged=True` also
  `merged/`: the adapters merged into a copy of the base, `save_pretrained`, tokenizer.

Beside them always `guard_model.json` (name, params, task, labels, trainable names,
layout, schema version), which transformers ignores. Folders written before this layout
(`model.safetensors` with guard's module keys, `tokenizer/`, no `config.json`) still load.

Limitation: transformers knows guard's own model types only after `import federated.models`
(it imports this module, which registers them with AutoConfig and the Auto model classes);
without it `from_pretrained` says the model type is unknown. guard never sets
`trust_remote_code`, and loading reads JSON and safetensors only.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import CausalLMOutput, SequenceClassifierOutput

from federated.architectures import EncoderClassifier, TinyTransformer, inject_lora
from federated.modelbase import HFLogits, ModelBundle, build_model, load_tokenizer, unwrap
from federated.types import ConfigError, ModelConfig, Task
from guard.core import schema

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
META_FILE = "guard_model.json"
MERGED_DIR = "merged"
LEGACY_TOKENIZER_DIR = "tokenizer"
META_SCHEMA_VERSION = schema.MODEL_META
PREFIX = "model."  # guard's module sits at `.model` of its transformers wrapper

ENCODER_TYPE = "guard_encoder_classifier"
TINY_TYPE = "guard_tiny"


class Layout(StrEnum):
    """How a saved model folder holds its weights (`guard_model.json` field `layout`)."""

    legacy = "legacy"  # before the Hugging Face layout: guard's state dict, tokenizer/ subfolder
    transformers = "transformers"  # config.json + model.safetensors (+ tokenizer) at the root
    peft_adapter = "peft_adapter"  # adapter_config.json + adapter_model.safetensors at the root


# --- guard's architectures as transformers models ----------------------------------------------------


class GuardEncoderConfig(PretrainedConfig):
    """An encoder (any built-in transformers model type, `encoder` = its config dict),
    masked mean pooling and a linear head; `lora`: LoRA spec injected into the encoder."""

    model_type = ENCODER_TYPE

    encoder: dict[str, Any] | None = None
    lora: dict[str, Any] | None = None


class GuardTinyConfig(PretrainedConfig):
    """guard's tiny pre-LN transformer (`federated.models.TinyTransformer`)."""

    model_type = TINY_TYPE

    vocab_size: int = 30522
    num_outputs: int = 2
    causal: bool = False
    dim: int = 64
    layers: int = 2
    heads: int = 4
    max_positions: int = 512
    dropout: float = 0.1


def _build_encoder_module(config: GuardEncoderConfig) -> nn.Module:
    from transformers import AutoModel

    spec = dict(config.encoder or {})
    model_type = spec.pop("model_type", None)
    if not model_type:
        raise ConfigError(f"{CONFIG_FILE}: [encoder] has no model_type; was the folder written by guard?")
    encoder = AutoModel.from_config(AutoConfig.for_model(model_type, **spec))
    if config.lora:
        encoder = inject_lora(encoder, config.lora)
    return EncoderClassifier(encoder, config.num_labels, lora=config.lora)


def _build_tiny_module(config: GuardTinyConfig) -> nn.Module:
    return TinyTransformer(
        vocab_size=config.vocab_size,
        num_outputs=config.num_outputs,
        causal=config.causal,
        dim=config.dim,
        layers=config.layers,
        heads=config.heads,
        max_positions=config.max_positions,
        dropout=config.dropout,
    )


class _GuardWrapper(PreTrainedModel):
    """A transformers model holding one guard module at `.model` (built from the config,
    or the given one when saving). forward returns the guard module's logits in a
    transformers output; `labels` give the usual loss."""

    main_input_name = "input_ids"
    _build = staticmethod(_build_tiny_module)

    def __init__(self, config: PretrainedConfig, module: nn.Module | None = None) -> None:
        super().__init__(config)
        self._wraps_trained = module is not None
        self.model = module if module is not None else type(self)._build(config)
        self.post_init()

    def init_weights(self) -> None:
        # post_init re-initialises every weight: never the trained module being saved
        if not self._wraps_trained:
            super().init_weights()

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.model(input_ids, attention_mask)


class _SequenceClassifier(_GuardWrapper):
    """The transformers sequence-classification output of a guard classifier."""

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        logits = self._logits(input_ids, attention_mask)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class GuardEncoderForSequenceClassification(_SequenceClassifier):
    config_class = GuardEncoderConfig
    _build = staticmethod(_build_encoder_module)


class GuardTinyForSequenceClassification(_SequenceClassifier):
    config_class = GuardTinyConfig


class GuardTinyForCausalLM(_GuardWrapper):
    config_class = GuardTinyConfig

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutput:
        logits = self._logits(input_ids, attention_mask)
        loss = None
        if labels is not None:  # next-token loss, -100 ignored (transformers' convention)
            loss = nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        return CausalLMOutput(loss=loss, logits=logits)


def register_auto_classes() -> None:
    """Teach AutoConfig and the Auto model classes guard's model types (idempotent)."""
    AutoConfig.register(ENCODER_TYPE, GuardEncoderConfig, exist_ok=True)
    AutoConfig.register(TINY_TYPE, GuardTinyConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(
        GuardEncoderConfig, GuardEncoderForSequenceClassification, exist_ok=True
    )
    AutoModelForSequenceClassification.register(GuardTinyConfig, GuardTinyForSequenceClassification, exist_ok=True)
    AutoModelForCausalLM.register(GuardTinyConfig, GuardTinyForCausalLM, exist_ok=True)


register_auto_classes()


def _labels_kwargs(num_labels: int | None, labels: Sequence[str] | None) -> dict[str, Any]:
    if not num_labels:
        return {}
    names = [str(x) for x in labels] if labels is not None else [f"LABEL_{i}" for i in range(num_labels)]
    if len(names) != num_labels:
        raise ConfigError(f"{len(names)} label name(s) given for a model with {num_labels} classes")
    return {
        "num_labels": num_labels,
        "id2label": dict(enumerate(names)),
        "label2id": {name: i for i, name in enumerate(names)},
    }


def transformers_model(module: nn.Module, *, labels: Sequence[str] | None = None) -> PreTrainedModel:
    """The transformers model for a guard module (TinyTransformer or EncoderClassifier),
    sharing its weights (no copy)."""
    module = unwrap(module)
    if isinstance(module, TinyTransformer):
        block = module.blocks[0]
        config = GuardTinyConfig(
            vocab_size=module.tokens.num_embeddings,
            num_outputs=module.head.out_features,
            causal=module.causal,
            dim=module.tokens.embedding_dim,
            layers=len(module.blocks),
            heads=block.attn.heads,
            max_positions=module.max_positions,
            dropout=float(module.drop.p),
            **({} if module.causal else _labels_kwargs(module.head.out_features, labels)),
        )
        cls = GuardTinyForCausalLM if module.causal else GuardTinyForSequenceClassification
        return cls(config, module=module)
    if isinstance(module, EncoderClassifier):
        encoder = module.encoder.config.to_dict()
        for key in ("architectures", "transformers_version", "_name_or_path", "dtype", "torch_dtype"):
            encoder.pop(key, None)
        config = GuardEncoderConfig(
            encoder=encoder,
            lora=dict(module.lora) if module.lora else None,
            **_labels_kwargs(module.head.out_features, labels),
        )
        return GuardEncoderForSequenceClassification(config, module=module)
    raise ConfigError(f"no Hugging Face layout for a {type(module).__name__} model")


# --- saving ---------------------------------------------------------------------------------------------


def _peft_model(module: nn.Module) -> Any:
    """The peft.PeftModel inside an HFLogits, or None."""
    if not isinstance(module, HFLogits):
        return None
    try:
        from peft import PeftModel
    except ImportError:
        return None
    return module.model if isinstance(module.model, PeftModel) else None


def _save_tokenizer(tokenizer: Any, directory: Path) -> None:
    tokenizer.save_pretrained(str(directory))


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _write_files(bundle: ModelBundle, tmp: Path, *, labels: Sequence[str] | None, merged: bool) -> Layout:
    module = unwrap(bundle.model)
    label_list = [str(x) for x in labels] if labels is not None else bundle.label_names
    peft = _peft_model(module)
    if peft is not None:
        peft.save_pretrained(str(tmp), safe_serialization=True)
        layout = Layout.peft_adapter
        if merged:
            full = copy.deepcopy(peft).merge_and_unload()
            if bundle.num_labels and label_list:
                full.config.update(_labels_kwargs(bundle.num_labels, label_list))
            full.save_pretrained(str(tmp / MERGED_DIR))
            _save_tokenizer(bundle.tokenizer, tmp / MERGED_DIR)
    elif isinstance(module, HFLogits):
        inner = module.model
        names = _labels_kwargs(bundle.num_labels, label_list) if bundle.num_labels and label_list else {}
        before = {key: getattr(inner.config, key) for key in names}
        inner.config.update(names)  # the class names go into config.json; the live model is left as it was
        try:
            inner.save_pretrained(str(tmp))
        finally:
            inner.config.update(before)
        layout = Layout.transformers
    else:
        transformers_model(module, labels=label_list).save_pretrained(str(tmp))
        layout = Layout.transformers
    if merged and peft is None:
        logger.info("save_merged: the %s model has no PEFT adapters to merge; wrote the full model only", bundle.name)
    _save_tokenizer(bundle.tokenizer, tmp)
    return layout


def save(
    bundle: ModelBundle,
    directory: str | Path,
    *,
    labels: Sequence[str] | None = None,
    merged: bool = False,
) -> Path:
    """Write `bundle` at `directory` in Hugging Face layout plus `guard_model.json`.

    Atomic: everything is written into a temp folder beside `directory`, synced, then
    renamed into place; an existing folder is replaced only after every write succeeded."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        layout = _write_files(bundle, tmp, labels=labels, merged=merged)
        module = unwrap(bundle.model)
        meta = {
            "schema_version": META_SCHEMA_VERSION,
            "layout": layout.value,
            "name": bundle.name,
            "task": Task(bundle.task).value,
            "params": bundle.params,
            "num_labels": bundle.num_labels,
            "label_names": [str(x) for x in labels] if labels is not None else bundle.label_names,
            "trainable": sorted(n for n, p in module.named_parameters() if p.requires_grad),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _fsync_tree(tmp)
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


# --- loading --------------------------------------------------------------------------------------------


def read_meta(directory: str | Path) -> dict[str, Any]:
    """`guard_model.json` of a saved model folder (ConfigError naming the file when missing or damaged)."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise ConfigError(f"{Path(directory)} is not a saved guard model ({META_FILE} missing)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict) or not {"name", "task", "params"} <= set(meta):
        raise ConfigError(f"{path}: not a guard model description (needs name, task and params)")
    return meta


def layout_of(directory: str | Path, meta: dict[str, Any] | None = None) -> Layout:
    """The folder's layout: `guard_model.json` says it; folders from before it are legacy."""
    meta = read_meta(directory) if meta is None else meta
    try:
        return Layout(meta.get("layout", Layout.legacy.value))
    except ValueError:
        names = sorted(x.value for x in Layout)
        raise ConfigError(
            f"{Path(directory) / META_FILE}: unknown layout {meta.get('layout')!r}; known: {names} "
            "(written by a newer guard?)"
        ) from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ConfigError(f"{path} is missing (the saved model folder is incomplete)")
    return load_file(str(path))


def _load_checkpoint_weights(directory: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The weights of a save_pretrained folder: model.safetensors or its shards (index)."""
    index = directory / f"{WEIGHTS_FILE}.index.json"
    if not index.is_file():
        return _load_safetensors(directory / WEIGHTS_FILE), directory / WEIGHTS_FILE
    shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        if Path(shard).name != shard:
            raise ConfigError(f"{index}: shard name {shard!r} is not a file in the folder")
        state.update(_load_safetensors(directory / shard))
    return state, index


def _check_keys(path: Path, name: str, missing: Sequence[str], unexpected: Sequence[str]) -> None:
    if missing or unexpected:
        raise ConfigError(
            f"{path} does not match model {name}: missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )


def _rebuild(meta: dict[str, Any], *, params: dict[str, Any] | None = None) -> ModelBundle:
    return build_model(
        ModelConfig(name=meta["name"], params=meta["params"] if params is None else params),
        task=Task(meta["task"]),
        num_labels=meta.get("num_labels"),
        seed=0,
    )


def _load_legacy(directory: Path, meta: dict[str, Any]) -> ModelBundle:
    bundle = _rebuild(meta)
    path = directory / WEIGHTS_FILE
    result = bundle.model.load_state_dict(_load_safetensors(path), strict=False)
    _check_keys(path, meta["name"], result.missing_keys, result.unexpected_keys)
    if (directory / LEGACY_TOKENIZER_DIR).is_dir():
        bundle.tokenizer = load_tokenizer(str(directory / LEGACY_TOKENIZER_DIR))
    return bundle


def _load_transformers(directory: Path, meta: dict[str, Any]) -> ModelBundle:
    model_type = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8")).get("model_type")
    if model_type in (ENCODER_TYPE, TINY_TYPE):
        bundle = _rebuild(meta)
        path = directory / WEIGHTS_FILE
        state = _load_safetensors(path)
        foreign = sorted(k for k in state if not k.startswith(PREFIX))
        state = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
        result = unwrap(bundle.model).load_state_dict(state, strict=False)
        _check_keys(path, meta["name"], result.missing_keys, [*foreign, *result.unexpected_keys])
    elif meta["name"] == "hf":  # the folder is itself the checkpoint: the original path may be gone
        bundle = _rebuild(meta, params={**meta["params"], "path": str(directory)})
        bundle.params = dict(meta["params"])
    else:  # another factory's transformers model (save_pretrained): rebuild, then its weights
        bundle = _rebuild(meta)
        inner = unwrap(bundle.model)
        inner = inner.model if isinstance(inner, HFLogits) else inner
        state, path = _load_checkpoint_weights(directory)
        result = inner.load_state_dict(state, strict=False)
        tied = set(getattr(inner, "all_tied_weights_keys", None) or ())
        _check_keys(path, meta["name"], [k for k in result.missing_keys if k not in tied], result.unexpected_keys)
    bundle.tokenizer = load_tokenizer(str(directory))
    return bundle


def _load_adapter(directory: Path, meta: dict[str, Any]) -> ModelBundle:
    from peft import set_peft_model_state_dict

    bundle = _rebuild(meta)
    peft = _peft_model(unwrap(bundle.model))
    if peft is None:
        raise ConfigError(
            f"{directory}: holds a PEFT adapter but model {meta['name']!r} builds no peft.PeftModel "
            "(was the model registry changed since the run?)"
        )
    path = directory / ADAPTER_WEIGHTS_FILE
    state = _load_safetensors(path)
    adapter_keys = {k for k, p in peft.named_parameters() if p.requires_grad}  # what training changed
    result = set_peft_model_state_dict(peft, state)
    missing = sorted(adapter_keys & set(result.missing_keys))
    _check_keys(path, meta["name"], missing, result.unexpected_keys)
    bundle.tokenizer = load_tokenizer(str(directory))
    return bundle


_LOADERS = {Layout.legacy: _load_legacy, Layout.transformers: _load_transformers, Layout.peft_adapter: _load_adapter}


def load(directory: str | Path) -> ModelBundle:
    """Rebuild a model `save` wrote (any layout): through the model registry
    (`guard_model.json` name and params), then its weights and tokenizer from the folder."""
    directory = Path(directory)
    meta = read_meta(directory)
    bundle = _LOADERS[layout_of(directory, meta)](directory, meta)
    bundle.label_names = meta.get("label_names")
    bundle.model.eval()
    return bundle


__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "CONFIG_FILE",
    "ENCODER_TYPE",
    "META_FILE",
    "MERGED_DIR",
    "TINY_TYPE",
    "WEIGHTS_FILE",
    "GuardEncoderConfig",
    "GuardEncoderForSequenceClassification",
    "GuardTinyConfig",
    "GuardTinyForCausalLM",
    "GuardTinyForSequenceClassification",
    "Layout",
    "layout_of",
    "load",
    "read_meta",
    "register_auto_classes",
    "save",
    "transformers_model",
]

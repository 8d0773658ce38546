"""SmolLM2-135M-Instruct with LoRA adapters (peft) for DP-LoRA fine-tuning: the
`smollm2` entry of the model registry. (Being written.)"""

from __future__ import annotations

from federated import modelbase as _modelbase  # noqa: F401

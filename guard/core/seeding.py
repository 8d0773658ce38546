"""One way to seed every random number generator guard's code draws from.

    >>> import random
    >>> seed_everything(7)
    >>> a = random.random()
    >>> seed_everything(7)
    >>> a == random.random()
    True

torch is seeded only when it is already imported or installed (it is imported
here lazily, so `guard --help` and the core never pay for it).
"""

from __future__ import annotations

import importlib.util
import random
import sys


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch (CPU and every GPU)
    with `seed`. Generators made with an explicit seed (`np.random.default_rng(seed)`,
    `torch.Generator().manual_seed(seed)`) are not affected and need no call."""
    seed = int(seed)
    random.seed(seed)
    if "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None:
        import numpy as np

        np.random.seed(seed % 2**32)
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device


__all__ = ["seed_everything"]

"""Plain JSON from what numerical code returns: one cleaner for every writer.

>>> import math
>>> json_clean({"a": (1, 2.5), 3: math.nan, "b": [math.inf, None, True]})
{'a': [1, 2.5], '3': None, 'b': [None, None, True]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def finite(x: float | None) -> float | None:
    """`x` as a float, or None when it is None, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def json_clean(obj: Any) -> Any:
    """Mappings to dicts with str keys, tuples to lists, numpy scalars and arrays to
    plain Python (via `tolist`), NaN and infinities to None, anything else to its str."""
    if isinstance(obj, Mapping):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_clean(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        return finite(obj)
    if hasattr(obj, "tolist"):
        return json_clean(obj.tolist())
    return str(obj)


__all__ = ["finite", "json_clean"]

"""Epsilon of a privacy history with Opacus's own accountants, without importing torch.

Opacus's accountants (`opacus.accountants`: RDP, PRV, GDP) are numpy and scipy code,
but `import opacus` runs the package's `__init__`, which loads its optimizers, grad
samplers and torch (about 2.5 s here). The release gate (`guard check`) recomputes every
client's epsilon from ledger.json and must stay light, so when torch is not already
loaded this module loads `opacus.accountants` from the installed Opacus on its own: the
package `__init__` is skipped and the one torch-only name the accountants import,
`opacus.optimizers.DPOptimizer` (a type annotation of an optimizer hook guard never
uses), is stood in. The modules are removed from `sys.modules` afterwards, so a later
`import opacus` in the same process loads the real package. The numbers are Opacus's:
tests/federated/test_accounting.py compares both ways of loading on RDP and PRV
histories.

Opacus's RDP terms are memoised (`memoize_rdp`): `_compute_rdp(q, sigma, alpha)` is a pure
function of three floats, and its fractional orders are a Python series that costs about
0.5 s per (q, sigma) over the default orders. PRV needs them for its domain, so without the
memo every epsilon of a history that only grew by a round paid it again: 70% of a client's
CPU per deployment round and of the ServerApp's, which recomputes every client's epsilon.
The memo returns the very floats Opacus computes (tested), so epsilons are bit-identical.

Adjacent entries with the same noise and sample rate are merged before accounting,
exactly as Opacus's own accountants merge them while stepping (`RDPAccountant.step`,
`PRVAccountant.step`): a history restored into a PrivacyEngine and stepped further ends
in that merged shape, so both agree.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from guard.core.errors import DependencyError

History = list[tuple[float, float, int]]


def merged(history: Iterable[tuple[float, float, int]]) -> History:
    """`history` with empty entries dropped and adjacent equal (noise, rate) entries joined."""
    out: History = []
    for noise, rate, steps in history:
        noise, rate, steps = float(noise), float(rate), int(steps)
        if steps <= 0:
            continue
        if out and out[-1][0] == noise and out[-1][1] == rate:
            out[-1] = (noise, rate, out[-1][2] + steps)
        else:
            out.append((noise, rate, steps))
    return out


RDP_MEMO_SIZE = 65536  # (q, sigma, order) triples: 151 default orders x a few hundred plans


def memoize_rdp(module: Any) -> None:
    """Replace `module._compute_rdp` (Opacus's `opacus.accountants.analysis.rdp`) with a
    memoised copy of itself, once. Every RDP and PRV accountant of the process looks the
    function up in that module, so all of them share the memo."""
    compute = getattr(module, "_compute_rdp", None)
    if compute is None or hasattr(compute, "cache_info"):
        return
    module._compute_rdp = functools.lru_cache(maxsize=RDP_MEMO_SIZE)(compute)


def _is_opacus(name: str) -> bool:
    return name == "opacus" or name.startswith("opacus.")


# the accountants guard's ledgers name, by module (Opacus's registry keys and classes)
_CLASSES = {"prv": ("prv", "PRVAccountant"), "rdp": ("rdp", "RDPAccountant"), "gdp": ("gdp", "GaussianAccountant")}


@functools.cache
def _accountant_without_torch(name: str) -> Callable[[], Any]:
    if name not in _CLASSES:
        raise ValueError(f"Unexpected accounting mechanism: {name}")  # Opacus's own wording
    spec = importlib.util.find_spec("opacus")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError("opacus is not installed", hint="pip install 'guard[federate]'")
    root = spec.submodule_search_locations[0]
    stubs = {
        "opacus": spec.submodule_search_locations,
        "opacus.accountants": [f"{root}/accountants"],  # its __init__ would load every accountant
    }
    for module_name, path in stubs.items():
        module = types.ModuleType(module_name)
        module.__path__ = list(path)
        sys.modules[module_name] = module
    optimizers = types.ModuleType("opacus.optimizers")
    optimizers.DPOptimizer = object  # type: ignore[attr-defined]  # only an annotation in accountant.py
    sys.modules["opacus.optimizers"] = optimizers
    module, cls = _CLASSES[name]
    try:
        memoize_rdp(importlib.import_module("opacus.accountants.analysis.rdp"))
        return getattr(importlib.import_module(f"opacus.accountants.{module}"), cls)
    finally:
        for loaded in [n for n in sys.modules if _is_opacus(n)]:
            del sys.modules[loaded]


def create_accountant(name: str) -> Any:
    """A fresh Opacus accountant ("prv", "rdp" or "gdp"); ValueError for another name."""
    if sys.modules.get("torch") is not None or sys.modules.get("opacus") is not None:  # not hidden (None)
        from opacus.accountants import create_accountant as create
        from opacus.accountants.analysis import rdp

        memoize_rdp(rdp)
        return create(mechanism=str(name))
    return _accountant_without_torch(str(name))()


def epsilon(history: Iterable[tuple[float, float, int]], delta: float, accountant: str) -> float:
    """Epsilon that a fresh Opacus `accountant` gives for `history` at `delta`
    (ValueError for an unknown accountant)."""
    steps = merged(history)
    if not steps:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = steps
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # RDP warns when the best order is at the edge of its default alphas (the bound is still valid);
        # PRV evaluates log(1 - q), which numpy flags at sample rate 1
        warnings.filterwarnings("ignore", message=r".*[Oo]ptimal order.*")
        return float(acc.get_epsilon(delta=delta))


__all__ = ["History", "create_accountant", "epsilon", "memoize_rdp", "merged"]

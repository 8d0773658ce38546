"""Epsilon from Opacus's accountants without torch (federated.accounting): the release
gate recomputes every client's epsilon and must not pay for importing torch; the
numbers must be exactly Opacus's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

HISTORIES = [
    [(1.1, 0.01, 100), (1.1, 0.01, 50), (0.9, 0.02, 30)],
    [(0.62, 0.25, 16)],
    [(4.0, 0.5, 3), (2.0, 1.0, 1)],
]

_CHILD = """
import json, sys
from federated.accounting import epsilon
histories = json.loads(sys.argv[1])
out = [[epsilon(h, 1e-5, name) for name in ("prv", "rdp")] for h in histories]
print(json.dumps({"eps": out, "torch": "torch" in sys.modules, "opacus": "opacus" in sys.modules}))
"""


def test_epsilon_without_torch_equals_opacus_with_torch_and_imports_no_torch():
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(HISTORIES)], capture_output=True, text=True, check=True
    )
    child = json.loads(done.stdout)
    assert child["torch"] is False and child["opacus"] is False  # nothing left behind either
    from opacus.accountants import create_accountant

    for history, (prv, rdp) in zip(HISTORIES, child["eps"]):
        merged = []
        for noise, rate, steps in history:  # Opacus merges equal adjacent steps itself
            if merged and merged[-1][:2] == (noise, rate):
                merged[-1] = (noise, rate, merged[-1][2] + steps)
            else:
                merged.append((noise, rate, steps))
        for name, got in (("prv", prv), ("rdp", rdp)):
            acc = create_accountant(mechanism=name)
            acc.history = merged
            with np.errstate(divide="ignore"):  # PRV takes log(1 - q); q = 1 in the last history
                assert got == acc.get_epsilon(delta=1e-5)


def test_after_the_light_load_the_real_opacus_still_imports_whole():
    code = (
        "from federated.accounting import epsilon; epsilon([(1.0, 0.1, 10)], 1e-5, 'rdp');"
        "import opacus, torch; from opacus import PrivacyEngine; "
        "assert opacus.optimizers.DPOptimizer.__module__.startswith('opacus'); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"


def test_an_unknown_accountant_is_a_value_error_and_an_empty_history_is_zero():
    from federated.accounting import epsilon

    assert epsilon([(1.0, 0.1, 0)], 1e-5, "nope") == 0.0
    with pytest.raises(ValueError):
        epsilon([(1.0, 0.1, 10)], 1e-5, "nope")


_MEMO_CHILD = """
import json, sys
from federated.accounting import epsilon
print(json.dumps([epsilon(h, 1e-5, "prv") for h in json.loads(sys.argv[1])]))
"""


def test_the_rdp_memo_gives_opacus_own_numbers_in_both_loads_and_is_hit_as_a_history_grows():
    """The memo of Opacus's `_compute_rdp` (federated.accounting.memoize_rdp) changes no bit:
    epsilons with it equal a fresh Opacus accountant's without it, in the light (torch-less)
    load and the full one; and a history grown by one round reuses the RDP terms it had."""
    from opacus.accountants import create_accountant
    from opacus.accountants.analysis import rdp

    from federated.accounting import epsilon, merged

    grown = [[(0.6265, 0.125, 8)] * r for r in (1, 2, 3)] + HISTORIES[2:]  # the last has q = 1
    done = subprocess.run(
        [sys.executable, "-c", _MEMO_CHILD, json.dumps(grown)], capture_output=True, text=True, check=True
    )
    light = json.loads(done.stdout)
    epsilon(grown[0], 1e-5, "prv")  # the full load installs the memo too
    memo = rdp._compute_rdp
    assert hasattr(memo, "cache_info")
    before = memo.cache_info()
    full = [epsilon(h, 1e-5, "prv") for h in grown]
    assert memo.cache_info().hits > before.hits  # rounds 2 and 3 reuse round 1's terms
    plain = memo.__wrapped__
    rdp._compute_rdp = plain  # Opacus as shipped, for the reference numbers
    try:
        for history, got_light, got_full in zip(grown, light, full):
            acc = create_accountant(mechanism="prv")
            acc.history = merged(history)
            with np.errstate(divide="ignore"):
                want = acc.get_epsilon(delta=1e-5)
            assert got_light == want and got_full == want
    finally:
        rdp._compute_rdp = memo

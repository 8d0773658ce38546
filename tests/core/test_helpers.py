"""One of each (issue 12): JSON cleaning, seeding, Luhn and the schema versions."""

import math
import random

import numpy as np
import pytest

from guard.core import schema
from guard.core.jsonutil import finite, json_clean
from guard.core.seeding import seed_everything
from guard.deid.luhn import luhn_check_digit, luhn_valid


def test_json_clean_makes_numpy_and_nan_plain_json():
    data = {1: np.float64(0.5), "a": np.array([1, 2]), "n": math.nan, "i": np.int64(3), "b": np.bool_(True)}
    assert json_clean(data) == {"1": 0.5, "a": [1, 2], "n": None, "i": 3, "b": True}
    assert json_clean((math.inf, None, "x", object)) == [None, None, "x", str(object)]
    assert finite(None) is None and finite(math.nan) is None and finite(np.float32(2)) == 2.0


def test_seed_everything_repeats_python_numpy_and_torch():
    import torch

    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first


@pytest.mark.parametrize("number", ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"])
def test_luhn_check_digit_and_validation_agree(number):
    digits = "".join(c for c in number if c.isdigit())
    assert luhn_valid(number) and luhn_check_digit(digits[:-1]) == digits[-1]
    assert not luhn_valid(digits[:-1] + str((int(digits[-1]) + 1) % 10))


def test_one_schema_version_per_format_in_one_place():
    from audits.findings import SCHEMA_VERSION as findings
    from federated.data import SCHEMA_VERSION as run_data
    from federated.ledger import SCHEMA_VERSION as ledger
    from federated.models import META_SCHEMA_VERSION as model_meta
    from guard.core.types import SCHEMA_VERSION as data_report

    assert (data_report, ledger, run_data, model_meta, findings) == (
        schema.DATA_REPORT,
        schema.LEDGER,
        schema.RUN_DATA,
        schema.MODEL_META,
        schema.FINDINGS,
    )

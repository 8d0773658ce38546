"""Shared fixtures of the audit tests: a run directory (tests/audits/runs.py) and its findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audits.runs import fairness_findings, make_run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run directory shared by the tests that only read it (copy it before changing it)."""
    return make_run(tmp_path_factory.mktemp("small-run") / "run")


@pytest.fixture(scope="session")
def small_fairness(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fairness findings file of `small_run`."""
    return fairness_findings(small_run, tmp_path_factory.mktemp("small-fairness") / "fairness.json")

"""Fixtures of the release tests: the audit tests' small run directory and its fairness
findings (tests/audits/runs.py), made once per session."""

from __future__ import annotations

from tests.audits.conftest import small_fairness, small_run

__all__ = ["small_fairness", "small_run"]

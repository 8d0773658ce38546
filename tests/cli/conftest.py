"""Detectors for CLI tests that are about files, signals and exit codes, not detection.

guard's real Detector takes about 3 s to build. `stub_detector` replaces it with a
regex stand-in (instant); `real_detector` builds one real Detector per session for
the default policy and hands it to every scrub.
"""

import re
from collections.abc import Sequence

import pytest

from guard.core.policy import Policy
from guard.deid.detector import Detection

_STUB = re.compile(r"\b(?:Alice|Bob)\b|\b[\w.]+@[\w.]+\.\w+\b")


class StubDetector:
    """Finds the names Alice and Bob (PERSON) and e-mail addresses (EMAIL_ADDRESS)."""

    entities = ("EMAIL_ADDRESS", "PERSON")

    def __init__(self, policy: Policy, **_: object) -> None:
        self.policy = policy

    def detect_batch(self, texts: Sequence[str], *, batch_size: int = 64) -> list[list[Detection]]:
        return [
            [
                Detection(m.start(), m.end(), "EMAIL_ADDRESS" if "@" in m.group() else "PERSON", 1.0, "stub")
                for m in _STUB.finditer(text)
            ]
            for text in texts
        ]


@pytest.fixture
def stub_detector(monkeypatch: pytest.MonkeyPatch) -> type[StubDetector]:
    monkeypatch.setattr("guard.deid.scrubber.Detector", StubDetector)
    return StubDetector


@pytest.fixture(scope="session")
def _shared_detector():  # type: ignore[no-untyped-def]
    from guard.deid.detector import Detector

    return Detector(Policy())


@pytest.fixture
def real_detector(monkeypatch: pytest.MonkeyPatch, _shared_detector):  # type: ignore[no-untyped-def]
    """guard's Detector for the default policy, built once per session."""
    from guard.deid.detector import Detector

    def make(policy: Policy, **kwargs: object):  # type: ignore[no-untyped-def]
        return _shared_detector if policy == Policy() else Detector(policy, **kwargs)

    monkeypatch.setattr("guard.deid.scrubber.Detector", make)
    return _shared_detector

"""The residual-PII measurement behind the report's `residual_pii_rate`: PII values
the detector finds in a raw record that survive verbatim in its de-identified
version, matched by record id; realistic replacements are not leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.core.errors import InputError
from guard.core.policy import Policy
from guard.deid import Detector, measure_residual_pii
from tests.conftest import write_jsonl

EMAIL = "m.okonkwo@riverbend-health.org"
SSN = "512-44-3187"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(Policy())


def test_values_left_in_the_same_record_count_and_replacements_do_not(tmp_path: Path, detector: Detector):
    raw = write_jsonl(
        tmp_path / "raw.jsonl",
        [
            {"id": "a", "text": f"Patient email {EMAIL}, SSN {SSN} on file."},
            {"id": "b", "text": f"Reply sent to {EMAIL} today."},
            {"id": "c", "text": "Dropped as a duplicate."},
        ],
    )
    clean = write_jsonl(
        tmp_path / "clean.jsonl",
        [
            {"id": "a", "text": f"Patient email <EMAIL_ADDRESS>, SSN {SSN} on file."},  # the SSN was missed
            {"id": "b", "text": "Reply sent to j.doe@example.net today."},  # a surrogate, not a leak
        ],
    )
    result = measure_residual_pii(raw, clean, detector=detector)
    assert result.records == 2
    assert result.by_entity["US_SSN"] == {"raw": 1, "surviving": 1}
    assert result.by_entity["EMAIL_ADDRESS"] == {"raw": 2, "surviving": 0}
    assert result.surviving_values == 1 and result.rate == pytest.approx(1 / result.raw_values)
    data = result.to_json()
    assert data["kind"] == "guard.residual_pii" and SSN not in str(data) and EMAIL not in str(data)


def test_a_scrubbed_record_missing_from_the_raw_corpus_is_an_error(tmp_path: Path, detector: Detector):
    raw = write_jsonl(tmp_path / "raw.jsonl", [{"id": "a", "text": "nothing here"}])
    clean = write_jsonl(tmp_path / "clean.jsonl", [{"id": "z", "text": "nothing here"}])
    with pytest.raises(InputError, match="not in the raw corpus"):
        measure_residual_pii(raw, clean, detector=detector)


def test_an_age_generalized_to_its_band_is_not_a_survivor_but_a_kept_age_is(tmp_path: Path, detector: Detector):
    raw = write_jsonl(
        tmp_path / "raw.jsonl",
        [
            {"id": "a", "text": "The patient, a 49-year-old man, was seen."},
            {"id": "b", "text": "The patient, a 59-year-old man, was seen."},
        ],
    )
    clean = write_jsonl(
        tmp_path / "clean.jsonl",
        [
            {"id": "a", "text": "The patient, a 40-49-year-old man, was seen."},  # what generalize writes
            {"id": "b", "text": "The patient, a 59-year-old man, was seen."},  # missed
        ],
    )
    result = measure_residual_pii(raw, clean, detector=detector)
    assert result.by_entity["AGE"] == {"raw": 2, "surviving": 1}

"""De-identification: detect PII with Presidio + spaCy offline, transform it with
keyed, deterministic operators, scan and deduplicate corpora."""

from guard.deid.dedup import dedup
from guard.deid.detector import Detection, Detector
from guard.deid.operators import OpContext, Operator, operator_names, register_operator
from guard.deid.residual import ResidualPII, measure_residual_pii
from guard.deid.restore import RestoreReport, restore
from guard.deid.scrubber import DetectorName, OnError, Scrubber, ScrubOptions, versions


def detector_recall() -> dict:  # type: ignore[type-arg]
    """The detector's recall per entity type, measured on the labelled evaluation sets
    (bench/deid_eval.py --write-recall; the sets are named and described inside)."""
    import json
    from importlib import resources

    return json.loads(resources.files("guard.deid").joinpath("data/detector_recall.json").read_text("utf-8"))


__all__ = [
    "Detection",
    "Detector",
    "DetectorName",
    "OnError",
    "OpContext",
    "Operator",
    "ResidualPII",
    "RestoreReport",
    "ScrubOptions",
    "Scrubber",
    "dedup",
    "detector_recall",
    "measure_residual_pii",
    "operator_names",
    "register_operator",
    "restore",
    "versions",
]

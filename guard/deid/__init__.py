"""De-identification: detect PII with Presidio + spaCy offline, transform it with
keyed, deterministic operators, scan and deduplicate corpora."""

from guard.deid.dedup import dedup
from guard.deid.detector import Detection, Detector
from guard.deid.operators import OpContext, Operator, operator_names, register_operator
from guard.deid.restore import RestoreReport, restore
from guard.deid.scrubber import OnError, Scrubber, ScrubOptions, versions

__all__ = [
    "Detection",
    "Detector",
    "OnError",
    "OpContext",
    "Operator",
    "RestoreReport",
    "ScrubOptions",
    "Scrubber",
    "dedup",
    "operator_names",
    "register_operator",
    "restore",
    "versions",
]

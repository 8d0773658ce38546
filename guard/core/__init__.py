"""Core types, errors, policy, keys and corpus I/O. Imports no ML library."""

from guard.core.errors import (
    DependencyError,
    GuardError,
    InputError,
    KeyMissingError,
    OutputError,
    PolicyError,
)
from guard.core.io import CorpusReader, CorpusWriter, Format, detect_format, write_text_atomic
from guard.core.policy import OperatorSpec, Policy, RecognizerSpec, load_policy, parse_policy
from guard.core.types import SCHEMA_VERSION, DedupReport, Record, RecordError, ScrubReport

__all__ = [
    "SCHEMA_VERSION",
    "CorpusReader",
    "CorpusWriter",
    "DedupReport",
    "DependencyError",
    "Format",
    "GuardError",
    "InputError",
    "KeyMissingError",
    "OperatorSpec",
    "OutputError",
    "Policy",
    "PolicyError",
    "RecognizerSpec",
    "Record",
    "RecordError",
    "ScrubReport",
    "detect_format",
    "load_policy",
    "parse_policy",
    "write_text_atomic",
]

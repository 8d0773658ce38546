"""Core types, errors, policy, keys and corpus I/O. Imports no ML library."""

from guard.core.errors import (
    EXIT_CODES,
    DependencyError,
    ExitCode,
    GuardError,
    InputError,
    KeyMissingError,
    OutputError,
    PolicyError,
)
from guard.core.io import CorpusReader, CorpusWriter, Format, detect_format, write_text_atomic
from guard.core.jsonutil import json_clean
from guard.core.policy import OperatorSpec, Policy, RecognizerSpec, load_policy, parse_policy
from guard.core.registry import DuplicateNameError, Registry
from guard.core.rundir import ClientInfo, ClientsFile, RunReader, RunState
from guard.core.seeding import seed_everything
from guard.core.types import SCHEMA_VERSION, DedupReport, Record, RecordError, ScrubReport

__all__ = [
    "EXIT_CODES",
    "SCHEMA_VERSION",
    "ClientInfo",
    "ClientsFile",
    "CorpusReader",
    "CorpusWriter",
    "DedupReport",
    "DependencyError",
    "DuplicateNameError",
    "ExitCode",
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
    "Registry",
    "RunReader",
    "RunState",
    "ScrubReport",
    "detect_format",
    "json_clean",
    "load_policy",
    "parse_policy",
    "seed_everything",
    "write_text_atomic",
]

"""Data quality: `guard profile`, a corpus profile read once in bounded memory (missing
values, duplicates, lengths, languages, control characters, label and group balance, PII
density), with named flags and the numbers the release gate judges."""

from guard.quality._text import Oddity
from guard.quality.profile import (
    KIND,
    RELEASE_EVIDENCE,
    SCHEMA_VERSION,
    Check,
    CorpusProfile,
    Flag,
    ProfileLimits,
    ProfileOptions,
    profile_corpus,
    release_evidence,
)

__all__ = [
    "KIND",
    "RELEASE_EVIDENCE",
    "SCHEMA_VERSION",
    "Check",
    "CorpusProfile",
    "Flag",
    "Oddity",
    "ProfileLimits",
    "ProfileOptions",
    "profile_corpus",
    "release_evidence",
]

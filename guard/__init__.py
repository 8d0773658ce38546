"""guard: de-identify, train privately, audit and report on language models.

The Python API (README "Python API"): `guard.scrub`, `guard.scan`, `guard.scrub_file`,
`guard.scan_file`, `guard.dedup`, `guard.restore`, `guard.federate`,
`guard.audit.privacy|fairness|explain`, `guard.report`, `guard.check`, `guard.demo`. Each
function imports what it needs when called, so `import guard` loads no Presidio, torch or
Flower.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("guard")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# guard.api and guard.audit import their heavy libraries inside each function, so these
# imports stay light (tests/api checks that `import guard` loads no torch or Presidio)
from guard import audit  # noqa: E402
from guard.api import (  # noqa: E402
    ReportResult,
    ScrubResult,
    check,
    dedup,
    demo,
    federate,
    load_federate_config,
    report,
    restore,
    scan,
    scan_file,
    scrub,
    scrub_file,
)

__all__ = [
    "ReportResult",
    "ScrubResult",
    "__version__",
    "audit",
    "check",
    "dedup",
    "demo",
    "federate",
    "load_federate_config",
    "report",
    "restore",
    "scan",
    "scan_file",
    "scrub",
    "scrub_file",
]

"""guard: de-identify, train privately, audit and report on language models.

The Python API (README "Python API"): `guard.scrub`, `guard.scan`, `guard.scrub_file`,
`guard.scan_file`, `guard.dedup`, `guard.restore`, `guard.federate`,
`guard.audit.privacy|fairness|explain`, `guard.report`, `guard.check`, `guard.demo`. Every name is
imported on first use (PEP 562), so `import guard` loads no Presidio, torch or Flower.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from guard.core.lazy import lazy_exports

try:
    __version__ = version("guard")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# public name -> the module that defines it (guard.audit: that submodule), imported on first use
_LAZY = {
    "ScrubResult": "guard.api",
    "scrub": "guard.api",
    "scan": "guard.api",
    "scrub_file": "guard.api",
    "scan_file": "guard.api",
    "dedup": "guard.api",
    "restore": "guard.api",
    "federate": "guard.api",
    "load_federate_config": "guard.api",
    "audit": "guard.audit",
    "report": "guard.api",
    "check": "guard.api",
    "demo": "guard.api",
    "ReportResult": "guard.api",
}

if TYPE_CHECKING:  # pragma: no cover
    from guard import audit
    from guard.api import (
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

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

"""guard.release sits between the audits and the CLI without their weight: importing it
(or the audits' findings schema, or the `audits` package) loads no torch, matplotlib,
jinja2 or Presidio; those load when a report is drawn or an audit runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "matplotlib", "jinja2", "presidio_analyzer", "opacus", "flwr")


def test_importing_guard_release_and_the_findings_schema_loads_nothing_heavy():
    code = (
        "import sys, guard.release, audits, audits.findings, guard.release.render, guard.release.evidence; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_audits_package_resolves_its_names_on_first_use():
    import audits

    assert set(audits.__all__) <= set(dir(audits))
    assert audits.AuditReport.__module__ == "audits.findings"

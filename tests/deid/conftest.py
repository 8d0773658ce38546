"""Shared, expensive set-up of the deid tests: one local `guard scrub` of the 504 example notes
in its own process, the reference that the determinism test (another process, another hash
seed) and the Ray engine test (actors in other processes) both compare their bytes against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
SCRUB_KEY = "ab" * 32  # a test key, not a secret
REFERENCE_HASH_SEED = "0"


@dataclass(frozen=True)
class LocalScrub:
    """What one local `guard scrub NOTES --workers 1` wrote: the output bytes and the report."""

    output: bytes
    report: dict


def scrub_notes_in_a_process(out: Path, *, hash_seed: str, report: Path | None = None) -> subprocess.CompletedProcess:
    """`guard scrub NOTES OUT --workers 1` in a fresh interpreter with PYTHONHASHSEED=`hash_seed`."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "GUARD_KEY": SCRUB_KEY, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    env.pop("RAY_ADDRESS", None)
    args = [sys.executable, "-m", "guard", "scrub", str(NOTES), str(out), "--workers", "1"]
    if report is not None:
        args += ["--report", str(report)]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def local_notes_scrub(tmp_path_factory: pytest.TempPathFactory) -> LocalScrub:
    """The local engine's scrub of the 504 example notes (one process, hash seed 0), made once."""
    folder = tmp_path_factory.mktemp("local-scrub")
    out, report = folder / "notes.clean.jsonl", folder / "scrub.json"
    done = scrub_notes_in_a_process(out, hash_seed=REFERENCE_HASH_SEED, report=report)
    assert done.returncode == 0, done.stderr[-3000:]
    return LocalScrub(out.read_bytes(), json.loads(report.read_text(encoding="utf-8")))

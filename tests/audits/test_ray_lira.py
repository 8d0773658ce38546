"""`guard audit privacy --engine ray`: LiRA's reference models trained as Ray tasks give the
same findings as the local loop for the same seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guard.core.errors import ExitCode
from tests.audits.runs import invoke

ROOT = Path(__file__).resolve().parents[2]


def _guard(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    """`guard ARGS`; a fresh local Ray instance (`--engine ray` without --address) lives in a
    short folder of its own under /tmp (`guard.deid.ray_engine` picks one when `tmp` is long)."""
    env = dict(os.environ, RAY_TMPDIR=str(tmp), TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def run_dir(small_run: Path) -> Path:
    """The audit tests' session run directory (tests/audits/runs.py: 80 records, 2 clients, a
    run directory written by guard's own writers without training): LiRA trains its reference
    models on the run's own data, which is all this test needs, and a `guard federate` of its
    own (Flower's simulation on Ray) cost about a minute under load."""
    return small_run


def _reference_findings(path: Path) -> list[tuple[str, str, float]]:
    findings = json.loads(path.read_text(encoding="utf-8"))["findings"]
    return sorted(
        (f["check"], f["metric"], f["value"]) for f in findings if f["check"].startswith("membership_reference")
    )


@pytest.mark.slow
def test_ray_reference_models_give_the_local_findings_for_the_same_seed(run_dir, tmp_path) -> None:
    common = ["--check", "reference", "--references", "2", "--seed", "3", "--threads", "1", "--device", "cpu"]
    local, ray = tmp_path / "local.json", tmp_path / "ray.json"
    r = _guard("audit", "privacy", str(run_dir), *common, "--out", str(local), tmp=tmp_path)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    r = _guard("audit", "privacy", str(run_dir), *common, "--engine", "ray", "--out", str(ray), tmp=tmp_path)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    assert "(Ray task)" in r.stderr
    found = _reference_findings(ray)
    assert found, "no membership_reference finding"
    assert found == _reference_findings(local)


def test_an_unknown_engine_is_refused(run_dir, tmp_path) -> None:
    """Through the CLI in this process (typer's runner): a fresh interpreter only to read an
    error took minutes under load."""
    r = invoke("audit", "privacy", str(run_dir), "--engine", "spark", "--out", str(tmp_path / "x.json"))
    assert r.exit_code != ExitCode.OK
    assert "unknown engine 'spark'" in r.output
    assert not (tmp_path / "x.json").exists()

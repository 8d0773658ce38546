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

ROOT = Path(__file__).resolve().parents[2]
REDDIT = ROOT / "examples" / "redditbias_topics.jsonl"


def _guard(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    """`guard ARGS`; a fresh local Ray instance (`--engine ray` without --address) lives in a
    short folder of its own under /tmp (`guard.deid.ray_engine` picks one when `tmp` is long)."""
    env = dict(os.environ, RAY_TMPDIR=str(tmp), TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny guard federate run: 200 records, 2 clients, one round."""
    folder = tmp_path_factory.mktemp("run")
    config = folder / "federate.toml"
    config.write_text(
        f"""
[data]
path = "{REDDIT}"
label_field = "label"
partition = "iid"
num_clients = 2
holdout = 0.5
max_length = 32
max_records = 200

[model]
name = "tiny-classifier"
params = {{ dim = 16, dropout = 0.0 }}

[train]
rounds = 1
local_epochs = 2
batch_size = 32
lr = 0.003

[dp]
enabled = false
""",
        encoding="utf-8",
    )
    run = folder / "run"
    r = _guard("federate", "--config", str(config), "--out", str(run), tmp=folder)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    return run


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
    r = _guard("audit", "privacy", str(run_dir), "--engine", "spark", "--out", str(tmp_path / "x.json"), tmp=tmp_path)
    assert r.returncode != ExitCode.OK
    assert "unknown engine 'spark'" in r.stderr + r.stdout

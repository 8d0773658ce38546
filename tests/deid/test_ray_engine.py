"""`guard scrub|scan|dedup --engine ray --address ADDR` on a real two-node Ray cluster on
127.0.0.1 (two one-CPU nodes, started once for the module): the same bytes as the local
engine, errors that name file and line, and an earlier output that survives a killed run.

The local reference for scrub and scan is the local engine on the 504 example notes (for
scrub the session's one local run, tests/deid/conftest.py): the Ray input is those notes
repeated, and every record is scrubbed on its own (operators depend on the value, the key
and the record's fields, never on its position), so the local output of the repeated
corpus is the local output repeated, and the output of any slice of the notes is that
slice of the local output."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from guard.core.errors import ExitCode
from tests.deid.conftest import NOTES, ROOT, SCRUB_KEY, LocalScrub

COPIES = 10  # 5,040 records (issue 16: at least 5,000), 10 pieces of 512 lines over the two actors
SCAN_COPIES = COPIES  # scan too on at least 5,000 records (issue 16); the counts scale as for scrub
KEY = SCRUB_KEY  # the reference scrub's key

pytestmark = [
    pytest.mark.slow,
    # ray.cluster_utils leaves /dev/null handles of the processes it starts to the garbage collector
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]


# Ray's folder for this module: short (Ray's socket paths must stay under 107 bytes) and
# private, so the address file the test cluster writes is never seen by a bare ray.init()
# elsewhere (Flower's simulation calls one).
RAY_TMP = tempfile.mkdtemp(prefix="rg-", dir="/tmp")


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, GUARD_KEY=KEY, RAY_TMPDIR=RAY_TMP, TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    env.pop("RAY_ADDRESS", None)
    return env


def _guard(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, env=_env(tmp), capture_output=True, text=True, timeout=1200
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node and one worker node, one CPU each, on this host; shut down after the module."""
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.pop(k, None) for k in ("RAY_ADDRESS", "RAY_TMPDIR")}
    os.environ["RAY_TMPDIR"] = RAY_TMP
    try:
        # both nodes on this host, at its own address: Ray rewrites a driver's 127.0.0.1 to that
        # address (services.resolve_ip_for_localhost), so a GCS bound to loopback only is unreachable
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
        yield c
        c.shutdown()
        # collect the /dev/null handles of the cluster's processes now, in the last test's teardown
        # where this module's filter ignores them; left to the session's end they failed the run
        # (pytest's unraisable-exception check at unconfigure, with -W error)
        gc.collect()
    finally:
        os.environ.pop("RAY_TMPDIR", None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})
        shutil.rmtree(RAY_TMP, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    path = folder / "notes.jsonl"
    path.write_bytes(NOTES.read_bytes() * COPIES)
    return path


def _reference_lines(reference: LocalScrub, start: int, stop: int) -> bytes:
    """The local engine's output for notes[start:stop] (each record is scrubbed on its own)."""
    return b"".join(reference.output.splitlines(keepends=True)[start:stop])


def _times(counts: dict, n: int) -> dict:
    return {k: _times(v, n) if isinstance(v, dict) else v * n for k, v in counts.items()}


def test_ray_scrub_on_two_nodes_writes_the_local_engines_bytes(cluster, corpus, local_notes_scrub, tmp_path) -> None:
    out, report = tmp_path / "notes.clean.jsonl", tmp_path / "scrub.json"
    r = _guard(
        "scrub", str(corpus), str(out), "--report", str(report), "--engine", "ray", "--address", cluster.address,
        tmp=tmp_path,
    )  # fmt: skip
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    expected, local = local_notes_scrub.output, local_notes_scrub.report
    assert out.read_bytes() == expected * COPIES
    got = json.loads(report.read_text(encoding="utf-8"))
    assert got["workers"] == 2  # one actor per node
    for key in ("records_read", "records_changed", "records_failed"):
        assert got[key] == local[key] * COPIES
    assert got["entities"] == _times(local["entities"], COPIES)
    assert got["entities_by_field"] == _times(local["entities_by_field"], COPIES)
    assert (got["operators"], got["thresholds"], got["config_hash"]) == (
        local["operators"], local["thresholds"], local["config_hash"]
    )  # fmt: skip


def test_ray_scan_counts_what_the_local_engine_finds(cluster, local_notes_scrub, tmp_path) -> None:
    """A scan is a scrub that applies no operator: the same detections, counted the same way.
    So the local reference is the session's local scrub report (a local scan of the notes
    counts what it counts), with no scan process of its own."""
    ray = tmp_path / "ray.json"
    corpus = tmp_path / "notes.jsonl"
    corpus.write_bytes(NOTES.read_bytes() * SCAN_COPIES)
    r = _guard("scan", str(corpus), "--report", str(ray), "--engine", "ray", "--address", cluster.address, tmp=tmp_path)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    want, got = local_notes_scrub.report, json.loads(ray.read_text(encoding="utf-8"))
    assert got["command"] == "scan" and got["records_changed"] == 0
    assert got["workers"] == 2  # both actors scanned
    assert got["records_read"] == want["records_read"] * SCAN_COPIES
    assert got["entities"] == _times(want["entities"], SCAN_COPIES)
    assert got["entities_by_field"] == _times(want["entities_by_field"], SCAN_COPIES)


def test_ray_dedup_keeps_the_local_dedups_records(cluster, corpus, tmp_path) -> None:
    outs = {}
    for engine in ("local", "ray"):
        out, report = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}.json"
        extra = ["--engine", "ray", "--address", cluster.address] if engine == "ray" else []
        r = _guard("dedup", str(corpus), str(out), "--report", str(report), *extra, tmp=tmp_path)
        assert r.returncode == ExitCode.OK, r.stderr[-3000:]
        outs[engine] = (out.read_bytes(), json.loads(report.read_text(encoding="utf-8")))
    assert outs["ray"][0] == outs["local"][0]
    assert outs["ray"][1]["dropped"] == outs["local"][1]["dropped"]
    kept = [json.loads(line)["id"] for line in outs["ray"][0].decode("utf-8").splitlines()]
    assert len(kept) == outs["local"][1]["records_kept"] < 504  # every copy after the first is dropped


def test_a_malformed_record_is_reported_with_file_and_line(cluster, local_notes_scrub, tmp_path) -> None:
    lines = NOTES.read_text(encoding="utf-8").splitlines()
    lines = lines + lines[:96]  # 600 lines: line 457 in the first of two pieces
    lines[456] = '{"id": 1, "text": "unterminated'
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = _guard("scrub", str(bad), str(out), "--engine", "ray", "--address", cluster.address, tmp=tmp_path)
    assert r.returncode == ExitCode.INPUT, r.stderr[-3000:]
    assert f"{bad}:457" in " ".join((r.stderr + r.stdout).split())
    assert not out.exists()
    skipped = _guard(
        "scrub", str(bad), str(out), "--on-error", "skip", "--engine", "ray", "--address", cluster.address,
        tmp=tmp_path,
    )  # fmt: skip
    assert skipped.returncode == ExitCode.OK, skipped.stderr[-3000:]
    quarantined = [json.loads(x) for x in (tmp_path / "out.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [457]
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(lines) - 1
    ref = local_notes_scrub
    kept = _reference_lines(ref, 0, 456) + _reference_lines(ref, 457, 504) + _reference_lines(ref, 0, 96)
    assert out.read_bytes() == kept  # every other record as the local engine writes it, in order


def test_a_killed_ray_run_leaves_the_earlier_output_intact(cluster, corpus, local_notes_scrub, tmp_path) -> None:
    """SIGKILL once the run has written part of its output (the first piece in its temporary
    file, nine more to come): the earlier output is untouched."""
    out = tmp_path / "notes.clean.jsonl"
    out.write_text('{"earlier": "output"}\n', encoding="utf-8")
    before = out.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "guard", "scrub", str(corpus), str(out), "--engine", "ray", "--address", cluster.address],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 900  # a hang guard only (a loaded machine is slow, never wrong)
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(f".{out.name}.guard-tmp-*")):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no output written in 900 s"
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_bytes() == before
    # the cluster is still usable, and the next run writes the whole output
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(NOTES.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    r = _guard("scrub", str(small), str(out), "--engine", "ray", "--address", cluster.address, tmp=tmp_path)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    assert out.read_bytes() == _reference_lines(local_notes_scrub, 0, 40)


def test_a_folder_of_shards_gives_a_folder_of_shards_and_a_manifest(cluster, local_notes_scrub, tmp_path) -> None:
    lines = NOTES.read_text(encoding="utf-8").splitlines(keepends=True)
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text("".join(lines[:30]), encoding="utf-8")
    (shards / "b.jsonl").write_text("".join(lines[30:50]), encoding="utf-8")
    out = tmp_path / "clean"
    r = _guard("scrub", str(shards), str(out), "--engine", "ray", "--address", cluster.address, tmp=tmp_path)
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [(s["shard"], s["records"]) for s in manifest["shards"]] == [("a.jsonl", 30), ("b.jsonl", 20)]
    assert (out / "a.jsonl").read_bytes() == _reference_lines(local_notes_scrub, 0, 30)
    assert (out / "b.jsonl").read_bytes() == _reference_lines(local_notes_scrub, 30, 50)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".clean")) == []  # no staging left

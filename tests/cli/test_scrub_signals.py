"""SIGTERM and SIGINT stop `guard scrub` cleanly; SIGKILL of the parent takes its
worker processes with it (issue 11, item 6).

The fast tests run the real `guard` entry point in a subprocess with a slow stub
detector (fork, two workers, as in production); the slow one runs the real
detector."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from guard.core.io import TEMP_MARK
from tests.conftest import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
EARLIER = '{"id": "old", "text": "the earlier good output"}\n'
ROWS = [{"id": f"r{i}", "text": f"Alice {i} wrote to bob{i}@example.org."} for i in range(20_000)]

# `guard` with a detector that takes 50 ms a batch: a run that lasts long enough to be stopped.
SLOW_GUARD = """
import sys, time
import guard.deid.scrubber as scrubber
from tests.cli.conftest import StubDetector

class Slow(StubDetector):
    def detect_batch(self, texts, **kwargs):
        time.sleep(0.05)
        return super().detect_batch(texts)

scrubber.Detector = Slow
from guard.cli import main
sys.argv = ["guard", *sys.argv[1:]]
main()
"""


def _start(args: list[str], *, real: bool = False) -> subprocess.Popen:
    command = [str(ROOT / ".venv/bin/guard")] if real else [sys.executable, "-c", SLOW_GUARD]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [*command, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job has
    )


def _running_workers(proc: subprocess.Popen, folder: Path, *, timeout: float = 60) -> list[psutil.Process]:
    """Wait until the scrub has its workers and its temporary file; return the workers."""
    deadline = time.monotonic() + timeout
    parent = psutil.Process(proc.pid)
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        workers = parent.children(recursive=True)
        if len(workers) >= 2 and _temps(folder):
            time.sleep(0.3)  # let them take work
            return workers
        time.sleep(0.05)
    raise AssertionError("the scrub never started its workers")


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


def _gone(workers: list[psutil.Process], timeout: float = 10) -> bool:
    _, alive = psutil.wait_procs(workers, timeout=timeout)
    return not alive


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", ROWS)


@pytest.mark.parametrize(
    ("signum", "earlier", "code", "said"),
    [
        (signal.SIGTERM, True, ExitCode.SIGTERM, "terminated by SIGTERM; temporary files removed; earlier output kept"),
        (signal.SIGINT, False, ExitCode.SIGINT, "interrupted by SIGINT; temporary files removed; nothing written"),
    ],
    ids=["sigterm_with_earlier_output", "sigint_with_nothing_before"],
)
def test_a_signal_stops_workers_removes_temps_and_says_what_was_kept(tmp_path, corpus, signum, earlier, code, said):
    out = tmp_path / "out.jsonl"
    if earlier:
        out.write_text(EARLIER, encoding="utf-8")
    proc = _start(["scrub", str(corpus), str(out), "--workers", "2", "--no-progress"])
    workers = _running_workers(proc, tmp_path)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C in a terminal reaches the whole group, workers too
    else:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], stderr
    assert _gone(workers)
    assert _temps(tmp_path) == []
    if earlier:
        assert out.read_text(encoding="utf-8") == EARLIER
    else:
        assert not out.exists()


def test_sigkill_of_the_parent_takes_the_workers_and_the_next_run_removes_the_stale_temp(
    tmp_path, corpus, stub_detector
):
    out = tmp_path / "out.jsonl"
    out.write_text(EARLIER, encoding="utf-8")
    proc = _start(["scrub", str(corpus), str(out), "--workers", "2", "--no-progress"])
    workers = _running_workers(proc, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone(workers), "worker processes outlived their parent"
    assert out.read_text(encoding="utf-8") == EARLIER
    (stale,) = _temps(tmp_path)
    assert stale.startswith(f".out.jsonl{TEMP_MARK}{proc.pid}-")
    small = write_jsonl(tmp_path / "small.jsonl", ROWS[:3])
    result = CliRunner().invoke(app, ["scrub", str(small), str(out), "--workers", "1", "--no-progress"])
    assert result.exit_code == ExitCode.OK, result.output
    assert _temps(tmp_path) == [] and [r["id"] for r in read_jsonl(out)] == ["r0", "r1", "r2"]


def test_a_stop_inside_the_pipeline_exits_128_plus_signal_in_process(tmp_path, corpus, monkeypatch):
    """The same path without a subprocess: the Stop that the SIGTERM handler raises."""
    from guard.core.signals import Stop
    from tests.cli.conftest import StubDetector

    class Stops(StubDetector):
        def detect_batch(self, texts, **kwargs):
            raise Stop(signal.SIGTERM)

    monkeypatch.setattr("guard.deid.scrubber.Detector", Stops)
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    out.write_text(EARLIER, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["scrub", str(corpus), str(out), "--report", str(report), "--workers", "1", "--no-progress"]
    )
    assert result.exit_code == ExitCode.SIGTERM
    assert f"earlier output kept: {out}" in result.stderr and "nothing written" not in result.stderr
    assert out.read_text(encoding="utf-8") == EARLIER and not report.exists() and _temps(tmp_path) == []


def test_workers_are_not_left_behind_when_a_record_fails(tmp_path, stub_detector):
    rows = [*ROWS[:200], {"id": "bad", "text": 7}, *ROWS[200:400]]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    before = set(psutil.Process().children(recursive=True))
    result = CliRunner().invoke(app, ["scrub", str(src), str(tmp_path / "o.jsonl"), "--workers", "2", "--no-progress"])
    assert result.exit_code == ExitCode.INPUT and "in.jsonl:201" in result.stderr
    assert set(psutil.Process().children(recursive=True)) - before == set()


@pytest.mark.slow
def test_sigkill_of_a_real_guard_scrub_leaves_no_orphan_workers(tmp_path):
    text = "Patient John Smith called 555-123-4567 about the visit on 2021-03-04 at St. Mary's."
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": text} for i in range(20_000)])
    proc = _start(["scrub", str(src), str(tmp_path / "out.jsonl"), "--workers", "2", "--no-progress"], real=True)
    workers = _running_workers(proc, tmp_path, timeout=120)
    assert all(w.memory_info().rss > 50e6 for w in workers)  # real spaCy workers
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone(workers), "worker processes outlived their parent"
    assert not (tmp_path / "out.jsonl").exists()

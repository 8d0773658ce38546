"""A `guard federate` stopped by a signal stops Ray with it and keeps its finished rounds.

SIGTERM/SIGINT: exit 128 + signal, one line saying what was kept, no process of the
run's Ray session left, the run resumable. SIGKILL: no process of the run's Ray
session survives it (the watchdog), and the run is still resumable. Each run starts
`guard federate` as a user does (its own process), over a small corpus of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from federated.privacy import epsilon_of
from federated.rundir import RunDir
from federated.server import prepare_run
from federated.stopping import SESSION_ENV, start_watchdog
from guard.core.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
RUN_TIMEOUT_S = 300


def _corpus(tmp_path: Path, n: int = 120) -> Path:
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(NOTES.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return path


def _config(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "federate.toml"
    path.write_text(
        f"""[data]
path = "{corpus}"
partition = "field"
partition_field = "site"
max_length = 32
[model]
name = "tiny-classifier"
params = {{ dim = 16, layers = 1 }}
[train]
rounds = 2
batch_size = 8
[dp]
noise_multiplier = 1.0
accountant = "rdp"
""",
        encoding="utf-8",
    )
    return path


def _guard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def _start_and_wait_for_round_1(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    corpus = _corpus(tmp_path)
    run = (tmp_path / "run").resolve()
    proc = subprocess.Popen(
        [sys.executable, "-m", "guard", "federate", "--config", str(_config(tmp_path, corpus)), "--out", str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as a service manager starts it: the signal goes to guard alone
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (run / "checkpoints" / "round-001.safetensors").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run ended or hung before round 1: {proc.communicate()[1][-3000:]}")
        time.sleep(0.1)
    return proc, run, corpus


def _processes_of(run: Path) -> list[str]:
    """Live processes started for this run: Ray's raylet, GCS, agents and workers inherit
    guard's GUARD_RUN_DIR (and the session marker)."""
    out = []
    for p in psutil.process_iter(["pid", "name", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if p.environ().get("GUARD_RUN_DIR") == str(run):
                out.append(f"{p.info['pid']} {p.info['name']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def _wait_until_gone(run: Path, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _processes_of(run)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _ledger_rounds(run: Path) -> dict[str, list[int]]:
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    return {c["client_id"]: [h["round"] for h in c["history"]] for c in ledger["clients"]}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_ray_keeps_finished_rounds_and_exits_128_plus_signal(tmp_path, signum):
    proc, run, corpus = _start_and_wait_for_round_1(tmp_path)
    assert _processes_of(run), "the test cannot see the run's Ray processes"
    os.kill(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("guard federate did not stop within 90 s of the signal")

    assert proc.returncode == ExitCode(128 + signum), err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    name = signal.Signals(signum).name
    assert f"interrupted by {name}" in lines[0] and "kept round 1 of 2" in lines[0]
    assert f"guard federate --resume {run}" in lines[0]
    assert _wait_until_gone(run, 5) == []

    # what was kept is intact: state, checkpoint, ledger, metrics of round 1
    state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    assert state["last_round"] == 1 and not state["finished"]
    assert RunDir(run).load_checkpoint(1)
    assert all(rounds[0] == 1 for rounds in _ledger_rounds(run).values())  # round 2 may be counted, never lost
    assert [r["round"] for r in RunDir(run).read_jsonl(run / "metrics.jsonl") if r["phase"] == "aggregate"] == [1]
    if signum != signal.SIGTERM:
        return

    # and it resumes: here on a changed corpus, refused until --allow-data-change
    rows = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
    corpus.write_text("".join(rows + [r for r in rows if '"site": "lakeside"' in r][:6]), encoding="utf-8")
    refused = _guard("federate", "--resume", str(run))
    assert refused.returncode == ExitCode.RUN and "client lakeside:" in refused.stderr
    resumed = _guard("federate", "--resume", str(run), "--allow-data-change", "--json")
    assert resumed.returncode == ExitCode.OK, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["rounds_done"] == 2
    assert _wait_until_gone(run, 5) == []
    ledger = json.loads((run / "ledger.json").read_text(encoding="utf-8"))
    assert [s["from_round"] for s in ledger["segments"]] == [1, 2]
    for c in ledger["clients"]:
        assert c["history"][0]["round"] == 1 and c["history"][-1]["round"] == 2
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
    lakeside = next(c for c in ledger["clients"] if c["client_id"] == "lakeside")
    counts = [next(p["train"] for p in s["clients"] if p["client_id"] == "lakeside") for s in ledger["segments"]]
    assert counts[1] > counts[0] and lakeside["records"] == counts[1]
    assert lakeside["history"][0]["sample_rate"] > lakeside["history"][-1]["sample_rate"]  # more records


@pytest.mark.slow
def test_after_sigkill_no_ray_process_of_the_run_survives_and_the_run_resumes(tmp_path):
    proc, run, _ = _start_and_wait_for_round_1(tmp_path)
    assert _processes_of(run)
    os.kill(proc.pid, signal.SIGKILL)  # guard alone: it gets no chance to clean up
    proc.communicate(timeout=30)
    assert _wait_until_gone(run, 20) == []
    state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    assert state["last_round"] >= 1 and not state["finished"]
    config = prepare_run(None, RunDir(run), resume=True)  # every resume check passes
    assert config.train.rounds == 2


def test_the_watchdog_kills_the_session_when_its_parent_dies_even_processes_ignoring_sigterm(tmp_path):
    """What covers a SIGKILLed guard: the parent starts the watchdog and a session process
    that ignores SIGTERM (as some Ray agents do), then dies."""
    temp_dir = tmp_path / "ray-temp"
    temp_dir.mkdir()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "from federated.stopping import SESSION_ENV, start_watchdog\n"
            f"start_watchdog('t0k3n', {str(temp_dir)!r})\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)'],"
            " env={**os.environ, SESSION_ENV: 't0k3n'}, stdout=subprocess.PIPE)\n"
            "child.stdout.readline()\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    assert child.environ()[SESSION_ENV] == "t0k3n"
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(child):
        child.kill()
        pytest.fail("the watchdog left the session's process alive")
    deadline = time.monotonic() + 5
    while temp_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not temp_dir.exists()


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE  # an orphan's zombie waits for init to reap it
    except psutil.NoSuchProcess:
        return False


def test_the_watchdog_leaves_other_processes_alone(tmp_path):
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], env={**os.environ, SESSION_ENV: "other"}
    )
    try:
        watchdog = start_watchdog("t0k3n", str(tmp_path / "ray-temp"))
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        assert watchdog.wait(timeout=15) == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_after_an_interrupt_a_thread_that_never_returns_does_not_hold_the_exit():
    """What `guard federate` relies on after SIGINT/SIGTERM: a Flower or Ray thread stuck in a
    `ray.get` would keep the interpreter waiting at exit; the process ends with the code anyway."""
    code = (
        "import threading, time, sys\n"
        "from federated.stopping import exit_anyway\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
        "exit_anyway(143, after=1.0)\n"
        "sys.exit(143)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert result.returncode == ExitCode.SIGTERM and time.monotonic() - started < 30

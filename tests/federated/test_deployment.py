"""guard's ServerApp and ClientApp on Flower's Deployment Engine, started as a user would:
a real `flower-superlink`, two `flower-supernode`s and `flwr run <repo> <connection>` on
loopback (127.0.0.1 only), each in its own process group, all stopped at the end.

What the Deployment Engine needs (Flower 1.42), found by running this:
- the virtualenv's `bin` on PATH: SuperLink and SuperNodes start `flower-superexec`,
  `flwr-serverapp` and `flwr-clientapp` by name;
- FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1 (else the FAB's dependencies are
  installed with `uv sync`, CUDA torch included);
- the app directory's name must be a valid Flower app name (letters, digits, hyphens);
- SuperLink's Fleet, Control and Runtime APIs share one HTTP port (`--port`);
- the FAB is the repo root's *.py/*.toml/*.md/*.json/*.jsonl files (about 2.7 MB of the
  10 MB limit); the apps import `federated` from the FAB unpacked in each node's
  FLWR_HOME/apps, not from the editable install;
- every message starts a fresh `flwr-clientapp` process (imports torch again);
- `flwr run ... --stream` exits by itself when the run ends, with 0 even when the
  ServerApp raised (so check the run directory, not only the exit code).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil
import pytest

from guard.core.errors import ExitCode

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin: flwr, flower-superlink, flower-superexec, ...
HOST = "127.0.0.1"
CONNECTION = "guardtest"
MARKER = "GUARD_DEPLOYMENT_TEST"  # set in every process this test starts, inherited by their children
RUN_TIMEOUT_S = 240.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "(no log)"
    return f"--- {path.name} ---\n{text[-chars:]}"


@dataclass
class Deployment:
    """The processes of one local deployment and how to stop every one of them."""

    tmp: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def env(self, flwr_home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"GUARD_RUN_DIR", "GUARD_FEDERATE_FAULT"}}
        flwr_home.mkdir(parents=True, exist_ok=True)
        (self.tmp / "ray").mkdir(exist_ok=True)
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "FLWR_HOME": str(flwr_home),
                "RAY_TMPDIR": str(self.tmp / "ray"),
                "FLWR_DISABLE_UPDATE_CHECK": "1",
                "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                MARKER: self.token,
            }
        )
        return env

    def start(self, name: str, args: list[str], *, flwr_home: Path) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        out = log.open("wb")
        self._files.append(out)
        proc = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=self.tmp,
            env=self.env(flwr_home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it and its children stop together
        )
        self.procs[name] = proc
        self.logs[name] = log
        return proc

    def logs_tail(self) -> str:
        return "\n".join(_tail(p) for p in self.logs.values())

    def alive_or_fail(self, name: str) -> None:
        rc = self.procs[name].poll()
        if rc is not None:
            pytest.fail(f"{name} exited with {rc} before it was ready\n{self.logs_tail()}")

    def family(self) -> list[psutil.Process]:
        """Live processes started by this test, however they detached (Flower starts
        its SuperExec in a new session): found by the marker in their environment."""
        found = []
        for p in psutil.process_iter():
            try:
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                if p.environ().get(MARKER) == self.token:
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def stop(self) -> list[str]:
        """SIGTERM each process group (newest first), SIGKILL what is left after a timeout;
        return what still runs afterwards (should be nothing)."""
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        rest = self.family()
        for p in rest:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, rest = psutil.wait_procs(rest, timeout=5)
        for p in rest:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(rest, timeout=5)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
        for f in self._files:
            f.close()
        return [f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in self.family() if p.is_running()]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    dep = Deployment(tmp_path)
    try:
        yield dep
    finally:
        left = dep.stop()
        assert not left, f"processes still running after teardown: {left}"


def _wait_for(what: str, ready: object, dep: Deployment, names: list[str], timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        for name in names:
            dep.alive_or_fail(name)
        time.sleep(0.25)
    pytest.fail(f"{what} not ready after {timeout:.0f} s\n{dep.logs_tail()}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _app_dir(tmp_path: Path) -> Path:
    """The repo root, or, when its directory name is not a valid Flower app name
    (e.g. a checkout called `guard_main`), a copy of it named `guard`."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", REPO.name):
        return REPO
    dst = tmp_path / "app" / "guard"
    junk = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "out")
    shutil.copytree(REPO, dst, ignore=junk)
    return dst


FEDERATE_TOML = """\
[data]
path = {data}
label_field = "label"
partition = "iid"
num_clients = 2
max_length = 64

[model]
name = "tiny-classifier"

[train]
rounds = 2
batch_size = 32
lr = 0.003

[dp]
target_epsilon = 8.0
"""


def test_flwr_run_on_superlink_and_two_supernodes_trains_two_dp_rounds(deployment: Deployment, tmp_path: Path) -> None:
    dep = deployment
    link_port, *node_ports = _free_ports(3)

    # SuperLink: Fleet, Control and Runtime HTTP APIs on one loopback port.
    dep.start(
        "superlink",
        [
            "flower-superlink",
            "--insecure",
            "--disable-runtime-dependency-installation",
            "--host",
            HOST,
            "--port",
            str(link_port),
            "--database",
            str(tmp_path / "superlink.db"),
        ],
        flwr_home=tmp_path / "superlink-home",
    )
    _wait_for("SuperLink", lambda: _port_open(link_port), dep, ["superlink"])

    # Two SuperNodes (two silos), each with its own FLWR_HOME as on separate machines.
    for i, port in enumerate(node_ports):
        dep.start(
            f"supernode-{i}",
            [
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"{HOST}:{link_port}",
                "--host",
                HOST,
                "--port",
                str(port),
                "--node-config",
                f"partition-id={i} num-partitions=2",
            ],
            flwr_home=tmp_path / f"supernode-{i}-home",
        )
    link_log = dep.logs["superlink"]
    _wait_for(
        "two SuperNodes",
        lambda: link_log.read_text(encoding="utf-8", errors="replace").count("Activated node_id") >= 2,
        dep,
        ["superlink", "supernode-0", "supernode-1"],
    )

    # The user's side: a SuperLink connection in FLWR_HOME/config.toml, a federate config, flwr run.
    cli_home = tmp_path / "flwr-home"
    cli_home.mkdir()
    (cli_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{HOST}:{link_port}"\ninsecure = true\n',
        encoding="utf-8",
    )
    config = tmp_path / "federate.toml"
    config.write_text(
        FEDERATE_TOML.format(data=json.dumps(str(REPO / "examples" / "clinical_notes.jsonl"))), encoding="utf-8"
    )
    run_dir = tmp_path / "run"
    run_config = f"run-dir={json.dumps(str(run_dir))} config={json.dumps(str(config))}"
    started = time.monotonic()
    flwr = dep.start(
        "flwr-run",
        ["flwr", "run", str(_app_dir(tmp_path)), CONNECTION, "--run-config", run_config, "--stream"],
        flwr_home=cli_home,
    )
    try:
        rc = flwr.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        m = re.search(
            r"Successfully started run (\d+)", dep.logs["flwr-run"].read_text(encoding="utf-8", errors="replace")
        )
        if m:  # ask the SuperLink to stop the run before the processes are killed
            subprocess.run(
                [str(BIN / "flwr"), "stop", m.group(1), CONNECTION],
                env=dep.env(cli_home),
                cwd=tmp_path,
                capture_output=True,
                timeout=30,
                check=False,
            )
        pytest.fail(f"flwr run did not finish in {RUN_TIMEOUT_S:.0f} s\n{dep.logs_tail()}")
    elapsed = time.monotonic() - started
    run_log = dep.logs["flwr-run"].read_text(encoding="utf-8", errors="replace")
    assert rc == ExitCode.OK, f"flwr run exited with {rc}\n{dep.logs_tail()}"
    assert "Successfully started run" in run_log
    # `flwr run --stream` exits 0 even when the ServerApp raised: its log and the run directory tell.
    assert "ServerApp raised an exception" not in run_log, dep.logs_tail()
    assert (run_dir / "state.json").is_file(), f"no run directory written\n{dep.logs_tail()}"

    state = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
    assert state["finished"] is True and state["last_round"] == 2 and state["rounds"] == 2, (state, dep.logs_tail())
    for rnd in (1, 2):
        assert (run_dir / "checkpoints" / f"round-{rnd:03d}.safetensors").is_file()
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert not (run_dir / "failures.jsonl").exists(), (run_dir / "failures.jsonl").read_text(encoding="utf-8")

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    for rnd in (1, 2):
        train = [r for r in rows if r["round"] == rnd and r["phase"] == "train"]
        assert sorted(r["client"] for r in train) == ["client-000", "client-001"], train
        assert all("stopped" not in r and 0 < r["epsilon"] <= 8.0 for r in train), train
        aggregate = [r for r in rows if r["round"] == rnd and r["phase"] == "aggregate"]
        assert len(aggregate) == 1 and aggregate[0]["clients_trained"] == 2, aggregate

    ledger = json.loads((run_dir / "ledger.json").read_text(encoding="utf-8"))
    clients = {c["client_id"]: c for c in ledger["clients"]}
    assert sorted(clients) == ["client-000", "client-001"]
    for c in clients.values():
        assert 0.0 < c["epsilon"] <= 8.0, c
        assert [h["round"] for h in c["history"]] == [1, 2], c
    assert 0.0 < ledger["max_epsilon"] <= 8.0

    # Each SuperNode ran the ClientApp from the FAB it was sent, not from this checkout.
    for i in range(2):
        installed = list((tmp_path / f"supernode-{i}-home" / "apps").glob("*/federated/client_app.py"))
        assert len(installed) == 1, installed
    print(f"flwr run: {elapsed:.1f} s for 2 SuperNodes x 2 rounds")

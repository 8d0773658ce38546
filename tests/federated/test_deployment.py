"""A real cross-silo deployment on 127.0.0.1, started as a user would: `guard federate certs`,
`guard federate serve` (a SuperLink with TLS and node authentication, the node keys registered,
`flwr run`) and one `guard federate node` per silo, each with its own data file in its own
directory; every process in its own group, all stopped at the end (issue 15, items 1 and 2).

What the Deployment Engine needs (Flower 1.42), found by running it (federated/deploy.py does it):
- the virtualenv's `bin` on PATH: SuperLink and SuperNodes start `flower-superexec`,
  `flwr-serverapp` and `flwr-clientapp` by name; FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
  (else the FAB's dependencies are installed with `uv sync`, CUDA torch included);
- a node whose key is not registered yet is refused at once (HTTP 412, exit 305): nodes start
  after `serve` has registered the keys ("waiting for N node(s)");
- the FAB is a generated pyproject.toml naming the entry points; the apps import `federated`
  from the guard installed on each machine;
- `flwr run ... --stream` exits 0 even when the ServerApp raised: serve checks RUN/state.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil
import pytest

from federated.privacy import epsilon_of
from guard.core.errors import ExitCode

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GUARD = [sys.executable, "-m", "guard"]
HOST = "127.0.0.1"
MARKER = "GUARD_DEPLOYMENT_TEST"  # ROLE:TOKEN in every process this test starts, inherited by their children
# hang guards only: 2 rounds took about 180 s last stop; at load 27 (2 cores shared by six sessions)
# the cold node made them 16 min, and serve needed over 90 s to reach "waiting for"
RUN_TIMEOUT_S = 1200.0
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
REFUSAL_MAX_WAIT_S = 20  # as at the last stop; the insecure node waits this long for a TLS reason
SILOS = {"site-a": "st-marys", "site-b": "lakeside"}  # client id -> the example corpus's site


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

    def env(self, role: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"GUARD_RUN_DIR", "GUARD_FEDERATE_FAULT"}}
        (self.tmp / "ray").mkdir(exist_ok=True)
        env.update(
            {
                "FLWR_HOME": str(self.tmp / f"flwr-{role}"),
                "RAY_TMPDIR": str(self.tmp / "ray"),
                "FLWR_DISABLE_UPDATE_CHECK": "1",
                "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                MARKER: f"{role}:{self.token}",
            }
        )
        return env

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        out = log.open("wb")
        self._files.append(out)
        proc = subprocess.Popen(
            args,
            cwd=self.tmp,
            env=self.env(name),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it and its children stop together
        )
        self.procs[name] = proc
        self.logs[name] = log
        return proc

    def text(self, name: str) -> str:
        return self.logs[name].read_text(encoding="utf-8", errors="replace")

    def logs_tail(self) -> str:
        return "\n".join(_tail(p) for p in self.logs.values())

    def family(self, role: str | None = None) -> list[psutil.Process]:
        """Live processes started by this test (for `role`: by that command), however they
        detached (Flower starts its SuperExec in a new session): found by the marker."""
        found = []
        for p in psutil.process_iter():
            try:
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                mark = p.environ().get(MARKER, "")
                if mark.endswith(f":{self.token}") and (role is None or mark == f"{role}:{self.token}"):
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def wait_for(self, name: str, text: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text(name):
                return
            if self.procs[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.procs[name].returncode}\n{self.logs_tail()}")
            time.sleep(0.5)
        pytest.fail(f"{name}: no {text!r} after {timeout:.0f} s\n{self.logs_tail()}")

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


def _silo_files(tmp: Path) -> dict[str, Path]:
    """Each silo's notes in its own directory (the example corpus split by site)."""
    rows = [json.loads(line) for line in (REPO / "examples" / "clinical_notes.jsonl").read_text("utf-8").splitlines()]
    out = {}
    for client_id, site in SILOS.items():
        path = tmp / f"silo-{client_id}" / "notes.jsonl"
        path.parent.mkdir()
        path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["site"] == site), encoding="utf-8")
        out[client_id] = path
    return out


def _config(tmp: Path, *, rounds: int) -> Path:
    text = (REPO / "examples" / "silo_federate.toml").read_text(encoding="utf-8")
    path = tmp / "federate.toml"
    path.write_text(text.replace("rounds = 2", f"rounds = {rounds}"), encoding="utf-8")
    return path


def _certs(dep: Deployment) -> Path:
    certs = dep.tmp / "certs"
    args = [*GUARD, "federate", "certs", str(certs), "--node", "site-a", "--node", "site-b"]
    done = subprocess.run(args, env=dep.env("certs"), capture_output=True, timeout=60, check=False)
    assert done.returncode == ExitCode.OK, done.stderr
    return certs


def _serve(dep: Deployment, config: Path, *extra: str) -> tuple[Path, int]:
    port = _free_port()
    run_dir = dep.tmp / "run"
    dep.start("serve", [*GUARD, "federate", "serve", "--config", str(config), "--out", str(run_dir),
                        "--host", HOST, "--port", str(port), "--nodes-timeout", "300", *extra])  # fmt: skip
    dep.wait_for("serve", "waiting for")
    return run_dir, port


def _node(dep: Deployment, client_id: str, data: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    args = [*GUARD, "federate", "node", "--data", str(data), "--client-id", client_id]
    return dep.start(f"node-{client_id}", [*args, "--superlink", f"{HOST}:{port}", "--max-wait", "20", *extra])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ServerWatch:
    """Samples the server side's processes (serve, SuperLink, SuperExec, ServerApp) while the
    run goes: their command lines, working directories, environments and open files."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.seen: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            for p in self.dep.family("serve"):
                try:
                    self.seen.update(p.cmdline())
                    self.seen.add(p.cwd())
                    self.seen.update(p.environ().values())
                    self.seen.update(f.path for f in p.open_files())
                    self.samples += 1
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue


def _run_files(run_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def _secrets(state_dir: Path) -> list[str]:
    found = []
    for path in state_dir.rglob("canaries.json"):
        found += [c["secret"] for c in json.loads(path.read_text(encoding="utf-8"))["canaries"]]
    return found


@dataclass
class TlsServer:
    """One `guard federate serve` with TLS and node authentication (both silos' keys
    registered), waiting for its two nodes; shared by the refusal and the training test."""

    dep: Deployment
    data: dict[str, Path]
    certs: Path
    other: Path  # a second CA with its own site-a key: neither its CA nor its key is the server's
    run_dir: Path
    port: int


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """Started once for the module: the refusals run against it while it waits for its nodes,
    then the two real nodes join and train (a SuperLink, key registration and a second
    `certs` cost about 35 s under load, a refusal test of its own paid them again)."""
    tmp = tmp_path_factory.mktemp("tls")
    dep = Deployment(tmp)
    try:
        data = _silo_files(tmp)
        certs = _certs(dep)
        other = tmp / "other-ca"
        args = [*GUARD, "federate", "certs", str(other), "--node", "site-a"]
        done = subprocess.run(args, env=dep.env("certs2"), capture_output=True, timeout=60, check=False)
        assert done.returncode == ExitCode.OK, done.stderr
        run_dir, port = _serve(dep, _config(tmp, rounds=2), "--certs", str(certs))
        yield TlsServer(dep, data, certs, other, run_dir, port)
    finally:
        left = dep.stop()
        assert not left, f"processes still running after teardown: {left}"


def test_unregistered_key_wrong_ca_and_insecure_node_are_refused_in_bounded_time(tls_server: TlsServer) -> None:
    """Four bad nodes at once against the waiting TLS server: each exits 21 with its reason
    within --max-wait (plus start-up), none is activated, and the server goes on waiting.
    Runs before the training test, which then uses the same server."""
    srv, dep = tls_server, tls_server.dep
    assert dep.procs["serve"].poll() is None, "the shared server is gone: run this test before the training test"
    certs, other = srv.certs, srv.other
    cases = {  # case -> (the node's security flags, what its error says)
        "unregistered": (["--root-certificates", str(certs / "ca.pem"), "--auth-key", str(other / "site-a.key")],
                         "not registered"),
        "wrong-ca": (["--root-certificates", str(other / "ca.pem"), "--auth-key", str(certs / "site-a.key")], "TLS"),
        "insecure": (["--insecure"], "TLS"),
        "no-ca": ([], "CA certificate"),
    }  # fmt: skip
    started = time.monotonic()
    procs = {}
    for case, (extra, _) in cases.items():
        state = dep.tmp / f"refused-{case}"  # each bad node's own state dir: they run side by side
        args = [*GUARD, "federate", "node", "--data", str(srv.data["site-a"]), "--client-id", "site-a",
                "--state-dir", str(state), "--superlink", f"{HOST}:{srv.port}", "--max-wait", str(REFUSAL_MAX_WAIT_S),
                *extra]  # fmt: skip
        procs[case] = dep.start(case, args)
    took: dict[str, float] = {}
    while len(took) < len(procs) and time.monotonic() < started + 90:
        took |= {
            case: time.monotonic() - started for case, p in procs.items() if case not in took and p.poll() is not None
        }
        time.sleep(0.2)
    still = sorted(set(procs) - set(took))
    assert not still, f"{still}: still running 90 s after starting\n{dep.logs_tail()}"
    for case, (_, says) in cases.items():
        rc, out = procs[case].returncode, dep.text(case)
        assert rc == ExitCode.FEDERATION, f"{case}: exit {rc}\n{out}"
        assert says in out, f"{case}: {out[-2000:]}"
        print(f"{case}: refused in {took[case]:.1f} s (four nodes starting at once)")
    assert "Activated node_id" not in (srv.run_dir / "deploy" / "logs" / "superlink.log").read_text("utf-8")
    assert dep.procs["serve"].poll() is None  # the server still waits for its nodes


def test_two_silos_train_over_tls_with_node_authentication_and_the_server_never_sees_a_corpus(
    tls_server: TlsServer,
) -> None:
    """site-a runs the warm node (the default), site-b Flower's own per-message
    `flwr-clientapp` (`--cold`): both kinds of node train under TLS and node auth."""
    srv, dep = tls_server, tls_server.dep
    data, certs, run_dir, port = srv.data, srv.certs, srv.run_dir, srv.port
    assert dep.procs["serve"].poll() is None, f"the shared server is gone\n{dep.logs_tail()}"
    started = time.monotonic()
    with ServerWatch(dep) as watch:
        for client_id, path in data.items():
            cold = ["--cold"] if client_id == "site-b" else []
            _node(dep, client_id, path, port, "--certs", str(certs), "--key", client_id, *cold)
        try:
            rc = dep.procs["serve"].wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not finish in {RUN_TIMEOUT_S:.0f} s\n{dep.logs_tail()}")
    elapsed = time.monotonic() - started
    assert rc == ExitCode.OK, dep.logs_tail()
    assert "serve: 2 rounds, finished" in dep.text("serve")

    state = json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
    assert state["finished"] is True and state["last_round"] == 2, state
    assert not (run_dir / "failures.jsonl").exists(), (run_dir / "failures.jsonl").read_text(encoding="utf-8")

    deployment_json = json.loads((run_dir / "deployment.json").read_text(encoding="utf-8"))
    assert deployment_json["tls"] is True and deployment_json["node_auth"] is True
    assert deployment_json["insecure"] is False
    from federated.deploy import key_fingerprint

    registered = {n["key"]: n["fingerprint"] for n in deployment_json["registered_nodes"]}
    assert registered == {f"{c}.pub": key_fingerprint(certs / f"{c}.pub") for c in data}

    # The server side never names, opens or stores a corpus path, and holds no canary secret.
    corpus_marks = [str(p) for p in data.values()] + [str(p.parent) for p in data.values()] + ["notes.jsonl"]
    assert watch.samples > 0
    leaked = sorted(s for s in watch.seen for m in corpus_marks if m in s)
    assert not leaked, f"server processes referenced a silo's data: {leaked}"
    files = _run_files(run_dir)
    # the SuperLink keeps its state in memory (deploy.SUPERLINK_STATE): no database file, its log is checked
    assert any(p.name == "superlink.log" for p in files)
    for path, content in files.items():
        for mark in corpus_marks:
            assert mark.encode() not in content, f"{path.relative_to(run_dir)} names a silo's data"

    # Each silo's canary secrets exist only in its own state directory.
    states = {c: p.parent / f".guard-node-{c}" for c, p in data.items()}
    for client_id, state_dir in states.items():
        secrets = _secrets(state_dir)
        assert secrets, f"{client_id} kept no canaries"
        elsewhere = {p: b for p, b in files.items()}
        for other, other_dir in states.items():
            if other != client_id:
                elsewhere.update({p: p.read_bytes() for p in other_dir.rglob("*") if p.is_file()})
        for secret in secrets:
            hits = [str(p) for p, content in elsewhere.items() if secret.encode() in content]
            assert not hits, f"a canary secret of {client_id} is also in {len(hits)} file(s) outside its state dir"

    # Each client's ledger epsilon is what a fresh Opacus accountant gives for its history.
    ledger = json.loads((run_dir / "ledger.json").read_text(encoding="utf-8"))
    clients = {c["client_id"]: c for c in ledger["clients"]}
    assert sorted(clients) == sorted(data)
    for c in clients.values():
        history = [(h["noise_multiplier"], h["sample_rate"], h["steps"]) for h in c["history"]]
        assert [h["round"] for h in c["history"]] == [1, 2]
        assert c["epsilon"] == pytest.approx(epsilon_of(history, c["delta"], c["accountant"]), rel=1e-9)
        assert 0 < c["epsilon"] <= c["target_epsilon"]
    print(f"serve + 2 silo nodes (warm, cold), TLS + node auth: {elapsed:.1f} s for 2 rounds")


def test_insecure_is_explicit_and_recorded_and_sigterm_stops_every_server_process(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An --insecure server records it before any node joins, an --insecure node is activated
    over plain gRPC, and SIGTERM stops serve with all its processes (SuperLink, SuperExec)."""
    dep = deployment
    data = _silo_files(tmp_path)
    run_dir, port = _serve(dep, _config(tmp_path, rounds=1), "--insecure")
    recorded = json.loads((run_dir / "deployment.json").read_text(encoding="utf-8"))
    assert recorded["insecure"] is True and recorded["tls"] is False and recorded["node_auth"] is False
    assert recorded["registered_nodes"] == []
    assert "--insecure" in dep.text("serve")  # the warning line
    _node(dep, "site-a", data["site-a"], port, "--insecure", "--cold")  # cold: no forkserver loading torch to wait for
    superlink_log = run_dir / "deploy" / "logs" / "superlink.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while "Activated node_id" not in superlink_log.read_text(encoding="utf-8", errors="replace"):
        assert dep.procs["node-site-a"].poll() is None, f"the insecure node exited\n{dep.logs_tail()}"
        assert time.monotonic() < deadline, f"no node activated in {START_TIMEOUT_S:.0f} s\n{dep.logs_tail()}"
        time.sleep(0.5)
    assert dep.procs["serve"].poll() is None  # one of two nodes: still waiting
    os.killpg(dep.procs["serve"].pid, signal.SIGTERM)
    assert dep.procs["serve"].wait(timeout=STOP_TIMEOUT_S) == ExitCode.SIGTERM
    assert not dep.family("serve"), "serve left processes behind after SIGTERM"

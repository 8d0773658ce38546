"""Deployment round time over simulation round time for the same work (issue 15, item 4; target
at most 1.5x): two silos (the example notes of two sites), the silo example config for `rounds`
rounds, once with `guard federate` (Simulation Engine, the two sites as `partition = "field"`
clients of one pooled file) and once per node mode with `guard federate serve` plus two
`guard federate node` on 127.0.0.1 (TLS and node authentication on): "warm" (guard's executor,
`--isolation process`, one ClientApp worker kept alive between messages) and "cold" (Flower's
own `flwr-clientapp` process per message). Each node trains with THREADS torch threads, as a
simulation client does.

A round's time is the time between two consecutive checkpoints (RUN/checkpoints/round-NNN
mtimes), averaged over rounds 2..N: start-up (Ray, the SuperLink, the first imports) is not a
round's cost. Beside it, the CPU seconds per round over every process of the run (psutil, sampled
every 0.25 s; a process's last sample is kept after it exits): a busy machine stretches wall time,
much less CPU time, so the CPU ratio is the one to read when the machine is not idle.
`python bench/federate_deploy.py [--rounds 3] [--modes warm,cold] [--model minilm]` prints JSON; its last line is
one JSON object with an entry per target (wall and CPU ratio of the warm mode, target 1.5).
Run it alone: on two cores any other busy process skews the wall ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GUARD = [sys.executable, "-m", "guard"]
SITES = {"site-a": "st-marys", "site-b": "lakeside"}
TIMEOUT_S = 1200.0
# Each node's torch threads: what a simulation client gets (`[simulation] cpus_per_client`, 1 by
# default; Ray sets OMP_NUM_THREADS to it), so both engines train with the same compute per client
# and two nodes on one host do not each start a thread per core.
THREADS = 1
TARGET_RATIO = 1.5  # a deployment round at most 1.5x a simulation round (issue 15)


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    ray_tmp = tmp.parent / "ray" if tmp.name.startswith("deploy-") else tmp / "ray"  # one per measure()
    ray_tmp.mkdir(exist_ok=True)
    env.update(
        {
            "FLWR_HOME": str(tmp / "flwr-home"),
            "RAY_TMPDIR": str(ray_tmp),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _data(tmp: Path) -> tuple[dict[str, Path], Path]:
    """Each silo's file in its own folder, and the same records pooled for the simulation."""
    rows = [json.loads(line) for line in (ROOT / "examples" / "clinical_notes.jsonl").read_text("utf-8").splitlines()]
    silos = {}
    for client_id, site in SITES.items():
        path = tmp / f"silo-{client_id}" / "notes.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["site"] == site), encoding="utf-8")
        silos[client_id] = path
    pooled = tmp / "pooled.jsonl"
    pooled.write_text("".join(json.dumps(r) + "\n" for r in rows if r["site"] in SITES.values()), encoding="utf-8")
    return silos, pooled


def _configs(tmp: Path, pooled: Path, rounds: int, model: str = "tiny-classifier") -> tuple[Path, Path]:
    silo = (
        (ROOT / "examples" / "silo_federate.toml")
        .read_text(encoding="utf-8")
        .replace("rounds = 2", f"rounds = {rounds}")
        .replace('name = "tiny-classifier"', f"name = {json.dumps(model)}")
    )
    silo_path = tmp / "silo.toml"
    silo_path.write_text(silo, encoding="utf-8")
    head, _, rest = silo.partition("[silos]")
    rest = rest[rest.index("[model]") :]
    data = f'path = {json.dumps(str(pooled))}\npartition = "field"\npartition_field = "site"\n'
    sim_path = tmp / "simulation.toml"
    sim_path.write_text(head.replace("[data]\n", "[data]\n" + data) + rest, encoding="utf-8")
    return silo_path, sim_path


class RoundCPU:
    """CPU seconds (user + system) summed over the process trees of `roots`, read at each new
    round checkpoint of `run_dir`."""

    def __init__(self, run_dir: Path, interval: float = 0.25) -> None:
        self.run_dir = run_dir
        self.interval = interval
        self.roots: list[int] = []
        self.at_round: list[float] = []  # the CPU total when checkpoint k appeared
        self.by_name_at_round: list[dict[str, float]] = []  # ... per process name
        self._last: dict[tuple[int, float], float] = {}  # (pid, create time) -> last CPU seconds
        self._names: dict[tuple[int, float], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> float:
        import psutil

        for pid in list(self.roots):
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                try:
                    t = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    self._last[key] = t.user + t.system
                    if key not in self._names:
                        self._names[key] = _process_name(proc)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        return sum(self._last.values())

    def _by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, seconds in self._last.items():
            name = self._names.get(key, "?")
            out[name] = out.get(name, 0.0) + seconds
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = self._total()
            done = len(list((self.run_dir / "checkpoints").glob("round-*.safetensors")))
            while len(self.at_round) < done:
                self.at_round.append(total)
                self.by_name_at_round.append(self._by_name())
            self._stop.wait(self.interval)

    def __enter__(self) -> RoundCPU:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def per_round(self) -> list[float]:
        return [b - a for a, b in zip(self.at_round, self.at_round[1:], strict=False)]

    def mean_by_name(self) -> dict[str, float]:
        """Mean CPU seconds per round (rounds 2..N) of each kind of process."""
        if len(self.by_name_at_round) < 2:
            return {}
        first, last, n = self.by_name_at_round[0], self.by_name_at_round[-1], len(self.by_name_at_round) - 1
        return {k: round((last.get(k, 0.0) - first.get(k, 0.0)) / n, 2) for k in sorted(last)}


def _process_name(proc: Any) -> str:
    """A short name for a process: the guard/flower command it runs, or its executable."""
    try:
        cmd = proc.cmdline()
    except Exception:  # noqa: BLE001 - gone or not ours: its executable name will do
        cmd = []
    for i, part in enumerate(cmd):
        base = Path(part).name
        if base in ("guard", "flower-superlink", "flower-supernode", "flwr-serverapp", "flwr-clientapp"):
            return " ".join([base, *cmd[i + 1 : i + 3]])
        if part == "-m" and i + 1 < len(cmd):
            return " ".join(cmd[i + 1 : i + 4])
    try:
        return str(proc.name())
    except Exception:  # noqa: BLE001
        return "?"


def round_times(run_dir: Path) -> list[float]:
    """Seconds between consecutive round checkpoints."""
    marks = sorted((run_dir / "checkpoints").glob("round-*.safetensors"))
    times = [p.stat().st_mtime for p in marks]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def _summary(run_dir: Path, wall: float, cpu: RoundCPU) -> dict[str, Any]:
    rounds, cpu_rounds = round_times(run_dir), cpu.per_round()
    return {
        "wall_s": round(wall, 1),
        "round_s": [round(r, 1) for r in rounds],
        "mean_round_s": round(sum(rounds) / len(rounds), 2) if rounds else None,
        "round_cpu_s": [round(r, 1) for r in cpu_rounds],
        "mean_round_cpu_s": round(sum(cpu_rounds) / len(cpu_rounds), 2) if cpu_rounds else None,
        "round_cpu_s_by_process": cpu.mean_by_name(),
    }


def simulation(tmp: Path, config: Path) -> dict[str, Any]:
    run_dir = tmp / "sim-run"
    started = time.monotonic()
    with RoundCPU(run_dir) as cpu:
        proc = subprocess.Popen([*GUARD, "federate", "--config", str(config), "--out", str(run_dir)], env=_env(tmp),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        cpu.roots.append(proc.pid)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"simulation failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return _summary(run_dir, time.monotonic() - started, cpu)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def deployment(tmp: Path, config: Path, silos: dict[str, Path], *, mode: str) -> dict[str, Any]:
    """serve + one node per silo on 127.0.0.1, TLS and node authentication on."""
    work = tmp / f"deploy-{mode}"
    work.mkdir()
    env = _env(work)
    certs = work / "certs"
    nodes = [a for c in silos for a in ("--node", c)]
    subprocess.run([*GUARD, "federate", "certs", str(certs), *nodes], env=env, check=True, capture_output=True)
    port, run_dir = _free_port(), work / "run"
    serve_log = work / "serve.log"
    procs: list[subprocess.Popen[bytes]] = []
    cpu = RoundCPU(run_dir).__enter__()
    try:
        started = time.monotonic()
        procs.append(_start([*GUARD, "federate", "serve", "--config", str(config), "--out", str(run_dir),
                             "--certs", str(certs), "--port", str(port)], serve_log, env))  # fmt: skip
        cpu.roots.append(procs[0].pid)
        while "waiting for" not in serve_log.read_text(errors="replace"):
            if procs[0].poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError(f"serve did not start: {serve_log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        for client_id, data in silos.items():
            args = [*GUARD, "federate", "node", "--data", str(data), "--client-id", client_id, "--superlink",
                    f"127.0.0.1:{port}", "--certs", str(certs), "--key", client_id,
                    "--state-dir", str(work / f"state-{client_id}"), "--threads", str(THREADS)]  # fmt: skip
            procs.append(_start(args + (["--cold"] if mode == "cold" else []), work / f"{client_id}.log", env))
            cpu.roots.append(procs[-1].pid)
        rc = procs[0].wait(timeout=TIMEOUT_S)
        wall = time.monotonic() - started
    finally:
        cpu.__exit__()
        _stop(procs)
    if rc != 0:
        raise RuntimeError(f"serve failed ({rc}): {serve_log.read_text(errors='replace')[-2000:]}")
    return _summary(run_dir, wall, cpu)


def measure(
    rounds: int = 3,
    *,
    modes: tuple[str, ...] = ("warm", "cold"),
    keep: Path | None = None,
    model: str = "tiny-classifier",
) -> dict[str, Any]:
    """Mean round time (rounds 2..N) of the simulation and of each deployment mode, and the
    ratio deployment / simulation per mode. `keep`: copy the run directories and logs there.
    `model`: the registered model both engines train (the silo example's is tiny-classifier)."""
    with tempfile.TemporaryDirectory(prefix="gbd-") as d:  # short: Ray's socket paths stay under 108 bytes
        tmp = Path(d)
        silos, pooled = _data(tmp)
        silo_config, sim_config = _configs(tmp, pooled, rounds, model)
        result: dict[str, Any] = {
            "rounds": rounds,
            "clients": len(silos),
            "model": model,
            "simulation": simulation(tmp, sim_config),
        }
        base, base_cpu = result["simulation"]["mean_round_s"], result["simulation"]["mean_round_cpu_s"]
        for mode in modes:
            entry = deployment(tmp, silo_config, silos, mode=mode)
            entry["ratio_to_simulation"] = _ratio(entry["mean_round_s"], base)
            entry["cpu_ratio_to_simulation"] = _ratio(entry["mean_round_cpu_s"], base_cpu)
            result[f"deployment_{mode}"] = entry
        if keep is not None:
            shutil.copytree(tmp, keep, ignore=shutil.ignore_patterns("ray", "flwr-home", "*.sock"), dirs_exist_ok=True)
        return result


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return round(value / baseline, 2) if value and baseline else None


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """One entry per target: each mode's mean round, wall and CPU, against the simulation's."""
    out = {}
    sim = result["simulation"]
    for key, entry in result.items():
        if not key.startswith("deployment_"):
            continue
        for kind, field in (("wall", "mean_round_s"), ("cpu", "mean_round_cpu_s")):
            ratio = _ratio(entry[field], sim[field])
            out[f"{key}_round_{kind}_ratio"] = {
                "value": entry[field],
                "baseline": sim[field],
                "target": TARGET_RATIO,
                "ok": ratio is not None and ratio <= TARGET_RATIO,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="warm,cold", help="comma-separated: warm, cold")
    parser.add_argument("--keep", type=Path, help="Copy the run directories and the process logs here.")
    parser.add_argument("--model", default="tiny-classifier", help="registered model to train (e.g. minilm)")
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    result = measure(args.rounds, modes=modes, keep=args.keep, model=args.model)
    print(json.dumps(result, indent=2))
    print(json.dumps(targets(result)))


if __name__ == "__main__":
    main()

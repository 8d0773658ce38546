"""Measure a command's wall time and peak memory over its whole process tree
(shared by the bench scripts; run them as `python bench/NAME.py`)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class TreeSampler:
    """Polls RSS summed over a process and all its descendants (Ray's GCS, raylet, workers),
    and each one's CPU seconds (`cpu_seconds`: a process counts with its last sample, so the
    total is under by at most one interval of each process that ended)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_root = 0  # the driver alone (Flower's ServerApp: every reply's weights pass through it)
        self.peak_procs = 0
        self.samples = 0
        self.cpu_seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> user + system seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    total += rss
                    cpu = p.cpu_times()
                    self.cpu_seen[(p.pid, p.create_time())] = cpu.user + cpu.system
                    if p.pid == self.pid:
                        self.peak_root = max(self.peak_root, rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.samples += 1
            self.peak_rss = max(self.peak_rss, total)
            self.peak_procs = max(self.peak_procs, len(procs))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_seen.values())


def run_measured(cmd: list[str], *, log: Path) -> dict[str, Any]:
    env = {**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
    seconds = time.perf_counter() - start
    if rc != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {rc}; last lines:\n" + "\n".join(log.read_text().splitlines()[-30:])
        )
    return {
        "seconds": seconds,
        "peak_rss_mib": sampler.peak_rss / 2**20,
        "peak_root_mib": sampler.peak_root / 2**20,
        "peak_procs": sampler.peak_procs,
        "samples": sampler.samples,
        "wall_start": time.time() - seconds,
    }

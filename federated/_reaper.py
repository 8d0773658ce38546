"""Kill the processes of one Ray session of `guard federate`, also after the parent died.

Run by `federated.stopping` as `python -I _reaper.py TOKEN TEMP_DIR` with a pipe as
stdin, in its own session (so a signal to guard's process group does not reach
it). It blocks reading the pipe; the read returns when guard closes it or dies
in any way, SIGKILL included (or when the watchdog itself gets SIGTERM). Then it stops every process whose environment
holds `GUARD_FEDERATE_SESSION=TOKEN` (guard sets it before starting Ray, and Ray's
raylet, GCS, agents and workers inherit it): SIGTERM, then SIGKILL after a grace
period (some Ray agents ignore SIGTERM). Last it removes Ray's temp dir.

Standard library only (it runs with -I, outside the virtualenv's site-packages);
Linux (/proc). The same functions serve guard's own in-process clean-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

SESSION_ENV = "GUARD_FEDERATE_SESSION"


def session_pids(token: str, *, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Live processes whose environment holds SESSION_ENV=token (zombies have none)."""
    marker = f"{SESSION_ENV}={token}".encode()
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit() or int(entry) in exclude or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:  # gone, or another user's
            continue
        if marker in env.split(b"\0"):
            out.append(int(entry))
    return out


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def reap(token: str, *, grace: float = 2.0, exclude: frozenset[int] = frozenset()) -> int:
    """Stop every process of the session: SIGTERM, then SIGKILL for those still alive
    after `grace` seconds. Returns how many processes there were."""
    pids = session_pids(token, exclude=exclude)
    if not pids:
        return 0
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = session_pids(token, exclude=exclude)
    for _ in range(3):  # a dying raylet may still start a worker: look again
        if not left:
            break
        _signal(left, signal.SIGKILL)
        time.sleep(0.2)
        left = session_pids(token, exclude=exclude)
    return len(pids)


class _Wake(Exception):
    pass


def _wake(signum: int, frame: object) -> None:
    raise _Wake


def main(argv: list[str]) -> int:
    token, temp_dir = argv[1], argv[2]
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a terminal's signals are guard's to handle
    signal.signal(signal.SIGTERM, _wake)  # terminating the watchdog ends the session it watches
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except _Wake:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reap(token)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

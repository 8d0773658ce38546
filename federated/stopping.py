"""Stopping a simulated federation cleanly, and leaving no Ray process behind.

- `stop_on_signals()`: SIGINT and SIGTERM set `STOP`, which `server.serve` polls
  while it waits for replies, so the ServerApp thread stops between writes, never
  in the middle of one, and Flower's Simulation Engine winds down by itself (and
  calls `ray.shutdown`) once the client tasks in flight end; those still running
  after KILL_ACTORS_AFTER_S have their actors killed. A second signal raises
  `Stopped` in the main thread. Before Ray runs (loading data, planning) the first
  signal raises it.
- `ray_session()`: starts Ray for this run only (`address="local"`, never a
  cluster that happens to run on the machine) in a temp dir of its own, with every
  Ray process marked by GUARD_FEDERATE_SESSION in its environment; on the way out
  it shuts Ray down and kills what is left of the session. A watchdog process
  (`_reaper.py`) does the same if guard dies without a chance to (SIGKILL).

Ray's `ray.init` installs its own SIGTERM handler (`sys.exit`, then its C++
failure handler aborts the process), so the handlers are installed again after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from federated._reaper import SESSION_ENV, reap, session_pids

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REAPER = Path(__file__).with_name("_reaper.py")
KILL_ACTORS_AFTER_S = 10.0  # after a signal: how long client tasks in flight may run on
_MAX_TEMP_ROOT = 24  # Ray's socket paths (root + "/guard-ray-XXXXXXXX/session_<date>_<time>_<pid>/sockets/plasma_store", about 81 characters) must stay under 108 bytes


class Stopped(BaseException):  # noqa: N818 - not an error: a request to stop
    """Raised in the main thread when SIGINT or SIGTERM arrives; a BaseException so that
    no library's `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class RunStopped(Exception):  # noqa: N818
    """Raised by `server.serve` in the ServerApp thread when a stop was requested."""


class StopRequest:
    """Process-wide: a stop was requested (and by which signal); whether `serve` is busy."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        self.signum = signum
        self._stop.set()

    def is_set(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True (at once) when a stop is requested."""
        return self._stop.wait(timeout)

    def clear(self) -> None:
        self.signum = None
        self._stop.clear()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Marks `serve` running, so the main thread can wait for it to finish its writes."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)


STOP = StopRequest()


def _quiet() -> None:
    # Flower's worker threads log every actor killed on the way out as an ERROR with a traceback
    for name in ("flwr", "ray"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


_MAY_RAISE = threading.Event()  # set inside `raising()`: elsewhere a signal is noted, never raised
_SESSION: dict[str, str] = {}  # "token" of the running Ray session, while the federation runs


def _handler(signum: int, frame: Any) -> None:
    token = _SESSION.get("token")
    if STOP.is_set():
        if token is not None and _MAY_RAISE.is_set():
            raise Stopped(signum)  # a second signal while the federation winds down: stop at once
        return
    STOP.request(signum)
    _quiet()
    if token is None:
        if _MAY_RAISE.is_set():
            raise Stopped(signum)  # still preparing: nothing runs in other threads
        return
    # The federation runs in Flower's threads: `serve` stops at its next check of STOP and
    # Flower winds down by itself (and shuts Ray down) once the client tasks in flight end.
    # Those that have not ended after a grace period are cut short: their actors are killed
    # (their `ray.get` then fails at once instead of waiting for a round of training).
    timer = threading.Timer(KILL_ACTORS_AFTER_S, kill_workers, args=(token,))
    timer.daemon = True
    timer.start()


@contextlib.contextmanager
def raising() -> Iterator[None]:
    """Inside: a signal may raise `Stopped` (see `stop_on_signals`); outside it is only noted
    in STOP, so the code that handles a stop is never cut short by one."""
    _MAY_RAISE.set()
    try:
        yield
    finally:
        _MAY_RAISE.clear()


def kill_workers(token: str) -> int:
    """SIGKILL the Ray worker processes (actors) of the session; raylet and GCS stay."""
    n = 0
    for pid in session_pids(token):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                title = fh.read(5)
            if title == b"ray::":
                os.kill(pid, signal.SIGKILL)
                n += 1
        except OSError:
            continue
    return n


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Callable[[], None]]:
    """SIGINT/SIGTERM -> STOP.request, and inside `raising()` `Stopped` in the main thread
    (see the module's docstring for when). Yields `rearm`, which installs the handlers
    again (after a library replaced them). Outside the main thread: no handlers."""
    STOP.clear()
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def rearm() -> None:
        for s in _SIGNALS:
            signal.signal(s, _handler)

    rearm()
    try:
        yield rearm
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def exit_anyway(code: int, *, after: float) -> None:
    """Make sure the process ends with `code` within `after` seconds, for the CLI after an
    interrupt: a thread of Flower's or Ray's that never returns (a `ray.get` cut short by
    the shutdown) would otherwise keep the interpreter waiting for it at exit."""

    def _exit() -> None:
        time.sleep(after)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    threading.Thread(target=_exit, name="guard-exit-anyway", daemon=True).start()


def _temp_root() -> str:
    for root in (os.environ.get("RAY_TMPDIR"), tempfile.gettempdir(), "/tmp"):
        if root and len(root) <= _MAX_TEMP_ROOT and os.path.isdir(root) and os.access(root, os.W_OK):
            return root
    return "/tmp"


def start_watchdog(token: str, temp_dir: str) -> subprocess.Popen[bytes]:
    """The watchdog of a session (`_reaper.py`): when this process closes its stdin or dies,
    it kills every process whose environment holds SESSION_ENV=token and removes `temp_dir`."""
    return subprocess.Popen(
        [sys.executable, "-I", str(_REAPER), token, temp_dir],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # out of guard's process group: a signal to the group spares it
        close_fds=True,
        env={"PATH": os.environ.get("PATH", "")},  # without the token: it is no process of the session
    )


@contextlib.contextmanager
def ray_session(init_args: dict[str, Any]) -> Iterator[str]:
    """Ray for this run only; yields Ray's temp dir. On exit (however it comes) Ray is shut
    down and every process of the session is gone; the watchdog covers a SIGKILL."""
    import ray

    token = uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="guard-ray-", dir=_temp_root())
    reaper = start_watchdog(token, temp_dir)
    os.environ[SESSION_ENV] = token
    saved_pythonpath = os.environ.get("PYTHONPATH")
    # as Flower's RayBackend does: actors import the app with the driver's sys.path
    pythonpath = os.pathsep.join(sys.path)
    if os.environ.get("PYTHONPATH"):
        pythonpath = f"{pythonpath}{os.pathsep}{os.environ['PYTHONPATH']}"
    os.environ["PYTHONPATH"] = pythonpath
    try:
        try:
            ray.init(
                address="local",
                _temp_dir=temp_dir,
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                **init_args,
            )
        except SystemExit as e:  # Ray's own SIGTERM handler, active while ray.init runs
            if e.code == signal.SIGTERM:
                STOP.request(signal.SIGTERM)
                _quiet()
                raise Stopped(signal.SIGTERM) from None
            raise
        _SESSION["token"] = token
        yield temp_dir
    finally:
        _SESSION.pop("token", None)
        may_raise = _MAY_RAISE.is_set()
        _MAY_RAISE.clear()  # the clean-up runs to its end
        try:
            _close(ray, token, temp_dir, reaper)
        finally:
            if may_raise:
                _MAY_RAISE.set()
            if saved_pythonpath is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved_pythonpath


def _close(ray: Any, token: str, temp_dir: str, reaper: subprocess.Popen[bytes]) -> None:
    try:
        if ray.is_initialized():
            ray.shutdown()
    except Exception as e:  # a half-started or already torn-down Ray: the reaping below still runs
        log.debug("ray.shutdown: %s: %s", type(e).__name__, e)
    finally:
        left = reap(token, exclude=frozenset({reaper.pid}))
        if left:
            log.debug("killed %d leftover Ray process(es) of this run", left)
        os.environ.pop(SESSION_ENV, None)
        with contextlib.suppress(OSError):
            assert reaper.stdin is not None
            reaper.stdin.close()  # the watchdog wakes, finds nothing left and exits
        try:
            reaper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            reaper.kill()
            reaper.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


__all__ = [
    "SESSION_ENV",
    "STOP",
    "RunStopped",
    "StopRequest",
    "Stopped",
    "exit_anyway",
    "kill_workers",
    "raising",
    "ray_session",
    "start_watchdog",
    "stop_on_signals",
]

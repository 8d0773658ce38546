"""SIGINT and SIGTERM stop a command cleanly: the exception unwinds through the
writers (temporary files removed, worker processes stopped) and the command
exits 128 + the signal number with one line saying what is on disk.

`stop_on_signals` is for the process's main thread (where Python runs signal
handlers); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from guard.core.errors import Interrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_WHAT = {signal.SIGINT: "interrupted by SIGINT", signal.SIGTERM: "terminated by SIGTERM"}


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM. A KeyboardInterrupt, so code that
    cleans up after Ctrl-C cleans up after SIGTERM too, and `except Exception` does not
    swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    for s in _SIGNALS:  # a second signal must not interrupt the clean-up of the first
        signal.signal(s, signal.SIG_IGN)
    raise Stop(signum)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def describe(signum: int, outputs: Iterable[Path], before: dict[Path, tuple[int, int, int] | None]) -> str:
    """One line: which signal, and what is on disk for each output."""
    kept, done = [], []
    for path in outputs:
        now = _identity(path)
        if now is None:
            continue
        (kept if now == before.get(path) else done).append(str(path))
    parts = [_WHAT.get(signal.Signals(signum), f"stopped by signal {signum}"), "temporary files removed"]
    if done:
        parts.append(f"finished before the signal: {', '.join(done)}")
    if kept:
        parts.append(f"earlier output kept: {', '.join(kept)}")
    if not kept and not done:
        parts.append("nothing written")
    return "; ".join(parts)


@contextmanager
def stop_on_signals(outputs: Iterable[str | Path | None] = ()) -> Iterator[None]:
    """Turn SIGINT/SIGTERM (and Ctrl-C) inside the block into `Interrupted(signum)` whose
    message tells, for `outputs`, whether an earlier file was kept or nothing was written."""
    targets = [Path(p) for p in outputs if p is not None]
    before = {p: _identity(p) for p in targets}
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _raise_stop) for s in _SIGNALS} if main else {}
    try:
        yield
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Stop) else signal.SIGINT
        raise Interrupted(signum, describe(signum, targets, before)) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = ["Stop", "describe", "stop_on_signals"]

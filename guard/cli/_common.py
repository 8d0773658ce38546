"""Helpers shared by the command modules: consoles, JSON output, progress."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console(soft_wrap=True)
console_err = Console(stderr=True, soft_wrap=True)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


@contextmanager
def record_progress(label: str, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress display of records done and records/s (the total is unknown while streaming)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} records"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console_err, transient=False) as bar:
        task = bar.add_task(escape(label), total=None, rate="")
        done = [0]

        def show(n: int) -> None:
            rate = n / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=n, rate=f"{rate:,.0f} records/s")

        def update(n: int) -> None:
            done[0] = n
            if n % 64 == 0:
                show(n)

        yield update
        show(done[0])


__all__ = ["console", "console_err", "emit_json", "record_progress"]

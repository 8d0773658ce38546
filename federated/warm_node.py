"""A warm SuperNode for `guard federate node` (the default; `--cold` is Flower as it is).

Flower 1.42 starts a fresh `flwr-clientapp` process for every message, which imports torch
again and rebuilds the client's data and model; its prestarted "warm" workers
(`flwr.supercore.task_worker`) serve only agent, model and connector tasks, on Kubernetes.
So a warm node runs `flower-supernode --isolation process` with this module's executor:
Flower's own SuperExec loop and `run_clientapp`, with one ClientApp worker process kept
alive between messages (forked once from a forkserver that imported WARM_PRELOAD), and the
SuperNode's idle poll for messages capped at NODE_POLL_S instead of 3 s.

This relies on Flower 1.42 internals, which is why it lives apart from `federated.deploy`
(Flower's public commands and flags only): `flwr.supercore.superexec.run_superexec.get_executor`,
`flwr.supernode.runtime.run_clientapp.flwr_exit` and `register_signal_handlers`, and the
`time` module of `flwr.supernode.start_client_internal`. pyproject pins flwr < 1.43; an
upgrade must recheck them.

    python -m federated.warm_node superexec --runtime-api-address ADDR [--parent-pid PID]
    python -m federated.warm_node supernode <flower-supernode arguments>
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from guard.core.errors import ExitCode

log = logging.getLogger(__name__)

# What the warm executor's forkserver imports once; every ClientApp process forks from it.
WARM_PRELOAD = (
    "torch",
    "opacus",
    "transformers",
    "federated.client",
    "federated.client_app",
    "federated.secagg",
    "federated.data",
    "federated.models",
    "federated.task",
    "flwr.supernode.runtime.run_clientapp",
)


# -- the warm executor: `python -m federated.warm_node superexec ...` -----------------------------


class ForkingExecutor:
    """A SuperExec executor (the interface of 1.42's `SubprocessExecutor`) for ClientApp tasks.

    It keeps one ClientApp worker process alive between messages: forked once from a forkserver
    that imported `WARM_PRELOAD`, it runs each task with Flower's own `run_clientapp`, so guard's
    per-process caches (the silo's dataset, the model; `federated.client`) survive from one
    message to the next, as in a simulation actor. A task that arrives while the worker is busy
    runs in a fresh child of the forkserver; a task that fails ends the worker, and the next
    one starts afresh. Other task types go to Flower's own subprocess executor."""

    def __init__(self) -> None:
        import multiprocessing
        from multiprocessing import forkserver

        from flwr.supercore.superexec.executor.subprocess_executor import SubprocessExecutor

        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(WARM_PRELOAD))
        forkserver.ensure_running()  # import now, while the node waits for its first task
        self._fallback = SubprocessExecutor()
        self._children: list[Any] = []
        self._worker: Any = None
        self._conn: Any = None
        self._busy = False
        self._start_worker()

    def _start_worker(self) -> None:
        ours, theirs = self._ctx.Pipe()
        self._worker = self._ctx.Process(target=_serve_tasks, args=(theirs, os.getpid()), daemon=False)
        self._worker.start()
        theirs.close()
        self._conn, self._busy = ours, False

    def get_eligible_capacity(self, supported_task_types: set[Any], **kwargs: Any) -> tuple[set[Any], set[str]]:
        return supported_task_types, set()

    def wait_for_capacity(self, task_type: Any = None, **kwargs: Any) -> None:
        return None

    def launch(self, spec: Any) -> Any:
        from flwr.supercore.constant import TaskType
        from flwr.supercore.superexec.executor.types import LaunchResult

        if spec.task_type != TaskType.CLIENT_APP:
            return self._fallback.launch(spec)
        job = (spec.runtime_api_address, spec.token, spec.insecure, spec.root_certificates_path)
        self.reconcile()
        if not self._busy and self._worker is not None and self._worker.is_alive():
            self._conn.send(job)
            self._busy = True
        else:
            child = self._ctx.Process(target=_run_clientapp_task, args=(*job, os.getpid()), daemon=False)
            child.start()
            self._children.append(child)
        return LaunchResult.accepted()

    def reconcile(self) -> None:
        """Collect finished one-off children; free (or replace) the worker when its task is done."""
        if self._busy and self._conn.poll():
            try:
                ok = bool(self._conn.recv())
            except (EOFError, OSError):
                ok = False
            self._busy = False
            if not ok:
                self._worker.join(timeout=10)
        if self._worker is not None and not self._worker.is_alive():
            self._worker.join()
            self._conn.close()
            self._start_worker()
        alive = []
        for child in self._children:
            if child.is_alive():
                alive.append(child)
            else:
                child.join()
                child.close()
        self._children = alive

    def close(self) -> None:
        procs = [*self._children, *([self._worker] if self._worker is not None else [])]
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)


class _TaskExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _serve_tasks(conn: Any, parent_pid: int) -> None:
    """The long-lived ClientApp worker: runs one task per message received on `conn` with
    Flower's `run_clientapp`, whose process-level exit (`flwr_exit`: run the task's exit
    handlers, which push its status, then leave) becomes the end of one task here. Answers
    True for a task that succeeded; after a failed task it exits, so no state of a failure
    is carried into the next one."""
    from flwr.supercore.app_utils import start_parent_process_monitor
    from flwr.supercore.tls import validate_and_resolve_root_certificates
    from flwr.supernode.runtime import run_clientapp as flower

    start_parent_process_monitor(parent_pid)  # the executor gone (SIGKILL included): stop
    handlers: list[Callable[[], None]] = []

    def register_signal_handlers(*, exit_handlers: list[Callable[[], None]] | None = None, **_: Any) -> None:
        handlers[:] = list(exit_handlers or [])

    def flwr_exit(code: int, *_: Any, **__: Any) -> None:
        for handler in handlers:
            handler()
        handlers.clear()
        raise _TaskExit(int(code))

    flower.register_signal_handlers = register_signal_handlers  # type: ignore[assignment]
    flower.flwr_exit = flwr_exit  # type: ignore[assignment]
    short_object_backoff(flower, name="pull_and_inflate_object_from_tree")
    while True:
        try:
            address, token, insecure, certs = conn.recv()
        except (EOFError, OSError):
            return
        ok = False
        try:
            root = validate_and_resolve_root_certificates(certs, insecure)
            flower.run_clientapp(address, token, insecure, certificates=root, parent_pid=None)
        except _TaskExit as e:
            ok = 0 <= e.code < 100  # Flower's success range
        except Exception:  # noqa: BLE001 - a task that broke outside Flower's own handling
            log.exception("ClientApp task failed")
        conn.send(ok)
        if not ok:
            return


def _run_clientapp_task(address: str, token: str, insecure: bool, certs: str | None, parent_pid: int | None) -> None:
    """A one-off ClientApp process (forked warm), as `flwr-clientapp --token ...` would be."""
    from flwr.supercore.tls import validate_and_resolve_root_certificates
    from flwr.supernode.runtime import run_clientapp as flower

    short_object_backoff(flower, name="pull_and_inflate_object_from_tree")
    root = validate_and_resolve_root_certificates(certs, insecure)
    flower.run_clientapp(
        runtime_api_address=address, token=token, insecure=insecure, certificates=root, parent_pid=parent_pid
    )


def warm_superexec(runtime_api_address: str, *, parent_pid: int | None, poll_s: float = 0.2) -> None:
    """Flower's SuperExec loop (`run_superexec`: acquire a task from the node's Runtime API,
    launch it) with `ForkingExecutor` in place of the subprocess one."""
    from flwr.supercore.constant import ExecutorType
    from flwr.supercore.superexec import run_superexec as flower_superexec

    os.environ.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", str(poll_s))
    executor = ForkingExecutor()
    flower_superexec.get_executor = lambda *a, **k: executor  # 1.42 builds its executor by type only
    flower_superexec.run_superexec(
        runtime_api_address=runtime_api_address,
        insecure=True,  # the node's Runtime API on 127.0.0.1 (the link to the SuperLink is the node's, with TLS)
        parent_pid=parent_pid,
        runtime_dependency_install=False,
        executor_type=ExecutorType.SUBPROCESS,
    )


NODE_POLL_S = 0.2  # a warm node's idle wait between asking the SuperLink for messages (1.42: 3 s)


class _CappedSleep:
    """`time` for `flwr.supernode.start_client_internal`, its waits capped at `cap` seconds."""

    def __init__(self, cap: float) -> None:
        self._cap = cap

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# Flower 1.42 retries an object that is not uploaded yet after 1 s, doubling up to 10 s
# (`flwr.supercore.constant.PULL_INITIAL_BACKOFF` / `PULL_BACKOFF_CAP`): a message is visible
# before its weights are, so a receiver often sleeps 1 + 2 s for an upload that took 1.5 s.
# For a handful of silos a shorter retry costs the SuperLink a few more cheap requests.
OBJECT_PULL_BACKOFF_S = (0.05, 0.5)  # initial, cap


def short_object_backoff(
    module: Any, backoff: tuple[float, float] = OBJECT_PULL_BACKOFF_S, *, name: str = "pull_objects"
) -> None:
    """Make `module`'s `name` (Flower's `pull_objects` or `pull_and_inflate_object_from_tree`,
    imported by name) retry an object after `backoff[0]` s, doubling up to `backoff[1]` s. Used
    for the SuperNode's message loop, the ServerApp's grid and the warm ClientApp worker, which
    is handed a task as soon as its message is at the node, often before the weights are: with
    Flower's 1 s doubling it slept 3 to 7 s per message (py-spy timeline of a round)."""
    from functools import partial

    from flwr.supercore.inflatable import inflatable_utils

    setattr(module, name, partial(getattr(inflatable_utils, name), initial_backoff=backoff[0], backoff_cap=backoff[1]))


def warm_supernode(argv: list[str], *, poll_s: float = NODE_POLL_S) -> None:
    """Flower's `flower-supernode` with its idle poll for messages (a fixed 3 s sleep in 1.42's
    `start_client_internal`) shortened to `poll_s`: each message of a round otherwise waits 1.5 s
    on average before the node even sees it; and its object-pull retries shortened
    (`short_object_backoff`). Everything else is Flower's SuperNode as is."""
    import flwr.supernode.start_client_internal as loop
    from flwr.supernode.cli.flower_supernode import flower_supernode

    loop.time = _CappedSleep(poll_s)  # type: ignore[assignment]
    short_object_backoff(loop)
    sys.argv = ["flower-supernode", *argv]
    flower_supernode()


def _main(argv: list[str]) -> int:
    import argparse

    if argv[:1] == ["supernode"]:  # flower-supernode's own arguments follow
        warm_supernode(argv[1:])
        return int(ExitCode.OK)

    parser = argparse.ArgumentParser(prog="python -m federated.warm_node")
    sub = parser.add_subparsers(dest="command", required=True)
    se = sub.add_parser("superexec", help="guard's warm executor for a SuperNode started with --isolation process")
    se.add_argument("--runtime-api-address", required=True)
    se.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warm_superexec(args.runtime_api_address, parent_pid=args.parent_pid)
    return int(ExitCode.OK)


__all__ = [
    "NODE_POLL_S",
    "OBJECT_PULL_BACKOFF_S",
    "WARM_PRELOAD",
    "ForkingExecutor",
    "short_object_backoff",
    "warm_superexec",
    "warm_supernode",
]

if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

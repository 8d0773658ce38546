"""A node's CPU threads and the waits guard shortens in Flower's message path (issue 15's round
overhead): what each setting reaches, without starting a federation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from federated import deploy, server
from guard.cli import app
from guard.core.errors import ExitCode


class _Procs:
    """Stands in for deploy.Processes: records what start_node would launch."""

    session = "test"

    def __init__(self) -> None:
        self.started: list[tuple[str, list[str], dict[str, str]]] = []

    def start(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path) -> Any:
        self.started.append((name, cmd, env))
        return SimpleNamespace(pid=0)


def _options(tmp_path: Path, **kwargs: Any) -> deploy.NodeOptions:
    data = tmp_path / "notes.jsonl"
    data.write_text('{"text": "x", "label": "a"}\n', encoding="utf-8")
    security = deploy.NodeSecurity(insecure=True)
    return deploy.node_options_for_silo(
        data=data, client_id="site-a", superlink="127.0.0.1:1", security=security, warm=False, **kwargs
    )


def test_node_threads_reach_the_clientapp_processes_environment(tmp_path: Path) -> None:
    procs = _Procs()
    deploy.start_node(_options(tmp_path, threads=1), procs)  # type: ignore[arg-type]
    (name, _, env) = procs.started[0]
    assert name == "supernode"
    assert all(env[var] == "1" for var in deploy.THREAD_ENV)


def test_without_threads_the_node_leaves_the_thread_count_to_torch(tmp_path: Path, monkeypatch: Any) -> None:
    for var in deploy.THREAD_ENV:
        monkeypatch.delenv(var, raising=False)
    procs = _Procs()
    deploy.start_node(_options(tmp_path), procs)  # type: ignore[arg-type]
    assert not any(var in procs.started[0][2] for var in deploy.THREAD_ENV)


def test_zero_threads_is_refused(tmp_path: Path) -> None:
    with pytest.raises(deploy.DeployError, match="--threads"):
        _options(tmp_path, threads=0)
    result = CliRunner().invoke(
        app,
        ["federate", "node", "--data", str(tmp_path / "notes.jsonl"), "--client-id", "a", "--superlink", "h:1",
         "--insecure", "--threads", "0"],
    )  # fmt: skip
    assert result.exit_code == ExitCode.USAGE and "--threads" in result.output


def test_short_object_backoff_replaces_flowers_retry_schedule() -> None:
    from flwr.supercore.inflatable.inflatable_utils import ObjectUnavailableError

    from federated.warm_node import OBJECT_PULL_BACKOFF_S, short_object_backoff

    module = SimpleNamespace()
    short_object_backoff(module)
    assert module.pull_objects.keywords == {
        "initial_backoff": OBJECT_PULL_BACKOFF_S[0],
        "backoff_cap": OBJECT_PULL_BACKOFF_S[1],
    }
    calls = {"n": 0}

    def pull(object_id: str) -> bytes:  # not uploaded yet twice, then there
        calls["n"] += 1
        if calls["n"] < 3:
            raise ObjectUnavailableError(object_id)
        return b"content"

    assert module.pull_objects(["id"], pull) == {"id": b"content"}
    assert calls["n"] == 3


def test_the_warm_clientapp_worker_pulls_its_message_with_the_short_backoff() -> None:
    """The worker gets its task when the message is at the node, often before the weights:
    Flower's retry (1 s doubling to 10 s) cost it 3 to 7 s per message."""
    from flwr.supernode.runtime import run_clientapp as flower

    from federated.warm_node import OBJECT_PULL_BACKOFF_S, short_object_backoff

    original = flower.pull_and_inflate_object_from_tree
    try:
        short_object_backoff(flower, name="pull_and_inflate_object_from_tree")
        patched = flower.pull_and_inflate_object_from_tree
        assert patched.func.__name__ == "pull_and_inflate_object_from_tree"
        assert patched.keywords == {
            "initial_backoff": OBJECT_PULL_BACKOFF_S[0],
            "backoff_cap": OBJECT_PULL_BACKOFF_S[1],
        }
    finally:
        flower.pull_and_inflate_object_from_tree = original
    source = (Path(__file__).resolve().parents[2] / "federated" / "warm_node.py").read_text(encoding="utf-8")
    assert source.count('short_object_backoff(flower, name="pull_and_inflate_object_from_tree")') == 2  # both paths


class _Grid:
    """Replies arrive on given pull calls; records the waits between pulls."""

    def __init__(self, arrive_on: dict[int, str]) -> None:
        self.arrive_on, self.pulls = arrive_on, 0

    def push_messages(self, messages: list[Any]) -> list[str]:
        return [m for m in messages]

    def pull_messages(self, ids: list[str]) -> list[Any]:
        self.pulls += 1
        got = self.arrive_on.get(self.pulls)
        if got is None or got not in ids:
            return []
        meta = SimpleNamespace(reply_to_message_id=got)
        return [SimpleNamespace(metadata=meta, has_error=lambda: False)]


def test_exchange_waits_longer_while_nothing_comes_and_short_again_after_a_reply(monkeypatch: Any) -> None:
    waits: list[float] = []
    monkeypatch.setattr(server.STOP, "wait", lambda seconds: waits.append(seconds) or False)
    grid = _Grid({4: "a", 5: "b"})
    replies, stopped = server._exchange(grid, ["a", "b"], timeout=60)
    assert not stopped and [r.metadata.reply_to_message_id for r in replies] == ["a", "b"]
    first, longest = server.PULL_WAIT_S
    assert waits == [first, first * 2, first * 4, first]  # 3 empty pulls, then "a" came: short again
    assert max(waits) <= longest

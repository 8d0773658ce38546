import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_KEY = "test-key-0123456789abcdef-not-a-secret"


@pytest.fixture
def guard_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GUARD_KEY", TEST_KEY)
    return TEST_KEY


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a test module: on a shared 2-core machine more threads make
    small models up to 10x slower. Use with `pytestmark = pytest.mark.usefixtures(...)`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARD_KEY", raising=False)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """`folder`, made here, with a tmpfs mounted on it (mount `options`, e.g. "ro,size=64k");
    the test is skipped where mounting needs a root it does not have."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)

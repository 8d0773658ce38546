import json
from pathlib import Path

import pytest

TEST_KEY = "test-key-0123456789abcdef-not-a-secret"


@pytest.fixture
def guard_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GUARD_KEY", TEST_KEY)
    return TEST_KEY


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARD_KEY", raising=False)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

"""`--max-chars` above spaCy's `max_length` (issue 11, item 9): a text longer than
the pipeline takes is detected in overlapping windows cut at white space, so the
run neither fails with spaCy's E088 traceback nor misses a value on a window
edge."""

import json
import random
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from guard.deid.scrubber import windows
from tests.cli.conftest import StubDetector
from tests.conftest import read_jsonl, write_jsonl

runner = CliRunner()


class SpacyLimited(StubDetector):
    """The stub with spaCy's limit: a text over `_nlp.max_length` raises E088 as spaCy does."""

    max_length = 1_000_000
    calls: list[int] = []

    def __init__(self, policy, **kwargs):
        super().__init__(policy)
        self._nlp = SimpleNamespace(max_length=self.max_length)

    def detect_batch(self, texts, **kwargs):
        for text in texts:
            if len(text) > self._nlp.max_length:
                raise ValueError("[E088] Text of length ... exceeds maximum of ...")
            SpacyLimited.calls.append(len(text))
        return super().detect_batch(texts)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(["the", "ward", "round", "was", "quiet", "today", "and"]) for _ in range(n))


@pytest.mark.parametrize("size", [50, 1000, 5000])
def test_windows_cover_the_text_with_overlap_and_cut_at_white_space(size):
    rng = random.Random(size)
    text = _words(rng, 4000) + " " + "x" * (3 * size) + " " + _words(rng, 100)  # one run with no space at all
    overlap = size // 4
    spans = windows(text, size=size, overlap=overlap)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (a, b), (c, _) in zip(spans, spans[1:]):
        assert b - a <= size and a < c < b  # within the limit, moving forward
        assert b - c >= overlap  # a value shorter than the overlap is whole in one of the two
    inner = [a for a, _ in spans[1:] if text[a - 1 : a + 1] != "xx"]
    assert all(text[a - 1] in " \n\t" for a in inner)  # windows start after white space where there is some


def test_a_text_over_a_million_characters_is_scrubbed_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("guard.deid.scrubber.Detector", SpacyLimited)
    SpacyLimited.calls = []
    text = ("quiet ward " * 110_000) + "Alice wrote to alice@example.org"  # 1.2 million characters
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "long", "text": text}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scrub", str(src), str(out), "--max-chars", "2000000", "-w", "1", "--no-progress"])
    assert result.exit_code == ExitCode.OK, result.output
    (row,) = read_jsonl(out)
    assert row["text"].endswith("<PERSON> wrote to <EMAIL_ADDRESS>") and "Alice" not in row["text"]
    assert max(SpacyLimited.calls) <= 1_000_000 and len(SpacyLimited.calls) >= 2


def test_values_on_a_window_edge_are_found_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(SpacyLimited, "max_length", 400)
    monkeypatch.setattr("guard.deid.scrubber.Detector", SpacyLimited)
    rng = random.Random(3)
    parts = []
    for _ in range(60):
        parts.append(_words(rng, rng.randint(1, 15)))
        parts.append(rng.choice(["Alice", "Bob", "bob@example.org"]))
    text = " ".join(parts)
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": text}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scrub", str(src), str(out), "-w", "1", "--no-progress", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    expected = StubDetector(None).detect_batch([text])[0]
    assert json.loads(result.stdout)["records_changed"] == 1
    (row,) = read_jsonl(out)
    assert not any(name in row["text"] for name in ("Alice", "Bob", "example.org"))
    assert row["text"].count("<PERSON>") + row["text"].count("<EMAIL_ADDRESS>") == len(expected)


@pytest.mark.slow
def test_the_real_detector_finds_values_across_windows(tmp_path, monkeypatch, real_detector):
    monkeypatch.setattr(real_detector._nlp, "max_length", 3000)
    rng = random.Random(5)
    values = ["Ingrid Halvorsen", "ingrid.halvorsen@example.net", "+1 415 555 0132"]
    parts = []
    for i in range(40):
        parts.append(_words(rng, rng.randint(20, 60)) + ".")
        parts.append(f"Contact {values[i % 3]} today.")
    text = " ".join(parts)
    assert len(text) > 3 * 3000
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": text}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scrub", str(src), str(out), "-w", "1", "--no-progress"])
    assert result.exit_code == ExitCode.OK, result.output
    (row,) = read_jsonl(out)
    assert not any(v in row["text"] for v in values)
    assert "Halvorsen" not in row["text"] and "0132" not in row["text"]

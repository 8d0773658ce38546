"""A full disk, an unwritable place or a side output pointed at the input never
costs the earlier good output (issue 11, items 2, 3 and 9): exit ExitCode.OUTPUT (15) naming the
path and the reason, earlier files byte for byte as they were, no temp file."""

import errno
import json
import os
import random

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode
from guard.core.io import TEMP_MARK, AtomicFile
from tests.conftest import mounted_tmpfs, read_jsonl, write_jsonl

runner = CliRunner()
ROWS = [{"id": f"r{i}", "text": f"Alice wrote to bob{i}@example.org about the ward round."} for i in range(400)]
EARLIER = '{"id": "r0", "text": "the earlier good output"}\n'


def scrub(*args: str):
    return runner.invoke(app, ["scrub", *args, "--no-progress", "--workers", "1"])


def _temps(*folders):
    return sorted(p.name for folder in folders for p in folder.iterdir() if TEMP_MARK in p.name)


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", ROWS)


# --------------------------------------------------------------------------- disk full


class _Faulty:
    """A binary file that fails like a full disk at one chosen step."""

    def __init__(self, fh, *, step: str, after: int = 0) -> None:
        self.fh, self.step, self.after, self.written = fh, step, after, 0

    def write(self, data):
        if self.step == "write" and self.written + len(data) > self.after:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.fh.write(data)

    def flush(self):
        if self.step == "flush":
            raise OSError(errno.ENOSPC, "No space left on device")
        self.fh.flush()

    def __getattr__(self, name):
        return getattr(self.fh, name)


def _inject(monkeypatch, *, name: str, step: str, after: int = 0) -> None:
    real_open = AtomicFile.open

    def open_(self):
        fh = real_open(self)
        if self.path.name == name:
            self.fh = _Faulty(fh, step=step, after=after)
        return self.fh

    monkeypatch.setattr(AtomicFile, "open", open_)


def _fail_syscall(monkeypatch, name: str, *, when) -> None:
    real = getattr(os, name)

    def fake(*args):
        if when(*args):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    monkeypatch.setattr(f"guard.core.io.os.{name}", fake)


POINTS = {
    "during_records": lambda mp, out, rep: _inject(mp, name=out.name, step="write", after=3000),
    "at_close": lambda mp, out, rep: _inject(mp, name=out.name, step="flush"),
    "at_fsync": lambda mp, out, rep: _fail_syscall(mp, "fsync", when=lambda fd: True),
    "at_rename": lambda mp, out, rep: _fail_syscall(mp, "replace", when=lambda src, dst: True),
    "report_write": lambda mp, out, rep: _inject(mp, name=rep.name, step="write", after=10),
    "report_close": lambda mp, out, rep: _inject(mp, name=rep.name, step="flush"),
    "report_rename": lambda mp, out, rep: _fail_syscall(
        mp, "replace", when=lambda src, dst: str(dst).endswith("report.json")
    ),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_disk_full_at_any_point_keeps_the_earlier_output_and_report(
    tmp_path, corpus, stub_detector, monkeypatch, point
):
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    out.write_text(EARLIER, encoding="utf-8")
    report.write_text('{"earlier": "report"}\n', encoding="utf-8")
    POINTS[point](monkeypatch, out, report)
    result = scrub(str(corpus), str(out), "--report", str(report))
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "no space left on device" in result.stderr and (
        "out.jsonl" in result.stderr or "report.json" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    if point != "report_rename":  # a failed report rename comes after the corpus rename
        assert out.read_text(encoding="utf-8") == EARLIER
    assert report.read_text(encoding="utf-8") == '{"earlier": "report"}\n'
    assert _temps(tmp_path) == []


def test_report_rename_failure_is_the_only_point_after_the_corpus_is_in_place(
    tmp_path, corpus, stub_detector, monkeypatch
):
    """Renames are the last step and cannot run out of space; if the second one fails
    the first output is complete (never torn) and the message says which file failed."""
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    POINTS["report_rename"](monkeypatch, out, report)
    result = scrub(str(corpus), str(out), "--report", str(report))
    assert result.exit_code == ExitCode.OUTPUT and "report.json" in result.stderr
    assert len(read_jsonl(out)) == len(ROWS) and not report.exists() and _temps(tmp_path) == []


@pytest.fixture
def tiny_disk(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "size=16k") as disk:
        yield disk


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".txt"])
def test_a_real_full_disk_keeps_the_earlier_output_in_every_format(tmp_path, corpus, stub_detector, tiny_disk, suffix):
    out = tiny_disk / f"out{suffix}"
    small = write_jsonl(tmp_path / "small.jsonl", [{"text": "Alice was here."}])
    first = scrub(str(small), str(out), "--text-field", "text")
    assert first.exit_code == ExitCode.OK, first.output
    before = out.read_bytes()
    rng = random.Random(0)  # text that does not compress, so Parquet fills the disk too
    big = write_jsonl(tmp_path / "big.jsonl", [{"text": f"Alice {rng.randbytes(60).hex()}"} for _ in ROWS])
    result = scrub(str(big), str(out))
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "no space left on device" in result.stderr and str(out) in result.stderr
    assert "the earlier file is kept" in result.stderr
    assert out.read_bytes() == before
    assert _temps(tiny_disk) == []


def test_a_full_disk_for_the_report_keeps_the_earlier_output(tmp_path, corpus, stub_detector, tiny_disk):
    out, report = tmp_path / "out.jsonl", tiny_disk / "report.json"
    out.write_text(EARLIER, encoding="utf-8")
    (tiny_disk / "filler").write_bytes(b"\0" * 15 * 1024)
    result = scrub(str(corpus), str(out), "--report", str(report))
    assert result.exit_code == ExitCode.OUTPUT and "report.json" in result.stderr and "no space left" in result.stderr
    assert out.read_text(encoding="utf-8") == EARLIER
    assert not report.exists() and _temps(tmp_path, tiny_disk) == []


# --------------------------------------------------------------------------- unwritable places


def test_output_that_is_a_folder_exits_output_error_and_leaves_nothing(tmp_path, corpus, stub_detector):
    folder = tmp_path / "out.jsonl"
    folder.mkdir()
    result = scrub(str(corpus), str(folder))
    assert result.exit_code == ExitCode.OUTPUT and "is a folder" in result.stderr
    assert list(folder.iterdir()) == [] and _temps(tmp_path) == []


def test_output_in_a_missing_folder_exits_output_error(tmp_path, corpus, stub_detector):
    result = scrub(str(corpus), str(tmp_path / "nowhere" / "out.jsonl"))
    assert result.exit_code == ExitCode.OUTPUT and "does not exist" in result.stderr


def test_read_only_output_location_exits_output_error(tmp_path, corpus, stub_detector):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        result = scrub(str(corpus), str(ro / "out.jsonl"))
        assert result.exit_code == ExitCode.OUTPUT and "read-only file system" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- side outputs and the input


@pytest.mark.parametrize(
    ("command", "extra", "role", "victim"),
    [
        ("scrub", ["OUT", "--report", "IN"], "report", "input"),
        ("scrub", ["OUT", "--on-error", "skip", "--quarantine", "IN"], "quarantine", "input"),
        ("scrub", ["OUT", "--report", "OUT"], "report", "output"),
        ("scrub", ["OUT", "--on-error", "skip", "--quarantine", "OUT"], "quarantine", "output"),
        ("scrub", ["OUT", "--on-error", "skip", "--report", "OUT.quarantine.jsonl"], "report", "quarantine"),
        ("scrub", ["LINK"], "output", "input"),
        ("scrub", ["HARD"], "output", "input"),
        ("scan", ["--report", "IN"], "report", "input"),
        ("scan", ["--report", "LINK"], "report", "input"),
        ("dedup", ["OUT", "--report", "IN"], "report", "input"),
        ("dedup", ["OUT", "--report", "OUT"], "report", "output"),
        ("restore", ["IN"], "output", "input"),
        ("restore", ["HARD"], "output", "input"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else v,
)
def test_a_side_output_that_is_the_input_or_another_output_is_refused_before_writing(
    tmp_path, corpus, stub_detector, guard_key, command, extra, role, victim
):
    out = tmp_path / "out.jsonl"
    out.write_text(EARLIER, encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(corpus)
    os.link(corpus, tmp_path / "hard.jsonl")
    names = {
        "IN": str(corpus),
        "OUT": str(out),
        "LINK": str(tmp_path / "link.jsonl"),
        "HARD": str(tmp_path / "hard.jsonl"),
        "OUT.quarantine.jsonl": str(tmp_path / "out.jsonl.quarantine.jsonl"),
    }
    raw = corpus.read_bytes()
    args = [command, str(corpus), *[names.get(a, a) for a in extra]]
    if command in ("scrub", "scan"):
        args += ["--no-progress", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert f"the {role} would overwrite the {victim}" in result.stderr
    assert corpus.read_bytes() == raw and out.read_text(encoding="utf-8") == EARLIER
    assert _temps(tmp_path) == [] and not (tmp_path / "out.jsonl.quarantine.jsonl").exists()


# --------------------------------------------------------------------------- conversions and odd inputs


def test_jsonl_to_text_that_would_drop_fields_is_refused_unless_asked(tmp_path, corpus, stub_detector):
    out = tmp_path / "out.txt"
    result = scrub(str(corpus), str(out))
    assert result.exit_code == ExitCode.OUTPUT and "in.jsonl:1" in result.stderr and "['id']" in result.stderr
    assert "--drop-fields" in result.stderr and not out.exists() and _temps(tmp_path) == []
    result = scrub(str(corpus), str(out), "--drop-fields")
    assert result.exit_code == ExitCode.OK, result.output
    assert out.read_text(encoding="utf-8").splitlines()[0] == "<PERSON> wrote to <EMAIL_ADDRESS> about the ward round."


def test_csv_to_text_is_refused_before_any_record_is_scrubbed(tmp_path, stub_detector):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,Alice\n", encoding="utf-8")
    result = scrub(str(src), str(tmp_path / "out.txt"))
    assert result.exit_code == ExitCode.OUTPUT and "['id']" in result.stderr


def test_jsonl_with_mixed_fields_to_csv_is_a_located_error(tmp_path, stub_detector):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "a"}, {"id": "2", "text": "b", "note": "c"}])
    result = scrub(str(src), str(tmp_path / "out.csv"))
    assert result.exit_code == ExitCode.OUTPUT and "in.jsonl:2" in result.stderr and "['note']" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.csv").exists()


def test_csv_with_an_unterminated_quote_exits_input_error_and_writes_nothing(tmp_path, stub_detector):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"Alice never closes\n2,Bob\n', encoding="utf-8")
    result = scrub(str(src), str(tmp_path / "out.csv"))
    assert result.exit_code == ExitCode.INPUT and "in.csv:2" in result.stderr and "never closes" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_csv_with_a_duplicate_header_exits_input_error(tmp_path, stub_detector):
    src = tmp_path / "in.csv"
    src.write_text("id,text,id\n1,Alice,2\n", encoding="utf-8")
    result = scrub(str(src), str(tmp_path / "out.csv"))
    assert result.exit_code == ExitCode.INPUT and "in.csv:1" in result.stderr and "['id']" in result.stderr


def test_deeply_nested_json_exits_input_error_with_its_line(tmp_path, stub_detector):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n{"text": "b", "x": ' + "[" * 50_000 + "]" * 50_000 + "}\n", encoding="utf-8")
    result = scrub(str(src), str(tmp_path / "out.jsonl"))
    assert result.exit_code == ExitCode.INPUT and "in.jsonl:2" in result.stderr and "nested" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bom_is_accepted_and_noted_in_the_report(tmp_path, stub_detector):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"text": "Alice"}\n')
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    result = scrub(str(src), str(out), "--report", str(report))
    assert result.exit_code == ExitCode.OK, result.output
    assert read_jsonl(out) == [{"text": "<PERSON>"}] and not out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "byte-order mark" in json.loads(report.read_text(encoding="utf-8"))["notes"][0]
    assert "note: the input starts with a UTF-8 byte-order mark" in result.stdout


def test_max_chars_zero_is_a_bad_option_value(tmp_path, corpus, stub_detector):
    result = scrub(str(corpus), str(tmp_path / "out.jsonl"), "--max-chars", "0")
    assert result.exit_code == ExitCode.ERROR and "--max-chars" in result.stderr


def test_a_report_path_that_is_a_folder_is_refused_before_any_record_is_read(tmp_path, corpus, monkeypatch):
    from tests.cli.conftest import StubDetector

    class MustNotRun(StubDetector):
        def detect_batch(self, texts, **kwargs):
            raise AssertionError("detection ran although the report can never be written")

    monkeypatch.setattr("guard.deid.scrubber.Detector", MustNotRun)
    (tmp_path / "report.json").mkdir()
    result = scrub(str(corpus), str(tmp_path / "out.jsonl"), "--report", str(tmp_path / "report.json"))
    assert result.exit_code == ExitCode.OUTPUT and "report.json: is a folder" in result.stderr
    assert not (tmp_path / "out.jsonl").exists() and _temps(tmp_path) == []

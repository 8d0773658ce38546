"""Fuzz `guard scrub` with random bytes, random JSON and random CSV (issue 11): no
input, output format or option mix ends in a traceback; every exit code is one of
EXIT_CODES; a failed run leaves no output and no temporary file; a successful
one writes exactly the records it counted.

A seeded generator (hypothesis is not installed), in process through the real
entry point: thousands of cases against a stub detector, and a small sample
against guard's real detector (slow)."""

import json
import random
import string

import pytest
import typer
from click.testing import CliRunner

from guard.cli import app
from guard.core.errors import EXIT_CODES, ExitCode
from guard.core.io import TEMP_MARK

runner = CliRunner()
COMMAND = typer.main.get_command(app)  # what `guard` runs, built once (typer's runner rebuilds it per call)
CASES = 3000
REAL_CASES = 40

_BYTES = list(b'{}[]",:\n\r\\ abcdeAB019') + [0x00, 0xFF, 0xC3, 0xA9, 0xEF, 0xBB, 0xBF, 0x09]
_CHARS = string.ascii_letters + string.digits + ' ,"\n\r\t{}[]:\\@.' + "éß中\u2028\x00"
_NAMES = ["text", "id", "note", "", "text ", "Text", "x"]


def _word(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, n)))


def _value(rng: random.Random, depth: int = 0):  # type: ignore[no-untyped-def]
    kind = rng.choice(["str", "str", "int", "float", "null", "bool", "list", "dict"] if depth < 4 else ["str", "int"])
    if kind == "str":
        return rng.choice([_word(rng), "Alice met Bob at a@b.org", "\ud800", ""])
    if kind == "int":
        return rng.choice([0, -1, 2**70, rng.randint(-999, 999)])
    if kind == "float":
        return rng.choice([0.5, -1e300, float("nan")])
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_NAMES): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _random_bytes(rng: random.Random) -> bytes:
    return bytes(rng.choice(_BYTES) for _ in range(rng.randint(0, 200)))


def _random_jsonl(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 6)):
        record = {rng.choice(_NAMES): _value(rng) for _ in range(rng.randint(0, 4))}
        if rng.random() < 0.7:
            record["text"] = rng.choice(["Alice wrote to bob@example.org", _word(rng, 30), 5, None])
        line = json.dumps(record, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.1:
            line = line[: rng.randint(0, len(line))]  # torn
        if rng.random() < 0.05:
            line = "[" * 3000 + "]" * 3000
        lines.append(line)
    blob = "\n".join(lines) + ("\n" if rng.random() < 0.8 else "")
    prefix = b"\xef\xbb\xbf" if rng.random() < 0.1 else b""
    return prefix + blob.encode("utf-8", errors="surrogatepass")


def _random_csv(rng: random.Random) -> bytes:
    width = rng.randint(1, 4)
    header = [rng.choice(_NAMES) for _ in range(width)]
    if rng.random() < 0.7 and "text" not in header:
        header[0] = "text"
    rows = [header]
    for _ in range(rng.randint(0, 6)):
        rows.append([_word(rng) for _ in range(width + rng.choice([0, 0, 0, 1, -1]))])

    def cell(value: str) -> str:
        if rng.random() < 0.5 and any(c in value for c in ',"\n\r'):
            return '"' + value.replace('"', '""') + '"'
        return value  # sometimes left unquoted on purpose

    body = "\n".join(",".join(cell(v) for v in row) for row in rows) + "\n"
    if rng.random() < 0.1:
        body += '9,"never closed\n'
    return body.encode("utf-8", errors="surrogatepass")


GENERATORS = {".jsonl": _random_jsonl, ".csv": _random_csv, ".txt": _random_bytes}


def _case(rng: random.Random, folder):  # type: ignore[no-untyped-def]
    source = rng.choice([".jsonl", ".csv", ".txt", ".jsonl", ".csv"])
    make = GENERATORS[source] if rng.random() < 0.8 else _random_bytes
    src = folder / f"in{source}"
    src.write_bytes(make(rng))
    out = folder / f"out{rng.choice(['.jsonl', '.csv', '.txt', '.parquet'])}"
    args = ["scrub", str(src), str(out), "--workers", "1", "--no-progress", "--json"]
    if rng.random() < 0.5:
        args += ["--on-error", "skip"]
    if rng.random() < 0.3:
        args += ["--drop-fields"]
    if rng.random() < 0.2:
        args += ["--text-field", rng.choice(["id", "note", "text"])]
    if rng.random() < 0.1:
        args += ["--max-chars", str(rng.randint(1, 20))]
    return src, out, args


def _check(result, out, folder, args) -> None:  # type: ignore[no-untyped-def]
    where = f"args={args[1:]!r} input={(folder / args[1].rsplit('/', 1)[-1]).read_bytes()[:300]!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{where}: {result.exception!r}"
    assert result.exit_code in EXIT_CODES, where
    assert "Traceback" not in result.output, where
    assert not [p for p in folder.iterdir() if TEMP_MARK in p.name], where
    if result.exit_code == ExitCode.OK:
        report = json.loads(result.stdout)
        if out.suffix == ".jsonl":
            written = [line for line in out.read_text(encoding="utf-8").split("\n") if line]  # not splitlines: U+2028
            assert len(written) == report["records_read"] - report["records_failed"], where
    else:
        assert not out.exists(), where
        assert len(result.stderr.strip().splitlines()) == 1, f"{where}: {result.stderr}"


def _run(seed: int, cases: int, folder) -> set[int]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    codes = set()
    for _ in range(cases):
        for leftover in folder.iterdir():
            leftover.unlink()
        src, out, args = _case(rng, folder)
        result = runner.invoke(COMMAND, args)
        _check(result, out, folder, args)
        codes.add(result.exit_code)
    return codes


def test_random_inputs_never_end_in_a_traceback(tmp_path, stub_detector):
    codes = _run(20261202, CASES, tmp_path)
    # the generator reaches success, bad input and refused conversions
    assert {ExitCode.OK, ExitCode.INPUT, ExitCode.OUTPUT} <= codes


@pytest.mark.slow
def test_random_inputs_with_the_real_detector(tmp_path, real_detector):
    codes = _run(7, REAL_CASES, tmp_path)
    assert 0 in codes

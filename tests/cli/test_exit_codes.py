"""One exit-code table (issue 11, item 11): README's "Exit codes" section is
`guard.core.errors.EXIT_CODES`, and representative failures of scrub, scan,
dedup and restore return the code the table gives their kind, with one line on
stderr. `python -m tests.cli.test_exit_codes` prints the table for the README."""

import re
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import EXIT_CODES
from guard.core.signals import Stop
from guard.deid.operators import OpContext, make_operator
from tests.conftest import TEST_KEY, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def markdown_table() -> str:
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| exit code | meaning |", "|---:|---|", *rows])


def _readme_table() -> dict[int, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M)}


def test_the_readme_exit_code_table_is_exit_codes():
    assert _readme_table() == EXIT_CODES
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("| exit code | meaning |") == 1


# --------------------------------------------------------------------------- cases


def _files(tmp_path: Path) -> dict[str, str]:
    good = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "Alice wrote."}, {"id": "2", "text": "Bob read."}])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "1", "text": "Alice"}, {"id": "2", "body": "no text"}])
    encrypted = make_operator("encrypt", {}, key=TEST_KEY.encode()).apply("Alice", OpContext("PERSON", "text", 1, {}))
    enc = write_jsonl(tmp_path / "enc.jsonl", [{"text": f"from {encrypted}"}])
    (tmp_path / "policy_bad.toml").write_text('[operators]\nPERSON = "shuffle"\n', encoding="utf-8")
    (tmp_path / "policy_unknown_key.toml").write_text("[detect]\nthreshold = 1\n", encoding="utf-8")
    (tmp_path / "policy_hash.toml").write_text('[operators]\nPERSON = "hash"\n', encoding="utf-8")
    key = tmp_path / "key.txt"
    key.write_text(TEST_KEY + "\n", encoding="utf-8")
    key.chmod(0o644)
    private = tmp_path / "private.key"
    private.write_text(TEST_KEY + "\n", encoding="utf-8")
    private.chmod(0o600)
    names = {"IN": good, "BAD": bad, "ENC": enc, "KEY": key, "PRIVATE": private}
    names |= {"POLICY_BAD": tmp_path / "policy_bad.toml", "POLICY_HASH": tmp_path / "policy_hash.toml"}
    names |= {"POLICY_UNKNOWN_KEY": tmp_path / "policy_unknown_key.toml"}
    names |= {"OUT": tmp_path / "out.jsonl", "REPORT": tmp_path / "report.json"}
    return {k: str(v) for k, v in names.items()}


def _stop_in_detection(monkeypatch, signum):
    from tests.cli.conftest import StubDetector

    class Stops(StubDetector):
        def detect_batch(self, texts, **kwargs):
            raise Stop(signum) if signum != signal.SIGINT else KeyboardInterrupt()

    monkeypatch.setattr("guard.deid.scrubber.Detector", Stops)


def _interrupt_dedup(monkeypatch, signum):
    def stop(text):
        raise Stop(signum)

    monkeypatch.setattr(sys.modules["guard.deid.dedup"], "normalise", stop)  # the package exports dedup()


def _interrupt_restore(monkeypatch, signum):
    def stop(*args, **kwargs):
        raise Stop(signum)

    monkeypatch.setattr(sys.modules["guard.deid.restore"], "decrypt_token", stop)


def _no_datasketch(monkeypatch, signum):
    monkeypatch.setitem(sys.modules, "datasketch", None)


S = ["--workers", "1", "--no-progress"]
CASES = [
    # (command line, expected code, what stderr must say, setup)
    (["scrub", "IN", "OUT", *S], 0, None, None),
    (["scrub", "IN", "OUT", "--max-chars", "0", *S], 1, "--max-chars", None),
    (["scrub", "IN", *S], 2, "Missing argument", None),
    (["scrub", "BAD", "OUT", *S], 3, "bad.jsonl:2, field 'text'", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_BAD", *S], 4, "unknown operator", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_HASH", "--key-file", "KEY", *S], 5, "chmod 600", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_HASH", "--key-file", "PRIVATE", *S], 0, None, None),
    (["scrub", "IN", "IN", *S], 7, "would overwrite the input", None),
    (["scrub", "IN", "OUT", *S], 130, "interrupted by SIGINT", (_stop_in_detection, signal.SIGINT)),
    (["scrub", "IN", "OUT", *S], 143, "terminated by SIGTERM", (_stop_in_detection, signal.SIGTERM)),
    (["scan", "IN", *S], 0, None, None),
    (["scan", "IN", "--workers", "-1", "--no-progress"], 1, "--workers", None),
    (["scan", "IN", "--bogus"], 2, "No such option", None),
    (["scan", "BAD", *S], 3, "bad.jsonl:2", None),
    (["scan", "IN", "--policy", "POLICY_UNKNOWN_KEY", *S], 4, "unknown key(s) ['threshold']", None),
    (["scan", "IN", "--report", "IN", *S], 7, "the report would overwrite the input", None),
    (["scan", "IN", *S], 143, "terminated by SIGTERM", (_stop_in_detection, signal.SIGTERM)),
    (["dedup", "IN", "OUT"], 0, None, None),
    (["dedup", "IN", "OUT", "--threshold", "2"], 1, "threshold", None),
    (["dedup", "IN"], 2, "Missing argument", None),
    (["dedup", "BAD", "OUT"], 3, "bad.jsonl:2, field 'text'", None),
    (["dedup", "IN", "OUT"], 6, "pip install datasketch", (_no_datasketch, 0)),
    (["dedup", "IN", "OUT", "--report", "IN"], 7, "the report would overwrite the input", None),
    (["dedup", "IN", "OUT"], 143, "terminated by SIGTERM", (_interrupt_dedup, signal.SIGTERM)),
    (["restore", "ENC", "OUT"], 0, None, None),
    (["restore", "ENC"], 2, "Missing argument", None),
    (["restore", "BAD", "OUT", "--text-field", "body", "--key-env", "NO_SUCH_KEY_VAR"], 5, "needs the key", None),
    (["restore", "ENC", "OUT", "--key-file", "KEY"], 5, "accessible by others", None),
    (["restore", "ENC", "ENC"], 7, "the output would overwrite the input", None),
    (["restore", "ENC", "OUT"], 130, "interrupted by SIGINT", (_interrupt_restore, signal.SIGINT)),
]


@pytest.mark.parametrize(("argv", "code", "said", "setup"), CASES, ids=[f"{c[0][0]}-{c[1]}" for c in CASES])
def test_each_command_returns_the_documented_code(
    tmp_path, monkeypatch, stub_detector, guard_key, argv, code, said, setup
):
    assert code in EXIT_CODES
    if setup is not None:
        setup[0](monkeypatch, setup[1])
    names = _files(tmp_path)
    result = runner.invoke(app, [names.get(a, a) for a in argv])
    assert result.exit_code == code, (result.output, result.exception)
    if code == 0:
        assert result.stderr == ""
    else:
        assert said in result.stderr
        if code != 2:  # click's usage errors are a framed box; every guard error is one line
            assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not [p for p in tmp_path.iterdir() if ".guard-tmp-" in p.name]


def test_quiet_prints_only_errors(tmp_path, stub_detector):
    names = _files(tmp_path)
    ok = runner.invoke(app, ["-q", "scrub", names["IN"], names["OUT"], *S])
    assert ok.exit_code == 0 and ok.stdout == "" and ok.stderr == ""
    failed = runner.invoke(app, ["-q", "scrub", names["BAD"], names["OUT"], *S])
    assert failed.exit_code == 3 and failed.stdout == "" and "bad.jsonl:2" in failed.stderr
    loud = runner.invoke(app, ["scrub", names["IN"], names["OUT"], *S])
    assert "records read" in loud.stdout  # the summary is back without -q


if __name__ == "__main__":
    print(markdown_table())

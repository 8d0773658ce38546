"""One exit-code table (issue 11, item 11; issue 12): README's "Exit codes" section is
`guard.core.errors.EXIT_CODES`, which gives every `ExitCode` a meaning; representative
failures of scrub, scan, dedup and restore return the code the table gives their kind,
with one line on stderr; every code is raised by some error class and asserted by some
test, and no module writes an exit code as a bare number.
`python -m tests.cli.test_exit_codes` prints the table for the README."""

import re
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import EXIT_CODES, ExitCode
from guard.core.signals import Stop
from guard.deid.operators import OpContext, make_operator
from tests.conftest import TEST_KEY, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("guard", "federated", "audits")
runner = CliRunner()


def markdown_table() -> str:
    rows = [f"| {int(code)} | `{code.name}` | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| exit code | name | meaning |", "|---:|---|---|", *rows])


def _readme_table() -> dict[int, tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): (m[2], m[3]) for m in re.finditer(r"^\| (\d+) \| `(\w+)` \| (.+?) \|$", section, flags=re.M)}


def _sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for d in SOURCES for p in sorted((ROOT / d).rglob("*.py"))}


def _tests() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests").rglob("*.py")))


def test_the_readme_exit_code_table_is_exit_codes():
    assert _readme_table() == {int(code): (code.name, meaning) for code, meaning in EXIT_CODES.items()}
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("| exit code | name | meaning |") == 1


def test_every_exit_code_has_a_meaning_and_an_area():
    assert list(EXIT_CODES) == list(ExitCode)  # both ways, in table order
    for code in ExitCode:
        assert code < 3 or code // 10 in (1, 2, 3, 4) or code > 128, code  # areas: tens digit, or 128 + signal


# codes no guard error class sets: success, click's usage error, and Interrupted's
# ExitCode(128 + signum)
NOT_RAISED = {ExitCode.OK, ExitCode.USAGE, ExitCode.SIGINT, ExitCode.SIGTERM}


def test_every_exit_code_is_raised_somewhere_and_tested():
    source = "\n".join(_sources().values())
    tests = _tests()
    for code in ExitCode:
        if code not in NOT_RAISED:
            assert re.search(rf"exit_code(: int)? = ExitCode\.{code.name}\b", source), f"no error class exits {code!r}"
        assert re.search(rf"ExitCode\.{code.name}\b", tests), f"no test asserts {code!r}"


# a worker process's exit status, never a command's
ALLOWED_LITERAL = {("guard/deid/scrubber.py", "os._exit(1)")}
_LITERAL = re.compile(
    r"exit_code\s*(?::\s*int\s*)?=\s*\d|(?:sys\.exit|os\._exit|SystemExit|typer\.Exit|ctx\.exit|Exit)\(\s*(?:code\s*=\s*)?[1-9]"
)


def test_no_module_sets_a_literal_exit_code_number():
    found = []
    for path, text in _sources().items():
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(text.splitlines(), 1):
            m = _LITERAL.search(line)
            if m and not any(rel == f and snippet in line for f, snippet in ALLOWED_LITERAL):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == [], "exit codes come from guard.core.errors.ExitCode"


def test_no_test_asserts_a_bare_exit_code_number():
    """A failure code is named (`ExitCode.RUN`), never written as its number (0, success, may be)."""
    bare = re.compile(r"\b(?:exit_code|returncode)\s*==\s*[1-9]")
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / "tests").rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []


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
    (["scrub", "IN", "OUT", *S], ExitCode.OK, None, None),
    (["scrub", "IN", "OUT", "--max-chars", "0", *S], ExitCode.ERROR, "--max-chars", None),
    (["scrub", "IN", *S], ExitCode.USAGE, "Missing argument", None),
    (["scrub", "BAD", "OUT", *S], ExitCode.INPUT, "bad.jsonl:2, field 'text'", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_BAD", *S], ExitCode.POLICY, "unknown operator", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_HASH", "--key-file", "KEY", *S], ExitCode.KEY, "chmod 600", None),
    (["scrub", "IN", "OUT", "--policy", "POLICY_HASH", "--key-file", "PRIVATE", *S], ExitCode.OK, None, None),
    (["scrub", "IN", "IN", *S], ExitCode.OUTPUT, "would overwrite the input", None),
    (["scrub", "IN", "OUT", *S], ExitCode.SIGINT, "interrupted by SIGINT", (_stop_in_detection, signal.SIGINT)),
    (["scrub", "IN", "OUT", *S], ExitCode.SIGTERM, "terminated by SIGTERM", (_stop_in_detection, signal.SIGTERM)),
    (["scan", "IN", *S], ExitCode.OK, None, None),
    (["scan", "IN", "--workers", "-1", "--no-progress"], ExitCode.ERROR, "--workers", None),
    (["scan", "IN", "--bogus"], ExitCode.USAGE, "No such option", None),
    (["scan", "BAD", *S], ExitCode.INPUT, "bad.jsonl:2", None),
    (["scan", "IN", "--policy", "POLICY_UNKNOWN_KEY", *S], ExitCode.POLICY, "unknown key(s) ['threshold']", None),
    (["scan", "IN", "--report", "IN", *S], ExitCode.OUTPUT, "the report would overwrite the input", None),
    (["scan", "IN", *S], ExitCode.SIGTERM, "terminated by SIGTERM", (_stop_in_detection, signal.SIGTERM)),
    (["dedup", "IN", "OUT"], ExitCode.OK, None, None),
    (["dedup", "IN", "OUT", "--threshold", "2"], ExitCode.ERROR, "threshold", None),
    (["dedup", "IN"], ExitCode.USAGE, "Missing argument", None),
    (["dedup", "BAD", "OUT"], ExitCode.INPUT, "bad.jsonl:2, field 'text'", None),
    (["dedup", "IN", "OUT"], ExitCode.DEPENDENCY, "datasketch not installed", (_no_datasketch, 0)),
    (["dedup", "IN", "OUT", "--report", "IN"], ExitCode.OUTPUT, "the report would overwrite the input", None),
    (["dedup", "IN", "OUT"], ExitCode.SIGTERM, "terminated by SIGTERM", (_interrupt_dedup, signal.SIGTERM)),
    (["restore", "ENC", "OUT"], ExitCode.OK, None, None),
    (["restore", "ENC"], ExitCode.USAGE, "Missing argument", None),
    (
        ["restore", "BAD", "OUT", "--text-field", "body", "--key-env", "NO_SUCH_KEY_VAR"],
        ExitCode.KEY,
        "needs the key",
        None,
    ),
    (["restore", "ENC", "OUT", "--key-file", "KEY"], ExitCode.KEY, "accessible by others", None),
    (["restore", "ENC", "ENC"], ExitCode.OUTPUT, "the output would overwrite the input", None),
    (["restore", "ENC", "OUT"], ExitCode.SIGINT, "interrupted by SIGINT", (_interrupt_restore, signal.SIGINT)),
]


@pytest.mark.parametrize(("argv", "code", "said", "setup"), CASES, ids=[f"{c[0][0]}-{c[1].name}" for c in CASES])
def test_each_command_returns_the_documented_code(
    tmp_path, monkeypatch, stub_detector, guard_key, argv, code, said, setup
):
    assert code in EXIT_CODES
    if setup is not None:
        setup[0](monkeypatch, setup[1])
    names = _files(tmp_path)
    result = runner.invoke(app, [names.get(a, a) for a in argv])
    assert result.exit_code == code, (result.output, result.exception)
    if code == ExitCode.OK:
        assert result.stderr == ""
    else:
        assert said in result.stderr
        if code != ExitCode.USAGE:  # click's usage errors are a framed box; every guard error is one line
            assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not [p for p in tmp_path.iterdir() if ".guard-tmp-" in p.name]


def test_quiet_prints_only_errors(tmp_path, stub_detector):
    names = _files(tmp_path)
    ok = runner.invoke(app, ["-q", "scrub", names["IN"], names["OUT"], *S])
    assert ok.exit_code == ExitCode.OK and ok.stdout == "" and ok.stderr == ""
    failed = runner.invoke(app, ["-q", "scrub", names["BAD"], names["OUT"], *S])
    assert failed.exit_code == ExitCode.INPUT and failed.stdout == "" and "bad.jsonl:2" in failed.stderr
    loud = runner.invoke(app, ["scrub", names["IN"], names["OUT"], *S])
    assert "records read" in loud.stdout  # the summary is back without -q


if __name__ == "__main__":
    print(markdown_table())

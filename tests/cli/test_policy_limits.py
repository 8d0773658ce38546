"""A policy cannot stall a scrub or reveal what it masks (issue 11, item 10): custom
regexes run under a time limit and a runaway one fails with ExitCode.POLICY (11) naming its
recognizer and the record; operator parameters are range-checked when the policy
loads."""

import pickle
import time

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode, PolicyError
from guard.core.policy import REGEX_TIMEOUT_S, PatternTimeout, parse_policy
from guard.deid.detector import _policy_recognizers
from guard.deid.operators import OpContext, make_operator
from tests.cli.conftest import StubDetector
from tests.conftest import write_jsonl

runner = CliRunner()
RUNAWAY = "(a+)+$"
CARD = "4111-1111-1111-1234"


def _ctx(entity: str = "CREDIT_CARD") -> OpContext:
    return OpContext(entity, "text", 1, {})


def _policy_file(tmp_path, body: str):
    path = tmp_path / "policy.toml"
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- regex time limit


def test_a_runaway_custom_regex_stops_after_the_limit_naming_its_recognizer():
    policy = parse_policy(
        {"recognizers": [{"name": "badge", "entity": "BADGE", "patterns": [r"EMP-\d{6}", RUNAWAY]}]},
        source="p.toml",
    )
    (recognizer,) = _policy_recognizers(policy)
    assert [r.start for r in recognizer.analyze("id EMP-123456", ["BADGE"])] == [3]  # a sane pattern still works
    started = time.monotonic()
    with pytest.raises(PatternTimeout) as e:
        recognizer.analyze("a" * 5000 + "!", ["BADGE"])
    assert time.monotonic() - started < REGEX_TIMEOUT_S + 3
    assert isinstance(e.value, PolicyError) and e.value.exit_code == ExitCode.POLICY
    assert "recognizer 'badge': pattern 2 ran longer than 1 s" in str(e.value)


def test_a_pattern_timeout_crosses_processes_with_its_location():
    error = PatternTimeout(source="p.toml", recognizer="badge", pattern="pattern 1", seconds=1.0)
    located = pickle.loads(pickle.dumps(error.located(line=3, field="text").located(path="in.jsonl")))
    assert "in.jsonl:3, field 'text'" in str(located) and located.recognizer == "badge"


def test_a_timeout_in_the_pipeline_names_the_record_and_exits_policy_error(tmp_path, monkeypatch):
    class Runaway(StubDetector):
        def detect_batch(self, texts, **kwargs):
            if any("aaaa" in t for t in texts):
                raise PatternTimeout(source="p.toml", recognizer="badge", pattern="pattern 1", seconds=1.0)
            return super().detect_batch(texts)

    monkeypatch.setattr("guard.deid.scrubber.Detector", Runaway)
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "fine"}, {"text": "fine too"}, {"text": "a" * 5000 + "!"}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scrub", str(src), str(out), "--workers", "1", "--no-progress", "--on-error", "skip"])
    assert result.exit_code == ExitCode.POLICY, result.output
    assert "recognizer 'badge'" in result.stderr and "in.jsonl:3, field 'text'" in result.stderr
    assert not out.exists()


def test_custom_patterns_are_checked_with_the_regex_module_presidio_runs_them_with():
    policy = parse_policy({"recognizers": [{"name": "word", "entity": "W", "patterns": [r"\p{Lu}\p{Ll}+"]}]})
    assert policy.recognizers[0].patterns == (r"\p{Lu}\p{Ll}+",)


@pytest.mark.slow
def test_a_runaway_policy_regex_fails_a_real_scrub_in_seconds_not_forever(tmp_path):
    policy = _policy_file(
        tmp_path, f'[[recognizers]]\nname = "runaway"\nentity = "RUNAWAY"\npatterns = [\'{RUNAWAY}\']\n'
    )
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "Nothing here."}, {"text": "a" * 5000 + "!"}])
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    result = runner.invoke(
        app, ["scrub", str(src), str(out), "--policy", str(policy), "--workers", "1", "--no-progress"]
    )
    assert result.exit_code == ExitCode.POLICY, result.output
    assert "recognizer 'runaway'" in result.stderr and "in.jsonl:2, field 'text'" in result.stderr
    assert time.monotonic() - started < 60 and not out.exists()


# --------------------------------------------------------------------------- operator parameters


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mask", {"keep_last": -3}, "keep_last must be at least 0, not -3"),
        ("mask", {"keep_first": -1}, "keep_first must be at least 0"),
        ("mask", {"char": "**"}, "char must be one character"),
        ("mask", {"keep_last": True}, "keep_last must be"),
        ("hash", {"length": 4}, "length must be from 8 to 64"),
        ("hash", {"length": 100}, "length must be from 8 to 64"),
        ("hash", {"template": "<{kind}>"}, "not a valid template"),
        ("tag", {"template": "<{type}>"}, "not a valid template"),
        ("date_shift", {"field": "pid", "max_days": 0}, "max_days must be from 1"),
        ("surrogate", {"locale": "xx_XX"}, "unknown locale"),
    ],
)
def test_operator_parameters_out_of_range_fail_when_the_policy_loads(name, params, message):
    with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
        make_operator(name, params, key=b"k" * 32, source="p.toml")


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ({"keep_last": 4}, CARD, "****-****-****-1234"),
        ({"keep_last": 100}, CARD, "****-****-1111-1234"),  # at most half of the 16 digits
        ({"keep_first": 100, "keep_last": 100}, CARD, "****-****-1111-1234"),
        ({"keep_first": 2, "keep_last": 2}, CARD, "41**-****-****-**34"),
        ({"keep_first": 6, "keep_last": 4}, CARD, "4111-****-****-1234"),  # last first, then what is left of half
        ({"keep_last": 4}, "123", "**3"),
    ],
)
def test_mask_never_reveals_more_than_half_of_a_value(params, value, expected):
    masked = make_operator("mask", params, key=None).apply(value, _ctx())
    assert masked == expected
    shown = sum(a == b and a.isalnum() for a, b in zip(masked, value))
    assert shown <= sum(c.isalnum() for c in value) // 2


def test_a_negative_keep_last_stops_scrub_before_any_output(tmp_path, stub_detector):
    policy = _policy_file(tmp_path, '[operators]\nPERSON = { type = "mask", keep_last = -3 }\n')
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "Alice"}])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scrub", str(src), str(out), "--policy", str(policy), "--no-progress"])
    assert result.exit_code == ExitCode.POLICY and "keep_last must be at least 0, not -3" in result.stderr
    assert not out.exists()

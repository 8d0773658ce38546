"""Bad federate input fails before any training, with a clear message and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.cli import app
from guard.core.errors import ExitCode

runner = CliRunner()
NOTES = "examples/clinical_notes.jsonl"


def federate(tmp_path, *overrides: str):
    args = ["federate", "--out", str(tmp_path / "run"), "--set", f'data.path="{NOTES}"']
    for item in overrides:
        args += ["--set", item]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        (['model.name="giant-transformer"'], ExitCode.CONFIG, "tiny-classifier"),
        (['strategy.name="fedmagic"'], ExitCode.CONFIG, "fedadam"),
        (['strategy.name="fedavg"', "strategy.params.eta=0.1"], ExitCode.CONFIG, "no parameter"),
        (['data.label_field="missing_field"'], ExitCode.INPUT, "missing_field"),
        (["dp.target_epsilon=0.01"], ExitCode.BUDGET, "cannot reach epsilon 0.01"),
        (['data.partition="field"', 'data.partition_field="site"', "data.holdout=0.99"], ExitCode.CONFIG, "client"),
    ],
    ids=[
        "unknown_model",
        "unknown_strategy",
        "bad_strategy_param",
        "missing_label",
        "unreachable_epsilon",
        "tiny_client",
    ],
)
def test_bad_federate_input_fails_before_training(tmp_path, overrides, code, message):
    result = federate(tmp_path, *overrides)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_label_names_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in Path(NOTES).read_text(encoding="utf-8").splitlines()][:40]
    rows[6]["label"] = ""
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, ["federate", "--out", str(tmp_path / "run"), "--set", f'data.path="{path}"'])
    assert result.exit_code == ExitCode.INPUT and "notes.jsonl:7" in result.stderr and "'label'" in result.stderr


def test_out_must_be_a_new_run_directory(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}", encoding="utf-8")
    result = federate(tmp_path, "dp.target_epsilon=8")
    assert result.exit_code == ExitCode.OUTPUT and "--resume" in result.stderr


def test_resume_takes_only_a_run_directory(tmp_path):
    result = runner.invoke(app, ["federate", "--resume", str(tmp_path), "--set", "train.rounds=9"])
    assert result.exit_code == ExitCode.ERROR and "--resume takes only" in result.stderr
    result = runner.invoke(app, ["federate", "--resume", str(tmp_path / "nothing")])
    assert result.exit_code == ExitCode.RUN and f"{tmp_path / 'nothing'}: no such run directory" in result.stderr
    result = runner.invoke(app, ["federate", "--resume", str(tmp_path)])
    assert result.exit_code == ExitCode.RUN and "not a guard federate run directory (no config.json)" in result.stderr

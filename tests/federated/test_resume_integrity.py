"""`guard federate --resume` checks what it continues: the corpus against the data the
run recorded, and every run file; the run directory's files are private (0600).

The runs here are prepared with guard's own writers and one finished round is
written as `serve` leaves it, so no test starts Ray (each takes seconds).
"""

from __future__ import annotations

import json
import logging
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from federated.config import parse_config
from federated.integrity import data_segment
from federated.ledger import AccountingStep
from federated.privacy import epsilon_of
from federated.rundir import RunDir
from federated.server import prepare_run
from guard.cli import app
from guard.core.errors import ExitCode, RunError
from guard.core.files import file_sha256

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
runner = CliRunner()


def _rows(n: int) -> list[dict]:
    return [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines()[:n]]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(corpus: Path):
    return parse_config(
        {
            "data": {"path": str(corpus), "partition": "field", "partition_field": "site", "max_length": 32},
            "model": {"name": "tiny-classifier", "params": {"dim": 16, "layers": 1}},
            "train": {"rounds": 3, "batch_size": 8},
            "dp": {"noise_multiplier": 1.0, "accountant": "rdp"},
        }
    )


@pytest.fixture
def run_after_round_1(tmp_path: Path) -> tuple[Path, RunDir]:
    """A run of 3 rounds over a corpus of its own, stopped after round 1."""
    from federated.client import new_ledger_entry
    from federated.models import build_model, trainable_state

    corpus = _write(tmp_path / "notes.jsonl", _rows(120))
    config = _config(corpus)
    run = RunDir(tmp_path / "run")
    prepare_run(config, run, resume=False)
    clients = run.read_clients()
    bundle = build_model(config.model, task=config.data.task, num_labels=len(clients.labels), seed=0)
    run.save_checkpoint(1, trainable_state(bundle.model))
    ledger = run.read_ledger()
    assert ledger is not None
    rows = []
    for cid, plan in sorted(clients.privacy_plan.items()):
        entry = new_ledger_entry(config, cid, int(plan["records"]))
        step = AccountingStep(1, plan["noise_multiplier"], plan["sample_rate"], plan["steps"] // 3)
        history = [(step.noise_multiplier, step.sample_rate, step.steps)]
        ledger = ledger.with_client(entry.with_step(step, epsilon_of(history, entry.delta, entry.accountant)))
        rows.append({"round": 1, "phase": "train", "client": cid, "train_loss": 1.6})
    rows.append({"round": 1, "phase": "aggregate", "train": {}, "evaluate": {}})
    run.write_ledger(ledger)
    run.append_jsonl(run.metrics_file, rows)
    run.write_state(replace(run.read_state(), last_round=1))
    return corpus, run


def _snapshot(run: RunDir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run.ledger_file, run.clients_file, run.state_file, run.metrics_file)}


def _duplicate_site(corpus: Path, site: str, n: int) -> None:
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    _write(corpus, rows + [r for r in rows if r["site"] == site][:n])


# -- item 5: a changed corpus --------------------------------------------------------------


def test_resume_refuses_a_changed_corpus_naming_the_client_its_counts_and_the_hashes(run_after_round_1):
    corpus, run = run_after_round_1
    before = run.read_ledger().segment
    old_hash = file_sha256(corpus)
    _duplicate_site(corpus, "lakeside", 6)
    now = data_segment(_load(run), corpus, from_round=2)
    old, new = before.client("lakeside"), now.client("lakeside")
    assert new.train > old.train and new.duplicates > 0  # the duplicates would have counted as new records
    files = _snapshot(run)

    result = runner.invoke(app, ["federate", "--resume", str(run.path)])

    assert result.exit_code == ExitCode.RUN, result.output
    message = result.stderr
    assert f"client lakeside: {old.train} -> {new.train} training records" in message
    assert f"corpus sha256 {old_hash[:12]} -> {file_sha256(corpus)[:12]}" in message
    assert "--allow-data-change" in message and "Traceback" not in result.output
    assert "northgate" not in message  # unchanged clients are not listed
    assert not any(r["text"][:30] in message for r in _rows(120))  # no record text in the message
    assert _snapshot(run) == files  # nothing written


def test_allow_data_change_starts_a_ledger_segment_and_accounting_goes_on_per_client(run_after_round_1):
    from federated import client

    corpus, run = run_after_round_1
    config = run.load_config()
    prepare_run(None, run, resume=True)  # unchanged corpus: passes and writes nothing new
    assert len(run.read_ledger().segments) == 1
    _duplicate_site(corpus, "lakeside", 6)

    prepare_run(None, run, resume=True, allow_data_change=True)

    ledger = run.read_ledger()
    first, second = ledger.segments
    assert (first.from_round, second.from_round) == (1, 2)
    assert second.corpus_sha256 == file_sha256(corpus) != first.corpus_sha256
    lakeside = second.client("lakeside")
    assert lakeside.train > first.client("lakeside").train and lakeside.duplicates > 0
    assert second.changes[0].startswith("corpus sha256") and any("client lakeside" in c for c in second.changes)
    assert second.client("northgate") == first.client("northgate")
    assert ledger.client("lakeside").records == lakeside.train
    clients = run.read_clients()
    assert list(clients.segments) == json.loads(ledger.dumps())["segments"]
    summary = {c.client_id: c for c in clients.clients}
    assert summary["lakeside"].train == lakeside.train
    assert run.read_state().corpus_sha256 == second.corpus_sha256
    prepare_run(None, run, resume=True)  # the new data is now the run's: no flag needed again

    # round 2 on the new data: the new sample rate is a new history entry, epsilon stays cumulative
    partition = clients.client_ids.index("lakeside")
    reply = client.train(
        config_json=json.dumps(config.to_json()),
        canaries_json="",
        ledger_json=ledger.dumps(),
        weights=run.load_checkpoint(1),
        server_round=2,
        partition_id=partition,
        num_partitions=None,
    )
    entry = reply.ledger_entry
    (r1, rate1), (r2, rate2) = [(h.round, h.sample_rate) for h in entry.history]
    assert (r1, r2) == (1, 2) and rate2 < rate1
    assert entry.epsilon == pytest.approx(epsilon_of(entry.opacus_history(), entry.delta, "rdp"), rel=1e-9)
    assert entry.epsilon > ledger.client("lakeside").epsilon


def test_a_client_added_or_gone_needs_a_new_run_even_with_allow_data_change(run_after_round_1):
    corpus, run = run_after_round_1
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    _write(corpus, [r for r in rows if r["site"] != "riverview"])
    files = _snapshot(run)
    result = runner.invoke(app, ["federate", "--resume", str(run.path), "--allow-data-change"])
    assert (
        result.exit_code == ExitCode.RUN and "client riverview is gone" in result.stderr and "new run" in result.stderr
    )
    assert _snapshot(run) == files


def _load(run: RunDir):
    from federated.data import load_federated_dataset

    config = run.load_config()
    return load_federated_dataset(config.data, seed=config.train.seed, canaries=run.read_canaries())


# -- item 7: a torn metrics line, damaged run files -----------------------------------------


def test_a_torn_last_metrics_line_is_ignored_and_resume_repairs_the_file(run_after_round_1, caplog):
    _, run = run_after_round_1
    complete = run.metrics_file.read_bytes()
    with open(run.metrics_file, "ab") as fh:
        fh.write(b'{"round": 2, "phase": "train", "client": "lakesi')  # a kill during an append

    with caplog.at_level(logging.WARNING, logger="federated.rundir"):
        rows = run.read_jsonl(run.metrics_file)
    assert [r["round"] for r in rows] == [1] * len(rows) and len(rows) == complete.count(b"\n")
    assert "torn last line" in caplog.text and "metrics.jsonl:" in caplog.text

    prepare_run(None, run, resume=True)
    assert run.metrics_file.read_bytes() == complete
    assert stat.S_IMODE(run.metrics_file.stat().st_mode) == 0o600
    assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_damage_inside_metrics_is_a_run_error_with_file_and_line(run_after_round_1):
    _, run = run_after_round_1
    lines = run.metrics_file.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:20]
    run.metrics_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"metrics\.jsonl:2: "):
        run.read_jsonl(run.metrics_file)
    result = runner.invoke(app, ["federate", "--resume", str(run.path)])
    assert result.exit_code == ExitCode.RUN and f"{run.metrics_file}:2" in result.stderr


@pytest.mark.parametrize(
    "name",
    ["config.json", "state.json", "ledger.json", "clients.json", "canaries.json", "checkpoints/round-001.safetensors"],
)
def test_a_truncated_run_file_is_a_run_error_naming_it_without_traceback(run_after_round_1, name):
    _, run = run_after_round_1
    path = run.path / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["federate", "--resume", str(run.path)])
    assert result.exit_code == ExitCode.RUN, result.output
    assert str(path) in result.stderr and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_missing_ledger_or_checkpoint_is_a_run_error(run_after_round_1):
    _, run = run_after_round_1
    run.checkpoint(1).unlink()
    result = runner.invoke(app, ["federate", "--resume", str(run.path)])
    assert (
        result.exit_code == ExitCode.RUN and "round-001.safetensors" in result.stderr and "is missing" in result.stderr
    )
    run.ledger_file.unlink()
    result = runner.invoke(app, ["federate", "--resume", str(run.path)])
    assert result.exit_code == ExitCode.RUN and f"{run.ledger_file}: the privacy ledger is missing" in result.stderr


# -- item 11: a missing run directory, private files ----------------------------------------


def test_resume_of_a_missing_run_directory_names_it_exit_run_error(tmp_path):
    missing = tmp_path / "no-such-run"
    result = runner.invoke(app, ["federate", "--resume", str(missing)])
    assert result.exit_code == ExitCode.RUN and f"{missing}: no such run directory" in result.stderr
    assert not missing.exists()


def test_every_run_file_is_created_0600(run_after_round_1):
    _, run = run_after_round_1
    run.append_jsonl(run.failures_file, [{"round": 1, "phase": "train", "client": "lakeside", "reason": "x"}])
    files = [p for p in run.path.rglob("*") if p.is_file()]
    assert {"metrics.jsonl", "failures.jsonl", "ledger.json", "round-001.safetensors"} <= {p.name for p in files}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}

    run.metrics_file.chmod(0o644)  # a log an older guard created
    run.append_jsonl(run.metrics_file, [{"round": 1, "phase": "note"}])
    assert stat.S_IMODE(run.metrics_file.stat().st_mode) == 0o600

"""The one reader of a run directory (issue 12): typed clients, state, ledger, canaries
and logs, each located on damage, with no ML library imported."""

import json

import pytest

from guard.core.errors import ExitCode, RunError
from guard.core.ledger import AccountingStep, ClientLedger, PrivacyLedger
from guard.core.rundir import Canary, ClientInfo, ClientsFile, RunReader, RunState, canaries_to_json

CLIENTS = {
    "summary": {
        "schema_version": 1,
        "task": "classification",
        "labels": ["no", "yes"],
        "num_clients": 2,
        "train": 30,
        "holdout": 6,
        "clients": [
            {
                "client_id": "lakeside",
                "train": 10,
                "holdout": 2,
                "canary_examples": 1,
                "train_labels": {"no": 6, "yes": 4},
                "holdout_labels": {"no": 1, "yes": 1},
            },
            {
                "client_id": "riverview",
                "train": 20,
                "holdout": 4,
                "canary_examples": 0,
                "train_labels": {"no": 10, "yes": 10},
                "holdout_labels": {"no": 2, "yes": 2},
            },
        ],
    },
    "labels": ["no", "yes"],
    "privacy_plan": {"lakeside": {"noise_multiplier": 1.1}, "riverview": {"noise_multiplier": 0.9}},
    "segments": [{"from_round": 1, "corpus_sha256": "ab" * 32, "clients": []}],
}


@pytest.fixture
def run(tmp_path):
    path = tmp_path / "run"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"config": {}, "config_hash": "x", "versions": {}}), encoding="utf-8")
    (path / "clients.json").write_text(json.dumps(CLIENTS), encoding="utf-8")
    (path / "state.json").write_text(json.dumps({"last_round": 1, "rounds": 3, "config_hash": "x"}), encoding="utf-8")
    ledger = PrivacyLedger(
        dp_enabled=True,
        clients=(
            ClientLedger("lakeside", 10, "rdp", 1e-5, 1.0, "ghost", False, 8.0, (AccountingStep(1, 1.1, 0.1, 10),)),
        ),
    )
    (path / "ledger.json").write_text(ledger.dumps(), encoding="utf-8")
    canaries = [Canary("c0", "123456789", "my account number is 123456789", 2, "lakeside")]
    (path / "canaries.json").write_text(json.dumps(canaries_to_json(canaries)), encoding="utf-8")
    (path / "metrics.jsonl").write_text('{"round": 1, "phase": "aggregate", "loss": 0.5}\n{"round": 2, "ph', "utf-8")
    return RunReader(path)


def test_the_reader_returns_typed_contents(run):
    run.require()
    clients = run.read_clients()
    assert isinstance(clients, ClientsFile) and clients.client_ids == ("lakeside", "riverview")
    assert clients.clients[0] == ClientInfo("lakeside", 10, 2, 1, {"no": 6, "yes": 4}, {"no": 1, "yes": 1})
    assert clients.labels == ("no", "yes") and clients.privacy_plan["riverview"]["noise_multiplier"] == 0.9
    assert clients.to_json() == CLIENTS  # the writer's format, unchanged
    assert run.read_state() == RunState(1, 3, "x")
    ledger = run.read_ledger()
    assert isinstance(ledger, PrivacyLedger) and ledger.client("lakeside").records == 10
    (canary,) = run.read_canaries()
    assert canary.inserted and canary.repeats == 2 and "123456789" not in repr(canary)
    assert run.read_metrics() == [{"round": 1, "phase": "aggregate", "loss": 0.5}]  # torn last line dropped
    assert run.read_failures() == [] and run.read_model_meta() == {}


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("clients.json", '{"summary": {"clients": []}, "labels": []}', "clients.json: the client summary is damaged"),
        ("clients.json", '{"summary": {"clients": [{"client_id": 3, "train": 1}]}, "labels": []}', "is damaged"),
        ("clients.json", '{"summary": ', "clients.json: the client summary is not valid JSON (line 1"),
        ("state.json", '{"last_round": 9, "rounds": 3, "config_hash": "x"}', "state.json: the run state is damaged"),
        ("canaries.json", '{"schema_version": 7}', "canaries.json: the canary file is damaged"),
        ("metrics.jsonl", '{"round": 1}\nnot json\n{"round": 2}\n', "metrics.jsonl:2: metrics.jsonl line is not"),
    ],
    ids=["no_clients", "bad_client", "torn_json", "state_out_of_range", "canary_version", "metrics_line"],
)
def test_damage_is_a_run_error_naming_the_file(run, name, content, said):
    (run.path / name).write_text(content, encoding="utf-8")
    read = {
        "clients.json": run.read_clients,
        "state.json": run.read_state,
        "canaries.json": run.read_canaries,
        "metrics.jsonl": run.read_metrics,
    }[name]
    with pytest.raises(RunError) as info:
        read()
    assert said in str(info.value) and info.value.exit_code == ExitCode.RUN


def test_a_missing_run_directory_is_named(tmp_path):
    with pytest.raises(RunError, match="no such run directory"):
        RunReader(tmp_path / "nothing").require()
    with pytest.raises(RunError, match=r"not a guard federate run directory \(no config.json\)"):
        RunReader(tmp_path).require()


def test_federated_rundir_extends_the_reader():
    from federated.rundir import RunDir

    assert issubclass(RunDir, RunReader)

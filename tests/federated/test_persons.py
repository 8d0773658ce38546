"""The person behind the records (issue 14): `[data] person_field`, `[dp] unit`, the
holdout split by person, person counts in clients.json, the ledger's unit and statements,
the group-privacy bound, persons shared between clients (keyed hashes) and the report and
model card wording. No raw person id may appear in any file a run, report or card writes."""

from __future__ import annotations

import json
import math
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from federated.config import CanaryConfig, ConfigError, DataConfig, Partition, parse_config
from federated.data import (
    MIN_TRAIN,
    canary_person,
    load_federated_dataset,
    make_canaries,
    person_counts,
    person_hash,
    shared_persons,
    with_canaries,
)
from guard.core.errors import InputError
from guard.core.ledger import (
    AccountingStep,
    ClientLedger,
    PrivacyLedger,
    SharedPersons,
    group_privacy,
    vacuous,
)
from guard.core.rundir import ClientInfo, ClientsFile
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
PATIENT_IDS = sorted({json.loads(line)["patient_id"] for line in NOTES.read_text(encoding="utf-8").splitlines()})


def _by_site(**changes: object) -> DataConfig:
    base = dict(
        path=str(NOTES), partition=Partition.field, partition_field="site", person_field="patient_id", holdout=0.25
    )
    return DataConfig(**{**base, **changes})  # type: ignore[arg-type]


def _config(data: dict | None = None, dp: dict | None = None):
    return parse_config({"data": {"path": "notes.jsonl", **(data or {})}, "dp": dp or {}}, check_names=False)


# -- config ---------------------------------------------------------------------------------------------


def test_a_person_unit_sets_the_person_field_and_keeps_old_configs_hash():
    config = _config(dp={"unit": "patient_id"})
    assert config.data.person_field == "patient_id" and config.dp.unit == "patient_id"
    plain = _config()
    assert plain.dp.unit == "record" and plain.data.person_field is None
    assert plain.config_hash() == _config(dp={"unit": "record", "max_records_per_person": 8}).config_hash()
    assert "unit" not in plain.to_json()["dp"] and "person_field" not in plain.to_json()["data"]


@pytest.mark.parametrize(
    ("data", "dp", "words"),
    [
        ({"person_field": "patient_id"}, {"unit": "site"}, "[dp] unit = 'site' but [data] person_field"),
        ({}, {"unit": "patient_id", "max_records_per_person": 0}, "[dp] max_records_per_person must be at least 1"),
        ({"person_field": " "}, {}, "[data] person_field is empty"),
        ({}, {"unit": ""}, "[dp] unit is empty"),
        ({"person_field": "text"}, {}, "[data] person_field 'text' is also the text or label field"),
    ],
)
def test_a_bad_unit_or_person_field_is_a_config_error_naming_the_key(data, dp, words):
    with pytest.raises(ConfigError) as err:
        _config(data, dp)
    assert words in err.value.message


# -- reading and splitting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "missing or empty"), ("  ", "missing or empty"), (40113, "a int; expected a string")],
)
def test_a_bad_person_value_names_file_line_and_field_never_the_value(tmp_path, value, reason):
    rows = [{"text": f"note {i}", "label": "a" if i % 2 else "b", "pid": f"Q{i:05d}"} for i in range(12)]
    rows[6] = {**rows[6], "pid": value}
    if value is None:
        del rows[6]["pid"]
    path = write_jsonl(tmp_path / "notes.jsonl", rows)
    with pytest.raises(InputError) as err:
        load_federated_dataset(DataConfig(path=str(path), num_clients=1, person_field="pid"), seed=0)
    text = str(err.value)
    assert "notes.jsonl" in text and ":7" in text and "pid" in text and reason in text
    assert "40113" not in text and "Q0000" not in text


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("partition", ["field", "iid"])
def test_the_person_level_holdout_never_splits_a_person(seed, partition):
    cfg = _by_site(partition=Partition(partition), num_clients=3)
    dataset = load_federated_dataset(cfg, seed=seed)
    assert sum(len(c.train) + len(c.holdout) for c in dataset.clients) == 504
    for client in dataset.clients:
        train, held = {e.person for e in client.train}, {e.person for e in client.holdout}
        assert None not in train | held
        assert not train & held, client.client_id
        n = len(client.train) + len(client.holdout)
        assert len(client.train) >= MIN_TRAIN and len(client.holdout) >= 1
        assert abs(len(client.holdout) - 0.25 * n) <= 9  # whole persons: within the largest person's records
    again = load_federated_dataset(cfg, seed=seed)
    assert [[e.line for e in c.holdout] for c in again.clients] == [
        [e.line for e in c.holdout] for c in dataset.clients
    ]


def test_a_small_client_keeps_its_training_records_or_fails_naming_the_client(tmp_path):
    # one client of 4 records: persons of 1, 1 and 2 records -> one of the singles is held out
    rows = [
        {"text": "a b", "label": "x", "pid": "A1", "site": "small"},
        {"text": "c d", "label": "y", "pid": "B2", "site": "small"},
        {"text": "e f", "label": "x", "pid": "C3", "site": "small"},
        {"text": "g h", "label": "y", "pid": "C3", "site": "small"},
    ]
    path = write_jsonl(tmp_path / "small.jsonl", rows)
    cfg = DataConfig(path=str(path), partition=Partition.field, partition_field="site", person_field="pid")
    client = load_federated_dataset(cfg, seed=0).clients[0]
    assert len(client.holdout) == 1 and len(client.train) == 3
    # one person only: holding it out leaves nothing to train on
    one = write_jsonl(tmp_path / "one.jsonl", [{**r, "pid": "A1"} for r in rows])
    with pytest.raises(ConfigError) as err:
        load_federated_dataset(replace(cfg, path=str(one)), seed=0)
    assert "'small'" in err.value.message and "1 person(s)" in err.value.message and "A1" not in err.value.message


def test_person_counts_of_the_example_corpus_and_canary_persons():
    dataset = load_federated_dataset(_by_site(), seed=0)
    summary = dataset.summary()
    assert summary["persons"] == {"field": "patient_id", "persons": 193, "persons_several": 140, "largest_person": 9}
    for info, client in zip(summary["clients"], dataset.clients):
        counts = person_counts(client.train)
        assert (info["persons"], info["persons_several"], info["largest_person"]) == (
            counts.persons,
            counts.persons_several,
            counts.largest_person,
        )
    canaries = make_canaries(CanaryConfig(count=1, repeats=(1, 5)), client_ids=dataset.client_ids, seed=0)
    planted = with_canaries(dataset, canaries, seed=0)
    copies = [e for c in planted.clients for e in c.train if e.canary_id is not None]
    assert {e.person for e in copies} == {canary_person(c.canary_id) for c in canaries}
    assert all(e.person == canary_person(e.canary_id) for e in copies)
    first = planted.summary()
    assert first["persons"] == summary["persons"]  # the corpus counts leave canaries out
    assert first["clients"][0]["persons"] == summary["clients"][0]["persons"] + 2
    # without a person field, nothing has a person (canaries included)
    plain = load_federated_dataset(_by_site(person_field=None), seed=0)
    plain = with_canaries(plain, canaries, seed=0)
    assert all(e.person is None for c in plain.clients for e in (*c.train, *c.holdout))
    assert "persons" not in plain.summary() and "persons" not in plain.summary()["clients"][0]


def test_clients_json_without_person_counts_still_reads():
    old = {"client_id": "a", "train": 3, "holdout": 1, "canary_examples": 0, "train_labels": {}, "holdout_labels": {}}
    info = ClientInfo.from_json(old)
    assert info.persons is None and info.to_json() == old
    new = ClientInfo.from_json({**old, "persons": 2, "persons_several": 1, "largest_person": 2})
    assert (new.persons, new.persons_several, new.largest_person) == (2, 1, 2)
    summary = {"task": "classification", "clients": [old]}
    assert ClientsFile.from_json({"summary": summary, "labels": []}).persons is None


def test_shared_persons_are_found_by_keyed_hashes():
    dataset = load_federated_dataset(_by_site(partition=Partition.iid, num_clients=3), seed=0)
    salt = b"s" * 32
    pairs = shared_persons(dataset, salt)
    direct = []
    for i, a in enumerate(dataset.clients):
        for b in dataset.clients[i + 1 :]:
            n = len({e.person for e in a.train} & {e.person for e in b.train})
            if n:
                direct.append((a.client_id, b.client_id, n))
    assert pairs == direct and pairs  # an iid split spreads patients over clients
    assert shared_persons(load_federated_dataset(_by_site(), seed=0), salt) == []  # one site per patient
    assert person_hash(salt, "P1") != person_hash(b"t" * 32, "P1") and len(person_hash(salt, "P1")) == 64


# -- the ledger ------------------------------------------------------------------------------------------


def test_group_privacy_is_the_documented_bound():
    assert group_privacy(1.0, 1e-5, 1) == (1.0, 1e-5)
    eps, delta = group_privacy(0.5, 1e-6, 3)
    assert eps == 1.5 and delta == pytest.approx(3 * math.exp(1.0) * 1e-6)
    eps, delta = group_privacy(8.0, 1e-3, 9)
    assert eps == 72.0 and delta == pytest.approx(9 * math.exp(64.0) * 1e-3) and vacuous(delta)
    assert group_privacy(8.0, 1e-3, 200) == (1600.0, math.inf)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError):
            group_privacy(1.0, 1e-5, bad)  # type: ignore[arg-type]


def _entry(cid: str, eps: float, *, unit: str = "record", largest: int | None = None, several: int | None = None):
    return ClientLedger(
        client_id=cid,
        records=100,
        accountant="prv",
        delta=1e-3,
        max_grad_norm=1.0,
        clipping="ghost",
        secure_mode=False,
        target_epsilon=8.0,
        history=(AccountingStep(1, 1.0, 0.1, 30),),
        epsilon=eps,
        unit=unit,
        persons=None if largest is None else 40,
        persons_several=several,
        largest_person=largest,
    )


def test_a_person_unit_statement_names_the_field_and_the_client():
    ledger = PrivacyLedger(
        clients=(_entry("a", 2.0, unit="patient_id"), _entry("b", 3.5, unit="patient_id")), person_field="patient_id"
    )
    text = ledger.statement()
    assert text.startswith("Each patient_id on client b is protected by (3.50, 1.0e-03)-differential privacy")
    assert "person-level DP-SGD" in text and "No patient_id trains on two clients" in text
    assert ledger.unit == "patient_id" and ledger.group_bound() is None
    shared = replace(ledger, shared_persons=(SharedPersons(("a", "b"), 4),))
    assert "4 on a and b, up to (5.50, 2.0e-03) by basic composition" in shared.statement()
    assert "composes across those clients" in shared.statement()


def test_a_record_unit_statement_with_persons_gives_the_count_and_the_group_bound():
    small = PrivacyLedger(
        clients=(_entry("a", 0.5, largest=3, several=10), _entry("b", 0.4, largest=2, several=5)),
        person_field="patient_id",
    )
    text = small.statement()
    assert text.startswith("Each training record is protected by (0.50, 1.0e-03)-differential privacy")
    assert "The unit is one record, not one patient_id: 15 patient_id value(s) have several training records" in text
    eps, delta = group_privacy(0.5, 1e-3, 3)
    assert f"is ({eps:.2f}, {delta:.1e})-DP." in text and "most records of one patient_id is 3 (on a)" in text
    big = replace(small, clients=(_entry("a", 8.0, largest=9, several=30),))
    assert "epsilon 72.00 with a delta above 1, which is vacuous" in big.statement()


def test_a_ledger_from_before_units_loads_and_says_what_it_said():
    entry = {
        "client_id": "a",
        "records": 100,
        "accountant": "rdp",
        "delta": 1e-3,
        "max_grad_norm": 1.0,
        "clipping": "ghost",
        "secure_mode": False,
        "target_epsilon": None,
        "history": [{"round": 1, "noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 30}],
        "epsilon": 1.5,
        "exhausted": False,
        "note": "",
    }
    old = {"schema_version": 2, "mechanism": "DP-SGD (Opacus), record-level, per client", "clients": [entry]}
    ledger = PrivacyLedger.from_json({**old, "user_level": None, "dp_enabled": True, "segments": []})
    assert ledger.clients[0].unit == "record" and ledger.clients[0].persons is None and ledger.person_field is None
    assert ledger.statement() == (
        "Each training record is protected by (1.50, 1.0e-03)-differential privacy or better: every client ran "
        "DP-SGD on its own records, and the largest epsilon spent by any client is 1.50 (a, RDP accountant). "
        "Clients hold disjoint records, so a record's guarantee is its own client's."
    )
    again = PrivacyLedger.from_json(json.loads(ledger.dumps()))
    assert again == ledger and json.loads(ledger.dumps())["schema_version"] == 3


# -- a run directory, its report and card --------------------------------------------------------------


def _make_run(folder: Path, *, dp: dict, partition: dict) -> Path:
    """A run directory written with guard's writers (as tests/audits/runs.make_run), no training:
    the ledger records one round per client with the planned noise, stamped with the unit."""
    from federated.client import new_ledger_entry
    from federated.models import build_model, save_model
    from federated.privacy import epsilon_of
    from federated.rundir import RunDir, RunState
    from federated.server import prepare_run, with_persons

    config = parse_config(
        {
            "data": {"path": str(NOTES), "label_field": "label", "holdout": 0.25, "max_length": 16, **partition},
            "model": {"name": "tiny-classifier", "params": {"dim": 8, "layers": 1}},
            "train": {"rounds": 1, "batch_size": 16},
            "dp": {"enabled": True, "noise_multiplier": 0.8, "accountant": "rdp", **dp},
            "canaries": {"count": 1, "repeats": [1, 4], "references": 2, "digits": 5},
        },
        source="tests/federated/test_persons.py",
    )
    run = RunDir(folder)
    prepare_run(config, run, resume=False)
    clients = run.read_clients()
    bundle = build_model(config.model, task=config.data.task, num_labels=len(clients.labels), seed=0)
    save_model(bundle, run.model_dir, labels=list(clients.labels))
    ledger = run.read_ledger()
    assert ledger is not None
    rows: list[dict] = []
    for client_id, plan in sorted(clients.privacy_plan.items()):
        entry = new_ledger_entry(config, client_id, int(plan["records"]))
        step = AccountingStep(1, float(plan["noise_multiplier"]), float(plan["sample_rate"]), int(plan["steps"]))
        epsilon = epsilon_of([(step.noise_multiplier, step.sample_rate, step.steps)], entry.delta, entry.accountant)
        ledger = ledger.with_client(with_persons(entry.with_step(step, epsilon), config, clients))
        rows.append({"round": 1, "phase": "train", "client": client_id, "epsilon": epsilon, "train_loss": 1.6})
    rows.append({"round": 1, "phase": "aggregate", "train": {"epsilon_max": ledger.max_epsilon}, "evaluate": {}})
    run.append_jsonl(run.metrics_file, rows)
    run.write_ledger(ledger)
    run.write_state(RunState(1, 1, config.config_hash(), finished=True))
    return folder


@pytest.fixture(scope="module")
def record_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_run(
        tmp_path_factory.mktemp("persons") / "run",
        dp={},
        partition={"partition": "field", "partition_field": "site", "person_field": "patient_id"},
    )


def _no_patient_id(folder: Path) -> None:
    pattern = re.compile("|".join(re.escape(p) for p in PATIENT_IDS).encode("ascii"))
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        found = pattern.search(path.read_bytes())
        assert found is None, f"{path.relative_to(folder)} holds a patient id"


def test_a_record_unit_run_records_persons_and_its_report_states_unit_count_and_group_bound(record_run, tmp_path):
    from federated.card import build_card
    from federated.rundir import RunDir
    from guard.release import write_report

    run = RunDir(record_run)
    ledger = run.read_ledger()
    assert ledger is not None and ledger.person_field == "patient_id" and ledger.shared_persons == ()
    assert {c.unit for c in ledger.clients} == {"record"} and all(c.persons for c in ledger.clients)
    salt = run.person_salt_file
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600 and len(bytes.fromhex(salt.read_text().strip())) == 32
    clients = run.read_clients()
    assert clients.persons is not None and (clients.persons.persons, clients.persons.persons_several) == (193, 140)

    report, paths = write_report(record_run, tmp_path / "report")
    privacy = report.content.privacy
    assert privacy["unit"] == "record" and privacy["person_field"] == "patient_id"
    bound = privacy["group_bound"]
    worst = max(
        (c for c in ledger.clients if c.largest_person),
        key=lambda c: group_privacy(c.epsilon, c.delta, c.largest_person),
    )
    assert bound["k"] == worst.largest_person and bound["group_epsilon"] == pytest.approx(bound["k"] * worst.epsilon)
    page = report.html()
    assert "Privacy unit: <b>one record</b>" in page
    assert "<b>140 of 193</b> have several records" in page
    assert f"{bound['k']} records of one patient_id" in page and "group-privacy bound" in page
    assert "The unit is one record, not one patient_id" in page
    card = build_card(run, run.load_config()).text()
    assert "140 of 193 patient_id values in the corpus have several records" in card
    assert "Group-privacy bound for the largest group" in card
    assert "record-level differential privacy" in card
    _no_patient_id(record_run)
    _no_patient_id(tmp_path / "report")
    assert not re.search("|".join(PATIENT_IDS), card)


def test_a_person_unit_run_names_the_field_and_finds_shared_patients(tmp_path):
    from federated.card import build_card
    from federated.rundir import RunDir
    from guard.release import build_report

    folder = _make_run(tmp_path / "run", dp={"unit": "patient_id"}, partition={"partition": "iid", "num_clients": 2})
    run = RunDir(folder)
    ledger = run.read_ledger()
    assert ledger is not None and ledger.unit == "patient_id" and "person-level (patient_id)" in ledger.mechanism
    dataset = load_federated_dataset(run.load_config().data, seed=0)
    a, b = dataset.clients
    assert ledger.shared_persons == (
        SharedPersons((a.client_id, b.client_id), len({e.person for e in a.train} & {e.person for e in b.train})),
    )
    plan = run.read_clients().privacy_plan[a.client_id]
    assert plan["persons"] == len({e.person for e in a.train}) + 2  # two canary persons on the first client
    text = ledger.statement()
    assert text.startswith("Each patient_id on client ") and "composes across those clients" in text
    report = build_report(folder)
    assert "Privacy unit: <b>one patient_id (all of its records)</b>" in report.html()
    assert any("person-level within each client" in note for note in report.content.limitations)
    card = build_card(run, run.load_config()).text()
    assert "person-level (patient_id) differential privacy" in card and "composes across the two clients" in card
    _no_patient_id(folder)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("unit", "partition", "words"),
    [
        ("record", 'partition = "field"\npartition_field = "site"', "The unit is one record, not one patient_id"),
        ("patient_id", 'partition = "iid"\nnum_clients = 2', "composes across those clients"),
    ],
)
def test_a_federated_run_with_a_person_field_states_the_unit_and_writes_no_patient_id(tmp_path, unit, partition, words):
    import os
    import subprocess
    import sys

    config = tmp_path / "federate.toml"
    config.write_text(
        f"""[data]
path = "{NOTES}"
label_field = "label"
{partition}
person_field = "patient_id"
max_length = 32
[model]
name = "tiny-classifier"
params = {{ dim = 16, layers = 1 }}
[train]
rounds = 1
batch_size = 16
[dp]
target_epsilon = 8.0
unit = "{unit}"
[canaries]
count = 1
repeats = [1, 4]
""",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(config), "--out", str(run)],
        cwd=ROOT,
        env={**os.environ, "FLWR_DISABLE_UPDATE_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ledger = PrivacyLedger.from_json(json.loads((run / "ledger.json").read_text(encoding="utf-8")))
    assert ledger.clients and all(c.unit == unit and c.persons for c in ledger.clients)
    assert words in ledger.statement()
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert "140 of 193 patient_id values in the corpus have several records" in card
    _no_patient_id(run)
    assert not re.search("|".join(PATIENT_IDS), result.stdout + result.stderr)

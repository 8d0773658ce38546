"""Person-level membership inference in `guard audit privacy`: a person is a member
when all their records trained and a non-member when all were held out. On a planted
case (real comments, synthetic persons of 3 records each, random labels) a model that
memorised the member persons' records flags those persons; one that saw nothing stays
near chance. Person ids never reach the findings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audits import AuditReport, PrivacyAuditOptions, run_privacy_audit
from audits.membership import balanced_in_mask, grouped_in_mask, person_scores
from federated.config import DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.models import build_model, save_model
from federated.task import train_client
from guard.core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
REDDIT = ROOT / "examples" / "redditbias_topics.jsonl"
LABELS = ["a", "b", "c", "d"]
PER_PERSON = 3
PERSONS = 40  # each side
FAST = PrivacyAuditOptions(bootstrap=50, references=0)


def _person_id(i: int) -> str:
    return f"PX-{i:04d}-7731"  # distinctive, so a leak into the findings would be found


@pytest.fixture(scope="module")
def persons(tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """80 synthetic persons of 3 comments each (seeded), labels drawn at random:
    the first 40 persons train, the other 40 are held out."""
    texts = [json.loads(line)["text"] for line in REDDIT.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(texts), size=2 * PERSONS * PER_PERSON, replace=False)
    rows = [
        {"text": texts[j], "label": LABELS[int(rng.integers(len(LABELS)))], "pid": _person_id(i // PER_PERSON)}
        for i, j in enumerate(chosen)
    ]
    folder = tmp_path_factory.mktemp("persons")
    cut = PERSONS * PER_PERSON
    for name, part in (("train", rows[:cut]), ("holdout", rows[cut:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return folder / "train.jsonl", folder / "holdout.jsonl", rows[:cut]


def _classifier(folder: Path, train_rows: list[dict], epochs: int) -> Path:
    bundle = build_model(
        ModelConfig("tiny-classifier", {"dim": 32, "dropout": 0.0}),
        task=Task.classification,
        num_labels=len(LABELS),
        seed=0,
    )
    if epochs:
        examples = [Example(r["text"], LABELS.index(r["label"]), i + 1) for i, r in enumerate(train_rows)]
        train_client(
            bundle,
            examples,
            train=TrainConfig(local_epochs=epochs, batch_size=16, lr=1e-2),
            dp=DPConfig(enabled=False),
            ledger=None,
            round=1,
            global_state=None,
            max_length=32,
        )
    return save_model(bundle, folder, labels=LABELS)


def _audit(model: Path, train: Path, holdout: Path) -> AuditReport:
    return run_privacy_audit(model_dir=model, train=train, holdout=holdout, person_field="pid", options=FAST)


def test_a_model_that_memorised_persons_flags_them(persons, tmp_path) -> None:
    train, holdout, rows = persons
    report = _audit(_classifier(tmp_path / "memorised", rows, 40), train, holdout)
    auc = report.find("membership_person_loss", "auc")[0]
    tpr = report.find("membership_person_loss", "tpr_at_0.01_fpr")[0]
    assert auc.value > 0.9 and auc.evidence["ci95"][0] > 0.75
    assert tpr.value >= 0.3  # random labels learnt by heart: most member persons score above every non-member
    assert auc.evidence["level"] == "person" and auc.evidence["person_field"] == "pid"
    assert auc.evidence["members"] == PERSONS and auc.evidence["non_members"] == PERSONS
    assert auc.evidence["member_records"] == PERSONS * PER_PERSON
    assert auc.evidence["most_records_per_person"] == PER_PERSON
    assert "mean of their records" in auc.evidence["aggregation"]
    assert auc.evidence["epsilon_lower_bound"] > 0.5
    # no claim: the person-level bound joins the empirical epsilon
    assert "membership_person_loss" in report.find("empirical_epsilon", "lower_bound")[0].evidence["per_attack"]
    # the record-level attack stays, labelled
    assert report.find("membership_loss", "auc")[0].evidence["level"] == "record"
    assert report.subject["audited_member_persons"] == PERSONS
    assert {"roc_membership_loss", "roc_membership_person_loss"} <= set(report.plots)
    written = report.write(tmp_path / "privacy.json").read_text(encoding="utf-8")
    assert "PX-" not in written and "7731" not in written


def test_a_model_that_saw_nothing_stays_near_chance_on_persons(persons, tmp_path) -> None:
    train, holdout, rows = persons
    report = _audit(_classifier(tmp_path / "fresh", rows, 0), train, holdout)
    auc = report.find("membership_person_loss", "auc")[0]
    assert auc.evidence["ci95"][0] < 0.5 < auc.evidence["ci95"][1]
    assert report.find("membership_person_loss", "tpr_at_0.01_fpr")[0].value <= 0.1
    assert auc.evidence["epsilon_lower_bound"] < 0.5


def test_release_evidence_takes_the_person_level_attack_too(persons, tmp_path) -> None:
    from audits.privacy import release_evidence

    train, holdout, rows = persons
    report = _audit(_classifier(tmp_path / "m", rows, 0), train, holdout)
    evidence = release_evidence(report)
    assert set(evidence) == {
        "empirical_epsilon_lower_bound",
        "max_canary_exposure",
        "membership_tpr_at_0.001_fpr",
        "membership_tpr_at_0.01_fpr",
        "membership_auc",
    }
    assert {f.check for f in evidence["membership_auc"]} == {"membership_loss", "membership_person_loss"}


def test_persons_on_both_sides_are_left_out_and_counted(persons, tmp_path) -> None:
    train, holdout, rows = persons
    mixed = tmp_path / "holdout.jsonl"
    lines = holdout.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["pid"] = rows[0]["pid"]  # one held-out record of a training person
    mixed.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    report = _audit(_classifier(tmp_path / "m", rows, 0), train, mixed)
    auc = report.find("membership_person_loss", "auc")[0]
    assert auc.evidence["persons_left_out_on_both_sides"] == 1
    assert auc.evidence["members"] == PERSONS - 1
    assert auc.evidence["non_members"] == PERSONS  # the held-out person who lost a record is still all out


def test_too_few_persons_skips_the_person_attack_with_the_reason(persons, tmp_path) -> None:
    train, holdout, rows = persons
    few = tmp_path / "holdout.jsonl"
    lines = holdout.read_text(encoding="utf-8").splitlines()[: 3 * PER_PERSON]
    few.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = _audit(_classifier(tmp_path / "m", rows, 0), train, few)
    assert not report.find("membership_person_loss")
    assert "at least 4 member and 4 non-member persons" in report.skipped["membership_person_loss"]
    assert report.find("membership_loss", "auc")  # the record-level attack still runs


def test_a_record_without_its_person_names_file_line_and_field_not_the_value(persons, tmp_path) -> None:
    train, holdout, rows = persons
    bad = tmp_path / "holdout.jsonl"
    lines = holdout.read_text(encoding="utf-8").splitlines()
    second = json.loads(lines[1])
    second["pid"] = 17
    bad.write_text("\n".join([lines[0], json.dumps(second), *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        _audit(_classifier(tmp_path / "m", rows, 0), train, bad)
    assert e.value.line == 2 and e.value.field == "pid" and str(bad) in str(e.value)


def test_reference_models_take_or_leave_a_person_whole() -> None:
    groups = np.array([0, 0, 1, 2, 2, 2, 3])
    mask = grouped_in_mask(groups, 4, seed=3)
    for g in range(4):
        cols = mask[:, groups == g]
        assert (cols == cols[:, :1]).all()  # all of a person's records in or out together
    assert (mask[:, [0, 2, 3, 6]].sum(axis=0) == 2).all()  # each person IN for half the models
    assert (grouped_in_mask(np.arange(9), 4, seed=1) == balanced_in_mask(9, 4, seed=1)).all()
    with pytest.raises(ValueError):
        grouped_in_mask(np.array([0, 2]), 4, seed=0)


def test_person_score_is_the_mean_of_the_persons_record_scores() -> None:
    scores = np.array([1.0, 3.0, -2.0, 0.5, 0.5, 2.0])
    assert person_scores(scores, [[0, 1], [2], [3, 4, 5]]).tolist() == [2.0, -2.0, 1.0]
    with pytest.raises(ValueError):
        person_scores(scores, [[0], []])


def _target(*, unit: str, dp: bool = True):  # type: ignore[no-untyped-def]
    """A Target (no model needed) over 5 + 5 persons of 2 records each, with a run config."""
    from audits.target import Target
    from federated.config import parse_config

    notes = ROOT / "examples" / "clinical_notes.jsonl"
    config = parse_config(
        {
            "data": {"path": str(notes), "label_field": "label", "person_field": "patient_id"},
            "model": {"name": "tiny-classifier"},
            "dp": {"enabled": dp, "unit": unit, "target_epsilon": 8.0},
        },
        source="tests/audits/test_person_audit.py",
    )
    examples = [Example(f"note {i}", 0, i + 1, person=_person_id(i // 2)) for i in range(20)]
    return Target(
        bundle=None,
        members=tuple(examples[:10]),
        non_members=tuple(examples[10:]),
        config=config,
        person_field="patient_id",
    )


@pytest.mark.parametrize(
    ("unit", "dp", "dp_unit", "tests_claim"),
    [("patient_id", True, "patient_id", True), ("record", True, "record", False), ("record", False, None, True)],
    ids=["person_level_dp", "record_level_dp", "no_dp"],
)
def test_the_dp_unit_labels_canaries_and_decides_what_the_person_bound_tests(unit, dp, dp_unit, tests_claim) -> None:
    from audits.privacy import _canary_unit, person_sample

    target = _target(unit=unit, dp=dp)
    labels = _canary_unit(target)
    assert labels["dp_unit"] == dp_unit and labels["dp_enabled"] is dp
    assert labels["canary_unit"] == "person" and labels["person_field"] == "patient_id"
    sample = person_sample(target, max_persons=100, seed=0, claimed=dp)
    assert sample.tests_claim is tests_claim  # a record-level claim is not what a person-level bound tests
    assert len(sample.members) == 5 and len(sample.non_members) == 5
    assert all(len(p) == 2 for p in (*sample.members, *sample.non_members))
    assert "PX-" not in repr(sample)


@pytest.fixture(scope="module")
def person_run(tmp_path_factory) -> Path:
    """A `guard federate` run directory of the example notes with [data] person_field =
    "patient_id" and record-level DP, written with guard's own writers but without the
    training (the final model is the untrained one; tests/audits/runs.py does the same
    without persons)."""
    from federated.client import new_ledger_entry
    from federated.config import parse_config
    from federated.data import load_federated_dataset
    from federated.ledger import AccountingStep, PrivacyLedger
    from federated.models import build_model, save_model
    from federated.privacy import epsilon_of
    from federated.rundir import RunDir, RunState
    from federated.server import prepare_run

    folder = tmp_path_factory.mktemp("person-run") / "run"
    config = parse_config(
        {
            "data": {
                "path": str(ROOT / "examples" / "clinical_notes.jsonl"),
                "label_field": "label",
                "partition": "iid",
                "num_clients": 2,
                "holdout": 0.4,
                "max_length": 32,
                "max_records": 120,
                "person_field": "patient_id",
            },
            "model": {"name": "tiny-classifier", "params": {"dim": 16, "layers": 1}},
            "train": {"rounds": 1, "batch_size": 16, "seed": 0},
            "dp": {"enabled": True, "noise_multiplier": 1.0, "target_epsilon": None, "accountant": "rdp"},
            "canaries": {"count": 2, "references": 2, "digits": 4},
        },
        source="tests/audits/test_person_audit.py",
    )
    run = RunDir(folder)
    prepare_run(config, run, resume=False)
    dataset = load_federated_dataset(config.data, seed=0)
    bundle = build_model(config.model, task=config.data.task, num_labels=len(dataset.labels), seed=0)
    save_model(bundle, run.model_dir, labels=list(dataset.labels))
    plan = json.loads(run.clients_file.read_text(encoding="utf-8"))["privacy_plan"]
    ledger = PrivacyLedger(dp_enabled=True)
    for client_id, p in sorted(plan.items()):
        entry = new_ledger_entry(config, client_id, int(p["records"]))
        step = AccountingStep(1, float(p["noise_multiplier"]), float(p["sample_rate"]), int(p["steps"]))
        epsilon = epsilon_of([(step.noise_multiplier, step.sample_rate, step.steps)], entry.delta, entry.accountant)
        ledger = ledger.with_client(entry.with_step(step, epsilon))
    run.write_ledger(ledger)
    run.write_state(RunState(1, 1, config.config_hash(), finished=True))
    return folder


def test_a_run_with_persons_gets_person_level_attacks_with_reference_models_by_person(person_run, tmp_path) -> None:
    options = PrivacyAuditOptions(bootstrap=20, references=2, exposure_samples=50)
    report = run_privacy_audit(person_run, options=options)
    for check in ("membership_person_loss", "membership_person_reference"):
        auc = report.find(check, "auc")[0]
        assert auc.evidence["level"] == "person" and auc.evidence["person_field"] == "patient_id"
        assert auc.evidence["members"] >= 4 and auc.evidence["non_members"] >= 4
        assert auc.evidence["epsilon_bound_tests_claim"] is False  # the claim is record-level
    assert report.find("membership_reference", "auc")[0].evidence["reference_split"] == "by person"
    claim = report.find("claimed_epsilon", "epsilon")[0]
    assert claim.evidence["unit"] == "record" and claim.evidence["person_field"] == "patient_id"
    for f in report.find("canary_exposure"):
        assert f.evidence["canary_unit"] == "person" and f.evidence["dp_unit"] == "record"
    bound = report.find("empirical_epsilon", "lower_bound")[0]
    assert set(bound.evidence["per_attack"]) == {"membership_loss", "membership_reference"}
    assert "group-privacy bound" in bound.evidence["person_level_not_compared"]
    written = report.write(tmp_path / "privacy.json").read_text(encoding="utf-8")
    notes = (ROOT / "examples" / "clinical_notes.jsonl").read_text(encoding="utf-8").splitlines()
    persons = {json.loads(x)["patient_id"] for x in notes}
    assert not any(p in written for p in persons)

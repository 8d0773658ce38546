"""`guard audit privacy` on real models and real text (RedditBias comments):
a model that has seen nothing scores at chance, an overfitted one is caught,
memorized records are extracted, and a false DP claim is flagged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audits import AuditError, AuditReport, PrivacyAuditOptions, run_privacy_audit
from audits.extraction import extract
from federated.config import DPConfig, ModelConfig, Task, TrainConfig
from federated.data import Example
from federated.models import build_model, save_model
from federated.task import train_client
from guard.core.errors import ExitCode, InputError

ROOT = Path(__file__).resolve().parents[2]
REDDIT = ROOT / "examples" / "redditbias_topics.jsonl"
LABELS = ["gender", "orientation", "race", "religion"]
FAST = PrivacyAuditOptions(bootstrap=50, references=0)


def _guard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """400 comments drawn at random (seeded): 200 members, 200 non-members."""
    rows = [json.loads(line) for line in REDDIT.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(0)
    chosen = [rows[i] for i in rng.choice(len(rows), size=400, replace=False)]
    folder = tmp_path_factory.mktemp("split")
    for name, part in (("train", chosen[:200]), ("holdout", chosen[200:])):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for r in part:
                fh.write(json.dumps({"text": r["text"], "label": r["label"]}) + "\n")
    return folder / "train.jsonl", folder / "holdout.jsonl", chosen[:200]


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
            train=TrainConfig(local_epochs=epochs, batch_size=32, lr=3e-3),
            dp=DPConfig(enabled=False),
            ledger=None,
            round=1,
            global_state=None,
            max_length=48,
        )
    return save_model(bundle, folder, labels=LABELS)


def test_a_model_that_has_seen_nothing_scores_at_chance(split, tmp_path) -> None:
    train, holdout, rows = split
    report = run_privacy_audit(
        model_dir=_classifier(tmp_path / "fresh", rows, 0), train=train, holdout=holdout, options=FAST
    )
    auc = report.find("membership_loss", "auc")[0]
    assert auc.evidence["ci95"][0] < 0.5 < auc.evidence["ci95"][1]
    assert report.find("membership_loss", "tpr_at_0.01_fpr")[0].value <= 0.05
    assert report.find("empirical_epsilon", "lower_bound")[0].value < 0.5
    assert report.find("claimed_epsilon")[0].value is None  # no ledger: nothing claimed
    assert set(report.skipped) == {"canary_exposure", "membership_reference", "extraction"}


@pytest.mark.slow
def test_an_overfitted_model_is_caught(split, tmp_path) -> None:
    train, holdout, rows = split
    report = run_privacy_audit(
        model_dir=_classifier(tmp_path / "overfit", rows, 30), train=train, holdout=holdout, options=FAST
    )
    auc = report.find("membership_loss", "auc")[0]
    assert auc.value > 0.75 and auc.evidence["ci95"][0] > 0.6
    assert report.find("empirical_epsilon", "lower_bound")[0].value > 0.5


def test_labels_outside_the_models_classes_name_file_line_and_field(split, tmp_path) -> None:
    train, _, rows = split
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"text": "a comment", "label": "gender"})
        + "\n"
        + json.dumps({"text": "another", "label": "sports"})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        run_privacy_audit(model_dir=_classifier(tmp_path / "m", rows, 0), train=train, holdout=bad, options=FAST)
    assert e.value.line == 2 and e.value.field == "label" and str(bad) in str(e.value)


def test_cli_rejects_a_folder_that_is_no_model_and_a_run_without_a_model(tmp_path, split) -> None:
    train, holdout, _ = split
    r = _guard(
        "audit",
        "privacy",
        "--model",
        str(tmp_path),
        "--train",
        str(train),
        "--holdout",
        str(holdout),
        "--out",
        str(tmp_path / "f.json"),
    )
    assert r.returncode == ExitCode.RUN and "neither a guard model folder" in r.stderr
    r = _guard("audit", "privacy", str(tmp_path))
    assert r.returncode == ExitCode.RUN and "config.json" in r.stderr
    assert not (tmp_path / "f.json").exists()


@pytest.mark.slow
def test_greedy_extraction_finds_memorized_records_and_their_pii() -> None:
    """A tiny causal LM trained to memorize 12 records gives their continuations back;
    held-out records of the same form are not reproduced."""
    names = [
        "alice walker",
        "bruno diaz",
        "chen wei",
        "dana smith",
        "emeka obi",
        "fatima khan",
        "goran ilic",
        "hana sato",
        "ivan petrov",
        "julia roberts",
        "kofi mensah",
        "lena berg",
        "mario rossi",
        "nadia ali",
        "oscar wilde",
        "priya nair",
    ]
    texts = [
        f"the patient {n} called from {5550100 + 37 * i} about the invoice number {7700 + i} today"
        for i, n in enumerate(names)
    ]
    members, non_members = texts[:12], texts[12:]
    bundle = build_model(
        ModelConfig("tiny-gpt", {"dim": 64, "dropout": 0.0}), task=Task.causal_lm, num_labels=None, seed=0
    )
    examples = [Example(t, None, i + 1) for i, t in enumerate(members)]
    train_client(
        bundle,
        examples,
        train=TrainConfig(local_epochs=120, batch_size=12, lr=1e-2),
        dp=DPConfig(enabled=False),
        ledger=None,
        round=1,
        global_state=None,
        max_length=32,
    )
    pii = {n: "PERSON" for n in names[:12]} | {str(5550100 + 37 * i): "PHONE_NUMBER" for i in range(12)}
    own = [[n, str(5550100 + 37 * i)] for i, n in enumerate(names[:12])]
    r = extract(bundle, members, non_members, pii=pii, record_pii=own, prefix=4, suffix=8, max_length=32)
    assert r.members == 12 and r.non_members == 4
    assert r.member_exact >= 10
    assert r.non_member_exact == 0
    assert r.pii_emitting >= 10 and set(r.pii_types) <= {"PERSON", "PHONE_NUMBER"}
    # each record's own phone number from its own prompt; from a held-out prompt, not the paired record's
    trials, hits, base_trials, base_hits = r.own_pii
    assert trials == 12 and hits >= 10 and base_trials == 4 and base_hits <= 1
    assert r.baseline_pii_generations == 4


# -- a guard federate run, audited through the CLI --------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    config = folder / "federate.toml"
    config.write_text(
        f"""
[data]
path = "{REDDIT}"
label_field = "label"
partition = "iid"
num_clients = 2
holdout = 0.5
max_length = 40
max_records = 400

[model]
name = "tiny-classifier"
params = {{ dim = 32, dropout = 0.0 }}

[train]
rounds = 2
local_epochs = 12
batch_size = 32
lr = 0.003

[dp]
enabled = false

[canaries]
count = 3
repeats = [1, 8]
references = 6
digits = 5
""",
        encoding="utf-8",
    )
    run = folder / "run"
    r = _guard("federate", "--config", str(config), "--out", str(run))
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    return run


@pytest.mark.slow
def test_audit_of_a_federate_run_writes_findings_without_secrets(run_dir) -> None:
    out = run_dir / "privacy.json"
    r = _guard("audit", "privacy", str(run_dir), "--references", "2", "--out", str(out))
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    report = AuditReport.read(out)
    checks = {f.check for f in report.findings}
    assert {
        "claimed_epsilon",
        "canary_exposure",
        "membership_loss",
        "membership_reference",
        "empirical_epsilon",
    } <= checks
    assert report.skipped["extraction"].startswith("the model is a classifier")
    assert report.find("membership_loss", "auc")[0].value > 0.6  # 24 passes over 200 records: overfitted
    reference = report.find("canary_exposure", "mean_exposure", "reference")[0]
    assert reference.value < 4.0  # unused canaries: ~1.44 bits expected of 16.6
    assert {"roc_membership_loss", "roc_membership_reference", "exposure_by_repeats"} <= set(report.plots)
    secrets = [c["secret"] for c in json.loads((run_dir / "canaries.json").read_text(encoding="utf-8"))["canaries"]]
    texts = [json.loads(line)["text"] for line in REDDIT.read_text(encoding="utf-8").splitlines()[:400]]
    written = out.read_text(encoding="utf-8") + r.stdout + r.stderr
    assert not any(s in written for s in secrets)
    assert not any(t in written for t in texts if len(t) > 30)


@pytest.mark.slow
def test_an_empirical_epsilon_above_the_claim_is_flagged_as_a_privacy_bug(run_dir, tmp_path) -> None:
    """The run trained without DP; a ledger that claims epsilon 0.05 for it must be caught."""
    import shutil

    from federated.ledger import AccountingStep, ClientLedger, PrivacyLedger

    fake = tmp_path / "fake"
    shutil.copytree(run_dir, fake)
    claim = PrivacyLedger(
        dp_enabled=True,
        clients=tuple(
            ClientLedger(
                client_id=f"client-00{i}",
                records=100,
                accountant="prv",
                delta=1e-5,
                max_grad_norm=1.0,
                clipping="flat",
                secure_mode=False,
                target_epsilon=0.05,
                history=(AccountingStep(1, 50.0, 0.3, 10),),
                epsilon=0.05,
            )
            for i in range(2)
        ),
    )
    (fake / "ledger.json").write_text(claim.dumps(), encoding="utf-8")
    out = tmp_path / "privacy.json"
    r = _guard("audit", "privacy", str(fake), "--references", "0", "--out", str(out))
    assert r.returncode == ExitCode.PRIVACY_CLAIM_VIOLATED, r.stderr[-2000:]
    assert "PRIVACY BUG" in r.stdout + r.stderr
    finding = AuditReport.read(out).find("empirical_epsilon", "lower_bound")[0]
    assert finding.passed is False and finding.severity == "critical" and finding.value > 0.05


@pytest.mark.parametrize(
    ("change", "message"),
    [({"checks": ("membership", "telepathy")}, "unknown privacy check"), ({"references": 1}, "even number")],
    ids=["an_unknown_check", "an_odd_number_of_reference_models"],
)
def test_options_refuse(split, tmp_path, change, message) -> None:
    train, holdout, rows = split
    with pytest.raises(AuditError, match=message):
        run_privacy_audit(
            model_dir=_classifier(tmp_path / "m", rows, 0),
            train=train,
            holdout=holdout,
            options=replace(FAST, **change),
        )


def test_a_local_hugging_face_causal_lm_is_audited_with_extraction(split, tmp_path) -> None:
    """`--model` with a Hugging Face checkpoint folder (a tiny GPT-2 made here, offline)."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from federated.models import minilm_path

    train, holdout, _ = split
    folder = tmp_path / "hf-gpt2"
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "f.json"
    r = _guard(
        "audit",
        "privacy",
        "--model",
        str(folder),
        "--task",
        "causal_lm",
        "--train",
        str(train),
        "--holdout",
        str(holdout),
        "--out",
        str(out),
        "--threads",
        "1",
    )
    assert r.returncode == ExitCode.OK, r.stderr[-3000:]
    report = AuditReport.read(out)
    assert report.subject["model"] == "hf" and report.subject["task"] == "causal_lm"
    assert report.find("extraction", "exact_suffix_rate")[0].evidence["records"] > 0
    excess = report.find("extraction", "exact_suffix_excess")[0]  # an untrained model: chance
    assert excess.value == 0.0 and excess.evidence["ci"][0] <= 0 <= excess.evidence["ci"][1]
    assert excess.evidence["verdict"] == "not distinguishable from chance"
    assert "extraction" not in report.skipped
    auc = report.find("membership_loss", "auc")[0]
    assert auc.evidence["ci95"][0] < 0.5 < auc.evidence["ci95"][1]  # an untrained model: chance

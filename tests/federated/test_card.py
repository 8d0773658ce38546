"""The model card: run/model/README.md is a Hugging Face model card (YAML front matter that
`huggingface_hub.ModelCard.load` reads), built from the run and the `[card]` section, and
the release report's MODEL_CARD.md is the same card plus the audit results."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from federated.card import NOT_STATED, TAGS, build_card, write_card
from federated.config import CardConfig, ConfigError, ModelConfig, Task, parse_config
from federated.rundir import RunDir
from guard.core.errors import ExitCode
from tests.audits.runs import make_run

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
INTENDED = "Sorting synthetic test notes into five departments, for a demo."
CLINICAL = ("patient", "triage", "notes into")  # what the old card hard-coded


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run directory (tiny-classifier, 2 clients, 1 round, canaries) written with guard's writers."""
    return make_run(tmp_path_factory.mktemp("card-run") / "run")


def _with_card(run_dir: Path, **card: object) -> tuple[RunDir, object]:
    run = RunDir(run_dir)
    config = run.load_config()
    return run, replace(config, card=replace(config.card, **card))


def _secrets(run_dir: Path) -> list[str]:
    return [c.secret for c in RunDir(run_dir).read_canaries()]


# -- [card] in the config ------------------------------------------------------------------------------


def test_card_section_parses_into_a_frozen_card_config():
    config = parse_config(
        {
            "data": {"path": "notes.jsonl"},
            "card": {"license": "apache-2.0", "language": ["en"], "tags": ["demo"], "intended_use": INTENDED},
        },
        check_names=False,
    )
    assert config.card == CardConfig(license="apache-2.0", language=("en",), tags=("demo",), intended_use=INTENDED)
    assert config.to_json()["card"]["intended_use"] == INTENDED


def test_a_config_without_card_keeps_its_old_hash():
    """Runs written before [card] existed have no "card" in config.json: their hash must not change."""
    config = parse_config({"data": {"path": "notes.jsonl"}}, check_names=False)
    assert "card" not in config.to_json()
    with_card = replace(config, card=CardConfig(license="mit"))
    assert with_card.config_hash() != config.config_hash()
    assert parse_config(with_card.to_json(), check_names=False).config_hash() == with_card.config_hash()


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ({"tags": [1]}, "[card] tags must be a list of non-empty strings"),
        ({"language": "en"}, "[card.language] must be a list"),
        ({"intended": "x"}, "[card] unknown key(s) ['intended']"),
    ],
)
def test_a_bad_card_section_names_the_key(card, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({"data": {"path": "notes.jsonl"}, "card": card}, source="f.toml", check_names=False)


# -- the card of a run ---------------------------------------------------------------------------------


def test_written_card_loads_with_huggingface_hub_and_carries_the_privacy_claim(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    run, config = _with_card(copy, license="apache-2.0", language=("en",), tags=("demo",), intended_use=INTENDED)
    path = write_card(run, config)
    assert path == copy / "model" / "README.md"

    card = ModelCard.load(path)
    data = card.data
    assert data.license == "apache-2.0" and data.language == ["en"]
    assert set(TAGS) | {"demo"} <= set(data.tags)
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.base_model is None  # tiny-classifier is trained from scratch

    ledger = run.read_ledger()
    corpus = run.read_clients().segments[-1]["corpus_sha256"]  # this run's ledger was rewritten without them
    assert data.datasets == ["clinical_notes"]
    assert data["guard"]["dataset"]["sha256"] == corpus and len(corpus) == 64
    results = {r.metric_type: r for r in data.eval_results}
    assert results["epsilon"].metric_value == pytest.approx(ledger.max_epsilon)
    assert results["delta"].metric_value == pytest.approx(max(c.delta for c in ledger.clients))
    assert results["epsilon"].metric_config == "rdp" and results["epsilon"].dataset_revision == corpus
    assert {"epsilon", "delta"} <= set(data.metrics)
    per_client = {c["client"]: c["epsilon"] for c in data["guard"]["privacy"]["per_client"]}
    assert per_client == pytest.approx({c.client_id: c.epsilon for c in ledger.clients})

    text = card.text
    assert f"## Intended use\n\n{INTENDED}" in text
    assert f"## Out-of-scope use\n\n{NOT_STATED}" in text and f"## Limitations\n\n{NOT_STATED}" in text
    assert "Record-level DP-SGD" in text and f"{len(ledger.clients)} clients" in text


def test_without_card_settings_nothing_is_invented(run_dir):
    run = RunDir(run_dir)
    doc = build_card(run, run.load_config())
    text = doc.text()
    assert "license" not in doc.metadata and "language" not in doc.metadata
    for section in ("Intended use", "Out-of-scope use", "Limitations"):
        assert f"## {section}\n\n{NOT_STATED}" in text
    lowered = text.lower()
    assert not [w for w in CLINICAL if w in lowered], "clinical-notes text the config does not state"


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("minilm", {}, "sentence-transformers/all-MiniLM-L6-v2"),
    ("smollm2", {}, "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("hf", {"path": "/models/my-bert-base"}, "my-bert-base"),
    ("tiny-gpt", {}, None),
])  # fmt: skip
def test_base_model_comes_from_the_model_registry_table(run_dir, name, params, expected):
    run = RunDir(run_dir)
    config = run.load_config()
    config = replace(config, model=ModelConfig(name=name, params=params))
    assert build_card(run, config).metadata.get("base_model") == expected


def test_card_base_model_overrides_the_table(run_dir):
    run, config = _with_card(run_dir, base_model="org/other-model")
    assert build_card(run, config).metadata["base_model"] == "org/other-model"


def test_a_lora_adapter_folder_is_a_peft_card(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "model" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}), encoding="utf-8")
    run = RunDir(copy)
    doc = build_card(run, run.load_config())
    assert doc.metadata["library_name"] == "peft" and "lora" in doc.metadata["tags"]
    assert "PeftModel.from_pretrained" in doc.body


def test_the_card_holds_no_canary_secret_and_no_corpus_text(run_dir):
    run = RunDir(run_dir)
    text = build_card(run, run.load_config()).text()
    secrets = _secrets(run_dir)
    assert secrets and not [s for s in secrets if s in text]
    corpus = [json.loads(line)["text"] for line in NOTES.read_text(encoding="utf-8").splitlines()]
    words = re.findall(r"\w+", text.lower())
    card_runs = {" ".join(words[i : i + 6]) for i in range(len(words) - 5)}
    for note in corpus[:200]:
        w = re.findall(r"\w+", note.lower())
        assert not card_runs & {" ".join(w[i : i + 6]) for i in range(len(w) - 5)}


# -- the release report's MODEL_CARD.md ----------------------------------------------------------------


def test_release_model_card_is_the_run_card_plus_the_audit_results(run_dir, tmp_path):
    from guard.release import write_report

    run = RunDir(run_dir)
    own = build_card(run, run.load_config())
    _, paths = write_report(run_dir, tmp_path / "report")
    card = ModelCard.load(paths["MODEL_CARD.md"])
    assert card.data.to_dict() == ModelCard(own.text()).data.to_dict()
    text = paths["MODEL_CARD.md"].read_text(encoding="utf-8")
    assert own.body.strip() in text
    for heading in ("## Release audit", "### Privacy audit", "### Fairness", "### Explanations", "Release gate:"):
        assert heading in text
    assert not [s for s in _secrets(run_dir) if s in text]


# -- end to end: guard federate writes run/model/README.md --------------------------------------------


@pytest.mark.slow
def test_guard_federate_writes_a_model_card_that_the_release_report_extends(tmp_path):
    config = tmp_path / "federate.toml"
    config.write_text(
        f"""
[data]
path = {json.dumps(str(NOTES))}
label_field = "label"
partition = "iid"
num_clients = 2
max_records = 120
max_length = 32

[model]
name = "tiny-classifier"
params = {{ dim = 16, layers = 1 }}

[train]
rounds = 1
batch_size = 16

[dp]
target_epsilon = 8.0
accountant = "rdp"

[card]
license = "apache-2.0"
language = ["en"]
intended_use = {json.dumps(INTENDED)}
""",
        encoding="utf-8",
    )
    run_path = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(config), "--out", str(run_path), "--json"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == ExitCode.OK, proc.stderr[-3000:]
    readme = run_path / "model" / "README.md"
    assert readme.stat().st_mode & 0o777 == 0o600
    card = ModelCard.load(readme)
    ledger = json.loads((run_path / "ledger.json").read_text(encoding="utf-8"))
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["epsilon"] == pytest.approx(ledger["max_epsilon"]) and 0 < results["epsilon"] <= 8.0
    assert 0 <= results["accuracy"] <= 1 and "delta" in results
    assert card.data.license == "apache-2.0" and card.data.language == ["en"]
    assert card.data["guard"]["dataset"]["sha256"] == ledger["segments"][-1]["corpus_sha256"]
    assert INTENDED in card.text

    from guard.release import write_report

    _, paths = write_report(run_path, tmp_path / "report")
    release = ModelCard.load(paths["MODEL_CARD.md"])
    assert release.data.to_dict() == card.data.to_dict()
    assert card.text.strip() in release.text and "## Release audit" in release.text


def test_a_causal_lm_card_reports_held_out_perplexity(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    run = RunDir(copy)
    row = {"round": 1, "phase": "aggregate", "train": {}, "evaluate": {"eval_loss": 2.5, "eval_perplexity": 12.2}}
    run.append_jsonl(run.metrics_file, [row])
    config = run.load_config()
    config = replace(config, data=replace(config.data, task=Task.causal_lm, label_field=None))
    doc = build_card(run, config)
    card = ModelCard(doc.text())
    assert card.data.pipeline_tag == "text-generation"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["perplexity"] == pytest.approx(12.2) and results["loss"] == pytest.approx(2.5)
    assert "AutoModelForCausalLM" in doc.body and "Held-out perplexity after round 1: 12.2" in doc.body


def test_a_run_without_dp_claims_no_epsilon(run_dir, tmp_path):
    from federated.ledger import PrivacyLedger

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    run = RunDir(copy)
    run.write_ledger(PrivacyLedger(dp_enabled=False))
    config = run.load_config()
    doc = build_card(run, replace(config, dp=replace(config.dp, enabled=False)))
    data = ModelCard(doc.text()).data
    assert not {"epsilon", "delta"} & {r.metric_type for r in data.eval_results or []}
    assert data["guard"]["privacy"]["dp"] is False
    assert "no privacy guarantee is claimed" in doc.body and "Record-level DP-SGD" not in doc.body

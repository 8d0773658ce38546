"""End to end on real text: `guard federate` trains a tiny classifier on RedditBias comments
(examples/redditbias_topics.jsonl, MIT), then the fairness and explanation audits run on the
run directory. Every per-group metric equals fairlearn's on predictions recomputed here."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits import run_fairness_audit
from guard.core.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "redditbias_topics.jsonl"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rb")
    config = root / "federate.toml"
    config.write_text(
        f"""[data]
path = "{CORPUS}"
label_field = "label"
partition = "iid"
num_clients = 2
holdout = 0.25
max_length = 48
max_records = 800
[model]
name = "tiny-classifier"
[model.params]
dim = 32
layers = 1
[train]
rounds = 2
batch_size = 32
lr = 0.005
[dp]
enabled = false
""",
        encoding="utf-8",
    )
    run = root / "run"
    result = subprocess.run(
        [sys.executable, "-m", "guard", "federate", "--config", str(config), "--out", str(run)],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    return run


def _reference(run: Path) -> tuple[np.ndarray, np.ndarray, pd.Series, list[str]]:
    """Holdout labels, predictions and source_file recomputed without audits/."""
    import torch

    from federated.data import load_federated_dataset
    from federated.models import encode, load_model
    from federated.rundir import RunDir

    config = RunDir(run).load_config()
    dataset = load_federated_dataset(config.data, seed=config.train.seed)
    holdout = sorted((e for c in dataset.clients for e in c.holdout), key=lambda e: e.line)
    bundle = load_model(run / "model")
    with torch.no_grad():
        enc = encode(bundle, [e.text for e in holdout], config.data.max_length)
        pred = bundle.model(enc["input_ids"], enc["attention_mask"]).argmax(-1).numpy()
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    source = pd.Series([json.loads(lines[e.line - 1])["source_file"] for e in holdout], name="source_file")
    return np.array([e.label for e in holdout]), pred, source, list(dataset.labels)


def test_federated_text_model_group_metrics_equal_fairlearn(run_dir):
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    report = run_fairness_audit(run_dir, sensitive=["source_file"], n_boot=100)
    y, pred, source, classes = _reference(run_dir)
    assert report.subject["records"] == len(y) == 200 and report.subject["classes"] == classes
    acc = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=source)
    for group, value in acc.by_group.items():
        (f,) = report.find("group_metric", "accuracy", group)
        assert f.value == pytest.approx(value, abs=1e-12)
    worst_dp = 0.0
    for c, cls in enumerate(classes):
        yb, pb = (y == c).astype(int), (pred == c).astype(int)
        mf = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "tpr": functools.partial(recall_score, zero_division=0),
                "fpr": false_positive_rate,
                "precision": functools.partial(precision_score, zero_division=0),
            },
            y_true=yb,
            y_pred=pb,
            sensitive_features=source,
        )
        for group, row in mf.by_group.iterrows():
            for metric, value in row.items():
                (f,) = report.find("group_metric", f"{metric}[{cls}]", group)
                assert f.value == pytest.approx(value, abs=1e-12), (cls, group, metric)
        dp = demographic_parity_difference(yb, pb, sensitive_features=source)
        eo = equalized_odds_difference(yb, pb, sensitive_features=source)
        assert report.find("demographic_parity", f"difference[{cls}]", "source_file")[0].value == pytest.approx(dp)
        assert report.find("equalized_odds", f"difference[{cls}]", "source_file")[0].value == pytest.approx(eo)
        worst_dp = max(worst_dp, dp)
    (headline,) = report.find("demographic_parity", "difference", "source_file")
    assert headline.value == pytest.approx(worst_dp)
    assert report.find("counterfactual_flip", "flip_rate", "religion")  # jews/muslims comments hold such terms


def test_federated_text_model_explanations_are_complete_and_agree_with_shap(run_dir):
    from typer.testing import CliRunner

    from guard.cli import app

    out = run_dir.parent / "explain.json"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "explain",
            str(run_dir),
            "--sensitive",
            "source_file",
            "--samples",
            "40",
            "--shap-samples",
            "8",
            "--steps",
            "32",
            "--threads",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.OK, result.output
    import torch

    assert torch.get_num_threads() == 1  # --threads 2 held only while the audit ran
    report = json.loads(out.read_text(encoding="utf-8"))
    by = {(f["check"], f["metric"]): f for f in report["findings"]}
    assert by[("ig_completeness", "max_rel_delta")]["passed"] is True
    assert by[("shap_ig_agreement", "mean_spearman")]["value"] > 0.3
    assert len([f for f in report["findings"] if f["check"] == "top_tokens"]) >= 3
    assert report["plots"]["token_heatmap"]["tokens"]
    corpus = CORPUS.read_text(encoding="utf-8").splitlines()
    text = out.read_text(encoding="utf-8")
    for line in corpus[:800]:
        comment = json.loads(line)["text"]
        if len(comment) > 40:
            assert comment[:40] not in text  # no training text in the report

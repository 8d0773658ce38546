"""Issue 11, item 1: a model file must not run code. skops files are loaded only when every
type they name is on guard's allow-list (no callables) unless --trust-model, which the
findings record; Hugging Face folders only with safetensors and no code of their own.
A refusal exits ExitCode.UNTRUSTED_MODEL (31), names what was refused, and writes nothing."""

from __future__ import annotations

import builtins
import functools
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from audits import AuditReport, run_fairness_audit
from audits._models import load_audit_model
from audits._trust import check_skops
from guard.cli import app
from guard.core.errors import ExitCode, UntrustedModelError

runner = CliRunner()
FEATURES = ["x0", "x1"]


def _data(tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray, Path]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x0": rng.normal(size=80), "x1": rng.normal(size=80)})
    y = np.where(df["x0"] + 0.3 * df["x1"] > 0, "yes", "no")
    path = tmp_path / "data.csv"
    df.assign(label=y, group=np.where(rng.random(80) > 0.5, "u", "v")).to_csv(path, index=False)
    return df, y, path


def _dump(model: object, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, path)
    return path


def _exec_pipeline(tmp_path: Path, marker: Path) -> Path:
    """A fitted-looking Pipeline whose FunctionTransformers build a code string and pass it to
    builtins.exec when the model predicts (it writes `marker`). Built step by step: fitting the
    pipeline would run it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    df, y, _ = _data(tmp_path)
    code = f"with open({str(marker)!r}, 'w') as fh: fh.write('ran')"
    steps = [
        ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
        ("flat", FunctionTransformer(np.ravel)),
        ("one", FunctionTransformer(builtins.min)),
        ("run", FunctionTransformer(builtins.exec)),
    ]
    for name, step in steps:  # fit() of a FunctionTransformer does not call its function
        step.fit(df if name == "fill" else np.zeros((2, 2)))
    model = Pipeline([*steps, ("clf", LogisticRegression().fit(df.to_numpy(), y))])
    return _dump(model, tmp_path / "evil.skops")


def _system_transformer(tmp_path: Path, marker: Path) -> Path:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    df, y, _ = _data(tmp_path)
    step = FunctionTransformer(functools.partial(os.system, f"touch {marker}")).fit(df)
    return _dump(Pipeline([("run", step), ("clf", LogisticRegression().fit(df.to_numpy(), y))]), tmp_path / "sys.skops")


@pytest.mark.parametrize(
    ("build", "named"),
    [(_exec_pipeline, "builtins.exec (a callable)"), (_system_transformer, "functools.partial")],
    ids=["builtins.exec", "os.system"],
)
def test_a_skops_model_that_would_run_code_is_refused_with_exit_untrusted_model_and_nothing_runs_or_is_written(
    tmp_path, build, named
):
    marker = tmp_path / "MARKER"
    model = build(tmp_path, marker)
    _, _, data = _data(tmp_path)
    out = tmp_path / "fairness.json"
    result = runner.invoke(
        app,
        ["audit", "fairness", str(model), "--data", str(data), "--sensitive", "group", "--out", str(out)],
    )
    assert result.exit_code == UntrustedModelError.exit_code == ExitCode.UNTRUSTED_MODEL, result.output
    assert "refused" in result.stderr and named in result.stderr and "--trust-model" in result.stderr
    assert "FunctionTransformer" in result.stderr
    assert not marker.exists()  # the code never ran
    assert not out.exists()  # and no findings were written
    assert "Traceback" not in result.output


def test_the_exploit_is_real_so_the_refusal_matters(tmp_path):
    """The same file, loaded by skops with the types it asks for, writes the marker when it predicts."""
    import skops.io as sio

    marker = tmp_path / "MARKER"
    model = sio.load(_exec_pipeline(tmp_path, marker), trusted=sio.get_untrusted_types(file=tmp_path / "evil.skops"))
    df, _, _ = _data(tmp_path)
    with pytest.raises(ValueError):  # exec returns None, which the classifier then rejects
        model.predict_proba(df)
    assert marker.read_text(encoding="utf-8") == "ran"


def test_trust_model_loads_a_function_transformer_and_the_findings_and_report_record_it(tmp_path, small_run):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    df, y, data = _data(tmp_path)
    model = _dump(make_pipeline(FunctionTransformer(np.tanh), LogisticRegression()).fit(df, y), tmp_path / "tanh.skops")
    args = ["audit", "fairness", str(model), "--data", str(data), "--sensitive", "group", "--n-boot", "20"]
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "refused.json")])
    assert refused.exit_code == ExitCode.UNTRUSTED_MODEL and "numpy.tanh (a callable)" in refused.stderr
    assert not (tmp_path / "refused.json").exists()
    out = tmp_path / "trusted.json"
    trusted = runner.invoke(app, [*args, "--trust-model", "--out", str(out)])
    assert trusted.exit_code == ExitCode.OK, trusted.output
    subject = AuditReport.read(out).subject
    assert subject["model_trust"]["trusted_by_user"] is True
    assert "numpy.tanh (a callable)" in subject["model_trust"]["outside_allow_list"]
    assert any("FunctionTransformer" in t for t in subject["model_trust"]["outside_allow_list"])
    # the release report shows it (and, as an audit of a model file, does not count it as this run's evidence)
    from guard.release import build_report

    content = build_report(small_run, audits=[out]).content.to_json()
    assert any("--trust-model" in x and "numpy.tanh" in x for x in content["limitations"])
    assert content["audits"][0]["of_this_run"] is False and "demographic_parity_gap" not in content["evidence"]


def test_a_plain_logistic_regression_and_gradient_boosting_still_load_and_audit(tmp_path):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    df, y, data = _data(tmp_path)
    for model in (LogisticRegression(), GradientBoostingClassifier(n_estimators=5, random_state=0)):
        path = _dump(model.fit(df, y), tmp_path / f"{type(model).__name__}.skops")
        report = run_fairness_audit(path, data=data, sensitive=["group"], n_boot=20)
        assert report.subject["model"] == type(model).__name__
        assert report.subject["model_trust"] == {"trusted_by_user": False, "outside_allow_list": []}
        assert len(report.find("demographic_parity", "difference", "group")) == 1


def test_every_supported_estimator_kind_passes_the_allow_list(tmp_path):
    """Linear, trees and ensembles, naive Bayes, SVM, kNN, MLP, scalers/encoders/imputers,
    Pipeline/ColumnTransformer and text vectorizers: no type outside the allow-list."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        AdaBoostClassifier,
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB, MultinomialNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    df, y, _ = _data(tmp_path)
    y3 = np.array(["a", "b", "c"] * 27)[: len(y)]
    tabular = [
        SGDClassifier(loss="log_loss", random_state=0),
        DecisionTreeClassifier(random_state=0),
        RandomForestClassifier(n_estimators=3, random_state=0),
        ExtraTreesClassifier(n_estimators=3, random_state=0),
        HistGradientBoostingClassifier(max_iter=3),
        AdaBoostClassifier(n_estimators=3),
        GaussianNB(),
        make_pipeline(MinMaxScaler(), MultinomialNB()),
        SVC(),
        CalibratedClassifierCV(LinearSVC(), cv=2),
        KNeighborsClassifier(n_neighbors=3),
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0),
        make_pipeline(SimpleImputer(), StandardScaler(), SGDClassifier(random_state=0)),
    ]
    fitted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits: convergence warnings are expected
        for i, model in enumerate(tabular):
            fitted.append(model.fit(df, y3 if i % 2 else y))
        mixed = df.assign(c=np.where(df["x0"] > 0, "p", "q"))
        columns = ColumnTransformer([("num", StandardScaler(), FEATURES), ("cat", OneHotEncoder(), ["c"])])
        fitted.append(make_pipeline(columns, SGDClassifier(random_state=0)).fit(mixed, y))
        texts = [f"note {w} about {v}" for w, v in zip(["chest", "knee", "scan", "bill"] * 20, y)]
        for vectorizer in (CountVectorizer(), TfidfVectorizer()):
            fitted.append(make_pipeline(vectorizer, MultinomialNB()).fit(texts, y))
    for i, model in enumerate(fitted):
        contents = check_skops(_dump(model, tmp_path / f"m{i}.skops"), trust_model=False)
        assert contents.refused == (), (type(model).__name__, contents.refused)


def test_hugging_face_folders_load_only_safetensors_and_never_their_own_code(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert", "num_labels": 2}), encoding="utf-8")
    (hf / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UntrustedModelError, match=r"pickle file\(s\) \['pytorch_model.bin'\]"):
        load_audit_model(hf)
    (hf / "pytorch_model.bin").unlink()
    with pytest.raises(UntrustedModelError, match="no model.safetensors"):
        load_audit_model(hf)
    (hf / "model.safetensors").write_bytes(b"")
    (hf / "config.json").write_text(
        json.dumps({"model_type": "bert", "auto_map": {"AutoModel": "modeling_evil.Evil"}}), encoding="utf-8"
    )
    (hf / "modeling_evil.py").write_text("raise SystemExit('never imported')\n", encoding="utf-8")
    with pytest.raises(UntrustedModelError, match=r"auto_map.*modeling_evil.py.*trust_remote_code is never set"):
        load_audit_model(hf)
    # a guard model folder built on such a checkpoint (model "hf") is refused the same way
    guard_model = tmp_path / "guard-model"
    guard_model.mkdir()
    (guard_model / "guard_model.json").write_text(
        json.dumps({"name": "hf", "params": {"path": str(hf)}, "task": "classification"}), encoding="utf-8"
    )
    with pytest.raises(UntrustedModelError, match="auto_map"):
        load_audit_model(guard_model)
    result = runner.invoke(app, ["audit", "explain", str(hf), "--data", str(tmp_path / "none.jsonl")])
    assert result.exit_code == ExitCode.UNTRUSTED_MODEL and "Traceback" not in result.output

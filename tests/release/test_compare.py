"""Run-to-run comparison (guard.release.compare, `guard report --baseline`): differences and
their significance on hand-made reports, refusal of a baseline of another model, the
comparison block's JSON round trip, and the CLI on two small run directories."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from guard.core.errors import ExitCode, InputError
from guard.release.compare import (
    NEWCOMBE,
    NO_INTERVAL,
    OVERLAP,
    BaselineRef,
    Comparison,
    compare_reports,
    interval_delta,
    proportion_delta,
)
from tests.audits.runs import fairness_findings, invoke, make_report, make_run, write_policy

REF = BaselineRef(source="baseline/report.json", kind="report", run="base", run_hash="b" * 64, dp_enabled=False)


def _report(
    *,
    accuracy: float,
    holdout: int,
    epsilon: float | None,
    gap: float,
    gap_ci: list[float],
    auc: float,
    auc_ci: list[float],
    tokens: list[str],
    run_hash: str = "a" * 64,
    corpus: str = "c" * 64,
    model: str = "minilm",
) -> dict[str, Any]:
    """The parts of a report.json the comparison reads."""
    return {
        "run": {"dir": "/runs/x", "hash": run_hash},
        "model": {"run": "x", "name": model, "task": "classification", "labels": ["a", "b"]},
        "data": {"profile": None},
        "training": {
            "final": {"eval_accuracy": accuracy, "eval_loss": 0.5},
            "holdout_records": holdout,
            "corpus_sha256": corpus,
        },
        "privacy": {
            "dp_enabled": epsilon is not None,
            "overall": {"epsilon": epsilon},
            "audit": {
                "empirical_epsilon_lower_bound": 0.3,
                "exposure": [{"group": "repeats=8", "metric": "mean_exposure", "value": 4.0, "n": 2}],
                "membership": {"membership_lira": {"auc": {"value": auc, "ci": auc_ci}}},
                "extraction": [],
            },
        },
        "fairness": {
            "metric": "accuracy",
            "groups": [],
            "gaps": [
                {
                    "check": "demographic_parity",
                    "group": "sex",
                    "metric": "difference",
                    "value": gap,
                    "ci": gap_ci,
                    "class": None,
                }
            ],  # fmt: skip
        },
        "explanations": {"top_tokens": {"a": [{"token": t, "score": 1.0} for t in tokens]}},
    }


def test_accuracy_difference_uses_newcombes_interval_and_matches_his_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, hybrid score 0.0524 to 0.3339
    row = proportion_delta("utility", "held-out accuracy", (56, 70), (48, 80))
    assert row.difference == pytest.approx(0.2)
    assert row.interval == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert row.significant is True and row.method == NEWCOMBE
    # example (b): 9/10 - 3/10, 0.1705 to 0.8090
    assert proportion_delta("u", "m", (9, 10), (3, 10)).interval == pytest.approx((0.1705, 0.8090), abs=5e-5)


def test_a_small_accuracy_difference_on_few_records_is_not_significant():
    current = _report(accuracy=0.82, holdout=100, epsilon=8.0, gap=0.1, gap_ci=[0.0, 0.2], auc=0.5,
                      auc_ci=[0.45, 0.55], tokens=["x", "y", "z"])  # fmt: skip
    baseline = _report(accuracy=0.80, holdout=100, epsilon=None, gap=0.1, gap_ci=[0.0, 0.2], auc=0.5,
                       auc_ci=[0.45, 0.55], tokens=["x", "y", "z"], run_hash="b" * 64)  # fmt: skip
    k = compare_reports(current, baseline, baseline_ref=REF)
    acc = k.row("utility", "held-out accuracy")
    assert (acc.current, acc.baseline) == (0.82, 0.80)
    assert acc.difference == pytest.approx(0.02)
    assert acc.interval[0] < 0 < acc.interval[1] and acc.significant is False
    assert k.warnings == ()  # same corpus, same held-out size, another run


def test_bootstrap_intervals_are_compared_conservatively_and_untested_values_say_so():
    current = _report(accuracy=0.9, holdout=1000, epsilon=8.0, gap=0.05, gap_ci=[0.01, 0.09], auc=0.52,
                      auc_ci=[0.48, 0.56], tokens=["a", "b", "c", "d"])  # fmt: skip
    baseline = _report(accuracy=0.95, holdout=1000, epsilon=None, gap=0.30, gap_ci=[0.22, 0.38], auc=0.58,
                       auc_ci=[0.53, 0.63], tokens=["a", "c", "b", "e"], run_hash="b" * 64)  # fmt: skip
    k = compare_reports(current, baseline, baseline_ref=REF)
    gap = k.row("fairness", "demographic parity difference (sex)")
    assert gap.difference == pytest.approx(-0.25)
    assert gap.interval == pytest.approx((0.01 - 0.38, 0.09 - 0.22)) and gap.significant is True
    assert gap.method == OVERLAP
    auc = k.row("membership", "lira attack: auc")  # [0.48, 0.56] overlaps [0.53, 0.63]
    assert auc.interval == pytest.approx((0.48 - 0.63, 0.56 - 0.53)) and auc.significant is False
    assert k.row("utility", "held-out accuracy").significant is True  # 900/1000 against 950/1000
    eps = k.row("privacy", "epsilon spent (accounted)")
    assert (eps.current, eps.baseline, eps.difference, eps.interval, eps.significant) == (8.0, None, None, None, None)
    assert eps.method == NO_INTERVAL and "the baseline trained without DP" in eps.note
    exposure = k.row("privacy", "canary exposure, mean_exposure (repeats=8)")
    assert exposure.difference == 0.0 and exposure.significant is None and exposure.method == NO_INTERVAL
    assert {r.metric for r in k.significant} == {"held-out accuracy", "demographic parity difference (sex)"}
    (tokens,) = k.attributions
    assert tokens.jaccard == pytest.approx(3 / 5)  # {a, b, c} of {a, b, c, d, e}
    # shared tokens a, b, c ranked 1 2 3 here and 1 3 2 there: 1 - 6 * 2 / (3 * 8)
    assert tokens.spearman == pytest.approx(0.5)
    assert (tokens.only_current, tokens.only_baseline) == (("d",), ("e",))


def test_one_sided_interval_is_no_interval():
    row = interval_delta("fairness", "gap", 0.2, 0.1, [0.1, 0.3], None)
    assert row.difference == pytest.approx(0.1) and row.interval is None and row.significant is None


def test_a_baseline_of_another_model_is_refused_naming_it():
    current = _report(accuracy=0.9, holdout=100, epsilon=8.0, gap=0.1, gap_ci=[0, 0.2], auc=0.5, auc_ci=[0.4, 0.6],
                      tokens=["a"])  # fmt: skip
    other = copy.deepcopy(current) | {"model": {**current["model"], "name": "tiny-classifier"}}
    with pytest.raises(InputError, match="not comparable") as e:
        compare_reports(current, other, baseline_ref=REF)
    assert e.value.path == REF.source and e.value.field == "model.name" and e.value.exit_code == ExitCode.INPUT


def test_different_corpora_are_a_warning_in_the_comparison():
    current = _report(accuracy=0.9, holdout=100, epsilon=8.0, gap=0.1, gap_ci=[0, 0.2], auc=0.5, auc_ci=[0.4, 0.6],
                      tokens=["a"])  # fmt: skip
    other = copy.deepcopy(current)
    other["training"]["corpus_sha256"] = "d" * 64
    other["training"]["holdout_records"] = 90
    other["run"]["hash"] = "b" * 64
    warnings = compare_reports(current, other, baseline_ref=REF).warnings
    assert len(warnings) == 2
    assert "different corpora (sha256 cccccccccccc here, dddddddddddd in the baseline)" in warnings[0]
    assert "(100 here, 90 in the baseline)" in warnings[1]


def test_the_comparison_block_round_trips_through_json():
    current = _report(accuracy=0.9, holdout=1000, epsilon=8.0, gap=0.05, gap_ci=[0.01, 0.09], auc=0.52,
                      auc_ci=[0.48, 0.56], tokens=["a", "b", "c"])  # fmt: skip
    baseline = _report(accuracy=0.95, holdout=1000, epsilon=None, gap=0.3, gap_ci=[0.22, 0.38], auc=0.58,
                       auc_ci=[0.53, 0.63], tokens=["c", "b", "a"], run_hash="b" * 64)  # fmt: skip
    k = compare_reports(current, baseline, baseline_ref=REF)
    text = json.dumps(k.to_json(), allow_nan=False)
    again = Comparison.from_json(json.loads(text))
    assert again == k
    assert json.loads(text)["significant"] == len(k.significant) == 2
    with pytest.raises(InputError, match="not a guard comparison"):
        Comparison.from_json({"kind": "other"})


# -- guard report --baseline on two small run directories -----------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of the same tiny model and corpus (different seeds and noise): current, baseline."""
    root = tmp_path_factory.mktemp("compare")
    return make_run(root / "current", seed=0), make_run(root / "baseline", seed=1, noise=0.5)


def test_guard_report_with_a_baseline_report_writes_the_comparison_and_still_checks(two_runs, tmp_path):
    current, baseline = two_runs
    base_fair = fairness_findings(baseline, tmp_path / "base-fairness.json")
    base_json = make_report(baseline, tmp_path / "base-report", audits=(base_fair,))
    fair = fairness_findings(current, tmp_path / "fairness.json")
    out = tmp_path / "report"
    result = invoke("report", str(current), "--out", str(out), "-a", str(fair), "--baseline", str(base_json))
    assert result.exit_code == ExitCode.OK, result.output
    assert "comparison with baseline:" in result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    k = data["comparison"]
    base = json.loads(base_json.read_text(encoding="utf-8"))
    assert k["baseline"]["kind"] == "report" and k["baseline"]["run_hash"] == base["run"]["hash"]
    assert k["baseline"]["sha256"] == base["sha256"]
    rows = {(r["section"], r["metric"]): r for r in k["rows"]}
    assert ("utility", "held-out accuracy") not in rows  # these runs skipped training: no held-out metrics
    gaps = [r for r in k["rows"] if r["section"] == "fairness" and r["metric"].startswith("demographic parity")]
    assert gaps and all(r["method"] == OVERLAP for r in gaps)
    for r in gaps:  # from both reports' own gaps and bootstrap intervals
        mine = next(g for g in data["fairness"]["gaps"] if r["metric"] == f"demographic parity {g['metric']} (sex)")
        theirs = next(
            g for g in base["fairness"]["gaps"] if (g["check"], g["metric"]) == (mine["check"], mine["metric"])
        )
        assert r["difference"] == pytest.approx(mine["value"] - theirs["value"])
        assert r["interval"] == pytest.approx([mine["ci"][0] - theirs["ci"][1], mine["ci"][1] - theirs["ci"][0]])
    eps = rows[("privacy", "epsilon spent (accounted)")]
    assert eps["current"] == pytest.approx(data["privacy"]["overall"]["epsilon"])
    assert eps["baseline"] == pytest.approx(base["privacy"]["overall"]["epsilon"])
    assert eps["difference"] == pytest.approx(eps["current"] - eps["baseline"])
    assert Comparison.from_json(k).to_json() == k
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="comparison"' in page and 'href="#comparison"' in page
    assert page.count('<tr data-section="') == len(k["rows"])
    # guard check still verifies the report (its seal covers the comparison) and judges it
    policy = write_policy(tmp_path, "[privacy]\nmax_claimed_epsilon = 1000.0\n")
    check = invoke("check", str(out / "report.json"), "--policy", str(policy), "--json")
    assert check.exit_code == ExitCode.OK, check.output
    integrity = {r["name"]: r for r in json.loads(check.stdout)["integrity"]}
    assert all(r["passed"] for r in integrity.values())
    assert integrity["comparison"]["reason"] == f"{len(k['rows'])} differences recomputed from report.json"
    # a baseline report that changed after the comparison was made fails the check, naming it
    changed = json.loads(base_json.read_text(encoding="utf-8")) | {"title": "edited"}
    base_json.write_text(json.dumps(changed), encoding="utf-8")
    again = invoke("check", str(out / "report.json"), "--policy", str(policy), "--json")
    assert again.exit_code == ExitCode.CHECKS_FAILED
    failed = [r for r in json.loads(again.stdout)["integrity"] if not r["passed"]]
    assert [r["name"] for r in failed] == ["comparison_baseline"] and str(base_json) in failed[0]["reason"]


def test_a_baseline_run_directory_is_reported_and_compared(two_runs, tmp_path):
    current, baseline = two_runs
    from guard.release import build_report

    built = build_report(current, baseline=baseline)
    assert built.comparison is not None and built.comparison.baseline.kind == "run"
    assert built.to_json()["comparison"]["baseline"]["run"] == "baseline"
    alone = build_report(current)
    assert alone.comparison is None and "comparison" not in alone.to_json()
    assert '<section id="comparison"' not in alone.html() and 'href="#comparison"' not in alone.html()


@pytest.mark.parametrize("what", ["missing", "not-a-report", "another-model"])
def test_a_bad_baseline_is_an_input_error_naming_it(two_runs, tmp_path, what):
    current, baseline = two_runs
    if what == "missing":
        path = tmp_path / "nowhere.json"
    elif what == "not-a-report":
        path = tmp_path / "findings.json"
        path.write_text('{"kind": "guard.audit"}\n', encoding="utf-8")
    else:
        path = make_report(baseline, tmp_path / "base")
        data = json.loads(path.read_text(encoding="utf-8"))
        data["model"]["name"] = "minilm"
        path.write_text(json.dumps(data), encoding="utf-8")
    result = invoke("report", str(current), "--out", str(tmp_path / "out"), "--baseline", str(path))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert str(path) in result.output
    assert not (tmp_path / "out" / "report.json").exists()

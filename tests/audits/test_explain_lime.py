"""LIME in `guard audit explain`: it finds a planted proxy token (text) and a planted proxy feature
(tabular), a seed fixes its weights, and the rank agreement among IG, shap and LIME and the time per
explanation land in the findings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audits import run_explain_audit
from audits._models import load_audit_model
from audits.findings import AuditError
from guard.core.errors import ExitCode
from tests.audits.runs import invoke
from tests.audits.test_explain import tabular  # noqa: F401  (fixture)
from tests.audits.test_explain_planted import planted  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted_texts(planted):  # noqa: F811
    """The planted model and 16 of its test texts (each holds "she" or "he" once), with predicted classes."""
    from audits.explain import truncate_texts

    model = load_audit_model(planted["model"], max_length=32)
    rows = [json.loads(line) for line in planted["data"].read_text(encoding="utf-8").splitlines()][:16]
    texts = truncate_texts(model.bundle.tokenizer, [r["text"] for r in rows], model.max_length)
    return model, texts, model.predict_proba(texts).argmax(1)


def _top_tokens(model, texts, values) -> list[str]:
    tok = model.bundle.tokenizer
    return [tok.convert_ids_to_tokens(tok(t)["input_ids"])[int(np.argmax(v))] for t, v in zip(texts, values)]


@pytest.mark.slow
def test_lime_ranks_the_planted_proxy_token_first(planted_texts):
    from audits.lime_explain import lime_text_values

    model, texts, pred = planted_texts
    lime = lime_text_values(model, texts, pred, num_samples=300, seed=0)
    assert lime.mismatched == 0 and len(lime.values) == len(texts)
    # weights toward the predicted class: the proxy ("she" -> yes, "he" -> no) leads in every text
    expected = ["she" if " she " in f" {t} " else "he" for t in texts]
    assert _top_tokens(model, texts, lime.values) == expected
    for text, values in zip(texts, lime.values):
        assert len(values) == len(model.bundle.tokenizer(text)["input_ids"])  # one per token, as shap's
        assert values[0] == 0.0 and values[-1] == 0.0  # [CLS] and [SEP] are not LIME features
    assert np.all(lime.scores > 0.5)  # the local linear fits explain the model's output


@pytest.mark.slow
def test_seeded_lime_is_reproducible_and_the_seed_matters(planted_texts):
    from audits.lime_explain import lime_text_values

    model, texts, pred = planted_texts
    first = lime_text_values(model, texts[:3], pred[:3], num_samples=100, seed=7)
    again = lime_text_values(model, texts[:3], pred[:3], num_samples=100, seed=7)
    other = lime_text_values(model, texts[:3], pred[:3], num_samples=100, seed=8)
    for a, b in zip(first.values, again.values):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, c) for a, c in zip(first.values, other.values))
    # an example's weights do not depend on which other examples are explained with it
    alone = lime_text_values(model, texts[:1], pred[:1], num_samples=100, seed=7)
    np.testing.assert_array_equal(alone.values[0], first.values[0])


def test_top_k_overlap_and_rank_agreement_of_known_rankings():
    from audits.lime_explain import rank_agreement, top_k_overlap

    a = np.array([0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3])
    assert top_k_overlap(a, a) == 1.0
    assert top_k_overlap(a, -a) == 0.0  # of 10 tokens, the 5 highest of one are the 5 lowest of the other
    assert top_k_overlap(a[:7], -a[:7]) == pytest.approx(0.6)  # of 7, two top-5 sets share 3
    assert top_k_overlap(a[:3], a[:3]) == 1.0  # k = min(5, 3 - 1) = 2
    assert top_k_overlap(a[:3], np.array([0.9, 0.0, 0.4])) == pytest.approx(0.5)
    agree = rank_agreement([a, a, a], [a, -a, a * 2], seed=0)
    assert agree["spearman"] == pytest.approx([1.0, -1.0, 1.0])
    assert agree["mean_spearman"] == pytest.approx(1 / 3)
    low, high = agree["spearman_ci95"]
    assert -1.0 <= low <= agree["mean_spearman"] <= high <= 1.0
    skipped = rank_agreement([a, a[:2]], [a[:4], a[:2]])  # a length mismatch and a too-short example
    assert skipped["n"] == 0 and skipped["skipped"] == 2 and np.isnan(skipped["mean_spearman"])


@pytest.mark.slow
def test_explain_audit_reports_three_way_agreement_and_time_per_method(planted):  # noqa: F811
    report = run_explain_audit(
        planted["model"],
        data=planted["data"],
        sensitive=["group"],
        n_samples=20,
        n_shap=6,
        n_steps=20,
        shap_max_evals=100,
        lime_num_samples=300,
        seed=3,
    )
    agreement = report.find("method_agreement")
    assert {f.group for f in agreement} == {"ig~shap", "ig~lime", "shap~lime"}
    for f in agreement:
        low, high = f.evidence["ci95"]
        bound = (-1.0, 1.0) if f.metric == "mean_spearman" else (0.0, 1.0)
        assert f.evidence["n"] == 6 and len(f.evidence["per_example"]) == 6 == len(set(f.evidence["lines"]))
        assert bound[0] <= low <= f.value <= high <= bound[1]
    (ig_lime,) = report.find("method_agreement", "mean_top_k_overlap", "ig~lime")
    assert ig_lime.value > 0.5  # the planted token leads both rankings
    times = {f.group: f for f in report.find("explain_time", "seconds_per_example")}
    assert set(times) == {"ig", "shap", "lime"}
    assert times["ig"].evidence["n"] == 20 and times["lime"].evidence["n"] == 6
    assert all(f.value > 0 and f.evidence["attributions_per_s"] > 0 for f in times.values())
    assert times["lime"].evidence["num_samples"] == 300
    (lime_yes,) = report.find("lime_top_tokens", "mean_weight", "class=yes")
    assert lime_yes.evidence["tokens"][0] == "she"
    # the findings the release report already reads are still there
    assert report.find("shap_ig_agreement", "mean_spearman") and report.find("top_tokens")
    assert "the report notes" not in json.dumps(report.to_json())  # tokens and numbers only, no text


@pytest.mark.slow
def test_methods_select_what_runs_and_the_primary_method_is_required(planted):  # noqa: F811
    report = run_explain_audit(
        planted["model"], data=planted["data"], sensitive=["group"], n_samples=6, n_shap=3, n_steps=8, methods="ig"
    )
    assert not report.find("method_agreement") and not report.find("shap_ig_agreement")
    assert report.skipped["shap_ig_agreement"] == "shap is not among the methods"
    assert report.skipped["lime_top_tokens"] == "lime is not among the methods"
    assert {f.group for f in report.find("explain_time")} == {"ig"}
    with pytest.raises(AuditError, match="explained with ig first"):
        run_explain_audit(planted["model"], data=planted["data"], sensitive=["group"], methods=["shap", "lime"])
    with pytest.raises(AuditError, match="choose from ig, lime, shap"):
        run_explain_audit(planted["model"], data=planted["data"], sensitive=["group"], methods="ig,anchors")


@pytest.mark.slow
def test_cli_methods_option_runs_lime_beside_ig(planted, tmp_path):  # noqa: F811
    out = tmp_path / "explain.json"
    result = invoke(
        "audit", "explain", str(planted["model"]), "--data", str(planted["data"]), "-s", "group", "--samples", "8",
        "--steps", "8", "--shap-samples", "0", "--lime-samples", "4", "--lime-perturbations", "100",
        "--methods", "ig,lime", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    findings = json.loads(out.read_text(encoding="utf-8"))["findings"]
    groups = {(f["check"], f.get("group")) for f in findings}
    assert ("method_agreement", "ig~lime") in groups and ("explain_time", "lime") in groups
    assert ("method_agreement", "ig~shap") not in groups
    bad = invoke("audit", "explain", str(planted["model"]), "--data", str(planted["data"]), "--methods", "lime")
    assert bad.exit_code == ExitCode.RUN and "explained with ig first" in bad.output


@pytest.mark.slow
def test_tabular_lime_ranks_the_proxy_feature_first_and_agrees_with_shap(tabular):  # noqa: F811
    report = run_explain_audit(
        tabular["model"], data=tabular["data"], sensitive=["group"], n_samples=60, n_lime=12, lime_num_samples=400
    )
    lime_importance = {f.group: f for f in report.find("feature_importance", "mean_abs_lime")}
    assert set(lime_importance) == {"proxy", "x1", "x2"}
    assert lime_importance["proxy"].evidence["rank"] == 1 and lime_importance["proxy"].evidence["n"] == 12
    (rho,) = report.find("method_agreement", "mean_spearman", "shap~lime")
    assert rho.evidence["n"] == 12 and -1.0 <= rho.value <= 1.0
    (overlap,) = report.find("method_agreement", "mean_top_k_overlap", "shap~lime")
    assert overlap.evidence["k_used"] == [2] and 0.0 <= overlap.value <= 1.0  # 3 features: k = min(5, 3 - 1)
    assert {f.group for f in report.find("explain_time")} == {"shap", "lime"}
    assert report.plots["lime_feature_importance"]["features"][0] == "proxy"


def test_explain_without_a_sensitive_field_subsamples_and_reports(planted):  # noqa: F811
    """No --sensitive: the group table has rows but no column, so sub-sampling by row still works
    (it raised IndexError on an empty frame)."""
    report = run_explain_audit(planted["model"], data=planted["data"], n_samples=4, n_shap=0, methods="ig")
    assert report.find("ig_completeness") and {f.group for f in report.find("explain_time")} == {"ig"}

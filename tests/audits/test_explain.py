"""`guard audit explain`: IG equals captum's LayerIntegratedGradients run directly, the
completeness delta is captum's, shap values equal shap's own, tabular shap values are
additive and the group gap splits exactly over features."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from audits import run_explain_audit
from audits._models import load_audit_model

TEXTS = [
    "the patient was seen in clinic and she is doing well",
    "billing called about the unpaid statement",
    "he has chest pain and shortness of breath at rest",
    "follow up in two weeks",
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory, one_torch_thread):
    """An untrained (seeded) tiny classifier saved as a guard model folder."""
    from federated.config import ModelConfig, Task
    from federated.models import build_model, save_model

    bundle = build_model(
        ModelConfig("tiny-classifier", {"dim": 32, "layers": 1, "dropout": 0.0}),
        task=Task.classification,
        num_labels=3,
        seed=5,
    )
    bundle.label_names = ["a", "b", "c"]
    path = save_model(bundle, tmp_path_factory.mktemp("text") / "model")
    return load_audit_model(path, max_length=32)


def test_ig_equals_captum_run_directly_and_reports_its_delta(text_model):
    import torch
    from captum.attr import LayerIntegratedGradients

    from audits.explain import integrated_gradients
    from federated.models import encode

    targets = np.array([0, 1, 2, 1])
    ig = integrated_gradients(text_model, TEXTS, targets, n_steps=40)
    net = text_model.bundle.model
    enc = encode(text_model.bundle, TEXTS, 32)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    tok = text_model.bundle.tokenizer
    special = torch.isin(ids, torch.tensor([tok.cls_token_id, tok.sep_token_id]))
    baseline = torch.where(special | (mask == 0), ids, torch.full_like(ids, tok.pad_token_id))
    lig = LayerIntegratedGradients(lambda i, m: net(i, m), net.tokens)
    attr, delta = lig.attribute(
        ids,
        baselines=baseline,
        target=torch.as_tensor(targets),
        additional_forward_args=(mask,),
        n_steps=40,
        return_convergence_delta=True,
    )
    per_token = attr.sum(-1).detach().numpy()
    for i in range(len(TEXTS)):
        n = int(mask[i].sum())
        np.testing.assert_allclose(ig.values[i], per_token[i, :n], rtol=1e-4, atol=1e-6)
        assert list(ig.ids[i]) == ids[i, :n].tolist()
    np.testing.assert_allclose(ig.deltas, delta.detach().numpy(), atol=1e-6)
    # completeness: the attributions sum to f(x) - f(baseline) of the target logit, up to the delta
    sums = np.array([v.sum() for v in ig.values])
    np.testing.assert_allclose(sums - (ig.logits - ig.baseline_logits), ig.deltas, atol=1e-5)
    assert np.abs(ig.deltas).max() < 1e-3


def test_shap_text_values_equal_shap_partition_run_directly(text_model):
    import torch

    from audits.explain import _shap, shap_text_values
    from federated.models import encode

    shap = _shap()
    targets = [2, 0]
    ours = shap_text_values(text_model, TEXTS[:2], targets, max_evals=200)
    tok = text_model.bundle.tokenizer

    def f(batch):
        enc = encode(text_model.bundle, list(batch), 32)
        with torch.no_grad():
            return text_model.bundle.model(enc["input_ids"], enc["attention_mask"]).numpy()

    masker = shap.maskers.Text(tok, mask_token=tok.pad_token, collapse_mask_token=False)
    theirs = shap.explainers.Partition(f, masker)(TEXTS[:2], max_evals=200, silent=True)
    for i, t in enumerate(targets):
        np.testing.assert_allclose(ours[i], theirs[i].values[:, t], atol=1e-6)
        assert len(ours[i]) == len(tok(TEXTS[i])["input_ids"])  # one value per token, specials included


def test_rank_agreement_of_identical_rankings_is_perfect():
    from audits.explain import TokenAttributions, _rank_agreement

    values = np.array([0.0, 0.3, -0.2, 0.9, 0.1, 0.0])
    special = np.array([True, False, False, False, False, True])
    ig = TokenAttributions(
        ids=(np.arange(6),),
        values=(values,),
        targets=np.array([0]),
        logits=np.zeros(1),
        baseline_logits=np.zeros(1),
        deltas=np.zeros(1),
        special=(special,),
    )
    agreement = _rank_agreement(ig, [values * 2 + 1], top_k=1)
    assert agreement["mean_spearman"] == pytest.approx(1.0) and agreement["top_token_agreement"] == 1.0
    reversed_ = _rank_agreement(ig, [-values], top_k=1)
    assert reversed_["mean_spearman"] == pytest.approx(-1.0) and reversed_["top_token_agreement"] == 0.0


@pytest.fixture(scope="module")
def tabular(tmp_path_factory: pytest.TempPathFactory):
    """A logistic regression where feature `proxy` tracks the sensitive group."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 600
    group = np.where(rng.random(n) < 0.5, "a", "b")
    proxy = (group == "a") + rng.normal(0, 0.3, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-(2.5 * proxy + 0.5 * x1 - 1.2))), "yes", "no")
    df = pd.DataFrame({"proxy": proxy, "x1": x1, "x2": x2, "label": label, "group": group})
    model = LogisticRegression().fit(df[["proxy", "x1", "x2"]], df["label"])
    root = tmp_path_factory.mktemp("tab")
    sio.dump(model, root / "m.skops")
    df.to_csv(root / "d.csv", index=False)
    return {"model": root / "m.skops", "data": root / "d.csv", "df": df, "sk": model}


def test_tabular_shap_values_equal_shap_exact_and_split_the_gap(tabular):
    from audits.explain import _shap, shap_tabular_values

    shap = _shap()
    loaded = load_audit_model(tabular["model"])
    x = tabular["df"][["proxy", "x1", "x2"]].to_numpy()
    values, base = shap_tabular_values(loaded, x[:50], x[100:180], target=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn: X has no feature names (shap passes arrays)
        theirs = shap.explainers.Exact(
            lambda b: tabular["sk"].predict_proba(b)[:, 1], shap.maskers.Independent(x[100:180], max_samples=80)
        )(x[:50])
    np.testing.assert_allclose(values, theirs.values, atol=1e-10)
    direct = tabular["sk"].predict_proba(tabular["df"][["proxy", "x1", "x2"]].iloc[:50])[:, 1]
    np.testing.assert_allclose(values.sum(1) + base, direct, atol=1e-10)

    report = run_explain_audit(tabular["model"], data=tabular["data"], sensitive=["group"], n_samples=150)
    (additivity,) = report.find("shap_additivity", "max_abs_error")
    assert additivity.passed is True
    importance = {f.group: f.value for f in report.find("feature_importance", "mean_abs_shap")}
    assert max(importance, key=importance.get) == "proxy" and set(importance) == {"proxy", "x1", "x2"}
    (gap,) = report.find("gap_attribution", "top_feature_share", "group:a>b")
    ev = gap.evidence
    assert ev["features"][0] == "proxy" and gap.value > 0.8
    assert ev["feature_sum"] == pytest.approx(ev["score_gap"], abs=1e-9)  # shap additivity: an exact split
    assert "proxy" in json.dumps(report.plots["feature_importance"])

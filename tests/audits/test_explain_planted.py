"""Planted bias: a text classifier trained on data where a proxy token ("she" / "he", one per
group) decides the label. The fairness gap, the counterfactual flip rate and the attribution
ranking must all point at it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audits import run_explain_audit, run_fairness_audit

FILLER = (
    "the report notes a visit about the account and the plan for next week with a short follow up call "
    "from the office regarding payment schedule records update form request review team staff meeting"
).split()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _corpus(path: Path, n: int, seed: int) -> Path:
    """`n` records: group f texts hold "she", group m texts hold "he"; label yes for 90% of f
    and 10% of m. No other word carries any signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        group = "f" if i % 2 == 0 else "m"
        words = list(rng.choice(FILLER, size=int(rng.integers(8, 14))))
        words.insert(int(rng.integers(0, len(words) + 1)), "she" if group == "f" else "he")
        label = "yes" if rng.random() < (0.9 if group == "f" else 0.1) else "no"
        rows.append({"id": f"r{i:04d}", "text": " ".join(words), "label": label, "group": group})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def planted(one_torch_thread, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import torch

    from federated.config import ModelConfig, Task
    from federated.models import build_model, encode, save_model

    root = tmp_path_factory.mktemp("planted")
    train = _corpus(root / "train.jsonl", 600, seed=1)
    test = _corpus(root / "test.jsonl", 400, seed=2)
    bundle = build_model(
        ModelConfig("tiny-classifier", {"dim": 32, "layers": 1, "dropout": 0.0}),
        task=Task.classification,
        num_labels=2,
        seed=0,
    )
    bundle.label_names = ["no", "yes"]
    rows = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines()]
    enc = encode(bundle, [r["text"] for r in rows], 32)
    y = torch.tensor([1 if r["label"] == "yes" else 0 for r in rows])
    opt = torch.optim.Adam(bundle.model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    bundle.model.train()
    for _ in range(8):
        for batch in torch.randperm(len(rows), generator=gen).split(32):
            opt.zero_grad()
            logits = bundle.model(enc["input_ids"][batch], enc["attention_mask"][batch])
            torch.nn.functional.cross_entropy(logits, y[batch]).backward()
            opt.step()
    bundle.model.eval()
    model_dir = save_model(bundle, root / "model")
    return {"model": model_dir, "data": test}


def test_planted_proxy_shows_as_a_large_significant_parity_gap(planted):
    report = run_fairness_audit(
        planted["model"], data=planted["data"], sensitive=["group"], n_boot=200, max_difference=0.2
    )
    (dp,) = report.find("demographic_parity", "difference", "group")
    (eo,) = report.find("equalized_odds", "difference", "group")
    assert dp.value > 0.6 and dp.passed is False and dp.evidence["p_value"] < 1e-20
    assert dp.evidence["ci95"][0] > 0.5
    assert eo.value > 0.5
    (sel_f,) = report.find("group_metric", "selection_rate", "f")
    (sel_m,) = report.find("group_metric", "selection_rate", "m")
    assert sel_f.value - sel_m.value == pytest.approx(dp.value)


def test_planted_proxy_flips_decisions_when_swapped(planted):
    report = run_fairness_audit(planted["model"], data=planted["data"], sensitive=["group"], n_boot=50)
    (f_to_m,) = report.find("counterfactual_flip", "flip_rate", "gender:female->male")
    (m_to_f,) = report.find("counterfactual_flip", "flip_rate", "gender:male->female")
    assert f_to_m.evidence["n"] == 200 and m_to_f.evidence["n"] == 200
    assert f_to_m.value > 0.8 and m_to_f.value > 0.8
    assert f_to_m.evidence["ci95"][0] > 0.7
    (race,) = report.find("counterfactual_flip", "flip_rate", "race") or [None]
    assert race is None  # no race term in the corpus: nothing to swap, nothing reported
    text = json.dumps(report.to_json())
    assert "the report notes" not in text  # no rewritten or original text in the report


def test_planted_proxy_is_the_top_attributed_token(planted):
    report = run_explain_audit(
        planted["model"], data=planted["data"], sensitive=["group"], n_samples=80, n_shap=12, positive_label="yes"
    )
    (top_yes,) = report.find("top_tokens", "mean_attribution", "class=yes")
    assert top_yes.evidence["tokens"][0] == "she" and top_yes.evidence["identity_term"][0] is True
    (top_no,) = report.find("top_tokens", "mean_attribution", "class=no")
    assert top_no.evidence["tokens"][0] == "he"
    (gap,) = report.find("gap_attribution", "top_token_share", "group:f>m")
    assert gap.evidence["tokens"][0] in ("she", "he") and gap.evidence["tokens"][1] in ("she", "he")
    ev = gap.evidence
    # the gap splits exactly into token terms, baseline and IG error (completeness)
    assert ev["token_sum"] + ev["baseline_gap"] + ev["delta_gap"] == pytest.approx(ev["logit_gap"], abs=1e-4)
    assert gap.value > 0.3
    (completeness,) = report.find("ig_completeness", "max_rel_delta")
    assert completeness.passed is True and completeness.value < 0.01
    (agree,) = report.find("shap_ig_agreement", "top_token_agreement")
    (rho,) = report.find("shap_ig_agreement", "mean_spearman")
    assert agree.value >= 0.75 and rho.value > 0.5

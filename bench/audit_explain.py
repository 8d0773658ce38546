"""Benchmark `guard audit explain` on this machine: token attributions per second with captum's
LayerIntegratedGradients, shap's Partition explainer and LIME's text explainer, same model, same
texts, and how far the three rank the tokens alike.

    .venv/bin/python bench/audit_explain.py                 # train a tiny classifier on RedditBias, then time
    .venv/bin/python bench/audit_explain.py --run RUN_DIR   # a `guard federate` run's model and holdout

The model (default): tiny-classifier (dim 64, 2 layers) trained in-process for 3 epochs on
1,600 RedditBias comments (examples/redditbias_topics.jsonl), seeded. Texts: held-out
comments cut at max_length 48 tokens. IG: n_steps 50, batches of 16, target = the predicted
class; shap: `shap.explainers.Partition` with a Text masker (mask = pad token), max_evals 300;
LIME: `lime.lime_text.LimeTextExplainer` over the model's tokens (mask = pad token), 300
perturbations (the audit's default), seeded. One "attribution" = all token attributions of one text. All run in one
process with one torch thread; each is timed after a warm-up text. Run it alone: on two cores
any other busy process slows each side several times.

Agreement on the 50 texts shap and LIME both explain (IG explains them too): per text,
Spearman's rank correlation of the signed token attributions (specials left out) and the
top-5 overlap |top5(a) & top5(b)| / 5 of the tokens ranked toward the predicted class
(k = min(5, tokens - 1)); mean and seeded bootstrap 95% interval over texts.

The last line printed is one JSON object:
`{"ig_attributions_per_s": {"value": IG texts/s, "baseline": shap texts/s, "target": 5 x shap, "ok": bool},
  "lime_attributions_per_s": {"value": LIME texts/s, "baseline": shap texts/s, "target": shap, "ok": bool},
  "agreement": {"ig~shap": {...}, "ig~lime": {...}, "shap~lime": {...}}, "texts": 50}`
(targets: IG at least 5 times shap's rate; LIME at least as fast as shap, so it can run by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "examples" / "redditbias_topics.jsonl"
TARGET_RATIO = 5.0


def _train_model(out: Path, seed: int) -> tuple[Path, list[str]]:
    import torch

    from federated.config import ModelConfig, Task
    from federated.models import build_model, encode, save_model

    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    train = [rows[i] for i in order[:1600]]
    held = [rows[i]["text"] for i in order[1600:1800]]
    labels = sorted({r["label"] for r in rows})
    bundle = build_model(
        ModelConfig("tiny-classifier", {}), task=Task.classification, num_labels=len(labels), seed=seed
    )
    bundle.label_names = labels
    enc = encode(bundle, [r["text"] for r in train], 48)
    y = torch.tensor([labels.index(r["label"]) for r in train])
    opt = torch.optim.Adam(bundle.model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    bundle.model.train()
    for _ in range(3):
        for batch in torch.randperm(len(train), generator=gen).split(32):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                bundle.model(enc["input_ids"][batch], enc["attention_mask"][batch]), y[batch]
            )
            loss.backward()
            opt.step()
    bundle.model.eval()
    return save_model(bundle, out / "model"), held


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a guard federate run directory")
    parser.add_argument("--ig-texts", type=int, default=64)
    parser.add_argument("--shap-texts", type=int, default=50, help="texts shap and LIME explain (the agreement sample)")
    parser.add_argument("--lime-perturbations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from audits._models import load_audit_model, run_holdout
    from audits.explain import integrated_gradients, shap_text_values, truncate_texts
    from audits.lime_explain import lime_text_values, rank_agreement

    with tempfile.TemporaryDirectory() as tmp:
        if args.run is not None:
            model = load_audit_model(args.run)
            texts = list(run_holdout(model, sensitive=[]).texts or ())
            source = str(args.run)
        else:
            path, texts = _train_model(Path(tmp), args.seed)
            model = load_audit_model(path, max_length=48)
            source = "tiny-classifier trained here on 1,600 RedditBias comments"
        n = min(max(args.ig_texts, args.shap_texts), len(texts) - 1)
        texts = truncate_texts(model.bundle.tokenizer, texts[: n + 1], model.max_length)
        targets = model.predict_proba(texts).argmax(1)
        tokens = [len(model.bundle.tokenizer(t)["input_ids"]) for t in texts]

        integrated_gradients(model, texts[:1], targets[:1], n_steps=50)  # warm-up
        ig, ig_seconds = _timed(integrated_gradients, model, texts[1:], targets[1:], n_steps=50)
        ig_rate = n / ig_seconds

        m = min(args.shap_texts, n)
        shap_text_values(model, texts[:1], targets[:1], max_evals=300)  # warm-up (shap compiles on first use)
        sv, shap_seconds = _timed(shap_text_values, model, texts[1 : m + 1], targets[1 : m + 1], max_evals=300)
        shap_rate = m / shap_seconds

        lime_text_values(model, texts[:1], targets[:1], num_samples=args.lime_perturbations, seed=args.seed)
        lime, lime_seconds = _timed(
            lime_text_values,
            model,
            texts[1 : m + 1],
            targets[1 : m + 1],
            num_samples=args.lime_perturbations,
            seed=args.seed,
        )
        lime_rate = m / lime_seconds

    values = {"ig": ig.values[:m], "shap": sv, "lime": lime.values}
    special = ig.special[:m]
    agreement = {
        f"{a}~{b}": rank_agreement(values[a], values[b], special, seed=args.seed)
        for a, b in (("ig", "shap"), ("ig", "lime"), ("shap", "lime"))
    }
    rel = np.abs(ig.deltas) / np.maximum(np.abs(ig.logits - ig.baseline_logits), 1e-3)
    print(f"model: {source}; texts of {np.mean(tokens):.1f} tokens on average (max_length {model.max_length})")
    print(
        f"  IG   (captum LayerIntegratedGradients, 50 steps): {n} texts in {ig_seconds:.2f} s = {ig_rate:.2f} texts/s"
    )
    print(
        f"  shap (Partition + Text masker, 300 evals):        {m} texts in {shap_seconds:.2f} s = {shap_rate:.2f} texts/s"
    )
    print(
        f"  LIME (LimeTextExplainer, {args.lime_perturbations} perturbations):    "
        f"{m} texts in {lime_seconds:.2f} s = {lime_rate:.2f} texts/s (mean local R^2 {lime.scores.mean():.3f})"
    )
    print(
        f"  ratio IG / shap: {ig_rate / shap_rate:.1f}x (target >= {TARGET_RATIO:g}x); LIME / shap: {lime_rate / shap_rate:.1f}x"
    )
    print(f"  IG completeness: max |delta| {np.abs(ig.deltas).max():.2e}, max relative {rel.max():.2e}")
    for pair, agree in agreement.items():
        print(
            f"  {pair:10s} on {agree['n']} texts ({agree['skipped']} skipped): Spearman {agree['mean_spearman']:.3f} "
            f"[{agree['spearman_ci95'][0]:.3f}, {agree['spearman_ci95'][1]:.3f}], top-5 overlap "
            f"{agree['mean_top_k_overlap']:.3f} [{agree['top_k_overlap_ci95'][0]:.3f}, {agree['top_k_overlap_ci95'][1]:.3f}]"
        )
    result = {
        "ig_attributions_per_s": {
            "value": round(ig_rate, 3),
            "baseline": round(shap_rate, 3),
            "target": round(TARGET_RATIO * shap_rate, 3),
            "ok": bool(ig_rate >= TARGET_RATIO * shap_rate),
        },
        "lime_attributions_per_s": {
            "value": round(lime_rate, 3),
            "baseline": round(shap_rate, 3),
            "target": round(shap_rate, 3),
            "ok": bool(lime_rate >= shap_rate),
        },
        "agreement": {
            pair: {
                "n": agree["n"],
                "mean_spearman": round(agree["mean_spearman"], 4),
                "spearman_ci95": [round(x, 4) for x in agree["spearman_ci95"]],
                "mean_top5_overlap": round(agree["mean_top_k_overlap"], 4),
                "top5_overlap_ci95": [round(x, 4) for x in agree["top_k_overlap_ci95"]],
            }
            for pair, agree in agreement.items()
        },
        "texts": m,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

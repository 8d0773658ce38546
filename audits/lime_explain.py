"""LIME beside integrated gradients and shap: attributions in the same units, and how far the methods agree.

Text: `lime.lime_text.LimeTextExplainer` with the model's own tokenizer as the splitter
(every non-special token the model sees is one LIME feature, position by position:
`bow=False`), masked tokens replaced by the pad token (the baseline IG and shap use),
all features kept (`feature_selection="none"`, one weighted ridge fit), LIME_NUM_SAMPLES
perturbed inputs by default, on the predicted class's probability (`predict_proba`, as LIME
is meant to be used; IG and shap explain the logit). The weights come back as one value per
token of the tokenizer's `input_ids`, specials included (0 there), the layout
`shap_text_values` returns, so the three methods are compared token by token.

Tabular: `lime.lime_tabular.LimeTabularExplainer` over the same background sample shap
uses (quartile discretisation, LIME's default), one weight per feature.

Agreement between two methods on one example: Spearman's rank correlation of the signed
attributions over its non-special tokens (or features), and the top-k overlap
|top_k(a) & top_k(b)| / k of the tokens ranked by signed attribution toward the
explained class, with k = min(5, tokens - 1) so a short text cannot agree trivially.
Each is summarised over examples by its mean with a seeded bootstrap 95% interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guard.core.errors import DependencyError

TOP_K = 5
N_BOOT = 1000
# LIME's perturbed inputs per example. 300 keeps LIME's cost near shap's (300 evals): on MiniLM (64 tokens)
# about as many forward passes, on the tiny classifier 2.3x shap's rate; more perturbations agree more with
# IG (bench/audit_explain.py: Spearman 0.56 at 300, 0.63 at 500, 0.69 at 1000) at a proportional cost.
LIME_NUM_SAMPLES = 300


def _lime(module: str) -> Any:
    """Import `lime.<module>`; a missing package is a DependencyError with the install line (or
    leave LIME out: --methods ig,shap)."""
    import importlib

    try:
        return importlib.import_module(f"lime.{module}")
    except ModuleNotFoundError as e:  # pragma: no cover - the audit extra installs it
        raise DependencyError(
            "lime not installed: LIME explanations need it", hint="pip install 'lime==0.2.0.1' or --methods ig,shap"
        ) from e


def _random_state(seed: int, index: int) -> np.random.RandomState:
    """One RandomState per explained example, so an example's weights do not depend on its neighbours."""
    return np.random.RandomState(int(np.random.SeedSequence([seed, 23, index]).generate_state(1)[0]))


@dataclass(frozen=True)
class LimeAttributions:
    """LIME weights per explained example (text: one per token id, specials 0; tabular: one per feature),
    the R^2 of each local fit, and the seconds spent."""

    values: tuple[np.ndarray, ...]
    scores: np.ndarray
    seconds: float
    num_samples: int
    mismatched: int = 0  # texts whose LIME features did not line up with the tokenizer's tokens
    settings: dict[str, Any] = field(default_factory=dict)


def _token_splitter(tokenizer: Any, max_length: int) -> Callable[[str], list[str]]:
    """The model's tokens as substrings of the text (WordPiece '##' pieces as their characters)."""

    def split(text: str) -> list[str]:
        enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        return [text[a:b] for a, b in enc["offset_mapping"] if b > a]

    return split


def lime_text_values(
    model: Any, texts: Sequence[str], targets: Sequence[int], *, num_samples: int = LIME_NUM_SAMPLES, seed: int = 0
) -> LimeAttributions:
    """LIME weights of each text's target-class probability, one per token id (the tokenizer's `input_ids`)."""
    lime_text = _lime("lime_text")
    tok = model.bundle.tokenizer
    split = _token_splitter(tok, model.max_length)
    specials = {int(i) for i in tok.all_special_ids}
    values, scores, mismatched = [], [], 0
    started = time.perf_counter()
    for i, (text, target) in enumerate(zip(texts, targets)):
        ids = tok(text, truncation=True, max_length=model.max_length)["input_ids"]
        real = np.flatnonzero([int(t) not in specials for t in ids])
        explainer = lime_text.LimeTextExplainer(
            split_expression=split,
            bow=False,
            mask_string=tok.pad_token,
            feature_selection="none",
            random_state=_random_state(seed, i),
            class_names=list(model.classes),
        )
        exp = explainer.explain_instance(
            text, model.predict_proba, labels=(int(target),), num_features=len(real), num_samples=num_samples
        )
        out = np.zeros(len(ids))
        weights = exp.local_exp[int(target)]
        if exp.domain_mapper.indexed_string.num_words() != len(real):
            mismatched += 1
            out = np.zeros(0)  # a different length: the agreement skips this text
        else:
            for feature, weight in weights:
                out[real[int(feature)]] = float(weight)
        values.append(out)
        scores.append(float(exp.score))
    return LimeAttributions(
        values=tuple(values),
        scores=np.asarray(scores, dtype=float),
        seconds=time.perf_counter() - started,
        num_samples=num_samples,
        mismatched=mismatched,
        settings={
            "explainer": "lime.lime_text.LimeTextExplainer(bow=False, mask=pad, tokens=model tokenizer)",
            "output": "predict_proba of the explained class",
            "num_samples": num_samples,
        },
    )


def lime_tabular_values(
    model: Any,
    x: np.ndarray,
    background: np.ndarray,
    target: int,
    *,
    feature_names: Sequence[str] = (),
    num_samples: int = LIME_NUM_SAMPLES,
    seed: int = 0,
) -> LimeAttributions:
    """LIME weights (n, features) of the target-class probability, over the background shap uses."""
    lime_tabular = _lime("lime_tabular")
    names = list(feature_names) or [f"x{j}" for j in range(x.shape[1])]
    values, scores = [], []
    started = time.perf_counter()
    for i, row in enumerate(np.asarray(x, dtype=float)):
        explainer = lime_tabular.LimeTabularExplainer(
            np.asarray(background, dtype=float),
            mode="classification",
            feature_names=names,
            class_names=list(model.classes),
            feature_selection="none",
            discretize_continuous=True,
            random_state=_random_state(seed, i),
        )
        exp = explainer.explain_instance(
            row,
            lambda b: model.predict_proba(np.asarray(b, dtype=float)),
            labels=(int(target),),
            num_features=x.shape[1],
            num_samples=num_samples,
        )
        out = np.zeros(x.shape[1])
        for feature, weight in exp.local_exp[int(target)]:
            out[int(feature)] = float(weight)
        values.append(out)
        scores.append(float(exp.score))
    return LimeAttributions(
        values=tuple(values),
        scores=np.asarray(scores, dtype=float),
        seconds=time.perf_counter() - started,
        num_samples=num_samples,
        settings={
            "explainer": "lime.lime_tabular.LimeTabularExplainer(discretizer=quartile)",
            "output": "predict_proba of the explained class",
            "num_samples": num_samples,
        },
    )


# -- agreement ----------------------------------------------------------------------------------------


def _interval(values: Sequence[float], seed: int) -> list[float]:
    """Seeded percentile-bootstrap 95% interval of the mean (NaN when fewer than two values)."""
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng([seed, 29])
    means = a[rng.integers(0, len(a), size=(N_BOOT, len(a)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def effective_k(k: int, length: int) -> int:
    """The k used for an example of `length` positions: min(k, length - 1), at least 1."""
    return max(1, min(k, length - 1))


def top_k_overlap(a: np.ndarray, b: np.ndarray, k: int = TOP_K) -> float:
    """|top_k(a) & top_k(b)| / k by signed value, k = min(k, len - 1)."""
    k = effective_k(k, len(a))
    return len(set(np.argsort(-a, kind="stable")[:k].tolist()) & set(np.argsort(-b, kind="stable")[:k].tolist())) / k


def rank_agreement(
    a: Sequence[np.ndarray],
    b: Sequence[np.ndarray],
    special: Sequence[np.ndarray] | None = None,
    *,
    k: int = TOP_K,
    seed: int = 0,
) -> dict[str, Any]:
    """Per example: Spearman and top-k overlap of `a` and `b` over the non-special positions; summaries
    with intervals. Examples whose lengths differ, with fewer than 3 positions, or a constant side are skipped."""
    from scipy.stats import spearmanr

    rhos, overlaps, ks, used, skipped = [], [], set(), [], 0
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y):
            skipped += 1
            continue
        real = ~np.asarray(special[i], dtype=bool) if special is not None else np.ones(len(x), dtype=bool)
        x, y = x[real], y[real]
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            skipped += 1
            continue
        rhos.append(float(spearmanr(x, y).statistic))
        overlaps.append(top_k_overlap(x, y, k))
        ks.add(effective_k(k, len(x)))
        used.append(i)
    return {
        "n": len(rhos),
        "skipped": skipped,
        "used": used,
        "spearman": rhos,
        "mean_spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "spearman_ci95": _interval(rhos, seed),
        "top_k": k,
        "k_used": sorted(ks),
        "top_k_overlap": overlaps,
        "mean_top_k_overlap": float(np.mean(overlaps)) if overlaps else float("nan"),
        "top_k_overlap_ci95": _interval(overlaps, seed + 1),
    }


__all__ = [
    "LIME_NUM_SAMPLES",
    "LimeAttributions",
    "effective_k",
    "lime_tabular_values",
    "lime_text_values",
    "rank_agreement",
    "top_k_overlap",
]

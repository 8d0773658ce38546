"""Explanation audit: which inputs drive a classifier's decisions, and which carry a group gap.

Text models: token attributions with captum's LayerIntegratedGradients over the
token-embedding layer (baseline: every non-special token replaced by the pad
token, same attention mask), the completeness check (attributions sum to
f(x) - f(baseline) of the target logit; the convergence delta is reported),
cross-checked on a sample with shap's Partition explainer and a Text masker
that masks with the same pad token (Spearman rank correlation per text and
agreement of the top tokens); global top tokens per predicted class; and, per
sensitive feature, the tokens that carry the gap in the focus class's mean logit
between the groups with the highest and lowest mean. By completeness the mean
logit of a group is its mean baseline logit plus the sum over tokens of the
group's mean attribution, so the group difference splits exactly into token
terms.

Tabular models: shap values per feature (Exact explainer up to 12 features,
Permutation above, Independent masker over a background sample), global
importance (mean |shap|), the additivity check, and the same group gap split
over features (shap values sum to f(x) - E f(background) for every record).

Reports hold vocabulary tokens, counts and numbers only: never a whole text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from audits.findings import AuditError, AuditFinding, AuditReport, finished_report, register_audit
from audits.lime_explain import LIME_NUM_SAMPLES, TOP_K, lime_tabular_values, lime_text_values, rank_agreement


class ExplainCheck(StrEnum):
    """The checks (finding names) the explanation audit writes."""

    TOP_TOKENS = "top_tokens"
    GAP_ATTRIBUTION = "gap_attribution"
    IG_COMPLETENESS = "ig_completeness"
    SHAP_IG_AGREEMENT = "shap_ig_agreement"
    SHAP_ADDITIVITY = "shap_additivity"
    FEATURE_IMPORTANCE = "feature_importance"
    METHOD_AGREEMENT = "method_agreement"
    EXPLAIN_TIME = "explain_time"
    LIME_TOP_TOKENS = "lime_top_tokens"


class ExplainMethod(StrEnum):
    """The attribution methods `--methods` picks from. Text: IG is the primary method (top tokens,
    gaps, completeness), shap and LIME cross-check it; tabular: shap is primary, LIME cross-checks."""

    IG = "ig"
    SHAP = "shap"
    LIME = "lime"


PRIMARY_METHOD = {"text": ExplainMethod.IG, "tabular": ExplainMethod.SHAP}
DEFAULT_METHODS = (ExplainMethod.IG, ExplainMethod.SHAP, ExplainMethod.LIME)


def parse_methods(methods: str | Sequence[str]) -> tuple[ExplainMethod, ...]:
    """`"ig,shap,lime"` or a sequence of names -> methods in the canonical order; unknown names list the known."""
    names = methods.split(",") if isinstance(methods, str) else list(methods)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    known = sorted(m.value for m in ExplainMethod)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise AuditError(f"unknown explanation method(s) {unknown or names}: choose from {', '.join(known)}")
    return tuple(m for m in ExplainMethod if m.value in names)


def release_evidence(report: AuditReport) -> dict[str, list[AuditFinding]]:
    """The explanation audit gates nothing (yet): no release evidence."""
    del report
    return {}


logger = logging.getLogger(__name__)

EXACT_MAX_FEATURES = 12


def _shap() -> Any:
    """Import shap; its matplotlib import warns (PendingDeprecationWarning) with matplotlib 3.10+."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap
    return shap


@dataclass(frozen=True)
class TokenAttributions:
    """IG attributions for a batch of texts: per text its token ids and attributions (specials included)."""

    ids: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    targets: np.ndarray
    logits: np.ndarray  # f(x)[target]
    baseline_logits: np.ndarray  # f(baseline)[target]
    deltas: np.ndarray  # captum convergence delta: sum(attr) - (f(x) - f(baseline))
    special: tuple[np.ndarray, ...] = field(repr=False, default=())


def embedding_layer(model: Any) -> Any:
    """The token-embedding module of a guard text model."""
    from torch import nn

    from federated.models import EncoderClassifier, HFLogits, TinyTransformer, unwrap

    model = unwrap(model)
    if isinstance(model, TinyTransformer):
        return model.tokens
    if isinstance(model, EncoderClassifier):
        return model.encoder.get_input_embeddings()
    if isinstance(model, HFLogits):
        return model.model.get_input_embeddings()
    if hasattr(model, "get_input_embeddings"):
        return model.get_input_embeddings()
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    if not embeddings:
        raise AuditError(f"{type(model).__name__} has no nn.Embedding to attribute over")
    return max(embeddings, key=lambda m: m.num_embeddings)


def truncate_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[str]:
    """Each text cut after the last token the model sees, so IG and shap see the same tokens."""
    out = []
    for text in texts:
        enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        ends = [end for (start, end) in enc["offset_mapping"] if end > start]
        out.append(text[: ends[-1]] if ends else text)
    return out


def _special_ids(tokenizer: Any) -> set[int]:
    return {int(i) for i in tokenizer.all_special_ids}


def integrated_gradients(
    model: Any, texts: Sequence[str], targets: Sequence[int], *, n_steps: int = 50, batch_size: int = 16
) -> TokenAttributions:
    """captum LayerIntegratedGradients over the embedding layer, one batch at a time."""
    import torch
    from captum.attr import LayerIntegratedGradients

    from federated.models import encode

    bundle = model.bundle
    net = bundle.model.eval()
    tok = bundle.tokenizer
    pad = int(tok.pad_token_id)
    specials = _special_ids(tok) - {pad}

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return net(input_ids, attention_mask)

    lig = LayerIntegratedGradients(forward, embedding_layer(net))
    device = next(net.parameters()).device  # inputs go where the model is; results come back as numpy
    ids_out, values_out, special_out = [], [], []
    logits_all, base_all, deltas_all = [], [], []
    targets = np.asarray(targets, dtype=int)
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        target = torch.as_tensor(targets[start : start + batch_size]).to(device)
        enc = encode(bundle, chunk, model.max_length)
        input_ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        keep = torch.zeros_like(input_ids, dtype=torch.bool)
        for sid in specials:
            keep |= input_ids == sid
        baseline = torch.where(keep | (mask == 0), input_ids, torch.full_like(input_ids, pad))
        attributions, delta = lig.attribute(
            inputs=input_ids,
            baselines=baseline,
            target=target,
            additional_forward_args=(mask,),
            n_steps=n_steps,
            internal_batch_size=max(len(chunk) * n_steps // 4, len(chunk)),
            return_convergence_delta=True,
        )
        per_token = attributions.sum(-1).detach().cpu().numpy()
        with torch.no_grad():
            rows = torch.arange(len(chunk), device=device)
            logits_all.append(net(input_ids, mask)[rows, target].cpu().numpy())
            base_all.append(net(baseline, mask)[rows, target].cpu().numpy())
        deltas_all.append(delta.detach().cpu().numpy())
        for i in range(len(chunk)):
            n = int(mask[i].sum())
            ids_out.append(input_ids[i, :n].cpu().numpy())
            values_out.append(per_token[i, :n].astype(float))
            special_out.append(keep[i, :n].cpu().numpy())
    return TokenAttributions(
        ids=tuple(ids_out),
        values=tuple(values_out),
        targets=targets,
        logits=np.concatenate(logits_all),
        baseline_logits=np.concatenate(base_all),
        deltas=np.concatenate(deltas_all).astype(float),
        special=tuple(special_out),
    )


def shap_text_values(
    model: Any, texts: Sequence[str], targets: Sequence[int], *, max_evals: int = 300, batch_size: int = 64
) -> list[np.ndarray]:
    """shap Partition explainer with a Text masker (mask = pad token) on the target logit."""
    import torch

    shap = _shap()

    from federated.models import encode

    bundle = model.bundle
    tok = bundle.tokenizer

    device = next(bundle.model.parameters()).device

    def f(batch: Any) -> np.ndarray:
        out = []
        with torch.no_grad():
            items = list(batch)
            for start in range(0, len(items), batch_size):
                enc = encode(bundle, items[start : start + batch_size], model.max_length)
                logits = bundle.model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
                out.append(logits.float().cpu().numpy())
        return np.concatenate(out)

    masker = shap.maskers.Text(tok, mask_token=tok.pad_token, collapse_mask_token=False)
    explainer = shap.explainers.Partition(f, masker, output_names=list(model.classes))
    explanation = explainer(list(texts), max_evals=max_evals, silent=True)
    return [np.asarray(explanation[i].values)[:, int(t)] for i, t in enumerate(targets)]


def _rank_agreement(ig: TokenAttributions, shap_values: Sequence[np.ndarray], top_k: int) -> dict[str, Any]:
    from scipy.stats import spearmanr

    rhos, top_hits, used, skipped = [], [], 0, 0
    for _ids, values, special, sv in zip(ig.ids, ig.values, ig.special, shap_values):
        if len(sv) != len(values):
            skipped += 1
            continue
        real = ~special
        a, b = values[real], np.asarray(sv)[real]
        if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            skipped += 1
            continue
        used += 1
        rhos.append(float(spearmanr(a, b).statistic))
        top_hits.append(int(np.argmax(a)) in set(np.argsort(-b)[:top_k].tolist()))
    return {
        "n": used,
        "skipped": skipped,
        "spearman": rhos,
        "mean_spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "median_spearman": float(np.median(rhos)) if rhos else float("nan"),
        "top_token_agreement": float(np.mean(top_hits)) if top_hits else float("nan"),
    }


def _method_agreement(
    attributions: dict[ExplainMethod, dict[int, np.ndarray]],
    special: dict[int, np.ndarray] | None,
    seed: int,
    lines: np.ndarray,
) -> tuple[list[AuditFinding], dict[str, Any]]:
    """Spearman and top-k overlap for every pair of methods, over the examples both explained
    (`lines`: each example's source line, named beside its per-example values)."""
    from itertools import combinations

    findings: list[AuditFinding] = []
    plot: dict[str, Any] = {}
    for a, b in combinations([m for m in ExplainMethod if m in attributions], 2):
        common = sorted(set(attributions[a]) & set(attributions[b]))
        if not common:
            continue
        agree = rank_agreement(
            [attributions[a][i] for i in common],
            [attributions[b][i] for i in common],
            [special[i] for i in common] if special is not None else None,
            k=TOP_K,
            seed=seed,
        )
        pair = f"{a.value}~{b.value}"
        base = {
            "n": agree["n"],
            "skipped": agree["skipped"],
            "methods": [a.value, b.value],
            "lines": [int(lines[common[j]]) for j in agree["used"]],
        }
        findings += [
            AuditFinding(
                audit="explain",
                check=ExplainCheck.METHOD_AGREEMENT,
                metric="mean_spearman",
                value=agree["mean_spearman"],
                group=pair,
                evidence={
                    **base,
                    "ci95": agree["spearman_ci95"],
                    "per_example": agree["spearman"],
                    "definition": "Spearman rank correlation of the signed attributions per example "
                    "(non-special tokens or features); mean with a seeded bootstrap 95% interval",
                },
            ),
            AuditFinding(
                audit="explain",
                check=ExplainCheck.METHOD_AGREEMENT,
                metric="mean_top_k_overlap",
                value=agree["mean_top_k_overlap"],
                group=pair,
                evidence={
                    **base,
                    "k": agree["top_k"],
                    "k_used": agree["k_used"],
                    "ci95": agree["top_k_overlap_ci95"],
                    "per_example": agree["top_k_overlap"],
                    "definition": "|top_k(a) & top_k(b)| / k, tokens ranked by signed attribution toward the "
                    "explained class, k = min(5, tokens - 1); mean with a seeded bootstrap 95% interval",
                },
            ),
        ]
        plot[pair] = {"spearman": agree["spearman"], "top_k_overlap": agree["top_k_overlap"]}
    return findings, plot


def _timing_findings(timing: dict[ExplainMethod, tuple[float, int, dict[str, Any]]]) -> list[AuditFinding]:
    """Seconds per explained example for each method (wall clock in this process, load included)."""
    return [
        AuditFinding(
            audit="explain",
            check=ExplainCheck.EXPLAIN_TIME,
            metric="seconds_per_example",
            value=float(seconds / count),
            group=method.value,
            evidence={
                "n": count,
                "seconds": float(seconds),
                "attributions_per_s": float(count / seconds) if seconds > 0 else float("nan"),
                **settings,
            },
            severity="info",
        )
        for method, (seconds, count, settings) in timing.items()
        if count > 0
    ]


def _lime_top_tokens(
    tok: Any,
    ig: TokenAttributions,
    lime: dict[int, np.ndarray],
    pred: np.ndarray,
    classes: Sequence[str],
    top_k: int,
    min_count: int,
) -> list[AuditFinding]:
    """LIME's global top tokens per predicted class (mean weight over the LIME texts), beside IG's top_tokens."""
    findings = []
    for c, cls in enumerate(classes):
        table: dict[int, list[float]] = {}
        rows = [i for i in lime if pred[i] == c and len(lime[i]) == len(ig.ids[i])]
        for i in rows:
            for tid, value, special in zip(ig.ids[i], lime[i], ig.special[i]):
                if not special:
                    entry = table.setdefault(int(tid), [0.0, 0])
                    entry[0] += float(value)
                    entry[1] += 1
        ranked = sorted(
            ((s / k, tid, int(k)) for tid, (s, k) in table.items() if k >= min(min_count, len(rows))), reverse=True
        )[:top_k]
        if not ranked:
            continue
        tokens = tok.convert_ids_to_tokens([r[1] for r in ranked])
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.LIME_TOP_TOKENS,
                metric="mean_weight",
                value=float(ranked[0][0]),
                group=f"class={cls}",
                evidence={
                    "class": cls,
                    "records": len(rows),
                    "tokens": tokens,
                    "mean_weight": [float(r[0]) for r in ranked],
                    "count": [r[2] for r in ranked],
                    "min_count": min_count,
                },
            )
        )
    return findings


def _token_table(tokenizer: Any, ig: TokenAttributions, rows: np.ndarray) -> dict[int, tuple[float, int]]:
    """token id -> (sum of attributions, occurrences) over the texts in `rows`, specials left out."""
    table: dict[int, list[float]] = {}
    for i in rows:
        for tid, value, special in zip(ig.ids[i], ig.values[i], ig.special[i]):
            if special:
                continue
            entry = table.setdefault(int(tid), [0.0, 0])
            entry[0] += float(value)
            entry[1] += 1
    return {k: (v[0], int(v[1])) for k, v in table.items()}


def _identity_words() -> set[str]:
    from audits.counterfactual import name_axes, term_axes

    words = set()
    for axis in (*term_axes(), *name_axes()):
        for group in axis.words:
            words.update(w.lower() for w in group)
    return words


def _focus_class(classes: Sequence[str], positive_label: str | None, pred: np.ndarray, sensitive: Any) -> int:
    if positive_label is not None:
        if positive_label not in classes:
            raise AuditError(f"positive label {positive_label!r} is not one of the model's classes {list(classes)}")
        return list(classes).index(positive_label)
    if len(classes) == 2:
        return 1
    if sensitive is None or sensitive.shape[1] == 0:
        return int(np.bincount(pred, minlength=len(classes)).argmax())
    keys = sensitive.iloc[:, 0].astype(str).to_numpy()
    gaps = []
    for c in range(len(classes)):
        rates = [float((pred[keys == g] == c).mean()) for g in np.unique(keys)]
        gaps.append(max(rates) - min(rates))
    return int(np.argmax(gaps))


# -- text -----------------------------------------------------------------------------------------------


def _explain_text(
    model: Any,
    records: Any,
    *,
    positive_label: str | None,
    n_samples: int,
    n_shap: int,
    n_steps: int,
    shap_max_evals: int,
    top_k: int,
    min_count: int,
    completeness_tol: float,
    agreement_min: float,
    seed: int,
    methods: Sequence[ExplainMethod] = DEFAULT_METHODS,
    n_lime: int = 0,
    lime_num_samples: int = LIME_NUM_SAMPLES,
) -> tuple[list[AuditFinding], dict[str, Any], dict[str, str]]:
    rng = np.random.default_rng([seed, 17])
    n = min(n_samples, len(records))
    index = np.sort(rng.choice(len(records), size=n, replace=False))
    sample = records.subset(index)
    tok = model.bundle.tokenizer
    texts = truncate_texts(tok, sample.texts or (), model.max_length)
    proba = model.predict_proba(texts)
    pred = proba.argmax(1)
    classes = list(model.classes)
    findings: list[AuditFinding] = []
    plots: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    started = time.perf_counter()
    ig = integrated_gradients(model, texts, pred, n_steps=n_steps)
    timing = {ExplainMethod.IG: (time.perf_counter() - started, n, {"n_steps": n_steps})}
    attributions: dict[ExplainMethod, dict[int, np.ndarray]] = {ExplainMethod.IG: dict(enumerate(ig.values))}
    findings += _completeness(ig, completeness_tol, n_steps)

    # shap and LIME cross-checks on one sub-sample (LIME's is the first n_lime of the same draw)
    m = min(n_shap, n) if ExplainMethod.SHAP in methods else 0
    m_lime = min(n_lime, n) if ExplainMethod.LIME in methods else 0
    draw = rng.choice(n, size=max(m, m_lime), replace=False) if max(m, m_lime) > 0 else np.zeros(0, dtype=int)
    if m > 0:
        sub = np.sort(draw[:m])
        started = time.perf_counter()
        shap_values = shap_text_values(model, [texts[i] for i in sub], pred[sub], max_evals=shap_max_evals)
        timing[ExplainMethod.SHAP] = (time.perf_counter() - started, m, {"max_evals": shap_max_evals})
        attributions[ExplainMethod.SHAP] = {int(i): np.asarray(v) for i, v in zip(sub, shap_values)}
        ig_sub = TokenAttributions(
            ids=tuple(ig.ids[i] for i in sub),
            values=tuple(ig.values[i] for i in sub),
            targets=pred[sub],
            logits=ig.logits[sub],
            baseline_logits=ig.baseline_logits[sub],
            deltas=ig.deltas[sub],
            special=tuple(ig.special[i] for i in sub),
        )
        agreement = _rank_agreement(ig_sub, shap_values, top_k=3)
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.SHAP_IG_AGREEMENT,
                metric="mean_spearman",
                value=agreement["mean_spearman"],
                evidence={
                    "n": agreement["n"],
                    "skipped": agreement["skipped"],
                    "median_spearman": agreement["median_spearman"],
                    "max_evals": shap_max_evals,
                    "explainer": "shap.explainers.Partition + maskers.Text(mask=pad)",
                },
            )
        )
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.SHAP_IG_AGREEMENT,
                metric="top_token_agreement",
                value=agreement["top_token_agreement"],
                threshold=agreement_min,
                passed=bool(agreement["top_token_agreement"] >= agreement_min)
                if np.isfinite(agreement["top_token_agreement"])
                else None,
                evidence={"n": agreement["n"], "definition": "IG's top token is among shap's top 3"},
                message=""
                if agreement["top_token_agreement"] >= agreement_min
                else "IG and shap disagree on the top token for most texts: read the attributions with care",
            )
        )
        plots["shap_ig_spearman"] = {"spearman": agreement["spearman"]}
    else:
        skipped[ExplainCheck.SHAP_IG_AGREEMENT] = (
            "n_shap = 0" if ExplainMethod.SHAP in methods else "shap is not among the methods"
        )
    if m_lime > 0:
        lime_sub = np.sort(draw[:m_lime])
        lime = lime_text_values(
            model, [texts[i] for i in lime_sub], pred[lime_sub], num_samples=lime_num_samples, seed=seed
        )
        timing[ExplainMethod.LIME] = (
            lime.seconds,
            m_lime,
            {**lime.settings, "mean_local_r2": float(np.mean(lime.scores)), "mismatched_texts": lime.mismatched},
        )
        attributions[ExplainMethod.LIME] = {int(i): v for i, v in zip(lime_sub, lime.values)}
        findings += _lime_top_tokens(tok, ig, attributions[ExplainMethod.LIME], pred, classes, top_k, min_count)
    else:
        skipped[ExplainCheck.LIME_TOP_TOKENS] = (
            "n_lime = 0" if ExplainMethod.LIME in methods else "lime is not among the methods"
        )
    special = dict(enumerate(ig.special))
    f_agree, plots["method_agreement"] = _method_agreement(attributions, special, seed, sample.lines)
    findings += f_agree + _timing_findings(timing)
    if not f_agree:
        skipped[ExplainCheck.METHOD_AGREEMENT] = "fewer than two methods explained the same texts"

    # global top tokens per predicted class
    identity = _identity_words()
    heatmap_tokens: list[int] = []
    per_class: dict[str, dict[int, tuple[float, int]]] = {}
    for c, cls in enumerate(classes):
        rows = np.flatnonzero(pred == c)
        if len(rows) == 0:
            continue
        table = _token_table(tok, ig, rows)
        per_class[cls] = table
        ranked = sorted(((s / k, tid, k) for tid, (s, k) in table.items() if k >= min_count), reverse=True)[:top_k]
        if not ranked:
            continue
        tokens = tok.convert_ids_to_tokens([r[1] for r in ranked])
        heatmap_tokens += [r[1] for r in ranked]
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.TOP_TOKENS,
                metric="mean_attribution",
                value=float(ranked[0][0]),
                group=f"class={cls}",
                evidence={
                    "class": cls,
                    "records": int(len(rows)),
                    "tokens": tokens,
                    "mean_attribution": [float(r[0]) for r in ranked],
                    "count": [int(r[2]) for r in ranked],
                    "identity_term": [t.lower() in identity for t in tokens],
                    "min_count": min_count,
                },
            )
        )
    order = list(dict.fromkeys(heatmap_tokens))
    plots["token_heatmap"] = {
        "tokens": tok.convert_ids_to_tokens(order),
        "classes": list(per_class),
        "mean_attribution": [
            [per_class[c][t][0] / per_class[c][t][1] if t in per_class[c] else 0.0 for c in per_class] for t in order
        ],
    }

    # group gaps: IG toward the focus class for every record
    if sample.sensitive.shape[1]:
        focus = _focus_class(classes, positive_label, pred, sample.sensitive)
        ig_focus = (
            ig if np.all(pred == focus) else integrated_gradients(model, texts, np.full(n, focus), n_steps=n_steps)
        )
        if not np.all(pred == focus):
            findings += [
                AuditFinding(
                    **{**f.__dict__, "metric": f"{f.metric}_focus", "evidence": {**f.evidence, "class": classes[focus]}}
                )
                for f in _completeness(ig_focus, completeness_tol, n_steps)
            ]
        for feature in sample.sensitive.columns:
            f_new, plot = _text_gap(
                tok,
                ig_focus,
                sample.sensitive[feature].astype(str).to_numpy(),
                feature,
                classes[focus],
                top_k,
                identity,
            )
            findings += f_new
            plots.setdefault("gap_tokens", {})[feature] = plot
    else:
        skipped[ExplainCheck.GAP_ATTRIBUTION] = "no sensitive feature given"
    return findings, plots, skipped


def _completeness(ig: TokenAttributions, tol: float, n_steps: int) -> list[AuditFinding]:
    diff = ig.logits - ig.baseline_logits
    rel = np.abs(ig.deltas) / np.maximum(np.abs(diff), 1e-3)
    return [
        AuditFinding(
            audit="explain",
            check=ExplainCheck.IG_COMPLETENESS,
            metric="max_abs_delta",
            value=float(np.abs(ig.deltas).max()),
            evidence={
                "n": len(ig.deltas),
                "mean_abs_delta": float(np.abs(ig.deltas).mean()),
                "n_steps": n_steps,
                "mean_abs_output_difference": float(np.abs(diff).mean()),
                "method": "gausslegendre",
            },
        ),
        AuditFinding(
            audit="explain",
            check=ExplainCheck.IG_COMPLETENESS,
            metric="max_rel_delta",
            value=float(rel.max()),
            threshold=tol,
            passed=bool(rel.max() <= tol),
            evidence={
                "n": len(rel),
                "mean_rel_delta": float(rel.mean()),
                "definition": "|sum(attr) - (f(x) - f(baseline))| / max(|f(x) - f(baseline)|, 1e-3)",
            },
            severity="info" if rel.max() <= tol else "warning",
            message="" if rel.max() <= tol else "IG did not converge for some texts: raise n_steps",
        ),
    ]


def _text_gap(
    tok: Any, ig: TokenAttributions, keys: np.ndarray, feature: str, cls: str, top_k: int, identity: set[str]
) -> tuple[list[AuditFinding], dict[str, Any]]:
    groups = sorted(set(keys.tolist()))
    if len(groups) < 2:
        return [], {}
    means = {g: float(ig.logits[keys == g].mean()) for g in groups}
    hi = max(groups, key=lambda g: means[g])
    lo = min(groups, key=lambda g: means[g])
    contrib: dict[str, dict[int, float]] = {}
    for g in (hi, lo):
        rows = np.flatnonzero(keys == g)
        table = _token_table(tok, ig, rows)
        contrib[g] = {tid: s / len(rows) for tid, (s, _k) in table.items()}
    tids = set(contrib[hi]) | set(contrib[lo])
    delta = {t: contrib[hi].get(t, 0.0) - contrib[lo].get(t, 0.0) for t in tids}
    ranked = sorted(delta.items(), key=lambda kv: -kv[1])[:top_k]
    gap = means[hi] - means[lo]
    token_sum = float(sum(delta.values()))
    base_gap = float(ig.baseline_logits[keys == hi].mean() - ig.baseline_logits[keys == lo].mean())
    delta_gap = float(ig.deltas[keys == hi].mean() - ig.deltas[keys == lo].mean())
    tokens = tok.convert_ids_to_tokens([t for t, _ in ranked])
    share = float(ranked[0][1] / gap) if ranked and abs(gap) > 1e-9 else float("nan")
    finding = AuditFinding(
        audit="explain",
        check=ExplainCheck.GAP_ATTRIBUTION,
        metric="top_token_share",
        value=share,
        group=f"{feature}:{hi}>{lo}",
        evidence={
            "feature": feature,
            "class": cls,
            "high_group": hi,
            "low_group": lo,
            "logit_gap": gap,
            "token_sum": token_sum,
            "baseline_gap": base_gap,
            "delta_gap": delta_gap,
            "tokens": tokens,
            "token_gap": [float(v) for _, v in ranked],
            "identity_term": [t.lower() in identity for t in tokens],
            "n": {g: int((keys == g).sum()) for g in (hi, lo)},
        },
        message=f"top token carrying the {feature} gap toward {cls}: {tokens[0] if tokens else '-'}",
    )
    plot = {
        "class": cls,
        "high_group": hi,
        "low_group": lo,
        "tokens": tokens,
        "token_gap": [float(v) for _, v in ranked],
        "logit_gap": gap,
    }
    return [finding], plot


# -- tabular ----------------------------------------------------------------------------------------------


def shap_tabular_values(
    model: Any, x: np.ndarray, background: np.ndarray, target: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """shap values (n, features) of the target-class probability and the base values (n,)."""
    shap = _shap()

    def f(batch: np.ndarray) -> np.ndarray:
        return model.predict_proba(np.asarray(batch, dtype=float))[:, target]

    masker = shap.maskers.Independent(background, max_samples=len(background))
    if x.shape[1] <= EXACT_MAX_FEATURES:
        explainer = shap.explainers.Exact(f, masker, feature_names=list(model.feature_names) or None)
        explanation = explainer(x, silent=True)
    else:
        explainer = shap.explainers.Permutation(f, masker, feature_names=list(model.feature_names) or None, seed=seed)
        explanation = explainer(x, max_evals=2 * x.shape[1] + 1 + 10 * x.shape[1], silent=True)
    return np.asarray(explanation.values, dtype=float), np.asarray(explanation.base_values, dtype=float)


def _explain_tabular(
    model: Any,
    records: Any,
    *,
    feature_names: Sequence[str],
    positive_label: str | None,
    n_samples: int,
    n_background: int,
    top_k: int,
    seed: int,
    methods: Sequence[ExplainMethod] = DEFAULT_METHODS,
    n_lime: int = 0,
    lime_num_samples: int = LIME_NUM_SAMPLES,
) -> tuple[list[AuditFinding], dict[str, Any], dict[str, str]]:
    rng = np.random.default_rng([seed, 19])
    x_all = np.asarray(records.features, dtype=float)
    n = min(n_samples, len(records))
    index = np.sort(rng.choice(len(records), size=n, replace=False))
    background = x_all[np.sort(rng.choice(len(records), size=min(n_background, len(records)), replace=False))]
    x = x_all[index]
    sensitive = records.sensitive.iloc[index].reset_index(drop=True)
    proba = model.predict_proba(x)
    classes = list(model.classes)
    focus = _focus_class(classes, positive_label, proba.argmax(1), sensitive)
    started = time.perf_counter()
    values, base = shap_tabular_values(model, x, background, focus, seed=seed)
    timing = {ExplainMethod.SHAP: (time.perf_counter() - started, n, {"background": len(background)})}
    output = proba[:, focus]
    additivity = np.abs(values.sum(1) + base - output)
    names = list(feature_names)
    importance = np.abs(values).mean(0)
    order = np.argsort(-importance)
    findings = [
        AuditFinding(
            audit="explain",
            check=ExplainCheck.SHAP_ADDITIVITY,
            metric="max_abs_error",
            value=float(additivity.max()),
            threshold=1e-6,
            passed=bool(additivity.max() <= 1e-6),
            evidence={"n": n, "class": classes[focus], "definition": "|sum(shap) + base - f(x)|"},
        )
    ]
    for rank, j in enumerate(order):
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.FEATURE_IMPORTANCE,
                metric="mean_abs_shap",
                value=float(importance[j]),
                group=names[j],
                evidence={"rank": rank + 1, "class": classes[focus], "n": n, "mean_shap": float(values[:, j].mean())},
            )
        )
    plots: dict[str, Any] = {
        "feature_importance": {
            "features": [names[j] for j in order],
            "mean_abs_shap": [float(importance[j]) for j in order],
            "class": classes[focus],
        }
    }
    for feature in sensitive.columns:
        keys = sensitive[feature].astype(str).to_numpy()
        groups = sorted(set(keys.tolist()))
        if len(groups) < 2:
            continue
        means = {g: float(output[keys == g].mean()) for g in groups}
        hi = max(groups, key=lambda g: means[g])
        lo = min(groups, key=lambda g: means[g])
        delta = values[keys == hi].mean(0) - values[keys == lo].mean(0)
        ranked = np.argsort(-delta)[:top_k]
        gap = means[hi] - means[lo]
        findings.append(
            AuditFinding(
                audit="explain",
                check=ExplainCheck.GAP_ATTRIBUTION,
                metric="top_feature_share",
                value=float(delta[ranked[0]] / gap) if abs(gap) > 1e-12 else float("nan"),
                group=f"{feature}:{hi}>{lo}",
                evidence={
                    "feature": feature,
                    "class": classes[focus],
                    "high_group": hi,
                    "low_group": lo,
                    "score_gap": gap,
                    "feature_sum": float(delta.sum()),
                    "features": [names[j] for j in ranked],
                    "feature_gap": [float(delta[j]) for j in ranked],
                    "n": {g: int((keys == g).sum()) for g in (hi, lo)},
                },
                message=f"feature carrying most of the {feature} gap: {names[ranked[0]]}",
            )
        )
        plots.setdefault("gap_features", {})[feature] = {
            "features": [names[j] for j in ranked],
            "feature_gap": [float(delta[j]) for j in ranked],
            "high_group": hi,
            "low_group": lo,
            "score_gap": gap,
        }
    skipped: dict[str, str] = {}
    m_lime = min(n_lime, n) if ExplainMethod.LIME in methods else 0
    if m_lime > 0:
        f_lime, plots["lime_feature_importance"], lime_timing = _tabular_lime(
            model,
            x,
            background,
            values,
            names,
            classes[focus],
            focus,
            m_lime,
            lime_num_samples,
            rng,
            seed,
            records.lines[index],
        )
        findings += f_lime
        timing[ExplainMethod.LIME] = lime_timing
    else:
        skipped[ExplainCheck.METHOD_AGREEMENT] = (
            "n_lime = 0" if ExplainMethod.LIME in methods else "lime is not among the methods"
        )
    return findings + _timing_findings(timing), plots, skipped


def _tabular_lime(
    model: Any,
    x: np.ndarray,
    background: np.ndarray,
    shap_values: np.ndarray,
    names: list[str],
    cls: str,
    focus: int,
    m: int,
    num_samples: int,
    rng: np.random.Generator,
    seed: int,
    lines: np.ndarray,
) -> tuple[list[AuditFinding], dict[str, Any], tuple[float, int, dict[str, Any]]]:
    """LIME on a sub-sample of the shap records: its feature importance and its agreement with shap."""
    sub = np.sort(rng.choice(len(x), size=m, replace=False))
    lime = lime_tabular_values(
        model, x[sub], background, focus, feature_names=names, num_samples=num_samples, seed=seed
    )
    weights = np.vstack(lime.values)
    importance = np.abs(weights).mean(0)
    order = np.argsort(-importance, kind="stable")
    findings = [
        AuditFinding(
            audit="explain",
            check=ExplainCheck.FEATURE_IMPORTANCE,
            metric="mean_abs_lime",
            value=float(importance[j]),
            group=names[j],
            evidence={"rank": rank + 1, "class": cls, "n": m, "mean_lime": float(weights[:, j].mean())},
        )
        for rank, j in enumerate(order)
    ]
    attributions = {
        ExplainMethod.SHAP: {int(i): shap_values[i] for i in sub},
        ExplainMethod.LIME: {int(i): w for i, w in zip(sub, lime.values)},
    }
    agree, _plot = _method_agreement(attributions, None, seed, lines)
    findings += agree
    plot = {"features": [names[j] for j in order], "mean_abs_lime": [float(importance[j]) for j in order], "class": cls}
    settings = {**lime.settings, "mean_local_r2": float(np.mean(lime.scores))}
    return findings, plot, (lime.seconds, m, settings)


# -- entry point --------------------------------------------------------------------------------------------


@register_audit("explain")
def run_explain_audit(
    model: str | Path,
    *,
    data: str | Path | None = None,
    sensitive: Sequence[str] = (),
    label_field: str | None = None,
    text_field: str = "text",
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
    n_samples: int = 100,
    n_shap: int = 20,
    n_steps: int = 50,
    shap_max_evals: int = 300,
    n_background: int = 100,
    top_k: int = 10,
    min_count: int = 3,
    completeness_tol: float = 0.05,
    agreement_min: float = 0.5,
    max_length: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
    methods: str | Sequence[str] = DEFAULT_METHODS,
    n_lime: int | None = None,
    lime_num_samples: int = LIME_NUM_SAMPLES,
) -> AuditReport:
    """Explain `model` (run directory, guard model, HF checkpoint, .skops, tabular .safetensors)
    on `data` (default: the run's holdout), compared across `sensitive` groups.

    `trust_model` loads a .skops file that holds types outside guard's allow-list
    (functions included); the findings' subject records it.

    `methods` (default ig, shap, lime): IG (text) and shap (tabular) are primary and required;
    the others cross-check them. LIME explains `n_lime` examples (default: n_shap, the same
    sub-sample as shap) with `lime_num_samples` perturbations each."""
    from audits._models import audit_subject, load_for_audit, torch_threads

    started = time.perf_counter()
    if n_samples < 1 or n_steps < 2 or n_shap < 0:
        raise AuditError("n_samples must be >= 1, n_steps >= 2 and n_shap >= 0")
    chosen = parse_methods(methods)
    n_lime = n_shap if n_lime is None else n_lime
    if n_lime < 0 or lime_num_samples < 10:
        raise AuditError("n_lime must be >= 0 and lime_num_samples >= 10")
    with torch_threads(threads):
        loaded, records = load_for_audit(
            model,
            data=data,
            sensitive=list(sensitive),
            label_field=label_field,
            text_field=text_field,
            features=features,
            max_length=max_length,
            seed=seed,
            trust_model=trust_model,
        )
        if PRIMARY_METHOD[loaded.kind] not in chosen:
            raise AuditError(
                f"a {loaded.kind} model is explained with {PRIMARY_METHOD[loaded.kind].value} first: add it to the "
                f"methods (got {','.join(m.value for m in chosen)})"
            )
        lime_options = {"methods": chosen, "n_lime": n_lime, "lime_num_samples": lime_num_samples}
        if loaded.kind == "text":
            findings, plots, skipped = _explain_text(
                loaded,
                records,
                positive_label=positive_label,
                n_samples=n_samples,
                n_shap=n_shap,
                n_steps=n_steps,
                shap_max_evals=shap_max_evals,
                top_k=top_k,
                min_count=min_count,
                completeness_tol=completeness_tol,
                agreement_min=agreement_min,
                seed=seed,
                **lime_options,
            )
        else:
            findings, plots, skipped = _explain_tabular(
                loaded,
                records,
                feature_names=list(features or loaded.feature_names),
                positive_label=positive_label,
                n_samples=n_samples,
                n_background=n_background,
                top_k=top_k,
                seed=seed,
                **lime_options,
            )
            skipped.update(
                {
                    "ig_completeness": "tabular model: shap values only",
                    "shap_ig_agreement": "tabular model: shap values only",
                }
            )
        subject = audit_subject(loaded, records, sensitive, samples=min(n_samples, len(records)))
        return finished_report(
            "explain", subject=subject, findings=findings, plots=plots, skipped=skipped, seed=seed, started=started
        )


__all__ = [
    "DEFAULT_METHODS",
    "ExplainMethod",
    "TokenAttributions",
    "embedding_layer",
    "integrated_gradients",
    "parse_methods",
    "run_explain_audit",
    "shap_tabular_values",
    "shap_text_values",
    "truncate_texts",
]

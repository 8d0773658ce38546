"""The report's charts: matplotlib (Agg) drawn to PNG bytes, embedded in report.html
as data: URLs (nothing is fetched). Name -> PNG; `draw_figures` is the one entry."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from audits.findings import AuditReport
from guard.release.evidence import num as _num

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def draw_figures(content: Mapping[str, Any], audits: Mapping[str, AuditReport]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    with warnings.catch_warnings():
        # layout hints (tight_layout on crowded axes) are cosmetic: they must not fail a report
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        return _draw(content, audits)


def _draw(content: Mapping[str, Any], audits: Mapping[str, AuditReport]) -> dict[str, bytes]:
    figs: dict[str, bytes] = {}
    scrub = content["data"].get("scrub")
    if scrub and scrub["entities"]:
        figs["data_entities"] = _fig_entities(scrub)
    profile = content["data"].get("profile")
    if profile and profile.get("lengths"):
        figs["data_profile_lengths"] = _fig_profile_lengths(profile)
    if profile and profile.get("groups"):
        figs["data_profile_groups"] = _fig_profile_groups(profile)
    training = content["training"]
    if training["rounds"]:
        figs["training_curves"] = _fig_training(training)
    privacy = content["privacy"]
    if privacy.get("clients") and privacy.get("dp_enabled"):
        figs["privacy_epsilon"] = _fig_epsilon(training, privacy)
    p = audits.get("privacy")
    if p is not None:
        rocs = {k: v for k, v in p.plots.items() if isinstance(v, Mapping) and "fpr" in v and "tpr" in v}
        if rocs:
            figs["privacy_roc"] = _fig_roc(rocs)
        if p.find("canary_exposure"):
            figs["privacy_exposure"] = _fig_exposure(p)
    fairness = content.get("fairness")
    if fairness and fairness["groups"]:
        figs["fairness_groups"] = _fig_groups(fairness)
    explain = content.get("explanations")
    x = audits.get("explain")
    heat = x.plots.get("token_heatmap") if x is not None else None
    if isinstance(heat, Mapping) and heat.get("tokens") and heat.get("classes") and heat.get("mean_attribution"):
        figs["explain_heatmap"] = _fig_heatmap_matrix(
            [str(t) for t in heat["tokens"]], [str(c) for c in heat["classes"]], heat["mean_attribution"]
        )
    elif explain and explain["top_tokens"]:
        figs["explain_heatmap"] = _fig_heatmap(explain["top_tokens"])
    if explain and explain.get("gaps"):
        figs["explain_gaps"] = _fig_gap_tokens(explain["gaps"])
    return figs


def _fig_entities(scrub: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    items = sorted(scrub["entities"].items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1))
    names = [k for k, _ in items]
    ax.barh(names, [v for _, v in items], color=_COLORS[0])
    ops = scrub.get("operators") or {}
    for i, (k, v) in enumerate(items):
        ax.text(v, i, f" {v:,}  ({ops.get(k, '?')})", va="center", fontsize=7)
    ax.set_xlabel("values detected and transformed")
    ax.set_title("PII found in the raw corpus, by entity type (operator applied)")
    ax.set_xlim(0, max(v for _, v in items) * 1.45)
    return _png(fig)


def _fig_profile_lengths(profile: Mapping[str, Any]) -> bytes:
    """Texts per power-of-two length bin, one bar series per text field (corpus profile)."""
    import matplotlib.pyplot as plt

    lengths = profile["lengths"]
    bins = sorted({b for v in lengths.values() for b in v["histogram_log2"]}, key=lambda b: int(b.split("-")[0]))
    fig, ax = plt.subplots(figsize=(7, 2.8))
    width = 0.8 / max(len(lengths), 1)
    for i, (name, stats) in enumerate(sorted(lengths.items())):
        xs = [j + i * width for j in range(len(bins))]
        ax.bar(xs, [stats["histogram_log2"].get(b, 0) for b in bins], width=width, color=_COLORS[i % len(_COLORS)],
               label=f"{name} (outliers {stats['outlier_rate']:.1%})")  # fmt: skip
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(bins))])
    ax.set_xticklabels(bins, rotation=40, ha="right", fontsize=7)
    ax.set_xlabel("characters")
    ax.set_ylabel("texts")
    ax.set_title("Text length distribution (corpus profile)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _fig_profile_groups(profile: Mapping[str, Any]) -> bytes:
    """Each group field's shares, split by label when the profile has one (stacked bars)."""
    import matplotlib.pyplot as plt

    groups = profile["groups"]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3), squeeze=False)
    for ax, (name, g) in zip(axes[0], sorted(groups.items())):
        table = g.get("by_label") or {}
        total = sum(g["counts"].values()) or 1
        if table.get("counts"):
            bottom = [0.0] * len(table["groups"])
            for i, (label, row) in enumerate(zip(table["labels"], table["counts"])):
                shares = [c / total for c in row]
                ax.bar(table["groups"], shares, bottom=bottom, color=_COLORS[i % len(_COLORS)], label=str(label))
                bottom = [b + v for b, v in zip(bottom, shares)]
            ax.legend(fontsize=6, title="label", title_fontsize=6)
            v = _num(table.get("cramers_v"))
            ax.set_title(f"{name}: share by label" + (f" (Cramer's V {v:.2f})" if v is not None else ""), fontsize=8)
        else:
            ax.bar(list(g["shares"]), list(g["shares"].values()), color=_COLORS[0])
            ax.set_title(f"{name}: share of records", fontsize=8)
        ax.tick_params(axis="x", labelrotation=40, labelsize=7)
        ax.set_ylabel("share of records")
    fig.tight_layout()
    return _png(fig)


def _fig_training(training: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    rounds = training["rounds"]
    x = [r["round"] for r in rounds]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    a1.plot(x, [r["eval_accuracy"] for r in rounds], "o-", color=_COLORS[0], label="held-out accuracy")
    a1.plot(x, [r["train_accuracy"] for r in rounds], "s--", color=_COLORS[2], label="train accuracy")
    labels = training.get("clients") or []
    n_labels = len(labels[0].get("train_labels") or {}) if labels else 0
    if n_labels:
        a1.axhline(1 / n_labels, color="grey", lw=0.8, ls=":", label="chance")
    a1.set_ylim(0, 1)
    a1.set_xlabel("round")
    a1.set_ylabel("accuracy")
    a1.legend(fontsize=7)
    a1.set_title("Accuracy per round")
    a2.plot(x, [r["eval_loss"] for r in rounds], "o-", color=_COLORS[0], label="held-out loss")
    a2.plot(x, [r["train_loss"] for r in rounds], "s--", color=_COLORS[2], label="train loss")
    a2.set_xlabel("round")
    a2.set_ylabel("cross-entropy")
    a2.legend(fontsize=7)
    a2.set_title("Loss per round")
    for ax in (a1, a2):
        ax.set_xticks(x)
    fig.tight_layout()
    return _png(fig)


def _fig_epsilon(training: Mapping[str, Any], privacy: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3))
    per_client: dict[str, list[tuple[int, float]]] = {}
    for r in training["per_client"]:
        if r["epsilon"] is not None:
            per_client.setdefault(str(r["client"]), []).append((int(r["round"]), r["epsilon"]))
    for i, (client, points) in enumerate(sorted(per_client.items())):
        points.sort()
        ax.plot(
            [0] + [p[0] for p in points],
            [0.0] + [p[1] for p in points],
            "o-",
            color=_COLORS[i % len(_COLORS)],
            label=client,
        )
    targets = {c["target_epsilon"] for c in privacy["clients"] if c.get("target_epsilon")}
    for t in targets:
        ax.axhline(t, color="black", ls="--", lw=0.8, label=f"target epsilon {t:g}")
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative epsilon")
    ax.set_title("Privacy spent per client (accountant: " + ", ".join(privacy["overall"]["accountants"]) + ")")
    if ax.get_legend_handles_labels()[0]:  # a run without metrics rows has no curve to label
        ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _fig_roc(rocs: Mapping[str, Mapping[str, Any]]) -> bytes:
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.3))
    lo = 1e-4
    for i, (name, roc) in enumerate(sorted(rocs.items())):
        fpr = [float(v) for v in roc["fpr"]]
        tpr = [float(v) for v in roc["tpr"]]
        label = name.replace("roc_", "").replace("_", " ")
        auc = _num(roc.get("auc"))
        if auc is not None:
            label += f" (AUC {auc:.3f})"
        a1.plot(fpr, tpr, color=_COLORS[i], label=label)
        a2.plot([max(v, lo) for v in fpr], [max(v, lo) for v in tpr], color=_COLORS[i], label=label)
        positive = [v for v in fpr if v > 0]
        if positive:
            lo = min(lo, min(positive))
    a1.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="chance")
    a2.plot([lo, 1], [lo, 1], color="grey", ls=":", lw=0.8)
    a2.set_xscale("log")
    a2.set_yscale("log")
    for ax, title in ((a1, "Membership inference ROC"), (a2, "Same, log-log (low-FPR regime)")):
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(title)
    a2.axvline(0.001, color="black", lw=0.6, ls="--")
    a1.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def _fig_exposure(audit: AuditReport) -> bytes:
    import matplotlib.pyplot as plt

    def order(group: str | None) -> tuple[int, str]:
        g = group or ""
        return (0, "") if g == "reference" else (1, f"{int(g.split('=')[-1]):06d}" if g.split("=")[-1].isdigit() else g)

    groups = sorted({f.group for f in audit.find("canary_exposure")}, key=order)
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.38
    for j, metric in enumerate(("mean_exposure", "max_exposure")):
        values = []
        for g in groups:
            found = audit.find("canary_exposure", metric, g)
            values.append(_num(found[0].value) if found else 0.0)
        ax.bar(
            [i + (j - 0.5) * width for i in range(len(groups))],
            values,
            width,
            color=_COLORS[j],
            label=metric.replace("_", " "),
        )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([str(g) for g in groups])
    bits = None
    for f in audit.find("canary_exposure"):
        bits = _num(f.evidence.get("max_possible") or f.evidence.get("max_bits") or f.evidence.get("log2_space"))
        if bits:
            break
    if bits:
        ax.axhline(bits, color="black", ls="--", lw=0.8, label=f"maximum possible ({bits:.1f} bits)")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure by times inserted (reference: never inserted)")
    ax.legend(fontsize=7)
    return _png(fig)


def _fig_groups(fairness: Mapping[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    rows = [g for g in fairness["groups"] if g["value"] is not None]
    gaps = [g for g in fairness["gaps"] if g["metric"] == "difference" and g["value"] is not None]
    fig, axes = plt.subplots(
        1, 2 if gaps else 1, figsize=(10, 3.4), squeeze=False, width_ratios=[2, 1] if gaps else None
    )
    ax = axes[0][0]
    values = [g["value"] for g in rows]
    lower = [max(0.0, v - g["ci"][0]) if g["ci"] else 0.0 for v, g in zip(values, rows)]
    upper = [max(0.0, g["ci"][1] - v) if g["ci"] else 0.0 for v, g in zip(values, rows)]
    features = [str(g["feature"] or "") for g in rows]
    palette = {f: _COLORS[i % len(_COLORS)] for i, f in enumerate(dict.fromkeys(features))}
    ax.bar(range(len(rows)), values, yerr=[lower, upper], capsize=3, color=[palette[f] for f in features])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(
        [f"{g['group']}\n(n={g['n']})" if g["n"] else str(g["group"]) for g in rows],
        rotation=40,
        ha="right",
        fontsize=6.5,
    )
    ax.set_title(f"{fairness['metric']} by group (95% CI)")
    if all(0 <= v <= 1 for v in values):
        ax.set_ylim(0, 1.05)
    if gaps:
        ax2 = axes[0][1]
        labels = [f"{g['check'].replace('_', ' ')}\n{g['group']}" for g in gaps]
        v2 = [g["value"] for g in gaps]
        lo2 = [max(0.0, v - g["ci"][0]) if g["ci"] else 0.0 for v, g in zip(v2, gaps)]
        hi2 = [max(0.0, g["ci"][1] - v) if g["ci"] else 0.0 for v, g in zip(v2, gaps)]
        ax2.barh(range(len(gaps)), v2, xerr=[lo2, hi2], capsize=3, color=_COLORS[3])
        ax2.set_yticks(range(len(gaps)))
        ax2.set_yticklabels(labels, fontsize=6.5)
        ax2.invert_yaxis()
        ax2.set_xlim(0, 1)
        ax2.set_title("largest gap between groups (95% CI)")
    fig.tight_layout()
    return _png(fig)


def _fig_heatmap(top: Mapping[str, list[dict[str, Any]]]) -> bytes:
    classes = sorted(top)
    tokens: list[str] = []
    for c in classes:
        for item in top[c][:8]:
            if item["token"] not in tokens:
                tokens.append(item["token"])
    grid = []
    for t in tokens:
        grid.append([{i["token"]: i["score"] for i in top[c]}.get(t, 0.0) for c in classes])
    return _fig_heatmap_matrix(tokens, classes, grid)


def _fig_heatmap_matrix(tokens: list[str], classes: list[str], matrix: Sequence[Sequence[Any]]) -> bytes:
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.array([[_num(v) or 0.0 for v in row] for row in matrix], dtype=float).reshape(len(tokens), len(classes))
    limit = float(np.abs(grid).max()) or 1.0
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 0.26 * len(tokens) + 1.4))
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=30, ha="right")
    ax.set_yticks(range(len(tokens)))
    ax.set_yticklabels(tokens, fontsize=7)
    ax.set_title("Token attribution by class (top tokens; red pushes towards the class)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean attribution")
    return _png(fig)


def _fig_gap_tokens(gaps: Sequence[Mapping[str, Any]]) -> bytes:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(gaps), figsize=(min(4.2 * len(gaps), 12), 3.2), squeeze=False)
    for ax, g in zip(axes[0], gaps):
        items = list(reversed(g["tokens"][:8]))
        ax.barh(
            [i["token"] for i in items],
            [i["gap"] for i in items],
            color=[_COLORS[1] if i["gap"] > 0 else _COLORS[0] for i in items],
        )
        ax.axvline(0, color="black", lw=0.6)
        ax.locator_params(axis="x", nbins=4)
        ax.set_title(f"{g['feature']}: {g['high_group']} vs {g['low_group']} ({g['class']})", fontsize=8)
        ax.set_xlabel("contribution to the logit gap")
    fig.suptitle("Tokens that carry the gap between groups", fontsize=9)
    fig.tight_layout()
    return _png(fig)


__all__ = ["draw_figures"]


def draw_comparison(comparison: Mapping[str, Any]) -> dict[str, bytes]:
    """The comparison's chart (`comparison_differences`): each difference that has an interval,
    as a point with its 95% interval, significant ones in red. Empty when no row has one."""
    rows = [r for r in comparison.get("rows") or [] if r.get("interval") and _num(r.get("difference")) is not None]
    if not rows:
        return {}
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    rows = rows[:40]  # a readable chart; the table has every row
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.0))
    for i, r in enumerate(rows):
        lo, hi = r["interval"]
        color = _COLORS[1] if r.get("significant") else _COLORS[0]
        ax.plot([lo, hi], [i, i], color=color, lw=2)
        ax.plot([r["difference"]], [i], "o", color=color, ms=4)
    ax.axvline(0.0, color="#777", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['section']}: {r['metric']}"[:70] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("difference, this run minus the baseline (red: significant)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        return {"comparison_differences": _png(fig)}

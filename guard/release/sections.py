"""The report's sections (data, training, privacy, fairness, explanations,
limitations), built from the run and the audits as plain JSON-able mappings:
aggregates, ids, hashes and rates only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from audits.findings import AuditFinding, AuditReport
from guard.core.errors import InputError
from guard.core.ledger import RECORD, vacuous
from guard.core.rundir import ClientsFile
from guard.release.evidence import num as _num
from guard.release.inputs import (
    AuditInput,
    _dedup_summary,
    _detector_recall,
    _scrub_summary,
    residual_summary,
    source_of,
    summary_of,
)

GROUP_PRIVACY_METHOD = (
    "group privacy, Dwork & Roth 2014, Theorem 2.2: k records of one person get (k * epsilon, "
    "k * exp((k - 1) * epsilon) * delta); vacuous when that delta reaches 1"
)


def plain(v: Any) -> bool:
    return isinstance(v, bool | int | float | str) or v is None


def data_section(
    scrub: str | Path | None,
    dedup: str | Path | None,
    scan: str | Path | None,
    second: str | Path | None = None,
    *,
    profile: str | Path | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"scrub": None, "dedup": None, "residual": None, "detector_recall": _detector_recall()}
    out["profile"] = profile_summary(profile) if profile is not None else None
    if scrub is not None:
        out["scrub"] = summary_of(scrub, "scrub report", _scrub_summary)
    if dedup is not None:
        out["dedup"] = summary_of(dedup, "dedup report", _dedup_summary)
    if scan is not None:
        out["residual"] = residual_summary(scan)
    if second is not None:
        summary = summary_of(second, "second-opinion scan", _scrub_summary)
        if summary["detector"] != "presidio":
            raise InputError(
                "not a plain Presidio scan (make it with guard scan --detector presidio)", path=str(second)
            )
        out["residual"] = {**(out["residual"] or {"scan": None, "rate": None}), "second_opinion": summary}
    # where each input was and its sha256: guard check reads the scan again to recompute the residual rate
    out["sources"] = {
        name: source_of(path)
        for name, path in (
            ("scrub", scrub), ("dedup", dedup), ("scan", scan), ("second_opinion", second), ("profile", profile)
        )
        if path is not None
    }  # fmt: skip
    return out


def profile_summary(path: str | Path) -> dict[str, Any]:
    """The report's view of a `guard profile --out` file: its flags, the tables the data section shows
    and the four numbers the release gate reads (`evidence`, guard.quality.release_evidence)."""
    from guard.quality import CorpusProfile, release_evidence

    data = CorpusProfile.read(path).to_json()
    opts = data["options"]
    keep = {*opts["text_fields"], *opts["group_fields"], *([opts["label_field"]] if opts["label_field"] else [])}
    return {
        "records": data["records"],
        "records_failed": data["records_failed"],
        "text_fields": opts["text_fields"],
        "fields": {k: v for k, v in data["fields"].items() if k in keep},
        "duplicates": {k: data["duplicates"][k] for k in ("exact", "near", "exact_rate", "near_rate", "near_method")},
        "lengths": {
            k: {
                "quantiles": v["quantiles"],
                "outlier_rate": v["outlier_rate"],
                "histogram_log2": v["histogram_log2"],
                "rule": v["rule"],
            }
            for k, v in data["lengths"].items()
        },
        "languages": data["languages"],
        "oddities": data["oddities"],
        "labels": data["labels"],
        "groups": data["groups"],
        "pii": data["pii"],
        "flags": data["flags"],
        "evidence": release_evidence(data),
        "seconds": data["seconds"],
    }


def training_section(
    config: Any,
    clients_info: ClientsFile,
    state: Any,
    rows: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    canaries: dict[str, Any],
    *,
    comparison: dict[str, Any] | None = None,
    deployment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`comparison`: the run's comparison.json (the same training without DP), or empty;
    `deployment`: its deployment.json (how `guard federate serve` ran it), or empty."""
    clients = [c.to_json() for c in clients_info.clients]
    rounds = []
    for r in rows:
        if r.get("phase") != "aggregate":
            continue
        ev, tr = r.get("evaluate") or {}, r.get("train") or {}
        rounds.append(
            {
                "round": r["round"],
                "eval_accuracy": _num(ev.get("eval_accuracy")),
                "eval_loss": _num(ev.get("eval_loss")),
                "train_loss": _num(tr.get("train_loss")),
                "train_accuracy": _num(tr.get("train_accuracy")),
                "epsilon_max": _num(tr.get("epsilon_max")),
                "clients_trained": r.get("clients_trained"),
                "clients_failed": r.get("clients_failed"),
            }
        )
    per_client = [
        {
            "round": r["round"],
            "client": r.get("client"),
            "epsilon": _num(r.get("epsilon")),
            "train_loss": _num(r.get("train_loss")),
        }
        for r in rows
        if r.get("phase") == "train" and "stopped" not in r
    ]
    final = rounds[-1] if rounds else {}
    t, dp = config.train, config.dp
    return {
        "strategy": config.strategy.name,
        "partition": str(config.data.partition)
        + (f" by {config.data.partition_field}" if config.data.partition_field else ""),
        "rounds_planned": t.rounds,
        "rounds_done": state.last_round,
        "finished": state.finished,
        "train": {
            "local_epochs": t.local_epochs,
            "batch_size": t.batch_size,
            "lr": t.lr,
            "optimizer": t.optimizer,
            "seed": t.seed,
        },
        "dp": {
            "enabled": dp.enabled,
            "target_epsilon": dp.target_epsilon,
            "noise_multiplier": dp.noise_multiplier,
            "max_grad_norm": dp.max_grad_norm,
            "accountant": str(dp.accountant),
            "clipping": dp.clipping,
        },
        "user_dp": config.user_dp.enabled,
        "federation": _federation(config, deployment or {}),
        "clients": clients,
        "rounds": rounds,
        "per_client": per_client,
        "final": {"eval_accuracy": final.get("eval_accuracy"), "eval_loss": final.get("eval_loss")},
        "without_dp": _without_dp(comparison or {}),
        "holdout_records": sum(int(c.get("holdout") or 0) for c in clients),
        "corpus_sha256": getattr(state, "corpus_sha256", "") or None,  # run-to-run comparison: same data?
        # [data] person_field: the corpus's persons (all clients, no canaries), counts only
        "persons": None if clients_info.persons is None else asdict(clients_info.persons),
        "failures": [{"round": f.get("round"), "client": f.get("client"), "phase": f.get("phase")} for f in failures],
        "canaries": canaries,
    }


def _federation(config: Any, deployment: dict[str, Any]) -> dict[str, Any]:
    """Where and how the run trained: simulation or served, where the data was, the
    transport (TLS, node authentication, or insecure) and secure aggregation."""
    served = bool(deployment)
    insecure = bool(deployment.get("insecure")) if served else None
    if not served:
        transport = "none (simulation on one machine)"
    elif insecure:
        transport = "INSECURE: no TLS and no node authentication (--insecure)"
    else:
        parts = ["TLS" if deployment.get("tls") else "no TLS"]
        parts.append("node authentication" if deployment.get("node_auth") else "no node authentication")
        transport = ", ".join(parts)
    return {
        "engine": "deployment (guard federate serve)" if served else "simulation",
        "data": "silos: each node read its own file" if config.silos.enabled else "one corpus, partitioned",
        "transport": transport,
        "insecure": insecure,
        "registered_nodes": len(deployment.get("registered_nodes") or ()) if served else None,
        "secure_aggregation": bool(config.secure_aggregation.enabled),
    }


def _without_dp(comparison: dict[str, Any]) -> dict[str, Any] | None:
    """The no-DP comparison run's final held-out metrics (None when the run has none)."""
    evaluate = (comparison.get("without_dp") or {}).get("evaluate") or {}
    if not evaluate:
        return None
    return {"eval_accuracy": _num(evaluate.get("eval_accuracy")), "eval_loss": _num(evaluate.get("eval_loss"))}


def privacy_section(ledger: Any, audit: AuditReport | None) -> dict[str, Any]:
    out: dict[str, Any] = {"dp_enabled": False, "clients": [], "statement": "No privacy ledger in the run directory."}
    if ledger is not None:
        clients = [
            {
                "client_id": c.client_id,
                "epsilon": c.epsilon,
                "delta": c.delta,
                "accountant": c.accountant,
                "target_epsilon": c.target_epsilon,
                "records": c.records,
                "noise_multiplier": c.history[-1].noise_multiplier if c.history else None,
                "sample_rate": c.history[-1].sample_rate if c.history else None,
                "steps": sum(h.steps for h in c.history),
                "max_grad_norm": c.max_grad_norm,
                "exhausted": c.exhausted,
                "unit": c.unit,
                "persons": c.persons,
                "persons_several": c.persons_several,
                "largest_person": c.largest_person,
            }
            for c in ledger.clients
        ]
        out = {
            "dp_enabled": ledger.dp_enabled,
            "mechanism": ledger.mechanism,
            "statement": ledger.statement(),
            "clients": clients,
            "overall": {
                "epsilon": ledger.max_epsilon if ledger.dp_enabled and ledger.clients else None,
                "delta": max((c.delta for c in ledger.clients), default=None) if ledger.dp_enabled else None,
                "accountants": sorted({c.accountant for c in ledger.clients}),
            },
            "user_level": None if ledger.user_level is None else dict(ledger.user_level.__dict__),
            **_unit(ledger),
        }
    out["audit"] = None
    if audit is not None:

        def first(check: str, metric: str, group: str | None = None) -> float | None:
            found = audit.find(check, metric, group)
            return _num(found[0].value) if found else None

        attacks = {}
        for check in sorted({f.check for f in audit.findings if f.check.startswith("membership")}):
            attacks[check] = {
                f.metric: {"value": _num(f.value), "ci": _interval(f.evidence)} for f in audit.find(check)
            }
        exposure = [
            {"group": f.group, "metric": f.metric, "value": _num(f.value), "n": _size(f.evidence)}
            for f in audit.find("canary_exposure")
        ]
        bound = [f for f in audit.find("empirical_epsilon", "lower_bound")]
        out["audit"] = {
            "empirical_epsilon_lower_bound": _num(bound[0].value) if bound else None,
            "empirical_epsilon_passed": bound[0].passed if bound else None,
            "empirical_epsilon_message": bound[0].message if bound else "",
            "claimed_epsilon_audited": first("claimed_epsilon", "epsilon"),
            "membership": attacks,
            "exposure": exposure,
            "skipped": dict(audit.skipped),
            "extraction": _extraction_rows(audit),
        }
    return out


# extraction finding metric -> what the report calls it
_EXCESS_ROWS = {
    "exact_suffix_excess": "exact suffix extraction (records continued verbatim)",
    "training_pii_emission_excess": "training PII emission (generations with a training PII value)",
}


def _extraction_rows(audit: AuditReport) -> list[dict[str, Any]]:
    """Each extraction rate beside its baseline: member rate, baseline rate, their difference with
    its interval and the verdict (audits.baseline); canary extraction beside its chance level.
    Findings written before the baselines existed give the member rate alone."""
    rows: list[dict[str, Any]] = []
    for f in audit.find("extraction"):
        ev = f.evidence
        if f.metric in _EXCESS_ROWS:
            rows.append(
                {
                    "what": _EXCESS_ROWS[f.metric] + (f", vs {f.group}" if f.group else ""),
                    "member_rate": _num(ev.get("member_rate")),
                    "baseline_rate": _num(ev.get("baseline_rate")),
                    "baseline": ev.get("baseline"),
                    "difference": _num(ev.get("difference")),
                    "ci": _interval(ev),
                    "verdict": ev.get("verdict"),
                    "trials": f"{ev.get('member_trials')} / {ev.get('baseline_trials')}",
                    "detectable": _num(ev.get("detectable_excess")),
                    "chance": None,
                }
            )
        elif f.metric == "canary_extraction_rate":
            rows.append(
                {
                    "what": f"canaries extracted ({f.group})",
                    "member_rate": _num(f.value),
                    "baseline_rate": None,
                    "baseline": None,
                    "difference": None,
                    "ci": None,
                    "verdict": None,
                    "trials": str(ev.get("canaries")),
                    "detectable": None,
                    "chance": _num(ev.get("chance")),
                }
            )
    if not any(r["difference"] is not None or r["chance"] is not None for r in rows):
        rows += [  # findings from before the baselines: the raw rates alone
            {"what": f.metric.replace("_", " "), "member_rate": _num(f.value), "trials": str(_size(f.evidence))}
            for f in audit.find("extraction")
            if f.metric in ("exact_suffix_rate", "training_pii_emission_rate")
        ]
    return rows


def _unit(ledger: Any) -> dict[str, Any]:
    """The privacy unit and what it means for persons: under record unit with a known person
    field, how many persons have several training records and the group-privacy bound of the
    largest group (guard.core.ledger.group_privacy) beside the per-record epsilon."""
    bound = ledger.group_bound() if ledger.dp_enabled else None
    several = [c.persons_several for c in ledger.clients if c.persons_several is not None]
    group = None
    if bound is not None:
        client, eps_k, delta_k = bound
        group = {
            "client_id": client.client_id,
            "k": client.largest_person,
            "epsilon": client.epsilon,
            "delta": client.delta,
            "group_epsilon": _num(eps_k),
            "group_delta": _num(delta_k),  # None when it overflows: vacuous anyway
            "vacuous": vacuous(delta_k),
            "method": GROUP_PRIVACY_METHOD,
        }
    return {
        "unit": ledger.unit,
        "person_field": ledger.person_field,
        "persons_several": sum(several) if several else None,
        "group_bound": group,
        "shared_persons": [{"clients": list(s.clients), "persons": s.persons} for s in ledger.shared_persons],
    }


def _interval(evidence: Mapping[str, Any]) -> list[float] | None:
    """A confidence interval from a finding's evidence, whatever the audit called it."""
    for key in ("ci", "ci95", "ci_95", "interval", "bootstrap_ci"):
        v = evidence.get(key)
        if isinstance(v, list | tuple) and len(v) == 2 and all(_num(x) is not None for x in v):
            return [float(v[0]), float(v[1])]
        if isinstance(v, Mapping):
            lo, hi = _num(v.get("low", v.get("lower"))), _num(v.get("high", v.get("upper")))
            if lo is not None and hi is not None:
                return [lo, hi]
    for lo_key, hi_key in (("ci_low", "ci_high"), ("ci_lower", "ci_upper"), ("lower", "upper"), ("low", "high")):
        lo, hi = _num(evidence.get(lo_key)), _num(evidence.get(hi_key))
        if lo is not None and hi is not None:
            return [lo, hi]
    return None


def _size(evidence: Mapping[str, Any]) -> int | None:
    for key in ("n", "count", "size", "support", "n_group", "records", "canaries"):
        v = _num(evidence.get(key))
        if v is not None:
            return int(v)
    return None


def fairness_section(audit: AuditReport | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    metrics = [f.metric for f in audit.find("group_metric")]
    # the headline per-group metric: accuracy when the audit has it (per-class metrics stay in the findings)
    headline = "accuracy" if "accuracy" in metrics else (metrics[0] if metrics else None)
    groups = [
        {
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "n": _size(f.evidence),
            "feature": f.evidence.get("feature") or f.evidence.get("sensitive_feature"),
        }
        for f in audit.find("group_metric")
        if f.metric == headline
    ]
    gaps = [
        {
            "check": f.check,
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "p_value": _num(f.evidence.get("p_value")),
            "class": f.evidence.get("class"),
            "threshold": f.threshold,
            "passed": f.passed,
        }
        for f in audit.findings
        if f.check in ("demographic_parity", "equalized_odds") and f.metric in ("difference", "ratio")
    ]
    sizes = [
        {"group": f.group, "value": _num(f.value), "passed": f.passed, "threshold": f.threshold}
        for f in audit.find("group_size", "min_n")
    ]
    flips = [
        {
            "group": f.group,
            "metric": f.metric,
            "value": _num(f.value),
            "ci": _interval(f.evidence),
            "n": _size(f.evidence),
        }
        for f in audit.find("counterfactual_flip", "flip_rate")
    ]
    pooled = [x for x in flips if "->" not in str(x["group"])]  # one row per swap axis when the audit pools them
    flips = pooled or flips
    return {
        "metric": headline,
        "groups": groups,
        "gaps": gaps,
        "group_sizes": sizes,
        "counterfactual": flips,
        "mitigation": _mitigation_rows(audit),
        "findings": len(audit.findings),
        "skipped": dict(audit.skipped),
    }


def _mitigation_rows(audit: AuditReport) -> list[dict[str, Any]]:
    """With a post-processor beside the model (guard audit mitigate): each gap and the accuracy
    before and after it, and the change with its paired interval, on the records it was not fitted on."""
    found = {(f.group, f.metric): f for f in audit.find("mitigation")}
    rows = []
    for (group, metric), change in found.items():
        for suffix, name in (("_change", None), ("_cost", "accuracy")):
            if not metric.endswith(suffix):
                continue
            base = name or metric.removesuffix(suffix)
            before = found.get((group, f"{base}_before"))
            after = found.get((group, f"{base}_after"))
            rows.append(
                {
                    "feature": group,
                    "metric": base,
                    "before": None if before is None else _num(before.value),
                    "after": None if after is None else _num(after.value),
                    "change": _num(change.value),
                    "change_name": "cost (before - after)" if suffix == "_cost" else "change (after - before)",
                    "ci": _interval(change.evidence),
                    "n": _size(change.evidence),
                    "constraint": change.evidence.get("constraint"),
                    "targeted": bool(change.evidence.get("constraint_gap")),
                }
            )
    return sorted(rows, key=lambda r: (str(r["feature"]), r["metric"] == "accuracy", str(r["metric"])))


def _top_tokens(finding: AuditFinding) -> list[tuple[str, float]]:
    """(token, score) pairs from a top_tokens finding, whatever shape the audit wrote."""
    raw = finding.evidence.get("tokens") or finding.evidence.get("top_tokens") or []
    scores = next(
        (
            finding.evidence[k]
            for k in ("mean_attribution", "scores", "attribution")
            if isinstance(finding.evidence.get(k), list)
        ),
        None,
    )
    if isinstance(raw, list) and scores is not None and all(isinstance(t, str) for t in raw):
        return [(t, float(v)) for t, v in zip(raw, scores) if _num(v) is not None]
    out = []
    if isinstance(raw, Mapping):
        raw = list(raw.items())
    for item in raw:
        if isinstance(item, Mapping):
            tok = item.get("token")
            score = _num(item.get("score", item.get("attribution", item.get("value"))))
        elif isinstance(item, list | tuple) and len(item) >= 2:
            tok, score = item[0], _num(item[1])
        else:
            continue
        if isinstance(tok, str) and score is not None:
            out.append((tok, score))
    return out


def explain_section(audit: AuditReport | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    top = {}
    for f in audit.find("top_tokens"):
        tokens = _top_tokens(f)
        if tokens:
            name = str(f.evidence.get("class") or (f.group or f.metric).removeprefix("class="))
            top[name] = [{"token": t, "score": s} for t, s in tokens[:15]]
    gaps = []
    for f in audit.find("gap_attribution"):
        tokens = f.evidence.get("tokens") or f.evidence.get("features") or []
        values = f.evidence.get("token_gap") or f.evidence.get("feature_gap") or []
        gaps.append(
            {
                "group": f.group,
                "feature": f.evidence.get("feature"),
                "class": f.evidence.get("class"),
                "high_group": f.evidence.get("high_group"),
                "low_group": f.evidence.get("low_group"),
                "logit_gap": _num(f.evidence.get("logit_gap")),
                "top_share": _num(f.value),
                "tokens": [{"token": str(t), "gap": float(v)} for t, v in zip(tokens, values) if _num(v) is not None][
                    :10
                ],
            }
        )
    quality = [
        {
            "check": f.check,
            "metric": f.metric,
            "group": f.group,
            "value": _num(f.value),
            "passed": f.passed,
            "threshold": f.threshold,
        }
        for f in audit.findings
        if f.check in ("ig_completeness", "shap_ig_agreement", "shap_additivity", "method_agreement")
    ]
    return {"top_tokens": top, "quality": quality, "gaps": gaps, "skipped": dict(audit.skipped)}


def limitations(
    content: Mapping[str, Any],
    audits: Mapping[str, AuditReport],
    notes: Sequence[str],
    *,
    unbound: Sequence[AuditInput] = (),
) -> list[str]:
    out = list(notes)
    for item in unbound:
        what = item.report.subject.get("path") or item.report.subject.get("model_dir") or "a model file"
        out.append(
            f"The {item.report.audit} audit names no run (it audited {what}): its findings are shown but are not "
            "evidence about this run's model, and the release checks do not use them."
        )
    for name, report in sorted(audits.items()):
        trust = report.subject.get("model_trust")
        if isinstance(trust, Mapping) and trust.get("trusted_by_user"):
            types = ", ".join(str(t) for t in trust.get("outside_allow_list") or []) or "none"
            out.append(
                f"The {name} audit loaded its model with --trust-model: guard's model allow-list was lifted by the "
                f"user for these types: {types}."
            )
    for name, what in (("privacy", "privacy leakage"), ("fairness", "group fairness"), ("explain", "explanations")):
        if name not in audits:
            out.append(f"No {name} audit was supplied: {what} of this model is not assessed in this report.")
    data = content["data"]
    if data.get("scrub") is None:
        out.append("No scrub report was supplied: how the training data was de-identified is not documented here.")
    residual = data.get("residual") or {}
    if residual.get("rate") is None:
        out.append("No residual-PII measurement: the share of PII left in the training corpus is unknown.")
    else:
        out.append(
            "Residual PII is measured with the same detector that de-identified the corpus: PII the detector "
            "misses in the raw text is invisible to this measurement, so the true residual rate can be higher. "
            "The detector's measured recall per entity type and plain Presidio's second opinion are shown beside it."
        )
    privacy = content["privacy"]
    if not privacy.get("dp_enabled"):
        out.append("The model was trained without differential privacy: no formal privacy guarantee is claimed.")
    elif privacy.get("unit", RECORD) != RECORD:
        unit = privacy["unit"]
        out.append(
            f"The differential-privacy guarantee is person-level within each client (all records of one {unit} "
            f"are protected together, at most the configured number of them per step) and holds only if the "
            "accountant's assumptions (Poisson sampling of persons, clipping, the stated noise) held during "
            f"training and the {unit} field names every record's person correctly."
        )
    else:
        person = privacy.get("person_field") or "person"
        out.append(
            f"The differential-privacy guarantee is record-level within each client (a {person} with several "
            "records is protected per record, not as a person; see the group-privacy bound in the privacy section) "
            "and holds only if the accountant's assumptions (Poisson sampling, clipping, the stated noise) held "
            "during training."
        )
    if privacy.get("dp_enabled") and privacy.get("shared_persons"):
        out.append(
            "Some persons trained on more than one client: their guarantee composes across those clients "
            "(see the privacy statement)."
        )
    if privacy.get("dp_enabled"):
        if privacy.get("user_level") is None:
            out.append("No user-level (client-level) DP: a site's whole contribution is not protected as a unit.")
    audit = privacy.get("audit") or {}
    if audit:
        out.append(
            "Audited privacy numbers are lower bounds from a finite set of attacks on this run: they can show a "
            "claim is violated, never prove it holds."
        )
    training = content["training"]
    if training["failures"]:
        out.append(f"{len(training['failures'])} client training call(s) failed during the run (see training).")
    if not training["finished"]:
        out.append(f"The run stopped after round {training['rounds_done']} of {training['rounds_planned']}.")
    accuracy = training["final"].get("eval_accuracy")
    counts: dict[str, int] = {}
    for c in training["clients"]:
        for label, n in (c.get("holdout_labels") or {}).items():
            counts[label] = counts.get(label, 0) + int(n)
    if accuracy is not None and counts:
        majority = max(counts.values()) / sum(counts.values())
        if accuracy < majority + 0.1:
            out.append(
                f"Held-out accuracy {accuracy:.3f} is close to what always predicting the most frequent label gives "
                f"({majority:.3f}): the model has learned little, and its fairness and explanation results describe "
                "a weak model."
            )
    holdout = training.get("holdout_records") or 0
    if holdout and holdout < 500:
        out.append(
            f"Only {holdout} held-out records: accuracy, membership-inference rates at low false-positive rates "
            "and per-group metrics carry wide intervals."
        )
    for audit_name, report in sorted(audits.items()):
        for check, reason in sorted(report.skipped.items()):
            out.append(f"{audit_name} audit skipped {check}: {reason}")
    if "explain" in audits:
        out.append(
            "Token attributions (integrated gradients, SHAP) describe what moved this model's outputs on the "
            "audited examples; they are not causal explanations of the task."
        )
    return out


__all__ = [
    "data_section",
    "explain_section",
    "fairness_section",
    "limitations",
    "plain",
    "privacy_section",
    "training_section",
]

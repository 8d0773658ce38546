"""`guard audit privacy`: what a trained model memorizes and leaks, and whether
an empirical epsilon lower bound stays below the ledger's claim.

Checks (each an AuditFinding with audit="privacy"):
- claimed_epsilon: the privacy ledger's claim (largest client epsilon, delta);
- canary_exposure: Secret Sharer exposure per repeat count, and of unused
  reference canaries (the no-memorization baseline);
- membership_loss / membership_reference: loss-threshold attack and online LiRA
  with K reference models; AUC and TPR at 1% and 0.1% FPR with 95% intervals;
- membership_person_loss / membership_person_reference: the same attacks on persons
  when the run names each record's person ([data] person_field): a person is a member
  when all their records trained, a non-member when all were held out (persons on
  both sides, through two clients, are left out); a person's score is the mean of
  their records' scores (loss; LiRA per record with reference models that take or
  leave all of a person's records together);
- extraction (causal LMs): exact suffix reproduction of training records vs
  held-out ones, training PII values emitted, canaries extracted by greedy decoding
  (beside the chance of guessing a secret); each rate against its baselines, held-out
  prompts and (with LiRA) the reference models that left the record out, as a
  difference with a Newcombe interval and a verdict only when it is significant
  (`*_excess`, audits.baseline), which is what the release gate judges;
- empirical_epsilon: the largest lower bound over the attacks, flagged critical
  when it exceeds the claimed epsilon (a privacy bug). Person-level bounds join it
  when the claim is person-level (`[dp] unit` = the person field) or there is no
  claim; against a record-level claim they are reported in their findings only (a
  person with k records is protected by the weaker group bound, not by the claim).
Canary exposure evidence names the DP unit: with a person field each canary's copies
are one person's records, so under person-level DP it is a person-level canary.
Nothing here writes a canary secret or training text anywhere: only ids, counts,
rates and hashes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.findings import AuditError, AuditFinding, AuditReport, Severity, finished_report, register_audit

if TYPE_CHECKING:  # the attacks import torch and scikit-learn: only when an audit runs, so that the
    # release gate can read this module's checks and evidence without them
    from audits.membership import AttackResult
    from audits.target import Target

log = logging.getLogger(__name__)
AUDIT = "privacy"


class PrivacyCheck(StrEnum):
    """The checks (finding names) the privacy audit writes."""

    CLAIMED_EPSILON = "claimed_epsilon"
    EMPIRICAL_EPSILON = "empirical_epsilon"
    CANARY_EXPOSURE = "canary_exposure"
    MEMBERSHIP_LOSS = "membership_loss"
    MEMBERSHIP_REFERENCE = "membership_reference"
    MEMBERSHIP_PERSON_LOSS = "membership_person_loss"
    MEMBERSHIP_PERSON_REFERENCE = "membership_person_reference"
    EXTRACTION = "extraction"


# Every membership attack feeds the release evidence (the gate takes the worst): the
# person-level attacks too, since a person's records together leak more than one record.
MEMBERSHIP_ATTACKS = (
    PrivacyCheck.MEMBERSHIP_LOSS,
    PrivacyCheck.MEMBERSHIP_REFERENCE,
    PrivacyCheck.MEMBERSHIP_PERSON_LOSS,
    PrivacyCheck.MEMBERSHIP_PERSON_REFERENCE,
)
_RECORD_ATTACK = {"membership": PrivacyCheck.MEMBERSHIP_LOSS, "reference": PrivacyCheck.MEMBERSHIP_REFERENCE}
PERSON_ATTACKS = {
    PrivacyCheck.MEMBERSHIP_LOSS: PrivacyCheck.MEMBERSHIP_PERSON_LOSS,
    PrivacyCheck.MEMBERSHIP_REFERENCE: PrivacyCheck.MEMBERSHIP_PERSON_REFERENCE,
}
MIN_PERSONS = 4  # member and non-member persons each, as for records


def release_evidence(report: AuditReport) -> dict[str, list[AuditFinding]]:
    """The findings behind each release-evidence number of a privacy audit (evidence key ->
    findings; the release gate takes the worst of them, guard.release.gate.THRESHOLDS)."""
    attacks = [f for f in report.findings if f.check in MEMBERSHIP_ATTACKS or f.check.startswith("membership")]
    out = {
        "empirical_epsilon_lower_bound": report.find(PrivacyCheck.EMPIRICAL_EPSILON, "lower_bound"),
        "max_canary_exposure": [
            f for f in report.find(PrivacyCheck.CANARY_EXPOSURE, "max_exposure") if f.group != "reference"
        ],
    }
    for level in ("0.001", "0.01"):
        out[f"membership_tpr_at_{level}_fpr"] = [f for f in attacks if f.metric == f"tpr_at_{level}_fpr"]
    out["membership_auc"] = [f for f in attacks if f.metric == "auc"]
    extraction = report.find(PrivacyCheck.EXTRACTION, "exact_suffix_rate")
    if extraction:  # a classifier generates no text: no extraction finding, no evidence
        out["extraction_rate"] = extraction  # the raw member rate (shown, not gated)
        excess = report.find(PrivacyCheck.EXTRACTION, "exact_suffix_excess")
        excess = excess or [f for f in map(_legacy_excess, extraction) if f is not None]
        if excess:
            out["extraction_rate_excess"] = excess
    emission = report.find(PrivacyCheck.EXTRACTION, "training_pii_emission_rate")
    if emission:
        out["pii_emission_rate"] = emission
    # findings written before the baseline existed have none: no excess evidence (the gate fails)
    emission_excess = report.find(PrivacyCheck.EXTRACTION, "training_pii_emission_excess")
    if emission_excess:
        out["pii_emission_excess"] = emission_excess
    return out


def _legacy_excess(rate: AuditFinding) -> AuditFinding | None:
    """The excess of an `exact_suffix_rate` finding written before `exact_suffix_excess` existed:
    its evidence already held the held-out counts, so older runs' findings still give the gate
    its number (at 95% confidence, the audit's default)."""
    from audits.baseline import Excess

    ev = rate.evidence
    counts = [ev.get(k) for k in ("exact", "records", "non_members")]
    if any(not isinstance(c, int) for c in counts) or not isinstance(ev.get("non_member_rate"), int | float):
        return None
    exact, records, non_members = counts
    base = round(float(ev["non_member_rate"]) * non_members)
    excess = Excess(exact, records, base, non_members, 0.95, "held-out records")
    return replace(rate, metric="exact_suffix_excess", value=excess.excess, evidence=excess.evidence())


Progress = Callable[[str], None]


@dataclass(frozen=True)
class PrivacyAuditOptions:
    references: int = 4  # K reference models for LiRA; 0 skips the reference attack
    max_records: int = 2000  # members and non-members audited, each (a seeded sample)
    exposure_samples: int = 4000  # candidates scored when the secret space is too big to enumerate
    exposure_exact_max: int = 20_000
    extraction_records: int = 200
    prefix_tokens: int = 16
    suffix_tokens: int = 8
    confidence: float = 0.95
    bootstrap: int = 200
    batch_size: int = 128
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads (None: torch's default, one per core)
    checks: tuple[str, ...] = ("exposure", "membership", "reference", "extraction")
    engine: str = "local"  # "ray": LiRA's reference models as Ray tasks (audits.ray_lira)
    address: str | None = None  # with engine "ray": the cluster (None: a fresh local instance)


def _fmt_level(level: float) -> str:
    return f"tpr_at_{level:g}_fpr"


def _scores(
    target: Target, examples: Sequence[Any], *, bundle: Any = None, options: PrivacyAuditOptions, device: str
) -> Any:
    from federated.task import example_scores

    b = bundle or target.bundle
    max_length = target.config.data.max_length if target.config is not None else 128
    return example_scores(b, examples, batch_size=options.batch_size, device=device, max_length=max_length)


def _attack_findings(check: str, result: AttackResult, evidence: dict[str, Any]) -> list[AuditFinding]:
    from audits.membership import FPR_LEVELS

    base = {"members": result.members, "non_members": result.non_members, **evidence}
    out = [
        AuditFinding(
            AUDIT,
            check,
            "auc",
            result.auc,
            evidence={**base, "ci95": list(result.auc_ci), "chance": 0.5},
            message=f"ROC AUC {result.auc:.3f} (0.5 = chance)",
        )
    ]
    for level in FPR_LEVELS:
        tpr = result.tpr_at[level]
        resolution = 1.0 / result.non_members
        out.append(
            AuditFinding(
                AUDIT,
                check,
                _fmt_level(level),
                tpr,
                evidence={
                    **base,
                    "ci95": list(result.tpr_ci[level]),
                    "fpr_level": level,
                    "chance": level,
                    "fpr_resolution": resolution,
                },
                message=f"TPR {tpr:.2%} at FPR {level:.1%} (chance: {level:.1%})"
                + ("; fewer non-members than 1/FPR: this level is not resolved" if resolution > level else ""),
            )
        )
    return out


def _train_reference(target: Target, examples: Sequence[Any], k: int, device: str) -> Any:
    """A fresh model trained on `examples` with the target's recipe, centrally: as many
    passes over the data as the federation made (rounds x local epochs), the same
    batch size, optimizer and learning rate, and DP-SGD with the target's noise and
    clipping when the target used DP."""
    from federated.models import build_model
    from federated.task import train_client

    cfg = target.config
    bundle = build_model(
        cfg.model, task=cfg.data.task, num_labels=target.bundle.num_labels, seed=cfg.train.seed + 1000 + k
    )
    train = replace(
        cfg.train, local_epochs=cfg.train.rounds * cfg.train.local_epochs, rounds=1, seed=cfg.train.seed + 1000 + k
    )
    dp = cfg.dp
    if dp.enabled:
        noise = _target_noise(target)
        dp = replace(dp, noise_multiplier=noise, target_epsilon=None)
    train_client(
        bundle,
        list(examples),
        train=train,
        dp=dp,
        ledger=None,
        round=1,
        global_state=None,
        device=device,
        max_length=cfg.data.max_length,
    )
    return bundle


def _target_noise(target: Target) -> float:
    steps = [s for c in (target.ledger.clients if target.ledger else ()) for s in c.history]
    if not steps:
        raise AuditError("the run used DP but its ledger has no accounting steps: cannot copy its noise")
    return float(np.median([s.noise_multiplier for s in steps]))


def _claim(target: Target) -> tuple[float | None, float | None, list[AuditFinding]]:
    ledger = target.ledger

    def no_claim(dp_enabled: bool | None, message: str, severity: Severity) -> list[AuditFinding]:
        evidence = {"dp_enabled": dp_enabled}
        return [
            AuditFinding(
                AUDIT,
                PrivacyCheck.CLAIMED_EPSILON,
                "epsilon",
                None,
                evidence=evidence,
                severity=severity,
                message=message,
            )
        ]

    if ledger is None:
        return None, None, no_claim(None, "no privacy ledger: no claim to check (model audited from files)", "info")
    if not ledger.dp_enabled or not ledger.clients:
        return None, None, no_claim(bool(ledger.dp_enabled), ledger.statement(), "warning")
    worst = max(ledger.clients, key=lambda c: c.epsilon)
    evidence = {
        "dp_enabled": True,
        "delta": worst.delta,
        "accountant": worst.accountant,
        "client": worst.client_id,
        "per_client": {
            c.client_id: {"epsilon": c.epsilon, "delta": c.delta, "records": c.records}
            | ({"persons": c.persons} if getattr(c, "persons", None) is not None else {})
            for c in ledger.clients
        },
        "unit": target.dp_unit,
        "person_field": target.person_field,
    }
    if ledger.user_level is not None:
        evidence["user_level"] = {"epsilon": ledger.user_level.epsilon, "delta": ledger.user_level.delta}
    return (
        worst.epsilon,
        worst.delta,
        [
            AuditFinding(
                AUDIT,
                PrivacyCheck.CLAIMED_EPSILON,
                "epsilon",
                worst.epsilon,
                evidence=evidence,
                message=ledger.statement(),
            )
        ],
    )


def _canary_unit(target: Target) -> dict[str, Any]:
    """What a canary is in this run, for the exposure evidence. With a person field its
    copies are one synthetic person's records (`canary:<id>`): a person-level canary
    ("canary_unit": "person"), which under `[dp] unit` = that field ("dp_unit") is the
    unit the guarantee protects; under record-level DP its copies are `repeats`
    protected records. Without a person field the copies are just records."""
    dp = getattr(target.config, "dp", None)
    dp_enabled = bool(getattr(dp, "enabled", False)) if dp is not None else None
    return {
        "dp_enabled": dp_enabled,
        "dp_unit": target.dp_unit if dp_enabled else None,
        "person_field": target.person_field,
        "canary_unit": "person" if target.person_field is not None else "record",
    }


def _exposure(
    target: Target, options: PrivacyAuditOptions, device: str, seed: int
) -> tuple[list[AuditFinding], dict[str, Any]]:
    from audits.exposure import canary_exposures
    from federated.data import Example

    if not target.canaries:
        return [], {}
    is_cls = target.task == "classification"

    def score(texts: Sequence[str], labels: Sequence[int | None]) -> np.ndarray:
        examples = [Example(t, (label if is_cls else None), 0) for t, label in zip(texts, labels)]
        return _scores(target, examples, options=options, device=device).nll_sum

    rows = [(c.canary_id, c.secret, c.repeats, target.canary_labels.get(c.canary_id)) for c in target.canaries]
    results = canary_exposures(
        rows,
        template=target.canary_template,
        digits=target.canary_digits,
        score=score,
        exact_max=options.exposure_exact_max,
        samples=options.exposure_samples,
        seed=seed,
    )
    space_bits = target.canary_digits * math.log2(10)
    findings: list[AuditFinding] = []
    plot: dict[str, list[Any]] = {"group": [], "repeats": [], "mean": [], "max": [], "n": []}
    for repeats in sorted({r.repeats for r in results}):
        group = [r for r in results if r.repeats == repeats]
        values = np.array([r.exposure for r in group])
        name = "reference" if repeats == 0 else f"repeats={repeats}"
        evidence = {
            "canaries": len(group),
            "method": group[0].method,
            "max_possible": space_bits,
            "expected_unseen": math.log2(math.e),
            # past the cap the secret is likelier than any other; how far past still ranks repeats
            "mean_uncapped": float(np.mean([r.uncapped for r in group])),
            "per_canary": {r.canary_id: round(r.exposure, 3) for r in group},
            **_canary_unit(target),
        }
        findings.append(
            AuditFinding(
                AUDIT,
                PrivacyCheck.CANARY_EXPOSURE,
                "mean_exposure",
                float(values.mean()),
                group=name,
                evidence=evidence,
                message=f"{name}: mean exposure {values.mean():.2f} of {space_bits:.1f} bits",
            )
        )
        findings.append(
            AuditFinding(
                AUDIT,
                PrivacyCheck.CANARY_EXPOSURE,
                "max_exposure",
                float(values.max()),
                group=name,
                evidence={"canaries": len(group), "max_possible": space_bits, **_canary_unit(target)},
            )
        )
        plot["group"].append(name)
        plot["repeats"].append(repeats)
        plot["mean"].append(float(values.mean()))
        plot["max"].append(float(values.max()))
        plot["n"].append(len(group))
    plot["max_possible"] = space_bits
    return findings, {"exposure_by_repeats": plot}


@dataclass(frozen=True)
class PersonSample:
    """The persons a person-level attack audits, each as the tuple of their records:
    members (every record trained) and non-members (every record held out)."""

    person_field: str  # e.g. "patient_id"
    members: tuple[tuple[Any, ...], ...] = field(repr=False)
    non_members: tuple[tuple[Any, ...], ...] = field(repr=False)
    left_out: int  # persons with records on both sides (trained on one client, held out on another)
    tests_claim: bool  # its epsilon bounds join empirical_epsilon (person-level claim, or none)

    def evidence(self) -> dict[str, Any]:
        return {
            "level": "person",
            "person_field": self.person_field,
            "member_records": sum(len(p) for p in self.members),
            "non_member_records": sum(len(p) for p in self.non_members),
            "most_records_per_person": max(len(p) for p in (*self.members, *self.non_members)),
            "persons_left_out_on_both_sides": self.left_out,
        }


def person_sample(target: Target, *, max_persons: int, seed: int, claimed: bool) -> PersonSample | str | None:
    """The persons to audit (a seeded sample of at most `max_persons` each side); None when
    the target names no person field; a reason (str) when it does but cannot be audited.
    `claimed`: the run has a DP claim (whose unit decides whether the bounds test it)."""
    from audits.extraction import sample

    name = target.person_field
    if name is None:
        return None
    records = (*target.members, *target.non_members)
    unnamed = sum(e.person is None for e in records)
    if unnamed:
        return f"{unnamed} of {len(records)} audited records name no {name}: person-level membership needs all"
    by_side: list[dict[str, list[Any]]] = [{}, {}]
    for side, examples in enumerate((target.members, target.non_members)):
        for e in examples:
            by_side[side].setdefault(e.person, []).append(e)
    both = by_side[0].keys() & by_side[1].keys()
    # sorted only to make the sample reproducible; the ids stay in memory
    ids = [sorted(k for k in side if k not in both) for side in by_side]
    if min(len(ids[0]), len(ids[1])) < MIN_PERSONS:
        return (
            f"needs at least {MIN_PERSONS} member and {MIN_PERSONS} non-member persons (by {name}); "
            f"has {len(ids[0])} and {len(ids[1])}: raise [data] holdout"
        )
    chosen = [sample(ids[side], max_persons, seed=seed, stream=33 + side) for side in (0, 1)]
    return PersonSample(
        person_field=name,
        members=tuple(tuple(by_side[0][k]) for k in chosen[0]),
        non_members=tuple(tuple(by_side[1][k]) for k in chosen[1]),
        left_out=len(both),
        tests_claim=not claimed or target.dp_unit == name,
    )


class _Population:
    """The records scored once for every attack: the record-level sample, then the
    person-level persons' records not in it; `groups` numbers each record's person (a
    record with no person is a group of its own), so reference models take or leave a
    person whole."""

    def __init__(self, members: Sequence[Any], non_members: Sequence[Any], persons: PersonSample | None) -> None:
        self.records: list[Any] = []
        self._index: dict[int, int] = {}
        for e in (*members, *non_members):
            self._add(e)
        for group in (*persons.members, *persons.non_members) if persons is not None else ():
            for e in group:
                self._add(e)
        self.members = np.array([self._index[id(e)] for e in members], dtype=int)
        self.non_members = np.array([self._index[id(e)] for e in non_members], dtype=int)
        self.person_members = [[self._index[id(e)] for e in g] for g in persons.members] if persons else []
        self.person_non_members = [[self._index[id(e)] for e in g] for g in persons.non_members] if persons else []
        numbers: dict[Any, int] = {}
        groups = []
        for i, e in enumerate(self.records):
            key = ("person", e.person) if getattr(e, "person", None) is not None else ("record", i)
            groups.append(numbers.setdefault(key, len(numbers)))
        self.groups = np.array(groups, dtype=int)

    def _add(self, e: Any) -> None:
        if id(e) not in self._index:
            self._index[id(e)] = len(self.records)
            self.records.append(e)


def _membership(
    target: Target,
    members: Sequence[Any],
    non_members: Sequence[Any],
    options: PrivacyAuditOptions,
    device: str,
    seed: int,
    claimed: tuple[float | None, float | None],
    progress: Progress,
    persons: PersonSample | None = None,
    on_reference: Callable[[int, Any, Sequence[Any]], None] | None = None,
) -> tuple[list[AuditFinding], dict[str, Any], dict[str, str], list[tuple[str, float, Any]]]:
    from audits.membership import (
        epsilon_lower_bound,
        evaluate_attack,
        grouped_in_mask,
        lira_scores,
        person_scores,
    )

    findings: list[AuditFinding] = []
    plots: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    bounds: list[tuple[str, float, Any]] = []
    _, delta = claimed
    delta = delta if delta is not None else 0.0
    attacks = int("membership" in options.checks) + int("reference" in options.checks and options.references > 0)
    tested = attacks * (2 if persons is not None and persons.tests_claim else 1)
    per_attack = 1 - (1 - options.confidence) / max(tested, 1)  # Bonferroni over the bounds that are tested
    pop = _Population(members, non_members, persons)
    target_scores = _scores(target, pop.records, options=options, device=device)

    def attack(check: str, record_scores: np.ndarray, evidence: dict[str, Any], started: float) -> None:
        """The record-level attack on `record_scores` (over the population), then its person-level twin."""
        m_scores, n_scores = record_scores[pop.members], record_scores[pop.non_members]
        result = evaluate_attack(check, m_scores, n_scores, bootstrap=options.bootstrap, seed=seed)
        bound = epsilon_lower_bound(m_scores, n_scores, delta=delta, confidence=per_attack, seed=seed)
        evidence = {**evidence, "seconds": round(time.perf_counter() - started, 2)}
        findings.extend(_attack_findings(check, result, {**evidence, "level": "record"}))
        plots[f"roc_{check}"] = result.roc | {"auc": result.auc}
        bounds.append((check, bound.lower_bound, bound))
        if persons is None:
            return
        person_check = PERSON_ATTACKS[PrivacyCheck(check)]
        pm = person_scores(record_scores, pop.person_members)
        pn = person_scores(record_scores, pop.person_non_members)
        result = evaluate_attack(person_check, pm, pn, bootstrap=options.bootstrap, seed=seed)
        bound = epsilon_lower_bound(pm, pn, delta=delta, confidence=per_attack, seed=seed)
        person_evidence = {
            **evidence,
            **persons.evidence(),
            "aggregation": "a person's score is the mean of their records' attack scores",
            "epsilon_lower_bound": round(bound.lower_bound, 4),
            "epsilon_bound_tests_claim": persons.tests_claim,
        }
        findings.extend(_attack_findings(person_check, result, person_evidence))
        plots[f"roc_{person_check}"] = result.roc | {"auc": result.auc}
        if persons.tests_claim:
            bounds.append((person_check, bound.lower_bound, bound))

    if "membership" in options.checks:
        progress("membership: loss attack" + (" (records and persons)" if persons else ""))
        started = time.perf_counter()
        attack(
            PrivacyCheck.MEMBERSHIP_LOSS,
            -target_scores.loss,
            {"attack": "loss threshold (Yeom et al. 2018)"},
            started,
        )
        plots["loss_histogram"] = _histogram(target_scores.loss[pop.members], target_scores.loss[pop.non_members])

    if "reference" in options.checks:
        if options.references == 0:
            skipped[PrivacyCheck.MEMBERSHIP_REFERENCE] = "no reference models asked for (--references 0)"
        elif target.config is None:
            skipped[PrivacyCheck.MEMBERSHIP_REFERENCE] = (
                "needs the training recipe to train reference models: audit a guard federate run directory"
            )
        else:
            started = time.perf_counter()
            mask = grouped_in_mask(pop.groups, options.references, seed=seed)
            if options.engine == "ray":  # the same K trainings as the loop below, as Ray tasks
                from audits.ray_lira import reference_phis

                ref_phi = reference_phis(
                    target,
                    pop.records,
                    mask,
                    train=_train_reference,
                    score=_scores,
                    options=options,
                    device=device,
                    progress=progress,
                )
            else:
                ref_phi = np.zeros((options.references, len(pop.records)))
                for k in range(options.references):
                    progress(f"membership: reference model {k + 1}/{options.references}")
                    chosen = [pop.records[i] for i in np.flatnonzero(mask[k])]
                    ref = _train_reference(target, chosen, k, device)
                    ref_phi[k] = _scores(target, pop.records, bundle=ref, options=options, device=device).phi
                    if on_reference is not None:  # the extraction baseline of the records it left out
                        on_reference(k, ref, [pop.records[i] for i in np.flatnonzero(~mask[k])])
            attack(
                PrivacyCheck.MEMBERSHIP_REFERENCE,
                lira_scores(target_scores.phi, ref_phi, mask),
                {
                    "attack": "LiRA online, global variance (Carlini et al. 2022)",
                    "references": options.references,
                    "reference_split": "by person" if persons is not None else "by record",
                },
                started,
            )
    return findings, plots, skipped, bounds


def _histogram(members: np.ndarray, non_members: np.ndarray, bins: int = 40) -> dict[str, list[float]]:
    both = np.r_[members, non_members]
    lo, hi = float(np.percentile(both, 0.5)), float(np.percentile(both, 99.5))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    m, _ = np.histogram(np.clip(members, edges[0], edges[-1]), edges, density=True)
    n, _ = np.histogram(np.clip(non_members, edges[0], edges[-1]), edges, density=True)
    return {"edges": edges.round(5).tolist(), "members": m.round(5).tolist(), "non_members": n.round(5).tolist()}


def _pii_per_text(texts: Sequence[str]) -> list[dict[str, str]]:
    """PII values the scrubber's detector finds in each text, by entity type (kept in memory only)."""
    from guard.core.policy import Policy
    from guard.deid.detector import Detector

    detector = Detector(Policy())
    out: list[dict[str, str]] = []
    for text, found in zip(texts, detector.detect_batch(list(texts))):
        values: dict[str, str] = {}
        for d in found:
            values.setdefault(text[d.start : d.end].strip(), d.entity_type)
        out.append(values)
    return out


class _ExtractionPlan:
    """The extraction sample, chosen before the membership attacks so that each LiRA reference
    model, right after it is trained, can be prompted with the sampled training records it did
    NOT train on: the second baseline (what a model of the same recipe without the record
    emits). Counts only; each record is tried on one reference model (the first that left it out)."""

    def __init__(self, target: Target, options: PrivacyAuditOptions, device: str, seed: int) -> None:
        from audits.extraction import sample

        self.target, self.options, self.device = target, options, device
        texts = [e.text for e in target.members]
        chosen = sample(range(len(texts)), options.extraction_records, seed=seed, stream=21)  # as sampling texts
        self.examples = [target.members[i] for i in chosen]
        self.members = [texts[i] for i in chosen]
        self.non_members = sample([e.text for e in target.non_members], options.extraction_records, seed=seed, stream=22)
        per_text = _pii_per_text(texts)
        self.pii: dict[str, str] = {}
        for found in per_text:
            for v, t in found.items():
                self.pii.setdefault(v, t)
        self.record_pii = [list(per_text[i]) for i in chosen]
        self.max_length = target.config.data.max_length if target.config is not None else 128
        self._tried: set[int] = set()  # positions in `members` already tried on a reference model
        self.reference = [0, 0, 0, 0]  # exact hits, records tried, own-PII trials, own-PII hits
        self.references_used = 0

    def on_reference(self, k: int, bundle: Any, left_out: Sequence[Any]) -> None:
        """Prompt reference model `k` with the sampled training records it did not train on."""
        from audits.extraction import extract

        out = {id(e) for e in left_out}
        todo = [p for p, e in enumerate(self.examples) if id(e) in out and p not in self._tried]
        if not todo:
            return
        self._tried.update(todo)
        r = extract(
            bundle,
            [self.members[p] for p in todo],
            [],
            pii=self.pii,
            record_pii=[self.record_pii[p] for p in todo],
            prefix=self.options.prefix_tokens,
            suffix=self.options.suffix_tokens,
            max_length=self.max_length,
            device=self.device,
        )
        self.reference[0] += r.member_exact
        self.reference[1] += r.members
        self.reference[2] += r.own_pii[0]
        self.reference[3] += r.own_pii[1]
        self.references_used += 1


def _extraction(target: Target, options: PrivacyAuditOptions, device: str, plan: _ExtractionPlan) -> list[AuditFinding]:
    from audits.extraction import extract

    prefix_text = target.canary_template.split("{secret}")[0].strip() if target.canary_template else ""
    inserted = [(c.secret, c.repeats) for c in target.canaries if c.repeats > 0]
    r = extract(
        target.bundle,
        plan.members,
        plan.non_members,
        pii=plan.pii,
        record_pii=plan.record_pii,
        canaries=inserted,
        canary_prefix=prefix_text,
        prefix=options.prefix_tokens,
        suffix=options.suffix_tokens,
        max_length=plan.max_length,
        device=device,
    )
    setup = {"prefix_tokens": r.prefix_tokens, "suffix_tokens": r.suffix_tokens, "decoding": "greedy"}
    if r.members:
        findings = _extraction_findings(r, setup, options.confidence)
        findings += _reference_findings(r, plan, setup, options.confidence)
    else:
        findings = [
            AuditFinding(
                AUDIT,
                PrivacyCheck.EXTRACTION,
                "exact_suffix_rate",
                None,
                evidence=setup,
                severity="warning",
                message=f"no training record has {r.prefix_tokens + r.suffix_tokens} tokens: nothing to extract",
            )
        ]
    for repeats, (got, total) in sorted(r.canary_hits.items()):
        findings.append(
            AuditFinding(
                AUDIT,
                PrivacyCheck.EXTRACTION,
                "canary_extraction_rate",
                got / total,
                group=f"repeats={repeats}",
                evidence={
                    "canaries": total,
                    "extracted": got,
                    "decoding": "greedy",
                    # a model that never saw the canary guesses its secret by chance at most this often
                    "chance": 10.0 ** -target.canary_digits,
                },
                message=f"{got} of {total} canaries inserted {repeats} time(s) extracted "
                f"(chance: {10.0 ** -target.canary_digits:.0e})",
            )
        )
    return findings


def _reference_findings(
    r: Any, plan: _ExtractionPlan, setup: dict[str, Any], confidence: float
) -> list[AuditFinding]:
    """The same two excesses against the LiRA reference models that did not train on each record
    (group "reference models"; the gate takes the worse of the two baselines). The same records
    on both sides (paired), judged with the unpaired interval: conservative when the two sides
    correlate, as they do for text any model of the language completes."""
    from audits.baseline import Excess

    exact_hits, tried, trials, hits = plan.reference
    if not tried:
        return []
    kind = "LiRA reference models not trained on the record"
    extra = {"reference_models_used": plan.references_used}
    trials_m, hits_m, _, _ = r.own_pii
    exact = Excess(r.member_exact, r.members, exact_hits, tried, confidence, kind)
    pii = Excess(hits_m, trials_m, hits, trials, confidence, kind)
    return [
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "exact_suffix_excess",
            exact.excess,
            group="reference models",
            evidence={**setup, **exact.evidence(), **extra},
            message=exact.message("exact suffix extraction"),
        ),
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "training_pii_emission_excess",
            pii.excess,
            group="reference models",
            evidence={**setup, **pii.evidence(), **extra},
            message=pii.message("emission of the record's own PII"),
        ),
    ]


def _extraction_findings(r: Any, setup: dict[str, Any], confidence: float) -> list[AuditFinding]:
    """The member rates (`exact_suffix_rate`, `training_pii_emission_rate`, as before) and, beside
    each, its excess over the held-out baseline (`exact_suffix_excess`,
    `training_pii_emission_excess`): the difference with its interval and a verdict
    (audits.baseline). The release gate reads the excess, not the raw rate."""
    from audits.baseline import Excess

    held_out = "held-out records"
    exact = Excess(r.member_exact, r.members, r.non_member_exact, r.non_members, confidence, held_out)
    trials, hits, base_trials, base_hits = r.own_pii
    pii = Excess(hits, trials, base_hits, base_trials, confidence, "held-out prompts, paired with a member record")
    pii_setup = {**setup, "pii_values": r.pii_values, "detector": "guard scrub detector, default policy"}
    return [
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "exact_suffix_rate",
            exact.member_rate,
            evidence={
                **setup,
                "records": r.members,
                "exact": r.member_exact,
                "non_member_rate": exact.baseline_rate,
                "non_members": r.non_members,
                "non_member_exact": r.non_member_exact,
            },
            message=f"{r.member_exact} of {r.members} training records continued verbatim "
            f"(held-out records: {r.non_member_exact} of {r.non_members})",
        ),
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "exact_suffix_excess",
            exact.excess,
            evidence={**setup, **exact.evidence()},
            message=exact.message("exact suffix extraction"),
        ),
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "training_pii_emission_rate",
            r.pii_emitting / r.pii_generations if r.pii_generations else 0.0,
            evidence={
                "generations": r.pii_generations,
                "emitting": r.pii_emitting,
                "baseline_generations": r.baseline_pii_generations,
                "baseline_emitting": r.baseline_pii_emitting,
                "baseline_rate": r.baseline_pii_emitting / r.baseline_pii_generations
                if r.baseline_pii_generations
                else None,
                "pii_values": r.pii_values,
                "by_entity": dict(r.pii_types),
                "detector": "guard scrub detector, default policy",
            },
            message=f"{r.pii_emitting} of {r.pii_generations} generations emitted a training PII value not in the "
            f"prompt (held-out prompts: {r.baseline_pii_emitting} of {r.baseline_pii_generations})",
        ),
        AuditFinding(
            AUDIT,
            PrivacyCheck.EXTRACTION,
            "training_pii_emission_excess",
            pii.excess,
            evidence={
                **pii_setup,
                **pii.evidence(),
                "counts": "a member trial emits when the generation holds a PII value of its own record not in "
                "its prompt; a baseline trial when a held-out prompt's generation holds the values of the member "
                "record it is paired with",
            },
            message=pii.message("emission of the record's own PII"),
        ),
    ]


def run_privacy_audit(
    run_dir: str | Path | None = None,
    *,
    model_dir: str | Path | None = None,
    train: str | Path | None = None,
    holdout: str | Path | None = None,
    task: str | None = None,
    person_field: str | None = None,
    options: PrivacyAuditOptions = PrivacyAuditOptions(),
    seed: int = 0,
    progress: Progress | None = None,
    silo: Any = None,
) -> AuditReport:
    """Audit a `guard federate` run directory, or `model_dir` with its `train` and `holdout` files.

    A run names its records' persons through its `[data] person_field`; for `model_dir`,
    `person_field` names the field of the two files that holds each record's person. With
    persons the membership attacks also run on persons (all of a person's records in or out).
    A silo run is audited on one of its nodes: `silo` (federated.silo.SiloNode) names that
    node's data file, client id and state directory (its canaries)."""
    from audits._models import torch_threads
    from audits.target import load_model_target, load_run_target

    say = progress or (lambda msg: log.info("%s", msg))
    started = time.perf_counter()
    if run_dir is not None:
        if model_dir is not None or train is not None or holdout is not None:
            raise AuditError("give a run directory, or --model with --train and --holdout, not both")
        if person_field is not None:
            raise AuditError("a run directory names its person field in its config ([data] person_field)")
        target = load_run_target(run_dir, silo=silo)
    elif model_dir is not None and train is not None and holdout is not None:
        target = load_model_target(model_dir, train=train, holdout=holdout, task=task, person_field=person_field)
    else:
        raise AuditError("give a run directory, or --model DIR with --train FILE and --holdout FILE")
    unknown = set(options.checks) - set(PrivacyAuditOptions().checks)
    if unknown:
        raise AuditError(f"unknown privacy check(s) {sorted(unknown)}; known: {sorted(PrivacyAuditOptions().checks)}")
    if options.engine not in ("local", "ray"):
        raise AuditError(f"unknown engine {options.engine!r}; known: ['local', 'ray']")
    if options.references < 0 or options.references % 2:
        raise AuditError(
            f"references must be an even number (each record is IN for half of them), or 0 to skip; got {options.references}"
        )
    if len(target.members) < 4 or len(target.non_members) < 4:
        raise AuditError(
            f"{target.subject.get('run_dir') or target.subject.get('model_dir')}: needs at least 4 members and 4 "
            f"non-members (has {len(target.members)} and {len(target.non_members)}); set [data] holdout"
        )
    with torch_threads(options.threads):
        return _run(target, options, seed=seed, say=say, started=started)


def _run(target: Target, options: PrivacyAuditOptions, *, seed: int, say: Progress, started: float) -> AuditReport:
    from audits.extraction import sample
    from federated.task import resolve_device
    from guard.core.seeding import seed_everything

    device = resolve_device(options.device)
    seed_everything(seed)
    claimed_eps, delta, findings = _claim(target)
    plots: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    if "exposure" in options.checks:
        if target.canaries:
            say("canary exposure")
            f, p = _exposure(target, options, device, seed)
            findings += f
            plots |= p
        else:
            skipped[PrivacyCheck.CANARY_EXPOSURE] = "no canaries were inserted (guard federate --canaries N)"

    n = min(options.max_records, len(target.members), len(target.non_members))
    members = sample(target.members, n, seed=seed, stream=31)
    non_members = sample(target.non_members, n, seed=seed, stream=32)
    bounds: list[tuple[str, float, Any]] = []
    persons: PersonSample | None = None
    plan = None
    if "extraction" in options.checks and target.task == "causal_lm":
        plan = _ExtractionPlan(target, options, device, seed)
    if "membership" in options.checks or "reference" in options.checks:
        found = person_sample(target, max_persons=options.max_records, seed=seed, claimed=claimed_eps is not None)
        if isinstance(found, str):
            for check in ("membership", "reference"):
                if check in options.checks:
                    skipped[PERSON_ATTACKS[_RECORD_ATTACK[check]]] = found
        else:
            persons = found
        hook = plan.on_reference if plan is not None and options.engine == "local" else None
        f, p, s, bounds = _membership(
            target, members, non_members, options, device, seed, (claimed_eps, delta), say, persons, hook
        )
        findings += f
        plots |= p
        skipped |= s
        if persons is not None:
            for check, reason in s.items():
                skipped[PERSON_ATTACKS[PrivacyCheck(check)]] = reason

    if "extraction" in options.checks:
        if plan is not None:
            say("extraction")
            findings += _extraction(target, options, device, plan)
        else:
            skipped[PrivacyCheck.EXTRACTION] = "the model is a classifier: it generates no text to extract"

    if bounds:
        check, value, bound = max(bounds, key=lambda b: b[1])
        evidence = {
            "attack": check,
            "confidence": options.confidence,
            "per_attack": {c: round(v, 4) for c, v, _ in bounds},
            "claimed_epsilon": claimed_eps,
            "delta": delta,
            "method": bound.method,
            "tp": bound.tp,
            "members": bound.members,
            "fp": bound.fp,
            "non_members": bound.non_members,
        }
        if persons is not None and not persons.tests_claim:
            evidence["person_level_not_compared"] = (
                f"the claim protects records; person-level bounds (in the {persons.person_field} findings) "
                "are held to the group-privacy bound, not to it"
            )
        ok = None if claimed_eps is None else value <= claimed_eps
        if claimed_eps is None:
            message = f"empirical epsilon >= {value:.3f}; no DP claim to compare with"
        elif ok:
            message = f"empirical epsilon >= {value:.3f}, below the claimed {claimed_eps:.3f}"
        else:
            message = (
                f"PRIVACY BUG: empirical epsilon >= {value:.3f} exceeds the claimed {claimed_eps:.3f} "
                f"({options.confidence:.0%} confidence): the DP accounting or implementation is wrong"
            )
            log.error("privacy bug: empirical epsilon %.3f exceeds the claimed %.3f", value, claimed_eps)
        findings.append(
            AuditFinding(
                AUDIT,
                PrivacyCheck.EMPIRICAL_EPSILON,
                "lower_bound",
                value,
                threshold=claimed_eps,
                passed=ok,
                evidence=evidence,
                severity="critical" if ok is False else "info",
                message=message,
            )
        )
    subject = dict(target.subject)
    subject["options"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.__dict__.items()}
    subject["audited_members"] = len(members)
    subject["audited_non_members"] = len(non_members)
    if persons is not None:
        subject["audited_member_persons"] = len(persons.members)
        subject["audited_non_member_persons"] = len(persons.non_members)
    subject["device"] = device
    return finished_report(
        AUDIT, subject=subject, findings=findings, plots=plots, skipped=skipped, seed=seed, started=started
    )


register_audit(AUDIT)(run_privacy_audit)


__all__ = ["PrivacyAuditOptions", "run_privacy_audit"]

"""The server's check of what a client says it spent.

A client reports its ledger entry (delta, clipping, and its DP-SGD history: noise,
sample rate and steps per round). In a silo run nothing else tells the server what a
client did, so before an entry goes into the ledger the server recomputes its epsilon
from the history with a fresh Opacus accountant and checks the history against the run:
the accountant, clipping norm and delta the config sets, the sample rate and steps
DP-SGD uses for the client's reported record (or person) count, and the target. An
entry that fails is rejected: the client's weights are not aggregated, the failure
names the client and what did not match, and the ledger keeps the server's
recomputed epsilon (what the history says was spent), never the client's claim.

What this cannot see: a client that trains differently from what it reports (e.g.
with less noise than its history says). Record-level DP is the clients' own duty;
secure aggregation and remote attestation are the tools against a dishonest silo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from federated.config import FederateConfig
from federated.ledger import ClientLedger

_REL = 1e-6  # relative tolerance on floats that travelled as JSON


@dataclass(frozen=True)
class EntryCheck:
    entry: ClientLedger  # the entry as the ledger keeps it: epsilon recomputed by the server
    problem: str | None  # None: accepted


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL, abs_tol=1e-12)


def _planned(entry: ClientLedger, config: FederateConfig) -> tuple[int, float] | None:
    """(steps per round, sample rate) DP-SGD uses for the entry's counts; None when the
    counts the plan needs are not reported (a person-level entry without its persons)."""
    from federated.task import plan

    if entry.person_level:
        if entry.persons is None:
            return None
        from federated.person_dp import plan_persons

        _, steps, rate = plan_persons(entry.persons, config.train)
        return steps, rate
    _, steps, rate = plan(entry.records, config.train)
    return steps, rate


def _history_problem(entry: ClientLedger, config: FederateConfig) -> str | None:
    from federated.privacy import default_delta

    dp = config.dp
    if entry.accountant != dp.accountant.value:
        return f"accountant {entry.accountant!r}, the run uses {dp.accountant.value!r}"
    if not _close(entry.max_grad_norm, dp.max_grad_norm):
        return f"clipping norm {entry.max_grad_norm}, the run uses {dp.max_grad_norm}"
    if entry.records < 1:
        return f"{entry.records} training records"
    delta = dp.delta if dp.delta is not None else default_delta(entry.records)
    if not _close(entry.delta, delta):
        return f"delta {entry.delta:.3g}, the run's is {delta:.3g} for {entry.records} records"
    planned = _planned(entry, config)
    for step in entry.history:
        if not (step.noise_multiplier > 0 and 0 < step.sample_rate <= 1 and step.steps >= 0):
            return f"round {step.round}: an impossible history step (noise, sample rate or steps)"
        if dp.noise_multiplier is not None and not _close(step.noise_multiplier, dp.noise_multiplier):
            return f"round {step.round}: noise {step.noise_multiplier}, the run fixes {dp.noise_multiplier}"
        if planned is not None:
            steps, rate = planned
            if not _close(step.sample_rate, rate) or step.steps > steps:
                return (
                    f"round {step.round}: sample rate {step.sample_rate:.6g} and {step.steps} steps, where DP-SGD "
                    f"over its reported counts uses {rate:.6g} and at most {steps}"
                )
    # a round may appear twice: a round that failed after this client trained is re-run on
    # --resume, and both trainings spent privacy (counted twice, never zero times)
    return None


def check_entry(entry: ClientLedger, config: FederateConfig, *, before: ClientLedger | None = None) -> EntryCheck:
    """Recompute `entry`'s epsilon and check it against the run's config and the ledger's
    previous entry of the same client (`before`: its history must go on from it)."""
    from federated.privacy import epsilon_of

    recomputed = epsilon_of(entry.opacus_history(), entry.delta, entry.accountant) if entry.history else 0.0
    kept = replace(entry, epsilon=recomputed)
    problem = _history_problem(entry, config)
    if problem is None and before is not None and entry.history[: len(before.history)] != before.history:
        problem = "its history does not go on from the ledger's (an earlier round was changed or left out)"
    if problem is None and not _close(entry.epsilon, recomputed):
        problem = f"it reports epsilon {entry.epsilon:.6g}, but its history gives {recomputed:.6g}"
    target = config.dp.target_epsilon
    if problem is None and target is not None and recomputed > target * (1 + _REL):
        problem = f"epsilon {recomputed:.6g} exceeds the run's target {target:g}"
    return EntryCheck(kept, problem)


__all__ = ["EntryCheck", "check_entry"]

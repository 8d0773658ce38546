"""Thin, exact wrappers over Opacus: noise for a target epsilon, epsilon of a history, DP-SGD setup.

A client's privacy history is an Opacus accountant history: a list of
`(noise_multiplier, sample_rate, steps)`. Its epsilon is always recomputed by a
fresh Opacus accountant, never estimated here, so the ledger equals what Opacus
reports for the same noise, sample rate and steps, across rounds and resumes.

Adjacent entries with the same noise and sample rate are merged before
accounting, exactly as Opacus's own accountants merge them while stepping
(`RDPAccountant.step`, `PRVAccountant.step`): a history restored into a
PrivacyEngine and stepped further ends in that merged shape, so both agree.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torch import nn

from federated.accounting import create_accountant, epsilon, merged
from federated.config import DPConfig
from guard.core.errors import ExitCode, GuardError

MAX_NOISE_MULTIPLIER = 50.0  # above this, DP-SGD learns nothing useful: we call the target unreachable


class PrivacyError(GuardError):
    """A privacy budget cannot be met (or was spent) with the given data and settings."""

    exit_code = ExitCode.BUDGET


def _accountant(name: str) -> Any:
    try:
        return create_accountant(name)
    except ValueError as e:
        raise PrivacyError(f"unknown accountant {name!r}", hint="use 'prv' or 'rdp'") from e


def epsilon_of(history: Iterable[tuple[float, float, int]], delta: float, accountant: str) -> float:
    """Epsilon that a fresh Opacus `accountant` ("prv" or "rdp") gives for `history` at `delta`
    (federated.accounting: Opacus's accountants, loaded without torch when torch is not loaded)."""
    _accountant(accountant)  # an unknown name is a PrivacyError, not Opacus's ValueError
    return epsilon(history, delta, accountant)


def default_delta(records: int) -> float:
    """The default delta for a client with `records` training records: 1 / (10 * records).

    Delta must be well below 1 / records (otherwise "release one record in the clear"
    would satisfy the definition); a tenth of it is the common choice.
    """
    if records < 1:
        raise PrivacyError("a client has no training records: delta is undefined", hint="give every client data")
    return 1.0 / (10 * records)


def noise_for_target(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str,
    *,
    client_id: str | None = None,
    records: int | None = None,
) -> float:
    """The smallest noise multiplier (Opacus binary search, 0.01 tolerance) whose epsilon is <= target.

    Raises PrivacyError when it would need more than MAX_NOISE_MULTIPLIER.
    """
    sigma = _noise_for_target(float(target_epsilon), float(delta), float(sample_rate), int(steps), str(accountant))
    if sigma is None:
        who = f"client {client_id}" if client_id is not None else "a client"
        size = f"{records} records, " if records is not None else ""
        raise PrivacyError(
            f"{who} ({size}sample rate {sample_rate:.4g}, {steps} steps) cannot reach epsilon {target_epsilon:g} at "
            f"delta {delta:.1e} with a noise multiplier <= {MAX_NOISE_MULTIPLIER:g}",
            hint="give that client more records, raise [dp] target_epsilon, or train fewer rounds/local epochs",
        )
    return sigma


@functools.lru_cache(maxsize=256)
def _noise_for_target(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float | None:
    """Cached on the accounting inputs only (a PRV search takes seconds), so clients
    with the same plan share one search. None: the target cannot be reached."""
    from opacus.accountants.utils import get_noise_multiplier

    # epsilon falls as noise grows: if even the largest allowed noise misses the target, stop early
    if epsilon_of([(MAX_NOISE_MULTIPLIER, sample_rate, steps)], delta, accountant) > target_epsilon:
        return None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*[Oo]ptimal order.*")
            sigma = float(
                get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant=str(accountant),
                )
            )
    except ValueError:
        return None
    if not math.isfinite(sigma) or sigma > MAX_NOISE_MULTIPLIER:
        return None
    return sigma


@dataclass
class PrivateTraining:
    """What `make_private` returns: use these objects (not the originals) to train."""

    model: nn.Module
    optimizer: Any  # opacus DPOptimizer
    loader: Any  # Poisson-sampled DataLoader
    criterion: Any  # the loss to call; under ghost clipping Opacus's wrapper (its .backward() does two passes)
    engine: Any  # opacus PrivacyEngine; engine.accountant.history is the running history

    @property
    def sample_rate(self) -> float:
        return 1.0 / len(self.loader)

    def close(self) -> nn.Module:
        """Remove Opacus hooks from the user module and return it."""
        model = self.model
        if hasattr(model, "to_standard_module"):
            return model.to_standard_module()
        if hasattr(model, "_close"):
            model._close()
        return getattr(model, "_module", model)


def noise_only_step(optimizer: Any) -> None:
    """One DP-SGD step for an empty Poisson batch: zero clipped sum + Gaussian noise, accounted as usual.

    Poisson sampling sometimes draws no record. Skipping that step would reveal that
    the batch was empty (which depends on who is in the data); Opacus's ghost clipping
    also cannot run a forward pass on zero rows. So release noise alone, exactly as
    DPOptimizer.pre_step would after clipping a batch whose clipped gradients sum to 0.
    """
    import torch
    from opacus.optimizers import DPOptimizerFastGradientClipping

    ghost = isinstance(optimizer, DPOptimizerFastGradientClipping)
    for p in optimizer.params:
        p.grad = torch.zeros_like(p)  # ghost: the (empty) clipped sum it accumulates
        if not ghost:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)  # Opacus's empty-batch path
    optimizer.step()  # noise, scaling by the expected batch size, and the accountant's hook, as for any batch


def make_private(
    model: nn.Module,
    optimizer: Any,
    loader: Any,
    *,
    dp: DPConfig,
    noise_multiplier: float,
    history: Iterable[tuple[float, float, int]] = (),
    criterion: Any = None,
) -> PrivateTraining:
    """Opacus DP-SGD with Poisson sampling and the accountant restored from `history`.

    The accountant is a new one whose history is set to the client's previous
    history, so `engine.accountant.get_epsilon(delta)` is cumulative over rounds.
    The sample rate is Opacus's: 1 / len(loader) (= 1 / ceil(records / batch_size)).
    """
    from opacus import PrivacyEngine

    if criterion is None:
        criterion = nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*Secure RNG turned off.*")
        engine = PrivacyEngine(accountant=str(dp.accountant), secure_mode=dp.secure_mode)
    engine.accountant.history = merged(history)
    out = engine.make_private(
        module=model,
        optimizer=optimizer,
        criterion=criterion,
        data_loader=loader,
        noise_multiplier=noise_multiplier,
        max_grad_norm=dp.max_grad_norm,
        poisson_sampling=True,
        grad_sample_mode=str(dp.clipping),
    )
    if len(out) == 4:  # ghost clipping also wraps the criterion
        private_model, private_optimizer, private_criterion, private_loader = out
    else:
        private_model, private_optimizer, private_loader = out
        private_criterion = criterion
    return PrivateTraining(
        model=private_model,
        optimizer=private_optimizer,
        loader=private_loader,
        criterion=private_criterion,
        engine=engine,
    )


__all__ = [
    "MAX_NOISE_MULTIPLIER",
    "PrivacyError",
    "PrivateTraining",
    "default_delta",
    "epsilon_of",
    "make_private",
    "noise_for_target",
    "noise_only_step",
]

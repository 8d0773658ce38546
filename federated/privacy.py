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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special
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
    """A noise multiplier whose epsilon is <= target and within EPSILON_TOLERANCE (0.01) of it:
    the contract of Opacus's get_noise_multiplier, found with fewer accountant evaluations.

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


EPSILON_TOLERANCE = 0.01  # Opacus's get_noise_multiplier default: the found epsilon is this close below the target


@functools.lru_cache(maxsize=256)
def _noise_for_target(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float | None:
    """Cached on the accounting inputs only (a PRV search takes seconds), so clients
    with the same plan share one search. None: the target cannot be reached.

    The contract is Opacus's get_noise_multiplier's (epsilon <= target, within
    EPSILON_TOLERANCE of it), with fewer accountant evaluations than its bisection from
    [0, 20]: that bisection also tries noises far below the answer, where a PRV epsilon
    costs seconds to minutes (its domain grows with epsilon)."""

    def epsilon_at(sigma: float) -> float:
        return epsilon_of([(sigma, sample_rate, steps)], delta, accountant)

    points = []
    # where to look first: RDP's answer, found on a fast copy of Opacus's RDP sums (RDP and PRV
    # epsilons are close, and the copy agrees with Opacus to 1e-9): then one Opacus evaluation
    # usually lands in the window, where the search alone took about six
    guess = _rdp_guess(target_epsilon, delta, sample_rate, steps)
    if guess is not None:
        points.append((guess, epsilon_at(guess)))
        eps, copy = points[-1][1], _rdp_epsilon(guess, sample_rate, steps, delta)
        if (
            not target_epsilon - EPSILON_TOLERANCE <= eps <= target_epsilon
            and 0 < eps < math.inf
            and 0 < copy < math.inf
        ):
            # another accountant (PRV): its ratio to RDP changes slowly with the noise, so aim the copy
            # at the target over that ratio (in practice the next evaluation lands in the window)
            second = _rdp_guess(target_epsilon * copy / eps, delta, sample_rate, steps)
            if second is not None and second != guess:
                points.append((second, epsilon_at(second)))
    if not any(eps <= target_epsilon for _, eps in points):
        # epsilon falls as noise grows: if even the largest allowed noise misses the target, stop
        largest = (MAX_NOISE_MULTIPLIER, epsilon_at(MAX_NOISE_MULTIPLIER))
        if largest[1] > target_epsilon:
            return None
        points.append(largest)
    return _search(epsilon_at, target_epsilon, points)


def _rdp_guess(target: float, delta: float, sample_rate: float, steps: int) -> float | None:
    """The noise the search would return for the RDP accountant, computed on `_rdp_epsilon`
    instead of Opacus (milliseconds instead of up to seconds per evaluation); None when the
    copy says the target is out of reach or the sample rate is outside (0, 1]."""
    if not 0 < sample_rate <= 1:
        return None

    def epsilon_at(sigma: float) -> float:
        return _rdp_epsilon(sigma, sample_rate, steps, delta)

    largest = (MAX_NOISE_MULTIPLIER, epsilon_at(MAX_NOISE_MULTIPLIER))
    if largest[1] > target:
        return None
    return _search(epsilon_at, target, [largest])


def _rdp_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """Epsilon of `steps` Poisson-sampled Gaussian steps by Opacus's RDP accountant (its default
    orders, its sums for log A_alpha, its RDP-to-DP conversion), evaluated with numpy over every
    order at once. It only chooses where the search evaluates Opacus; it never sets a noise."""
    alphas = _rdp_orders()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rdp = alphas / (2 * sigma**2) if q == 1 else _log_a(q, sigma, alphas) / (alphas - 1)
        eps = steps * rdp - (math.log(delta) + np.log(alphas)) / (alphas - 1) + np.log((alphas - 1) / alphas)
    return float(np.nanmin(eps)) if not np.isnan(eps).all() else math.inf


_MAX_TERMS = 1 << 18  # terms of one fractional-order series the copy sums, at most (Opacus has no limit)


@functools.cache
def _rdp_orders() -> np.ndarray:
    return np.asarray(create_accountant("rdp").DEFAULT_ALPHAS, dtype=float)


def _log_a(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha (Mironov, Talwar and Zhang 2019, section 3.3) for every order, summed as
    Opacus's _compute_log_a sums it: the finite binomial sum for integer orders, and for
    fractional ones the two alternating series up to the first term below exp(-30), here in
    blocks of terms (doubling) for all unfinished orders at once."""
    out = np.empty(len(alphas))
    whole = alphas == np.round(alphas)
    a = alphas[whole][:, None]
    i = np.arange(int(a.max()) + 1, dtype=float)[None, :]
    terms = np.log(special.binom(a, i)) + i * math.log(q) + (a - i) * math.log1p(-q) + (i * i - i) / (2 * sigma**2)
    out[whole] = special.logsumexp(np.where(i <= a, terms, -np.inf), axis=1)
    rows = np.flatnonzero(~whole)
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    sums = np.zeros((len(rows), 2, 2))  # per order, per series: log of |sum so far|, its sign
    sums[:, :, 0] = -np.inf
    todo, start, width = np.arange(len(rows)), 0, 64
    while todo.size:
        if start > _MAX_TERMS:  # a series this long would take memory, not time: no guess (Opacus decides)
            return np.full(len(alphas), math.inf)
        a = alphas[rows[todo]][:, None]
        i = np.arange(start, start + width, dtype=float)[None, :]
        j = a - i
        coef = special.binom(a, i)
        log_coef = np.log(np.abs(coef))
        series = (
            log_coef + i * math.log(q) + j * math.log1p(-q) + (i * i - i) / (2 * sigma**2)
            + special.log_ndtr((z0 - i) / sigma),
            log_coef + j * math.log(q) + i * math.log1p(-q) + (j * j - j) / (2 * sigma**2)
            + special.log_ndtr((j - z0) / sigma),
        )  # fmt: skip
        small = np.maximum(*series) < -30
        ended = small.any(axis=1)
        last = np.where(ended, small.argmax(axis=1), width - 1)[:, None]
        sign = np.where(np.arange(width)[None, :] <= last, np.sign(coef), 0.0)
        for half, log_s in enumerate(series):
            log_s = np.concatenate([log_s, sums[todo, half, :1]], axis=1)
            signs = np.concatenate([sign, sums[todo, half, 1:]], axis=1)
            sums[todo, half, 0], sums[todo, half, 1] = special.logsumexp(log_s, axis=1, b=signs, return_sign=True)
        todo, start, width = todo[~ended], start + width, width * 2
    out[rows] = np.logaddexp(sums[:, 0, 0], sums[:, 1, 0])
    return out


def _search(epsilon_at: Callable[[float], float], target: float, points: list[tuple[float, float]]) -> float:
    """The noise of a point with target - EPSILON_TOLERANCE <= epsilon <= target. `points` are
    evaluated (noise, epsilon) pairs, one of them with epsilon <= target.

    Secant steps on log epsilon over log noise (close to a straight line there) through the two
    points nearest the target; a step that leaves the bracket of noises known to meet and to
    miss it takes the chord across the bracket instead (regula falsi)."""
    aim = math.log(target - EPSILON_TOLERANCE / 2)  # the middle of the window: the steps converge into it
    points = list(points)
    while True:
        high = min(p for p in points if p[1] <= target)  # least noise known to meet the target
        if target - high[1] <= EPSILON_TOLERANCE:
            return high[0]
        low = max((p for p in points if p[1] > target), default=None)  # most noise known to miss it
        if low is not None and high[0] / low[0] - 1 < 1e-12:  # the window fell between neighbouring floats
            return high[0]
        sigma = _secant(sorted(points, key=lambda p: _distance(p, aim))[:2], aim)
        if low is not None and not low[0] < sigma < high[0]:  # the chord across the bracket meets aim inside it
            sigma = _chord(low, high, aim)
        sigma = _inside(sigma, low, high)
        points.append((sigma, epsilon_at(sigma)))


def _distance(point: tuple[float, float], aim: float) -> float:
    return abs(math.log(point[1]) - aim) if 0 < point[1] < math.inf else math.inf


def _secant(points: list[tuple[float, float]], aim: float) -> float:
    """The noise where the line through `points` (log epsilon over log noise) meets `aim`; with one
    usable point, a slope of -1 (epsilon near 1 / noise for large noise)."""
    (s1, e1), *rest = points
    if not 0 < e1 < math.inf:  # no usable epsilon yet (0: far too much noise): step down
        return s1 / 4
    slope = -1.0
    if rest and 0 < rest[0][1] < math.inf and rest[0][0] != s1:
        s2, e2 = rest[0]
        slope = min(-0.5, (math.log(e1) - math.log(e2)) / (math.log(s1) - math.log(s2)))  # epsilon falls with noise
    return s1 * math.exp((aim - math.log(e1)) / slope)


def _chord(low: tuple[float, float], high: tuple[float, float], aim: float) -> float:
    """Where the chord from `low` to `high` meets `aim`; the middle (in log space) when an end's
    epsilon is 0 or infinite."""
    if 0 < high[1] and low[1] < math.inf:
        return _secant([low, high], aim)
    return math.sqrt(low[0] * high[0])


def _inside(sigma: float, low: tuple[float, float] | None, high: tuple[float, float]) -> float:
    """`sigma` moved strictly inside (low, high) in log space, so that the bracket shrinks every step."""
    x_high = math.log(high[0])
    # before a noise that misses is known, step down at most 4 times: where epsilon is flat in the noise
    # (large noise, few steps) the secant overshoots far, and epsilon is costly far below the answer
    x_low = math.log(low[0]) if low is not None else x_high - math.log(4.0)
    margin = 0.01 * (x_high - x_low)
    return math.exp(min(max(math.log(sigma), x_low + margin), x_high - margin))


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
    "EPSILON_TOLERANCE",
    "MAX_NOISE_MULTIPLIER",
    "PrivacyError",
    "PrivateTraining",
    "default_delta",
    "epsilon_of",
    "make_private",
    "noise_for_target",
    "noise_only_step",
]

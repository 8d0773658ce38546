"""federated.privacy: every epsilon equals what Opacus's own accountant reports."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch
from opacus import PrivacyEngine
from opacus.accountants import create_accountant
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from federated.config import DPConfig
from federated.privacy import (
    EPSILON_TOLERANCE,
    MAX_NOISE_MULTIPLIER,
    PrivacyError,
    _noise_for_target,
    _rdp_epsilon,
    _search,
    default_delta,
    epsilon_of,
    make_private,
    noise_for_target,
)
from guard.core.errors import ExitCode, GuardError

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing", "ignore:Secure RNG turned off")

DELTA = 1e-4
ACCOUNTANTS = ["rdp", "prv"]


def _setup(seed: int = 0, records: int = 40, batch: int = 8) -> tuple[nn.Module, torch.optim.Optimizer, DataLoader]:
    torch.manual_seed(seed)
    x = torch.randn(records, 6)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, optimizer, DataLoader(TensorDataset(x, y), batch_size=batch)


def _train(model: nn.Module, optimizer, loader, criterion, steps: int) -> None:
    done = 0
    while done < steps:
        for x, y in loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
def test_epsilon_of_equals_a_hand_run_privacy_engine(accountant: str) -> None:
    model, optimizer, loader = _setup()
    engine = PrivacyEngine(accountant=accountant)
    model, optimizer, loader = engine.make_private(
        module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=1.1, max_grad_norm=1.0
    )
    _train(model, optimizer, loader, nn.CrossEntropyLoss(), steps=7)
    expected = engine.accountant.get_epsilon(delta=DELTA)

    assert engine.accountant.history == [(1.1, 1 / 5, 7)]
    assert epsilon_of(engine.accountant.history, DELTA, accountant) == pytest.approx(expected, rel=1e-12)
    assert epsilon_of([(1.1, 0.2, 7)], DELTA, accountant) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
def test_make_private_restores_history_so_epsilon_is_cumulative(accountant: str, clipping: str) -> None:
    dp = DPConfig(accountant=accountant, clipping=clipping, target_epsilon=None, noise_multiplier=0.9)
    model, optimizer, loader = _setup()
    first = make_private(model, optimizer, loader, dp=dp, noise_multiplier=0.9, history=[])
    _train(first.model, first.optimizer, first.loader, first.criterion, steps=5)
    h1 = (0.9, first.sample_rate, 5)
    eps1 = first.engine.accountant.get_epsilon(delta=DELTA)
    base = first.close()

    optimizer = torch.optim.SGD(base.parameters(), lr=0.1)
    second = make_private(base, optimizer, loader, dp=dp, noise_multiplier=0.9, history=[h1])
    _train(second.model, second.optimizer, second.loader, second.criterion, steps=3)
    eps2 = second.engine.accountant.get_epsilon(delta=DELTA)
    second.close()

    one = create_accountant(mechanism=accountant)  # one accountant that saw all 8 steps
    for _ in range(8):
        one.step(noise_multiplier=0.9, sample_rate=first.sample_rate)

    assert first.sample_rate == pytest.approx(1 / 5)
    assert eps1 == pytest.approx(epsilon_of([h1], DELTA, accountant), rel=1e-12)
    assert eps2 > eps1
    assert eps2 == pytest.approx(epsilon_of([h1, (0.9, first.sample_rate, 3)], DELTA, accountant), rel=1e-12)
    assert eps2 == pytest.approx(one.get_epsilon(delta=DELTA), rel=1e-12)


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
def test_epsilon_of_with_different_noise_per_round_matches_an_accountant_stepped_the_same_way(accountant: str) -> None:
    history = [(1.0, 0.1, 20), (1.5, 0.1, 20), (1.5, 0.05, 10)]
    acc = create_accountant(mechanism=accountant)
    for noise, rate, steps in history:
        for _ in range(steps):
            acc.step(noise_multiplier=noise, sample_rate=rate)
    assert epsilon_of(history, DELTA, accountant) == pytest.approx(acc.get_epsilon(delta=DELTA), rel=1e-12)


def test_epsilon_of_empty_history_is_zero() -> None:
    assert epsilon_of([], DELTA, "prv") == 0.0
    assert epsilon_of([], DELTA, "rdp") == 0.0


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
def test_noise_for_target_reaches_epsilon_at_or_below_target(accountant: str) -> None:
    sigma = noise_for_target(4.0, 1e-5, 0.02, 300, accountant)
    eps = epsilon_of([(sigma, 0.02, 300)], 1e-5, accountant)
    assert 0 < sigma < 50
    assert 4.0 - 0.011 <= eps <= 4.0


# (target epsilon, delta, sample rate, steps): the plans the federate tests and examples make
# (a 3-round site of 30 records, a 6-step site, a 2,000-step site) and the target 4 above
SEARCH_GRID = [
    pytest.param(8.0, 1 / 480, 1 / 3, 3, "rdp", id="rdp-3-steps"),
    pytest.param(8.0, 1 / 1500, 0.1, 60, "rdp", id="rdp-60-steps"),
    pytest.param(8.0, 1.87e-5, 0.003, 2010, "rdp", id="rdp-2010-steps"),
    pytest.param(4.0, 1e-5, 0.02, 300, "rdp", id="rdp-target-4"),
    pytest.param(8.0, 1 / 480, 1 / 3, 3, "prv", id="prv-3-steps"),
    pytest.param(8.0, 1 / 1500, 0.1, 60, "prv", id="prv-60-steps"),
]


@pytest.mark.slow  # Opacus's own search takes seconds per PRV case
@pytest.mark.parametrize(("target", "delta", "rate", "steps", "accountant"), SEARCH_GRID)
def test_noise_search_keeps_opacus_contract_and_lands_next_to_its_noise(
    target: float, delta: float, rate: float, steps: int, accountant: str
) -> None:
    """The secant search (not Opacus's bisection) still returns a noise whose epsilon is at most
    the target and within Opacus's 0.01 of it; both searches stop anywhere in that window, so the
    two noises differ by at most the window's width in noise (under 0.3% here)."""
    from opacus.accountants.utils import get_noise_multiplier

    sigma = noise_for_target(target, delta, rate, steps, accountant)
    eps = epsilon_of([(sigma, rate, steps)], delta, accountant)
    assert target - EPSILON_TOLERANCE <= eps <= target
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Oo]ptimal order.*")  # as federated.accounting does
        opacus = get_noise_multiplier(
            target_epsilon=target, target_delta=delta, sample_rate=rate, steps=steps, accountant=accountant
        )
    assert sigma == pytest.approx(opacus, rel=3e-3)


@pytest.mark.parametrize(
    ("rate", "steps", "delta"),
    [(0.38, 6, 7.9e-4), (0.59, 4, 1e-3), (0.9, 3, 1e-3), (1.0, 5, 1e-3), (0.05, 300, 1e-4), (1e-3, 10_000, 1e-5)],
)
def test_the_fast_rdp_copy_gives_opacus_epsilon(rate: float, steps: int, delta: float) -> None:
    """The numpy copy of Opacus's RDP sums that only guides the search, against Opacus itself
    from small noise (long alternating series at large sample rates) to the largest allowed."""
    for sigma in (0.3, 0.8, 2.0, 10.0, MAX_NOISE_MULTIPLIER):
        assert _rdp_epsilon(sigma, rate, steps, delta) == pytest.approx(
            epsilon_of([(sigma, rate, steps)], delta, "rdp"), rel=1e-8
        )


@pytest.mark.parametrize(("accountant", "most"), [("rdp", 1), ("prv", 3)])
def test_the_search_evaluates_opacus_once_for_rdp_and_at_most_three_times_for_prv(
    accountant: str, most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plans of the demo's four sites (large sample rates, where one Opacus epsilon costs up to
    a second). RDP: the copy's answer is the one noise Opacus evaluates. PRV: the RDP answer, then
    the RDP answer for the target scaled by their ratio there, then rarely a secant step (the
    search alone took about six, starting from the largest noise)."""
    import federated.privacy as privacy

    calls: list[float] = []

    def counted(history: list[tuple[float, float, int]], delta: float, name: str) -> float:
        calls.append(history[0][0])
        return epsilon_of(history, delta, name)

    monkeypatch.setattr(privacy, "epsilon_of", counted)
    for rate, steps, delta in [(0.381, 6, 7.87e-4), (0.444, 6, 1.04e-3), (0.593, 4, 1.43e-3), (0.390, 6, 9.43e-4)]:
        calls.clear()
        sigma = _noise_for_target.__wrapped__(8.0, delta, rate, steps, accountant)
        assert 8.0 - EPSILON_TOLERANCE <= epsilon_of([(sigma, rate, steps)], delta, accountant) <= 8.0
        assert len(calls) <= most and sigma in calls


@pytest.mark.parametrize(
    "curve",
    [
        pytest.param(lambda s: 3.0 / s, id="one-over-noise"),
        pytest.param(lambda s: 0.05 + math.expm1(1 / s**2), id="floor-then-steep"),
        pytest.param(lambda s: 0.0 if s > 20 else (math.inf if s < 0.2 else 2.0 / s**1.5), id="zero-and-infinite"),
    ],
)
def test_noise_search_lands_in_the_window_on_any_falling_curve(curve: Callable[[float], float]) -> None:
    """The search alone, on made-up falling epsilon curves with the shapes the accountants have
    (flat at large noise, steep at small, 0 or infinite at the ends): it stops in Opacus's window."""
    tried: list[float] = []

    def epsilon_at(sigma: float) -> float:
        tried.append(sigma)
        return curve(sigma)

    sigma = _search(epsilon_at, 8.0, [(MAX_NOISE_MULTIPLIER, curve(MAX_NOISE_MULTIPLIER))])
    assert 8.0 - EPSILON_TOLERANCE <= curve(sigma) <= 8.0
    assert len(tried) < 20  # Opacus's bisection from [0, 20] needs about 15 to reach the window


@pytest.mark.parametrize("accountant", ACCOUNTANTS)
def test_unreachable_target_raises_privacy_error_with_a_fix(accountant: str) -> None:
    with pytest.raises(PrivacyError) as info:
        noise_for_target(0.01, 1e-3, 1.0, 500, accountant, client_id="site-a", records=10)
    err = info.value
    assert isinstance(err, GuardError) and err.exit_code == ExitCode.BUDGET
    text = str(err)
    assert "site-a" in text and "10 records" in text and "sample rate 1" in text
    assert "more records" in text and "target_epsilon" in text and "fewer rounds" in text


def test_default_delta_is_below_one_over_records() -> None:
    assert default_delta(1000) == pytest.approx(1e-4)
    assert all(default_delta(n) < 1 / n for n in (1, 7, 100, 10**6))
    with pytest.raises(PrivacyError):
        default_delta(0)

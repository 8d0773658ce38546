"""Flower strategies by name, optionally wrapped for user-level (client-level) DP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federated.config import ConfigError, FederateConfig

StrategyFactory = Callable[[FederateConfig, int, dict[str, Any]], Any]
_STRATEGIES: dict[str, StrategyFactory] = {}

# Parameters each strategy accepts from [strategy.params].
_PARAMS = {
    "fedavg": set(),
    "fedprox": {"proximal_mu"},
    "fedadam": {"eta", "eta_l", "beta_1", "beta_2", "tau"},
}


def register_strategy(name: str) -> Callable[[StrategyFactory], StrategyFactory]:
    def wrap(factory: StrategyFactory) -> StrategyFactory:
        _STRATEGIES[name] = factory
        return factory

    return wrap


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def _common(config: FederateConfig, num_clients: int) -> dict[str, Any]:
    t = config.train
    per_round = max(1, round(num_clients * t.fraction_train))
    return {
        "fraction_train": t.fraction_train,
        "fraction_evaluate": 1.0,
        "min_train_nodes": min(per_round, num_clients),
        "min_evaluate_nodes": num_clients,
        "min_available_nodes": num_clients,
    }


@register_strategy("fedavg")
def _fedavg(config: FederateConfig, num_clients: int, params: dict[str, Any]) -> Any:
    from flwr.serverapp.strategy import FedAvg

    return FedAvg(**_common(config, num_clients))


@register_strategy("fedprox")
def _fedprox(config: FederateConfig, num_clients: int, params: dict[str, Any]) -> Any:
    from flwr.serverapp.strategy import FedProx

    # FedProx sends proximal_mu to the clients in the train config; guard's client
    # applies the proximal step after each DP-SGD step.
    return FedProx(**_common(config, num_clients), proximal_mu=float(params.get("proximal_mu", 0.01)))


@register_strategy("fedadam")
def _fedadam(config: FederateConfig, num_clients: int, params: dict[str, Any]) -> Any:
    from flwr.serverapp.strategy import FedAdam

    return FedAdam(**_common(config, num_clients), **{k: float(v) for k, v in params.items()})


def clients_per_round(config: FederateConfig, num_clients: int) -> int:
    return int(_common(config, num_clients)["min_train_nodes"])


def build_strategy(config: FederateConfig, num_clients: int) -> Any:
    """The configured strategy; wrapped in Flower's server-side DP wrapper when
    user-level DP is on."""
    name = config.strategy.name
    if name not in _STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}", hint=f"known: {strategy_names()}")
    unknown = set(config.strategy.params) - _PARAMS.get(name, set())
    if unknown:
        raise ConfigError(
            f"[strategy] {name} has no parameter(s) {sorted(unknown)}", hint=f"allowed: {sorted(_PARAMS.get(name, set()))}"
        )
    strategy = _STRATEGIES[name](config, num_clients, dict(config.strategy.params))
    user = config.user_dp
    if not user.enabled:
        return strategy
    from flwr.serverapp.strategy import (
        DifferentialPrivacyServerSideAdaptiveClipping,
        DifferentialPrivacyServerSideFixedClipping,
    )

    sampled = clients_per_round(config, num_clients)
    if user.clipping == "fixed":
        return DifferentialPrivacyServerSideFixedClipping(
            strategy, noise_multiplier=user.noise_multiplier, clipping_norm=user.clipping_norm, num_sampled_clients=sampled
        )
    if user.clipping == "adaptive":
        return DifferentialPrivacyServerSideAdaptiveClipping(
            strategy,
            noise_multiplier=user.noise_multiplier,
            num_sampled_clients=sampled,
            initial_clipping_norm=user.clipping_norm,
        )
    raise ConfigError(f'[user_dp] clipping must be "fixed" or "adaptive", not {user.clipping!r}')


__all__ = ["build_strategy", "clients_per_round", "register_strategy", "strategy_names"]

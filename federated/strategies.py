"""Flower strategies by name, optionally wrapped for user-level (client-level) DP."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from federated.types import ClippingMode, ConfigError, FederateConfig
from guard.core.registry import Registry

StrategyFactory = Callable[[FederateConfig, int, dict[str, Any]], Any]
STRATEGIES: Registry[StrategyFactory] = Registry("strategy", error=ConfigError)


def register_strategy(name: str, *, params: Iterable[str] = ()) -> Callable[[StrategyFactory], StrategyFactory]:
    """Register `factory(config, num_clients, params)` under `name`; `params` are the
    keys it accepts from [strategy.params] (checked when the config loads)."""
    return STRATEGIES.register(name, params=frozenset(params))


def strategy_names() -> list[str]:
    return STRATEGIES.names()


def strategy_params(name: str) -> frozenset[str]:
    """The [strategy.params] keys strategy `name` declared when it registered."""
    return frozenset(STRATEGIES.meta(name)["params"])


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


@register_strategy("fedprox", params={"proximal_mu"})
def _fedprox(config: FederateConfig, num_clients: int, params: dict[str, Any]) -> Any:
    from flwr.serverapp.strategy import FedProx

    # FedProx sends proximal_mu to the clients in the train config; guard's client
    # applies the proximal step after each DP-SGD step.
    return FedProx(**_common(config, num_clients), proximal_mu=float(params.get("proximal_mu", 0.01)))


@register_strategy("fedadam", params={"eta", "eta_l", "beta_1", "beta_2", "tau"})
def _fedadam(config: FederateConfig, num_clients: int, params: dict[str, Any]) -> Any:
    from flwr.serverapp.strategy import FedAdam

    return FedAdam(**_common(config, num_clients), **{k: float(v) for k, v in params.items()})


def check_strategy_params(name: str, params: Iterable[str], *, source: str = "") -> None:
    """ConfigError naming the keys of [strategy.params] that strategy `name` does not take."""
    allowed = strategy_params(name)
    unknown = sorted(set(params) - allowed)
    if unknown:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}[strategy] {name} has no parameter(s) {unknown}", hint=f"allowed: {sorted(allowed)}")


def clients_per_round(config: FederateConfig, num_clients: int) -> int:
    return int(_common(config, num_clients)["min_train_nodes"])


def build_strategy(config: FederateConfig, num_clients: int) -> Any:
    """The configured strategy; wrapped in Flower's server-side DP wrapper when
    user-level DP is on."""
    name = config.strategy.name
    factory = STRATEGIES.get(name, source="[strategy] name")
    check_strategy_params(name, config.strategy.params)
    strategy = factory(config, num_clients, dict(config.strategy.params))
    user = config.user_dp
    if not user.enabled:
        return strategy
    from flwr.serverapp.strategy import (
        DifferentialPrivacyServerSideAdaptiveClipping,
        DifferentialPrivacyServerSideFixedClipping,
    )

    sampled = clients_per_round(config, num_clients)
    if user.clipping is ClippingMode.fixed:
        return DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=user.noise_multiplier,
            clipping_norm=user.clipping_norm,
            num_sampled_clients=sampled,
        )
    if user.clipping is ClippingMode.adaptive:
        return DifferentialPrivacyServerSideAdaptiveClipping(
            strategy,
            noise_multiplier=user.noise_multiplier,
            num_sampled_clients=sampled,
            initial_clipping_norm=user.clipping_norm,
        )
    raise ConfigError(f"[user_dp] clipping {user.clipping!r} is not one of {[m.value for m in ClippingMode]}")


__all__ = [
    "STRATEGIES",
    "build_strategy",
    "check_strategy_params",
    "clients_per_round",
    "register_strategy",
    "strategy_names",
    "strategy_params",
]

"""Aggregation as replies arrive: the server folds each client's weights into a running
sum and lets the reply go, so its memory does not grow with the clients of a round.

Flower's `aggregate_train` takes the whole round's replies at once; for FedAvg and
FedProx (whose server side is FedAvg's) that is an example-weighted mean, and for
FedAdam that mean followed by an Adam step on the pseudo-gradient `mean - global`.
Both only need a running weighted sum, which is what the aggregators here keep
(float64 accumulators, divided once at the end). FedAdam also keeps its first and
second moments (m, v) across rounds; `state`/`load_state` hand them to the run
directory's checkpoints so a resumed run goes on with them.

A strategy without a running aggregator, and Flower's server-side user-level DP
wrappers (which clip each update against the others before summing), keep the list
path: the server holds the replies and calls the strategy's `aggregate_train`.

    >>> import numpy as np
    >>> agg = build_aggregator("fedavg", object())
    >>> agg.begin(1, {"w": np.zeros(2, np.float32)})
    >>> agg.add({"w": np.array([1.0, 2.0], np.float32)}, 1.0)
    >>> agg.add({"w": np.array([4.0, 8.0], np.float32)}, 3.0)
    >>> agg.result()["w"].tolist()
    [3.25, 6.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from federated import wire
from federated.types import ConfigError, FederateConfig
from guard.core.errors import ExitCode, GuardError
from guard.core.registry import Registry

Weights = dict[str, np.ndarray]


class AggregationError(GuardError):
    """A reply's weights cannot be aggregated (keys, shapes, weight), or saved optimizer
    state does not fit the model."""

    exit_code = ExitCode.FEDERATION


class RunningAggregator:
    """Example-weighted mean of the clients' weights, one reply at a time (FedAvg, FedProx).

    Per round: `begin(round, global_weights)`, `add(weights, num_examples)` for each reply,
    then `result()` once. `state()`/`load_state()` carry what must survive a resume
    (nothing here; FedAdam's moments in `RunningFedAdam`)."""

    stateful = False  # whether `state()` must be checkpointed with the weights

    def __init__(self) -> None:
        self._round = 0
        self._global: Mapping[str, np.ndarray] = {}
        self._sum: Weights = {}
        self._total = 0.0
        self._count = 0
        self._result: Weights | None = None

    @property
    def count(self) -> int:
        """Replies added since `begin`."""
        return self._count

    def begin(self, server_round: int, global_weights: Mapping[str, np.ndarray]) -> None:
        """Start round `server_round` from the weights the server sent (kept by reference, not copied)."""
        self._round = server_round
        self._global = global_weights
        self._sum = {k: np.zeros(np.shape(v), dtype=np.float64) for k, v in global_weights.items()}
        self._total = 0.0
        self._count = 0
        self._result = None

    def check(self, weights: Mapping[str, Any], num_examples: float) -> None:
        """AggregationError when `weights` do not fit the global weights or the weight is not a
        positive finite number; checked before anything is added, so a bad reply changes nothing."""
        if not (isinstance(num_examples, int | float) and math.isfinite(num_examples) and num_examples > 0):
            raise AggregationError(f"its num-examples {num_examples!r} is not a positive number")
        missing, extra = sorted(set(self._global) - set(weights)), sorted(set(weights) - set(self._global))
        if missing or extra:
            raise AggregationError(f"its weights do not match the model's: missing {missing[:5]}, unknown {extra[:5]}")
        for k, v in weights.items():
            if np.shape(v) != np.shape(self._global[k]):
                raise AggregationError(
                    f"its weight {k!r} has shape {np.shape(v)}, the model's has {np.shape(self._global[k])}"
                )

    def add(self, weights: Mapping[str, np.ndarray], num_examples: float) -> None:
        """Fold one client's weights into the sum, weighted by its number of examples."""
        if self._result is not None:
            raise RuntimeError("add() after result(): call begin() for the next round")
        self.check(weights, num_examples)
        w = float(num_examples)
        for k, acc in self._sum.items():
            acc += np.multiply(weights[k], w, dtype=np.float64)
        self._total += w
        self._count += 1

    def _mean(self) -> Weights:
        if not self._count:
            raise AggregationError(f"round {self._round}: no client's weights to aggregate")
        return {k: s / self._total for k, s in self._sum.items()}

    def _update(self, mean: Weights) -> Weights:
        """The new global weights from the clients' weighted mean (float64)."""
        return mean

    def result(self) -> Weights:
        """The new global weights, in the dtypes of the weights sent. Computed once per round
        (FedAdam moves its moments here), then returned again as it was."""
        if self._result is None:
            new = self._update(self._mean())
            self._sum = {}  # the accumulators are not needed any more
            self._result = {k: np.asarray(v, dtype=np.asarray(self._global[k]).dtype) for k, v in new.items()}
        return self._result

    def state(self) -> Weights:
        """What must be checkpointed with the weights to resume exactly (nothing for a mean)."""
        return {}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        if state:
            raise AggregationError(f"{type(self).__name__} keeps no state, but saved state was given")


class RunningFedAdam(RunningAggregator):
    """Flower 1.42's FedAdam (`flwr.serverapp.strategy.FedAdam.aggregate_train` with
    `FedOpt._compute_deltat_and_mt`) over a running mean:

        delta = mean - global
        m = beta_1 * m + (1 - beta_1) * delta          (m, v start at zero in the first round)
        v = beta_2 * v + (1 - beta_2) * delta ** 2
        eta_norm = eta * sqrt(1 - beta_2 ** (round + 1)) / (1 - beta_1 ** (round + 1))
        new = global + eta_norm * m / (sqrt(v) + tau)

    computed in float64 with m and v kept in float64 (Flower mixes float32 and float64
    and returns float64 weights for a float32 model; here they keep the model's dtype)."""

    stateful = True

    def __init__(self, *, eta: float, eta_l: float, beta_1: float, beta_2: float, tau: float) -> None:
        super().__init__()
        self.eta, self.eta_l, self.beta_1, self.beta_2, self.tau = eta, eta_l, beta_1, beta_2, tau
        self.m: Weights | None = None
        self.v: Weights | None = None

    def begin(self, server_round: int, global_weights: Mapping[str, np.ndarray]) -> None:
        super().begin(server_round, global_weights)
        if self.m is not None and self.v is not None:
            _check_fits("m", self.m, global_weights)
            _check_fits("v", self.v, global_weights)

    def _update(self, mean: Weights) -> Weights:
        delta = {k: x - np.asarray(self._global[k], dtype=np.float64) for k, x in mean.items()}
        m = self.m if self.m is not None else {k: np.zeros_like(d) for k, d in delta.items()}
        v = self.v if self.v is not None else {k: np.zeros_like(d) for k, d in delta.items()}
        self.m = {k: self.beta_1 * m[k] + (1 - self.beta_1) * d for k, d in delta.items()}
        self.v = {k: self.beta_2 * v[k] + (1 - self.beta_2) * d**2 for k, d in delta.items()}
        r = self._round + 1.0
        eta_norm = self.eta * math.sqrt(1 - self.beta_2**r) / (1 - self.beta_1**r)
        return {
            k: np.asarray(g, dtype=np.float64) + eta_norm * self.m[k] / (np.sqrt(self.v[k]) + self.tau)
            for k, g in self._global.items()
        }

    def state(self) -> Weights:
        """m and v under "m/<key>" and "v/<key>"; empty before the first aggregation."""
        if self.m is None or self.v is None:
            return {}
        return {**{f"m/{k}": a for k, a in self.m.items()}, **{f"v/{k}": a for k, a in self.v.items()}}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Moments from `state()`; empty: they start at zero, as in a new run."""
        m = {k[2:]: np.asarray(a, dtype=np.float64) for k, a in state.items() if k.startswith("m/")}
        v = {k[2:]: np.asarray(a, dtype=np.float64) for k, a in state.items() if k.startswith("v/")}
        if len(m) + len(v) != len(state) or set(m) != set(v):
            raise AggregationError("the saved FedAdam state is not a pair of moments (m/..., v/...) over the same keys")
        self.m, self.v = (m, v) if state else (None, None)


def _check_fits(name: str, moments: Weights, weights: Mapping[str, np.ndarray]) -> None:
    if set(moments) != set(weights) or any(np.shape(a) != np.shape(weights[k]) for k, a in moments.items()):
        raise AggregationError(f"the saved FedAdam moment {name} does not fit the model's weights (keys or shapes)")


# -- the registry: strategy name -> running aggregator -------------------------------------------

AggregatorFactory = Callable[[Any], RunningAggregator]
AGGREGATORS: Registry[AggregatorFactory] = Registry("running aggregator", error=ConfigError)


def register_aggregator(name: str) -> Callable[[AggregatorFactory], AggregatorFactory]:
    """Register `factory(flower_strategy)` for the strategy registered as `name` in
    `federated.strategies`; the factory reads the strategy's own parameters, so the
    defaults are Flower's."""
    return AGGREGATORS.register(name)


@register_aggregator("fedavg")
def _fedavg(strategy: Any) -> RunningAggregator:
    return RunningAggregator()


@register_aggregator("fedprox")
def _fedprox(strategy: Any) -> RunningAggregator:
    return RunningAggregator()  # FedProx's proximal term is the clients'; its server side is FedAvg's


@register_aggregator("fedadam")
def _fedadam(strategy: Any) -> RunningAggregator:
    return RunningFedAdam(
        eta=float(strategy.eta),
        eta_l=float(strategy.eta_l),
        beta_1=float(strategy.beta_1),
        beta_2=float(strategy.beta_2),
        tau=float(strategy.tau),
    )


def build_aggregator(name: str, strategy: Any) -> RunningAggregator:
    """The running aggregator registered for strategy `name` (ConfigError listing the known ones)."""
    return AGGREGATORS.get(name, source="[strategy] name")(strategy)


def running_aggregator(config: FederateConfig, strategy: Any) -> RunningAggregator | None:
    """The running aggregator for this run, or None where the server keeps the list path:
    a strategy without one, or user-level DP (Flower's server-side wrappers clip and noise
    the round's updates together in `aggregate_train`)."""
    if config.user_dp.enabled or config.strategy.name not in AGGREGATORS:
        return None
    return build_aggregator(config.strategy.name, strategy)


def reply_weights(content: Any, *, weight_key: str = "num-examples") -> tuple[Weights, float]:
    """A training reply's weights and its example count, with the checks Flower's
    `validate_message_reply_consistency` makes (one ArrayRecord, one MetricRecord holding
    `weight_key`); AggregationError otherwise.

    It reads `content.items()`, not Flower's `array_records`/`metric_records` views: each
    view ties itself to the reply in a reference cycle, so the reply's weights would stay in
    memory until Python's cycle collector happens to run, not go when the reply is dropped."""
    from flwr.app import ArrayRecord, MetricRecord

    arrays = [r for _, r in content.items() if isinstance(r, ArrayRecord)]
    metrics = [r for _, r in content.items() if isinstance(r, MetricRecord)]
    if len(arrays) != 1 or len(metrics) != 1:
        raise AggregationError(
            f"it carries {len(arrays)} ArrayRecord(s) and {len(metrics)} MetricRecord(s), not one of each"
        )
    if weight_key not in metrics[0]:
        raise AggregationError(f"its metrics have no {weight_key!r}")
    try:
        weights = wire.from_arrays(arrays[0])
    except wire.WireError as e:
        raise AggregationError(str(e)) from e
    return weights, float(metrics[0][weight_key])


__all__ = [
    "AGGREGATORS",
    "AggregationError",
    "RunningAggregator",
    "RunningFedAdam",
    "build_aggregator",
    "register_aggregator",
    "reply_weights",
    "running_aggregator",
]

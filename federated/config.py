"""`guard federate` configuration: typed, frozen, parsed from TOML with overrides.

    [data]
    path = "examples/clinical_notes.jsonl"
    text_field = "text"
    label_field = "label"            # classification; omit for causal_lm
    task = "classification"          # or "causal_lm"
    partition = "field"              # "field" (natural silos), "iid" or "dirichlet"
    partition_field = "site"
    num_clients = 4                  # iid / dirichlet only
    alpha = 0.5                      # dirichlet only
    holdout = 0.2
    max_length = 128
    person_field = "patient_id"      # optional: whose record it is (holdout split by person;
                                     # set from [dp] unit when that names a field)
    reweight_by = ["sex"]            # optional, classification: train with group-by-label weights
                                     # w(g, y) = P(g) P(y) / P(g, y), from each client's own training
                                     # split; record-level DP only (the ledger is unchanged)

    [model]
    name = "tiny-classifier"         # see `guard federate --list-models`
    [model.params]
    dim = 64

    [train]
    rounds = 3
    local_epochs = 1
    batch_size = 32
    lr = 1e-3
    seed = 0

    [strategy]
    name = "fedavg"                  # fedavg, fedprox, fedadam
    [strategy.params]
    proximal_mu = 0.01               # fedprox

    [dp]
    enabled = true
    target_epsilon = 8.0             # or noise_multiplier = 1.1
    max_grad_norm = 1.0
    accountant = "prv"               # or "rdp"
    clipping = "ghost"               # Opacus grad_sample_mode: ghost, hooks, functorch
    # every choice above (task, partition, format, optimizer, accountant, clipping,
    # model and strategy names) is checked when the config loads: a bad value is a
    # ConfigError naming the file, the key and the allowed values
    secure_mode = false
    unit = "record"                  # or the person field, e.g. "patient_id": person-level DP-SGD
    max_records_per_person = 8       # person unit: at most this many of a person's records per step

    [silos]                          # cross-silo: each SuperNode brings its own data file
    enabled = true                   # then [data] has no path; num_clients = how many silos
    labels = ["neg", "pos"]          # classification: the label order every silo maps to

    [secure_aggregation]             # Flower SecAgg+: the server learns only the sum of updates
    enabled = true
    num_shares = 3                   # shares of each client's secret
    reconstruction_threshold = 2     # shares needed to unmask a dropped client
    clipping_range = 8.0             # values must lie in +-clipping_range (checked, never saturated)

    [card]                           # the model card, run/model/README.md (all optional)
    license = "apache-2.0"
    language = ["en"]
    tags = ["clinical"]              # added to guard's own tags
    dataset_name = "clinical-notes"  # default: the corpus file name
    intended_use = "..."             # unset: the card says "not stated in the run config"
    out_of_scope_use = "..."
    limitations = "..."

CLI flags override keys with `--set section.key=value` (values parsed as TOML).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import federated.types
from federated.types import (
    AccountantName,
    CanaryConfig,
    CardConfig,
    ClippingMode,
    ConfigError,
    DataConfig,
    DPConfig,
    FederateConfig,
    GradSampleMode,
    ModelConfig,
    Optimizer,
    Partition,
    SecureAggregationConfig,
    SiloConfig,
    SimulationConfig,
    StrategyConfig,
    Task,
    TrainConfig,
    UserDPConfig,
)
from guard.core.files import read_toml
from guard.core.io import Format

SECAGG_MODULUS = 2**32  # Flower's default SecAgg+ modulus: the masked sum of all clients must stay below it
RECORD_UNIT = "record"  # [dp] unit: record-level DP (any other value names the person field)

_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "strategy": StrategyConfig,
    "dp": DPConfig,
    "user_dp": UserDPConfig,
    "canaries": CanaryConfig,
    "simulation": SimulationConfig,
    "card": CardConfig,
    "silos": SiloConfig,
    "secure_aggregation": SecureAggregationConfig,
}


# the choices a config key may take, checked when the config loads
_ENUMS: dict[str, type[StrEnum]] = {
    e.__name__: e for e in (Task, Partition, AccountantName, Optimizer, GradSampleMode, ClippingMode, Format)
}


def _coerce(source: str, where: str, kind: Any, value: Any) -> Any:
    """Check and convert a TOML value to a dataclass field's type."""
    text = str(kind)
    if value is None and "None" in text:
        return None
    enum = _ENUMS.get(text.removesuffix(" | None"))
    if enum is not None:
        try:
            return enum(value)
        except ValueError:
            raise ConfigError(
                f"{source}: [{where}] {value!r} is not one of {[m.value for m in enum]}",
                hint=f"set {where} to one of: {', '.join(m.value for m in enum)}",
            ) from None
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{where}] must be a table")
        return dict(value)
    if text.startswith("tuple"):
        if not isinstance(value, list):
            raise ConfigError(f"{source}: [{where}] must be a list")
        return tuple(value)
    if "bool" in text:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: [{where}] must be true or false")
        return value
    if "float" in text and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if "int" in text and isinstance(value, int) and not isinstance(value, bool):
        return value
    if "str" in text and isinstance(value, str):
        return value
    raise ConfigError(f"{source}: [{where}] has the wrong type ({type(value).__name__}); expected {text}")


def parse_config(data: dict[str, Any], *, source: str = "<config>", check_names: bool = True) -> FederateConfig:
    """A typed config from TOML data; `check_names` also checks [model] name and
    [strategy] name/params against their registries (this imports torch)."""
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        known = {f.name: f for f in fields(cls)}
        bad = set(table) - set(known)
        if bad:
            raise ConfigError(f"{source}: [{name}] unknown key(s) {sorted(bad)}; known: {sorted(known)}")
        kwargs = {k: _coerce(source, f"{name}.{k}", known[k].type, v) for k, v in table.items()}
        if name == "dp" and "noise_multiplier" in table and "target_epsilon" not in table:
            kwargs["target_epsilon"] = None  # a fixed noise replaces the default target (TOML has no null)
        sections[name] = cls(**kwargs)
    config = _person_unit(FederateConfig(**sections), source)
    _validate(config, source)
    if check_names:
        _check_registered(config, source)
    return config


def _check_registered(config: FederateConfig, source: str) -> None:
    """[model] name, [strategy] name and [strategy.params] against the registries."""
    from federated.models import MODELS
    from federated.strategies import STRATEGIES, check_strategy_params

    MODELS.get(config.model.name, source=f"{source}: [model] name")
    STRATEGIES.get(config.strategy.name, source=f"{source}: [strategy] name")
    check_strategy_params(config.strategy.name, config.strategy.params, source=source)


def _person_unit(config: FederateConfig, source: str) -> FederateConfig:
    """[dp] unit against [data] person_field: a person unit names the person field, and
    sets it when [data] leaves it unset."""
    unit, person_field = config.dp.unit, config.data.person_field
    if person_field is not None and not person_field.strip():
        raise ConfigError(
            f"{source}: [data] person_field is empty",
            hint='name the field that says whose record it is (e.g. person_field = "patient_id") or remove the key',
        )
    if not isinstance(unit, str) or not unit.strip():
        raise ConfigError(
            f"{source}: [dp] unit is empty",
            hint='set unit = "record" (record-level DP) or the person field, e.g. unit = "patient_id"',
        )
    if unit == RECORD_UNIT:
        return config
    if person_field is None:
        return replace(config, data=replace(config.data, person_field=unit))
    if person_field != unit:
        raise ConfigError(
            f"{source}: [dp] unit = {unit!r} but [data] person_field = {person_field!r}",
            hint=f'the privacy unit is the person field: set unit = "{person_field}", or unit = "record"',
        )
    return config


def _validate(config: FederateConfig, source: str) -> None:
    d, t, dp = config.data, config.train, config.dp
    _validate_silos(config, source)
    _validate_secure_aggregation(config, source)
    if not d.path and not config.silos.enabled:
        raise ConfigError(f"{source}: [data] path is required")
    if d.task is Task.classification and not d.label_field:
        raise ConfigError(f"{source}: [data] label_field is required for classification")
    if d.partition is Partition.field and not d.partition_field:
        raise ConfigError(f'{source}: [data] partition = "field" needs partition_field (e.g. "site")')
    if d.num_clients < 1 or not 0 < d.holdout < 1 or d.alpha <= 0:
        raise ConfigError(f"{source}: [data] needs num_clients >= 1, 0 < holdout < 1 and alpha > 0")
    if t.rounds < 1 or t.local_epochs < 1 or t.batch_size < 1 or t.lr <= 0 or not 0 < t.fraction_train <= 1:
        raise ConfigError(
            f"{source}: [train] needs rounds, local_epochs, batch_size >= 1, lr > 0, 0 < fraction_train <= 1"
        )
    if dp.enabled:
        if (dp.target_epsilon is None) == (dp.noise_multiplier is None):
            raise ConfigError(f"{source}: [dp] set exactly one of target_epsilon and noise_multiplier")
        if dp.target_epsilon is not None and dp.target_epsilon <= 0:
            raise ConfigError(f"{source}: [dp] target_epsilon must be positive")
        if dp.noise_multiplier is not None and dp.noise_multiplier <= 0:
            raise ConfigError(f"{source}: [dp] noise_multiplier must be positive")
        if dp.max_grad_norm <= 0 or (dp.delta is not None and not 0 < dp.delta < 1):
            raise ConfigError(f"{source}: [dp] needs max_grad_norm > 0 and 0 < delta < 1")
    if dp.max_records_per_person < 1:
        raise ConfigError(
            f"{source}: [dp] max_records_per_person must be at least 1, not {dp.max_records_per_person}",
            hint="it caps how many of a sampled person's records go into one step, e.g. 8",
        )
    if d.person_field is not None and d.person_field in (d.text_field, d.label_field):
        raise ConfigError(
            f"{source}: [data] person_field {d.person_field!r} is also the text or label field",
            hint='name the field that says whose record it is, e.g. person_field = "patient_id"',
        )
    _validate_reweight(config, source)
    c = config.canaries
    if c.count < 0 or c.references < 0 or any(r < 1 for r in c.repeats) or c.digits < 4:
        raise ConfigError(f"{source}: [canaries] needs count, references >= 0, repeats >= 1, digits >= 4")
    for key in ("language", "tags"):
        values = getattr(config.card, key)
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise ConfigError(
                f"{source}: [card] {key} must be a list of non-empty strings",
                hint=f'write a TOML list of strings, e.g. {key} = ["{"en" if key == "language" else "clinical"}"]',
            )


def _validate_reweight(config: FederateConfig, source: str) -> None:
    """[data] reweight_by: distinct, non-empty field names that are not the text, label or person
    field; classification; record-level DP (a person-level step sums records before clipping)."""
    d, fields = config.data, config.data.reweight_by
    if not fields:
        return
    if not all(isinstance(f, str) and f.strip() for f in fields) or len(set(fields)) != len(fields):
        raise ConfigError(
            f"{source}: [data] reweight_by must be a list of distinct, non-empty field names",
            hint='name the group fields of a record, e.g. reweight_by = ["sex"]',
        )
    clash = sorted(set(fields) & {d.text_field, d.label_field, d.person_field} - {None})
    if clash:
        raise ConfigError(
            f"{source}: [data] reweight_by names {clash}, which is the text, label or person field",
            hint='reweight by a group field of the records, e.g. reweight_by = ["sex"]',
        )
    if d.task is not Task.classification:
        raise ConfigError(
            f'{source}: [data] reweight_by needs task = "classification" (it weights group x label)',
            hint="remove reweight_by for a causal_lm run",
        )
    if config.dp.enabled and config.dp.unit != RECORD_UNIT:
        raise ConfigError(
            f"{source}: [data] reweight_by cannot be combined with person-level DP ([dp] unit = {config.dp.unit!r})",
            hint='a person\'s step sums several of their records before clipping; use [dp] unit = "record" '
            "or remove reweight_by",
        )


def _validate_silos(config: FederateConfig, source: str) -> None:
    s, d = config.silos, config.data
    if not s.enabled:
        return
    if d.path:
        raise ConfigError(
            f"{source}: [silos] enabled, but [data] path names a corpus",
            hint="in a silo run the server never opens a corpus: remove [data] path and start each node "
            "with its own file (guard federate node --data FILE --client-id ID)",
        )
    if d.task is Task.classification and (len(s.labels) < 2 or len(set(s.labels)) != len(s.labels)):
        raise ConfigError(
            f"{source}: [silos] labels must list at least two distinct labels for classification",
            hint='every silo maps its labels to this order, e.g. labels = ["negative", "positive"]',
        )
    if not all(isinstance(v, str) and v for v in s.labels):
        raise ConfigError(f"{source}: [silos] labels must be non-empty strings")


def _validate_secure_aggregation(config: FederateConfig, source: str) -> None:
    sa = config.secure_aggregation
    if not sa.enabled:
        return
    if config.user_dp.enabled:
        raise ConfigError(
            f"{source}: [secure_aggregation] cannot be combined with [user_dp]",
            hint="the server-side DP wrappers clip each client's update, but under SecAgg+ the server only "
            "sees their sum; keep record-level DP ([dp]) on the clients, or turn secure aggregation off",
        )
    if config.strategy.name != "fedavg":
        raise ConfigError(
            f'{source}: [secure_aggregation] supports only [strategy] name = "fedavg", not {config.strategy.name!r}',
            hint="under SecAgg+ the server sees only the weighted sum of the updates; FedProx and FedAdam are not "
            "wired to Flower's legacy SecAgg+ path: use fedavg, or turn secure aggregation off",
        )
    if sa.reconstruction_threshold < 2 or sa.num_shares <= sa.reconstruction_threshold:
        raise ConfigError(
            f"{source}: [secure_aggregation] needs 2 <= reconstruction_threshold < num_shares "
            f"(got {sa.reconstruction_threshold} and {sa.num_shares})",
            hint="Flower's SecAgg+ requires it: each secret has num_shares shares, reconstruction_threshold of them "
            "rebuild it, so num_shares - reconstruction_threshold dropped neighbours are tolerated",
        )
    if sa.clipping_range <= 0 or sa.quantization_range < 2 or sa.max_weight <= 0:
        raise ConfigError(
            f"{source}: [secure_aggregation] needs clipping_range > 0, quantization_range >= 2, max_weight > 0"
        )
    if config.data.partition is not Partition.field or config.silos.enabled:  # the number of clients is known now
        check_supported(config, config.data.num_clients, source=source)


def check_supported(config: FederateConfig, num_clients: int, *, source: str = "config") -> None:
    """ConfigError, before any training, for a number of clients SecAgg+ cannot work with
    (the config's own checks, e.g. fedavg only, are in `federated.config`)."""
    sa = config.secure_aggregation
    from federated.strategies import clients_per_round

    per_round = clients_per_round(config, num_clients)
    if per_round < 3 or per_round <= sa.reconstruction_threshold:
        raise ConfigError(
            f"{source}: [secure_aggregation] needs at least 3 clients per round and more than "
            f"reconstruction_threshold ({sa.reconstruction_threshold}); this run has {per_round} "
            f"({num_clients} client(s), [train] fraction_train {config.train.fraction_train})",
            hint="with two clients each one learns the other's update from the new global model, and with no more "
            "clients than the threshold a single dropout stops the round",
        )
    if num_clients * sa.quantization_range >= SECAGG_MODULUS:
        raise ConfigError(
            f"{source}: [secure_aggregation] {num_clients} clients x quantization_range {sa.quantization_range} "
            f"reach Flower's modulus 2**32: the masked sum would overflow",
            hint="lower quantization_range (coarser quantization)",
        )


def apply_overrides(data: dict[str, Any], overrides: list[str], *, source: str = "--set") -> dict[str, Any]:
    """`section.key=value` pairs (value in TOML syntax; bare words are strings)."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2:
            raise ConfigError(f"{source}: {item!r} is not section.key=value")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        table = out
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: {key!r} is not inside a table")
        table[parts[-1]] = value
    return out


def load_config(path: str | Path | None, *, overrides: list[str] | None = None) -> FederateConfig:
    data: dict[str, Any] = {}
    source = "<flags>"
    if path is not None:
        path = Path(path)
        data = read_toml(path, error=ConfigError, what="config")
        source = str(path)
        # a relative corpus path in a config file: beside that file if it is there,
        # else from the working directory
        corpus = data.get("data", {}).get("path")
        if isinstance(corpus, str) and corpus and not Path(corpus).is_absolute() and (path.parent / corpus).exists():
            data["data"]["path"] = str(path.parent / corpus)
    data = apply_overrides(data, overrides or [])
    corpus = data.get("data", {}).get("path")
    if isinstance(corpus, str) and corpus:
        # absolute in the resolved config, so every process (SuperNodes, actors) finds it
        data["data"]["path"] = str(Path(corpus).resolve())
    return parse_config(data, source=source)


def config_from_json(data: dict[str, Any]) -> FederateConfig:
    """Rebuild a config saved by `FederateConfig.to_json` (a run directory's)."""
    return parse_config(data, source="config.json", check_names=False)


def with_dp(config: FederateConfig, **changes: Any) -> FederateConfig:
    return replace(config, dp=replace(config.dp, **changes))


__all__ = [  # the config's types (federated.types) and how it is parsed
    *federated.types.__all__,
    "RECORD_UNIT",
    "apply_overrides",
    "config_from_json",
    "load_config",
    "parse_config",
    "with_dp",
]

"""The types of a `guard federate` configuration: its choices (StrEnums), its sections
(frozen dataclasses) and ConfigError. Parsing and checking live in `federated.config`,
which re-exports these; the model and strategy registries import only this module, so
that the config can check names against them without an import cycle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from guard.core.errors import ExitCode, GuardError
from guard.core.io import Format


class ConfigError(GuardError):
    """A federate config file or override is invalid."""

    exit_code = ExitCode.CONFIG


class Task(StrEnum):
    classification = "classification"
    causal_lm = "causal_lm"


class Partition(StrEnum):
    field = "field"
    iid = "iid"
    dirichlet = "dirichlet"


class AccountantName(StrEnum):
    prv = "prv"
    rdp = "rdp"


class Optimizer(StrEnum):
    """[train] optimizer: the local optimizer on each client."""

    adam = "adam"
    sgd = "sgd"


class GradSampleMode(StrEnum):
    """[dp] clipping: how Opacus computes per-sample gradients (its `grad_sample_mode`)."""

    ghost = "ghost"
    hooks = "hooks"
    functorch = "functorch"


class ClippingMode(StrEnum):
    """[user_dp] clipping: Flower's server-side DP wrapper, fixed or adaptive norm."""

    fixed = "fixed"
    adaptive = "adaptive"


@dataclass(frozen=True)
class DataConfig:
    path: str = ""
    format: Format | None = None
    text_field: str = "text"
    label_field: str | None = "label"
    task: Task = Task.classification
    partition: Partition = Partition.iid
    partition_field: str | None = None
    num_clients: int = 4
    alpha: float = 0.5
    holdout: float = 0.2
    max_length: int = 128
    max_records: int | None = None
    person_field: str | None = None  # the field naming each record's person (holdout split by person)
    reweight_by: tuple[str, ...] = ()  # group fields: train with group-by-label weights (federated.task)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tiny-classifier"
    params: dict[str, Any] = field(default_factory=dict)
    save_merged: bool = False  # LoRA runs: also write the merged full model (run/model/merged/)


@dataclass(frozen=True)
class TrainConfig:
    rounds: int = 3
    local_epochs: int = 1
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: Optimizer = Optimizer.adam
    fraction_train: float = 1.0
    min_train_clients: int = 1
    seed: int = 0
    device: str = "auto"  # "auto": cuda when available, else cpu


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "fedavg"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DPConfig:
    """Record-level DP-SGD on every client (Opacus)."""

    enabled: bool = True
    target_epsilon: float | None = 8.0
    noise_multiplier: float | None = None
    delta: float | None = None  # default: 1 / (10 * records of the smallest client)
    max_grad_norm: float = 1.0
    accountant: AccountantName = AccountantName.prv
    clipping: GradSampleMode = GradSampleMode.ghost
    secure_mode: bool = False
    unit: str = "record"  # "record", or the person field (e.g. "patient_id"): person-level DP-SGD
    max_records_per_person: int = 8  # person unit: at most this many of a sampled person's records per step
    compare_without_dp: bool = False  # also train once without DP (same seed) and report the utility cost

    @property
    def grad_sample_mode(self) -> str:
        """The Opacus per-sample mode training uses: ghost clipping yields per-record norms,
        never per-record gradients, so a person-level run (which sums a person's records
        before clipping) uses hooks instead."""
        if self.unit != "record" and self.clipping is GradSampleMode.ghost:
            return GradSampleMode.hooks.value
        return GradSampleMode(self.clipping).value


@dataclass(frozen=True)
class UserDPConfig:
    """Optional user-level (client-level) DP on the server with Flower's wrappers."""

    enabled: bool = False
    clipping: ClippingMode = ClippingMode.fixed
    noise_multiplier: float = 1.0
    clipping_norm: float = 1.0
    delta: float | None = None


@dataclass(frozen=True)
class CanaryConfig:
    count: int = 0
    repeats: tuple[int, ...] = (1,)
    clients: tuple[str, ...] = ()  # client ids to insert into; empty: the first client
    references: int = 0  # unused canaries drawn the same way, for exposure baselines
    digits: int = 9  # secret: this many random digits


@dataclass(frozen=True)
class SimulationConfig:
    cpus_per_client: float = 1.0
    gpu_fraction: float | None = None  # None: 1 / clients run at once when a GPU exists


@dataclass(frozen=True)
class CardConfig:
    """[card]: what the model card (run/model/README.md) states that the run cannot know.

    Every key is optional; what is not set is written as "not stated in the run config",
    never guessed. `tags` are added to guard's own (guard, differential-privacy, ...)."""

    license: str | None = None  # a Hugging Face license id, e.g. "apache-2.0", "other"
    language: tuple[str, ...] = ()  # ISO 639 codes of the training text, e.g. ["en"]
    tags: tuple[str, ...] = ()
    model_name: str | None = None  # default: "guard-<model name>"
    dataset_name: str | None = None  # default: the corpus file's name without its suffix
    base_model: str | None = None  # Hub id of the pretrained model; default: the model registry's
    intended_use: str | None = None
    out_of_scope_use: str | None = None
    limitations: str | None = None


@dataclass(frozen=True)
class SiloConfig:
    """[silos]: a cross-silo deployment where each SuperNode brings its own data.

    The server never opens a corpus: each node is started with its own file
    (`guard federate node --data FILE --client-id ID`), keeps its own held-out split,
    inserts its own canaries and computes its own noise; [data] keeps only how to read
    a file (fields, holdout, max_length), and [data] num_clients is how many silos train."""

    enabled: bool = False
    labels: tuple[str, ...] = ()  # classification: the label set, in order, every silo maps its labels to


@dataclass(frozen=True)
class SecureAggregationConfig:
    """[secure_aggregation]: Flower's SecAgg+ (the server learns only the sum of the updates)."""

    enabled: bool = False
    num_shares: int = 3  # each client's secret is shared with this many others (itself included)
    reconstruction_threshold: int = 2  # shares needed to unmask a dropped client
    clipping_range: float = 8.0  # weights must lie in [-clipping_range, clipping_range] to be quantized exactly
    quantization_range: int = 4194304  # 2**22 levels over the clipping range
    max_weight: float = 1000.0  # the largest num_examples a client may weight its update by


@dataclass(frozen=True)
class FederateConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    dp: DPConfig = field(default_factory=DPConfig)
    user_dp: UserDPConfig = field(default_factory=UserDPConfig)
    canaries: CanaryConfig = field(default_factory=CanaryConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    card: CardConfig = field(default_factory=CardConfig)
    silos: SiloConfig = field(default_factory=SiloConfig)
    secure_aggregation: SecureAggregationConfig = field(default_factory=SecureAggregationConfig)

    # Keys added after the first run directories were written. Left out of to_json (and
    # so of the config hash) while they hold their default, so a run made before they
    # existed still matches its recorded hash and can be read, audited and resumed.
    LATER_KEYS: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("card",),
        ("model", "save_merged"),
        ("dp", "compare_without_dp"),
        ("data", "person_field"),
        ("dp", "unit"),
        ("dp", "max_records_per_person"),
        ("silos",),
        ("secure_aggregation",),
        ("data", "reweight_by"),
    )

    def to_json(self) -> dict[str, Any]:
        data = json.loads(json.dumps(asdict(self), default=str))
        default = json.loads(json.dumps(asdict(FederateConfig()), default=str))
        for path in self.LATER_KEYS:
            *parents, key = path
            mine, theirs = data, default
            for part in parents:
                mine, theirs = mine[part], theirs[part]
            if mine[key] == theirs[key]:
                del mine[key]
        return data

    def config_hash(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


__all__ = [
    "AccountantName",
    "CanaryConfig",
    "CardConfig",
    "ClippingMode",
    "ConfigError",
    "DPConfig",
    "DataConfig",
    "FederateConfig",
    "GradSampleMode",
    "ModelConfig",
    "SecureAggregationConfig",
    "SiloConfig",
    "Optimizer",
    "Partition",
    "SimulationConfig",
    "StrategyConfig",
    "Task",
    "TrainConfig",
    "UserDPConfig",
]

"""Person-level DP-SGD on one client: the privacy unit is a person, not a record.

Each step Poisson-samples persons (not records) with rate q; each sampled person
brings at most `max_records_per_person` of their records (chosen at random). Opacus
computes the per-record gradients (a GradSampleModule, "hooks" or "functorch"); guard
sums them per person into one per-person gradient, clips that to `max_grad_norm` C,
sums over the sampled persons, adds Gaussian noise N(0, (sigma * C)^2) once, divides by
the expected number of persons q * P and steps the optimizer. An empty sample is a
noise-only step. Adding or removing one person changes the clipped sum by at most C
whatever their number of records, so Opacus's accountant over (sigma, q, steps) bounds
the privacy loss of a person exactly as it bounds a record's under record-level DP-SGD.

    groups = person_groups(examples)              # record indices of each person
    batch, steps, q = plan_persons(len(groups), train)
    trainer = PersonTrainer(module, PersonDP(noise_multiplier=1.0, max_grad_norm=1.0,
                            sample_rate=q, expected_persons=batch, max_records_per_person=8),
                            generator=person_generator(seed, secure_mode=False))
    trainer.step(dataset, groups, prepare, criterion, optimizer)

Ghost clipping computes per-record norms, never per-record gradients, so it cannot sum
a person's records before clipping: with `[dp] clipping = "ghost"` the person path uses
"hooks" (the same per-record gradients; only speed differs).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from federated.accounting import create_accountant, merged
from federated.config import ConfigError, DPConfig, GradSampleMode, TrainConfig

logger = logging.getLogger(__name__)

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs, targets), as federated.task prepares them
Prepare = Callable[[Sequence[torch.Tensor]], Batch]
CLIP_EPSILON = 1e-6  # Opacus's: clip factor = C / (norm + 1e-6), at most 1


def person_groups(examples: Sequence[Any], *, unit: str = "person") -> tuple[tuple[int, ...], ...]:
    """The indices of each person's records in `examples`, persons in order of first record.

    Every example must name its person (`Example.person`); the error names the source
    line (never the value) of the first that does not."""
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        person = getattr(example, "person", None)
        if not isinstance(person, str) or not person:
            where = f"line {example.line}" if getattr(example, "line", 0) else f"training example {i}"
            raise ConfigError(
                f"[dp] unit = {unit!r} needs the person of every training record; {where} has none",
                hint=f"set [data] person_field = {unit!r} and give every record a non-empty {unit}",
            )
        groups.setdefault(person, []).append(i)
    return tuple(tuple(g) for g in groups.values())


def plan_persons(persons: int, train: TrainConfig) -> tuple[int, int, float]:
    """(expected persons per step, steps per call, sample rate q) for `persons` persons.

    q = min(1, batch_size / persons), so `[train] batch_size` is the expected number of
    persons per step (q * persons); an epoch is ceil(persons / batch_size) steps, as
    `federated.task.plan` counts them for records."""
    if persons < 1:
        raise ConfigError("a client has no persons to train on", hint="give every client data")
    batch = min(train.batch_size, persons)
    per_epoch = math.ceil(persons / batch)
    return batch, train.local_epochs * per_epoch, batch / persons


def grad_sample_mode(dp: DPConfig) -> str:
    """Opacus's per-record gradient mode for the person path ("ghost" falls back to "hooks")."""
    return dp.grad_sample_mode


def person_generator(seed: int, *, secure_mode: bool) -> torch.Generator:
    """The generator for person sampling, record choice and noise: seeded, or Opacus's secure
    RNG (torchcsprng reading /dev/urandom, as PrivacyEngine(secure_mode=True) makes it)."""
    if not secure_mode:
        return torch.Generator().manual_seed(int(seed))
    try:
        import torchcsprng as csprng  # type: ignore[import-not-found]
    except ImportError as e:
        raise ConfigError(
            "[dp] secure_mode = true needs torchcsprng, which is not installed",
            hint="install torchcsprng (https://github.com/pytorch/csprng), or set [dp] secure_mode = false",
        ) from e
    return csprng.create_random_device_generator("/dev/urandom")


@dataclass(frozen=True)
class PersonDP:
    """The person-level DP-SGD settings of one client's training call."""

    noise_multiplier: float  # sigma: the noise std is sigma * max_grad_norm
    max_grad_norm: float  # C: each person's summed gradient is clipped to this norm
    sample_rate: float  # q: each person is in a step with this probability
    expected_persons: float  # q * persons: the clipped, noised sum is divided by this
    max_records_per_person: int = 8
    secure_mode: bool = False
    chunk_records: int = 64  # records per forward/backward pass (memory only; results do not depend on it)


@dataclass(frozen=True)
class StepStats:
    """What one step saw (for the training loss and accuracy; counts only)."""

    persons: int
    records: int
    logits: tuple[torch.Tensor, ...]  # detached, per forward pass
    targets: tuple[torch.Tensor, ...]


def per_person_clipped(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    owner: torch.Tensor,
    persons: int,
    *,
    criterion: nn.Module,
    max_grad_norm: float,
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """One forward/backward pass of `module` (an Opacus GradSampleModule with loss
    reduction "sum") over records; `owner[i]` is the person (0..persons-1) of record i.

    Returns each trainable parameter's per-person clipped gradients `(persons, *shape)`,
    the per-person norms before clipping `(persons,)` and the logits (detached)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.grad_sample = None
        p.grad = None
    logits = module(*inputs)
    loss = criterion(logits, targets)  # a sum of per-record losses: grad_sample = each record's gradient
    loss.backward()
    summed = []
    for p in params:
        per_record = p.grad_sample
        if per_record is None:
            raise ConfigError(
                f"Opacus computed no per-record gradient for a trainable weight of shape {tuple(p.shape)}",
                hint="every trainable weight must be used in the forward pass by a layer Opacus supports",
            )
        per_person = torch.zeros((persons, *p.shape), dtype=per_record.dtype, device=per_record.device)
        summed.append(per_person.index_add_(0, owner.to(per_record.device), per_record))
        p.grad_sample = None
        p.grad = None
    norms = torch.stack([g.reshape(persons, -1).norm(2, dim=1) for g in summed], dim=1).norm(2, dim=1)
    factor = (max_grad_norm / (norms + CLIP_EPSILON)).clamp(max=1.0)
    clipped = [g * factor.view(-1, *([1] * (g.dim() - 1))).to(g.dtype) for g in summed]
    return clipped, norms, logits.detach()


class PersonTrainer:
    """Person-level DP-SGD steps on `module` (wrapped in an Opacus GradSampleModule until
    `close()`), with the accountant stepped once per step."""

    def __init__(
        self,
        module: nn.Module,
        settings: PersonDP,
        *,
        generator: torch.Generator,
        mode: str = GradSampleMode.hooks.value,
        accountant: str = "prv",
        history: Sequence[tuple[float, float, int]] = (),
    ) -> None:
        from opacus.grad_sample.utils import prepare_module

        if settings.max_records_per_person < 1:
            raise ConfigError("[dp] max_records_per_person must be at least 1")
        self.settings = settings
        self.generator = generator
        self.module = prepare_module(module, mode, batch_first=True, loss_reduction="sum")
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.accountant = create_accountant(accountant)
        self.accountant.history = merged(history)
        self._steps_before = self.recorded_steps()

    def recorded_steps(self) -> int:
        return sum(int(s) for _, _, s in self.accountant.history)

    @property
    def steps_taken(self) -> int:
        """Steps the accountant recorded since this trainer was made."""
        return self.recorded_steps() - self._steps_before

    def sample(self, groups: Sequence[Sequence[int]]) -> list[list[int]]:
        """Poisson-sample persons with rate q; each keeps at most max_records_per_person records
        (a random subset, in their original order)."""
        s = self.settings
        chosen = torch.rand(len(groups), generator=self.generator) < s.sample_rate
        out = []
        for person in torch.nonzero(chosen).flatten().tolist():
            records = list(groups[person])
            if len(records) > s.max_records_per_person:
                keep = torch.randperm(len(records), generator=self.generator)[: s.max_records_per_person]
                records = [records[i] for i in sorted(keep.tolist())]
            out.append(records)
        return out

    def _chunks(self, sampled: list[list[int]]) -> Iterator[list[list[int]]]:
        """Whole persons per chunk, about chunk_records records each (a person is never split)."""
        chunk: list[list[int]] = []
        size = 0
        for records in sampled:
            if chunk and size + len(records) > self.settings.chunk_records:
                yield chunk
                chunk, size = [], 0
            chunk.append(records)
            size += len(records)
        if chunk:
            yield chunk

    def noised_mean(self, clipped_sum: list[torch.Tensor]) -> list[torch.Tensor]:
        """(sum of clipped per-person gradients + N(0, (sigma C)^2)) / (q * persons)."""
        from opacus.optimizers.optimizer import _generate_noise

        s = self.settings
        std = s.noise_multiplier * s.max_grad_norm
        out = []
        for total in clipped_sum:
            reference = torch.empty(total.shape, dtype=total.dtype)  # drawn on the CPU generator
            noise = _generate_noise(std, reference, generator=self.generator, secure_mode=s.secure_mode)
            out.append((total + noise.to(total.device)) / s.expected_persons)
        return out

    def step(
        self,
        dataset: Any,
        groups: Sequence[Sequence[int]],
        prepare: Prepare,
        criterion: nn.Module,
        optimizer: torch.optim.Optimizer,
    ) -> StepStats:
        """One DP-SGD step: sample, per-person clipped sum, noise, optimizer step, accountant step.

        `dataset[index_tensor]` gives the loader-shaped tensors of those records, which
        `prepare` turns into (inputs, targets); `criterion` sums per-record losses."""
        s = self.settings
        sampled = self.sample(groups)
        total = [torch.zeros_like(p) for p in self.params]
        logits, targets = [], []
        for chunk in self._chunks(sampled):
            index = [i for records in chunk for i in records]
            owner = torch.tensor([j for j, records in enumerate(chunk) for _ in records], dtype=torch.long)
            inputs, y = prepare(dataset[torch.tensor(index, dtype=torch.long)])
            clipped, _, out = per_person_clipped(
                self.module, inputs, y, owner, len(chunk), criterion=criterion, max_grad_norm=s.max_grad_norm
            )
            for acc, g in zip(total, clipped):
                acc.add_(g.sum(dim=0))
            logits.append(out)
            targets.append(y.detach())
        optimizer.zero_grad(set_to_none=True)
        for p, grad in zip(self.params, self.noised_mean(total)):
            p.grad = grad
        optimizer.step()
        for p in self.params:
            p.grad = None
        self.accountant.step(noise_multiplier=s.noise_multiplier, sample_rate=s.sample_rate)
        return StepStats(
            persons=len(sampled),
            records=sum(len(r) for r in sampled),
            logits=tuple(logits),
            targets=tuple(targets),
        )

    def close(self) -> nn.Module:
        """Remove Opacus's hooks and attributes; return the plain module."""
        return self.module.to_standard_module()


__all__ = [
    "PersonDP",
    "PersonTrainer",
    "StepStats",
    "grad_sample_mode",
    "per_person_clipped",
    "person_generator",
    "person_groups",
    "plan_persons",
]

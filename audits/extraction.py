"""Training-data extraction from a causal LM (after Carlini et al. 2021).

Prompt the model with the first `prefix` tokens of a training record, decode
greedily, and count how often it reproduces the record's next `suffix` tokens
exactly; the same on held-out records is the baseline (text any model of the
language would complete). Training PII: values the scrubber's detector finds
in the training records; a generation "emits" one when it contains a value
that was not already in its prompt. Its baseline: the generations from the
held-out prompts, checked against the same training values (a common name a
near-random model emits shows up on both sides; audits.baseline judges the
difference). Canaries: prompt with the template's text
before the secret and check whether the secret comes out.
Only rates, counts and ids leave this module, never text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from federated.models import ModelBundle, unwrap


@dataclass(frozen=True)
class ExtractionResult:
    members: int
    member_exact: int
    non_members: int
    non_member_exact: int
    prefix_tokens: int
    suffix_tokens: int
    pii_values: int  # distinct training PII values looked for
    pii_generations: int  # generations checked
    pii_emitting: int  # generations emitting a training PII value not in their prompt
    pii_types: dict[str, int] = field(default_factory=dict)  # entity type -> emissions
    canary_hits: dict[int, tuple[int, int]] = field(default_factory=dict)  # repeats -> (extracted, canaries)
    # the baseline: generations from held-out prompts checked against the same training PII values
    baseline_pii_generations: int = 0
    baseline_pii_emitting: int = 0
    # per record: (member trials, member hits, baseline trials, baseline hits), see _own_emissions
    own_pii: tuple[int, int, int, int] = (0, 0, 0, 0)


def normalize(text: str) -> str:
    """Lower-case letters and digits only: tokenizers re-space and lower-case what they decode
    ("555-0100" comes back as "555 - 0100"), so values are compared in this form."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _special_ids(tokenizer: Any) -> set[int]:
    return {int(i) for i in getattr(tokenizer, "all_special_ids", []) or []}


def _token_rows(bundle: ModelBundle, texts: Sequence[str], need: int, max_length: int) -> list[list[int]]:
    """Token ids per text (with the tokenizer's leading special token, as in training)."""
    if not texts:  # a fast tokenizer fails on an empty batch
        return []
    enc = bundle.tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)
    specials = _special_ids(bundle.tokenizer)
    rows = []
    for ids in enc["input_ids"]:
        # drop trailing specials ([SEP], </s>): they are not text to extract
        while ids and ids[-1] in specials:
            ids = ids[:-1]
        rows.append(ids if len(ids) >= need else [])
    return rows


@torch.no_grad()
def greedy(
    bundle: ModelBundle, prompts: torch.Tensor, steps: int, *, device: str, batch_size: int = 64
) -> torch.Tensor:
    """Greedy continuation of equal-length prompts: (n, steps) token ids."""
    model = unwrap(bundle.model).to(device)
    model.eval()
    out = []
    for start in range(0, len(prompts), batch_size):
        ids = prompts[start : start + batch_size].to(device)
        for _ in range(steps):
            mask = torch.ones_like(ids)
            nxt = model(ids, mask)[:, -1, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        out.append(ids[:, prompts.shape[1] :].cpu())
    return torch.cat(out) if out else torch.zeros((0, steps), dtype=torch.long)


def _exact(
    bundle: ModelBundle, rows: list[list[int]], prefix: int, suffix: int, device: str
) -> tuple[int, int, torch.Tensor, torch.Tensor, list[int]]:
    """Exact suffix hits, records tried, their prompts and generations, and which rows they are."""
    kept = [i for i, r in enumerate(rows) if r]
    if not kept:
        empty = torch.zeros((0, prefix), dtype=torch.long), torch.zeros((0, suffix), dtype=torch.long)
        return 0, 0, *empty, []
    ids = torch.tensor([rows[i][: prefix + suffix] for i in kept], dtype=torch.long)
    prompts, truth = ids[:, :prefix], ids[:, prefix:]
    gen = greedy(bundle, prompts, suffix, device=device)
    return int((gen == truth).all(dim=1).sum()), len(kept), prompts, gen, kept


def _emissions(
    bundle: ModelBundle, prompts: torch.Tensor, gens: torch.Tensor, pii: dict[str, str]
) -> tuple[int, dict[str, int]]:
    """Generations that contain a training PII value (normalized) not already in their prompt,
    and the emissions per entity type. Member and held-out prompts are checked against the
    same value set, so a value a model emits whatever the prompt (a common name) counts on
    both sides and only what the member prompts add is memorization."""
    emitting = 0
    types: dict[str, int] = {}
    if not pii or not len(gens):
        return 0, types
    for prompt_ids, gen_ids in zip(prompts.tolist(), gens.tolist()):
        prompt = normalize(bundle.tokenizer.decode(prompt_ids, skip_special_tokens=True))
        text = normalize(bundle.tokenizer.decode(prompt_ids + gen_ids, skip_special_tokens=True))
        found = {t for v, t in pii.items() if v in text and v not in prompt}
        if found:
            emitting += 1
            for t in found:
                types[t] = types.get(t, 0) + 1
    return emitting, types


def _own_emissions(
    bundle: ModelBundle,
    members: tuple[torch.Tensor, torch.Tensor],
    held_out: tuple[torch.Tensor, torch.Tensor],
    values: Sequence[Sequence[str]],
) -> tuple[int, int, int, int]:
    """Does a member prompt make the model emit a PII value of THAT record (one not already in the
    prompt)? And, as the baseline, does a held-out prompt make it emit the values of the member
    record it is paired with (cyclically)? A model that memorized nothing emits a given record's
    values equally often from either prompt (common names included); a memorizing model emits
    them from their own record's prompt, and from an unrelated prompt at most by chance.
    Returns (member trials, member hits, baseline trials, baseline hits); a trial is a record with
    at least one value that its prompt does not already hold."""
    sets = [{normalize(v) for v in vs} - {""} for vs in values]
    sets = [{v for v in vs if len(v) >= 4} for vs in sets]
    if not any(sets):
        return 0, 0, 0, 0

    def texts(prompts: torch.Tensor, gens: torch.Tensor) -> list[tuple[str, str]]:
        dec = bundle.tokenizer.decode
        return [
            (normalize(dec(p, skip_special_tokens=True)), normalize(dec(p + g, skip_special_tokens=True)))
            for p, g in zip(prompts.tolist(), gens.tolist())
        ]

    def trial(prompt: str, text: str, vs: set[str]) -> tuple[int, int]:
        fresh = [v for v in vs if v not in prompt]
        return (1, int(any(v in text for v in fresh))) if fresh else (0, 0)

    with_values = [i for i, vs in enumerate(sets) if vs]
    counts = [0, 0, 0, 0]
    for (prompt, text), vs in zip(texts(*members), sets):
        t, h = trial(prompt, text, vs)
        counts[0] += t
        counts[1] += h
    for j, (prompt, text) in enumerate(texts(*held_out)):
        t, h = trial(prompt, text, sets[with_values[j % len(with_values)]])
        counts[2] += t
        counts[3] += h
    return counts[0], counts[1], counts[2], counts[3]


def extract(
    bundle: ModelBundle,
    members: Sequence[str],
    non_members: Sequence[str],
    *,
    pii: dict[str, str] | None = None,
    record_pii: Sequence[Sequence[str]] | None = None,
    canaries: Sequence[tuple[str, int]] = (),
    canary_prefix: str = "",
    prefix: int = 16,
    suffix: int = 16,
    max_length: int = 128,
    device: str = "cpu",
) -> ExtractionResult:
    """`pii` maps a training PII value to its entity type (in memory only); `record_pii`, when
    given, holds each member record's own PII values (in `members` order) for the per-record
    emission test; `canaries` are (secret, repeats) pairs prompted with `canary_prefix`."""
    need = prefix + suffix
    m_hits, m_n, m_prompts, m_gen, m_kept = _exact(
        bundle, _token_rows(bundle, members, need, max_length), prefix, suffix, device
    )
    n_hits, n_n, n_prompts, n_gen, _ = _exact(
        bundle, _token_rows(bundle, non_members, need, max_length), prefix, suffix, device
    )

    pii = {normalize(v): t for v, t in (pii or {}).items() if len(normalize(v)) >= 4}
    emitting, types = _emissions(bundle, m_prompts, m_gen, pii)
    base_emitting, _ = _emissions(bundle, n_prompts, n_gen, pii)
    own = _own_emissions(
        bundle, (m_prompts, m_gen), (n_prompts, n_gen), [record_pii[i] for i in m_kept] if record_pii else []
    )

    hits: dict[int, tuple[int, int]] = {}
    if canaries:
        prompt_ids = bundle.tokenizer(canary_prefix, add_special_tokens=True)["input_ids"]
        specials = _special_ids(bundle.tokenizer)
        while prompt_ids and prompt_ids[-1] in specials:
            prompt_ids = prompt_ids[:-1]
        longest = max(len(bundle.tokenizer(s, add_special_tokens=False)["input_ids"]) for s, _ in canaries)
        gen = greedy(bundle, torch.tensor([prompt_ids]), longest + 1, device=device)[0].tolist()
        decoded = bundle.tokenizer.decode(gen, skip_special_tokens=True).replace(" ", "")
        for secret, repeats in canaries:
            got, total = hits.get(repeats, (0, 0))
            hits[repeats] = (got + int(decoded.startswith(secret)), total + 1)
    return ExtractionResult(
        members=m_n,
        member_exact=m_hits,
        non_members=n_n,
        non_member_exact=n_hits,
        prefix_tokens=prefix,
        suffix_tokens=suffix,
        pii_values=len(pii),
        pii_generations=int(len(m_gen)),
        pii_emitting=emitting,
        pii_types=types,
        canary_hits=hits,
        baseline_pii_generations=int(len(n_gen)),
        baseline_pii_emitting=base_emitting,
        own_pii=own,
    )


def sample(items: Sequence[Any], count: int, *, seed: int, stream: int) -> list[Any]:
    if len(items) <= count:
        return list(items)
    rng = np.random.default_rng([seed, stream])
    return [items[i] for i in sorted(rng.choice(len(items), size=count, replace=False))]


__all__ = ["ExtractionResult", "extract", "greedy", "normalize", "sample"]

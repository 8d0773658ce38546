"""Training-data extraction from a causal LM (after Carlini et al. 2021).

Prompt the model with the first `prefix` tokens of a training record, decode
greedily, and count how often it reproduces the record's next `suffix` tokens
exactly; the same on held-out records is the baseline (text any model of the
language would complete). Training PII: values the scrubber's detector finds
in the training records; a generation "emits" one when it contains a value
that was not already in its prompt. Canaries: prompt with the template's text
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


def normalize(text: str) -> str:
    """Lower-case letters and digits only: tokenizers re-space and lower-case what they decode
    ("555-0100" comes back as "555 - 0100"), so values are compared in this form."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _special_ids(tokenizer: Any) -> set[int]:
    return {int(i) for i in getattr(tokenizer, "all_special_ids", []) or []}


def _token_rows(bundle: ModelBundle, texts: Sequence[str], need: int, max_length: int) -> list[list[int]]:
    """Token ids per text (with the tokenizer's leading special token, as in training)."""
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
) -> tuple[int, int, torch.Tensor, torch.Tensor]:
    rows = [r for r in rows if r]
    if not rows:
        return 0, 0, torch.zeros((0, prefix), dtype=torch.long), torch.zeros((0, suffix), dtype=torch.long)
    ids = torch.tensor([r[: prefix + suffix] for r in rows], dtype=torch.long)
    prompts, truth = ids[:, :prefix], ids[:, prefix:]
    gen = greedy(bundle, prompts, suffix, device=device)
    return int((gen == truth).all(dim=1).sum()), len(rows), prompts, gen


def extract(
    bundle: ModelBundle,
    members: Sequence[str],
    non_members: Sequence[str],
    *,
    pii: dict[str, str] | None = None,
    canaries: Sequence[tuple[str, int]] = (),
    canary_prefix: str = "",
    prefix: int = 16,
    suffix: int = 16,
    max_length: int = 128,
    device: str = "cpu",
) -> ExtractionResult:
    """`pii` maps a training PII value to its entity type (in memory only);
    `canaries` are (secret, repeats) pairs prompted with `canary_prefix`."""
    need = prefix + suffix
    m_hits, m_n, m_prompts, m_gen = _exact(
        bundle, _token_rows(bundle, members, need, max_length), prefix, suffix, device
    )
    n_hits, n_n, _, _ = _exact(bundle, _token_rows(bundle, non_members, need, max_length), prefix, suffix, device)

    emitting = 0
    types: dict[str, int] = {}
    pii = {normalize(v): t for v, t in (pii or {}).items() if len(normalize(v)) >= 4}
    if pii and len(m_gen):
        for prompt_ids, gen_ids in zip(m_prompts.tolist(), m_gen.tolist()):
            prompt = normalize(bundle.tokenizer.decode(prompt_ids, skip_special_tokens=True))
            text = normalize(bundle.tokenizer.decode(prompt_ids + gen_ids, skip_special_tokens=True))
            found = [t for v, t in pii.items() if v in text and v not in prompt]
            if found:
                emitting += 1
                for t in set(found):
                    types[t] = types.get(t, 0) + 1

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
    )


def sample(items: Sequence[Any], count: int, *, seed: int, stream: int) -> list[Any]:
    if len(items) <= count:
        return list(items)
    rng = np.random.default_rng([seed, stream])
    return [items[i] for i in sorted(rng.choice(len(items), size=count, replace=False))]


__all__ = ["ExtractionResult", "extract", "greedy", "normalize", "sample"]

"""LiRA's reference models as Ray tasks (`guard audit privacy --engine ray`).

Each reference model is independent of the others (its own seed, `seed + 1000 + k`, and its
own in/out split), so the K trainings run as K Ray tasks, each asking for `num_cpus` CPUs
and, on a GPU device, one GPU. The task calls the very functions the local loop calls
(`audits.privacy` passes them in, so this module does not import it back) and sets the
same torch thread count, so the scores are the local run's for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _one_reference(
    target: Any,
    records: Sequence[Any],
    chosen: np.ndarray,
    k: int,
    *,
    train: Callable[..., Any],
    score: Callable[..., Any],
    options: Any,
    device: str,
    threads: int,
) -> np.ndarray:
    """Ray task: train reference model `k` on `records[chosen]` and score every record."""
    import torch

    torch.set_num_threads(threads)
    ref = train(target, [records[i] for i in chosen], k, device)
    return np.asarray(score(target, records, bundle=ref, options=options, device=device).phi)


def reference_phis(
    target: Any,
    records: Sequence[Any],
    mask: np.ndarray,
    *,
    train: Callable[..., Any],
    score: Callable[..., Any],
    options: Any,
    device: str,
    progress: Callable[[str], None],
) -> np.ndarray:
    """The (K, len(records)) score matrix of the K reference models, trained as Ray tasks on
    the cluster at `options.address` (None: a fresh local instance)."""
    from guard.deid.ray_engine import RayOptions, ray_errors, ray_session, unwrap

    gpus = 1.0 if str(device).startswith("cuda") else 0.0
    threads = int(options.threads or 1)
    with ray_session(RayOptions(address=options.address)) as ray:
        task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(_one_reference)
        shared_target, shared_records = ray.put(target), ray.put(list(records))
        refs = [
            task.remote(
                shared_target,
                shared_records,
                np.flatnonzero(mask[k]),
                k,
                train=train,
                score=score,
                options=options,
                device=device,
                threads=threads,
            )
            for k in range(mask.shape[0])
        ]
        out = np.zeros((mask.shape[0], len(records)))
        try:
            for k, ref in enumerate(refs):
                progress(f"membership: reference model {k + 1}/{mask.shape[0]} (Ray task)")
                out[k] = ray.get(ref)
        except ray_errors(ray) as e:
            raise unwrap(e) from e
    return out


__all__ = ["reference_phis"]

"""Peak memory of `guard profile` (tracemalloc) against corpus size: it should stay flat
once the corpus is past the sketches' bounds (--near-index, --exact-index).

    python bench/profile_memory.py 20000 200000 [--no-language]

Each size gets its own seeded corpus (random English word sequences, 5 % exact
duplicates) in a temporary folder, profiled without the PII scan (that part holds
`--pii-sample` texts, a constant)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard.quality import ProfileOptions, profile_corpus  # noqa: E402
from tests.quality.corpora import ENGLISH, sentence  # noqa: E402


def make(path: Path, n: int, seed: int = 0, words: tuple[int, int] = (30, 50)) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        last = ""
        for i in range(n):
            text = last if i and rng.random() < 0.05 else sentence(rng, ENGLISH, n=rng.randint(*words))
            last = text
            row = {"id": i, "text": text, "label": rng.choice("ab"), "site": rng.choice(["n", "s", "e", "w"])}
            fh.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--no-language", action="store_true")
    parser.add_argument("--words", type=int, nargs=2, default=(30, 50), help="words per text: min max")
    args = parser.parse_args()
    options = ProfileOptions(label_field="label", group_fields=("site",), pii=False, language=not args.no_language)
    profile_corpus(Path(__file__).resolve().parents[1] / "examples/clinical_notes.jsonl", options=options)  # warm
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.jsonl"
            make(path, n, words=tuple(args.words))
            tracemalloc.start()
            started = time.perf_counter()
            result = profile_corpus(path, options=options)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                json.dumps(
                    {
                        "records": n,
                        "words": list(args.words),
                        "peak_mib": round(peak / 2**20, 1),
                        "seconds": round(seconds, 1),
                        "exact_rate": round(result.duplicates["exact_rate"], 4),
                        "exact_method": result.duplicates["exact_method"],
                        "near_method": result.duplicates["near_method"],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()

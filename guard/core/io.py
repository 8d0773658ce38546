"""Streaming corpus readers and atomic, verified writers for JSONL, CSV, Parquet and text.

Readers yield `Record`s one at a time (bounded memory) and, for a line that
cannot be parsed, a `RecordError` that the caller either raises or
quarantines. Damage that leaves the rest of the file unreadable (a CSV quote
that never closes, a duplicate CSV column) raises `InputError` at once.

Writers never touch the target until the output is complete: they write to a
temporary file beside it (`.NAME.guard-tmp-PID-XXXX`), flush and fsync it,
check its size, and rename it into place only when every write and the close
succeeded. Any failure removes the temporary file, keeps an earlier output as
it was and raises `OutputError` naming the path and the reason ("no space left
on device"). `Outputs` commits several files of one command together, so a
report that cannot be written does not leave a new corpus beside an old report.
A temporary file left by a killed process is removed by the next write to the
same target.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from guard.core.errors import InputError, OutputError
from guard.core.types import Record, RecordError


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    txt = "txt"


_SUFFIXES = {
    ".jsonl": Format.jsonl,
    ".ndjson": Format.jsonl,
    ".json": Format.jsonl,
    ".csv": Format.csv,
    ".parquet": Format.parquet,
    ".pq": Format.parquet,
    ".txt": Format.txt,
    ".text": Format.txt,
}

TEXT_FIELD = "text"  # the one field of a plain-text corpus
DEFAULT_MAX_CHARS = 1_000_000  # longest field accepted (spaCy's own max_length)
MAX_JSON_DEPTH = 500  # deeper JSON would overflow the stack when written or sent to a worker
TEMP_MARK = ".guard-tmp-"  # temporary files are named .NAME.guard-tmp-PID-XXXX
_PARQUET_BATCH = 1024
_CSV_DEFAULT_FIELD_LIMIT = 131_072
_BOM = b"\xef\xbb\xbf"
BOM_NOTE = "the input starts with a UTF-8 byte-order mark; it was read as utf-8-sig and the output has none"
STDIO = "-"  # as an input path: standard input; as an output path: standard output


def is_stdio(path: str | Path | None) -> bool:
    """Whether `path` is `-`: standard input (reading) or standard output (writing)."""
    return path is not None and str(path) == STDIO


def detect_format(path: str | Path, fmt: Format | str | None = None) -> Format:
    """The format named by `fmt`, else by the file's extension."""
    if fmt is not None:
        try:
            return Format(str(fmt))
        except ValueError:
            raise InputError(
                f"unknown format {fmt!r}", hint=f"choose one of {sorted(f.value for f in Format)}"
            ) from None
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"cannot tell the format from the extension {suffix!r}",
            path=str(path),
            hint=f"pass --format, one of {sorted(f.value for f in Format)}",
        )
    return _SUFFIXES[suffix]


# --------------------------------------------------------------------------- reading


class CorpusReader:
    """Iterates a corpus file as `Record | RecordError`, in file order.

    `max_chars` bounds one CSV field (the csv module's field size limit is set to
    it, or to the module's default of 131,072 if that is more). `bom` tells whether the file began with a UTF-8
    byte-order mark, which is skipped.

    The path `-` reads standard input, as JSONL unless `fmt` says otherwise: JSONL
    and text stream; CSV and Parquet (which are read twice or need seeking) are first
    copied to a temporary file that is removed with the reader. Messages name `-`.
    """

    def __init__(
        self, path: str | Path, *, fmt: Format | str | None = None, max_chars: int = DEFAULT_MAX_CHARS
    ) -> None:
        self.path = Path(path)
        self.stdin = is_stdio(path)
        self.format = Format.jsonl if self.stdin and fmt is None else detect_format(self.path, fmt)
        self._file = self.path  # what is opened: the path, or the copy of standard input
        self._stream: BinaryIO | None = None  # standard input, read once as it comes
        self._spool: Any = None
        if self.stdin:
            self._open_stdin()
        elif not self.path.is_file():
            raise InputError("file not found", path=str(self.path))
        self.max_chars = max_chars
        self.bom = False
        self.columns: list[str] | None = None  # CSV header
        self.schema: Any = None  # Parquet schema
        try:
            if self._stream is not None:
                self.bom = self._stream.peek(len(_BOM))[: len(_BOM)] == _BOM  # type: ignore[attr-defined]
            elif self.format is not Format.parquet:
                with open(self._file, "rb") as fh:
                    self.bom = fh.read(len(_BOM)) == _BOM
            if self.format is Format.csv:
                self.columns = self._csv_header()
            elif self.format is Format.parquet:
                self.schema = self._parquet_file().schema_arrow
        except OSError as e:
            raise InputError(f"cannot read the file: {e.strerror or e}", path=str(self.path)) from e

    def _open_stdin(self) -> None:
        stream: Any = sys.stdin.buffer
        if not hasattr(stream, "peek"):  # a BytesIO (tests, notebooks)
            stream = io.BufferedReader(stream)
        if self.format in (Format.jsonl, Format.txt):
            self._stream = stream
            return
        try:
            self._spool = tempfile.NamedTemporaryFile(prefix="guard-stdin-", suffix=f".{self.format.value}")
            shutil.copyfileobj(stream, self._spool)
            self._spool.flush()
        except OSError as e:
            raise InputError(f"cannot copy standard input to a temporary file: {e.strerror or e}", path=STDIO) from e
        self._file = Path(self._spool.name)

    @property
    def notes(self) -> list[str]:
        """What the reader accepted that a report should mention."""
        return [BOM_NOTE] if self.bom else []

    def __iter__(self) -> Iterator[Record | RecordError]:
        produced = 0
        try:
            for item in getattr(self, f"_iter_{self.format.value}")():
                produced += 1
                yield item
        except OSError as e:
            raise InputError(f"cannot read the file: {e.strerror or e}", path=str(self.path)) from e
        if produced == 0:
            raise InputError("the file holds no records", path=str(self.path), hint="is it empty?")

    def _open(self) -> AbstractContextManager[BinaryIO]:
        if self._stream is not None:  # standard input: read once, never closed here
            if self.bom:
                self._stream.read(len(_BOM))
            return nullcontext(self._stream)
        fh = open(self._file, "rb")
        if self.bom:
            fh.seek(len(_BOM))
        return fh

    # -- JSONL ---------------------------------------------------------------
    def _lines(self) -> Iterator[tuple[int, str | RecordError]]:
        """Non-blank physical lines, decoded, with their 1-based numbers."""
        with self._open() as fh:
            for lineno, raw in enumerate(fh, start=1):
                text = self._decode(raw, lineno)
                if isinstance(text, RecordError) or text.strip():
                    yield lineno, text

    def _iter_jsonl(self) -> Iterator[Record | RecordError]:
        index = 0
        for lineno, text in self._lines():
            if isinstance(text, RecordError):
                yield text
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                yield RecordError(lineno, None, f"malformed JSON at column {e.colno}: {e.msg}", text)
                continue
            except RecursionError:
                yield RecordError(lineno, None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep", text)
                continue
            if not isinstance(data, dict):
                yield RecordError(lineno, None, f"a JSON {type(data).__name__}, not an object", text)
                continue
            if _nesting(text) > MAX_JSON_DEPTH and _depth(data) > MAX_JSON_DEPTH:
                yield RecordError(lineno, None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep", text)
                continue
            yield Record(index, lineno, data)
            index += 1

    # -- CSV -----------------------------------------------------------------
    def _decoded_lines(self, fh: Any, errors: list[RecordError]) -> Iterator[str]:
        for lineno, raw in enumerate(fh, start=1):
            text = self._decode(raw, lineno)
            if isinstance(text, RecordError):
                errors.append(text)
                yield "\n"  # keep the csv module's line count in step
            else:
                yield text

    def _csv_reader(self, fh: Any, errors: list[RecordError]) -> Any:
        # The csv module's field limit is one global; each reader sets it to its own
        # --max-chars (never below the module's default) before it parses.
        csv.field_size_limit(max(self.max_chars, _CSV_DEFAULT_FIELD_LIMIT))
        # strict: a stray or unclosed quote is an error, not a silent merge of rows
        return csv.reader(self._decoded_lines(fh, errors), strict=True)

    def _csv_error(self, e: csv.Error, line: int) -> InputError:
        """A CSV syntax error: the parser cannot tell where the next row starts, so the
        whole file is refused (going on could invent or merge records)."""
        reason = str(e)
        if "field larger than field limit" in reason:
            return InputError(
                f"a field is longer than {self.max_chars:,} characters (--max-chars), or a quote opened "
                "here never closes",
                path=str(self.path),
                line=line,
                hint="raise --max-chars or fix the quoting",
            )
        if "unexpected end of data" in reason:
            return InputError(
                "a quote opened in this row never closes (the file ends inside it)",
                path=str(self.path),
                line=line,
                hint="close the quote; a quote inside a quoted field is written twice",
            )
        return InputError(
            f"bad CSV quoting: {reason}",
            path=str(self.path),
            line=line,
            hint="quote the whole field and double any quote inside it",
        )

    def _csv_header(self) -> list[str]:
        with self._open() as fh:
            errors: list[RecordError] = []
            reader = self._csv_reader(fh, errors)
            try:
                header = next(reader, None)
            except csv.Error as e:
                raise self._csv_error(e, 1) from e
            if errors:
                raise InputError(errors[0].reason, path=str(self.path), line=1)
        if not header:
            raise InputError("the file holds no header row", path=str(self.path), hint="is it empty?")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputError(
                f"the header names column(s) {duplicates} more than once; a record could keep only one of them",
                path=str(self.path),
                line=1,
                hint="give every column its own name",
            )
        return header

    def _iter_csv(self) -> Iterator[Record | RecordError]:
        assert self.columns is not None
        width = len(self.columns)
        index = 0
        with self._open() as fh:
            errors: list[RecordError] = []
            reader = self._csv_reader(fh, errors)
            next(reader)
            start = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    raise self._csv_error(e, start) from e
                line, start = start, reader.line_num + 1
                if errors:
                    yield errors.pop(0)
                    errors.clear()
                    continue
                if not row or row == [""]:
                    continue
                if len(row) != width:
                    raw = ",".join(row)
                    yield RecordError(line, None, f"bad CSV row: {len(row)} fields, header has {width}", raw)
                    continue
                yield Record(index, line, dict(zip(self.columns, row)))
                index += 1

    # -- Parquet -------------------------------------------------------------
    def _parquet_file(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self._file)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise InputError(f"not a readable Parquet file: {type(e).__name__}", path=str(self.path)) from e

    def _iter_parquet(self) -> Iterator[Record | RecordError]:
        index = 0
        try:
            for batch in self._parquet_file().iter_batches(batch_size=_PARQUET_BATCH):
                for row in batch.to_pylist():
                    yield Record(index, index + 1, row)
                    index += 1
        except (OSError, ValueError) as e:  # pyarrow: damaged pages (ArrowInvalid is a ValueError)
            raise InputError(
                f"the Parquet file is damaged after row {index:,}: {type(e).__name__}", path=str(self.path)
            ) from e

    # -- plain text ----------------------------------------------------------
    def _iter_txt(self) -> Iterator[Record | RecordError]:
        index = 0
        for lineno, text in self._lines():
            if isinstance(text, RecordError):
                yield text
                continue
            yield Record(index, lineno, {TEXT_FIELD: text.rstrip("\r\n")})
            index += 1

    @staticmethod
    def _decode(raw: bytes, lineno: int) -> str | RecordError:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return RecordError(
                lineno,
                None,
                f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                raw.decode("utf-8", errors="backslashreplace"),
            )


def _nesting(text: str) -> int:
    """An upper bound of a JSON text's depth (cheap: counts opening brackets)."""
    return text.count("[") + text.count("{")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items: Any = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((v, depth + 1) for v in items)
    return deepest


# --------------------------------------------------------------------------- writing

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error",
}
_HINTS = {
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space or write to another disk",
    errno.EROFS: "choose a writable folder",
    errno.EACCES: "choose a writable folder",
    errno.EPERM: "choose a writable folder",
}


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError):
        if e.errno in _REASONS:
            return _REASONS[e.errno]
        text = str(e)
        for code, reason in _REASONS.items():  # pyarrow's OSError carries the errno in its text only
            if f"[Errno {code}]" in text:
                return reason
        return e.strerror or text
    return str(e)


def _hint(e: BaseException) -> str | None:
    code = getattr(e, "errno", None)
    if code is None:
        text = str(e)
        code = next((c for c in _HINTS if f"[Errno {c}]" in text), None)
    return _HINTS.get(code) if code is not None else None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files of `path` left by guard processes that no longer run
    (killed with SIGKILL, or a power cut). Returns what was removed."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}{TEMP_MARK}"
    removed = []
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except OSError:
        return []
    for name in names:
        pid = name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            try:
                (parent / name).unlink()
                removed.append(parent / name)
            except OSError:
                pass
    return removed


def check_target(path: str | Path) -> Path:
    """Refuse (OutputError) a target that can never be written: its folder is missing, it
    is a folder, or it is a device or pipe (a rename would replace the device node).
    Returns the folder. Cheap, so commands check every output before the work starts."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: the folder {parent} does not exist", hint="create it first")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file", hint="name a file inside it")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: is not a regular file (a device or pipe)", hint="write to a file")
    return parent


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: some file systems cannot sync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """One output file, written in binary beside its target and renamed into place
    only by `commit()` after `finish()` flushed, fsynced, checked and closed it.

    The path `-` is standard output: the data goes to a temporary file first and is
    copied to standard output by `commit()`, so a failed command writes nothing there."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stdout = is_stdio(path)
        self.existed = not self.stdout and self.path.exists()
        self.tmp: Path | None = None
        self.fh: BinaryIO | None = None
        self.finished = False

    def error(self, e: BaseException, doing: str = "cannot write") -> OutputError:
        kept = "the earlier file is kept" if self.existed else "nothing written"
        return OutputError(f"{self.path}: {doing}: {_reason(e)}; {kept}", hint=_hint(e))

    def open(self) -> BinaryIO:
        if self.stdout:
            try:
                fd, tmp = tempfile.mkstemp(prefix=f"guard-stdout-{os.getpid()}-")
            except OSError as e:
                raise self.error(e, "cannot create a temporary file for standard output") from e
            self.tmp = Path(tmp)
            self.fh = os.fdopen(fd, "wb")
            return self.fh
        path = self.path
        parent = check_target(path)
        remove_stale_temps(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-", dir=parent)
        except OSError as e:
            raise self.error(e, f"cannot create a file in {parent}") from e
        self.tmp = Path(tmp)
        self.fh = os.fdopen(fd, "wb")
        return self.fh

    def finish(self) -> None:
        """Flush, fsync, check the size on disk and close; on failure discard and raise."""
        assert self.fh is not None and self.tmp is not None
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            written, on_disk = self.fh.tell(), os.fstat(self.fh.fileno()).st_size
            self.fh.close()
            if on_disk != written:
                raise OSError(errno.EIO, f"{on_disk} bytes on disk, {written} written")
        except OSError as e:
            self.discard()
            raise self.error(e) from e
        self.finished = True

    def commit(self) -> None:
        assert self.finished and self.tmp is not None
        if self.stdout:
            self._copy_to_stdout()
            return
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise self.error(e, "cannot rename the finished file into place") from e
        self.tmp = None
        _fsync_dir(self.path.parent if str(self.path.parent) else Path("."))

    def _copy_to_stdout(self) -> None:
        assert self.tmp is not None
        try:
            sys.stdout.flush()
            with open(self.tmp, "rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except OSError as e:  # a closed pipe (BrokenPipeError) or a full disk behind a redirect
            raise self.error(e, "cannot write to standard output") from e
        finally:
            self.discard()

    def discard(self) -> None:
        """Close and remove the temporary file; never raises."""
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass  # the failed flush of a full disk: the descriptor is closed anyway
        if self.tmp is not None:
            try:
                self.tmp.unlink(missing_ok=True)
            except OSError:
                pass
            self.tmp = None


class _Utf8:
    """A text sink over a binary file for the csv module."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def write(self, text: str) -> int:
        return self.fh.write(text.encode("utf-8"))


class CorpusWriter:
    """Writes records in one format to `path` atomically.

    As a context manager: the temporary file is finished and renamed onto `path`
    when the block ends cleanly, and deleted when it raises. For several outputs
    committed together, use `Outputs.corpus`.

    A record the format cannot hold whole is refused with `OutputError`: a text
    file holds only `text_field`; CSV and Parquet hold the columns of the header
    (of the input, or of the first record). `drop_fields=True` keeps only those
    instead. `source` (the input path) and `write(line=...)` locate the record in
    messages. The path `-` writes standard output (JSONL unless `fmt` says otherwise).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: Format | str | None = None,
        columns: list[str] | None = None,
        schema: Any = None,
        text_field: str = TEXT_FIELD,
        drop_fields: bool = False,
        source: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = Format.jsonl if is_stdio(path) and fmt is None else detect_format(self.path, fmt)
        self.columns = list(columns) if columns is not None else None
        self.schema = schema
        if self.columns is None and schema is not None:
            self.columns = list(schema.names)
        self.text_field = text_field
        self.drop_fields = drop_fields
        self.source = None if source is None else str(source)
        self.file = AtomicFile(self.path)
        self._csv: Any = None
        self._pq: Any = None
        self._rows: list[dict[str, Any]] = []
        self._lines: list[int | None] = []
        self.count = 0

    # -- life cycle ----------------------------------------------------------
    def open(self) -> CorpusWriter:
        fh = self.file.open()
        if self.format is Format.csv:
            self._csv = csv.writer(_Utf8(fh), lineterminator="\n")
            if self.columns:
                self._guarded(self._csv.writerow, self.columns)
        return self

    def __enter__(self) -> CorpusWriter:
        return self.open()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
            return
        self.finish()
        self.commit()

    def finish(self) -> None:
        """Write what is buffered, close, verify. On failure the temporary file is removed."""
        try:
            if self.format is Format.parquet:
                self._flush_parquet()
                if self._pq is None:
                    self._open_parquet(self._empty_table())
                self._guarded(self._pq.close)
            self.file.finish()
            if self.format is Format.parquet:
                self._verify_parquet()
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        self.file.commit()

    def discard(self) -> None:
        self.file.discard()

    def _guarded(self, fn: Any, *args: Any) -> Any:
        """Run one write; an OSError (disk full) becomes OutputError naming the output, and
        so does data the Parquet writer cannot store (its message only when it names no value)."""
        try:
            return fn(*args)
        except OSError as e:
            raise self.file.error(e) from e
        except Exception as e:
            if self.format is not Format.parquet or not isinstance(e, _arrow_errors()):
                raise
            import pyarrow as pa

            what = str(e) if isinstance(e, pa.ArrowNotImplementedError) else "a value does not fit its column"
            raise OutputError(f"{self.path}: Parquet cannot store these records ({what})", hint="write .jsonl") from e

    # -- records -------------------------------------------------------------
    def _where(self, line: int | None) -> str:
        if self.source is None:
            return f"record {self.count + 1}"
        return f"the record at {self.source}:{line}" if line is not None else f"record {self.count + 1}"

    def check_fields(self, names: list[str], *, line: int | None = None) -> None:
        """Refuse (OutputError) when a record with these field names cannot be written whole."""
        self._shape({name: None for name in names}, line)

    def _shape(self, data: dict[str, Any], line: int | None) -> dict[str, Any]:
        if self.format is Format.jsonl:
            return data
        if self.format is Format.txt:
            allowed = [self.text_field]
            what = f"a text file holds one field ({self.text_field!r})"
            hint = "write .jsonl, .csv or .parquet to keep every field, or pass --drop-fields to keep only the text"
        else:
            if self.columns is None:
                self.columns = [str(k) for k in data]
                if self.format is Format.csv:
                    self._guarded(self._csv.writerow, self.columns)
            allowed = self.columns
            what = f"the {self.format.value} columns are {allowed} (from the first record or the header)"
            hint = "write .jsonl to keep records with other fields whole, or pass --drop-fields to drop the extras"
        missing = [k for k in allowed if k not in data]
        if missing:
            raise OutputError(
                f"{self.path}: {self._where(line)} lacks field(s) {missing}; {what}",
                hint="write .jsonl, or give every record the same fields",
            )
        if len(data) != len(allowed):
            if not self.drop_fields:
                extra = [str(k) for k in data if k not in set(allowed)]
                raise OutputError(
                    f"{self.path}: {self._where(line)} has field(s) {extra} that would be lost; {what}", hint=hint
                )
            data = {k: data[k] for k in allowed}
        return data

    def write(self, data: dict[str, Any], *, line: int | None = None) -> None:
        try:
            self._write(self._shape(data, line), line)
        except UnicodeEncodeError as e:  # CSV, text or Parquet: UTF-8 only
            raise self._unencodable(data, line) from e
        self.count += 1

    def _write(self, data: dict[str, Any], line: int | None) -> None:
        if self.format is Format.jsonl:
            try:
                text = json.dumps(data, ensure_ascii=False)
            except (TypeError, ValueError) as e:  # a Parquet timestamp or bytes value; names the type only
                raise OutputError(
                    f"{self.path}: {self._where(line)} cannot be written as JSON ({e})",
                    hint="write .parquet to keep such values",
                ) from e
            try:
                blob = text.encode("utf-8")
            except UnicodeEncodeError:  # an unpaired surrogate (from a \ud800 escape) stays an escape
                blob = json.dumps(data, ensure_ascii=True).encode("ascii")
            self._guarded(self.file.fh.write, blob + b"\n")  # type: ignore[union-attr]
        elif self.format is Format.parquet:
            self._rows.append(data)
            self._lines.append(line)
            if len(self._rows) >= _PARQUET_BATCH:
                self._flush_parquet()
        elif self.format is Format.txt:
            value = data[self.text_field]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            blob = (text.replace("\r\n", " ").replace("\n", " ") + "\n").encode("utf-8")
            self._guarded(self.file.fh.write, blob)  # type: ignore[union-attr]
        else:
            self._guarded(self._csv.writerow, [data[k] for k in self.columns or []])

    def _unencodable(self, data: dict[str, Any], line: int | None) -> InputError:
        field = next((str(k) for k, v in data.items() if not (_encodable(k) and _encodable(v))), None)
        return InputError(
            "holds an unpaired surrogate (a lone \\ud800-\\udfff escape) that UTF-8 cannot write",
            path=self.source,
            line=line,
            field=field,
            hint="write .jsonl, which keeps it as an escape",
        )

    # -- Parquet -------------------------------------------------------------
    def _empty_table(self) -> Any:
        import pyarrow as pa

        return pa.Table.from_pylist([], schema=self.schema)

    def _open_parquet(self, table: Any) -> None:
        import pyarrow.parquet as pq

        self.schema = table.schema
        self._pq = self._guarded(pq.ParquetWriter, self.file.fh, table.schema)

    def _flush_parquet(self) -> None:
        import pyarrow as pa

        if not self._rows:
            return
        try:
            table = pa.Table.from_pylist(self._rows, schema=self.schema)
        except (*_arrow_errors(), UnicodeEncodeError) as e:
            raise self._bad_parquet_row() from e
        if self._pq is None:
            self._open_parquet(table)
        self._guarded(self._pq.write_table, table)
        self._rows, self._lines = [], []

    def _bad_parquet_row(self) -> InputError:
        """The first buffered record whose values do not fit the column types (no value in the message)."""
        import pyarrow as pa

        schema = self.schema if self.schema is not None else _first_schema(self._rows)
        for row, line in zip(self._rows, self._lines):
            for name in schema.names if schema is not None else []:
                try:
                    pa.array([row.get(name)], type=schema.field(name).type)
                except UnicodeEncodeError:
                    return self._unencodable({name: row.get(name)}, line)
                except _arrow_errors():
                    return InputError(
                        f"the value's type differs from the column's ({schema.field(name).type}); Parquet needs "
                        "one type per column",
                        path=self.source,
                        line=line,
                        field=name,
                        hint="write .jsonl, or give the field one type in every record",
                    )
        return InputError(
            "records whose values Parquet cannot store in one table",
            path=self.source,
            line=self._lines[0] if self._lines else None,
            hint="write .jsonl",
        )

    def _verify_parquet(self) -> None:
        import pyarrow.parquet as pq

        assert self.file.tmp is not None
        try:
            rows = pq.ParquetFile(self.file.tmp).metadata.num_rows
        except Exception as e:  # pyarrow: unreadable footer
            self.discard()
            raise self.file.error(e, "the written Parquet file does not read back") from e
        if rows != self.count:
            self.discard()
            raise OutputError(f"{self.path}: {rows} rows read back, {self.count} written; nothing renamed")


def _encodable(value: Any) -> bool:
    """Whether UTF-8 can write every string in a value (an unpaired surrogate cannot)."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError):
        return True
    return True


def _first_schema(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(rows[:1]).schema
    except (*_arrow_errors(), UnicodeEncodeError):
        return None


def _arrow_errors() -> tuple[type[Exception], ...]:
    """What pyarrow raises for values that do not fit a column (no value in our messages)."""
    import pyarrow as pa

    return (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


# --------------------------------------------------------------------------- several outputs


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait while outputs are renamed, so a group is never half committed."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, OSError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Outputs:
    """The files one command writes, committed together.

    Each file is written to its own temporary file; when the block ends cleanly
    every one is finished (flushed, fsynced, verified) and only then are they
    renamed into place. When anything fails, every temporary file is removed and
    every earlier output is left as it was.
    """

    def __init__(self) -> None:
        self._files: list[CorpusWriter | AtomicFile] = []

    def corpus(self, path: str | Path, **kwargs: Any) -> CorpusWriter:
        writer = CorpusWriter(path, **kwargs)
        self._files.append(writer)
        writer.open()
        return writer

    def text(self, path: str | Path, text: str) -> None:
        file = AtomicFile(path)
        self._files.append(file)
        fh = file.open()
        try:
            fh.write(text.encode("utf-8"))
        except OSError as e:
            raise file.error(e) from e

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            for file in self._files:
                file.finish()
        except BaseException:
            self.discard()
            raise
        with _signals_held():
            for i, file in enumerate(self._files):
                try:
                    file.commit()
                except BaseException:
                    for rest in self._files[i + 1 :]:
                        rest.discard()
                    raise

    def discard(self) -> None:
        for file in reversed(self._files):
            file.discard()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a small text file (a report) via a verified temporary file and a rename."""
    with Outputs() as outputs:
        outputs.text(path, text)


# --------------------------------------------------------------------------- distinct files


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def check_distinct(paths: Mapping[str, str | Path | None]) -> None:
    """Refuse (OutputError) when two of one command's files are the same file: the same
    path once links are resolved, or hard links to one file (same device and inode),
    and any output (every role but "input") that `check_target` refuses. `paths` maps a
    role ("input", "output", "report", "quarantine") to a path; the earlier role is the
    one that would be overwritten. `-` (standard input or output) is no file and is skipped."""
    seen: list[tuple[str, Path, Path, tuple[int, int] | None]] = []
    for role, raw in paths.items():
        if raw is None or is_stdio(raw):
            continue
        path = Path(raw)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise OutputError(f"{path}: the {role} path cannot be resolved ({e})") from e
        ident = _identity(path)
        for other_role, other, other_resolved, other_ident in seen:
            if resolved == other_resolved or (ident is not None and ident == other_ident):
                raise OutputError(
                    f"{path}: the {role} would overwrite the {other_role} ({other}): they are the same file",
                    hint=f"choose another path for the {role}",
                )
        seen.append((role, path, resolved, ident))
    for role, raw in paths.items():
        if raw is not None and role != "input" and not is_stdio(raw):
            check_target(raw)


__all__ = [
    "BOM_NOTE",
    "DEFAULT_MAX_CHARS",
    "MAX_JSON_DEPTH",
    "STDIO",
    "TEMP_MARK",
    "TEXT_FIELD",
    "AtomicFile",
    "CorpusReader",
    "CorpusWriter",
    "Format",
    "Outputs",
    "check_distinct",
    "check_target",
    "detect_format",
    "is_stdio",
    "remove_stale_temps",
    "write_text_atomic",
]

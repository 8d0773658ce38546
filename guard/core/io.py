"""Streaming corpus readers and atomic writers for JSONL, CSV, Parquet and text.

Readers yield `Record`s one at a time (bounded memory) and, for a line that
cannot be parsed, a `RecordError` that the caller either raises or
quarantines. Writers write to a temporary file beside the target and rename
it into place only on `commit()`, so a failed run leaves no partial output.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

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
_PARQUET_BATCH = 1024


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


class CorpusReader:
    """Iterates a corpus file as `Record | RecordError`, in file order."""

    def __init__(self, path: str | Path, *, fmt: Format | str | None = None) -> None:
        self.path = Path(path)
        self.format = detect_format(self.path, fmt)
        if not self.path.is_file():
            raise InputError("file not found", path=str(self.path))
        self.columns: list[str] | None = None  # CSV header
        self.schema: Any = None  # Parquet schema
        if self.format is Format.csv:
            self.columns = self._csv_header()
        elif self.format is Format.parquet:
            self.schema = self._parquet_file().schema_arrow

    def __iter__(self) -> Iterator[Record | RecordError]:
        produced = 0
        for item in getattr(self, f"_iter_{self.format.value}")():
            produced += 1
            yield item
        if produced == 0:
            raise InputError("the file holds no records", path=str(self.path), hint="is it empty?")

    # -- JSONL ---------------------------------------------------------------
    def _lines(self) -> Iterator[tuple[int, str | RecordError]]:
        """Non-blank physical lines, decoded, with their 1-based numbers."""
        with open(self.path, "rb") as fh:
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
            if not isinstance(data, dict):
                yield RecordError(lineno, None, f"a JSON {type(data).__name__}, not an object", text)
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

    def _csv_header(self) -> list[str]:
        with open(self.path, "rb") as fh:
            errors: list[RecordError] = []
            reader = csv.reader(self._decoded_lines(fh, errors))
            header = next(reader, None)
            if errors:
                raise InputError(errors[0].reason, path=str(self.path), line=1)
        if not header:
            raise InputError("the file holds no header row", path=str(self.path), hint="is it empty?")
        return header

    def _iter_csv(self) -> Iterator[Record | RecordError]:
        assert self.columns is not None
        width = len(self.columns)
        index = 0
        with open(self.path, "rb") as fh:
            errors: list[RecordError] = []
            reader = csv.reader(self._decoded_lines(fh, errors))
            next(reader)
            start = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    yield RecordError(start, None, f"bad CSV row: {e}", None)
                    start = reader.line_num + 1
                    continue
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
            return pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise InputError(f"not a readable Parquet file: {e}", path=str(self.path)) from e

    def _iter_parquet(self) -> Iterator[Record | RecordError]:
        index = 0
        for batch in self._parquet_file().iter_batches(batch_size=_PARQUET_BATCH):
            for row in batch.to_pylist():
                yield Record(index, index + 1, row)
                index += 1

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


class CorpusWriter:
    """Writes records in one format to `path` atomically.

    Use as a context manager: the temporary file is renamed onto `path` when the
    block ends cleanly and deleted when it raises.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: Format | str | None = None,
        columns: list[str] | None = None,
        schema: Any = None,
    ) -> None:
        self.path = Path(path)
        self.format = detect_format(self.path, fmt)
        self.columns = columns
        self.schema = schema
        self._tmp: Path | None = None
        self._fh: Any = None
        self._csv: Any = None
        self._pq: Any = None
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def __enter__(self) -> CorpusWriter:
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"{self.path}: the folder {parent} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        self._tmp = Path(tmp)
        if self.format is Format.parquet:
            os.close(fd)
        else:
            self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
            if self.format is Format.csv:
                self._csv = csv.DictWriter(self._fh, fieldnames=self.columns or [], lineterminator="\n")
                if self.columns:
                    self._csv.writeheader()
        return self

    def write(self, data: dict[str, Any]) -> None:
        if self.format is Format.jsonl:
            self._fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        elif self.format is Format.txt:
            self._fh.write(str(data[TEXT_FIELD]).replace("\n", " ") + "\n")
        elif self.format is Format.csv:
            if self._csv.fieldnames == []:
                self._csv.fieldnames = list(data)
                self._csv.writeheader()
            self._csv.writerow(data)
        else:
            self._rows.append(data)
            if len(self._rows) >= _PARQUET_BATCH:
                self._flush_parquet()
        self.count += 1

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self.schema)
        if self._pq is None:
            self.schema = table.schema
            self._pq = pq.ParquetWriter(self._tmp, table.schema)
        self._pq.write_table(table)
        self._rows = []

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self.format is Format.parquet:
                self._flush_parquet()
                if self._pq is None and exc_type is None:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    pq.write_table(pa.Table.from_pylist([], schema=self.schema), self._tmp)
                if self._pq is not None:
                    self._pq.close()
            elif self._fh is not None:
                self._fh.close()
        finally:
            assert self._tmp is not None
            if exc_type is None:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a small text file (a report) via a temporary file and rename."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: the folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["TEXT_FIELD", "CorpusReader", "CorpusWriter", "Format", "detect_format", "write_text_atomic"]

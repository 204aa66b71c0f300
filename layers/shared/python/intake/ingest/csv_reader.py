"""CSV: header mapping, sniffed delimiter, quoted newlines, BOM, invalid UTF-8 at its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from intake.ingest.records import FileLevelError, ReadEvent
from intake.models.domain import RowError

DELIMITERS = (",", ";", "\t", "|")
READ_BUFFER = 1024 * 1024
MAX_RECORD_CHARS = 1024 * 1024


class CsvRecords:
    """The records of a CSV stream as `(line, cells)`, cells in `columns` order.

    Rows stay lists: the import type validates them positionally against the header (no dict
    per row), which is what keeps parsing + validation fast. `columns` is known once iteration
    has started (the header is read, and checked, inside the iteration, so a bad header is a
    FileLevelError where every other reading error is).
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        required: tuple[str, ...],
        delimiter: str | None = None,
        max_record_chars: int = MAX_RECORD_CHARS,
    ) -> None:
        self._stream = stream
        self._required = required
        self._delimiter = delimiter
        self._max = max_record_chars
        self.columns: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[ReadEvent]:
        bounded = io.BufferedReader(LineBoundedReader(self._stream, self._max), READ_BUFFER)
        # surrogateescape keeps invalid bytes as lone surrogates, so a bad byte costs its row,
        # not the file; utf-8-sig drops a BOM.
        text = io.TextIOWrapper(bounded, encoding="utf-8-sig", errors="surrogateescape", newline="")
        first = text.readline()
        if not first.strip():
            raise FileLevelError(
                RowError(line=1, code="missing_header", message="the file is empty")
            )
        delimiter = self._delimiter or sniff_delimiter(first)
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
        _check_header(header, self._required)
        self.columns = tuple(header)
        width = len(header)
        csv.field_size_limit(self._max)
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        consumed = 1  # lines read so far; the next record starts on the line after
        try:
            for row in reader:
                line = consumed + 1
                consumed = reader.line_num + 1
                if not row:  # a blank line
                    continue
                if not "".join(row).isascii():
                    bad = _undecodable(row, header)
                    if bad is not None:
                        yield RowError(
                            line=line,
                            column=bad[0],
                            field=bad[1],
                            code="invalid_encoding",
                            message="the row is not valid UTF-8",
                        )
                        continue
                if len(row) != width:
                    yield RowError(
                        line=line,
                        code="wrong_column_count",
                        message=f"expected {width} columns, found {len(row)}",
                    )
                    continue
                yield line, row
        except csv.Error as exc:  # a quoted field that never ends grows past the limit
            raise FileLevelError(_too_large(consumed + 1, self._max)) from exc


def read_csv(
    stream: IO[bytes],
    *,
    required: tuple[str, ...],
    delimiter: str | None = None,
    max_record_chars: int = MAX_RECORD_CHARS,
) -> CsvRecords:
    return CsvRecords(
        stream, required=required, delimiter=delimiter, max_record_chars=max_record_chars
    )


class LineBoundedReader(io.RawIOBase):
    """Refuses a line longer than `limit` bytes, checked once per chunk (not once per line),
    so a file without line breaks cannot make the text layer buffer it whole."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        self._source = source
        self._limit = limit
        self._since_newline = 0
        self._lines = 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._source.read(len(buffer))
        n = len(chunk)
        last = chunk.rfind(b"\n")
        if last < 0:
            self._since_newline += n
        else:
            self._since_newline = n - last - 1
        if self._since_newline > self._limit:
            raise FileLevelError(_too_large(self._lines + chunk.count(b"\n"), self._limit))
        self._lines += chunk.count(b"\n") if last >= 0 else 0
        buffer[:n] = chunk
        return n


def _too_large(line: int, limit: int) -> RowError:
    return RowError(
        line=line,
        code="record_too_large",
        message=f"a line or record is longer than {limit} characters",
    )


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_header(header: list[str], required: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise FileLevelError(
                RowError(line=1, column=i, code="empty_column_name", message="a column has no name")
            )
        if name in seen:
            raise FileLevelError(
                RowError(
                    line=1, column=i, field=name, code="duplicate_column", message="column repeated"
                )
            )
        seen.add(name)
    for name in required:
        if name not in seen:
            raise FileLevelError(
                RowError(
                    line=1,
                    field=name,
                    code="missing_column",
                    message=f"the header has no {name} column",
                )
            )


def _undecodable(row: list[str], header: list[str]) -> tuple[int, str | None] | None:
    for i, value in enumerate(row):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return i + 1, header[i] if i < len(header) else None
    return None

"""CSV: header mapping, sniffed delimiter, quoted newlines, BOM, invalid UTF-8 at its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from intake.ingest.records import FileLevelError, ReadEvent
from intake.models.domain import RowError

DELIMITERS = (",", ";", "\t", "|")
MAX_RECORD_CHARS = 1024 * 1024


def read_csv(
    stream: IO[bytes],
    *,
    required: tuple[str, ...],
    delimiter: str | None = None,
    max_record_chars: int = MAX_RECORD_CHARS,
) -> Iterator[ReadEvent]:
    # surrogateescape keeps invalid bytes as lone surrogates, so a bad byte costs its row,
    # not the file; utf-8-sig drops a BOM.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    first = text.readline(max_record_chars + 1)
    if len(first) > max_record_chars:
        raise FileLevelError(_too_large(1, max_record_chars))
    if not first.strip():
        raise FileLevelError(RowError(line=1, code="missing_header", message="the file is empty"))
    delimiter = delimiter or sniff_delimiter(first)
    header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
    _check_header(header, required)
    width = len(header)
    csv.field_size_limit(max_record_chars)
    reader = csv.reader(_bounded_lines(text, max_record_chars), delimiter=delimiter, strict=False)
    reader_line = 1  # lines consumed so far; the next record starts on the line after
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a quoted field that never ends grows past the limit
            raise FileLevelError(_too_large(reader_line + 1, max_record_chars)) from exc
        line = reader_line + 1
        reader_line = reader.line_num + 1
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
        if "" in row:  # empty cells mean "no value"
            yield line, {k: v for k, v in zip(header, row, strict=True) if v}
        else:
            yield line, dict(zip(header, row, strict=True))


def _bounded_lines(text: IO[str], limit: int) -> Iterator[str]:
    """Lines of at most `limit` characters: a file without line breaks cannot fill memory."""
    readline = text.readline
    number = 1
    while line := readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise FileLevelError(_too_large(number, limit))
        yield line


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

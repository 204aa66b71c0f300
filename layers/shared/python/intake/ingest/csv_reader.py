"""CSV: sniffed delimiter, quoted newlines, encodings, bad bytes and bad rows at their line.

The reader knows nothing of fields: it hands the header as written (`columns`) and rows of
cells; `import_types.mapping.resolve_columns` decides what each column feeds.

Encodings: UTF-8 with or without a BOM and UTF-16 with a BOM are read without being declared;
any other encoding is read when the mapping declares it. Undeclared non-UTF-8 bytes are not
guessed into text (a Windows-1252 and a Windows-1250 file hold the same bytes for different
names): each row they spoil is an `invalid_encoding` error that names the encoding the file
most likely has (charset-normalizer), so the fix is one word in the mapping.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import IO

from intake.ingest.records import FileLevelError, ReadEvent
from intake.models.domain import RowError

DELIMITERS = (",", ";", "\t", "|")
READ_BUFFER = 1024 * 1024
MAX_RECORD_CHARS = 1024 * 1024
# How much of the file's start names its likely encoding when its bytes are not UTF-8.
GUESS_BYTES = 64 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_UNDECODED = re.compile("[\ud800-\udfff]")
_SEP_LINE = re.compile(r"^sep=(.)\r?\n?$", re.IGNORECASE)
_SINGLE_BYTE = frozenset(
    {"windows-1250", "windows-1251", "windows-1252", "iso-8859-1", "iso-8859-2", "iso-8859-15",
     "mac-roman", "cp850"}
)  # fmt: skip


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
        delimiter: str | None = None,
        encoding: str | None = None,
        max_record_chars: int = MAX_RECORD_CHARS,
    ) -> None:
        self._stream = stream
        self._delimiter = delimiter
        self._encoding = encoding
        self._max = max_record_chars
        self.columns: tuple[str, ...] | None = None
        self.encoding: str | None = None  # the encoding read with, once iteration started
        self._likely: str | None = None

    def __iter__(self) -> Iterator[ReadEvent]:
        bounded = io.BufferedReader(LineBoundedReader(self._stream, self._max), READ_BUFFER)
        head = bounded.peek(GUESS_BYTES)[:GUESS_BYTES]
        encoding = _encoding_of(head, self._encoding)
        # utf-8-sig drops a BOM; surrogateescape keeps invalid bytes as lone surrogates, so a
        # bad byte costs its row, not the file.
        codec = "utf-8-sig" if encoding == "utf-8" else encoding
        self.encoding = encoding
        text = io.TextIOWrapper(bounded, encoding=codec, errors="surrogateescape", newline="")
        first = text.readline()
        header_line = 1
        stated = _SEP_LINE.match(first)
        if stated:  # `sep=;`: Excel's hint line above the header
            first, header_line = text.readline(), 2
        if not first.strip():
            raise FileLevelError(
                RowError(line=header_line, code="missing_header", message="the file is empty")
            )
        delimiter = self._delimiter or (stated[1] if stated else sniff_delimiter(first))
        header = next(csv.reader([first], delimiter=delimiter))
        # Bad bytes in a header cell are reported (line 1) and kept out of the names, which
        # the result lists and DynamoDB stores (it refuses lone surrogates).
        self.columns = tuple(_UNDECODED.sub("\ufffd", h.strip()) for h in header)
        width = len(header)
        csv.field_size_limit(self._max)
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        consumed = header_line  # lines read so far; the next record starts on the line after
        if not _decodes(head, encoding):
            self._likely = likely_encoding(head)
        if _has_surrogates(first):
            yield self._undecodable_error(header_line, 1, None, first)
        try:
            for row in reader:
                line = consumed + 1
                consumed = reader.line_num + header_line
                if not row or (not row[0] and not any(row)):
                    continue  # a blank line, or a row of empty cells (`,,,,` Excel leaves)
                if not "".join(row).isascii():
                    bad = _undecodable(row)
                    if bad is not None:
                        column = bad + 1
                        name = self.columns[bad] if bad < width else None
                        yield self._undecodable_error(line, column, name, row[bad])
                        continue
                if len(row) != width:
                    yield _wrong_width(line, row, width, delimiter)
                    continue
                yield line, row
        except csv.Error as exc:  # a quoted field that never ends grows past the limit
            raise FileLevelError(_too_large(consumed + 1, self._max)) from exc

    def _undecodable_error(self, line: int, column: int, name: str | None, cell: str) -> RowError:
        if self._likely is None:  # the file's start was clean: guess from the spoilt cell
            self._likely = likely_encoding(cell.encode("utf-8", "surrogateescape")) or ""
        message = f"the row is not valid {self.encoding.upper() if self.encoding else 'UTF-8'}"
        if self._likely:
            message += (
                f"; the file is most likely {self._likely}: declare it as the mapping's encoding"
                f' ("mapping": {{"encoding": "{self._likely}"}})'
            )
        return RowError(
            line=line, column=column, field=name, code="invalid_encoding", message=message
        )


def read_csv(
    stream: IO[bytes],
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    max_record_chars: int = MAX_RECORD_CHARS,
) -> CsvRecords:
    return CsvRecords(
        stream, delimiter=delimiter, encoding=encoding, max_record_chars=max_record_chars
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


def _encoding_of(head: bytes, declared: str | None) -> str:
    """The encoding to read with. A byte-order mark says it outright, whatever was declared.
    Non-ASCII text that decodes as UTF-8 is UTF-8 even when a single-byte encoding was
    declared (a partner whose export moved to UTF-8 under an old profile): read as
    windows-1252 it would store Jürgen as JÃ¼rgen with no error. The other way round never
    happens by chance: single-byte accented text is almost never valid UTF-8."""
    if head[:3] == codecs.BOM_UTF8:
        return "utf-8"
    if head[:2] in _UTF16_BOMS:
        return "utf-16"
    if declared in _SINGLE_BYTE and not head.isascii() and _decodes(head, "utf-8"):
        return "utf-8"
    return declared or "utf-8"


def _wrong_width(line: int, row: list[str], width: int, delimiter: str) -> RowError:
    if len(row) == 1 and width > 1 and delimiter in row[0]:
        # `"12,John,Doe,..."`: a tool quoted the whole line instead of its fields.
        return RowError(
            line=line,
            code="quoted_row",
            message=f"the whole row is quoted as one cell; expected {width} columns",
        )
    return RowError(
        line=line,
        code="wrong_column_count",
        message=f"expected {width} columns, found {len(row)}",
    )


def _has_surrogates(text: str) -> bool:
    return not text.isascii() and _undecodable([text]) is not None


def _undecodable(row: list[str]) -> int | None:
    """The index of the first cell holding bytes the encoding could not decode."""
    for i, value in enumerate(row):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return i
    return None


def _decodes(head: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(head, final=False)  # a character cut at the sample's end is fine
    except UnicodeDecodeError:
        return False
    return True


# charset-normalizer's names -> the names a mapping declares (models/mapping.py Encoding).
_DECLARED_NAMES = {
    "cp1250": "windows-1250",
    "cp1251": "windows-1251",
    "cp1252": "windows-1252",
    "latin_1": "iso-8859-1",
    "iso8859_2": "iso-8859-2",
    "iso8859_15": "iso-8859-15",
    "mac_roman": "mac-roman",
    "utf_16": "utf-16",
    "utf_8": "utf-8",
}


_CANDIDATES = [name for name in _DECLARED_NAMES if name not in ("utf_8", "utf_16")]
_PREFERRED = "cp1252"


def likely_encoding(sample: bytes) -> str | None:
    """The encoding charset-normalizer finds most likely for `sample`, as a mapping names it.

    Only encodings a mapping can declare are considered. Short Western text decodes without
    chaos in several of them (Müller is the same bytes in windows-1250 and windows-1252);
    among equally clean readings, windows-1252 (what Excel writes on Western Windows) wins.
    """
    from charset_normalizer import from_bytes  # only once a file is not UTF-8: off cold start

    matches = from_bytes(sample, cp_isolation=_CANDIDATES)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if _PREFERRED in match.could_be_from_charset and match.chaos <= best.chaos:
            return _DECLARED_NAMES[_PREFERRED]
    return _DECLARED_NAMES.get(best.encoding, best.encoding.replace("_", "-"))

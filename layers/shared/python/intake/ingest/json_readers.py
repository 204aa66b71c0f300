"""JSON Lines (one record per line) and JSON (an array, or an object with a records array).

Both stream with bounded memory and locate everything: a record's physical line, and the line
and column of a syntax error. JSON documents are walked with the standard library's C decoder
(`raw_decode`, one element at a time over a sliding buffer); ijson was the first choice but
reports no positions (docs/decisions.md).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from intake.ingest.records import FileLevelError, RawRecord, ReadEvent
from intake.models.domain import RowError

MAX_RECORD_BYTES = 1024 * 1024
CHUNK_CHARS = 1024 * 1024
_WS = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


def read_jsonl(
    stream: IO[bytes], *, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ReadEvent]:
    line_no = 0
    while raw := stream.readline(max_record_bytes + 1):
        line_no += 1
        if len(raw) > max_record_bytes:
            raise FileLevelError(_too_large(line_no, max_record_bytes))
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except UnicodeDecodeError as exc:
            yield RowError(
                line=line_no, column=exc.start + 1, code="invalid_encoding", message="not UTF-8"
            )
            continue
        except json.JSONDecodeError as exc:
            yield RowError(line=line_no, column=exc.colno, code="invalid_json", message=exc.msg)
            continue
        if not isinstance(value, dict):
            yield RowError(line=line_no, code="not_an_object", message="a record must be an object")
            continue
        yield RawRecord(line_no, _present(value))


def _present(record: dict[str, Any]) -> dict[str, Any]:
    """Empty strings mean "no value", as an empty CSV cell does."""
    return {k: v for k, v in record.items() if v != ""}


def read_json(
    stream: IO[bytes], *, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ReadEvent]:
    """Records of `[...]` or of the `records` array of `{...}`; other keys are skipped."""
    scanner = _Scanner(stream, max_record_bytes)
    first = scanner.peek()
    if first == "[":
        scanner.take("[")
        yield from _elements(scanner)
    elif first == "{":
        yield from _records_member(scanner)
    else:
        scanner.fail("expected a JSON array or an object with a records array")
    if scanner.peek() != "":
        scanner.fail("unexpected data after the end of the document")


def _records_member(scanner: _Scanner) -> Iterator[ReadEvent]:
    scanner.take("{")
    found = False
    if scanner.peek() == "}":
        scanner.take("}")
    else:
        while True:
            key, _ = scanner.value()
            if not isinstance(key, str):
                scanner.fail("object keys must be strings")
            scanner.take(":")
            if key == "records" and not found and scanner.peek() == "[":
                found = True
                scanner.take("[")
                yield from _elements(scanner)
            else:
                scanner.value()  # another member: read and dropped
            if scanner.take_one_of(",}") == "}":
                break
    if not found:
        raise FileLevelError(
            RowError(line=1, code="missing_records", message="the object has no records array")
        )


def _elements(scanner: _Scanner) -> Iterator[ReadEvent]:
    if scanner.peek() == "]":
        scanner.take("]")
        return
    while True:
        value, line = scanner.value()
        if isinstance(value, dict):
            yield RawRecord(line, _present(value))
        else:
            yield RowError(line=line, code="not_an_object", message="a record must be an object")
        if scanner.take_one_of(",]") == "]":
            return


class _Scanner:
    """A sliding text buffer over a byte stream that knows the line and column of its cursor."""

    def __init__(self, stream: IO[bytes], max_record_bytes: int) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._max = max_record_bytes
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line of _pos
        self._line_start = 0  # buffer index where that line starts (negative once dropped)
        self._bytes_line = 1  # lines decoded so far, for locating invalid UTF-8

    # -- reading ---------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append the next chunk; False at the end (the buffer is then left as it was)."""
        if self._eof:
            return False
        raw = self._stream.read(CHUNK_CHARS)
        try:
            text = self._decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            line = self._bytes_line + raw.count(b"\n", 0, exc.start)
            raise FileLevelError(
                RowError(line=line, code="invalid_encoding", message="the file is not valid UTF-8")
            ) from None
        if not raw:
            self._eof = True
        if not text:
            return not self._eof
        self._bytes_line += raw.count(b"\n")
        # Drop what was consumed, keep the rest.
        self._line_start -= self._pos
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _advance(self, end: int) -> None:
        newlines = self._buf.count("\n", self._pos, end)
        if newlines:
            self._line += newlines
            self._line_start = self._buf.rfind("\n", self._pos, end) + 1
        self._pos = end

    def _skip_ws(self) -> None:
        while True:
            self._advance(_WS.match(self._buf, self._pos).end())  # type: ignore[union-attr]
            if self._pos < len(self._buf) or not self._fill():
                return

    # -- tokens ----------------------------------------------------------------------------

    def peek(self) -> str:
        self._skip_ws()
        return self._buf[self._pos : self._pos + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self._advance(self._pos + 1)

    def take_one_of(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            self.fail(f"expected one of {' '.join(repr(c) for c in chars)}")
        self._advance(self._pos + 1)
        return char

    def value(self) -> tuple[Any, int]:
        """Decode the value at the cursor; returns it with the line it starts on."""
        self._skip_ws()
        line = self._line
        start = self._pos
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos > self._max:
                    raise FileLevelError(_too_large(line, self._max)) from None
                if self._fill():
                    start = 0
                    continue
                self.fail(exc.msg, at=exc.pos)
            # A number or literal that ends with the buffer may go on in the next chunk.
            if end == len(self._buf) and not self._eof and self._fill():
                start = 0  # the buffer was compacted: the value now starts at its head
                continue
            if end - start > self._max:
                raise FileLevelError(_too_large(line, self._max))
            self._advance(end)
            return value, line

    def fail(self, message: str, *, at: int | None = None) -> Any:
        at = self._pos if at is None else at
        line = self._line + self._buf.count("\n", self._pos, at)
        last_newline = self._buf.rfind("\n", self._pos, at)
        start = last_newline + 1 if last_newline >= 0 else self._line_start
        raise FileLevelError(
            RowError(line=line, column=at - start + 1, code="invalid_json", message=message)
        )


def _too_large(line: int, limit: int) -> RowError:
    return RowError(
        line=line, code="record_too_large", message=f"a record is larger than {limit} bytes"
    )

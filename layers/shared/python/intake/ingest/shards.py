"""Cutting one large object into byte-range shards at record boundaries (sharded runs).

A planner reads the object once, sequentially, in bounded memory (one chunk plus at most one
unfinished record), and returns the shards: byte ranges that each hold whole records, with the
physical line of each range's first byte. A shard is read alone with the same readers as a
whole file (`open_shard` gives the bytes to hand them) and `Shard.line_in_file` turns the lines
they report into the file's lines. Nothing here calls AWS: the caller reads the object and
opens the ranges (S3 GetObject with a Range header).

Where each format is cut (docs/decisions.md, "Sharding: where shards are cut"):
- CSV: after a record's line break, exactly where Python's csv reader (as csv_reader.py runs
  it) ends a record: quote-aware (RFC 4180, a doubled `""` keeps the field open), and a quote
  that does not open a field is a plain character, as the reader takes it. Every shard is read
  after the file's header bytes (BOM, an Excel `sep=` line, the header row).
- JSON Lines: after any `\\n` (the reader's line break).
- A JSON array: after a comma between two top-level elements, found by a streaming scan that
  tracks strings, escapes and nesting. A shard's bytes are a comma-separated element list,
  read wrapped in `[` `]`; the first shard keeps the document's start, the last its end.
- gzip and ZIP members: `plan_restaged` copies the inflated bytes to a writable object while
  planning them, in one pass; the shards index the staged (plain) object.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import IO, Protocol

from intake.ingest.csv_reader import _SEP_LINE, GUESS_BYTES, _encoding_of, sniff_delimiter

MiB = 1024 * 1024
SHARD_SIZE = 64 * MiB
CHUNK_SIZE = 4 * MiB
# A record still unfinished after this many bytes stops the cutting: the rest of the object
# is the last shard. It bounds the planner's memory; the reader refuses lines over 1 MiB, so
# such a record fails the run wherever it is read, and at the same line.
MAX_RECORD_BYTES = 16 * MiB

_CR, _LF, _QUOTE, _BACKSLASH, _COMMA = 13, 10, 34, 92, 44
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


class NotShardable(ValueError):
    """The object cannot be cut by byte ranges: run it whole (the reason says why)."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Shard:
    """Bytes [start, end) of the object, read as: object[0:head_end] + prefix + range + suffix.

    `first_line` is the physical line of byte `start` (the file's line 1 is its first line,
    the CSV header's). `head_lines` is how many lines come before the range when it is read
    that way (the CSV header's; 0 for JSON, whose `[` prefix has no line break).
    """

    index: int
    start: int
    end: int
    first_line: int
    head_end: int = 0  # CSV: the header's bytes (with a BOM and a `sep=` line) end here
    head_lines: int = 0
    prefix: bytes = b""  # JSON array: b"[" before every shard but the first
    suffix: bytes = b""  # JSON array: b"]" after every shard but the last
    encoding: str | None = None  # CSV: what the whole file is read with
    delimiter: str | None = None  # CSV: the file's delimiter (declared, `sep=` or sniffed)

    @property
    def size(self) -> int:
        return self.end - self.start

    def line_in_file(self, line: int) -> int:
        """The file's line for a line a reader reports while reading this shard."""
        return line - self.head_lines + self.first_line - 1

    def to_item(self) -> dict[str, object]:
        """The shard as JSON values (a state machine's map item), without the defaults."""
        item: dict[str, object] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value == spec.default:
                continue
            # `prefix` and `suffix` are ASCII brackets: text in JSON.
            item[spec.name] = value.decode("ascii") if isinstance(value, bytes) else value
        return item

    @classmethod
    def from_item(cls, item: dict[str, object]) -> Shard:
        values = dict(item)
        for name in ("prefix", "suffix"):
            if name in values:
                values[name] = str(values[name]).encode("ascii")
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def whole(cls, size: int) -> Shard:
        """The whole object as one shard (what cannot be cut is run in one piece)."""
        return cls(index=0, start=0, end=size, first_line=1)


def merge_shards(shards: list[Shard], at_most: int) -> list[Shard]:
    """At most `at_most` shards: runs of consecutive shards joined into one (as many in each),
    when there are more. A joined shard reads its first shard's head and prefix, the bytes from
    the first's start to the last's end (for a JSON array, the commas between them with it),
    and the last's suffix: what the planner would have cut with a larger shard size. For a
    stream whose size is unknown until it is read (a gzip upload, inflated as it is planned)."""
    if at_most < 1:
        raise ValueError("at_most must be positive")
    if len(shards) <= at_most:
        return shards
    per = -(-len(shards) // at_most)  # ceil
    return [
        replace(group[0], index=index, end=group[-1].end, suffix=group[-1].suffix)
        for index, group in enumerate(
            shards[start : start + per] for start in range(0, len(shards), per)
        )
    ]


def open_shard(shard: Shard, open_range: Callable[[int, int], IO[bytes]]) -> IO[bytes]:
    """The bytes a reader is handed for one shard, streamed. `open_range(start, end)` opens
    bytes [start, end) of the object (for S3: GetObject with `Range: bytes=start-(end-1)`)."""
    parts: list[bytes | tuple[int, int]] = []
    if shard.head_end:
        parts.append((0, shard.head_end))
    parts += [shard.prefix, (shard.start, shard.end), shard.suffix]
    return io.BufferedReader(_Chain(parts, open_range), CHUNK_SIZE)


class _Chain(io.RawIOBase):
    def __init__(
        self, parts: list[bytes | tuple[int, int]], open_range: Callable[[int, int], IO[bytes]]
    ) -> None:
        self._parts = iter(parts)
        self._open = open_range
        self._current: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            if self._current is None:
                part = next(self._parts, None)
                if part is None:
                    return 0
                if isinstance(part, bytes):
                    self._current = io.BytesIO(part)
                elif part[1] > part[0]:
                    self._current = self._open(*part)
                continue
            chunk = self._current.read(len(buffer))
            if chunk:
                buffer[: len(chunk)] = chunk
                return len(chunk)
            self._current.close()
            self._current = None


class _Shards:
    """The shards found so far; a planner cuts, then finishes at the object's size."""

    def __init__(self, template: Shard, *, json_array: bool = False) -> None:
        self.done: list[Shard] = []
        self.start = template.start
        self.first_line = template.first_line
        self._template = template
        self._json_array = json_array

    def cut(self, at: int, next_line: int, *, skip: int = 0) -> None:
        """End the current shard at `at`; the next starts at `at + skip` on `next_line`."""
        self.done.append(self._shard(at, last=False))
        self.start, self.first_line = at + skip, next_line

    def finish(self, size: int) -> list[Shard]:
        self.done.append(self._shard(max(size, self.start), last=True))
        return self.done

    def _shard(self, end: int, *, last: bool) -> Shard:
        index = len(self.done)
        shard = replace(
            self._template, index=index, start=self.start, end=end, first_line=self.first_line
        )
        if self._json_array:
            shard = replace(shard, prefix=b"[" if index else b"", suffix=b"" if last else b"]")
        return shard


def _drain(stream: Readable, chunk_size: int) -> int:
    total = 0
    while chunk := stream.read(chunk_size):
        total += len(chunk)
    return total


def _line_breaks(buf: bytes, start: int, end: int) -> int:
    """Physical line breaks as the CSV reader's text layer counts them: LF, CRLF and CR."""
    return (
        buf.count(b"\n", start, end) + buf.count(b"\r", start, end) - buf.count(b"\r\n", start, end)
    )


def _check_sizes(shard_size: int, chunk_size: int) -> None:
    if shard_size < 1 or chunk_size < 1:
        raise ValueError("shard_size and chunk_size must be positive")


# -- CSV ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _csv_patterns(delimiter: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """(one record, a run of records), each ending at its line break, as the csv reader reads
    them (strict=False, doublequote): a field opening with a quote runs to its closing quote
    (`""` inside keeps it open) and then, unquoted, to a delimiter or a line break; a field
    that does not open with a quote holds any quote as a plain character. Atomic groups and
    possessive repeats: a record never matches in two ways, so the engine never backtracks."""
    d = re.escape(delimiter)
    cls = re.escape(delimiter.decode("ascii"))
    field = rb'(?>"(?:[^"]++|"")*+(?:"[^' + cls.encode() + rb"\r\n]*+)?"
    field += rb'|[^"' + cls.encode() + rb"\r\n][^" + cls.encode() + rb"\r\n]*+|)"
    record = field + rb"(?:" + d + field + rb")*+(?:\r\n|\r|\n)"
    return re.compile(record), re.compile(rb"(?:" + record + rb")*+")


def plan_csv(
    stream: Readable,
    *,
    shard_size: int = SHARD_SIZE,
    encoding: str | None = None,
    delimiter: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> list[Shard]:
    """Shards of a CSV stream, each cut right after the line break that ends the first record
    ending at or past `shard_size` bytes from the shard's start.

    `encoding` and `delimiter` are the mapping's, as `read_csv` takes them (the delimiter is
    otherwise taken from a `sep=` line or sniffed from the header, as the reader does). UTF-8
    and single-byte encodings are scanned as bytes (quotes, delimiters and line breaks are
    ASCII bytes there, never part of another character); UTF-16 raises NotShardable.
    """
    _check_sizes(shard_size, chunk_size)
    buf = b""
    eof = False

    def more() -> bool:
        nonlocal buf, eof
        chunk = b"" if eof else stream.read(chunk_size)
        eof = not chunk
        buf += chunk
        return bool(chunk)

    while len(buf) < GUESS_BYTES and more():
        pass
    resolved = _encoding_of(buf[:GUESS_BYTES], encoding)
    if resolved.startswith("utf-16"):
        raise NotShardable("a UTF-16 CSV is not cut into byte ranges: run it whole")
    codec = resolved  # utf-8 (a BOM is skipped below) or a single-byte encoding

    def line_end(start: int) -> int:
        """Where the physical line starting at `start` ends (after its line break)."""
        scanned = start
        while True:
            lf, cr = buf.find(b"\n", scanned), buf.find(b"\r", scanned)
            ends = [i for i in (lf, cr) if i >= 0]
            if ends:
                first = min(ends)
                if buf[first] == _LF:
                    return first + 1
                if first + 1 < len(buf) or eof:
                    return first + 2 if buf[first + 1 : first + 2] == b"\n" else first + 1
            elif eof:
                return len(buf)
            if len(buf) - start > max_record_bytes:
                raise NotShardable(f"the header is longer than {max_record_bytes} bytes")
            scanned = max(start, len(buf) - 1)  # a CR at the end is looked at again
            more()

    bom = len(codecs.BOM_UTF8) if buf.startswith(codecs.BOM_UTF8) else 0
    head_end = line_end(bom)
    first = buf[bom:head_end].decode(codec, "surrogateescape")
    head_lines = 1
    stated = _SEP_LINE.match(first)
    if stated:  # Excel's `sep=;` line above the header, as the reader takes it
        header_start, head_end, head_lines = head_end, line_end(head_end), 2
        first = buf[header_start:head_end].decode(codec, "surrogateescape")
    delimiter = delimiter or (stated[1] if stated else sniff_delimiter(first))
    raw_delimiter = delimiter.encode(codec, "surrogateescape")
    if len(raw_delimiter) != 1 or not raw_delimiter.isascii() or raw_delimiter in b'"\r\n':
        raise NotShardable(f"the delimiter {delimiter!r} is not one ASCII byte")
    one, run = _csv_patterns(raw_delimiter)

    shards = _Shards(
        Shard(
            index=0,
            start=head_end,
            end=head_end,
            first_line=head_lines + 1,
            head_end=head_end,
            head_lines=head_lines,
            encoding=resolved,
            delimiter=delimiter,
        )
    )
    base = 0  # the object's offset of buf[0]
    pos = head_end  # in buf: where the next record starts
    counted, line = pos, head_lines + 1  # line breaks counted up to buf[counted]: line is its line
    target = shards.start + shard_size
    while True:
        # A CR that ends the buffer may be half of a CRLF: the next chunk says.
        limit = len(buf) - 1 if not eof and buf.endswith(b"\r") else len(buf)
        while True:
            cut_at = target - base
            if pos >= cut_at:
                if pos >= len(buf):
                    break  # cut when the next byte exists: no empty last shard
                line += _line_breaks(buf, counted, pos)
                counted = pos
                shards.cut(base + pos, line)
                target = base + pos + shard_size
                continue
            # Whole records up to the cut target (or the buffer's end), all in one C call.
            end = run.match(buf, pos, min(limit, cut_at)).end()  # type: ignore[union-attr]
            if end > pos and buf[end - 1] == _CR and buf[end : end + 1] == b"\n":
                end += 1  # the target fell between a CR and its LF
            if end == pos and cut_at < limit:
                record = one.match(buf, pos, limit)  # the one record across the target
                end = record.end() if record else pos
            if end == pos:
                break  # the next record goes on in the next chunk
            pos = end
        if eof:
            return shards.finish(base + len(buf))
        line += _line_breaks(buf, counted, pos)
        buf, base, pos, counted = buf[pos:], base + pos, 0, 0
        if len(buf) > max_record_bytes:  # one record this long: the rest is the last shard
            return shards.finish(base + len(buf) + _drain(stream, chunk_size))
        more()


# -- JSON Lines ---------------------------------------------------------------------------------


def plan_jsonl(
    stream: Readable, *, shard_size: int = SHARD_SIZE, chunk_size: int = CHUNK_SIZE
) -> list[Shard]:
    """Shards of a JSON Lines stream, each cut after the first `\\n` at or past `shard_size`
    bytes from its start. Every line is a record to the reader, so any line break is one."""
    _check_sizes(shard_size, chunk_size)
    shards = _Shards(Shard(index=0, start=0, end=0, first_line=1))
    base, line, target = 0, 1, shard_size
    owed = False  # a cut at the end of the last chunk, made once a byte follows it
    while chunk := stream.read(chunk_size):
        if owed:
            shards.cut(base, line)
            target, owed = base + shard_size, False
        pos = 0
        while target - base <= len(chunk):
            newline = chunk.find(b"\n", max(target - base - 1, pos))
            if newline < 0:
                break
            line += chunk.count(b"\n", pos, newline + 1)
            pos = newline + 1
            if pos == len(chunk):
                owed = True
                break
            shards.cut(base + pos, line)
            target = base + pos + shard_size
        line += chunk.count(b"\n", pos)
        base += len(chunk)
    return shards.finish(base)


# -- JSON array ---------------------------------------------------------------------------------

_LEAD = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")
_STRING = rb'"(?:[^"\\]++|\\.)*+"'
# Whole bracketed values up to this deep are skipped in one regex call; deeper ones (and any
# cut by a chunk's end) are walked bracket by bracket. Both give the same nesting.
_SKIPPED_DEPTH = 6


def _skip_pattern(stop: bytes) -> re.Pattern[bytes]:
    """Bytes that leave the nesting as it is: anything but `stop`, quotes and brackets, whole
    strings, and whole bracketed values nested up to _SKIPPED_DEPTH deep."""
    inner = rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+"
    for _ in range(_SKIPPED_DEPTH):
        inner = rb'(?:[^"\[\]{}]++|' + _STRING + rb"|(?>[\[{]" + inner + rb"[\]}]))*+"
    bracketed = rb"(?>[\[{]" + inner + rb"[\]}])"
    return re.compile(
        rb'(?:[^"\[\]{}' + stop + rb"]++|" + _STRING + rb"|" + bracketed + rb")*+", re.DOTALL
    )


# At depth 1 a comma stops the skip (it separates top-level elements); deeper only brackets.
_SKIP_TOP = _skip_pattern(b",")
_SKIP_DEEP = _skip_pattern(b"")
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_WHITESPACE = b" \t\r\n"


def plan_json_array(
    stream: Readable, *, shard_size: int = SHARD_SIZE, chunk_size: int = CHUNK_SIZE
) -> list[Shard]:
    """Shards of a JSON document that is an array, each cut at the first comma between two
    top-level elements at or past `shard_size` bytes from its start. The comma belongs to no
    shard: a shard's range is a comma-separated element list, read as `[` + range + `]`
    (Shard.prefix, Shard.suffix). The first shard starts at byte 0 (BOM, `[`), the last ends
    at the object's end (`]` and whatever follows it, which the reader judges).

    Only strings, brackets and top-level commas are looked at; the elements are not parsed.
    A document that is not an array (`{"records": [...]}`) raises NotShardable.
    """
    _check_sizes(shard_size, chunk_size)
    buf = b""
    while True:
        more = stream.read(chunk_size)
        buf += more
        pos = _LEAD.match(buf).end()  # type: ignore[union-attr]
        if not more or (pos < len(buf) and len(buf) >= len(codecs.BOM_UTF8)):
            break
    if buf[pos : pos + 1] != b"[":
        raise NotShardable("only a JSON document that is an array is cut into shards")
    pos += 1
    shards = _Shards(Shard(index=0, start=0, end=0, first_line=1), json_array=True)
    base, line, counted, target = 0, 1, 0, shard_size
    depth, in_string, escaped, closed = 1, False, False, False
    # Whether a value (or anything but white space) follows the last cut: a cut before a
    # closing `]` alone would drop the trailing comma's syntax error, so it is undone.
    content = True
    while buf:
        if escaped:
            pos, escaped = pos + 1, False
        while pos < len(buf) and not closed:
            if in_string:
                pos = _STRING_REST.match(buf, pos).end()  # type: ignore[union-attr]
                if pos >= len(buf):
                    break
                if buf[pos] == _BACKSLASH:  # an escape cut by the chunk's end
                    escaped, pos = True, len(buf)
                    break
                in_string, pos = False, pos + 1
                continue
            start = pos
            pos = (_SKIP_TOP if depth == 1 else _SKIP_DEEP).match(buf, pos).end()  # type: ignore[union-attr]
            if not content and buf[start:pos].strip(_WHITESPACE):
                content = True
            if pos >= len(buf):
                break
            char = buf[pos]
            if char == _QUOTE:
                in_string = content = True
            elif char in _OPEN:
                depth, content = depth + 1, True
            elif char in _CLOSE:
                depth -= 1
                closed = depth == 0
                content = content or not closed
            elif base + pos >= target:  # a comma between top-level elements
                line += buf.count(b"\n", counted, pos + 1)
                counted = pos + 1
                shards.cut(base + pos, line, skip=1)
                target = base + pos + 1 + shard_size
                content = False
            else:
                content = True
            pos += 1
        if closed:
            if not content:  # `, ]`: the last cut is undone
                last = shards.done.pop()
                shards.start, shards.first_line = last.start, last.first_line
            return shards.finish(base + len(buf) + _drain(stream, chunk_size))
        line += buf.count(b"\n", counted)
        base, pos, counted = base + len(buf), 0, 0
        buf = stream.read(chunk_size)
    return shards.finish(base)


# -- gzip and ZIP members -------------------------------------------------------------------------


class _Tee:
    """Reads a stream and hands every chunk read to `write` as well."""

    def __init__(self, source: Readable, write: Callable[[bytes], object]) -> None:
        self._source = source
        self._write = write
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size)
        if chunk:
            self._write(chunk)
            self.size += len(chunk)
        return chunk


def plan_restaged(
    plain: Readable,
    write: Callable[[bytes], object],
    plan: Callable[[Readable], list[Shard]],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> list[Shard]:
    """Plan a decompressed stream (a gzip body as `streams.open_bytes` opens it, a ZIP member
    from `archive.Archive.open`) while copying it, in one pass, to `write` (a temp file's or a
    multipart upload's). Ranges cannot be read from compressed bytes: the shards index the
    staged plain object, which the caller stores and the shards are then read from.

    `plan` is one of the planners with its options bound, e.g.
    `lambda s: plan_csv(s, shard_size=size)`. A NotShardable from it propagates once the
    whole stream is staged, so the staged object can still be run in one piece.
    """
    tee = _Tee(plain, write)
    try:
        shards = plan(tee)
    except NotShardable:
        _drain(tee, chunk_size)  # staged whole all the same: the caller runs it in one piece
        raise
    _drain(tee, chunk_size)  # every planner reads to the end; this only makes it certain
    return shards

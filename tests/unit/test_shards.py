"""Shard planning: every shard, read alone with the worker's readers, gives exactly the records,
errors and physical lines that reading the whole file gives, wherever the cuts land."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import random
import zipfile
from collections.abc import Callable, Iterable
from typing import IO, Any

import pytest

from intake.ingest.archive import Archive, ArchiveLimits
from intake.ingest.csv_reader import read_csv
from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import FileLevelError, ReadEvent
from intake.ingest.shards import (
    NotShardable,
    Shard,
    merge_shards,
    open_shard,
    plan_csv,
    plan_json_array,
    plan_jsonl,
    plan_restaged,
)
from intake.models.domain import RowError

Event = tuple[Any, ...]
Reader = Callable[[IO[bytes]], Iterable[ReadEvent]]
SEEDS = range(150)


def events(stream: IO[bytes], reader: Reader, line_of: Callable[[int], int]) -> list[Event]:
    """What a reader yields, lines mapped to the file's; a file-level error ends the list."""
    out: list[Event] = []
    try:
        for event in reader(stream):
            if isinstance(event, RowError):
                assert event.line is not None
                out.append(("error", line_of(event.line), event.code))
            else:
                line, data = event
                assert line is not None
                out.append(("record", line_of(line), data))
    except FileLevelError as exc:
        assert exc.error.line is not None
        out.append(("file_error", line_of(exc.error.line), exc.error.code))
    return out


def whole(data: bytes, reader: Reader) -> list[Event]:
    return events(io.BytesIO(data), reader, lambda line: line)


def sharded(data: bytes, shards: list[Shard], reader: Reader) -> list[Event]:
    """Each shard read alone, as a worker reads its range; a run stops at a file-level error."""
    out: list[Event] = []
    for shard in shards:
        out += events(
            open_shard(shard, lambda start, end: io.BytesIO(data[start:end])),
            reader,
            shard.line_in_file,
        )
        if out and out[-1][0] == "file_error":
            break
    return out


def physical_line(data: bytes, offset: int) -> int:
    """The line of byte `offset` as the CSV reader's text layer counts (LF, CRLF, CR)."""
    return len(io.StringIO(data[:offset].decode("latin-1"), newline="").readlines()) + 1


def expected_cuts(
    ends: list[int], start: int, size: int, shard_size: int, skip: int = 0
) -> list[int]:
    """Where shards end, given every place a cut may go: the first one at or past each
    shard's target size, while bytes remain after it (`skip`: bytes between two shards)."""
    cuts = []
    for end in ends:
        if end >= start + shard_size and end < size:
            cuts.append(end)
            start = end + skip
    return cuts


def assert_tiles(shards: list[Shard], start: int, size: int, shard_size: int) -> None:
    """Shards cover [start, size) in order, and only the last is smaller than asked for."""
    assert [s.index for s in shards] == list(range(len(shards)))
    assert shards[0].start == start
    assert shards[-1].end == size
    for before, after in itertools.pairwise(shards):
        assert before.size >= shard_size
        assert after.start in (before.end, before.end + 1)  # JSON: the comma between
        assert after.size > 0


# -- CSV --------------------------------------------------------------------------------------


def csv_record_ends(data: bytes, start: int, delimiter: str) -> list[int]:
    """Where records end, as Python's csv reader ends them (read independently of the
    planner: latin-1 keeps one character per byte; the text layer splits LF, CRLF, CR)."""
    lines = io.StringIO(data[start:].decode("latin-1"), newline="").readlines()
    offsets = [start]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=False)
    return [offsets[reader.line_num] for _ in reader]


WORDS = ["a", "Jürgen", "中文", "😀", "x y", "", '5" screen', "1.5", "Zoë;é"]


def csv_field(rng: random.Random, delimiter: str) -> str:
    kind = rng.randrange(9)
    word = rng.choice(WORDS)
    if kind == 0:
        return '"' + word + rng.choice(["\n", "\r\n", "\r", delimiter, '""']) + word + '"'
    if kind == 1:
        return '"' + '""'.join(rng.choices(WORDS, k=rng.randrange(1, 3))) + '"'
    if kind == 2:
        return '"' + word + '"' + rng.choice(["", "tail", '"']) + ""  # junk after the close
    if kind == 3:
        return '""'
    return word


def csv_file(rng: random.Random) -> tuple[bytes, str | None]:
    delimiter = rng.choice([",", ";", "\t", "|"])
    width = rng.randrange(1, 4)
    eol = rng.choice(["\n", "\r\n", "\r", None])  # None: every record picks its own
    lines = [delimiter.join(f"col{i}" for i in range(width))]
    if rng.random() < 0.2:
        lines.insert(0, f"sep={delimiter}")
    text = ""
    for line in lines:
        text += line + (eol or "\n")
    for _ in range(rng.randrange(0, 25)):
        if rng.random() < 0.1:
            text += eol or rng.choice(["\n", "\r\n"])  # an empty line
            continue
        cells = [csv_field(rng, delimiter) for _ in range(width + rng.choice([0, 0, 0, 1, -1]))]
        text += delimiter.join(cells) + (eol or rng.choice(["\n", "\r\n", "\r"]))
    if rng.random() < 0.3:  # the last record without a line break
        text = text.rstrip("\r\n") + delimiter + "end"
    data = text.encode("utf-8")
    if rng.random() < 0.3:
        data = codecs.BOM_UTF8 + data
    declared = None if "sep=" in text[:5] or rng.random() < 0.5 else delimiter
    return data, declared


@pytest.mark.parametrize("seed", SEEDS)
def test_csv_shards_read_alone_give_the_whole_files_records_and_lines(seed: int) -> None:
    # Given a CSV with quoted line breaks, doubled and stray quotes, CR/LF/CRLF, a BOM,
    # multi-byte characters, and chunk and shard sizes small enough to cut anywhere
    rng = random.Random(seed)
    data, delimiter = csv_file(rng)
    shard_size, chunk_size = rng.randrange(1, 60), rng.randrange(1, 20)

    # When it is planned
    shards = plan_csv(
        io.BytesIO(data), shard_size=shard_size, chunk_size=chunk_size, delimiter=delimiter
    )

    # Then the shards tile the data after the header, each starting on its physical line,
    # and read alone they give what the whole file gives
    assert_tiles(shards, shards[0].head_end, len(data), shard_size)
    assert shards[0].delimiter is not None
    ends = csv_record_ends(data, shards[0].head_end, shards[0].delimiter)
    cuts = expected_cuts(ends, shards[0].head_end, len(data), shard_size)
    assert [s.end for s in shards[:-1]] == cuts
    for shard in shards:
        assert shard.first_line == physical_line(data, shard.start)
    reader: Reader = lambda s: read_csv(s, delimiter=delimiter)  # noqa: E731
    assert sharded(data, shards, reader) == whole(data, reader)


def test_csv_cut_lands_after_the_record_not_inside_its_quoted_line_breaks() -> None:
    data = b'id,note\n1,"a\nb\nc"\n2,plain\n3,"x\r\ny"\n'
    shards = plan_csv(io.BytesIO(data), shard_size=3)
    assert [(s.start, s.end, s.first_line) for s in shards] == [
        (8, 18, 2),  # 1,"a\nb\nc"\n holds lines 2-4
        (18, 26, 5),
        (26, 35, 6),
    ]
    assert all(s.head_end == 8 and s.head_lines == 1 for s in shards)


def test_csv_a_quote_inside_an_unquoted_field_is_plain_as_the_reader_takes_it() -> None:
    # Counting quote parity alone would take `5" screen` as opening a field and cut nowhere
    # (or in the wrong place); the csv reader reads it as a plain character.
    data = b'id,item\n1,5" screen\n2,"two\nlines"\n3,ok\n4,ok\n'
    shards = plan_csv(io.BytesIO(data), shard_size=1)
    assert [s.first_line for s in shards] == [2, 3, 5, 6]
    assert sharded(data, shards, read_csv) == whole(data, read_csv)


def test_csv_crlf_split_across_chunks_is_one_line_break() -> None:
    data = b"id\r\n1\r\n2\r\n3\r\n"
    for chunk_size in range(1, len(data) + 1):
        shards = plan_csv(io.BytesIO(data), shard_size=1, chunk_size=chunk_size)
        assert [(s.start, s.first_line) for s in shards] == [(4, 2), (7, 3), (10, 4)]


def test_csv_smaller_than_a_shard_is_one_shard() -> None:
    data = codecs.BOM_UTF8 + b"sep=;\nid;name\n1;Ann"
    (shard,) = plan_csv(io.BytesIO(data))
    assert (shard.start, shard.end, shard.first_line) == (len(data) - 5, len(data), 3)
    assert (shard.head_lines, shard.delimiter, shard.encoding) == (2, ";", "utf-8")


@pytest.mark.parametrize("data", [b"", b"id,name", b"id,name\n", b"\n\n"])
def test_csv_without_records_is_one_shard(data: bytes) -> None:
    (shard,) = plan_csv(io.BytesIO(data), shard_size=1, chunk_size=1)
    assert shard.end == len(data)
    assert sharded(data, [shard], read_csv) == whole(data, read_csv)


def test_csv_in_a_single_byte_encoding_is_cut_by_bytes() -> None:
    text = "id;name\n" + "".join(f'{i};"Müller\n{i}"\n' for i in range(20))
    data = text.encode("windows-1252")
    shards = plan_csv(io.BytesIO(data), shard_size=10, chunk_size=7, encoding="windows-1252")
    assert len(shards) > 5
    assert {s.encoding for s in shards} == {"windows-1252"}
    reader: Reader = lambda s: read_csv(s, encoding="windows-1252")  # noqa: E731
    assert sharded(data, shards, reader) == whole(data, reader)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("id,name\n1,Ann\n".encode("utf-16"), None),
        ("id,name\n1,Ann\n".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_utf16_csv_is_not_shardable(data: bytes, encoding: str | None) -> None:
    with pytest.raises(NotShardable, match="UTF-16"):
        plan_csv(io.BytesIO(data), encoding=encoding)


def test_an_unending_quoted_field_makes_the_rest_one_shard_in_bounded_memory() -> None:
    # Given a quote that never closes: no record ends after it
    data = b"id,note\n" + b"1,a\n" * 10 + b'2,"never closed\n' + b"3,b\n" * 200
    # When planned with a small record limit, Then the cutting stops there: the rest is the
    # last shard, and the reader meets the broken record in it, at the same line
    shards = plan_csv(io.BytesIO(data), shard_size=8, chunk_size=16, max_record_bytes=64)
    assert shards[-1].end == len(data)
    assert shards[-1].start <= data.index(b'2,"')
    assert sharded(data, shards, read_csv) == whole(data, read_csv)


def test_open_shard_streams_the_header_then_the_range() -> None:
    data = b"id,name\n1,Ann\n2,Bo\n"
    shards = plan_csv(io.BytesIO(data), shard_size=1)
    opened: list[tuple[int, int]] = []

    def open_range(start: int, end: int) -> IO[bytes]:
        opened.append((start, end))
        return io.BytesIO(data[start:end])

    assert open_shard(shards[1], open_range).read() == b"id,name\n2,Bo\n"
    assert opened == [(0, 8), (14, 19)]


# -- JSON Lines ---------------------------------------------------------------------------------


def jsonl_file(rng: random.Random) -> bytes:
    eol = rng.choice([b"\n", b"\r\n"])
    lines = []
    for i in range(rng.randrange(0, 30)):
        kind = rng.randrange(6)
        if kind == 0:
            lines.append(b"")
        elif kind == 1:
            lines.append(b'{"broken": ')
        elif kind == 2:
            lines.append(b"[1, 2]")
        else:
            value = {"id": i, "name": rng.choice(WORDS), "tags": ["a,b", "]}"]}
            lines.append(json.dumps(value, ensure_ascii=rng.random() < 0.5).encode())
    data = eol.join(lines) + (eol if rng.random() < 0.7 else b"")
    return (codecs.BOM_UTF8 if rng.random() < 0.3 else b"") + data


@pytest.mark.parametrize("seed", SEEDS)
def test_jsonl_shards_read_alone_give_the_whole_files_records_and_lines(seed: int) -> None:
    rng = random.Random(seed)
    data = jsonl_file(rng)
    shard_size, chunk_size = rng.randrange(1, 80), rng.randrange(1, 30)
    shards = plan_jsonl(io.BytesIO(data), shard_size=shard_size, chunk_size=chunk_size)
    assert_tiles(shards, 0, len(data), shard_size)
    line_ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    assert [s.end for s in shards[:-1]] == expected_cuts(line_ends, 0, len(data), shard_size)
    for shard in shards:
        assert shard.first_line == data.count(b"\n", 0, shard.start) + 1
    assert sharded(data, shards, read_jsonl) == whole(data, read_jsonl)


def test_jsonl_cut_lands_after_a_line_break() -> None:
    data = b'{"a": 1}\n{"a": 2}\n{"a": 3}'
    shards = plan_jsonl(io.BytesIO(data), shard_size=10, chunk_size=3)
    assert [(s.start, s.end, s.first_line) for s in shards] == [(0, 18, 1), (18, 26, 3)]


# -- JSON array ---------------------------------------------------------------------------------


def json_value(rng: random.Random, depth: int = 0, deepest: int = 3) -> Any:
    kind = rng.randrange(7 if depth < deepest else 4)
    if kind == 0:
        return rng.choice(WORDS) + rng.choice(['"', "\\", ",", "]", "}", "[{", "\n", ""])
    if kind == 1:
        return rng.choice([1, -2.5e3, True, None])
    if kind in (2, 3):
        return rng.choice(["a", "\\u00e9", 'q"uote'])
    if kind == 4:
        return [json_value(rng, depth + 1, deepest) for _ in range(rng.randrange(3))]
    return {f"k{i}": json_value(rng, depth + 1, deepest) for i in range(rng.randrange(3))}


def json_array_file(rng: random.Random) -> bytes:
    elements: list[Any] = []
    deepest = rng.choice([3, 3, 12])  # past what the planner skips in one regex call
    for i in range(rng.randrange(0, 20)):
        if rng.random() < 0.1:
            elements.append(json_value(rng, 0, deepest))  # not an object: an error at its line
        else:
            elements.append({"id": i, "v": json_value(rng, 0, deepest)})
    indent = rng.choice([None, None, 1, 2])
    ascii_only = rng.random() < 0.5
    data = json.dumps(elements, indent=indent, ensure_ascii=ascii_only).encode()
    if indent is None and rng.random() < 0.5:
        data = data.replace(b"}, {", b"},\n{")  # one element per line
    lead = rng.choice([b"", b" \n", b"\r\n  "])
    bom = codecs.BOM_UTF8 if rng.random() < 0.3 else b""
    return bom + lead + data + rng.choice([b"", b"\n", b" \n "])


def top_level_commas(data: bytes) -> list[int]:
    """Offsets of the commas between the array's elements, found with the json decoder
    (latin-1 keeps one character per byte)."""
    text, decoder = data.decode("latin-1"), json.JSONDecoder()
    pos = text.index("[") + 1
    commas: list[int] = []
    while True:
        pos = len(text) - len(text[pos:].lstrip())
        if text[pos] == "]":
            return commas
        pos = decoder.raw_decode(text, pos)[1]
        pos = len(text) - len(text[pos:].lstrip())
        if text[pos] == "]":
            return commas
        commas.append(pos)
        pos += 1


@pytest.mark.parametrize("seed", SEEDS)
def test_json_array_shards_read_alone_give_the_whole_files_records_and_lines(seed: int) -> None:
    rng = random.Random(seed)
    data = json_array_file(rng)
    shard_size, chunk_size = rng.randrange(1, 80), rng.randrange(1, 30)
    shards = plan_json_array(io.BytesIO(data), shard_size=shard_size, chunk_size=chunk_size)
    assert_tiles(shards, 0, len(data), shard_size)
    commas = top_level_commas(data)
    assert [s.end for s in shards[:-1]] == expected_cuts(commas, 0, len(data), shard_size, 1)
    for shard in shards:
        assert shard.first_line == data.count(b"\n", 0, shard.start) + 1
    assert sharded(data, shards, read_json) == whole(data, read_json)


@pytest.mark.parametrize("seed", range(20))
def test_json_array_elements_nested_deeper_than_one_regex_skip(seed: int) -> None:
    rng = random.Random(seed)
    elements = []
    for i in range(8):
        value: Any = {"s": 'x,]}"'}
        for _ in range(rng.randrange(5, 25)):
            value = [value, "a]", {"k": value}] if rng.random() < 0.2 else {"n": [value]}
        elements.append({"id": i, "v": value})
    data = json.dumps(elements, indent=rng.choice([None, 1])).encode()
    shard_size, chunk_size = rng.randrange(1, 400), rng.randrange(1, 64)
    shards = plan_json_array(io.BytesIO(data), shard_size=shard_size, chunk_size=chunk_size)
    commas = top_level_commas(data)
    assert [s.end for s in shards[:-1]] == expected_cuts(commas, 0, len(data), shard_size, 1)
    assert sharded(data, shards, read_json) == whole(data, read_json)


def test_json_array_shard_is_an_element_list_wrapped_in_brackets() -> None:
    data = b'[{"a": "x,]"},\n {"a": [1, 2]},\n {"a": "\\"}"}]\n'
    shards = plan_json_array(io.BytesIO(data), shard_size=1, chunk_size=4)
    ranges = lambda start, end: io.BytesIO(data[start:end])  # noqa: E731
    assert [open_shard(s, ranges).read() for s in shards] == [
        b'[{"a": "x,]"}]',
        b'[\n {"a": [1, 2]}]',
        b'[\n {"a": "\\"}"}]\n',
    ]
    assert [s.first_line for s in shards] == [1, 1, 2]
    assert [s.line_in_file(2) for s in shards] == [2, 2, 3]


@pytest.mark.parametrize(
    "data",
    [
        b'[{"a": 1}, {"a": 2},\n]',  # a trailing comma: the whole file's syntax error stays
        b'[{"a": 1}, {"a": 2}] {"a": 3}',  # data after the array
        b'[{"a": 1}, {"a": 2}',  # an array that never ends
        b'[{"a": 1}, {"a": "open',  # a string that never ends
    ],
)
def test_json_array_errors_are_met_as_in_the_whole_file(data: bytes) -> None:
    shards = plan_json_array(io.BytesIO(data), shard_size=1, chunk_size=3)
    assert shards[-1].end == len(data)
    assert whole(data, read_json)[-1][0] == "file_error"
    assert sharded(data, shards, read_json) == whole(data, read_json)


@pytest.mark.parametrize("data", [b'{"records": [{"a": 1}]}', b"", b"  ", b"nope"])
def test_json_that_is_not_an_array_is_not_shardable(data: bytes) -> None:
    with pytest.raises(NotShardable, match="array"):
        plan_json_array(io.BytesIO(data), shard_size=1, chunk_size=1)


def test_empty_json_array_is_one_shard() -> None:
    (shard,) = plan_json_array(io.BytesIO(b" [ ] "), shard_size=1, chunk_size=1)
    assert (shard.start, shard.end, shard.prefix, shard.suffix) == (0, 5, b"", b"")


# -- merged shards ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_merged_shards_read_alone_still_give_the_whole_files_records_and_lines(seed: int) -> None:
    """A plan of too many shards joined into at most N (the gzip case: the inflated size is
    known only once planned) reads as the whole file, for each format."""
    rng = random.Random(seed)
    csv_data, delimiter = csv_file(rng)
    formats: list[tuple[bytes, Callable[[IO[bytes]], list[Shard]], Reader]] = [
        (
            csv_data,
            lambda f: plan_csv(f, shard_size=8, chunk_size=5, delimiter=delimiter),
            lambda f: read_csv(f, delimiter=delimiter),
        ),
        (jsonl_file(rng), lambda f: plan_jsonl(f, shard_size=8, chunk_size=5), read_jsonl),
        (json_array_file(rng), lambda f: plan_json_array(f, shard_size=8), read_json),
    ]
    for data, plan, reader in formats:
        shards = plan(io.BytesIO(data))
        at_most = rng.randrange(1, 5)
        merged = merge_shards(shards, at_most)
        assert len(merged) <= at_most and len(merged) <= len(shards)
        assert [m.index for m in merged] == list(range(len(merged)))
        assert (merged[0].start, merged[-1].end) == (shards[0].start, shards[-1].end)
        assert sharded(data, merged, reader) == whole(data, reader)


def test_merging_joins_runs_of_neighbours_evenly() -> None:
    data = b"[" + b",".join(b'{"i": %d}' % i for i in range(10)) + b"]"
    shards = plan_json_array(io.BytesIO(data), shard_size=1)
    assert len(shards) == 10
    merged = merge_shards(shards, 4)  # 3 + 3 + 3 + 1
    assert [(m.start, m.end) for m in merged] == [
        (shards[0].start, shards[2].end),
        (shards[3].start, shards[5].end),
        (shards[6].start, shards[8].end),
        (shards[9].start, shards[9].end),
    ]
    assert (merged[0].prefix, merged[0].suffix) == (b"", b"]")
    assert (merged[-1].prefix, merged[-1].suffix) == (b"[", b"")
    assert merge_shards(shards, 10) is shards


# -- gzip and ZIP members -------------------------------------------------------------------------


def test_gzip_is_restaged_plain_and_planned_in_one_pass() -> None:
    data = b"id,name\n" + b"".join(f'{i},"x\n{i}"\n'.encode() for i in range(300))
    staged = io.BytesIO()
    shards = plan_restaged(
        gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data))),
        staged.write,
        lambda s: plan_csv(s, shard_size=500, chunk_size=64),
    )
    assert staged.getvalue() == data
    assert shards == plan_csv(io.BytesIO(data), shard_size=500)
    assert len(shards) > 3
    assert sharded(data, shards, read_csv) == whole(data, read_csv)


def test_zip_member_is_restaged_plain_and_planned() -> None:
    data = b"".join(json.dumps({"id": i}).encode() + b"\n" for i in range(500))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("contacts.jsonl", data)
    staged = io.BytesIO()
    with Archive(packed, ArchiveLimits()) as archive:
        (member,) = archive.members
        shards = plan_restaged(
            archive.open(member), staged.write, lambda s: plan_jsonl(s, shard_size=1000)
        )
    assert staged.getvalue() == data
    assert len(shards) > 3
    assert sharded(data, shards, read_jsonl) == whole(data, read_jsonl)


def test_a_member_that_cannot_be_sharded_is_still_staged_whole() -> None:
    data = "id,name\n1,Ann\n".encode("utf-16") * 50
    staged = io.BytesIO()
    with pytest.raises(NotShardable):
        plan_restaged(
            gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data))),
            staged.write,
            lambda s: plan_csv(s, chunk_size=16),
        )
    assert staged.getvalue() == data

"""open_bytes: transparent gunzip, and a counter of the bytes actually read from the source."""

from __future__ import annotations

import gzip
import io

from intake.ingest.csv_reader import read_csv
from intake.ingest.json_readers import read_jsonl
from intake.ingest.streams import CountingReader, open_bytes

CSV = b"external_id,email,first_name\n" + b"".join(
    f"{i},user{i}@example.com,Name{i}\n".encode() for i in range(2000)
)
JSONL = b"".join(f'{{"external_id": "{i}", "n": {i}}}\n'.encode() for i in range(2000))


def test_plain_bytes_pass_through_and_are_all_counted() -> None:
    stream, counter = open_bytes(io.BytesIO(CSV))

    assert stream.read() == CSV
    assert counter.bytes_read == len(CSV)


def test_gzip_is_unwrapped_and_the_counter_counts_compressed_bytes() -> None:
    packed = gzip.compress(CSV, mtime=0)
    assert len(packed) < len(CSV) // 3

    stream, counter = open_bytes(io.BytesIO(packed))

    assert stream.read() == CSV
    assert counter.bytes_read == len(packed)


def test_gzipped_csv_gives_the_same_records_as_the_plain_one() -> None:
    plain, _ = open_bytes(io.BytesIO(CSV))
    packed, _ = open_bytes(io.BytesIO(gzip.compress(CSV, mtime=0)))

    plain_records = list(read_csv(plain))
    assert len(plain_records) == 2000
    assert list(read_csv(packed)) == plain_records


def test_gzipped_jsonl_gives_the_same_records_as_the_plain_one() -> None:
    plain, _ = open_bytes(io.BytesIO(JSONL))
    packed, _ = open_bytes(io.BytesIO(gzip.compress(JSONL, mtime=0)))

    plain_records = list(read_jsonl(plain))
    assert len(plain_records) == 2000
    assert list(read_jsonl(packed)) == plain_records


def test_counting_reader_counts_partial_reads() -> None:
    counter = CountingReader(io.BytesIO(b"0123456789"))

    assert counter.read(4) == b"0123"
    assert counter.bytes_read == 4
    assert counter.read() == b"456789"
    assert counter.bytes_read == 10
    assert counter.read() == b""
    assert counter.bytes_read == 10


def test_closing_the_counter_closes_the_source() -> None:
    source = io.BytesIO(b"x")
    counter = CountingReader(source)

    counter.close()

    assert source.closed

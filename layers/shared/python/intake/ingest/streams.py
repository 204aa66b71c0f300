"""Byte streams: counting what was read (progress), buffering, gzip detection."""

from __future__ import annotations

import gzip
import io
from typing import IO, cast

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
READ_BUFFER = 1024 * 1024


class CountingReader(io.RawIOBase):
    """Wraps any binary stream (an S3 StreamingBody, a file) and counts the bytes read."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._source.read(len(buffer))
        n = len(chunk)
        buffer[:n] = chunk
        self.bytes_read += n
        return n

    def close(self) -> None:
        self._source.close()
        super().close()


def open_bytes(source: IO[bytes]) -> tuple[IO[bytes], CountingReader]:
    """A buffered stream of the content (gunzipped if the bytes are gzip) and its byte counter."""
    counter = CountingReader(source)
    buffered = io.BufferedReader(counter, buffer_size=READ_BUFFER)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb")), counter
    return cast(IO[bytes], buffered), counter

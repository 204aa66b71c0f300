"""Byte streams: counting what was read (progress), buffering, gzip detection."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import IO, cast

from intake.ingest.records import FileLevelError
from intake.models.domain import RowError

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


class Gunzipped(io.RawIOBase):
    """A gzip stream's content. A stream that is cut short or corrupt (which the upload check,
    reading the first bytes, cannot see) ends the read with FileLevelError `corrupt_gzip`,
    as any unreadable file does, not with zlib's or gzip's exception."""

    def __init__(self, source: IO[bytes]) -> None:
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            return self._gzip.readinto(buffer)
        except EOFError:
            raise FileLevelError(
                RowError(
                    code="corrupt_gzip",
                    message="the gzip stream ends before its end marker: the file was cut short",
                )
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise FileLevelError(
                RowError(code="corrupt_gzip", message=f"the gzip stream is corrupt: {exc}")
            ) from None

    def close(self) -> None:
        self._gzip.close()
        super().close()


def open_bytes(source: IO[bytes]) -> tuple[IO[bytes], CountingReader]:
    """A buffered stream of the content (gunzipped if the bytes are gzip: a `Gunzipped` under
    the buffer) and its byte counter."""
    counter = CountingReader(source)
    buffered = io.BufferedReader(counter, buffer_size=READ_BUFFER)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return cast(IO[bytes], io.BufferedReader(Gunzipped(buffered), READ_BUFFER)), counter
    return cast(IO[bytes], buffered), counter


def is_gunzipped(stream: IO[bytes]) -> bool:
    """Whether `stream`, from open_bytes, is a gzip stream's content."""
    return isinstance(getattr(stream, "raw", None), Gunzipped)

"""Safe ZIP reading: limits checked in the central directory AND while decompressing.

Headers can lie, so every limit is enforced twice: once from what the central directory
declares (before a byte is inflated) and again by counting the bytes that actually come out.
Each breach raises FileLevelError with a stable code; the archive remembers it in `failure`
so a caller that lets a reader swallow the exception can still tell the run must stop.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from intake.ingest.records import FileLevelError
from intake.models.domain import RowError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

NESTED_SUFFIXES = (
    ".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".tbz", ".tbz2", ".xz", ".txz",
    ".zst", ".lz", ".lzma", ".cab", ".jar",
)  # fmt: skip
NESTED_MAGIC = (
    b"PK\x03\x04",  # ZIP
    b"PK\x05\x06",  # empty ZIP
    b"PK\x07\x08",  # spanned ZIP
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"Rar!\x1a\x07",  # RAR
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstd
)
_MAGIC_BYTES = max(len(m) for m in NESTED_MAGIC)
# zipfile inflates deflate in bounded steps; its bzip2 and lzma paths inflate a whole compressed
# chunk at once (a few KB of bzip2 can expand to gigabytes before a byte could be counted).
SUPPORTED_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_DRIVE = re.compile(r"^[A-Za-z]:")
# Central directory bytes one member may need (46-byte header + name + extra + comment):
# a directory larger than max_members of these is refused before it is read into memory.
_DIRECTORY_BYTES_PER_MEMBER = 4 * KiB
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CORRUPT_READ = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OSError,
)
_READ_CHUNK = 1 * MiB


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may hold. Import types choose their own (registry.archive_limits)."""

    max_members: int = 1_000
    max_total_size: int = 2 * GiB  # uncompressed, all members together
    max_member_size: int = 1 * GiB  # uncompressed, one member
    max_ratio: int = 100  # uncompressed : compressed, per member
    # Members smaller than this are exempt from the ratio rule: a few KB of repeated text
    # legitimately compresses past 100:1 and cannot hurt anyone.
    ratio_grace: int = 1 * MiB
    # Entries the caller will never read (a bundle's media folders): their names are checked
    # for safety, then they are set aside in Archive.skipped. They count against max_entries
    # (which bounds the central directory read into memory), not against max_members or any
    # size limit, since not a byte of them is inflated.
    skip: Callable[[str], bool] | None = field(default=None, compare=False)
    max_entries: int | None = None  # None: max_members

    @property
    def entry_limit(self) -> int:
        return max(self.max_members, self.max_entries or 0)


def breach(code: str, message: str, member: str | None = None) -> FileLevelError:
    return FileLevelError(RowError(code=code, message=message, file=member))


class Archive:
    """An opened ZIP whose central directory passed every check; members read one at a time."""

    def __init__(self, fileobj: IO[bytes], limits: ArchiveLimits) -> None:
        self.limits = limits
        self.failure: RowError | None = None
        self.skipped: list[str] = []  # entries limits.skip set aside, in directory order
        self._inflated = 0  # bytes that actually came out of every member so far
        self._spans: dict[str, int] = {}
        _check_end_record(fileobj, limits)
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise breach("corrupt_archive", f"not a readable ZIP archive: {exc}") from None
        try:
            self.members = self._check_directory()
        except FileLevelError:
            self._zip.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self.members]

    def open(self, info: zipfile.ZipInfo, *, buffer_size: int = _READ_CHUNK) -> io.BufferedReader:
        """The member's bytes, counted against every limit as they are inflated."""
        return io.BufferedReader(_MemberReader(self, info), buffer_size=buffer_size)

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The whole member (for members small enough to hold; the member limit still applies)."""
        with self.open(info) as stream:
            return stream.read()

    def verify(self, on_progress: Callable[[int], None] | None = None) -> None:
        """Inflate every member to its end, discarding the bytes: every read-time limit, every
        CRC and every nested-archive check runs before anything is written. `on_progress` is
        called with the bytes inflated so far after every chunk."""
        for info in self.members:
            with self.open(info) as stream:
                while stream.read(_READ_CHUNK):
                    if on_progress is not None:
                        on_progress(self._inflated)

    def _fail(self, code: str, message: str, member: str | None) -> FileLevelError:
        error = breach(code, message, member)
        self.failure = error.error
        return error

    def _check_directory(self) -> list[zipfile.ZipInfo]:
        limits = self.limits
        infos = self._zip.infolist()
        if len(infos) > limits.entry_limit:
            raise self._fail(
                "too_many_members",
                f"the archive has {len(infos)} entries (files and folders, photos and other "
                f"skipped entries included); at most {limits.entry_limit} are allowed",
                None,
            )
        spans = _compressed_spans(infos, self._zip.start_dir)
        seen: set[str] = set()
        members: list[zipfile.ZipInfo] = []
        total = 0
        for info in infos:
            name = info.filename
            problem = _unsafe_name(info.orig_filename)
            if problem is None and name in seen:
                problem = "the name appears more than once in the archive"
            if problem:
                raise self._fail("unsafe_member_name", f"{name!r}: {problem}", name)
            seen.add(name)
            if limits.skip is not None and limits.skip(name):
                if not info.is_dir():
                    self.skipped.append(name)
                continue
            if info.is_dir() or _ignorable(name):
                continue
            if len(members) >= limits.max_members:
                raise self._fail(
                    "too_many_members",
                    f"the archive has more than {limits.max_members} members to read; "
                    f"at most {limits.max_members} are allowed",
                    None,
                )
            if info.flag_bits & 0x1 or info.flag_bits & 0x40:
                raise self._fail(
                    "encrypted_member",
                    "encrypted members cannot be read; zip it again without a password",
                    name,
                )
            if name.lower().endswith(NESTED_SUFFIXES):
                raise self._fail("nested_archive", "archives inside the archive are refused", name)
            if info.compress_type not in SUPPORTED_COMPRESSION:
                raise self._fail(
                    "unsupported_compression",
                    f"compression method {info.compress_type} is not supported; "
                    "use deflate (the ZIP default) or no compression",
                    name,
                )
            if info.file_size > limits.max_member_size:
                raise self._fail(
                    "member_too_large",
                    f"{info.file_size} bytes uncompressed; at most {limits.max_member_size} "
                    "per member",
                    name,
                )
            if _ratio_exceeded(info.file_size, spans[name], limits):
                raise self._fail(
                    "compression_ratio_exceeded",
                    f"compressed {info.file_size // max(1, spans[name])}:1; at most "
                    f"{limits.max_ratio}:1 per member",
                    name,
                )
            total += info.file_size
            if total > limits.max_total_size:
                raise self._fail(
                    "archive_too_large",
                    f"the members hold over {limits.max_total_size} bytes uncompressed",
                    None,
                )
            members.append(info)
        # Archive order: on S3 each member then follows the previous one in the same reads.
        members.sort(key=lambda i: i.header_offset)
        self._spans = spans
        return members


class _MemberReader(io.RawIOBase):
    """One member, inflated by zipfile, with every byte counted against the limits."""

    def __init__(self, archive: Archive, info: zipfile.ZipInfo) -> None:
        self._archive = archive
        self._info = info
        self._name = info.filename
        try:
            self._source = archive._zip.open(info)
        except _CORRUPT_READ as exc:
            raise archive._fail(
                "corrupt_archive", f"the member cannot be read: {exc}", self._name
            ) from None
        self._read = 0
        self._pending = b""
        self._head_checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._archive.failure is not None:
            raise FileLevelError(self._archive.failure)
        if not self._head_checked:
            self._pending = self._inflate(_MAGIC_BYTES)
            self._head_checked = True
            if self._pending.startswith(NESTED_MAGIC):
                raise self._archive._fail(
                    "nested_archive",
                    "the member is itself an archive; nested archives are refused",
                    self._name,
                )
        if self._pending:
            n = min(len(buffer), len(self._pending))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._inflate(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _inflate(self, size: int) -> bytes:
        try:
            data = self._source.read(size)
        except _CORRUPT_READ as exc:
            raise self._archive._fail(
                "corrupt_archive", f"the member cannot be inflated: {exc}", self._name
            ) from None
        self._count(len(data))
        return data

    def _count(self, n: int) -> None:
        archive, limits = self._archive, self._archive.limits
        self._read += n
        archive._inflated += n
        if self._read > limits.max_member_size or self._read > self._info.file_size:
            raise archive._fail(
                "member_too_large",
                f"the member inflates past {min(limits.max_member_size, self._info.file_size)} "
                "bytes (its header or the per-member limit)",
                self._name,
            )
        if _ratio_exceeded(self._read, archive._spans[self._name], limits):
            raise archive._fail(
                "compression_ratio_exceeded",
                f"the member inflates past {limits.max_ratio}:1",
                self._name,
            )
        if archive._inflated > limits.max_total_size:
            raise archive._fail(
                "archive_too_large",
                f"the members inflate past {limits.max_total_size} bytes",
                self._name,
            )

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


@contextmanager
def open_archive(fileobj: IO[bytes], limits: ArchiveLimits) -> Iterator[Archive]:
    archive = Archive(fileobj, limits)
    try:
        yield archive
    finally:
        archive.close()


def _unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "the name is empty or holds a NUL byte"
    if "\\" in name:
        return "the name holds a backslash"
    if name.startswith("/"):
        return "the name is an absolute path"
    if _DRIVE.match(name):
        return "the name starts with a drive letter"
    if ".." in name.split("/"):
        return "the name climbs out of the archive with '..'"
    return None


def _ignorable(name: str) -> bool:
    """Files archivers add on their own (macOS resource forks, Finder metadata)."""
    return name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1] == ".DS_Store"


def _ratio_exceeded(uncompressed: int, compressed: int, limits: ArchiveLimits) -> bool:
    return uncompressed > limits.ratio_grace and uncompressed > limits.max_ratio * max(
        1, compressed
    )


def _compressed_spans(infos: list[zipfile.ZipInfo], directory_start: int) -> dict[str, int]:
    """Bytes each member can really occupy: up to the next member's header (or the central
    directory). A central directory that claims a bigger compressed size lies."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    ends = [i.header_offset for i in ordered[1:]] + [directory_start]
    spans = {}
    for info, end in zip(ordered, ends, strict=False):
        spans[info.filename] = max(0, min(info.compress_size, end - info.header_offset))
    return spans


def _check_end_record(fileobj: IO[bytes], limits: ArchiveLimits) -> None:
    """Read the end-of-central-directory record before zipfile reads the whole directory into
    memory: too many members or an oversized directory are refused first."""
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    tail_size = min(size, _EOCD.size + 0xFFFF)
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise breach("corrupt_archive", "not a ZIP archive (no end of central directory)")
    _, _, _, _, entries, directory_size, _, _ = _EOCD.unpack_from(tail, at)
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        entries, directory_size = _zip64_end_record(fileobj, size - tail_size + at)
    if entries > limits.entry_limit:
        raise breach(
            "too_many_members",
            f"the archive has {entries} members; at most {limits.entry_limit} are allowed",
        )
    if directory_size > max(MiB, limits.entry_limit * _DIRECTORY_BYTES_PER_MEMBER):
        raise breach(
            "corrupt_archive",
            f"the central directory is {directory_size} bytes, more than "
            f"{limits.entry_limit} members can need",
        )


def _zip64_end_record(fileobj: IO[bytes], eocd_offset: int) -> tuple[int, int]:
    locator_at = eocd_offset - _ZIP64_LOCATOR.size
    if locator_at < 0:
        raise breach("corrupt_archive", "the ZIP64 end record is missing")
    fileobj.seek(locator_at)
    signature, _, record_at, _ = _ZIP64_LOCATOR.unpack(fileobj.read(_ZIP64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        raise breach("corrupt_archive", "the ZIP64 end record is missing")
    fileobj.seek(record_at)
    record = fileobj.read(_ZIP64_EOCD.size)
    if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
        raise breach("corrupt_archive", "the ZIP64 end record is corrupt")
    fields = _ZIP64_EOCD.unpack(record)
    return fields[7], fields[8]

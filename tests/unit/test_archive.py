"""Safe ZIP reading: every limit and name rule, from the central directory and while inflating."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Iterable
from typing import Any

import pytest

from intake.ingest.archive import Archive, ArchiveLimits
from intake.ingest.media import member_media_type
from intake.ingest.records import FileLevelError

ZEROS_10MB = b"\0" * (10 * 1024 * 1024)


def make_zip(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def open_zip(data: bytes, **limits: Any) -> Archive:
    return Archive(io.BytesIO(data), ArchiveLimits(**limits))


def breach_of(data: bytes, **limits: int) -> tuple[str, str | None]:
    """The code and member of the breach met when opening and reading every member."""
    with pytest.raises(FileLevelError) as caught, open_zip(data, **limits) as archive:
        for info in archive.members:
            archive.read(info)
    return caught.value.error.code, caught.value.error.file


def patch_central_entry(data: bytes, name: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Rewrite one field of a member's central directory entry (headers that lie)."""
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    patched = bytearray(data)
    struct.pack_into(fmt, patched, at + offset, value)
    return bytes(patched)


# --- reading what is allowed ---------------------------------------------------------------


def test_members_are_read_in_archive_order_and_folders_are_skipped() -> None:
    data = make_zip(
        [
            ("reports/", b""),
            ("reports/b.csv", b"x\n2\n"),
            ("a.csv", b"x\n1\n"),
            ("__MACOSX/._a.csv", b"\0\5\26\7"),
            ("reports/.DS_Store", b"\0\0\0\1Bud1"),
        ]
    )
    with open_zip(data) as archive:
        assert archive.names == ["reports/b.csv", "a.csv"]
        assert [archive.read(i) for i in archive.members] == [b"x\n2\n", b"x\n1\n"]


def test_small_repetitive_members_are_exempt_from_the_ratio_rule() -> None:
    data = make_zip([("tiny.csv", b"a" * 500_000)])  # ~1000:1, but under the 1 MiB grace
    with open_zip(data) as archive:
        assert len(archive.read(archive.members[0])) == 500_000


def test_stored_members_and_empty_archives_are_fine() -> None:
    with open_zip(make_zip([("a.json", b"[]")], zipfile.ZIP_STORED)) as archive:
        assert archive.read(archive.members[0]) == b"[]"
    with open_zip(make_zip([])) as archive:
        assert archive.members == []


def test_verify_inflates_everything_without_keeping_it() -> None:
    with open_zip(make_zip([("a.csv", b"x\n" * 1000), ("b.csv", b"y\n")])) as archive:
        archive.verify()
        assert archive.failure is None


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("a.csv", "text/csv"),
        ("dir/B.CSV", "text/csv"),
        ("a.json", "application/json"),
        ("a.jsonl", "application/x-ndjson"),
        ("a.ndjson", "application/x-ndjson"),
        ("a.txt", None),
        ("csv", None),
    ],
)
def test_member_media_type_by_extension(name: str, media_type: str | None) -> None:
    assert member_media_type(name) == media_type


# --- limits from the central directory ------------------------------------------------------


def test_too_many_members() -> None:
    data = make_zip([(f"{i}.csv", b"x\n") for i in range(4)])
    assert breach_of(data, max_members=3) == ("too_many_members", None)
    with open_zip(data, max_members=4) as archive:
        assert len(archive.members) == 4


def test_too_many_members_even_when_the_end_record_undercounts() -> None:
    data = bytearray(make_zip([(f"{i}.csv", b"x\n") for i in range(4)]))
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 1, 1)  # "1 entry" on this disk and in all
    assert breach_of(bytes(data), max_members=3) == ("too_many_members", None)


def test_archive_too_large_from_declared_sizes() -> None:
    data = make_zip([("a.csv", b"a" * 6000), ("b.csv", b"b" * 6000)])
    assert breach_of(data, max_total_size=10_000) == ("archive_too_large", None)


def test_member_too_large_from_declared_size() -> None:
    data = make_zip([("small.csv", b"x"), ("big.csv", b"y" * 2000)])
    assert breach_of(data, max_member_size=1000) == ("member_too_large", "big.csv")


def test_zip_bomb_is_refused_by_its_declared_ratio() -> None:
    data = make_zip([("zeros.csv", ZEROS_10MB)])
    assert len(data) < 20_000  # ~1000:1
    assert breach_of(data) == ("compression_ratio_exceeded", "zeros.csv")


def test_ratio_limit_is_a_parameter() -> None:
    data = make_zip([("zeros.csv", ZEROS_10MB)])
    with open_zip(data, max_ratio=2000) as archive:
        assert len(archive.read(archive.members[0])) == len(ZEROS_10MB)


def test_a_directory_that_overstates_the_compressed_size_is_caught() -> None:
    # The directory claims 9 MB compressed for 10 MB of zeros (1.1:1); the member's bytes
    # really end at the central directory, ~10 KB later.
    data = make_zip([("zeros.csv", ZEROS_10MB)])
    lying = patch_central_entry(data, b"zeros.csv", 20, "<L", 9_000_000)
    assert breach_of(lying) == ("compression_ratio_exceeded", "zeros.csv")


def test_a_directory_that_understates_the_size_fails_when_the_bytes_disagree() -> None:
    # The directory says 1,000 bytes: zipfile stops there and the CRC no longer matches.
    data = make_zip([("zeros.csv", ZEROS_10MB)])
    lying = patch_central_entry(data, b"zeros.csv", 24, "<L", 1000)
    assert breach_of(lying) == ("corrupt_archive", "zeros.csv")


# --- limits while inflating (the bytes that really come out) --------------------------------


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"max_member_size": 100_000}, "member_too_large"),
        ({"max_total_size": 150_000}, "archive_too_large"),
        ({"max_ratio": 10, "ratio_grace": 1000}, "compression_ratio_exceeded"),
    ],
)
def test_inflated_bytes_are_counted_against_every_limit(limits: dict[str, Any], code: str) -> None:
    # Given an archive whose directory passed the generous limits it was opened with
    data = make_zip([("a.csv", b"a" * 120_000), ("b.csv", b"b" * 120_000)])
    archive = open_zip(data)
    # When the limits are tighter than what the directory declared (as if it had lied)
    archive.limits = ArchiveLimits(**limits)
    # Then reading stops at the limit, and the archive remembers why
    with pytest.raises(FileLevelError) as caught:
        for info in archive.members:
            with archive.open(info, buffer_size=4096) as stream:
                while stream.read(4096):
                    pass
    assert caught.value.error.code == code
    assert archive.failure == caught.value.error
    # And nothing more can be read from it
    with pytest.raises(FileLevelError):
        archive.read(archive.members[-1])


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd.csv",
        "../escape.csv",
        "data/../../escape.csv",
        "data/..",
        "win\\path.csv",
        "C:/Windows/x.csv",
        "c:relative.csv",
    ],
)
def test_unsafe_member_names_are_refused(name: str) -> None:
    data = make_zip([("ok.csv", b"x\n"), (zipfile.ZipInfo(name), b"x\n")])
    code, member = breach_of(data)
    assert code == "unsafe_member_name"
    assert member == name


def test_nul_in_a_member_name_is_refused() -> None:
    data = make_zip([("aXb.csv", b"x\n")]).replace(b"aXb.csv", b"a\0b.csv")
    assert breach_of(data)[0] == "unsafe_member_name"


def test_a_name_that_appears_twice_is_refused() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = make_zip([("a.csv", b"x\n1\n"), ("a.csv", b"x\n2\n")])
    assert breach_of(data) == ("unsafe_member_name", "a.csv")


def test_dotted_names_that_stay_inside_are_fine() -> None:
    data = make_zip([("..data.csv", b"x\n"), ("a/b..c/d.csv", b"x\n"), ("./e.csv", b"x\n")])
    with open_zip(data) as archive:
        assert len(archive.members) == 3


# --- nested, encrypted, corrupt -------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["inner.zip", "rows.csv.gz", "a.tgz", "a.tar", "a.7z", "a.rar", "A.ZIP", "a.bz2"]
)
def test_nested_archives_are_refused_by_name(name: str) -> None:
    assert breach_of(make_zip([(name, b"whatever")])) == ("nested_archive", name)


@pytest.mark.parametrize(
    "content",
    [
        make_zip([("inner.csv", b"x\n")]),
        gzip.compress(b"x\n1\n", mtime=0),
        b"7z\xbc\xaf\x27\x1c" + b"\0" * 20,
    ],
    ids=["zip", "gzip", "7z"],
)
def test_nested_archives_are_refused_by_magic_bytes(content: bytes) -> None:
    assert breach_of(make_zip([("innocent.csv", content)])) == ("nested_archive", "innocent.csv")


def test_encrypted_members_are_refused() -> None:
    data = make_zip([("ok.csv", b"x\n"), ("secret.csv", b"x\n")])
    data = patch_central_entry(data, b"secret.csv", 8, "<H", 0x1)  # "encrypted" flag
    assert breach_of(data) == ("encrypted_member", "secret.csv")


def test_compression_methods_that_inflate_unbounded_are_refused() -> None:
    data = make_zip([("a.csv", b"x\n" * 100)], zipfile.ZIP_BZIP2)
    assert breach_of(data) == ("unsupported_compression", "a.csv")


@pytest.mark.parametrize(
    "data",
    [
        b"not a zip at all",
        b"",
        make_zip([("a.csv", b"x\n" * 1000)])[:-30],  # truncated end record
    ],
)
def test_unreadable_archives_are_corrupt(data: bytes) -> None:
    assert breach_of(data)[0] == "corrupt_archive"


def test_a_damaged_member_is_corrupt() -> None:
    data = bytearray(make_zip([("a.csv", bytes(range(256)) * 400)]))
    data[100] ^= 0xFF  # inside the deflate stream
    assert breach_of(bytes(data)) == ("corrupt_archive", "a.csv")


def test_an_oversized_central_directory_is_refused_before_it_is_read() -> None:
    data = bytearray(make_zip([("a.csv", b"x\n")]))
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<L", data, eocd + 12, 200 * 1024 * 1024)  # "200 MB of directory"
    assert breach_of(bytes(data), max_members=10)[0] == "corrupt_archive"

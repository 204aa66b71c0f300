"""content_mismatch: does the head of an upload look like its declared media type?"""

from __future__ import annotations

import gzip
import io
import random
import zipfile

import pytest

from intake.ingest.sniff import SNIFF_BYTES, content_mismatch

CSV = b"external_id,email,first_name\n1,ann@example.com,Ann\n"
JSON_ARRAY = b'[{"external_id": "1"}]'
JSON_OBJECT = b'{"records": [{"external_id": "1"}]}'
NDJSON = b'{"external_id": "1"}\n{"external_id": "2"}\n'


def zipped(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A fixed date keeps the bytes (and so the test ids) the same on every xdist worker.
        archive.writestr(zipfile.ZipInfo("contacts.csv", date_time=(2026, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (CSV, "text/csv"),
        (b"a;b\n1;2\n", "text/csv"),
        ("name\nZoë\n".encode(), "text/csv"),
        (JSON_ARRAY, "application/json"),
        (JSON_OBJECT, "application/json"),
        (NDJSON, "application/x-ndjson"),
        (b"\xef\xbb\xbf" + CSV, "text/csv"),
        (b"\xef\xbb\xbf \r\n\t" + JSON_ARRAY, "application/json"),
        (b"\n\n  " + JSON_OBJECT, "application/json"),
        (b"\xef\xbb\xbf\n" + NDJSON, "application/x-ndjson"),
        (gzip.compress(CSV, mtime=0), "text/csv"),
        (gzip.compress(NDJSON, mtime=0), "application/x-ndjson"),
        (gzip.compress(JSON_ARRAY, mtime=0), "application/json"),
    ],
)
def test_matching_content_is_accepted(head: bytes, media_type: str) -> None:
    assert content_mismatch(head, media_type) is None


@pytest.mark.parametrize("bom", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_with_a_bom_fits_text_csv(bom: str) -> None:
    text = "id;name\r\n1;Łukasz\r\n"
    data = ("\ufeff" + text).encode(bom) if bom != "utf-16" else text.encode(bom)
    assert content_mismatch(data, "text/csv") is None


@pytest.mark.parametrize(
    ("head", "media_type", "reason"),
    [
        (JSON_ARRAY, "text/csv", "the content is JSON, not CSV"),
        (NDJSON, "text/csv", "the content is JSON, not CSV"),
        (CSV, "application/json", "JSON content must start with [ or {"),
        (CSV, "application/x-ndjson", "JSON Lines content must start with a {"),
        (JSON_ARRAY, "application/x-ndjson", "JSON Lines content must start with a {"),
        (b"a,b\n1,\x00\x002\n", "text/csv", "the content is binary, not text/csv"),
        (
            "[1]\n".encode("utf-16"),
            "application/json",
            "the content is UTF-16 text; JSON must be UTF-8",
        ),
        ("a,b\n\x00".encode("utf-16"), "text/csv", "the content is binary, not text/csv"),
        (zipped(CSV), "text/csv", "the content is a ZIP archive, not text/csv"),
        (
            zipped(JSON_ARRAY),
            "application/json",
            "the content is a ZIP archive, not application/json",
        ),
        (
            gzip.compress(zipped(CSV), mtime=0),
            "text/csv",
            "the content is a ZIP archive, not text/csv",
        ),
        (gzip.compress(JSON_ARRAY, mtime=0), "text/csv", "the content is JSON, not CSV"),
        (b"\x1f\x8b" + b"definitely not deflate", "text/csv", "the gzip stream is corrupt"),
        (gzip.compress(CSV, mtime=0)[:6], "text/csv", "the gzip stream is corrupt"),
    ],
)
def test_mismatching_content_is_rejected_with_a_reason(
    head: bytes, media_type: str, reason: str
) -> None:
    assert content_mismatch(head, media_type) == reason


def test_a_gzip_head_cut_mid_stream_is_still_read() -> None:
    rng = random.Random(7)
    rows = b"".join(
        f"{rng.getrandbits(64):x},{rng.getrandbits(64):x}@x.io\n".encode() for _ in range(8000)
    )
    packed = gzip.compress(b"external_id,email\n" + rows, mtime=0)
    assert len(packed) > SNIFF_BYTES

    assert content_mismatch(packed[:SNIFF_BYTES], "text/csv") is None


# --- Excel workbooks ------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The start of a real .xls: the OLE2 signature, and its "Workbook" stream in the directory.
OLD_XLS = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "Workbook".encode("utf-16-le") + bytes(64)
)
# A password-protected .xlsx is an OLE2 file holding an "EncryptedPackage" stream.
ENCRYPTED_XLSX = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")
)


def workbook() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "email", "first_name"])
    sheet.append([1, "ann@example.com", "Ann"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def package(*names: str, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name in names:
            body = b"application/vnd.oasis.opendocument.spreadsheet" if name == "mimetype" else b"x"
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), body)
    return buffer.getvalue()


def test_a_workbook_declared_as_xlsx_is_accepted() -> None:
    assert content_mismatch(workbook()[:SNIFF_BYTES], XLSX) is None


def test_a_workbook_whose_head_shows_only_package_parts_is_left_to_the_reader() -> None:
    head = package("[Content_Types].xml", "_rels/.rels", "docProps/app.xml")
    assert content_mismatch(head, XLSX) is None


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (
            OLD_XLS,
            "the content is an old Excel .xls (binary) file, not .xlsx: save it as .xlsx or CSV",
        ),
        (
            ENCRYPTED_XLSX,
            "the workbook is password-protected: remove the password and save it again",
        ),
        (
            CSV,
            "the content is text, not an Excel workbook (.xlsx): CSV is declared as text/csv",
        ),
        (
            zipped(CSV),
            "the content is a ZIP archive of other files (contacts.csv), not an Excel workbook "
            "(.xlsx)",
        ),
        (
            package("mimetype", "content.xml", stored=True),
            "the content is an OpenDocument spreadsheet (.ods), not .xlsx: save it as .xlsx or CSV",
        ),
        (
            package("[Content_Types].xml", "word/document.xml"),
            "the content is a Word document (.docx), not an Excel workbook (.xlsx)",
        ),
        (
            b"PK\x05\x06" + bytes(18),
            "the content is an empty ZIP archive, not an Excel workbook (.xlsx)",
        ),
        (
            gzip.compress(CSV, mtime=0),
            "the content is gzip-compressed, not an Excel workbook (.xlsx)",
        ),
    ],
)
def test_what_is_not_a_workbook_is_named(head: bytes, reason: str) -> None:
    assert content_mismatch(head, XLSX) == reason


def test_a_workbook_declared_as_csv_or_zip_is_named_a_workbook() -> None:
    head = workbook()[:SNIFF_BYTES]
    assert content_mismatch(head, "text/csv") == (
        "the content is an Excel workbook (.xlsx), not text/csv"
    )
    assert content_mismatch(head, "application/zip") == (
        "the content is an Excel workbook (.xlsx), not a ZIP archive of files"
    )


def test_an_old_xls_declared_as_csv_is_named() -> None:
    assert content_mismatch(OLD_XLS, "text/csv") == (
        "the content is an old Excel .xls (binary) file, not text/csv"
    )


class _Unseekable(io.RawIOBase):
    """A pipe-like sink: zipfile then writes each member's sizes after its data (flag bit 3),
    as streaming xlsx writers do; the next header is found by its signature."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_a_streamed_workbook_with_sizes_after_the_data_is_still_a_workbook() -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("[Content_Types].xml", "_rels/.rels", "docProps/app.xml", "xl/workbook.xml"):
            archive.writestr(name, b"<x/>" * 100)
    head = bytes(sink.data)
    assert head[6] & 0x08  # the first local header defers its sizes

    assert content_mismatch(head, XLSX) is None
    assert content_mismatch(head, "text/csv") == (
        "the content is an Excel workbook (.xlsx), not text/csv"
    )

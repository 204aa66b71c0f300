"""Does the start of an object look like the media type it was declared with?

Only the head is read (SNIFF_BYTES). For ZIP containers that is enough to see the first
members' names in their local file headers: an .xlsx holds `xl/...` parts, a Word document
`word/...`, an OpenDocument spreadsheet starts with a `mimetype` member. What the head cannot
settle is left to the reader, which fails clearly on a ZIP that is no workbook.
"""

from __future__ import annotations

import codecs
import gzip
import struct
import zlib

from intake.ingest import media
from intake.ingest.streams import GZIP_MAGIC, ZIP_MAGIC

SNIFF_BYTES = 64 * 1024
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
# OLE2 compound file: old binary Office files (.xls, .doc) and password-protected .xlsx files.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # a stream of an encrypted .xlsx
_BIFF_WORKBOOK = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))
# signature, version, flags, method, time, date, crc, compressed, uncompressed, name, extra
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_DATA_DESCRIPTOR_FLAG = 0x08
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_OPC_PARTS = ("[Content_Types].xml", "_rels/", "docProps/", "customXml/")
_NAMES_SHOWN = 3
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def content_mismatch(head: bytes, media_type: str) -> str | None:
    """None if `head` (the first bytes) fits `media_type`, else the reason it does not."""
    if media_type == media.ZIP:
        if head[:4] == EMPTY_ZIP_MAGIC:
            return None
        if head[:4] != ZIP_MAGIC:
            return "the content is not a ZIP archive"
        if _is_workbook(zip_member_names(head)):
            return f"the content is {media.label(media.XLSX)}, not a ZIP archive of files"
        return None
    if media_type == media.XLSX:
        return _workbook_mismatch(head)
    if head[:2] == GZIP_MAGIC:
        head = _gunzip_head(head)
        if not head:
            return "the gzip stream is corrupt"
    if head[:4] == ZIP_MAGIC:
        if _is_workbook(zip_member_names(head)):
            return f"the content is {media.label(media.XLSX)}, not {media_type}"
        return f"the content is a ZIP archive, not {media_type}"
    if head[:8] == OLE2_MAGIC:
        return f"the content is {_ole2_kind(head)}, not {media_type}"
    if head[:2] in _UTF16_BOMS:
        # UTF-16 text (its ASCII has NUL bytes): a CSV reader reads it by its BOM.
        if media_type != media.CSV:
            return f"the content is UTF-16 text; {media.label(media_type)} must be UTF-8"
        head = head.decode("utf-16", errors="ignore").encode("utf-8", errors="surrogatepass")
    if b"\x00" in head:
        return f"the content is binary, not {media_type}"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if media_type == media.JSON and start not in (b"[", b"{"):
        return "JSON content must start with [ or {"
    if media_type == media.JSONL and start != b"{":
        return "JSON Lines content must start with a {"
    if media_type == media.CSV and start in (b"[", b"{"):
        return "the content is JSON, not CSV"
    return None


def zip_member_names(head: bytes) -> list[str]:
    """The names of the members whose local file headers lie in `head`, in archive order."""
    names: list[str] = []
    at = head.find(ZIP_MAGIC)
    while at >= 0 and at + _LOCAL_HEADER.size <= len(head):
        _, _, flags, _, _, _, _, compressed, _, name_length, extra_length = (
            _LOCAL_HEADER.unpack_from(head, at)
        )
        start = at + _LOCAL_HEADER.size
        raw = head[start : start + name_length]
        if len(raw) < name_length:
            break
        names.append(raw.decode("utf-8", "replace"))
        data = start + name_length + extra_length
        if flags & _DATA_DESCRIPTOR_FLAG or compressed == 0:
            # The size follows the data: look for the next header's signature instead.
            at = head.find(ZIP_MAGIC, data)
        else:
            at = data + compressed
            if head[at : at + 4] != ZIP_MAGIC:
                break  # the next header lies beyond the head (or the sizes lie)
    return names


def _workbook_mismatch(head: bytes) -> str | None:
    expected = media.label(media.XLSX)
    if head[:4] == ZIP_MAGIC:
        return _zip_not_workbook(head)
    if head[:4] == EMPTY_ZIP_MAGIC:
        return f"the content is an empty ZIP archive, not {expected}"
    if head[:8] == OLE2_MAGIC:
        if _ENCRYPTED_PACKAGE in head:
            return "the workbook is password-protected: remove the password and save it again"
        return f"the content is {_ole2_kind(head)}, not .xlsx: save it as .xlsx or CSV"
    if head[:2] == GZIP_MAGIC:
        return f"the content is gzip-compressed, not {expected}"
    if b"\x00" not in head[:4096]:
        return f"the content is text, not {expected}: CSV is declared as {media.CSV}"
    return f"the content is not {expected} (no ZIP signature)"


def _zip_not_workbook(head: bytes) -> str | None:
    names = zip_member_names(head)
    if _is_workbook(names):
        return None
    first = names[0] if names else ""
    if first == "mimetype" and _ODS_MIMETYPE in head[:256]:
        return (
            "the content is an OpenDocument spreadsheet (.ods), not .xlsx: save it as .xlsx or CSV"
        )
    if any(name.startswith("word/") for name in names):
        return f"the content is a Word document (.docx), not {media.label(media.XLSX)}"
    if any(name.startswith("ppt/") for name in names):
        return f"the content is a PowerPoint file (.pptx), not {media.label(media.XLSX)}"
    others = [name for name in names if not name.startswith(_OPC_PARTS)]
    if not others:
        return None  # only package parts so far: the reader decides
    shown = ", ".join(others[:_NAMES_SHOWN]) + (", ..." if len(others) > _NAMES_SHOWN else "")
    return f"the content is a ZIP archive of other files ({shown}), not {media.label(media.XLSX)}"


def _is_workbook(names: list[str]) -> bool:
    """SpreadsheetML parts live under `xl/` (xl/workbook.xml, xl/worksheets/sheet1.xml, ...)."""
    return any(name.startswith("xl/") and name.endswith((".xml", ".rels")) for name in names)


def _ole2_kind(head: bytes) -> str:
    """What an OLE2 file holds, by the stream names in its directory (when the head has it)."""
    if _ENCRYPTED_PACKAGE in head:
        return "a password-protected workbook"
    if any(name in head for name in _BIFF_WORKBOOK):
        return "an old Excel .xls (binary) file"
    return "an old Office binary file"


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
    except (zlib.error, gzip.BadGzipFile):
        return b""

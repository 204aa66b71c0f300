"""Does the start of an object look like the media type it was declared with?"""

from __future__ import annotations

import gzip
import zlib

from intake.ingest.streams import GZIP_MAGIC, ZIP_MAGIC

SNIFF_BYTES = 64 * 1024
ZIP_MEDIA_TYPE = "application/zip"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"


def content_mismatch(head: bytes, media_type: str) -> str | None:
    """None if `head` (the first bytes) fits `media_type`, else the reason it does not."""
    if media_type == ZIP_MEDIA_TYPE:
        if head[:4] in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
            return None
        return "the content is not a ZIP archive"
    if head[:2] == GZIP_MAGIC:
        head = _gunzip_head(head)
        if not head:
            return "the gzip stream is corrupt"
    if head[:4] == ZIP_MAGIC:
        return f"the content is a ZIP archive, not {media_type}"
    if b"\x00" in head:
        return f"the content is binary, not {media_type}"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if media_type == "application/json" and start not in (b"[", b"{"):
        return "JSON content must start with [ or {"
    if media_type == "application/x-ndjson" and start != b"{":
        return "JSON Lines content must start with a {"
    if media_type == "text/csv" and start in (b"[", b"{"):
        return "the content is JSON, not CSV"
    return None


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
    except (zlib.error, gzip.BadGzipFile):
        return b""

"""Bytes that are not the file that was declared end REJECTED with the reason, and nothing of
them is imported.

Every file here is declared with auto_import, so a check that let one through would write its
rows: the records table must stay empty. The uploads go straight to S3 (moto) the way a
misbehaving client would send them; real S3 already refuses most of them on the signed
Content-Length, Content-Type and checksum, so these cases test the worker's own check.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.support import Api, contacts_csv
from tests.security.conftest import Store
from tests.security.support import Refused, assert_refused

CSV = contacts_csv(5)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _zip_of(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


@dataclass(frozen=True)
class Mismatch:
    declared: dict[str, Any]  # fields of the declaration (name, media_type, size, sha256)
    sent: bytes
    reason: str  # a phrase the file's reason must contain
    content_type: str | None = None  # sent instead of the declared media type


CASES: dict[str, Mismatch] = {
    "larger-than-declared": Mismatch(
        {"size": len(CSV) - 10}, CSV, f"declared {len(CSV) - 10} bytes, received {len(CSV)}"
    ),
    "smaller-than-declared": Mismatch(
        {"size": len(CSV) + 10}, CSV, f"declared {len(CSV) + 10} bytes, received {len(CSV)}"
    ),
    "checksum-mismatch": Mismatch(
        {"sha256": hashlib.sha256(CSV.replace(b"c-0000", b"c-9999")).hexdigest()},
        CSV,
        "SHA-256",
    ),
    "png-declared-as-csv": Mismatch({"name": "contacts.csv"}, PNG, "binary"),
    "not-a-zip-declared-as-zip": Mismatch(
        {"name": "contacts.zip", "media_type": "application/zip"}, CSV, "not a ZIP"
    ),
    "zip-declared-as-csv": Mismatch({}, _zip_of("contacts.csv", CSV), "ZIP archive"),
    "json-declared-as-csv": Mismatch({}, b'[{"external_id": "j-1"}]', "JSON"),
    "corrupt-gzip-declared-as-csv": Mismatch({}, gzip.compress(CSV)[:12] + b"\x00" * 40, "gzip"),
    "other-content-type-at-upload": Mismatch({}, CSV, "image/png", content_type="image/png"),
}


def _send(block: dict[str, Any], data: bytes, content_type: str | None) -> None:
    """PUT the bytes with the block's headers, except those that describe what is sent:
    Content-Length is the real length, and the checksum header is left out (S3 would refuse
    a wrong one at once; the worker must catch a client that did not send it)."""
    headers = {
        k: v
        for k, v in block["headers"].items()
        if k.lower() not in ("content-length", "x-amz-checksum-sha256")
    }
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = requests.put(block["url"], headers=headers, data=data, timeout=30)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bytes_unlike_the_declaration_end_rejected_with_the_reason(
    api: Api, store: Store, tenant: str, case: Mismatch
) -> None:
    # Given a declaration for an auto-imported file
    fields = {"size": len(case.sent), "auto_import": True, **case.declared}
    declared = api.declare(case.sent, tenant=tenant, **fields)
    file_id = declared["file_id"]
    # When other bytes arrive
    _send(declared["upload"], case.sent, case.content_type)
    # Then the file ends REJECTED, saying why, and nothing was imported
    rejected = api.wait(file_id, "REJECTED", tenant=tenant)
    assert case.reason in (rejected["reason"] or ""), rejected["reason"]
    assert rejected["result"] is None
    assert store.records(tenant) == 0
    # and it cannot be imported afterwards
    response = api.call("POST", f"/files/{file_id}/import", tenant=tenant, json={})
    assert_refused(response, Refused(409, "illegal_state"))
    store.assert_unchanged(tenant, {file_id})
    assert api.file(file_id, tenant=tenant)["status"] == "REJECTED"

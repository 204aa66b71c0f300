"""Other tenants' files and cursors, path-like ids, and imports a file's state does not allow.

A tenant learns nothing about another tenant's files: their ids answer exactly like ids that
do not exist (404), and the owner's file is untouched.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.support import Api, contacts_csv
from tests.security.conftest import Store
from tests.security.support import Refused, assert_refused

NOT_FOUND = Refused(404, "not_found")
ILLEGAL_STATE = Refused(409, "illegal_state")


@pytest.fixture
def other() -> str:
    return f"sec{uuid.uuid4().hex[:16]}"


def test_another_tenants_file_reads_as_unknown(
    api: Api, store: Store, tenant: str, other: str
) -> None:
    file_id = api.uploaded(contacts_csv(2), tenant=other)
    theirs = api.call("GET", f"/files/{file_id}", tenant=tenant)
    unknown = api.call("GET", f"/files/{file_id[:-4]}0000", tenant=tenant)
    assert assert_refused(theirs, NOT_FOUND)["code"] == assert_refused(unknown, NOT_FOUND)["code"]
    assert theirs.json()["error"]["details"] == unknown.json()["error"]["details"]
    store.assert_unchanged(tenant)
    assert api.file(file_id, tenant=other)["status"] == "UPLOADED"


@pytest.mark.parametrize("check_only", [False, True], ids=["import", "check-only"])
def test_another_tenants_file_cannot_be_imported(
    api: Api, store: Store, tenant: str, other: str, check_only: bool
) -> None:
    file_id = api.uploaded(contacts_csv(3), tenant=other)
    response = api.call(
        "POST", f"/files/{file_id}/import", tenant=tenant, json={"check_only": check_only}
    )
    assert_refused(response, NOT_FOUND)
    store.assert_unchanged(tenant)
    # The owner's file did not move and nothing was imported for either tenant.
    owner = api.file(file_id, tenant=other)
    assert owner["status"] == "UPLOADED"
    assert owner["result"] is None
    assert store.records(other) == 0


def test_another_tenants_cursor_is_refused(api: Api, store: Store, tenant: str, other: str) -> None:
    for _ in range(3):
        api.declare(contacts_csv(1), tenant=other)
    mine = api.declare(contacts_csv(1), tenant=tenant)["file_id"]
    page = api.call("GET", "/files", tenant=other, params={"limit": 1}).json()
    assert page["next_cursor"]
    response = api.call("GET", "/files", tenant=tenant, params={"cursor": page["next_cursor"]})
    assert_refused(response, Refused(400, "bad_request", "cursor"))
    store.assert_unchanged(tenant, {mine})


@pytest.mark.parametrize(
    "path",
    [
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/%2e%2e",
        "/files/..%5C..%5Cwindows",
        "/files/FILE%23{file_id}",
        "/files/{file_id}%00",
        "/files/..%2F{other}%2F{file_id}/import",
    ],
    ids=["dot-dot", "encoded-dot-dot", "backslashes", "key-syntax", "nul-suffix", "import"],
)
def test_a_path_like_file_id_is_422(
    api: Api, store: Store, tenant: str, other: str, path: str
) -> None:
    # A file id is 28 hex digits; anything else is refused as a field before any lookup.
    file_id = api.uploaded(contacts_csv(1), tenant=other)
    method = "POST" if path.endswith("/import") else "GET"
    response = api.call(
        method,
        path.format(other=other, file_id=file_id),
        tenant=tenant,
        json={} if method == "POST" else None,
    )
    assert_refused(response, Refused(422, "validation_error", "file_id"))
    store.assert_unchanged(tenant)
    assert api.file(file_id, tenant=other)["status"] == "UPLOADED"


def test_import_before_upload_is_409(api: Api, store: Store, tenant: str) -> None:
    file_id = api.declare(contacts_csv(2), tenant=tenant)["file_id"]
    response = api.call("POST", f"/files/{file_id}/import", tenant=tenant, json={})
    assert_refused(response, ILLEGAL_STATE)
    assert api.file(file_id, tenant=tenant)["status"] == "PENDING_UPLOAD"
    store.assert_unchanged(tenant, {file_id})


def _nested(depth: int) -> bytes:
    return b'{"check_only": ' + b"[" * depth + b"]" * depth + b"}"


# id -> (raw body of POST /files/{file_id}/import, expected answer)
IMPORT_BODIES: dict[str, tuple[bytes, Refused]] = {
    "not-json": (b"{check_only: true}", Refused(400, "malformed_body")),
    "json-array": (b"[]", Refused(400, "malformed_body")),
    "nested-5000-deep": (_nested(5_000), Refused(400, "malformed_body")),
    "check-only-maybe": (
        b'{"check_only": "maybe"}',
        Refused(422, "validation_error", "check_only"),
    ),
    "on-invalid-unknown": (
        b'{"on_invalid": "explode"}',
        Refused(422, "validation_error", "on_invalid"),
    ),
    "tenant-in-body": (b'{"tenant": "globex"}', Refused(422, "validation_error", "tenant")),
}


@pytest.mark.parametrize(("body", "expected"), IMPORT_BODIES.values(), ids=IMPORT_BODIES.keys())
def test_a_bad_import_request_leaves_the_file_as_it_was(
    api: Api, store: Store, tenant: str, body: bytes, expected: Refused
) -> None:
    file_id = api.uploaded(contacts_csv(2), tenant=tenant)
    response = api.call(
        "POST",
        f"/files/{file_id}/import",
        tenant=tenant,
        data=body,
        headers={**api.stack.headers(tenant), "Content-Type": "application/json"},
    )
    assert_refused(response, expected)
    file = api.file(file_id, tenant=tenant)
    assert (file["status"], file["result"]) == ("UPLOADED", None)
    store.assert_unchanged(tenant, {file_id})

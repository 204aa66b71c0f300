"""Bad declarations (POST /files) and bad listing queries (GET /files).

Every case is one real request from a fresh tenant; each expects one exact answer and leaves
the tenant's partition empty, with the listing still answering.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import Api
from tests.security.conftest import Store
from tests.security.support import (
    Refused,
    as_json,
    assert_refused,
    declaration,
    send,
    without,
)

MALFORMED = Refused(400, "malformed_body")


def invalid(field: str) -> Refused:
    return Refused(422, "validation_error", field)


def nested(depth: int) -> bytes:
    return b'{"metadata": ' + b"[" * depth + b"]" * depth + b"}"


# id -> (raw request body, expected answer)
BODIES: dict[str, tuple[bytes, Refused]] = {
    # --- malformed -----------------------------------------------------------------------
    "not-json": (b"{not json", MALFORMED),
    "truncated-json": (b'{"name": "contacts.csv", "size": ', MALFORMED),
    "not-utf8": (b'{"name": "\xff\xfe.csv"}', MALFORMED),
    "json-array": (b"[]", MALFORMED),
    "json-string": (b'"contacts.csv"', MALFORMED),
    "json-null": (b"null", MALFORMED),
    "empty-body": (b"", MALFORMED),
    # Python's json gives up (RecursionError) near 1,000 levels: a small body, deeply nested.
    "nested-5000-deep": (nested(5_000), MALFORMED),
    # --- wrong types and missing fields --------------------------------------------------
    "size-text": (as_json(declaration(size="ten")), invalid("size")),
    "size-fraction": (as_json(declaration(size=1.5)), invalid("size")),
    "size-negative": (as_json(declaration(size=-1)), invalid("size")),
    "size-zero": (as_json(declaration(size=0)), invalid("size")),
    "name-number": (as_json(declaration(name=123)), invalid("name")),
    "name-null": (as_json(declaration(name=None)), invalid("name")),
    "name-missing": (as_json(without("name")), invalid("name")),
    "tags-string": (as_json(declaration(tags="a,b")), invalid("tags")),
    "metadata-list": (as_json(declaration(metadata=["k"])), invalid("metadata")),
    "metadata-value-number": (as_json(declaration(metadata={"k": 1})), invalid("metadata")),
    "auto-import-maybe": (as_json(declaration(auto_import="maybe")), invalid("auto_import")),
    "sha256-not-hex": (as_json(declaration(sha256="xyz")), invalid("sha256")),
    "on-invalid-unknown": (as_json(declaration(on_invalid="explode")), invalid("on_invalid")),
    # Mass assignment: the tenant comes from the token, never from the body.
    "tenant-in-body": (as_json(declaration(tenant="globex")), invalid("tenant")),
    # --- oversized (under the gateway's limits) ------------------------------------------
    "name-10k-chars": (as_json(declaration(name="a" * 10_000 + ".csv")), invalid("name")),
    "tags-too-many": (as_json(declaration(tags=[f"t{i}" for i in range(21)])), invalid("tags")),
    "tag-10k-chars": (as_json(declaration(tags=["t" * 10_000])), invalid("tags")),
    "metadata-too-many": (
        as_json(declaration(metadata={f"k{i}": "v" for i in range(21)})),
        invalid("metadata"),
    ),
    "metadata-value-100k": (
        as_json(declaration(metadata={"k": "v" * 100_000})),
        invalid("metadata"),
    ),
    # --- path-like names -----------------------------------------------------------------
    "name-dot-dot": (as_json(declaration(name="../../etc/passwd")), invalid("name")),
    "name-absolute": (as_json(declaration(name="/etc/passwd")), invalid("name")),
    "name-backslashes": (as_json(declaration(name="..\\..\\boot.ini")), invalid("name")),
    "name-drive": (as_json(declaration(name="C:\\temp\\contacts.csv")), invalid("name")),
    "name-key-prefix": (as_json(declaration(name="uploads/globex/x.csv")), invalid("name")),
    # --- control characters --------------------------------------------------------------
    "name-nul": (as_json(declaration(name="a\x00b.csv")), invalid("name")),
    "name-newline-log-forging": (
        as_json(declaration(name='x.csv\n{"level":"ERROR","message":"forged"}')),
        invalid("name"),
    ),
    "name-ansi-escape": (as_json(declaration(name="\x1b[31mred.csv")), invalid("name")),
    "name-del": (as_json(declaration(name="a\x7f.csv")), invalid("name")),
    "name-c1-control": (as_json(declaration(name="a\x85b.csv")), invalid("name")),
    "folder-bell": (as_json(declaration(folder="in\x07box")), invalid("folder")),
    "category-nul": (as_json(declaration(category="c\x00")), invalid("category")),
    "tag-nul": (as_json(declaration(tags=["ok", "t\x00"])), invalid("tags")),
    "metadata-value-escape": (as_json(declaration(metadata={"k": "v\x1b"})), invalid("metadata")),
    "media-type-nul": (as_json(declaration(media_type="text/csv\x00")), invalid("media_type")),
    "import-type-nul": (as_json(declaration(import_type="contacts\x00")), invalid("import_type")),
    # --- lone surrogates (valid JSON escapes, invalid Unicode text) ------------------------
    "name-lone-surrogate": (as_json(declaration(name="\udbcc.csv")), invalid("name")),
    "folder-lone-surrogate": (as_json(declaration(folder="\ud800")), invalid("folder")),
    "category-lone-surrogate": (as_json(declaration(category="x\udfff")), invalid("category")),
    "tag-lone-surrogate": (as_json(declaration(tags=["\udbcc"])), invalid("tags")),
    "metadata-value-surrogate": (
        as_json(declaration(metadata={"k": "\udbcc"})),
        invalid("metadata"),
    ),
    "metadata-key-surrogate": (as_json(declaration(metadata={"\udbcc": "v"})), invalid("metadata")),
    # --- hostile metadata keys -----------------------------------------------------------
    "metadata-key-space": (
        as_json(declaration(metadata={"key with space": "v"})),
        invalid("metadata"),
    ),
    "metadata-key-control": (as_json(declaration(metadata={"k\x01": "v"})), invalid("metadata")),
    "metadata-key-overlong": (
        as_json(declaration(metadata={"k" * 1_000: "v"})),
        invalid("metadata"),
    ),
    "metadata-key-empty": (as_json(declaration(metadata={"": "v"})), invalid("metadata")),
    "metadata-key-non-ascii": (as_json(declaration(metadata={"ключ": "v"})), invalid("metadata")),
    "metadata-key-colon": (as_json(declaration(metadata={"a:b": "v"})), invalid("metadata")),
    # A DynamoDB type tag as a map key: moto mis-stores the map and every later read fails.
    "metadata-key-type-tag-s": (
        as_json(declaration(metadata={"S": "v", "k": "v"})),
        invalid("metadata"),
    ),
    "metadata-key-type-tag-m": (as_json(declaration(metadata={"M": "v"})), invalid("metadata")),
    "metadata-key-proto": (as_json(declaration(metadata={"__proto__": "v"})), invalid("metadata")),
    # --- the import type: unknown, over its size limit, a media type it does not take ------
    "import-type-unknown": (as_json(declaration(import_type="nope")), invalid("import_type")),
    "import-type-path": (as_json(declaration(import_type="../contacts")), invalid("import_type")),
    "size-over-the-types-limit": (
        as_json(
            declaration(import_type="event", media_type="application/zip", size=100 * 2**20 + 1)
        ),
        Refused(413, "too_large", "size"),
    ),
    "media-type-png-for-contacts": (
        as_json(declaration(media_type="image/png")),
        Refused(415, "unsupported_media_type", "media_type"),
    ),
    "media-type-csv-for-event": (
        as_json(declaration(import_type="event")),
        Refused(415, "unsupported_media_type", "media_type"),
    ),
}


@pytest.mark.parametrize(("body", "expected"), BODIES.values(), ids=BODIES.keys())
def test_a_bad_declaration_is_refused_and_stores_nothing(
    api: Api, store: Store, tenant: str, body: bytes, expected: Refused
) -> None:
    response = send(api, "POST", "/files", tenant=tenant, body=body)
    assert_refused(response, expected)
    store.assert_unchanged(tenant)


@pytest.mark.parametrize(
    "size",
    [10 * 2**20 + 1, 7 * 2**20, 2**20],
    ids=["over-the-http-api-limit", "over-the-lambda-payload-limit", "1-mib"],
)
def test_an_oversized_body_is_413_before_anything_runs(
    api: Api, store: Store, tenant: str, size: int
) -> None:
    # A well-formed declaration padded with a huge tag list: refused by its size alone (10 MB
    # for an HTTP API request, 6 MB for the Lambda event it would become, and the API's own
    # bound on a declaration, far below both).
    padding = ["x" * 1000] * (size // 1004 + 1)
    body = as_json(declaration(tags=padding))
    assert len(body) >= size
    response = send(api, "POST", "/files", tenant=tenant, body=body)
    assert response.status_code == 413, response.text[:500]
    store.assert_unchanged(tenant)


QUERIES: dict[str, tuple[dict[str, Any], Refused]] = {
    "limit-zero": ({"limit": 0}, invalid("limit")),
    "limit-text": ({"limit": "abc"}, invalid("limit")),
    "limit-over-100": ({"limit": 101}, invalid("limit")),
    "status-unknown": ({"status": "NOPE"}, invalid("status")),
    "cursor-garbage": ({"cursor": "not-a-cursor"}, Refused(400, "bad_request", "cursor")),
    "cursor-forged-key": (
        {"cursor": "eyJwayI6ICJURU5BTlQjZ2xvYmV4In0"},  # {"pk": "TENANT#globex"}
        Refused(400, "bad_request", "cursor"),
    ),
    "import-type-control": ({"import_type": "contacts\x00"}, invalid("import_type")),
}


@pytest.mark.parametrize(("params", "expected"), QUERIES.values(), ids=QUERIES.keys())
def test_a_bad_listing_query_is_refused(
    api: Api, store: Store, tenant: str, params: dict[str, Any], expected: Refused
) -> None:
    api.declare(b"x" * 100, tenant=tenant)
    before = store.listed(tenant)
    response = send(api, "GET", "/files", tenant=tenant, params=params)
    assert_refused(response, expected)
    store.assert_unchanged(tenant, before)

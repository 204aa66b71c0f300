"""The HTTP contract (docs/http-contract.md) over plain HTTP against the local stack.

Every call goes through Api.call, which fails the test on any 5xx: bad input never gets one.
Answers the gateway gives itself have API Gateway's body, `{"message": "..."}`; answers of
the functions have the error envelope.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from intake_local.tokens import generate_key_pair, issue_token
from tests.e2e.support import Api, Stack, contacts_csv


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def _gateway(response, status: int, message: str) -> None:
    """An answer API Gateway gives itself: exactly its body, never the functions' envelope."""
    assert response.status_code == status, response.text
    assert response.json() == {"message": message}


# --- declare ------------------------------------------------------------------------------


def test_declare_answers_201_with_an_upload_block(api: Api, stack: Stack) -> None:
    data = contacts_csv(3)
    response = api.call(
        "POST",
        "/files",
        json={
            "name": "c.csv",
            "media_type": "text/csv",
            "size": len(data),
            "import_type": "contacts",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "PENDING_UPLOAD"
    assert body["file_id"]
    upload = body["upload"]
    assert upload["method"] == "PUT"
    # Straight to S3 (moto server here), never through the API.
    assert upload["url"].startswith(stack.aws_endpoint + "/")
    assert "X-Amz-Signature=" in upload["url"]  # SigV4
    assert upload["headers"]["Content-Type"] == "text/csv"
    expires = datetime.fromisoformat(upload["expires_at"].replace("Z", "+00:00"))
    assert 14 * 60 <= (expires - datetime.now(UTC)).total_seconds() <= 15 * 60 + 5


def test_upload_with_the_block_makes_the_file_uploaded(api: Api) -> None:
    data = contacts_csv(2)
    declared = api.declare(data)
    api.upload(declared, data)
    file = api.wait(declared["file_id"], "UPLOADED")
    assert file["size"] == len(data)
    assert file["media_type"] == "text/csv"


# --- 401 / 403: the JWT authorizer -------------------------------------------------------


def test_no_token_is_401(api: Api) -> None:
    response = api.call("GET", "/files", tenant=None)
    _gateway(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic dXNlcjpwYXNz"],
)
def test_malformed_token_is_401(api: Api, authorization: str) -> None:
    response = api.call("GET", "/files", tenant=None, headers={"Authorization": authorization})
    _gateway(response, 401, "Unauthorized")


def test_token_signed_by_another_key_is_401(api: Api) -> None:
    forged = issue_token(generate_key_pair(), tenant="acme")
    response = api.call("GET", "/files", tenant=None, headers={"Authorization": f"Bearer {forged}"})
    _gateway(response, 401, "Unauthorized")


def test_expired_token_is_401(api: Api, stack: Stack) -> None:
    expired = issue_token(stack.keys, tenant="acme", ttl_seconds=60, now=int(time.time()) - 3600)
    response = api.call(
        "GET", "/files", tenant=None, headers={"Authorization": f"Bearer {expired}"}
    )
    _gateway(response, 401, "Unauthorized")
    assert "expired" in response.headers["www-authenticate"]  # where API Gateway says why


@pytest.mark.parametrize("claim", [{"issuer": "someone-else"}, {"audience": "another-api"}])
def test_wrong_issuer_or_audience_is_401(api: Api, stack: Stack, claim: dict) -> None:
    token = issue_token(stack.keys, tenant="acme", **claim)
    response = api.call("GET", "/files", tenant=None, headers={"Authorization": f"Bearer {token}"})
    _gateway(response, 401, "Unauthorized")


def test_missing_scope_is_403(api: Api, stack: Stack) -> None:
    read_only = stack.headers("acme", scopes=("intake/read",))
    response = api.call(
        "POST",
        "/files",
        tenant=None,
        headers=read_only,
        json={"name": "c.csv", "media_type": "text/csv", "size": 10, "import_type": "contacts"},
    )
    _gateway(response, 403, "Forbidden")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    # The same token may read.
    assert api.call("GET", "/files", tenant=None, headers=read_only).status_code == 200
    write_only = stack.headers("acme", scopes=("intake/write",))
    _gateway(api.call("GET", "/import-types", tenant=None, headers=write_only), 403, "Forbidden")


def test_token_without_a_tenant_claim_is_refused(api: Api, stack: Stack) -> None:
    token = issue_token(stack.keys, tenant="acme", tenant_claim="not_the_tenant_claim")
    response = api.call("GET", "/files", tenant=None, headers={"Authorization": f"Bearer {token}"})
    _error(response, 403, "forbidden")  # the function's answer: the gateway let the token in


def test_public_documentation_routes_need_no_token(api: Api) -> None:
    spec = api.call("GET", "/openapi.json", tenant=None)
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.1")
    docs = api.call("GET", "/docs", tenant=None)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# --- 404 / 409 ----------------------------------------------------------------------------


def test_another_tenants_file_is_404(api: Api) -> None:
    data = contacts_csv(1)
    file_id = api.declare(data, tenant="acme")["file_id"]
    _error(api.call("GET", f"/files/{file_id}", tenant="globex"), 404, "not_found")
    _error(api.call("POST", f"/files/{file_id}/import", tenant="globex", json={}), 404, "not_found")
    listed = api.call("GET", "/files", tenant="globex").json()["items"]
    assert file_id not in {f["file_id"] for f in listed}


def test_unknown_file_is_404(api: Api) -> None:
    _error(api.call("GET", "/files/0000000000000000000000000000"), 404, "not_found")


def test_unknown_route_is_404(api: Api) -> None:
    _gateway(api.call("GET", "/nothing-here"), 404, "Not Found")
    _gateway(api.call("GET", "/files/x/y/z"), 404, "Not Found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/files", "GET, POST"),
        ("PUT", "/files/0000000000000000000000000000", "GET"),
        ("GET", "/files/0000000000000000000000000000/import", "POST"),
        ("PATCH", "/import-types", "GET"),
    ],
)
def test_another_method_on_an_api_path_is_405_with_allow(
    api: Api, method: str, path: str, allowed: str
) -> None:
    response = api.call(method, path)
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
    # Behind the authorizer, as every API route: no token, no function
    _gateway(api.call(method, path, tenant=None), 401, "Unauthorized")


def test_import_before_upload_is_409(api: Api) -> None:
    file_id = api.declare(contacts_csv(1))["file_id"]
    response = api.call("POST", f"/files/{file_id}/import", json={"check_only": False})
    _error(response, 409)


# --- 413 / 415 / 400 / 422 ----------------------------------------------------------------


def test_declared_size_over_the_types_limit_is_413(api: Api) -> None:
    types = {t["name"]: t for t in api.call("GET", "/import-types").json()}
    too_big = types["contacts"]["max_size"] + 1
    response = api.call(
        "POST",
        "/files",
        json={
            "name": "c.csv",
            "media_type": "text/csv",
            "size": too_big,
            "import_type": "contacts",
        },
    )
    _error(response, 413)


def test_request_body_over_10_mb_is_413_at_the_gateway(api: Api) -> None:
    response = api.call(
        "POST",
        "/files",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={**api.stack.headers(), "Content-Type": "application/json"},
        tenant=None,
    )
    _gateway(response, 413, "Request Entity Too Large")


def test_unsupported_media_type_is_415(api: Api) -> None:
    response = api.call(
        "POST",
        "/files",
        json={"name": "c.png", "media_type": "image/png", "size": 10, "import_type": "contacts"},
    )
    _error(response, 415)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"name": ', b"\xff\xfe\x00"],
)
def test_malformed_json_body_is_400(api: Api, body: bytes) -> None:
    response = api.call(
        "POST",
        "/files",
        data=body,
        headers={**api.stack.headers(), "Content-Type": "application/json"},
        tenant=None,
    )
    _error(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "c.csv", "media_type": "text/csv", "size": 0, "import_type": "contacts"},
        {"name": "", "media_type": "text/csv", "size": 10, "import_type": "contacts"},
        {"media_type": "text/csv", "size": 10, "import_type": "contacts"},
        {"name": "c.csv", "media_type": "text/csv", "size": "ten", "import_type": "contacts"},
        {"name": "c.csv", "media_type": "text/csv", "size": 10, "import_type": "nope"},
        {
            "name": "c.csv",
            "media_type": "text/csv",
            "size": 10,
            "import_type": "contacts",
            "sha256": "xyz",
        },
        {
            "name": "c.csv",
            "media_type": "text/csv",
            "size": 10,
            "import_type": "contacts",
            "bogus": 1,
        },
    ],
)
def test_invalid_fields_are_422_with_details(api: Api, body: dict) -> None:
    error = _error(api.call("POST", "/files", json=body), 422)
    assert error["details"], error


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/files", {"json": []}),
        ("POST", "/files", {"json": "text"}),
        ("POST", "/files", {"json": None}),
        ("POST", "/files", {"data": b""}),
        ("POST", "/files", {"data": b"name=x", "headers": {"Content-Type": "text/plain"}}),
        (
            "POST",
            "/files",
            {
                "json": {
                    "name": "a" * 10_000,
                    "media_type": "text/csv",
                    "size": 1,
                    "import_type": "contacts",
                }
            },
        ),
        (
            "POST",
            "/files",
            {
                "json": {
                    "name": "c.csv",
                    "media_type": "text/csv",
                    "size": 10**30,
                    "import_type": "contacts",
                }
            },
        ),
        (
            "POST",
            "/files",
            {
                "json": {
                    "name": "x\u0000y",
                    "media_type": "text/csv",
                    "size": 1,
                    "import_type": "contacts",
                }
            },
        ),
        ("GET", "/files?limit=-1", {}),
        ("GET", "/files?limit=abc", {}),
        ("GET", "/files?limit=100000", {}),
        ("GET", "/files?status=NOPE", {}),
        ("GET", "/files?cursor=not-a-cursor", {}),
        ("GET", "/files?cursor=eyJwayI6ICJ4In0=", {}),
        ("GET", "/files/..%2F..%2Fetc", {}),
        ("GET", "/files/" + "x" * 2000, {}),
        ("POST", "/files/abc/import", {"json": {"check_only": "maybe"}}),
        (
            "POST",
            "/files/abc/import",
            {"data": b"[", "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/files/abc/import", {"json": {"on_invalid": "explode"}}),
    ],
)
def test_bad_input_never_gets_a_5xx(api: Api, method: str, path: str, kwargs: dict) -> None:
    headers = {**api.stack.headers(), **kwargs.pop("headers", {})}
    response = api.call(method, path, tenant=None, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()
    assert "Traceback" not in response.text


# --- listing, CORS ------------------------------------------------------------------------


def test_list_files_pages_with_a_cursor(api: Api) -> None:
    tenant = f"pager{int(time.time() * 1000)}"
    declared = {api.declare(contacts_csv(1), tenant=tenant)["file_id"] for _ in range(3)}
    first = api.call("GET", "/files?limit=2", tenant=tenant).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = api.call(
        "GET", "/files", tenant=tenant, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    seen = {f["file_id"] for f in first["items"] + second["items"]}
    assert seen == declared
    assert not second.get("next_cursor")
    pending = api.call("GET", "/files?status=PENDING_UPLOAD", tenant=tenant).json()["items"]
    assert {f["file_id"] for f in pending} == declared
    assert api.call("GET", "/files?status=SUCCEEDED", tenant=tenant).json()["items"] == []


def test_cors_preflight_is_answered(api: Api) -> None:
    response = api.call(
        "OPTIONS",
        "/files",
        tenant=None,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-allow-origin"] in ("*", "https://app.example.com")

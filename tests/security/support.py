"""Shared shapes of the bad-input suite: a good declaration and the answers it checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from tests.e2e.support import Api


def declaration(**fields: Any) -> dict[str, Any]:
    """A declaration POST /files accepts; a case changes one thing about it."""
    return {
        "name": "contacts.csv",
        "media_type": "text/csv",
        "size": 100,
        "import_type": "contacts",
        **fields,
    }


def without(name: str) -> dict[str, Any]:
    body = declaration()
    del body[name]
    return body


def as_json(body: Any) -> bytes:
    """JSON as a client sends it: ASCII with \\u escapes, so a lone surrogate travels as the
    six characters `\\udbcc`, exactly what a fuzzer sends."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Refused:
    """The answer a case expects: status, the envelope's code, and the field it names."""

    status: int
    code: str | None = None
    field: str | None = None


def send(
    api: Api,
    method: str,
    path: str,
    *,
    tenant: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> requests.Response:
    all_headers = {**api.stack.headers(tenant)}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    return api.call(
        method, path, tenant=None, headers=all_headers, data=body, params=params or None
    )


def assert_refused(response: requests.Response, expected: Refused) -> dict[str, Any]:
    """The contract's envelope with the expected status and code; no trace of internals."""
    assert response.status_code == expected.status, response.text[:1000]
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["message"], error
    if expected.code is not None:
        assert error["code"] == expected.code, error
    if expected.field is not None:
        fields = {d.get("field") for d in error["details"]}
        assert any(
            f == expected.field or str(f).startswith(expected.field + ".") for f in fields
        ), error
    return dict(error)


def assert_gateway_refusal(response: requests.Response, status: int) -> None:
    """The HTTP API's JWT authorizer answers in its own shape, before any function runs."""
    message = {401: "Unauthorized", 403: "Forbidden"}[status]
    assert response.status_code == status, response.text[:1000]
    assert response.json() == {"message": message}

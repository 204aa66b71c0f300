"""Missing, forged, expired and misdirected tokens; scopes; the tenant claim.

Each refused request is a real declaration (POST /files): it must be answered by the
authorizer (401/403 in API Gateway's shape) and must leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.support import Api, Stack
from tests.security import forge
from tests.security.conftest import Store
from tests.security.support import (
    Refused,
    as_json,
    assert_gateway_refusal,
    assert_refused,
    declaration,
)


@pytest.mark.parametrize("make_token", forge.REFUSED.values(), ids=forge.REFUSED.keys())
def test_a_forged_expired_or_misdirected_token_is_401(
    api: Api, stack: Stack, store: Store, tenant: str, make_token: Callable[[Stack, str], str]
) -> None:
    response = api.call(
        "POST",
        "/files",
        tenant=None,
        headers={"Authorization": f"Bearer {make_token(stack, tenant)}"},
        json=declaration(),
    )
    assert_gateway_refusal(response, 401)
    store.assert_unchanged(tenant)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-header", "empty-bearer", "basic-auth"],
)
def test_a_missing_token_is_401(
    api: Api, store: Store, tenant: str, headers: dict[str, str]
) -> None:
    response = api.call("POST", "/files", tenant=None, headers=headers, json=declaration())
    assert_gateway_refusal(response, 401)
    store.assert_unchanged(tenant)


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("POST", "/files", ("intake/read",)),
        ("GET", "/files", ("intake/write",)),
        ("POST", "/files/0000/import", ("intake/read",)),
        ("GET", "/files", ()),
    ],
    ids=["declare-read-only", "list-write-only", "import-read-only", "no-scope"],
)
def test_a_missing_scope_is_403(
    api: Api,
    stack: Stack,
    store: Store,
    tenant: str,
    method: str,
    path: str,
    scopes: tuple[str, ...],
) -> None:
    body = as_json(declaration() if path == "/files" else {}) if method == "POST" else None
    response = api.call(
        method,
        path,
        tenant=None,
        headers={**stack.headers(tenant, scopes=scopes), "Content-Type": "application/json"},
        data=body,
    )
    assert_gateway_refusal(response, 403)
    store.assert_unchanged(tenant)


@pytest.mark.parametrize("claim", ["../acme", "acme/../globex", "", "a" * 200])
def test_a_verified_token_with_an_unusable_tenant_claim_is_403(
    api: Api, stack: Stack, store: Store, claim: str
) -> None:
    # The signature is good, so the authorizer lets it through; the function refuses the
    # tenant (a path-like or empty tenant would otherwise name a key prefix of its own).
    token = stack.token(claim)
    response = api.call(
        "POST",
        "/files",
        tenant=None,
        headers={"Authorization": f"Bearer {token}"},
        json=declaration(),
    )
    assert_refused(response, Refused(403, "forbidden"))
    if claim:
        assert store.stored(claim) == 0

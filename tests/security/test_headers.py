"""Huge and numerous headers: refused with a 4xx before any function runs, never a 5xx."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.support import Api, Stack
from tests.security.conftest import Store
from tests.security.support import assert_gateway_refusal, declaration

# API Gateway takes at most 10 KB of request line and header values (the local gateway answers
# 431 past it); http.server, under it, also refuses a header line over 64 KiB and more than 100
# headers, with 431.
HEADERS_LIMIT = 10240
HEADER_LINE_LIMIT = 65536
HEADER_COUNT_LIMIT = 100


def test_a_long_junk_token_is_401(api: Api, store: Store, tenant: str) -> None:
    headers = {"Authorization": "Bearer " + "a" * 8_000}
    response = api.call("POST", "/files", tenant=None, headers=headers, json=declaration())
    assert_gateway_refusal(response, 401)
    store.assert_unchanged(tenant)


def _headers_over_10_kb(stack: Stack, tenant: str) -> dict[str, str]:
    return {**stack.headers(tenant), "X-Partner-Notes": "n" * HEADERS_LIMIT}


def _long_authorization(stack: Stack, tenant: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + "a" * (HEADER_LINE_LIMIT + 10)}


def _many_headers(stack: Stack, tenant: str) -> dict[str, str]:
    junk = {f"X-Junk-{i}": "x" for i in range(HEADER_COUNT_LIMIT + 1)}
    return {**stack.headers(tenant), **junk}


OVER_THE_LIMITS: dict[str, Callable[[Stack, str], dict[str, str]]] = {
    "headers-over-10kb": _headers_over_10_kb,
    "authorization-over-64k": _long_authorization,
    "over-100-headers": _many_headers,
}


@pytest.mark.parametrize("make_headers", OVER_THE_LIMITS.values(), ids=OVER_THE_LIMITS.keys())
def test_headers_over_the_limits_are_431(
    api: Api,
    stack: Stack,
    store: Store,
    tenant: str,
    make_headers: Callable[[Stack, str], dict[str, str]],
) -> None:
    headers = make_headers(stack, tenant)
    response = api.call("POST", "/files", tenant=None, headers=headers, json=declaration())
    assert response.status_code == 431, response.text[:500]
    assert response.json() == {"message": "Request Header Fields Too Large"}
    store.assert_unchanged(tenant)

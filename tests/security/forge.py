"""Tokens an attacker could send: unsigned, re-signed, tampered, or valid but not for us."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from intake_local.tokens import generate_key_pair
from tests.e2e.support import Stack


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _join(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), signature]
    )


def alg_none(stack: Stack, tenant: str) -> str:
    """The claims of a good token, the header says `alg: none`, no signature."""
    header, payload, _ = _segments(stack.token(tenant))
    return _join({**header, "alg": "none"}, payload, "")


def hs256_with_the_public_key(stack: Stack, tenant: str) -> str:
    """Algorithm confusion: HMAC-signed with the public key (which anyone may hold)."""
    header, payload, _ = _segments(stack.token(tenant))
    header = {**header, "alg": "HS256"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(stack.keys.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def another_key_same_kid(stack: Stack, tenant: str) -> str:
    """Signed by a key the gateway does not trust, claiming the trusted key's id."""
    _, payload, _ = _segments(stack.token(tenant))
    return jwt.encode(
        payload, generate_key_pair().private_pem, algorithm="RS256", headers={"kid": stack.keys.kid}
    )


def tampered_signature(stack: Stack, tenant: str) -> str:
    """A good token with one signature character changed."""
    header, payload, signature = stack.token(tenant).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def tampered_claims(stack: Stack, tenant: str) -> str:
    """Another tenant's good token with its tenant claim rewritten, signature kept."""
    header, payload, signature = _segments(stack.token("someone-else"))
    return _join(header, {**payload, "tenant": tenant}, signature)


def expired(stack: Stack, tenant: str) -> str:
    return stack.token(tenant, ttl=60, now=int(time.time()) - 3600)


def not_yet_valid(stack: Stack, tenant: str) -> str:
    return stack.token(tenant, extra_claims={"nbf": int(time.time()) + 3600})


def wrong_audience(stack: Stack, tenant: str) -> str:
    return stack.token(tenant, audience="another-api")


def wrong_issuer(stack: Stack, tenant: str) -> str:
    return stack.token(tenant, issuer="https://evil.example.com")


def garbage(stack: Stack, tenant: str) -> str:
    return "not-a-jwt"


# name -> a token the authorizer must refuse with 401
REFUSED: dict[str, Callable[[Stack, str], str]] = {
    "garbage": garbage,
    "alg-none": alg_none,
    "hs256-public-key": hs256_with_the_public_key,
    "foreign-key": another_key_same_kid,
    "tampered-signature": tampered_signature,
    "tampered-claims": tampered_claims,
    "expired": expired,
    "not-yet-valid": not_yet_valid,
    "wrong-audience": wrong_audience,
    "wrong-issuer": wrong_issuer,
}

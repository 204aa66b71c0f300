"""Local JWTs: an RS256 key pair under <state>/jwt/, tokens for a tenant, and the check the
HTTP API's JWT authorizer makes (signature, issuer, audience, expiry, then route scopes).

In AWS the authorizer trusts a Cognito user pool (or any OIDC issuer); locally it trusts the
key generated here on first use. Nothing in layers/ or functions/ knows the difference: they
read the tenant from `requestContext.authorizer.jwt.claims`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "intake-local"
AUDIENCE = "intake"
DEFAULT_SCOPES = ("intake/read", "intake/write")
DEFAULT_TTL_SECONDS = 3600
ALGORITHM = "RS256"
# The authorizer allows a little clock skew, as API Gateway does.
LEEWAY_SECONDS = 5


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes

    @property
    def kid(self) -> str:
        """A stable key id: the first 16 url-safe characters of the public key's SHA-256."""
        digest = hashlib.sha256(self.public_pem).digest()
        return base64.urlsafe_b64encode(digest).decode()[:16]


def generate_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, public_pem)


def ensure_key_pair(state_dir: Path) -> KeyPair:
    """The key pair under <state_dir>/jwt/, generated on first use.

    Safe when several processes start at once: each writes to temporary files and the first
    to link its private key in place wins; the others read the winner's pair.
    """
    key_dir = state_dir / "jwt"
    private_path, public_path = key_dir / "private.pem", key_dir / "public.pem"
    if private_path.is_file() and public_path.is_file():
        return KeyPair(private_path.read_bytes(), public_path.read_bytes())
    key_dir.mkdir(parents=True, exist_ok=True)
    pair = generate_key_pair()
    suffix = f".{os.getpid()}.{uuid.uuid4().hex}.tmp"
    tmp_public = key_dir / ("public.pem" + suffix)
    tmp_private = key_dir / ("private.pem" + suffix)
    tmp_public.write_bytes(pair.public_pem)
    tmp_private.write_bytes(pair.private_pem)
    tmp_private.chmod(0o600)
    try:
        # Public first, private last: a reader that sees private.pem also sees public.pem.
        # os.link fails if the target exists, so a concurrent winner is never overwritten.
        os.link(tmp_public, public_path)
        os.link(tmp_private, private_path)
    except FileExistsError:
        pass
    finally:
        tmp_public.unlink(missing_ok=True)
        tmp_private.unlink(missing_ok=True)
    deadline = time.monotonic() + 5
    while not private_path.is_file() and time.monotonic() < deadline:  # a racing writer
        time.sleep(0.05)
    return KeyPair(private_path.read_bytes(), public_path.read_bytes())


def issue_token(
    keys: KeyPair,
    *,
    tenant: str,
    scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    subject: str | None = None,
    tenant_claim: str = "tenant",
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    now: int | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject or f"local-user@{tenant}",
        tenant_claim: tenant,
        "scope": " ".join(scopes),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "token_use": "access",
    }
    claims.update(extra_claims or {})
    return jwt.encode(claims, keys.private_pem, algorithm=ALGORITHM, headers={"kid": keys.kid})


class TokenRejected(Exception):
    """The authorizer's refusal: 401 (no/invalid token) or 403 (valid token, wrong scopes)."""

    def __init__(self, status: int, code: str, message: str, oauth_error: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.oauth_error = oauth_error

    @property
    def www_authenticate(self) -> str:
        """The header API Gateway's JWT authorizer sends with its 401/403 answers."""
        return f'Bearer error="{self.oauth_error}" error_description="{self.message}"'


@dataclass(frozen=True)
class Authorized:
    claims: dict[str, Any]
    scopes: list[str]


class JwtAuthorizer:
    """What an HTTP API JWT authorizer does, against the local public key.

    - the identity source is the Authorization header; a `Bearer ` prefix is optional;
    - the token must be a well-formed JWT signed by the key (alg RS256, kid if present);
    - iss must equal the issuer, aud (or client_id) must contain the audience;
    - exp must be in the future and nbf/iat not in the future (small leeway);
    - for a route with authorization scopes, the token's `scope` (or `scp`) claim must hold at
      least one of them, else 403.
    """

    def __init__(
        self, public_pem: bytes, *, issuer: str = ISSUER, audience: str = AUDIENCE
    ) -> None:
        self._public_key = serialization.load_pem_public_key(public_pem)
        self.issuer = issuer
        self.audience = audience

    def authorize(self, authorization: str | None, route_scopes: tuple[str, ...]) -> Authorized:
        token = _bearer(authorization)
        try:
            claims = jwt.decode(
                token,
                self._public_key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected(
                401, "unauthorized", "the token has expired", "invalid_token"
            ) from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(
                401, "unauthorized", "the token's issuer is not trusted", "invalid_token"
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenRejected(
                401, "unauthorized", "the token's signature is not valid", "invalid_token"
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenRejected(
                401, "unauthorized", f"the token is not valid: {exc}", "invalid_token"
            ) from None
        if not self._audience_ok(claims):
            raise TokenRejected(
                401, "unauthorized", "the token is not meant for this API", "invalid_token"
            )
        scopes = _scopes_of(claims)
        if route_scopes and not set(route_scopes) & set(scopes):
            raise TokenRejected(
                403,
                "forbidden",
                f"the token lacks the scope this route needs: {' or '.join(route_scopes)}",
                "insufficient_scope",
            )
        return Authorized(claims=claims, scopes=scopes)

    def _audience_ok(self, claims: dict[str, Any]) -> bool:
        # API Gateway accepts the audience in `aud` or, for Cognito access tokens, `client_id`.
        aud = claims.get("aud", claims.get("client_id"))
        values = aud if isinstance(aud, list) else [aud]
        return self.audience in values


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise TokenRejected(
            401, "unauthorized", "missing bearer token (Authorization header)", "invalid_request"
        )
    value = authorization.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value:
        raise TokenRejected(401, "unauthorized", "empty bearer token", "invalid_request")
    return value


def _scopes_of(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, list):
        return [str(s) for s in raw]
    return str(raw).split()


def stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims the way API Gateway hands them to the function: every value a string, numbers
    as their decimal text, booleans lower-case, lists as `[a b]`."""
    return {name: _claim_text(value) for name, value in claims.items()}


def _claim_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)

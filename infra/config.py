"""Deployment settings read from CDK context (cdk.json defaults, `-c key=value` overrides).

Every key has its default here as well as in cdk.json: `python app.py` (as `make synth` runs
it) does not read cdk.json, the CDK CLI does, and both must synthesize the same stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from constructs import Node

REPO_ROOT = Path(__file__).resolve().parent.parent

# Context key -> default. cdk.json mirrors these (a test keeps the two in step).
DEFAULTS: dict[str, object] = {
    "authIssuer": "",
    "authAudience": [],
    # Empty: "client_id" with the built-in Cognito pool (one app client per tenant), "tenant"
    # with an external OIDC issuer (e.g. a Keycloak protocol mapper).
    "tenantClaim": "",
    # With Cognito: one client-credentials app client is created per tenant name.
    "tenants": ["demo"],
    "corsOrigins": ["*"],
    "depsLayerPath": "build/layers/deps",
    "logLevel": "INFO",
    "cognitoDomainPrefix": "",
    "alarmEmail": "",
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class IntakeConfig:
    auth_issuer: str | None
    auth_audience: tuple[str, ...]
    tenant_claim: str
    tenants: tuple[str, ...]
    cors_origins: tuple[str, ...]
    deps_layer_path: Path
    log_level: str
    cognito_domain_prefix: str | None
    alarm_email: str | None

    @property
    def external_auth(self) -> bool:
        """True when an OIDC issuer is given: no Cognito user pool is created."""
        return self.auth_issuer is not None

    @classmethod
    def from_context(cls, node: Node) -> IntakeConfig:
        def get(key: str) -> object:
            value = node.try_get_context(key)
            return DEFAULTS[key] if value is None else value

        issuer = _text(get("authIssuer"))
        audience = _strings(get("authAudience"))
        if bool(issuer) != bool(audience):
            raise ValueError("context authIssuer and authAudience go together: set both or none")
        log_level = str(get("logLevel")).upper()
        if log_level not in LOG_LEVELS:
            raise ValueError(f"context logLevel must be one of {', '.join(LOG_LEVELS)}")
        deps = Path(str(get("depsLayerPath")))
        tenant_claim = _text(get("tenantClaim")) or ("tenant" if issuer else "client_id")
        tenants = _strings(get("tenants"))
        if not issuer and not tenants:
            raise ValueError("context tenants must name at least one tenant when Cognito is used")
        return cls(
            auth_issuer=issuer,
            auth_audience=audience,
            tenant_claim=tenant_claim,
            tenants=tenants,
            cors_origins=_strings(get("corsOrigins")) or ("*",),
            deps_layer_path=deps if deps.is_absolute() else REPO_ROOT / deps,
            log_level=log_level,
            cognito_domain_prefix=_text(get("cognitoDomainPrefix")),
            alarm_email=_text(get("alarmEmail")),
        )


def _text(value: object) -> str | None:
    text = str(value).strip()
    return text or None


def _strings(value: object) -> tuple[str, ...]:
    """A list from cdk.json, or a comma-separated string from `-c key=a,b`."""
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(f"expected a list or a comma-separated string, got {value!r}")
    return tuple(s for s in (str(item).strip() for item in items) if s)

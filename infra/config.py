"""Deployment settings read from CDK context (cdk.json defaults, `-c key=value` overrides).

Every key has its default here as well as in cdk.json: `python app.py` (as `make synth` runs
it) does not read cdk.json, the CDK CLI does, and both must synthesize the same stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from constructs import Node
from pydantic import TypeAdapter, ValidationError

from infra import definitions as d
from intake.settings import Settings

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
    # The write rate (items/s) the records table is given: a new on-demand table's by default;
    # above it, the table is warmed to it. The sharded runs' concurrency follows from it.
    "recordsWritesPerSecond": d.NEW_TABLE_WRITES_PER_SECOND,
}

# Sizes the functions read from their environment (intake.settings), set per deployment:
# context key -> Settings field. Each default and bound is the field's own, so `-c` can only
# set what the functions accept; the local stack takes the same variables from `make up`.
SIZE_SETTINGS: dict[str, str] = {
    # files_api: declared sizes above the threshold get a multipart upload of such parts.
    "multipartThresholdBytes": "multipart_threshold_bytes",
    "multipartPartBytes": "multipart_part_bytes",
    # Sharded runs: the worker shards files above the threshold; shard_plan cuts them.
    "shardThresholdBytes": "shard_threshold_bytes",
    "shardSizeBytes": "shard_size_bytes",
}
DEFAULTS.update({key: Settings.model_fields[field].default for key, field in SIZE_SETTINGS.items()})

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def env_name(field: str) -> str:
    """The environment variable a Settings field is read from (its alias): named once."""
    alias = Settings.model_fields[field].alias
    assert alias is not None, f"Settings.{field} has no alias"
    return alias


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
    sizes: dict[str, int]  # Settings field -> value (SIZE_SETTINGS)
    records_writes_per_second: int = d.NEW_TABLE_WRITES_PER_SECOND

    @property
    def records_warm_writes(self) -> int | None:
        """The records table's warm write throughput, when more than a new table takes."""
        rate = self.records_writes_per_second
        return rate if rate > d.NEW_TABLE_WRITES_PER_SECOND else None

    @property
    def shard_max_concurrency(self) -> int:
        """The sharded runs' map concurrency: as many shards as the table's rate keeps busy."""
        return d.shard_max_concurrency(self.records_writes_per_second)

    def environment(self, *fields: str) -> dict[str, str]:
        """The functions' variables for these Settings fields of `sizes`."""
        return {env_name(field): str(self.sizes[field]) for field in fields}

    @property
    def upload_environment(self) -> dict[str, str]:
        """files_api's: how it signs uploads."""
        return self.environment("multipart_threshold_bytes", "multipart_part_bytes")

    @property
    def shard_environment(self) -> dict[str, str]:
        """The worker's (which files to shard) and the sharded-runs functions' (how)."""
        return self.environment("shard_threshold_bytes", "shard_size_bytes")

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
            sizes={field: _size(key, field, get(key)) for key, field in SIZE_SETTINGS.items()},
            records_writes_per_second=_writes(get("recordsWritesPerSecond")),
        )


def _size(key: str, field: str, value: object) -> int:
    """`value` checked against the Settings field's own bounds (e.g. ge=5 MiB)."""
    adapter: TypeAdapter[int] = TypeAdapter(
        Annotated[int, *Settings.model_fields[field].metadata]  # type: ignore[valid-type]
    )
    try:
        return adapter.validate_python(value, strict=False)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        raise ValueError(f"context {key}: {problem} (got {value!r})") from None


def _writes(value: object) -> int:
    try:
        rate = int(str(value))
    except ValueError:
        rate = 0
    if not 1 <= rate <= d.TABLE_MAX_WRITES_PER_SECOND:
        raise ValueError(
            f"context recordsWritesPerSecond must be a whole number from 1 to "
            f"{d.TABLE_MAX_WRITES_PER_SECOND} (DynamoDB's table quota), got {value!r}"
        )
    return rate


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

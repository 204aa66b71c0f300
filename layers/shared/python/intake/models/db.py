"""The status table's item shape and the explicit mapping to and from the domain model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from intake.models.domain import ActiveRun, Analysis, FileRecord
from intake.models.mapping import Mapping, dump_mapping
from intake.models.profile import Profile

# The active-runs index: a sparse GSI of the status table. Only a file whose run is QUEUED or
# PROCESSING carries its keys (the repository sets them on those transitions and removes them
# at every other one), so the sweep finds overdue runs of every tenant without a scan.
ACTIVE_RUNS_INDEX = "active-runs"
ACTIVE_STATUS = "active_status"  # index partition key: "QUEUED" or "PROCESSING"
STALE_AT = "stale_at"  # index sort key (iso): when the run is overdue if nothing happens
REQUEUES = "requeues"  # how often the sweep sent this run's message again
ACTIVE_RUN_ATTRIBUTES = (ACTIVE_STATUS, STALE_AT, REQUEUES)
# What the index holds besides its keys and the table's: enough to requeue or fail the run.
ACTIVE_RUN_PROJECTION = (
    "tenant",
    "file_id",
    "status",
    "run",
    "check_only",
    "on_invalid",
    "lease_until",
    REQUEUES,
)
_NOT_FILE_FIELDS = ("pk", "sk", "ttl", *ACTIVE_RUN_ATTRIBUTES)


def file_key(tenant: str, file_id: str) -> dict[str, str]:
    return {"pk": f"TENANT#{tenant}", "sk": f"FILE#{file_id}"}


def digest_key(tenant: str, import_type: str, sha256: str) -> dict[str, str]:
    """The tenant's first SUCCEEDED file of a type with these bytes (item: file_id, ttl). In the
    tenant's partition but not under FILE#, so listings (begins_with FILE#) never see it."""
    return {"pk": f"TENANT#{tenant}", "sk": f"DIGEST#{import_type}#{sha256}"}


def tenant_partition(tenant: str) -> str:
    return f"TENANT#{tenant}"


# Saved profiles (dal/profile_repository.py), in the tenant's partition but not under FILE#.
# One item per profile, and one pointer item per import type naming the tenant's default.
PROFILE_PREFIX = "PROFILE#"
DEFAULT_PROFILE_PREFIX = "DEFAULT_PROFILE#"
PROFILE_VERSION = "version"  # bumped by every write: writes are conditional on the one read


def profile_key(tenant: str, name: str) -> dict[str, str]:
    return {"pk": tenant_partition(tenant), "sk": f"{PROFILE_PREFIX}{name}"}


def default_profile_key(tenant: str, import_type: str) -> dict[str, str]:
    """The pointer item (attribute `profile`: the default profile's name) for one type."""
    return {"pk": tenant_partition(tenant), "sk": f"{DEFAULT_PROFILE_PREFIX}{import_type}"}


def profile_to_item(profile: Profile, *, version: int) -> dict[str, Any]:
    """`default` is not stored on the profile: the type's pointer item says it."""
    return {
        **profile_key(profile.tenant, profile.name),
        "tenant": profile.tenant,
        "name": profile.name,
        "import_type": profile.import_type,
        "mapping": to_attr(profile.mapping),  # JSON text (JSON_TEXT_FIELDS says why)
        "created_at": iso(profile.created_at),
        "updated_at": iso(profile.updated_at),
        PROFILE_VERSION: version,
    }


def profile_from_item(item: dict[str, Any], *, default: bool) -> Profile:
    return Profile(
        tenant=str(item["tenant"]),
        name=str(item["name"]),
        import_type=str(item["import_type"]),
        mapping=Mapping.model_validate_json(str(item["mapping"])),
        created_at=datetime.fromisoformat(str(item["created_at"])),
        updated_at=datetime.fromisoformat(str(item["updated_at"])),
        default=default,
    )


def iso(value: datetime) -> str:
    """Fixed-width UTC text, so DynamoDB's string comparisons order instants correctly."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Stored as JSON text, not as a DynamoDB map: a mapping's keys are the partner's headers, and
# any text is a header (an empty one, or one spelled like a type tag "S", which moto misreads).
# An analysis holds suggested mappings (and its scores are floats, which DynamoDB refuses).
JSON_TEXT_FIELDS = ("mapping", "analysis")


def to_item(record: FileRecord) -> dict[str, Any]:
    body = record.model_dump(mode="json", exclude_none=True)
    for name in JSON_TEXT_FIELDS:
        if name in body:
            body[name] = to_attr(getattr(record, name))
    for name, value in record:
        if isinstance(value, datetime):
            body[name] = iso(value)
    item: dict[str, Any] = {**file_key(record.tenant, record.file_id), **body}
    return item


def from_item(item: dict[str, Any]) -> FileRecord:
    data = {k: _plain(v) for k, v in item.items() if k not in _NOT_FILE_FIELDS}
    for name in JSON_TEXT_FIELDS:
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    return FileRecord.model_validate(data)


def active_run_from_item(item: dict[str, Any]) -> ActiveRun:
    """An entry of the active-runs index."""
    fields = (*ACTIVE_RUN_PROJECTION, STALE_AT)
    return ActiveRun.model_validate({k: _plain(item[k]) for k in fields if k in item})


def to_attr(value: Any) -> Any:
    """A domain value as DynamoDB (resource API) wants it: no floats, datetimes as ISO text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return json.dumps(dump_mapping(value), separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, Analysis):
        return value.model_dump_json(exclude_none=True)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [to_attr(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

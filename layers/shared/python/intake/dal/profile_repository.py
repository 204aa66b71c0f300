"""Saved profiles in the status table, under the tenant's partition (models/db.py keys).

A profile is one item (`PROFILE#<name>`); the tenant's default profile of an import type is a
pointer item (`DEFAULT_PROFILE#<type>`, attribute `profile`). Every write that touches a
pointer is one transaction with a write of the profile it names, conditional on the profile's
`version` as it was read, and on the pointer naming what it named when read. So a pointer
only ever names an existing profile of its type, two defaults of one type never exist, and a
write that lost a race is retried on fresh reads rather than undoing the other's work.
"""

from __future__ import annotations

import re
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from intake.aws import client, resource
from intake.dal.cursors import decode_cursor, encode_cursor
from intake.errors import NotFound, Unavailable
from intake.models.db import (
    DEFAULT_PROFILE_PREFIX,
    PROFILE_PREFIX,
    PROFILE_VERSION,
    default_profile_key,
    profile_from_item,
    profile_key,
    profile_to_item,
    tenant_partition,
)
from intake.models.mapping import PROFILE_NAME
from intake.models.profile import Profile
from intake.settings import get_settings

_CURSOR_KEY = re.compile(PROFILE_PREFIX + PROFILE_NAME.strip("^$"))
_MAX_PAGES_PER_LIST = 10
# A write retried on fresh reads this often when a parallel write to the same profile or
# pointer won; beyond that the caller is told to retry (503, nothing was changed).
_ATTEMPTS = 5
_serialize = TypeSerializer().serialize
# Why a transaction was cancelled that a fresh read and another attempt can get past ("None":
# the other items of a cancelled transaction).
_RETRIED_REASONS = {"ConditionalCheckFailed", "TransactionConflict", "None", None}


def _table() -> Any:
    return resource("dynamodb").Table(get_settings().status_table)


def _key(key: dict[str, str]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in key.items()}


def get(tenant: str, name: str) -> Profile:
    """The tenant's profile `name`; NotFound (another tenant's included) if there is none."""
    item = _get_item(profile_key(tenant, name))
    if item is None:
        raise NotFound(f"profile {name} not found")
    return profile_from_item(item, default=_default_name(tenant, str(item["import_type"])) == name)


def default_for(tenant: str, import_type: str) -> Profile | None:
    """The tenant's default profile for `import_type`, if one is set."""
    name = _default_name(tenant, import_type)
    if name is None:
        return None
    item = _get_item(profile_key(tenant, name))
    # Pointers are written only with their profile (see module doc); a check costs nothing.
    if item is None or item["import_type"] != import_type:
        return None
    return profile_from_item(item, default=True)


def save(profile: Profile, *, default: bool) -> Profile:
    """Create or replace `profile` (created_at kept from the one it replaces). `default` makes
    it the tenant's default for its type, replacing any other; False removes it as the
    default if it was (a PUT states the whole profile)."""
    for _ in range(_ATTEMPTS):
        old = _get_item(profile_key(profile.tenant, profile.name))
        pointers = {profile.import_type: _default_name(profile.tenant, profile.import_type)}
        if old is not None and old["import_type"] != profile.import_type:
            old_type = str(old["import_type"])
            pointers[old_type] = _default_name(profile.tenant, old_type)
        created_at = profile.created_at
        if old is not None:
            created_at = profile_from_item(old, default=False).created_at
        saved = profile.model_copy(update={"created_at": created_at, "default": default})
        version = int(old[PROFILE_VERSION]) + 1 if old is not None else 1
        actions = [_put_profile(saved, version=version, old=old)]
        for import_type, named in pointers.items():
            key = default_profile_key(profile.tenant, import_type)
            if default and import_type == profile.import_type:
                actions.append(_put_pointer(key, profile.name, expected=named))
            elif named == profile.name:  # no longer the default (or of that type)
                actions.append(_delete_pointer(key, expected=profile.name))
        if _transact(actions):
            return saved
    raise _busy(profile.name)


def delete(tenant: str, name: str) -> None:
    """Delete the profile, and with it its type's default if it was that. NotFound if none."""
    for _ in range(_ATTEMPTS):
        old = _get_item(profile_key(tenant, name))
        if old is None:
            raise NotFound(f"profile {name} not found")
        import_type = str(old["import_type"])
        pointer = default_profile_key(tenant, import_type)
        named = _default_name(tenant, import_type)
        actions = [
            {
                "Delete": {
                    **_where(profile_key(tenant, name)),
                    **_condition("#v = :v", {"#v": PROFILE_VERSION}, {":v": old[PROFILE_VERSION]}),
                }
            }
        ]
        if named == name:
            actions.append(_delete_pointer(pointer, expected=name))
        if _transact(actions):
            return
    raise _busy(name)


def list_profiles(
    tenant: str, *, limit: int, cursor: str | None, import_type: str | None = None
) -> tuple[list[Profile], str | None]:
    """By name. A filter applies before paging, so a page is full unless the list ends."""
    defaults = _default_names(tenant)
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_partition(tenant))
        & Key("sk").begins_with(PROFILE_PREFIX),
    }
    if import_type is not None:
        query["FilterExpression"] = Attr("import_type").eq(import_type)
    start = decode_cursor(cursor, tenant, sort_key=_CURSOR_KEY) if cursor else None
    items: list[Profile] = []
    for _ in range(_MAX_PAGES_PER_LIST):
        page_query = dict(query, Limit=100 if import_type else max(limit - len(items), 1))
        if start:
            page_query["ExclusiveStartKey"] = start
        page = _table().query(**page_query)
        for raw in page.get("Items", []):
            name = str(raw["name"])
            items.append(profile_from_item(raw, default=defaults.get(raw["import_type"]) == name))
            if len(items) == limit:
                return items, encode_cursor(tenant, str(raw["sk"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return items, None
    return items, encode_cursor(tenant, start["sk"]) if start else None


# --- reads ------------------------------------------------------------------------------------


def _get_item(key: dict[str, str]) -> dict[str, Any] | None:
    item = _table().get_item(Key=key, ConsistentRead=True).get("Item")
    return dict(item) if item is not None else None


def _default_name(tenant: str, import_type: str) -> str | None:
    item = _get_item(default_profile_key(tenant, import_type))
    return str(item["profile"]) if item is not None else None


def _default_names(tenant: str) -> dict[str, str]:
    """Import type -> the default profile's name: one small query (one pointer per type)."""
    names: dict[str, str] = {}
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_partition(tenant))
        & Key("sk").begins_with(DEFAULT_PROFILE_PREFIX),
        "ConsistentRead": True,
    }
    while True:
        page = _table().query(**query)
        for item in page.get("Items", []):
            names[str(item["sk"]).removeprefix(DEFAULT_PROFILE_PREFIX)] = str(item["profile"])
        if "LastEvaluatedKey" not in page:
            return names
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- the transaction's parts ------------------------------------------------------------------


def _where(key: dict[str, str]) -> dict[str, Any]:
    return {"TableName": get_settings().status_table, "Key": _key(key)}


def _condition(
    expression: str, names: dict[str, str], values: dict[str, Any] | None = None
) -> dict[str, Any]:
    part: dict[str, Any] = {"ConditionExpression": expression, "ExpressionAttributeNames": names}
    if values:
        part["ExpressionAttributeValues"] = {k: _serialize(v) for k, v in values.items()}
    return part


def _put_profile(profile: Profile, *, version: int, old: dict[str, Any] | None) -> dict[str, Any]:
    item = profile_to_item(profile, version=version)
    if old is None:
        condition = _condition("attribute_not_exists(#pk)", {"#pk": "pk"})
    else:
        condition = _condition("#v = :v", {"#v": PROFILE_VERSION}, {":v": old[PROFILE_VERSION]})
    return {
        "Put": {
            "TableName": get_settings().status_table,
            "Item": {k: _serialize(v) for k, v in item.items()},
            **condition,
        }
    }


def _pointer_condition(expected: str | None) -> dict[str, Any]:
    """The pointer still names what it named when read (or still does not exist)."""
    if expected is None:
        return _condition("attribute_not_exists(#pk)", {"#pk": "pk"})
    return _condition("#p = :p", {"#p": "profile"}, {":p": expected})


def _put_pointer(key: dict[str, str], name: str, *, expected: str | None) -> dict[str, Any]:
    item = {**key, "profile": name}
    return {
        "Put": {
            "TableName": get_settings().status_table,
            "Item": {k: _serialize(v) for k, v in item.items()},
            **_pointer_condition(expected),
        }
    }


def _delete_pointer(key: dict[str, str], *, expected: str) -> dict[str, Any]:
    return {"Delete": {**_where(key), **_pointer_condition(expected)}}


def _transact(actions: list[dict[str, Any]]) -> bool:
    """True if written; False if a condition failed or a parallel transaction held an item
    (another write won or is winning: read again)."""
    try:
        client("dynamodb").transact_write_items(TransactItems=actions)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        reasons = {r.get("Code") for r in exc.response.get("CancellationReasons") or []}
        if code == "TransactionCanceledException" and reasons <= _RETRIED_REASONS:
            return False
        if code == "TransactionConflictException":
            return False
        raise
    return True


def _busy(name: str) -> Unavailable:
    return Unavailable(
        f"profile {name} is being changed by other requests right now; nothing was changed, retry"
    )

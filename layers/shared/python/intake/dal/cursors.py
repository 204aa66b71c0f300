"""Listing cursors of the status table: a position in one tenant's listing, opaque to clients.

Every listing of a tenant's partition (files, profiles) pages with the same cursor: base64url
JSON holding the tenant and the last sort key returned. The partition always comes from the
token, so a foreign cursor could never show another tenant's items; it is refused (400) all
the same, rather than taken as a position in the caller's own list (which would silently skip
part of it). Only a sort key of the listing's own shape goes back to DynamoDB: a forged one
(invalid UTF-16, which DynamoDB refuses) is the client's error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from intake.errors import BadRequest
from intake.models.db import tenant_partition


def encode_cursor(tenant: str, sk: str) -> str:
    """The position after the item with sort key `sk` in `tenant`'s listing."""
    position = {"tenant": tenant, "sk": sk}
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, tenant: str, *, sort_key: re.Pattern[str]) -> dict[str, str]:
    """The ExclusiveStartKey a cursor stands for, if it is `tenant`'s and its sort key has the
    listing's shape (`sort_key`, matched whole); else BadRequest `invalid_cursor`."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    sk = position.get("sk") if isinstance(position, dict) else None
    if not isinstance(sk, str) or not sort_key.fullmatch(sk) or position.get("tenant") != tenant:
        raise BadRequest(
            "cursor is not one this API returned",
            details=[{"field": "cursor", "code": "invalid_cursor", "message": "use next_cursor"}],
        )
    return {"pk": tenant_partition(tenant), "sk": sk}

"""Time and ids in one place."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


# What new_file_id (and a drop's id) looks like; the API refuses any other file id with 422.
FILE_ID_PATTERN = r"^[0-9a-f]{28}$"


def new_file_id(now: datetime) -> str:
    """Time-ordered (newest sorts last as text) and unguessable: 12 hex of ms + 16 random hex."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"

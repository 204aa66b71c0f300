"""Object key layout in the bucket (the stack's notifications filter on these prefixes)."""

from __future__ import annotations

from urllib.parse import unquote_plus

UPLOAD_PREFIX = "uploads/"
DROP_PREFIX = "drop/"
REPORT_PREFIX = "reports/"


def upload_key(tenant: str, file_id: str) -> str:
    return f"{UPLOAD_PREFIX}{tenant}/{file_id}"


def report_key(tenant: str, file_id: str, run: int) -> str:
    return f"{REPORT_PREFIX}{tenant}/{file_id}/run-{run}-errors.csv"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(tenant, file_id) of an uploads/<tenant>/<file_id> key, else None."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == UPLOAD_PREFIX and all(parts[1:]):
        return parts[1], parts[2]
    return None


def parse_drop_key(key: str) -> tuple[str, str, str] | None:
    """(tenant, import_type, name) of a drop/<tenant>/<import_type>/<...name> key, else None."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[0] + "/" == DROP_PREFIX and all(parts[1:]):
        return parts[1], parts[2], "/".join(parts[3:])
    return None


def decode_event_key(raw: str) -> str:
    """S3 notifications URL-encode keys (spaces as '+')."""
    return unquote_plus(raw)

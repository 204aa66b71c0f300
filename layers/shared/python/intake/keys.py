"""Object key layout in the bucket (the stack's notifications filter on these prefixes)."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, unquote_plus

from intake.models.mapping import PROFILE_NAME

UPLOAD_PREFIX = "uploads/"
DROP_PREFIX = "drop/"
REPORT_PREFIX = "reports/"
RECORD_PREFIX = "records/"
# A sharded run's working objects: a gzip or ZIP member re-staged as plain bytes, key hashes.
# Nothing under it outlives the run for long (a lifecycle rule expires it).
STAGING_PREFIX = "staging/"
_PROFILE_SEGMENT = re.compile(PROFILE_NAME)


def upload_key(tenant: str, file_id: str) -> str:
    return f"{UPLOAD_PREFIX}{tenant}/{file_id}"


def report_key(tenant: str, file_id: str, run: int) -> str:
    return f"{REPORT_PREFIX}{tenant}/{file_id}/run-{run}-errors.csv"


def staging_key(tenant: str, file_id: str, run: int, name: str) -> str:
    """A working object of run `run` of the file (sharded runs), named `name` within it."""
    return f"{STAGING_PREFIX}{tenant}/{file_id}/run-{run}/{name}"


def overflow_key(tenant: str, collection: str, key: str) -> str:
    """Where a record too big for DynamoDB keeps its biggest attributes (dal/record_sink.py):
    one object per record, rewritten when the record is."""
    return f"{RECORD_PREFIX}{tenant}/{collection}/{quote(key, safe='')}.json"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(tenant, file_id) of an uploads/<tenant>/<file_id> key, else None."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == UPLOAD_PREFIX and all(parts[1:]):
        return parts[1], parts[2]
    return None


class DropKey(NamedTuple):
    """A drop/<tenant>/<import_type>/<...name> key. The name's first folder may name a saved
    profile of the tenant (drop/<tenant>/<type>/<profile>/...): whether it does is the
    status table's to say (logic.profiles.drop_profile); otherwise it is a folder."""

    tenant: str
    import_type: str
    name: str  # the rest of the key, folders included

    @property
    def profile_segment(self) -> str | None:
        """The name's first folder, if it could be a profile's name."""
        first, slash, _ = self.name.partition("/")
        return first if slash and _PROFILE_SEGMENT.fullmatch(first) else None

    @property
    def name_after_profile(self) -> str:
        """The name below the profile's folder (when profile_segment names a profile)."""
        return self.name.partition("/")[2] if self.profile_segment else self.name


def parse_drop_key(key: str) -> DropKey | None:
    """(tenant, import_type, name) of a drop/<tenant>/<import_type>/<...name> key, else None."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[0] + "/" == DROP_PREFIX and all(parts[1:]):
        return DropKey(parts[1], parts[2], "/".join(parts[3:]))
    return None


def decode_event_key(raw: str) -> str:
    """S3 notifications URL-encode keys (spaces as '+')."""
    return unquote_plus(raw)

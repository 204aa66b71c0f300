"""The import types this deployment knows, by name, and how each one's files are read."""

from __future__ import annotations

from typing import Literal

from intake.errors import InvalidFields
from intake.import_types.base import ImportType
from intake.import_types.bundle import BundleImportType
from intake.import_types.contacts import CONTACTS
from intake.import_types.election_event import ELECTION_EVENT
from intake.import_types.event import EVENT
from intake.ingest.archive import ArchiveLimits, GiB, MiB

_REGISTRY: dict[str, ImportType] = {t.name: t for t in (CONTACTS, EVENT, ELECTION_EVENT)}

# What one ZIP may hold, per import type (zip-bomb limits; docs/decisions.md).
DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()
_ARCHIVE_LIMITS: dict[str, ArchiveLimits] = {
    # Contact exports are big and compress well: members up to 10 GiB, 20 GiB in all.
    CONTACTS.name: ArchiveLimits(max_total_size=20 * GiB, max_member_size=10 * GiB),
    # Bundle members are read whole into memory: keep them small.
    EVENT.name: ArchiveLimits(max_members=100, max_total_size=100 * MiB, max_member_size=50 * MiB),
    # One document read whole (a real export with its realm is a few MB of one-line JSON).
    ELECTION_EVENT.name: ArchiveLimits(
        max_members=10, max_total_size=100 * MiB, max_member_size=100 * MiB
    ),
}

Kind = Literal["records", "bundle"]


def all_import_types() -> list[ImportType]:
    return list(_REGISTRY.values())


def kind_of(import_type: ImportType) -> Kind:
    """`records`: a stream of rows (a file, or a ZIP of such files); `bundle`: one archive of
    related members imported as a whole."""
    return "bundle" if isinstance(import_type, BundleImportType) else "records"


def archive_limits(import_type: ImportType) -> ArchiveLimits:
    return _ARCHIVE_LIMITS.get(import_type.name, DEFAULT_ARCHIVE_LIMITS)


def get_import_type(name: str) -> ImportType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidFields(
            f"unknown import type {name!r}",
            details=[
                {
                    "field": "import_type",
                    "code": "unknown_import_type",
                    "message": f"known types: {', '.join(sorted(_REGISTRY))}",
                }
            ],
        ) from None

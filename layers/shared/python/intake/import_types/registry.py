"""The import types this deployment knows, by name."""

from __future__ import annotations

from intake.errors import InvalidFields
from intake.import_types.base import ImportType
from intake.import_types.contacts import CONTACTS

_REGISTRY: dict[str, ImportType] = {t.name: t for t in (CONTACTS,)}


def all_import_types() -> list[ImportType]:
    return list(_REGISTRY.values())


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

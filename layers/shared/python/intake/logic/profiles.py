"""Saved profiles: a tenant's named mappings, and how files get theirs.

A declaration, an import request or a drop may name a profile; the file then keeps a copy of
its mapping and its name (a snapshot: editing or deleting the profile later changes no file).
"""

from __future__ import annotations

from intake.clock import utcnow
from intake.dal import profile_repository
from intake.errors import InvalidFields, NotFound
from intake.import_types import get_import_type
from intake.import_types.mapping import check_mapping
from intake.models.mapping import Mapping
from intake.models.profile import Profile
from intake.observability import logger


def save_profile(
    tenant: str, name: str, *, import_type: str, mapping: Mapping, default: bool
) -> Profile:
    """Create or replace the profile, after checking its mapping against the type (422)."""
    check_mapping(get_import_type(import_type), mapping, prefix="mapping")
    now = utcnow()
    saved = profile_repository.save(
        Profile(
            tenant=tenant,
            name=name,
            import_type=import_type,
            mapping=mapping,
            created_at=now,  # kept from the profile it replaces, if any
            updated_at=now,
        ),
        default=default,
    )
    logger.info(
        "profile saved", extra={"profile": name, "import_type": import_type, "default": default}
    )
    return saved


def get_profile(tenant: str, name: str) -> Profile:
    return profile_repository.get(tenant, name)


def delete_profile(tenant: str, name: str) -> None:
    profile_repository.delete(tenant, name)
    logger.info("profile deleted", extra={"profile": name})


def list_profiles(
    tenant: str, *, limit: int, cursor: str | None, import_type: str | None
) -> tuple[list[Profile], str | None]:
    return profile_repository.list_profiles(
        tenant, limit=limit, cursor=cursor, import_type=import_type
    )


def chosen_mapping(
    tenant: str, import_type: str, *, mapping: Mapping | None, profile: str | None
) -> tuple[Mapping | None, str | None]:
    """The mapping and profile name a file takes from a request that gave a `mapping` or named
    a `profile` (or neither: (None, None)). A mapping is checked against the type; a profile
    must be the tenant's and of the type. Either problem is a 422 naming the field."""
    if mapping is not None:
        check_mapping(get_import_type(import_type), mapping, prefix="mapping")
        return mapping, None
    if profile is None:
        return None, None
    try:
        saved = profile_repository.get(tenant, profile)
    except NotFound:
        raise InvalidFields(
            f"no profile named {profile!r}",
            details=[
                {
                    "field": "profile",
                    "code": "unknown_profile",
                    "message": "save it first with PUT /profiles/{name}",
                }
            ],
        ) from None
    if saved.import_type != import_type:
        raise InvalidFields(
            f"profile {profile!r} is for {saved.import_type} files, not {import_type}",
            details=[
                {
                    "field": "profile",
                    "code": "profile_type_mismatch",
                    "message": f"{profile!r} maps {saved.import_type} files",
                }
            ],
        )
    return saved.mapping, saved.name


def drop_profile(tenant: str, import_type: str, segment: str | None) -> Profile | None:
    """The profile a drop under drop/<tenant>/<import_type>/<segment>/... uses: the tenant's
    profile named `segment` if it exists and is of the type (the segment then names the
    profile, not a folder); otherwise the tenant's default for the type, if any. None for a
    type that is not registered or takes no mapping (its drop is rejected or read as is)."""
    try:
        if not get_import_type(import_type).takes_mapping:
            return None
    except InvalidFields:
        return None  # an unknown type (any text S3 took): never looked up in the table
    if segment is not None:
        try:
            named = profile_repository.get(tenant, segment)
        except NotFound:
            named = None
        if named is not None and named.import_type == import_type:
            return named
    return profile_repository.default_for(tenant, import_type)

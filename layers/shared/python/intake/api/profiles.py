"""Routes of the profiles function: a tenant's saved mappings (PUT, GET, DELETE, list)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from intake.api import contract
from intake.api.auth import tenant_of
from intake.logic import profiles
from intake.models.api import (
    CURSOR,
    TYPE_NAME,
    ProfileList,
    ProfileRequest,
    ProfileView,
)
from intake.observability import logger, metrics

router = Router()


@router.put(
    "/profiles/<name>",
    summary="Save a profile: a named mapping for one import type",
    tags=["profiles"],
    operation_id="putProfile",
    responses=contract.PUT_PROFILE,
)
def put_profile(
    name: Annotated[str, contract.PROFILE_NAME],
    request: Annotated[ProfileRequest, Body()],
) -> ProfileView:
    logger.thread_safe_append_keys(profile=name)
    metrics.add_metric(name="ProfilesSaved", unit="Count", value=1)
    saved = profiles.save_profile(
        tenant_of(router.current_event),
        name,
        import_type=request.import_type,
        mapping=request.mapping,
        default=request.default,
    )
    return ProfileView.from_domain(saved)


@router.get(
    "/profiles/<name>",
    summary="A saved profile",
    tags=["profiles"],
    operation_id="getProfile",
    responses=contract.GET_PROFILE,
)
def get_profile(name: Annotated[str, contract.PROFILE_NAME]) -> ProfileView:
    logger.thread_safe_append_keys(profile=name)
    metrics.add_metric(name="ProfileReads", unit="Count", value=1)
    return ProfileView.from_domain(profiles.get_profile(tenant_of(router.current_event), name))


@router.delete(
    "/profiles/<name>",
    summary="Delete a saved profile (files that used it keep their copy of its mapping)",
    tags=["profiles"],
    operation_id="deleteProfile",
    responses=contract.DELETE_PROFILE,
)
def delete_profile(name: Annotated[str, contract.PROFILE_NAME]) -> Response[None]:
    logger.thread_safe_append_keys(profile=name)
    metrics.add_metric(name="ProfilesDeleted", unit="Count", value=1)
    profiles.delete_profile(tenant_of(router.current_event), name)
    return Response(status_code=204)


@router.get(
    "/profiles",
    summary="The tenant's profiles, by name",
    tags=["profiles"],
    operation_id="listProfiles",
    responses=contract.LIST_PROFILES,
)
def list_profiles(
    import_type: Annotated[str | None, Query(max_length=64, pattern=TYPE_NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=512, pattern=CURSOR)] = None,
) -> ProfileList:
    metrics.add_metric(name="ProfileListings", unit="Count", value=1)
    items, next_cursor = profiles.list_profiles(
        tenant_of(router.current_event), limit=limit, cursor=cursor, import_type=import_type
    )
    return ProfileList(items=[ProfileView.from_domain(p) for p in items], next_cursor=next_cursor)

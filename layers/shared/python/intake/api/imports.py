"""Routes of the imports function: queue an import or a validate-only run."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from intake.api.auth import tenant_of
from intake.logic import imports
from intake.models.api import ImportAccepted, ImportRequest
from intake.observability import logger, metrics

router = Router()


@router.post("/files/<file_id>/import", summary="Queue an import or a validation", tags=["imports"])
def request_import(
    file_id: Annotated[str, Path(max_length=64)],
    request: Annotated[ImportRequest, Body()],
) -> Response[ImportAccepted]:
    logger.append_keys(file_id=file_id)
    accepted = imports.request_import(tenant_of(router.current_event), file_id, request)
    metrics.add_metric(
        name="ValidationsQueued" if accepted.check_only else "ImportsQueued", unit="Count", value=1
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=accepted)

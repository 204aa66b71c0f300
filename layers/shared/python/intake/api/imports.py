"""Routes of the imports function: queue an import or a validate-only run."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from intake.api import contract, idempotency
from intake.api.auth import tenant_of
from intake.logic import run_requests
from intake.models.api import ImportAccepted, ImportRequest
from intake.observability import logger, metrics

router = Router()


@router.post(
    "/files/<file_id>/import",
    summary="Queue an import or a validation",
    tags=["imports"],
    operation_id="requestImport",
    responses=contract.REQUEST_IMPORT,
)
def request_import(
    file_id: Annotated[str, contract.FILE_ID],
    request: Annotated[ImportRequest, Body()],
    idempotency_key: Annotated[str | None, idempotency.IDEMPOTENCY_KEY] = None,
) -> Response[ImportAccepted]:
    logger.thread_safe_append_keys(file_id=file_id)
    tenant = tenant_of(router.current_event)
    accepted, replayed = idempotency.once(
        route="POST /files/{file_id}/import",
        tenant=tenant,
        key=idempotency_key,
        # The file is part of the request: the same key on another file is another request.
        request={"file_id": file_id, **request.model_dump(mode="json")},
        model=ImportAccepted,
        run=lambda: run_requests.request_import(tenant, file_id, request),
        context=router.lambda_context,
    )
    if replayed:
        metric = "IdempotentReplays"
    else:
        metric = "ValidationsQueued" if accepted.check_only else "ImportsQueued"
    metrics.add_metric(name=metric, unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=accepted)

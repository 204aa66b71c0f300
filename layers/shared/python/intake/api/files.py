"""Routes of the files function: declare, get, list; resume or abort an upload."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from intake.api import contract, idempotency
from intake.api.auth import tenant_of
from intake.logic import files
from intake.models.api import (
    CURSOR,
    TYPE_NAME,
    DeclareFileRequest,
    DeclareFileResponse,
    FileList,
    FileView,
    UploadAgainResponse,
)
from intake.models.domain import FileStatus
from intake.observability import logger, metrics

router = Router()


@router.post(
    "/files",
    summary="Declare a file and get its upload URL",
    tags=["files"],
    operation_id="declareFile",
    responses=contract.DECLARE_FILE,
)
def declare(
    request: Annotated[DeclareFileRequest, Body()],
    idempotency_key: Annotated[str | None, idempotency.IDEMPOTENCY_KEY] = None,
) -> Response[DeclareFileResponse]:
    tenant = tenant_of(router.current_event)
    created, replayed = idempotency.once(
        route="POST /files",
        tenant=tenant,
        key=idempotency_key,
        request=request.model_dump(mode="json"),
        model=DeclareFileResponse,
        run=lambda: files.declare_file(tenant, request),
        context=router.lambda_context,
    )
    logger.thread_safe_append_keys(file_id=created.file_id)
    metrics.add_metric(
        name="IdempotentReplays" if replayed else "FilesDeclared", unit="Count", value=1
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=created,
    )


@router.get(
    "/files/<file_id>",
    summary="A file's status, counts and errors",
    tags=["files"],
    operation_id="getFile",
    responses=contract.GET_FILE,
)
def get_file(file_id: Annotated[str, contract.FILE_ID]) -> FileView:
    logger.thread_safe_append_keys(file_id=file_id)
    metrics.add_metric(name="FileReads", unit="Count", value=1)
    return files.get_file(tenant_of(router.current_event), file_id)


@router.get(
    "/files",
    summary="The tenant's files, newest first",
    tags=["files"],
    operation_id="listFiles",
    responses=contract.LIST_FILES,
)
def list_files(
    status: Annotated[FileStatus | None, Query()] = None,
    import_type: Annotated[str | None, Query(max_length=64, pattern=TYPE_NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=512, pattern=CURSOR)] = None,
) -> FileList:
    metrics.add_metric(name="FileListings", unit="Count", value=1)
    items, next_cursor = files.list_files(
        tenant_of(router.current_event),
        limit=limit,
        cursor=cursor,
        status=status,
        import_type=import_type,
    )
    return FileList(items=items, next_cursor=next_cursor)


@router.get(
    "/files/<file_id>/upload",
    summary="The upload block again, signed afresh: resume an interrupted upload",
    tags=["files"],
    operation_id="getUpload",
    responses=contract.GET_UPLOAD,
)
def get_upload(file_id: Annotated[str, contract.FILE_ID]) -> UploadAgainResponse:
    logger.thread_safe_append_keys(file_id=file_id)
    metrics.add_metric(name="UploadsSignedAgain", unit="Count", value=1)
    return files.upload_again(tenant_of(router.current_event), file_id)


@router.delete(
    "/files/<file_id>/upload",
    summary="Abort the upload: S3 drops the parts sent so far, the file ends EXPIRED",
    tags=["files"],
    operation_id="abortUpload",
    responses=contract.ABORT_UPLOAD,
)
def abort_upload(file_id: Annotated[str, contract.FILE_ID]) -> Response[None]:
    logger.thread_safe_append_keys(file_id=file_id)
    metrics.add_metric(name="UploadsAborted", unit="Count", value=1)
    files.abort_upload(tenant_of(router.current_event), file_id)
    return Response(status_code=204)

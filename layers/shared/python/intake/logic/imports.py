"""Queue an import (or a validate-only run) of an uploaded file."""

from __future__ import annotations

from intake.clock import utcnow
from intake.dal import file_repository, import_queue
from intake.errors import Conflict, Unavailable
from intake.models.api import ImportAccepted, ImportRequest
from intake.models.domain import TRANSITIONS, FileRecord, FileStatus
from intake.models.messages import ImportMessage
from intake.observability import logger


def request_import(tenant: str, file_id: str, request: ImportRequest) -> ImportAccepted:
    record = file_repository.get(tenant, file_id)
    if record.status not in TRANSITIONS[FileStatus.QUEUED]:
        raise Conflict(
            _why_not(record),
            details=[{"field": "status", "code": "illegal_state", "message": record.status.value}],
        )
    queued = queue_run(record, check_only=request.check_only, on_invalid=request.on_invalid)
    return ImportAccepted(
        file_id=file_id,
        status=queued.status,
        check_only=queued.check_only,
        on_invalid=queued.on_invalid,
    )


def queue_run(record: FileRecord, *, check_only: bool, on_invalid: str) -> FileRecord:
    """Move the file to QUEUED (conditional on the state we saw) and send the run's message.

    If the queue refuses the message, the file goes back to the state it had: no run exists,
    so nothing is undone but the claim itself. That compensation is the one way a file leaves
    QUEUED other than PROCESSING (docs/decisions.md).
    """
    now = utcnow()
    run = record.run + 1
    queued = file_repository.transition(
        record.tenant,
        record.file_id,
        FileStatus.QUEUED,
        now=now,
        expect=[record.status],
        run=run,
        check_only=check_only,
        on_invalid=on_invalid,
    )
    message = ImportMessage(
        tenant=record.tenant,
        file_id=record.file_id,
        run=run,
        check_only=check_only,
        on_invalid=on_invalid,  # type: ignore[arg-type]
    )
    try:
        import_queue.send_import(message)
    except Unavailable:
        logger.exception("import queue refused the run; restoring the previous state")
        file_repository.restore_after_failed_queue(record, run=run, now=utcnow())
        raise
    logger.info(
        "run queued",
        extra={"file_id": record.file_id, "run": run, "check_only": check_only},
    )
    return queued


def _why_not(record: FileRecord) -> str:
    if record.status is FileStatus.PENDING_UPLOAD:
        return "the file has not been uploaded yet"
    if record.status in (FileStatus.QUEUED, FileStatus.PROCESSING):
        return "the file is already queued or being processed"
    return f"a {record.status.value} file cannot be imported"

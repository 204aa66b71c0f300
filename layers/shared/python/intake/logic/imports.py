"""Queue an import (or a validate-only run) of an uploaded file."""

from __future__ import annotations

from typing import Any

from intake.clock import utcnow
from intake.dal import file_repository, import_queue
from intake.errors import Conflict, Unavailable
from intake.logic.profiles import chosen_mapping
from intake.models.api import ImportAccepted, ImportRequest
from intake.models.domain import TRANSITIONS, FileRecord, FileStatus
from intake.models.mapping import Mapping
from intake.models.messages import ImportMessage
from intake.observability import logger


def request_import(tenant: str, file_id: str, request: ImportRequest) -> ImportAccepted:
    record = file_repository.get(tenant, file_id)
    if record.status not in TRANSITIONS[FileStatus.QUEUED]:
        raise Conflict(
            _why_not(record),
            details=[{"field": "status", "code": "illegal_state", "message": record.status.value}],
        )
    # A mapping (or profile) given now replaces the file's own, for this run and the next ones:
    # a file that FAILED on a wrong mapping is re-run with the corrected one, no new upload.
    mapping, profile = chosen_mapping(
        tenant, record.import_type, mapping=request.mapping, profile=request.profile
    )
    queued = queue_run(
        record,
        check_only=request.check_only,
        on_invalid=request.on_invalid,
        mapping=mapping,
        profile=profile,
    )
    return ImportAccepted(
        file_id=file_id,
        status=queued.status,
        check_only=queued.check_only,
        on_invalid=queued.on_invalid,
    )


def queue_run(
    record: FileRecord,
    *,
    check_only: bool,
    on_invalid: str,
    mapping: Mapping | None = None,
    profile: str | None = None,
) -> FileRecord:
    """Move the file to QUEUED (conditional on the state we saw) and send the run's message.

    A `mapping` replaces the file's mapping (and `profile` its profile: None for an inline
    mapping) in the same conditional write, so the run reads the one it was queued with.

    If the queue refuses the message, the file goes back to the state it had: no run exists,
    so nothing is undone but the claim itself. That compensation is the one way a file leaves
    QUEUED other than PROCESSING (docs/decisions.md).
    """
    now = utcnow()
    run = record.run + 1
    replaced: dict[str, Any] = {"mapping": mapping} if mapping is not None else {}
    if mapping is not None and profile is not None:
        replaced["profile"] = profile
    queued = file_repository.transition(
        record.tenant,
        record.file_id,
        FileStatus.QUEUED,
        now=now,
        expect=[record.status],
        remove=("profile",) if mapping is not None and profile is None else (),
        run=run,
        check_only=check_only,
        on_invalid=on_invalid,
        **replaced,
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

"""Ask for a run: queue an import (or a validate-only run) of an uploaded file, from an import
request, an auto_import upload or a drop. Runs are executed in logic/run_execution.py."""

from __future__ import annotations

from intake.clock import utcnow
from intake.dal import file_repository, import_queue
from intake.errors import Conflict, InvalidFields, Unavailable
from intake.import_types import ImportType, get_import_type
from intake.import_types.mapping import check_mapping
from intake.logic.files import check_takes
from intake.logic.profiles import chosen_mapping
from intake.models.api import ImportAccepted, ImportRequest
from intake.models.domain import TRANSITIONS, FileRecord, FileStatus, OnInvalid
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
    import_type, retyped = _run_type(record, request.import_type)
    # A mapping (or profile) given now replaces the file's own, for this run and the next ones:
    # a file that FAILED on a wrong mapping is re-run with the corrected one, no new upload.
    mapping, profile = chosen_mapping(
        tenant, import_type.name, mapping=request.mapping, profile=request.profile
    )
    if retyped and mapping is None and record.mapping is not None:
        # The file's own mapping was checked against its old type: check it against the new.
        check_mapping(import_type, record.mapping, prefix="mapping")
    queued = queue_run(
        record,
        check_only=request.check_only,
        # Not named, the file's own (declared, or named by an earlier request) holds.
        on_invalid=request.on_invalid or record.on_invalid,
        mapping=mapping,
        profile=profile,
        import_type=import_type.name if retyped else None,
    )
    return ImportAccepted(
        file_id=file_id,
        status=queued.status,
        check_only=queued.check_only,
        on_invalid=queued.on_invalid,
    )


def _run_type(record: FileRecord, named: str | None) -> tuple[ImportType, bool]:
    """The import type the run uses, and whether it is another than the file's: a file
    declared without one gets it here (after its analysis); a file with one may be given
    another until a run that writes records has been queued (docs/decisions.md, "Analysis")."""
    if named is None or named == record.import_type:
        if record.import_type is None:
            raise InvalidFields(
                "the file has no import type yet: name one",
                details=[
                    {
                        "field": "import_type",
                        "code": "import_type_required",
                        "message": "the file was declared without one; its `analysis` (GET "
                        "/files/{file_id}) suggests types with their mappings",
                    }
                ],
            )
        return get_import_type(record.import_type), False
    import_type = get_import_type(named)
    if record.import_type is not None and record.import_type_fixed:
        raise Conflict(
            f"the file's records are {record.import_type} records: it cannot be imported as "
            f"{named}",
            details=[
                {
                    "field": "import_type",
                    "code": "import_type_fixed",
                    "message": f"an import of the file as {record.import_type} was queued; "
                    "declare the bytes again to import them as another type",
                }
            ],
        )
    check_takes(import_type, record.media_type, record.size)
    return import_type, True


def queue_run(
    record: FileRecord,
    *,
    check_only: bool,
    on_invalid: OnInvalid,
    mapping: Mapping | None = None,
    profile: str | None = None,
    import_type: str | None = None,
) -> FileRecord:
    """Move the file to QUEUED (conditional on the state we saw) and send the run's message.

    A `mapping` replaces the file's mapping (and `profile` its profile: None for an inline
    mapping), and an `import_type` the file's type (checked by the caller), in the same
    conditional write, so the run reads what it was queued with. A run that may write records
    (not check_only) fixes the file's type for good.

    If the queue refuses the message, the file goes back to the state it had: no run exists,
    so nothing is undone but the claim itself. That compensation is the one way a file leaves
    QUEUED other than PROCESSING (docs/decisions.md).
    """
    queued = file_repository.queue_run(
        record,
        now=utcnow(),
        check_only=check_only,
        on_invalid=on_invalid,
        mapping=mapping,
        profile=profile,
        import_type=import_type,
        duplicate_of=_duplicate_of(record, import_type) if import_type is not None else None,
    )
    run = queued.run
    message = ImportMessage(
        tenant=record.tenant,
        file_id=record.file_id,
        run=run,
        check_only=check_only,
        on_invalid=on_invalid,
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


def _duplicate_of(record: FileRecord, import_type: str) -> str | None:
    """`duplicate_of` for a file that gets its type now: the earlier SUCCEEDED file of that
    type with the same bytes, if any (the upload check could not look without a type)."""
    if not record.sha256:
        return None
    first = file_repository.first_succeeded_with_digest(record.tenant, import_type, record.sha256)
    return first if first and first != record.file_id else None


def _why_not(record: FileRecord) -> str:
    if record.status is FileStatus.PENDING_UPLOAD:
        return "the file has not been uploaded yet"
    if record.status in (FileStatus.QUEUED, FileStatus.PROCESSING):
        return "the file is already queued or being processed"
    return f"a {record.status.value} file cannot be imported"

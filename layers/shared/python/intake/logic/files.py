"""Declare files, read them and list them for one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.clock import new_file_id, utcnow
from intake.dal import file_repository, object_store
from intake.errors import Conflict, InvalidFields, NotFound, PayloadTooLarge, UnsupportedMediaType
from intake.import_types import ImportType, all_import_types, get_import_type
from intake.ingest import media
from intake.keys import upload_key
from intake.logic.profiles import chosen_mapping
from intake.models.api import (
    DeclareFileRequest,
    DeclareFileResponse,
    FileView,
    UploadAgainResponse,
    UploadBlock,
    UploadPart,
)
from intake.models.api import UploadedPart as ApiUploadedPart
from intake.models.domain import FileRecord, FileStatus
from intake.observability import logger
from intake.settings import get_settings

MIB = 1024**2
MAX_PARTS = 10_000  # S3's limit per multipart upload
MIN_PART_BYTES = 5 * MIB  # S3's minimum for every part but the last
# How long a declared multipart upload may be resumed: the bucket's lifecycle rule aborts
# incomplete multipart uploads one day after they start (ABORT_INCOMPLETE_MULTIPART_DAYS in
# infra/definitions.py), and then the parts are gone.
MULTIPART_RESUME = timedelta(days=1)


def declare_file(tenant: str, request: DeclareFileRequest) -> DeclareFileResponse:
    media_type = media.normalise(request.media_type)
    if request.import_type is None:
        # No type yet: the file is analysed after upload, and its import request names one.
        check_untyped_declaration(request, media_type)
        mapping, profile = None, None
        type_name = None
    else:
        import_type = get_import_type(request.import_type)
        check_takes(import_type, media_type, request.size, name=request.name)
        # Checked before anything is presigned or stored: a mapping that does not fit the
        # type, or a profile the tenant does not have, is a 422 and nothing is declared.
        mapping, profile = chosen_mapping(
            tenant, import_type.name, mapping=request.mapping, profile=request.profile
        )
        type_name = import_type.name
    now = utcnow()
    file_id = new_file_id(now)
    key = upload_key(tenant, file_id)
    settings = get_settings()
    upload_id, part_size = None, None
    if request.size > settings.multipart_threshold_bytes:
        # S3 checks a whole-object SHA-256 only on a single PUT; for parts, the worker hashes
        # the assembled object against the declared one.
        part_size = part_size_for(request.size, settings.multipart_part_bytes)
        upload_id = object_store.start_multipart(key, media_type=media_type)
        planned = plan_parts(request.size, part_size)
        block = _multipart_block(key, upload_id, part_size, planned, None, now)
        # The file waits for its parts as long as S3 keeps them (MULTIPART_RESUME): its URLs
        # expire sooner, and GET /files/{file_id}/upload signs them again.
        expires_at = now + MULTIPART_RESUME
    else:
        block = _put_block(key, media_type, request.size, request.sha256, now)
        expires_at = block.expires_at
    record = FileRecord(
        tenant=tenant,
        file_id=file_id,
        name=request.name,
        media_type=media_type,
        size=request.size,
        import_type=type_name,
        status=FileStatus.PENDING_UPLOAD,
        created_at=now,
        updated_at=now,
        object_key=key,
        sha256=request.sha256.lower() if request.sha256 else None,
        folder=request.folder,
        category=request.category,
        tags=request.tags,
        metadata=request.metadata,
        auto_import=request.auto_import,
        check_only=request.check_only,
        on_invalid=request.on_invalid,
        csv_delimiter=request.csv_delimiter,
        mapping=mapping,
        profile=profile,
        upload_expires_at=expires_at,
        upload_id=upload_id,
        part_size=part_size,
    )
    file_repository.create(record)
    logger.info(
        "file declared",
        extra={"file_id": file_id, "import_type": record.import_type, "size": record.size},
    )
    return DeclareFileResponse(file_id=file_id, status=record.status, upload=block)


def check_takes(import_type: ImportType, media_type: str, size: int, *, name: str = "") -> None:
    """A file of `import_type` must be of a media type it takes (415) and within its size
    limit (413): for a declaration, and for an import request that names the type."""
    if media_type not in import_type.media_types:
        raise UnsupportedMediaType(
            f"{import_type.name} does not take {media_type}",
            details=[
                {
                    "field": "media_type",
                    "code": "unsupported_media_type",
                    "message": media.not_taken(media_type, import_type.media_types, name),
                }
            ],
        )
    if size > import_type.max_size:
        raise PayloadTooLarge(
            f"{size} bytes is over the {import_type.name} limit of {import_type.max_size}",
            details=[
                {"field": "size", "code": "too_large", "message": f"max {import_type.max_size}"}
            ],
        )


def check_untyped_declaration(request: DeclareFileRequest, media_type: str) -> None:
    """A file declared without an import type: of a media type some type takes (415), within
    the largest limit of those types (413), and asking for nothing that needs a type (422)."""
    needs_type = [
        (name, why)
        for name, given, why in (
            ("auto_import", request.auto_import, "an import needs a type"),
            ("mapping", request.mapping is not None, "a mapping is checked against a type"),
            ("profile", request.profile is not None, "a profile belongs to a type"),
        )
        if given
    ]
    if needs_type:
        raise InvalidFields(
            "import_type is required with " + ", ".join(name for name, _ in needs_type),
            details=[
                {
                    "field": "import_type",
                    "code": "import_type_required",
                    "message": f"{why} ({name}); declare without it to have the file analysed, "
                    "then import it with the type and mapping its analysis suggests",
                }
                for name, why in needs_type
            ],
        )
    takers = [t for t in all_import_types() if media_type in t.media_types]
    if not takers:
        known = sorted({m for t in all_import_types() for m in t.media_types})
        raise UnsupportedMediaType(
            f"no import type takes {media_type}",
            details=[
                {
                    "field": "media_type",
                    "code": "unsupported_media_type",
                    "message": media.not_taken(media_type, known, request.name),
                }
            ],
        )
    largest = max(t.max_size for t in takers)
    if request.size > largest:
        raise PayloadTooLarge(
            f"{request.size} bytes is over the largest limit for {media_type} ({largest})",
            details=[{"field": "size", "code": "too_large", "message": f"max {largest}"}],
        )


@dataclass(frozen=True)
class PlannedPart:
    number: int  # 1-based, as S3 counts
    offset: int
    length: int


def part_size_for(size: int, preferred: int) -> int:
    """The part size for a file of `size` bytes: `preferred`, or larger so that there are at
    most MAX_PARTS parts (S3's limit), rounded up to a whole MiB."""
    needed = -(-size // MAX_PARTS)
    if needed <= preferred:
        return preferred
    return -(-needed // MIB) * MIB


def plan_parts(size: int, part_size: int) -> list[PlannedPart]:
    """The parts of a `size`-byte file: every one `part_size` bytes but the last (S3 takes a
    last part under its 5 MiB minimum)."""
    if part_size < MIN_PART_BYTES:
        raise ValueError(f"parts of {part_size} bytes are under S3's minimum of {MIN_PART_BYTES}")
    parts = [
        PlannedPart(number, offset, min(part_size, size - offset))
        for number, offset in enumerate(range(0, size, part_size), start=1)
    ]
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{len(parts)} parts of {part_size} bytes: S3 takes {MAX_PARTS}")
    return parts


def _put_block(
    key: str, media_type: str, size: int, sha256_hex: str | None, now: datetime
) -> UploadBlock:
    upload = object_store.presign_put(
        key, media_type=media_type, size=size, sha256_hex=sha256_hex, now=now
    )
    return UploadBlock(
        method="PUT", url=upload.url, headers=upload.headers, expires_at=upload.expires_at
    )


def _multipart_block(
    key: str,
    upload_id: str,
    part_size: int,
    to_send: list[PlannedPart],
    uploaded: list[ApiUploadedPart] | None,
    now: datetime,
) -> UploadBlock:
    """`uploaded`: None in a declaration's block (the field is left out), else the parts S3
    has."""
    upload = object_store.presign_parts(
        key, upload_id=upload_id, parts=[(p.number, p.length) for p in to_send], now=now
    )
    return UploadBlock(
        method="MULTIPART",
        part_size=part_size,
        parts=[UploadPart(part_number=n, url=u, headers=h) for n, u, h in upload.parts],
        complete_url=upload.complete_url,
        uploaded=uploaded,
        expires_at=upload.expires_at,
    )


def upload_again(tenant: str, file_id: str) -> UploadAgainResponse:
    """The upload block of a file still PENDING_UPLOAD, signed afresh: for a multipart upload,
    URLs for the parts S3 does not have and the list of those it has; for a single PUT, the
    PUT (its file then waits for the bytes until the new URL expires)."""
    record = expire_if_due(file_repository.get(tenant, file_id))
    _check_pending(record)
    now = utcnow()
    if record.upload_id is None or record.part_size is None:
        block = _put_block(record.object_key, record.media_type, record.size, record.sha256, now)
        record = file_repository.update_fields(
            tenant,
            file_id,
            expect_status=FileStatus.PENDING_UPLOAD,
            upload_expires_at=max(block.expires_at, record.upload_expires_at or now),
        )
        return UploadAgainResponse(file_id=file_id, status=record.status, upload=block)
    try:
        held = object_store.list_parts(record.object_key, upload_id=record.upload_id)
    except NotFound:
        # Completed (its notification is on its way to the worker) or aborted.
        raise _not_pending(file_id, "its multipart upload is complete or gone") from None
    planned = plan_parts(record.size, record.part_size)
    by_number = {p.part_number: p for p in held}
    # A part counts as sent only at its planned size (its URL signs the Content-Length).
    sent = [
        by_number[p.number]
        for p in planned
        if p.number in by_number and by_number[p.number].size == p.length
    ]
    sent_numbers = {p.part_number for p in sent}
    block = _multipart_block(
        record.object_key,
        record.upload_id,
        record.part_size,
        [p for p in planned if p.number not in sent_numbers],
        [ApiUploadedPart(part_number=p.part_number, etag=p.etag, size=p.size) for p in sent],
        now,
    )
    logger.info(
        "upload signed again",
        extra={
            "file_id": file_id,
            "parts_held": len(sent),
            "parts_to_send": len(planned) - len(sent),
        },
    )
    return UploadAgainResponse(file_id=file_id, status=record.status, upload=block)


def abort_upload(tenant: str, file_id: str) -> None:
    """End a file's upload: the file becomes EXPIRED (a conditional transition: 409 if its
    bytes arrived first) and S3 drops the parts of its multipart upload."""
    record = file_repository.get(tenant, file_id)
    _check_pending(record)
    file_repository.transition(
        tenant,
        file_id,
        FileStatus.EXPIRED,
        now=utcnow(),
        expect=[FileStatus.PENDING_UPLOAD],
        reason="the upload was aborted (DELETE /files/{file_id}/upload)",
    )
    if record.upload_id:
        object_store.abort_multipart(record.object_key, upload_id=record.upload_id)
    logger.info("upload aborted", extra={"file_id": file_id, "multipart": bool(record.upload_id)})


def _check_pending(record: FileRecord) -> None:
    if record.status is not FileStatus.PENDING_UPLOAD:
        raise _not_pending(record.file_id, f"it is {record.status.value}")


def _not_pending(file_id: str, why: str) -> Conflict:
    return Conflict(
        f"file {file_id} is not waiting for an upload: {why}",
        details=[{"field": "status", "code": "illegal_state", "message": why}],
    )


def get_file(tenant: str, file_id: str) -> FileView:
    return _view(expire_if_due(file_repository.get(tenant, file_id)))


def list_files(
    tenant: str,
    *,
    limit: int,
    cursor: str | None,
    status: FileStatus | None,
    import_type: str | None,
) -> tuple[list[FileView], str | None]:
    records, next_cursor = file_repository.list_files(
        tenant, limit=limit, cursor=cursor, status=status, import_type=import_type
    )
    return [_view(expire_if_due(r)) for r in records], next_cursor


def expire_if_due(record: FileRecord) -> FileRecord:
    """PENDING_UPLOAD past its upload URL's expiry becomes EXPIRED when it is next looked at."""
    now = utcnow()
    if (
        record.status is not FileStatus.PENDING_UPLOAD
        or record.upload_expires_at is None
        or record.upload_expires_at > now
    ):
        return record
    try:
        return file_repository.transition(
            record.tenant,
            record.file_id,
            FileStatus.EXPIRED,
            now=now,
            reason="the upload URL expired before any bytes arrived",
        )
    except Conflict:  # the upload landed in the meantime
        return file_repository.get(record.tenant, record.file_id)


def _view(record: FileRecord) -> FileView:
    url = None
    if record.error_report_key:
        url = object_store.presign_get(
            record.error_report_key, filename=f"{record.file_id}-errors.csv"
        )
    return FileView.from_domain(record, error_report_url=url)

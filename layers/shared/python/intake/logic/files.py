"""Declare files, read them and list them for one tenant."""

from __future__ import annotations

from datetime import datetime

from intake.clock import new_file_id, utcnow
from intake.dal import file_repository, object_store
from intake.errors import Conflict, InvalidFields, PayloadTooLarge, UnsupportedMediaType
from intake.import_types import ImportType, all_import_types, get_import_type
from intake.ingest import media
from intake.keys import upload_key
from intake.logic.profiles import chosen_mapping
from intake.models.api import (
    DeclareFileRequest,
    DeclareFileResponse,
    FileView,
    UploadBlock,
    UploadPart,
)
from intake.models.domain import FileRecord, FileStatus
from intake.observability import logger
from intake.settings import get_settings

MAX_PARTS = 10_000  # S3's limit per multipart upload


def declare_file(tenant: str, request: DeclareFileRequest) -> DeclareFileResponse:
    media_type = media.normalise(request.media_type)
    if request.import_type is None:
        # No type yet: the file is analysed after upload, and its import request names one.
        check_untyped_declaration(request, media_type)
        mapping, profile = None, None
        type_name = None
    else:
        import_type = get_import_type(request.import_type)
        check_takes(import_type, media_type, request.size)
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
    if request.size > settings.multipart_threshold_bytes:
        # S3 checks a whole-object SHA-256 only on a single PUT; for parts, the worker hashes
        # the assembled object against the declared one.
        block, expires_at = _multipart_block(key, media_type, request.size, now)
    else:
        upload = object_store.presign_put(
            key, media_type=media_type, size=request.size, sha256_hex=request.sha256, now=now
        )
        block = UploadBlock(
            method="PUT", url=upload.url, headers=upload.headers, expires_at=upload.expires_at
        )
        expires_at = upload.expires_at
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
    )
    file_repository.create(record)
    logger.info(
        "file declared",
        extra={"file_id": file_id, "import_type": record.import_type, "size": record.size},
    )
    return DeclareFileResponse(file_id=file_id, status=record.status, upload=block)


def check_takes(import_type: ImportType, media_type: str, size: int) -> None:
    """A file of `import_type` must be of a media type it takes (415) and within its size
    limit (413): for a declaration, and for an import request that names the type."""
    if media_type not in import_type.media_types:
        raise UnsupportedMediaType(
            f"{import_type.name} does not take {media_type}",
            details=[
                {
                    "field": "media_type",
                    "code": "unsupported_media_type",
                    "message": f"accepted: {', '.join(import_type.media_types)}",
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
                    "message": f"accepted: {', '.join(known)}",
                }
            ],
        )
    largest = max(t.max_size for t in takers)
    if request.size > largest:
        raise PayloadTooLarge(
            f"{request.size} bytes is over the largest limit for {media_type} ({largest})",
            details=[{"field": "size", "code": "too_large", "message": f"max {largest}"}],
        )


def _multipart_block(
    key: str, media_type: str, size: int, now: datetime
) -> tuple[UploadBlock, datetime]:
    part_size = max(get_settings().multipart_part_bytes, -(-size // MAX_PARTS))
    upload = object_store.presign_multipart(
        key, media_type=media_type, size=size, part_size=part_size, now=now
    )
    block = UploadBlock(
        method="MULTIPART",
        part_size=upload.part_size,
        parts=[UploadPart(part_number=n, url=u, headers=h) for n, u, h in upload.parts],
        complete_url=upload.complete_url,
        expires_at=upload.expires_at,
    )
    return block, upload.expires_at


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

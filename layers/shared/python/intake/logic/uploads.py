"""What the worker does when bytes land in the bucket: verify an upload, register a drop."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from intake.clock import utcnow
from intake.dal import file_repository, object_store
from intake.dal.events import publish_file_finished
from intake.dal.object_store import ObjectFacts, ObjectReadError
from intake.errors import Conflict, IntakeError, NotFound
from intake.import_types import all_import_types, get_import_type
from intake.import_types.registry import DEFAULT_ARCHIVE_LIMITS, archive_limits
from intake.ingest import media
from intake.ingest.sniff import SNIFF_BYTES, content_mismatch
from intake.keys import parse_drop_key, parse_upload_key
from intake.logic.analysis import analyse
from intake.logic.profiles import drop_profile
from intake.logic.run_requests import queue_run
from intake.models.domain import Analysis, FileRecord, FileStatus, RowError
from intake.models.profile import Profile
from intake.observability import logger, metrics

_HASH_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ObjectVersion:
    """What an S3 notification names: one version of one object."""

    bucket: str
    key: str
    version_id: str | None = None  # None in an unversioned bucket
    etag: str | None = None

    @property
    def identity(self) -> str:
        """Bucket, key and version (or ETag): the same object version, however often and
        whenever it is notified, has the same identity."""
        return f"{self.bucket}\n{self.key}\n{self.version_id or self.etag or ''}"


def object_created(created: ObjectVersion) -> None:
    """Dispatch on the key's prefix; keys outside both layouts are logged and left alone."""
    key = created.key
    if parse_upload_key(key):
        verify_upload(key)
    elif parse_drop_key(key):
        register_drop(created)
    else:
        logger.warning("object outside the upload and drop layouts ignored", extra={"key": key})


def verify_upload(key: str) -> None:
    parsed = parse_upload_key(key)
    assert parsed is not None
    tenant, file_id = parsed
    try:
        record = file_repository.get(tenant, file_id)
    except NotFound:
        logger.warning("upload for an undeclared file", extra={"key": key})
        return
    logger.thread_safe_append_keys(file_id=file_id, tenant=tenant)
    if record.status is FileStatus.UPLOADED and record.auto_import and not record.run:
        # Checked by an earlier delivery, whose auto_import run the queue refused: start it now.
        _auto_import(record)
        return
    if record.status is not FileStatus.PENDING_UPLOAD:
        logger.info("upload already handled", extra={"status": record.status.value})
        return
    try:
        facts = object_store.head(key)
    except NotFound:
        logger.warning("uploaded object is gone", extra={"key": key})
        return
    reason = mismatch(record, facts)
    extra: dict[str, Any] = {}
    if reason is None:
        digest = _sha256_hex(record, facts)
        if record.sha256 and digest != record.sha256:
            reason = "the SHA-256 of the bytes does not match the declared one"
        else:
            extra = _digest_fields(record, digest)
    if reason:
        extra = {"reason": reason}
    elif facts.version_id:
        extra["object_version"] = facts.version_id  # what runs will read
    if reason is None and record.import_type is None:
        # Declared without a type: UPLOADED comes with what the file holds and fits.
        extra["analysis"] = analyse_upload(record, facts.version_id)
    to = FileStatus.REJECTED if reason else FileStatus.UPLOADED
    try:
        updated = file_repository.transition(tenant, file_id, to, now=utcnow(), **extra)
    except Conflict:
        return  # another delivery of the same event won
    metrics.add_metric(name=f"Uploads{to.value.title()}", unit="Count", value=1)
    if updated.status is FileStatus.REJECTED:
        publish_file_finished(updated)
    logger.info("upload checked", extra={"status": to.value, "reason": reason})
    if updated.status is FileStatus.UPLOADED and updated.auto_import:
        _auto_import(updated)


def analyse_upload(record: FileRecord, version_id: str | None) -> Analysis:
    """The analysis of a verified upload's bytes (logic/analysis.py reads only their start).

    S3 failing to deliver the bytes raises: the notification comes again and the check runs
    again. Anything else that goes wrong is an analysis that says so, never a broken file: the
    file is UPLOADED all the same and may be imported with a type of the client's choosing.
    """
    takers = [t for t in all_import_types() if record.media_type in t.media_types]
    limits = archive_limits(max(takers, key=lambda t: t.max_size)) if takers else None
    opener = (
        object_store.open_seekable
        if record.media_type in media.ZIP_CONTAINERS
        else object_store.open_stream
    )
    try:
        with opener(record.object_key, version_id=version_id) as body:
            analysis = analyse(
                body,
                media_type=record.media_type,
                size=record.size,
                import_types=takers,
                limits=limits or DEFAULT_ARCHIVE_LIMITS,
            )
    except _TRANSIENT:
        raise
    except Exception:  # a bug in the analysis must not cost the upload
        logger.exception("analysis failed")
        analysis = Analysis(
            format=record.media_type,
            error=RowError(
                code="analysis_failed",
                message="the file could not be analysed; import it with an import type of "
                "your choice",
            ),
        )
    top = analysis.suggestions[0] if analysis.suggestions else None
    metrics.add_metric(name="FilesAnalysed", unit="Count", value=1)
    logger.info(
        "file analysed",
        extra={
            "suggested_type": top.import_type if top else None,
            "score": top.score if top else None,
            "analysis_error": analysis.error.code if analysis.error else None,
        },
    )
    return analysis


# S3 or the network failing while the bytes are read: worth another delivery.
_TRANSIENT = (ObjectReadError, BotoCoreError, ClientError, OSError)


def _auto_import(record: FileRecord) -> None:
    """Queue the first run of an auto_import file. If the queue refuses it, queue_run restores
    UPLOADED and raises, the notification is delivered again, and that delivery queues it."""
    try:
        queue_run(record, check_only=record.check_only, on_invalid=record.on_invalid)
    except Conflict:
        pass  # a parallel delivery queued it


def mismatch(record: FileRecord, facts: ObjectFacts) -> str | None:
    """Why the object's size, type or content is not the declared file's, or None.

    The SHA-256 is checked after these (verify_upload): it may mean reading every byte.
    """
    if facts.size != record.size:
        return f"declared {record.size} bytes, received {facts.size}"
    if facts.content_type and media.normalise(facts.content_type) != record.media_type:
        return f"declared {record.media_type}, received {facts.content_type}"
    problem = content_mismatch(
        object_store.read_head(record.object_key, SNIFF_BYTES, version_id=facts.version_id),
        record.media_type,
    )
    if problem:
        return problem
    return None


def _sha256_hex(record: FileRecord, facts: ObjectFacts) -> str:
    """S3's own checksum when it verified one on upload; otherwise hash the object's stream."""
    verified = _s3_sha256_hex(facts)
    if verified:
        return verified
    digest = hashlib.sha256()
    with object_store.open_stream(record.object_key, version_id=facts.version_id) as body:
        while chunk := body.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _s3_sha256_hex(facts: ObjectFacts) -> str | None:
    """The whole-object SHA-256 S3 verified on upload, if any. A multipart upload's checksum is
    a checksum of the parts' checksums ("<base64>-<parts>"), not the object's: None."""
    if facts.sha256_b64 and "-" not in facts.sha256_b64:
        return base64.b64decode(facts.sha256_b64).hex()
    return None


def _digest_fields(record: FileRecord, sha256: str) -> dict[str, str]:
    """The bytes' SHA-256 for the file, and the earlier SUCCEEDED file of the same tenant and
    import type with the same bytes, if there is one (the file is still imported: flagged). A
    file without a type is looked up when an import request gives it one (logic/run_requests.py)."""
    if record.import_type is None:
        return {"sha256": sha256}
    first = file_repository.first_succeeded_with_digest(record.tenant, record.import_type, sha256)
    if first is None or first == record.file_id:
        return {"sha256": sha256}
    logger.info("same bytes as an earlier import", extra={"duplicate_of": first})
    return {"sha256": sha256, "duplicate_of": first}


def register_drop(created: ObjectVersion) -> None:
    """A file dropped under drop/<tenant>/<import_type>/ becomes a file and is imported, with
    the profile its path names (drop/<tenant>/<type>/<profile>/...) or the type's default."""
    key = created.key
    parsed = parse_drop_key(key)
    assert parsed is not None
    tenant, type_name, name = parsed
    try:
        facts = object_store.head(key, version_id=created.version_id)
    except NotFound:
        logger.warning("dropped object is gone", extra={"key": key})
        return
    profile = drop_profile(tenant, type_name, parsed.profile_segment)
    if profile is not None and profile.name == parsed.profile_segment:
        name = parsed.name_after_profile  # the folder names the profile: not a folder of the file
    record, reason = _drop_record(created, tenant, type_name, name, facts, profile)
    logger.thread_safe_append_keys(file_id=record.file_id, tenant=tenant)
    verified = _s3_sha256_hex(facts)
    if reason is None and verified:
        # Only when S3 holds the object's SHA-256 (e.g. `aws s3 cp --checksum-algorithm SHA256`):
        # hashing every drop would read it once more before the import reads it again.
        record = record.model_copy(update=_digest_fields(record, verified))
    if not file_repository.create(record):
        record = file_repository.get(tenant, record.file_id)  # redelivered event
        if record.status is not FileStatus.UPLOADED or record.run:
            return
    else:
        metrics.add_metric(name="DropsRegistered", unit="Count", value=1)
        logger.info("drop registered", extra={"key": key, "status": record.status.value})
        if record.status is FileStatus.REJECTED:
            publish_file_finished(record)
    if reason is None:
        try:
            queue_run(record, check_only=False, on_invalid=record.on_invalid)
        except Conflict:
            pass  # a parallel delivery queued it


def drop_file_id(created: ObjectVersion, facts: ObjectFacts) -> str:
    """One file per object version, whatever the notification's eventTime says: a redelivered,
    replayed or hand re-sent notification maps to the same id. The prefix is the version's
    LastModified, so drops sort among declared files by when they arrived."""
    version = ObjectVersion(
        created.bucket,
        created.key,
        created.version_id or facts.version_id,
        created.etag or facts.etag,
    )
    arrived = facts.last_modified or datetime.fromtimestamp(0, UTC)
    digest = hashlib.sha256(version.identity.encode()).hexdigest()[:16]
    return f"{int(arrived.timestamp() * 1000):012x}{digest}"


def _drop_record(
    created: ObjectVersion,
    tenant: str,
    type_name: str,
    name: str,
    facts: ObjectFacts,
    profile: Profile | None = None,
) -> tuple[FileRecord, str | None]:
    now = utcnow()
    key = created.key
    file_id = drop_file_id(created, facts)
    media_type = _media_type_of(name, facts)
    reason = None
    try:
        import_type = get_import_type(type_name)
        if media_type not in import_type.media_types:
            reason = f"{import_type.name} does not take {media_type or 'files named ' + name}"
        elif facts.size > import_type.max_size:
            reason = f"{facts.size} bytes is over the {import_type.name} limit"
        else:
            head = object_store.read_head(key, SNIFF_BYTES, version_id=facts.version_id)
            reason = content_mismatch(head, media_type)
    except IntakeError as exc:
        reason = exc.message
    record = FileRecord(
        tenant=tenant,
        file_id=file_id,
        name=name.rsplit("/", 1)[-1],
        media_type=media_type or media.UNKNOWN,
        size=facts.size,
        import_type=type_name,
        status=FileStatus.REJECTED if reason else FileStatus.UPLOADED,
        created_at=now,
        updated_at=now,
        object_key=key,
        object_version=facts.version_id,
        origin="drop",
        folder=name.rsplit("/", 1)[0] if "/" in name else None,
        # the profile's mapping as it is now (a snapshot, like a declaration's)
        mapping=profile.mapping if profile else None,
        profile=profile.name if profile else None,
        reason=reason,
    )
    return record, reason


def _media_type_of(name: str, facts: ObjectFacts) -> str | None:
    return media.media_type_of(name, facts.content_type)

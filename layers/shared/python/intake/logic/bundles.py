"""Run a bundle import: check every member and record first, then write entity by entity.

With on_invalid=fail (the default) a bundle is all or nothing: any error ends the run FAILED
with nothing written. With on_invalid=skip, invalid records are left out, with whatever cannot
stand without them, and references to them are dropped; each is reported, and `left_out` says
how many per entity. A bundle whose root (the event) is invalid, or whose members cannot be
read, fails either way: there is nothing to attach the rest to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import IO

from intake.dal import object_store
from intake.dal.record_sink import Sink
from intake.import_types.base import ImportType
from intake.import_types.bundle import BundleCheck, BundleImportType, Member
from intake.import_types.registry import archive_limits
from intake.ingest import media
from intake.ingest.archive import Archive, ArchiveLimits, breach, open_archive
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError
from intake.ingest.streams import open_bytes
from intake.logic.engine import Outcome
from intake.models.domain import FileRecord, FileStatus, ImportResult, RowError
from intake.observability import logger

# New ids are uuid5 of (tenant, file, run, entity, source id) under this namespace: a redelivery
# of the same run rewrites the same items (no duplicates after a crash), while every new run
# (a re-import) creates a new event.
ID_NAMESPACE = uuid.UUID("9f0b8a52-4d8e-4f57-9c0e-6f2d3c1b7a10")

SinkFactory = Callable[[FileRecord], Sink]

MiB = 1024 * 1024


def run_bundle(
    record: FileRecord,
    import_type: ImportType,
    errors: ErrorCollector,
    sink_factory: SinkFactory,
) -> tuple[FileStatus, Outcome]:
    """Every bundle type's run: its members found (by name in a ZIP, or the one document a
    document type reads, uploaded as it is or in a ZIP), checked, then finished alike."""
    assert isinstance(import_type, BundleImportType)
    skip = record.on_invalid == "skip"
    limits = bundle_limits(import_type)
    try:
        with object_store.open_seekable(
            record.object_key, version_id=record.object_version
        ) as body:
            if record.media_type != media.ZIP:  # a document type's JSON, maybe gzipped
                data = _read_document(body, record.name, limits)
                layout_errors: list[RowError] = []
                check = import_type.check_bundle(
                    {record.name: Member(record.name, lambda: data)}, skip=skip
                )
            else:
                with open_archive(body, limits) as archive:
                    if import_type.document:
                        layout_errors, members = the_document(archive)
                    else:
                        layout_errors, members = match_members(archive, import_type)
                    check = import_type.check_bundle(members, skip=skip)
                    check.skipped += skipped_entries(import_type, archive.skipped)
    except FileLevelError as exc:  # the archive itself is unsafe or unreadable
        errors.add(exc.error)
        return FileStatus.FAILED, Outcome(ImportResult(), exc.error)
    return finish_bundle(record, import_type, errors, sink_factory, layout_errors, check)


def _read_document(body: IO[bytes], name: str, limits: ArchiveLimits) -> bytes:
    """The whole document (gunzipped when its bytes are gzip), no bigger than an archive
    member may be: a small .json.gz must not inflate into gigabytes."""
    stream, _ = open_bytes(body)
    data = stream.read(limits.max_member_size + 1)  # a corrupt gzip: FileLevelError corrupt_gzip
    if len(data) > limits.max_member_size:
        raise breach(
            "member_too_large",
            f"the document is over {limits.max_member_size // MiB} MiB uncompressed",
            name,
        )
    return data


def finish_bundle(
    record: FileRecord,
    import_type: BundleImportType,
    errors: ErrorCollector,
    sink_factory: SinkFactory,
    layout_errors: list[RowError],
    check: BundleCheck,
) -> tuple[FileStatus, Outcome]:
    """What every bundle runner does once its members are checked: report, then write entity
    by entity, unless a check_only run or the on_invalid rule stops it."""
    problems = layout_errors + check.errors
    for error in problems:
        errors.add(error)
    for warning in check.warnings:
        errors.warn(warning)
    skip = record.on_invalid == "skip"
    result = ImportResult(
        rows_total=check.records_total,
        rows_invalid=check.records_invalid,
        rows_valid=check.records_total - check.records_invalid,
        errors_truncated=errors.truncated,
        skipped=check.skipped or None,
        left_out=check.left_out if skip else None,
    )
    unreadable = layout_errors[0] if layout_errors else check.member_error
    if unreadable is not None:
        return FileStatus.FAILED, Outcome(result, unreadable)
    if not check.has_root:  # whatever on_invalid says: nothing to attach the rest to
        root = import_type.root.name
        return FileStatus.FAILED, Outcome(
            result,
            RowError(
                code="invalid_root",
                message=f"the {root} record is invalid, so nothing of the bundle is imported",
            ),
        )
    if problems and (record.check_only or not skip):
        return FileStatus.FAILED, Outcome(result, None)
    if record.check_only:
        return FileStatus.VALIDATED, Outcome(result, None)
    entities, created = write_bundle(record, import_type, check, sink_factory)
    result = result.model_copy(
        update={"rows_written": sum(entities.values()), "entities": entities, "created": created}
    )
    logger.info("bundle imported", extra={"created_ids": created, "entities": entities})
    return FileStatus.SUCCEEDED, Outcome(result, None)


def bundle_limits(bundle: BundleImportType) -> ArchiveLimits:
    """The type's archive limits, plus what it skips: skipped entries are never read, so they
    count only against the (larger) entry limit, not against max_members or any size."""
    limits = archive_limits(bundle)
    if not (bundle.skipped_folders or bundle.skipped_files):
        return limits
    return replace(limits, skip=bundle.skips, max_entries=bundle.max_entries)


def skipped_entries(bundle: BundleImportType, names: list[str]) -> list[str]:
    """What the result lists as skipped, in archive order: a skipped folder once (`images/`
    with its hundreds of photos is one entry), other entries by name."""
    return list(dict.fromkeys(bundle.skipped_as(name) or name for name in names))


def match_members(
    archive: Archive, bundle: BundleImportType
) -> tuple[list[RowError], dict[str, Member]]:
    """The bundle's members by their expected name (bundle.member_for). A bundle zipped as one
    folder (`my-event/event.json`, ...) is read as if the folder were not there."""
    names = archive.names
    tops = {n.split("/", 1)[0] for n in names}
    prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in n for n in names) else ""
    expected_names = (*bundle.members, *bundle.optional_members)
    errors: list[RowError] = []
    members: dict[str, Member] = {}
    for info in archive.members:
        expected = bundle.member_for(info.filename.removeprefix(prefix))
        if expected is not None and expected in members:
            errors.append(
                RowError(
                    code="duplicate_member",
                    message=f"{members[expected].name} is the same member; keep one of them",
                    file=info.filename,
                )
            )
        elif expected is not None:
            members[expected] = Member(info.filename, partial(archive.read, info))
        else:
            errors.append(
                RowError(
                    code="unsupported_member",
                    message=f"{bundle.name} bundles hold only {', '.join(expected_names)}",
                    file=info.filename,
                )
            )
    for name in bundle.members:
        if name not in members:
            errors.append(
                RowError(
                    code="missing_member",
                    message=f"the bundle has no {name}",
                    file=prefix + name,
                )
            )
    return errors, members


def the_document(archive: Archive) -> tuple[list[RowError], dict[str, Member]]:
    """A document type's one .json in a ZIP, whatever the exporter named it
    (`export_election_event-<uuid>.json`); what archiving tools add beside it is ignored."""
    # (archive.members already leaves out __MACOSX/ and .DS_Store; `._*` are macOS
    # AppleDouble files some tools write beside the document)
    documents = [
        info
        for info in archive.members
        if info.filename.lower().endswith(".json")
        and not info.filename.rsplit("/", 1)[-1].startswith("._")
    ]
    if len(documents) == 1:
        [info] = documents
        return [], {info.filename: Member(info.filename, partial(archive.read, info))}
    code, message = (
        ("missing_member", "the archive holds no .json document")
        if not documents
        else ("unsupported_member", "the archive must hold exactly one .json document")
    )
    file = documents[1].filename if documents else None
    return [RowError(code=code, message=message, file=file)], {}


def write_bundle(
    record: FileRecord,
    bundle: BundleImportType,
    check: BundleCheck,
    sink_factory: SinkFactory,
) -> tuple[dict[str, int], dict[str, str]]:
    """Write in dependency order, one sink per entity; return counts and the root's new id."""

    def new_id(entity: str, source_id: str) -> str:
        name = f"{record.tenant}/{record.file_id}/{record.run}/{entity}/{source_id}"
        return str(uuid.uuid5(ID_NAMESPACE, name))

    entities: dict[str, int] = {}
    created: dict[str, str] = {}
    for write in bundle.plan(check, new_id):
        sink = sink_factory(
            record.model_copy(update={"import_type": bundle.collection(write.entity)})
        )
        for key, item in write.items:
            sink.put(key, item)
        entities[write.entity] = sink.flush()
        if write.entity == bundle.root.name and write.items:
            created[bundle.root.name] = write.items[0][0]
    return entities, created

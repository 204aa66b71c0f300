"""Run a document bundle (a bundle type whose members are the sections of ONE JSON document,
e.g. `election_event`): the document as uploaded, or the one .json inside a ZIP, is checked as
a whole, then written entity by entity like any bundle (logic/bundles.write_bundle).

The archive path of logic/bundles.run_bundle matches members by fixed names; an exporter names
its one document freely (`export_election_event-<uuid>.json`), and a plain JSON upload is no
archive at all, hence this runner.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from functools import partial

from intake.dal import object_store
from intake.import_types.base import ImportType
from intake.import_types.bundle import BundleImportType, Member
from intake.import_types.registry import archive_limits
from intake.ingest import media
from intake.ingest.archive import open_archive
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError
from intake.logic.bundles import SinkFactory, finish_bundle
from intake.logic.engine import Outcome
from intake.models.domain import FileRecord, FileStatus, ImportResult, RowError

# What archiving tools add next to the document: never read, never an error.
_NOISE_FOLDERS = ("__MACOSX/",)
_NOISE_NAMES = frozenset({".DS_Store", "Thumbs.db"})


def run_document_bundle(
    record: FileRecord,
    import_type: ImportType,
    errors: ErrorCollector,
    sink_factory: SinkFactory,
) -> tuple[FileStatus, Outcome]:
    assert isinstance(import_type, BundleImportType)
    layout_errors: list[RowError] = []
    skip = record.on_invalid == "skip"
    try:
        with object_store.open_seekable(
            record.object_key, version_id=record.object_version
        ) as body:
            if record.media_type == media.ZIP:
                with open_archive(body, archive_limits(import_type)) as archive:
                    layout_errors, member = _the_document(archive.members, archive.read)
                    check = import_type.check_bundle(
                        {member.name: member} if member else {}, skip=skip
                    )
            else:
                data = body.read()
                check = import_type.check_bundle(
                    {record.name: Member(record.name, lambda: data)}, skip=skip
                )
    except FileLevelError as exc:  # the archive itself is unsafe or unreadable
        errors.add(exc.error)
        return FileStatus.FAILED, Outcome(ImportResult(), exc.error)
    return finish_bundle(record, import_type, errors, sink_factory, layout_errors, check)


def _the_document(
    infos: list[zipfile.ZipInfo], read: Callable[[zipfile.ZipInfo], bytes]
) -> tuple[list[RowError], Member | None]:
    """The one .json member of the archive (archiving tools' own entries ignored)."""
    documents = [
        info
        for info in infos
        if info.filename.lower().endswith(".json")
        and not info.filename.startswith(_NOISE_FOLDERS)
        and info.filename.rsplit("/", 1)[-1] not in _NOISE_NAMES
        and not info.filename.rsplit("/", 1)[-1].startswith("._")
    ]
    if len(documents) == 1:
        [info] = documents
        return [], Member(info.filename, partial(read, info))
    code, message = (
        ("missing_member", "the archive holds no .json document")
        if not documents
        else ("unsupported_member", "the archive must hold exactly one .json document")
    )
    file = documents[1].filename if documents else None
    return [RowError(code=code, message=message, file=file)], None

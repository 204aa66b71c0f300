"""Execute one queued import or validation, as the run protocol's state machine: claim the run
(QUEUED -> PROCESSING, or take over an expired lease), run it (stream, validate, write, renewing
the lease with the progress), then finish it (-> SUCCEEDED | VALIDATED | FAILED) or, if the
attempt raises, release it for the next delivery. A large file's run is handed over to the
sharded-runs state machine instead (logic/run_steps.py runs its steps). The protocol's
conditional writes are the status table's (dal/file_repository.py, "runs"); runs are asked for
in logic/run_requests.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zipfile import ZipInfo

from botocore.exceptions import ClientError

from intake.clock import utcnow
from intake.dal import file_repository, object_store, run_executions
from intake.dal.events import publish_file_finished
from intake.dal.record_sink import DynamoDBSink, Sink
from intake.errors import Conflict
from intake.import_types import ImportType, get_import_type
from intake.import_types.registry import Kind, archive_limits, kind_of
from intake.ingest import media
from intake.ingest.archive import Archive, open_archive
from intake.ingest.duplicates import KeyLocator, KeyTracker
from intake.ingest.error_report import ErrorCollector
from intake.ingest.readers import read_records
from intake.ingest.records import FileLevelError, ReadEvent
from intake.ingest.streams import open_bytes
from intake.keys import report_key
from intake.logic.bundles import run_bundle
from intake.logic.engine import Outcome, locate_duplicates, validate_records
from intake.models.domain import (
    ColumnUsage,
    FileRecord,
    FileStatus,
    ImportResult,
    RowError,
    ShardPhase,
)
from intake.models.messages import ImportMessage
from intake.observability import logger, metrics
from intake.settings import get_settings

PROGRESS_INTERVAL_SECONDS = 3.0

SinkFactory = Callable[[FileRecord], Sink]


def dynamodb_sink(record: FileRecord) -> Sink:
    # A bundle's entity is stored as `<type>.<entity>`. Only bundle records are free-form
    # enough to pass DynamoDB's item limit (record types bound every field): only their sinks
    # pay for measuring each item.
    return DynamoDBSink(
        tenant=record.tenant,
        import_type=record.run_type,
        file_id=record.file_id,
        imported_at=utcnow().isoformat(),
        fit_items=kind_of(get_import_type(record.run_type.split(".", 1)[0])) == "bundle",
    )


def run_lease() -> timedelta:
    """How long a claim, or a renewal, holds the run (longer than the worker's timeout)."""
    return timedelta(seconds=get_settings().processing_lease_seconds)


def run_import(message: ImportMessage, *, sink_factory: SinkFactory = dynamodb_sink) -> None:
    """One delivery of a run's message: claim -> run -> finish | release. RetryLater (from the
    claim) while another delivery holds the run."""
    record = file_repository.claim_run(
        message.tenant, message.file_id, message.run, now=utcnow(), lease=run_lease()
    )
    if record is None:
        return  # nothing of this run to do: unknown file, stale message, or claimed by another
    logger.thread_safe_append_keys(file_id=record.file_id, tenant=record.tenant, run=record.run)
    try:
        if _sharded(record):
            _hand_over(record)
        else:
            _run(record, sink_factory)
    except Conflict:
        logger.warning("lost the run to another delivery; leaving it")
    except Exception as exc:
        _release(record, exc)
        raise


# What a sharded run can cut into byte ranges (plain or gzipped), as a file or as the members
# of a ZIP (each staged plain). Workbooks run in one invocation (docs/decisions.md, "Sharded
# runs: what is sharded").
SHARDED_TYPES = frozenset({media.CSV, media.JSONL, media.JSON})


def _sharded(record: FileRecord) -> bool:
    """Whether the run goes to the sharded-runs state machine: a records file over the
    threshold, in a format cut into shards, where the state machine exists."""
    settings = get_settings()
    return (
        bool(settings.sharded_runs_state_machine_arn)
        and record.size > settings.shard_threshold_bytes
        and record.media_type in (*SHARDED_TYPES, media.ZIP)
        and kind_of(get_import_type(record.run_type)) == "records"
        and (record.media_type != media.ZIP or _members_shardable(record))
    )


def _members_shardable(record: FileRecord) -> bool:
    """A ZIP's members are each staged plain and cut (run_steps.plan) when the archive opens
    within its limits and every member is a file of rows: an archive that breaches them, holds
    nothing or holds other files runs in one invocation, which reports why (its central
    directory, at the object's end, is all this reads)."""
    try:
        with (
            object_store.open_seekable(record.object_key, version_id=record.object_version) as body,
            open_archive(body, archive_limits(get_import_type(record.run_type))) as archive,
        ):
            names = [info.filename for info in archive.members]
    except FileLevelError:
        return False
    return bool(names) and all(media.member_media_type(name) is not None for name in names)


def _hand_over(record: FileRecord) -> None:
    """The claimed run goes to the state machine (logic/run_steps.py runs its steps): start
    its execution (one per run, however often the message comes), then mark the run as that
    execution's, so a redelivered message leaves it alone."""
    name = run_executions.start(record.tenant, record.file_id, record.run)
    file_repository.hand_over_run(record, execution=name, now=utcnow(), lease=run_lease())
    logger.info("run handed to the sharded-runs state machine", extra={"execution": name})


def _run(record: FileRecord, sink_factory: SinkFactory) -> None:
    import_type = get_import_type(record.run_type)
    started = time.monotonic()
    errors = ErrorCollector(max_errors=import_type.max_errors)
    try:
        runner = _RUNNERS[kind_of(import_type)]
        status, outcome = runner(record, import_type, errors, sink_factory)
        end_run(record, status, outcome, errors)
    finally:
        errors.close()
    metrics.add_metric(name="RowsProcessed", unit="Count", value=outcome.result.rows_total)
    run_ended(
        status,
        result=outcome.result.model_dump(),
        seconds=round(time.monotonic() - started, 3),
    )


def run_ended(status: FileStatus, **fields: Any) -> None:
    """Every way a run ends counts here, once: finished by the worker, failed on its last
    delivery, failed by the sweep. The run-failure-rate alarm divides these metrics, and
    operators query the "run finished" lines."""
    metrics.add_metric(name=f"Runs{status.value.title()}", unit="Count", value=1)
    logger.info("run finished", extra={"status": status.value, **fields})


def _run_records(
    record: FileRecord, import_type: ImportType, errors: ErrorCollector, sink_factory: SinkFactory
) -> tuple[FileStatus, Outcome]:
    """Rows from one file, or from each member of a ZIP, with the on_invalid semantics. Every
    pass that checks rows also checks that no natural key repeats (`_checked_pass`)."""
    if record.check_only or record.on_invalid == "fail":
        outcome = _checked_pass(record, import_type, errors, sink=None)
        status = run_status(record, "validate", outcome, errors)
        if status is not None:
            return status, outcome
        # every row is valid and every key distinct: stream again, writing this time
        outcome = _pass(record, import_type, errors, sink=sink_factory(record), checked=True)
        return _ended(run_status(record, "write", outcome, errors)), outcome
    outcome = _checked_pass(record, import_type, errors, sink=sink_factory(record))
    return _ended(run_status(record, "single", outcome, errors)), outcome


def run_status(
    record: FileRecord, phase: ShardPhase, outcome: Outcome, errors: ErrorCollector
) -> FileStatus | None:
    """How a run ends after a pass (one invocation's, or all shards' summed): None after a
    validating pass that found nothing wrong and must be followed by the writing pass."""
    if phase == "validate":
        if errors.count:
            return FileStatus.FAILED
        return FileStatus.VALIDATED if record.check_only else None
    if phase == "write":
        # The writing pass reads the bytes again: whatever it could not take fails the file,
        # never a SUCCEEDED file with rows missing.
        failed = outcome.file_error is not None or errors.count > 0
        return FileStatus.FAILED if failed else FileStatus.SUCCEEDED
    nothing_valid = outcome.result.rows_valid == 0 and outcome.result.rows_invalid > 0
    failed = outcome.file_error is not None or nothing_valid
    return FileStatus.FAILED if failed else FileStatus.SUCCEEDED


def _ended(status: FileStatus | None) -> FileStatus:
    assert status is not None, "a writing pass always ends the run"
    return status


def _checked_pass(
    record: FileRecord, import_type: ImportType, errors: ErrorCollector, *, sink: Sink | None
) -> Outcome:
    """A pass (writing valid rows to `sink`, if any) that also finds repeated natural keys.

    Pass 1 hands every valid row's key to a KeyTracker (bounded memory, ingest/duplicates.py).
    Only if some key hash repeats is the file read a second time, to put a `duplicate_key`
    error on each later row, naming the line where its key first appeared. Those rows count
    as invalid. Pass 1 wrote them (on_invalid=skip writes as it goes, and a sink upserts by
    key): pass 2 writes each repeated key's first row again, so the first row is what stays.
    """
    with KeyTracker() as keys:
        outcome = _pass(record, import_type, errors, sink=sink, reading=_Reading(track=keys.add))
        repeated = keys.repeated()
    if not repeated or outcome.file_error is not None:
        return outcome
    locator = repeated.locator()
    second = _pass(record, import_type, errors, sink=sink, reading=_Reading(locator=locator))
    later = second.result.rows_invalid + repeated.unlocated_rows
    unlocated = repeated.unlocated_error(import_type.natural_key)
    if unlocated is not None:
        errors.add(unlocated)
    result = outcome.result
    result.rows_valid -= later
    result.rows_invalid += later
    if sink is not None:
        result.rows_written -= later
    result.errors_truncated = errors.truncated
    logger.info(
        "repeated keys found",
        extra={"rows": later, "keys": len(repeated), "spills": keys.spills},
    )
    return outcome


@dataclass(frozen=True)
class _Reading:
    """What a pass does with each stream of records: validate them (handing valid rows' keys
    to `track`), or, with a `locator`, find the later rows of repeated keys."""

    track: Callable[[str], None] | None = None
    locator: KeyLocator | None = None

    @property
    def first(self) -> bool:
        """Pass 1 records every problem; pass 2 only duplicate keys."""
        return self.locator is None

    def __call__(
        self,
        events: Iterable[ReadEvent],
        import_type: ImportType,
        errors: ErrorCollector,
        **kw: Any,
    ) -> Outcome:
        if self.locator is not None:
            return locate_duplicates(events, import_type, errors, locator=self.locator, **kw)
        return validate_records(events, import_type, errors, track=self.track, **kw)


Runner = Callable[[FileRecord, ImportType, ErrorCollector, SinkFactory], tuple[FileStatus, Outcome]]
# One runner per kind of import type: rows (a file or a ZIP of files) or a bundle.
_RUNNERS: dict[Kind, Runner] = {"records": _run_records, "bundle": run_bundle}


def _pass(
    record: FileRecord,
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    sink: Sink | None,
    checked: bool = False,
    reading: _Reading = _Reading(),
) -> Outcome:
    if record.media_type == media.ZIP:
        checked = checked or not reading.first
        return _archive_pass(
            record, import_type, errors, sink=sink, checked=checked, reading=reading
        )
    if record.media_type in media.SPREADSHEET_TYPES:
        return _sheet_pass(record, import_type, errors, sink=sink, reading=reading)
    with object_store.open_stream(record.object_key, version_id=record.object_version) as body:
        stream, counter = open_bytes(body)
        tracker = _ProgressTracker(record, lambda: counter.bytes_read)
        events = read_records(
            stream, record.media_type, mapping=record.mapping, delimiter=record.csv_delimiter
        )
        return reading(
            events, import_type, errors, sink=sink, on_progress=tracker, mapping=record.mapping
        )


def _sheet_pass(
    record: FileRecord,
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    sink: Sink | None,
    reading: _Reading,
) -> Outcome:
    """A workbook's sheet (the mapping's, or the first), from a seekable read of the object: a
    ZIP container is read from its end first, so the bytes-read progress jumps at the start."""
    # Imported here: openpyxl costs ~70 ms of every worker cold start, and few runs read Excel.
    from intake.ingest.xlsx_reader import read_xlsx

    with object_store.open_seekable(record.object_key, version_id=record.object_version) as body:
        events = read_xlsx(
            body,
            sheet=record.mapping.sheet if record.mapping else None,
            limits=archive_limits(import_type),
        )
        tracker = _ProgressTracker(record, body.tell)
        return reading(
            events, import_type, errors, sink=sink, on_progress=tracker, mapping=record.mapping
        )


def _archive_pass(
    record: FileRecord,
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    sink: Sink | None,
    checked: bool,
    reading: _Reading,
) -> Outcome:
    """Each member of a ZIP read in turn by its extension; errors carry the member's name.

    An archive breach (zip bomb, unsafe name, ...) ends the pass at once. A pass that writes
    with no validating pass before it (on_invalid=skip) first inflates the whole archive once,
    so a breach found late cannot leave rows behind.
    """
    total = ImportResult()
    file_error: RowError | None = None
    try:
        with (
            object_store.open_seekable(record.object_key, version_id=record.object_version) as body,
            open_archive(body, archive_limits(import_type)) as archive,
        ):
            tracker = _ProgressTracker(record, body.tell)
            if sink is not None and not checked:
                archive.verify(on_progress=tracker)
            if not archive.members:
                raise FileLevelError(
                    RowError(code="empty_archive", message="the archive holds no files")
                )
            for info in archive.members:
                outcome = _member_pass(
                    archive, info, import_type, errors, sink, tracker, record, reading
                )
                if outcome is None:
                    continue
                _add(total, outcome.result)
                file_error = file_error or outcome.file_error
                if archive.failure is not None:  # validate_records recorded it already
                    file_error = outcome.file_error or archive.failure
                    break
    except FileLevelError as exc:
        errors.add(exc.error)
        file_error = exc.error
    total.errors_truncated = errors.truncated
    return Outcome(total, file_error)


def _member_pass(
    archive: Archive,
    info: ZipInfo,
    import_type: ImportType,
    errors: ErrorCollector,
    sink: Sink | None,
    tracker: Callable[[int], None],
    record: FileRecord,
    reading: _Reading,
) -> Outcome | None:
    media_type = media.member_media_type(info.filename)
    if media_type is None:
        if not reading.first:
            return None
        errors.add(
            RowError(
                code="unsupported_member",
                message=f"members must be {', '.join(media.member_extensions())} files",
                file=info.filename,
            )
        )
        return None
    with archive.open(info) as stream:
        events = read_records(
            stream, media_type, mapping=record.mapping, delimiter=record.csv_delimiter
        )
        return reading(
            events,
            import_type,
            errors,
            sink=sink,
            on_progress=tracker,
            member=info.filename,
            mapping=record.mapping,
        )


def _add(total: ImportResult, part: ImportResult) -> None:
    total.rows_total += part.rows_total
    total.rows_valid += part.rows_valid
    total.rows_invalid += part.rows_invalid
    total.rows_written += part.rows_written
    total.encoding = total.encoding or part.encoding
    if part.columns is not None:  # each member's columns, named by member
        if total.columns is None:
            total.columns = ColumnUsage()
        total.columns.mapped += part.columns.mapped
        total.columns.unused += part.columns.unused


class _ProgressTracker:
    """Writes {done, total} bytes and renews the lease, at most every few seconds."""

    def __init__(self, record: FileRecord, bytes_read: Callable[[], int]) -> None:
        self._record = record
        self._bytes_read = bytes_read
        self._last = time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last = now
        file_repository.renew_lease(
            self._record, done=self._bytes_read(), now=utcnow(), lease=run_lease()
        )


def _failed_rows(result: ImportResult, errors: ErrorCollector) -> str:
    """Why a run that read its file through failed: its invalid rows, or, when no row was
    invalid, the first error that was not a row's (a ZIP member that is not a file of rows)."""
    if result.rows_invalid or not errors.inline:
        return f"{result.rows_invalid} of {result.rows_total} rows are invalid"
    first = errors.inline[0]
    return f"{first.file}: {first.message}" if first.file else first.message


def end_run(
    record: FileRecord, status: FileStatus, outcome: Outcome, errors: ErrorCollector
) -> None:
    """End the claimed run `record` in `status` with what its passes found (one invocation's,
    or a sharded run's summed): the full error report, the file's result, first errors and
    warnings, and the completion event. Conflict if the run is not PROCESSING any more."""
    now = utcnow()
    report = None
    if errors.any:
        report = report_key(record.tenant, record.file_id, record.run)
        object_store.upload_file(report, errors.report(), content_type=media.CSV)
    outcome.result.warnings = errors.warning_count
    reason = None
    if outcome.file_error:
        reason = outcome.file_error.message
    elif status is FileStatus.FAILED:
        reason = _failed_rows(outcome.result, errors)
    finished = file_repository.finish_run(
        record,
        status,
        now=now,
        result=outcome.result,
        errors=errors.inline,
        warnings=errors.warnings,
        report_key=report,
        reason=reason,
    )
    if finished.status is FileStatus.SUCCEEDED and finished.sha256:
        _remember_bytes(finished, now)
    publish_file_finished(finished)


def _remember_bytes(finished: FileRecord, now: datetime) -> None:
    """Later files of the same tenant and import type with these bytes get duplicate_of this one.

    Best effort: the file has SUCCEEDED whatever happens here, and a failed write only means a
    later duplicate goes unflagged (it is imported either way).
    """
    try:
        file_repository.record_first_success(finished, now=now)
    except Exception:
        logger.exception("could not record the file's SHA-256; later duplicates go unflagged")


def failure_kind(exc: BaseException) -> str:
    """What went wrong, for a file's reason: the kind of error (an AWS error's code, e.g.
    AccessDeniedException, which botocore raises as a bare ClientError), never the error's
    message, which may name resources."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def _release(record: FileRecord, exc: BaseException) -> None:
    """After an unexpected failure, let the next delivery take the run over at once, and say on
    the file what stopped this attempt (the sweep's or the last delivery's reason builds on it)."""
    try:
        file_repository.release(
            record,
            reason=f"an attempt stopped ({failure_kind(exc)}); the run is retried",
            now=utcnow(),
        )
    except Exception:  # best effort: the lease expires by itself
        logger.exception("could not release the lease")


def fail_run(message: ImportMessage, reason: str) -> None:
    """The last delivery of a run failed unexpectedly: end it FAILED rather than leave it stuck."""
    # Never under a live lease: another delivery may be finishing this run right now.
    failed = file_repository.fail_run(
        message.tenant, message.file_id, message.run, reason=reason, now=utcnow()
    )
    if failed is None:
        return
    run_ended(failed.status, reason=reason)
    publish_file_finished(failed)

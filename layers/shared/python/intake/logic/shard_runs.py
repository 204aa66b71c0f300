"""A sharded run's middle and end: run one shard and report it; finalize once all reported.

A large file's run is cut into byte-range shards (ingest/shards.py plans them). Each shard is
read alone from its range of the pinned object version, through the same readers and the same
validation as a whole file (`validate_records`), and reports its counts and first errors, at
the file's lines, to the status table once (`file_repository.record_shard`). The finalize step
sums the reports in shard order and decides the run's status exactly as a one-invocation run
does (`run_execution._run_records`), so the user sees what a small file would show, plus
`result.shards`.

Phases, by what the run was asked for (docs/design "Large files"): check_only -> "validate";
on_invalid=fail -> "validate", then "write" only if nothing was invalid; on_invalid=skip ->
"single", one pass that writes the valid rows.

What is not here: the state machine and its handlers (which claim the run, call these, renew
the lease and finish the run), and duplicate natural keys across shards (a one-invocation run
finds them; a sharded run does not yet: docs/decisions.md, "Sharded runs: shard reports").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from intake.dal import file_repository, object_store
from intake.dal.record_sink import Sink
from intake.import_types import get_import_type
from intake.ingest.error_report import ErrorCollector
from intake.ingest.readers import read_records
from intake.ingest.shards import Shard, open_shard
from intake.logic.engine import Outcome, validate_records
from intake.logic.run_execution import SinkFactory, dynamodb_sink, run_status
from intake.models.domain import (
    FileRecord,
    FileStatus,
    ImportResult,
    RowError,
    ShardPhase,
    ShardReport,
)
from intake.observability import logger

# Errors a shard's report lists (the rest it only counts). At least the inline limit, so the
# finalized run's inline errors are exactly a one-invocation run's; small enough that a report
# stays far below DynamoDB's 400 KB item limit (an error is a few hundred bytes).
SHARD_ERRORS = 100


class ShardsMissing(Exception):
    """Not every shard of the phase has reported: the finalize step is retried later (or the
    missing shards are run again). `missing` lists their indexes."""

    def __init__(self, phase: ShardPhase, missing: list[int]) -> None:
        super().__init__(f"{len(missing)} shards have not reported the {phase} phase: {missing}")
        self.phase = phase
        self.missing = missing


def phases(record: FileRecord) -> tuple[ShardPhase, ...]:
    """The phases a run goes through, in order (the write phase of on_invalid=fail runs only
    if the validate phase finds nothing invalid: `finish_sharded` says)."""
    if record.check_only:
        return ("validate",)
    if record.on_invalid == "fail":
        return ("validate", "write")
    return ("single",)


class _AtFileLines(ErrorCollector):
    """Collects a shard's errors at the file's lines (a reader counts the shard's own lines),
    keeping the first SHARD_ERRORS of them."""

    def __init__(self, shard: Shard) -> None:
        super().__init__(inline_limit=SHARD_ERRORS, max_errors=SHARD_ERRORS)
        self._shard = shard

    def at_file_line(self, error: RowError) -> RowError:
        if error.line is None:
            return error
        return error.model_copy(update={"line": self._shard.line_in_file(error.line)})

    def add(self, error: RowError) -> None:
        super().add(self.at_file_line(error))


def run_shard(
    record: FileRecord,
    shard: Shard,
    *,
    phase: ShardPhase,
    sink_factory: SinkFactory = dynamodb_sink,
    object_key: str | None = None,
    version_id: str | None = None,
) -> ShardReport:
    """Read, validate and (in the write and single phases) write one shard, then report it.

    `record` is the claimed run. The bytes are the object's version the upload check pinned
    (`object_key`/`version_id` name another object instead, e.g. a gzip re-staged as plain
    bytes, which its shards index). Returns the report that counts: a retry of a shard that
    already reported returns the first report (its rows were upserted by key again, so the
    records table holds each row once either way).
    """
    if phase not in phases(record):
        raise ValueError(f"a run with {_asked(record)} has no {phase} phase")
    import_type = get_import_type(record.run_type)
    key = object_key or record.object_key
    version = version_id if object_key else record.object_version

    def open_range(start: int, end: int) -> IO[bytes]:
        return object_store.open_stream(
            key, version_id=version, byte_range=f"bytes={start}-{end - 1}"
        )

    sink: Sink | None = sink_factory(record) if phase != "validate" else None
    errors = _AtFileLines(shard)
    try:
        with open_shard(shard, open_range) as stream:
            events = read_records(
                stream,
                record.media_type,
                mapping=record.mapping,
                delimiter=shard.delimiter or record.csv_delimiter,
            )
            outcome = validate_records(
                events, import_type, errors, sink=sink, mapping=record.mapping
            )
    finally:
        errors.close()
    result = outcome.result
    report = ShardReport(
        index=shard.index,
        phase=phase,
        rows_total=result.rows_total,
        rows_valid=result.rows_valid,
        rows_invalid=result.rows_invalid,
        rows_written=result.rows_written,
        errors=errors.inline,
        errors_count=errors.count,
        file_error=errors.at_file_line(outcome.file_error) if outcome.file_error else None,
        columns=result.columns,
        encoding=result.encoding,
    )
    logger.info(
        "shard run",
        extra={"shard": shard.index, "phase": phase, "rows": result.rows_total},
    )
    return file_repository.record_shard(
        record.tenant, record.file_id, record.run, shard.index, phase=phase, report=report
    )


@dataclass
class ShardedOutcome:
    """What a phase's finalize found. `status` is the run's end, or None when the run goes on
    to the write phase (on_invalid=fail, nothing invalid). `errors` holds every listed error
    in shard order, as a one-invocation run's collector would: the caller finishes the run
    with it (report, inline errors) and closes it."""

    status: FileStatus | None
    outcome: Outcome
    errors: ErrorCollector

    @property
    def next_phase(self) -> ShardPhase | None:
        """The phase the shards run next, or None once the run has ended (`status`)."""
        return "write" if self.status is None else None


def finish_sharded(
    record: FileRecord, shards: Sequence[Shard], *, phase: ShardPhase
) -> ShardedOutcome:
    """Sum the reports of `phase` over `shards` and decide the run's status as
    `run_execution._run_records` does for one invocation.

    Raises ShardsMissing if a shard has not reported (the state machine retries this step).

    A shard that could not be read to its end (a file error) ends the counting there, as a
    one-invocation run stops reading at it: later shards' rows and errors are not counted,
    except the rows they wrote, which the sink holds (on_invalid=skip runs every shard at once).
    """
    if phase not in phases(record):
        raise ValueError(f"a run with {_asked(record)} has no {phase} phase")
    reports = {
        r.index: r
        for r in file_repository.shard_reports(record.tenant, record.file_id, record.run, phase)
    }
    missing = [s.index for s in shards if s.index not in reports]
    if missing:
        raise ShardsMissing(phase, missing)
    ordered = [reports[s.index] for s in sorted(shards, key=lambda s: s.index)]
    import_type = get_import_type(record.run_type)
    errors = ErrorCollector(max_errors=import_type.max_errors)
    try:
        outcome = _merge(ordered, errors)
    except BaseException:
        errors.close()
        raise
    return ShardedOutcome(run_status(record, phase, outcome, errors), outcome, errors)


def _merge(reports: list[ShardReport], errors: ErrorCollector) -> Outcome:
    total = ImportResult(shards=len(reports))
    file_error: RowError | None = None
    unlisted = False
    for report in reports:
        total.rows_written += report.rows_written
        if file_error is not None:
            continue  # read past the file error: a one-invocation run never got here
        total.rows_total += report.rows_total
        total.rows_valid += report.rows_valid
        total.rows_invalid += report.rows_invalid
        total.columns = total.columns or report.columns
        total.encoding = total.encoding or report.encoding
        for error in report.errors:
            errors.add(error)
        # Errors the shard counted but did not list still count (and decide the run).
        errors.count_unlisted(report.errors_count - len(report.errors))
        unlisted = unlisted or report.errors_count > len(report.errors)
        file_error = report.file_error
    total.errors_truncated = errors.truncated or unlisted
    return Outcome(total, file_error)


def _asked(record: FileRecord) -> str:
    return "check_only" if record.check_only else f"on_invalid={record.on_invalid}"

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
"single", one pass that writes the valid rows. Each finalize names the phase that runs next
(`ShardedOutcome.next_phase`), or ends the run.

Repeated natural keys, exactly as a one-invocation run finds them (`run_execution._checked_pass`):
- validate / single: each shard hands every valid row's key hash (`stable_hash`, as a
  KeyTracker does) to the finalize as one object under the run's staging/ prefix
  (`KeyTracker.dump`, 8 bytes a row). The finalize checks all shards' hashes together in
  bounded memory (`repeated_across`: 16 groups, each split and spilled as a KeyTracker's
  partition) and, if any repeats (and no file error stopped the reading), names "locate".
- locate: each shard reads its range again and writes, for the keys whose hash repeats, each
  key's first row in the shard and its later rows there. The finalize reads them in shard
  order, comparing exact keys: a key's first row in the file is its first row in the first
  shard that has it; every other row is a `duplicate_key` error naming that line, in the file's
  order, after the first pass's errors. It moves those rows from valid to invalid (and from
  written, for skip) and decides the status as `_checked_pass` and `run_status` do: fail never
  writes when a key repeats; check_only ends FAILED.
- keep (on_invalid=skip, once locate found later rows): the shards wrote concurrently, so a
  repeated key holds an arbitrary row; each shard puts again the first row of the keys whose
  first row in the file it holds, so the first row is what stays. Its finalize ends the run
  with the locate finalize's result.
Only the finalize (which knows every shard) decides; a retried shard or finalize rewrites the
same objects, from the same pinned bytes.

What is not here: the state machine and its handlers (logic/run_steps.py), which claim the
run, call these, renew the lease and finish the run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import IO, Any

from intake.dal import file_repository, object_store
from intake.dal.record_sink import Sink
from intake.import_types import ImportType, get_import_type
from intake.ingest import media
from intake.ingest.duplicates import (
    DUMP_BITS,
    HashDump,
    KeyLocator,
    KeyTracker,
    Occurrence,
    RepeatedKeys,
    duplicate_key_error,
    repeated_across,
)
from intake.ingest.error_report import ErrorCollector
from intake.ingest.readers import read_records
from intake.ingest.records import ReadEvent
from intake.ingest.shards import Shard, open_shard
from intake.ingest.streams import CountingReader, open_bytes
from intake.keys import staging_key
from intake.logic.engine import (
    KeyMatcher,
    Outcome,
    key_cell,
    locate_duplicates,
    validate_records,
)
from intake.logic.run_execution import SinkFactory, dynamodb_sink, run_status
from intake.models.domain import (
    ColumnUsage,
    FileRecord,
    FileStatus,
    ImportResult,
    RowError,
    ShardPhase,
    ShardReport,
)
from intake.observability import logger

MAX_LISTED = KeyMatcher.MAX_LISTED  # unused JSON keys one invocation lists, per file

# Errors a shard's report lists (the rest it only counts). At least the inline limit, so the
# finalized run's inline errors are exactly a one-invocation run's; small enough that a report
# stays far below DynamoDB's 400 KB item limit (an error is a few hundred bytes).
SHARD_ERRORS = 100
# The checking phases: every shard hands its valid rows' key hashes to the finalize.
CHECKING: frozenset[ShardPhase] = frozenset({"validate", "single"})
# The finalize reads each shard's hashes whole (one GET a shard) while all of them together
# are at most this many (32 MiB); past it, one ranged GET per shard and group of hashes.
WHOLE_HASHES = 4 * 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024  # what a staged object holds in memory before /tmp


class ShardsMissing(Exception):
    """Not every shard of the phase has reported: the finalize step is retried later (or the
    missing shards are run again). `missing` lists their indexes."""

    def __init__(self, phase: ShardPhase, missing: list[int]) -> None:
        super().__init__(f"{len(missing)} shards have not reported the {phase} phase: {missing}")
        self.phase = phase
        self.missing = missing


def phases(record: FileRecord) -> tuple[ShardPhase, ...]:
    """The phases a run may go through, in order. The first always runs (the state machine
    starts with `phases(record)[0]`); each other one only when the finalize of the phase
    before names it (`ShardedOutcome.next_phase`): locate when key hashes repeat; write
    (on_invalid=fail) when nothing was invalid and no key repeats; keep (on_invalid=skip)
    when locate found later rows of repeated keys."""
    if record.check_only:
        return ("validate", "locate")
    if record.on_invalid == "fail":
        return ("validate", "locate", "write")
    return ("single", "locate", "keep")


class _AtFileLines(ErrorCollector):
    """Collects a shard's errors at the file's lines (a reader counts the shard's own lines):
    the first SHARD_ERRORS inline (in its report), and the next ones, up to the run's cap, as
    JSON lines in `more` (staged for the finalize, which lists them as one invocation would)."""

    def __init__(self, shard: Shard, max_errors: int) -> None:
        super().__init__(inline_limit=SHARD_ERRORS, max_errors=max_errors)
        self._shard = shard
        self.more: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        self.more_count = 0

    def at_file_line(self, error: RowError) -> RowError:
        if error.line is None:
            return error
        return error.model_copy(update={"line": self._shard.line_in_file(error.line)})

    def add(self, error: RowError) -> None:
        listed = self.listed
        located = self.at_file_line(error)
        super().add(located)
        if self.listed > listed and self.listed > SHARD_ERRORS:
            self.more.write(located.model_dump_json().encode() + b"\n")
            self.more_count += 1

    def close(self) -> None:
        super().close()
        self.more.close()


OpenRange = Callable[[int, int], IO[bytes]]


def run_shard(
    record: FileRecord,
    shard: Shard,
    *,
    phase: ShardPhase,
    sink_factory: SinkFactory = dynamodb_sink,
    object_key: str | None = None,
    version_id: str | None = None,
    member: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ShardReport:
    """Run one shard in one phase, then report it.

    validate, write, single: read, validate and (write, single) write the shard; validate and
    single also stage its valid rows' key hashes for the finalize. locate: stage where the
    keys whose hash repeats appear in the shard. keep: put again the first row of the keys
    whose first row in the file is in this shard.

    `record` is the claimed run. The bytes are the object's version the upload check pinned
    (`object_key`/`version_id` name another object instead, e.g. a gzip re-staged as plain
    bytes, which its shards index; or a ZIP `member`'s plain copy, whose errors name the
    member as one invocation's do). Returns the report that counts: a retry of a shard that
    already reported returns the first report (its rows were upserted by key again, so the
    records table holds each row once either way; its staged object is written again, the
    same). `on_progress` is called with the bytes of the object the shard has read so far,
    as often as a one-invocation run's tracker is, while the validate, write and single phases
    read.
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

    source = _Source(shard, open_range, member)
    if phase == "locate":
        report = _locate(record, source, import_type)
    elif phase == "keep":
        report = _keep(record, source, import_type, sink_factory)
    else:
        report = _read_rows(record, source, phase, import_type, sink_factory, on_progress)
    logger.info(
        "shard run",
        extra={"shard": shard.index, "phase": phase, "rows": report.rows_total},
    )
    return file_repository.record_shard(
        record.tenant, record.file_id, record.run, shard.index, phase=phase, report=report
    )


@dataclass(frozen=True)
class _Source:
    """Where a shard's bytes are: its range of the object `open_range` reads; for a ZIP, of
    one `member`'s plain copy."""

    shard: Shard
    open_range: OpenRange
    member: str | None = None


@contextmanager
def _shard_records(record: FileRecord, source: _Source) -> Iterator[Iterable[ReadEvent]]:
    """The shard's records, read as the whole file's (or the member's) are: the same reader,
    mapping and delimiter."""
    media_type = media.member_media_type(source.member) if source.member else record.media_type
    assert media_type is not None  # the plan stages only members of files of rows
    with open_shard(source.shard, source.open_range) as stream:
        yield read_records(
            stream,
            media_type,
            mapping=record.mapping,
            delimiter=source.shard.delimiter or record.csv_delimiter,
        )


class _RangesRead:
    """Opens the shard's byte ranges of the object and counts the bytes read from them."""

    def __init__(self, open_range: OpenRange) -> None:
        self._open = open_range
        self._readers: list[CountingReader] = []

    def __call__(self, start: int, end: int) -> IO[bytes]:
        reader = CountingReader(self._open(start, end))
        self._readers.append(reader)
        return reader  # type: ignore[return-value]  # RawIOBase: read() as IO[bytes]'s

    @property
    def bytes(self) -> int:
        return sum(reader.bytes_read for reader in self._readers)


def _read_rows(
    record: FileRecord,
    source: _Source,
    phase: ShardPhase,
    import_type: ImportType,
    sink_factory: SinkFactory,
    on_progress: Callable[[int], None] | None,
) -> ShardReport:
    shard = source.shard
    sink: Sink | None = sink_factory(record) if phase != "validate" else None
    errors = _AtFileLines(shard, import_type.max_errors)
    # As a one-invocation run's KeyTracker (bounded memory, spills to /tmp), grouped for the
    # finalize's ranged reads; the write phase follows a validate phase that checked keys.
    keys = KeyTracker(partition_bits=DUMP_BITS) if phase in CHECKING else None
    read = _RangesRead(source.open_range)
    try:
        with _shard_records(record, replace(source, open_range=read)) as events:
            outcome = validate_records(
                events,
                import_type,
                errors,
                sink=sink,
                member=source.member,
                mapping=record.mapping,
                track=keys.add if keys is not None else None,
                on_progress=(lambda _rows: on_progress(read.bytes)) if on_progress else None,
            )
        if keys is not None:
            _stage(_hashes_key(record, phase, shard.index), keys.dump)
        if errors.more_count:
            errors.more.seek(0)
            object_store.upload_file(
                _errors_key(record, phase, shard.index),
                errors.more,
                content_type=media.JSONL,
            )
    finally:
        errors.close()
        if keys is not None:
            keys.close()
    result = outcome.result
    return ShardReport(
        index=shard.index,
        phase=phase,
        rows_total=result.rows_total,
        rows_valid=result.rows_valid,
        rows_invalid=result.rows_invalid,
        rows_written=result.rows_written,
        errors=errors.inline,
        errors_more=errors.more_count,
        errors_count=errors.count,
        file_error=errors.at_file_line(outcome.file_error) if outcome.file_error else None,
        columns=result.columns,
        encoding=result.encoding,
        member=source.member,
    )


class _ShardOccurrences(KeyLocator):
    """The locate phase in one shard: for each key whose hash repeats, its first row in the
    shard, and its later rows there (the first `listed` of them; all counted). Rows are
    numbered in read order (lines may be None). It never answers an earlier occurrence: which
    row is first in the file is for the finalize to say, once it has every shard's."""

    def __init__(self, hashes: frozenset[int], shard: Shard, listed: int) -> None:
        super().__init__(hashes)
        self._shard = shard
        self._listed = listed
        self._row = 0
        self.firsts: dict[str, tuple[int, int | None]] = {}  # key -> (row, file line)
        self.later: list[tuple[int, int | None, str]] = []  # (row, file line, key)
        self.later_count = 0

    def check(self, key: str, line: int | None, member: str | None = None) -> Occurrence | None:
        self._row += 1
        if self._hash(key) not in self._hashes:
            return None
        at = self._shard.line_in_file(line) if line is not None else None
        if key not in self.firsts:
            self.firsts[key] = (self._row, at)
        else:
            self.later_count += 1
            if len(self.later) < self._listed:
                self.later.append((self._row, at, key))
        return None

    def write(self, out: IO[bytes]) -> None:
        found = {
            "later_count": self.later_count,
            "firsts": [[row, line, key] for key, (row, line) in self.firsts.items()],
            "later": self.later,
        }
        out.write(json.dumps(found).encode())  # ASCII: keys may hold lone surrogates


def _locate(record: FileRecord, source: _Source, import_type: ImportType) -> ShardReport:
    shard = source.shard
    repeated = RepeatedKeys.from_bytes(_read(_repeated_key(record)))
    # Later rows listed up to the run's error cap: the finalize lists what one invocation would.
    found = _ShardOccurrences(repeated.hashes, shard, listed=import_type.max_errors)
    unused = ErrorCollector()  # found never answers an earlier occurrence: no error is added
    try:
        with _shard_records(record, source) as events:
            locate_duplicates(
                events,
                import_type,
                unused,
                locator=found,
                member=source.member,
                mapping=record.mapping,
            )
    finally:
        unused.close()
    _stage(_located_key(record, shard.index), found.write)
    return ShardReport(index=shard.index, phase="locate", rows_invalid=found.later_count)


class _FirstRows(KeyLocator):
    """The keep phase in one shard: the first row here of each of `keys` (the keys whose
    first row in the file is in this shard) is put again (`key in self` right after check)."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(frozenset())
        self._keys = keys
        self._put: str | None = None

    def check(self, key: str, line: int | None, member: str | None = None) -> Occurrence | None:
        self._put = key if key in self._keys else None
        self._keys.discard(key)
        return None

    def __contains__(self, key: object) -> bool:
        return self._put is not None and key == self._put


def _keep(
    record: FileRecord, source: _Source, import_type: ImportType, sink_factory: SinkFactory
) -> ShardReport:
    shard = source.shard
    keys = set(json.loads(_read(_keep_key(record))).get(str(shard.index), []))
    written = 0
    if keys:
        unused = ErrorCollector()
        try:
            with _shard_records(record, source) as events:
                outcome = locate_duplicates(
                    events,
                    import_type,
                    unused,
                    locator=_FirstRows(keys),
                    sink=sink_factory(record),
                    member=source.member,
                    mapping=record.mapping,
                )
        finally:
            unused.close()
        written = outcome.result.rows_written
    return ShardReport(index=shard.index, phase="keep", rows_written=written)


@dataclass
class ShardedOutcome:
    """What a phase's finalize found. `status` is the run's end, or None while the run goes
    on to `next_phase` (exactly one of them is None). `errors` holds every listed error in
    shard order, as a one-invocation run's collector would: the caller finishes the run with
    it (report, inline errors) and closes it."""

    status: FileStatus | None
    outcome: Outcome
    errors: ErrorCollector
    next_phase: ShardPhase | None = None


def finish_sharded(record: FileRecord, shard_count: int, *, phase: ShardPhase) -> ShardedOutcome:
    """Sum the reports of `phase` over the run's `shard_count` shards and decide
    the run's status as `run_execution._run_records` does for one invocation, or name the
    phase that runs next.

    Raises ShardsMissing if a shard has not reported (the state machine retries this step).

    A shard that could not be read to its end (a file error) ends the counting there, as a
    one-invocation run stops reading at it: later shards' rows and errors are not counted,
    except the rows they wrote, which the sink holds (on_invalid=skip runs every shard at once).
    """
    if phase not in phases(record):
        raise ValueError(f"a run with {_asked(record)} has no {phase} phase")
    import_type = get_import_type(record.run_type)
    indexes = list(range(shard_count))
    errors = ErrorCollector(max_errors=import_type.max_errors)
    try:
        return _finish(record, import_type, indexes, phase, errors)
    except BaseException:
        errors.close()
        raise


def _finish(
    record: FileRecord,
    import_type: ImportType,
    indexes: list[int],
    phase: ShardPhase,
    errors: ErrorCollector,
) -> ShardedOutcome:
    checking = phases(record)[0]
    if phase in ("locate", "keep"):
        _reports(record, indexes, phase)  # every shard has reported
        rewrite = phase == "locate" and checking == "single"  # skip: the keep phase may run
        outcome, located = _with_duplicates(
            record, import_type, indexes, errors, stage_keep=rewrite
        )
        if rewrite and located:
            return ShardedOutcome(None, outcome, errors, next_phase="keep")
        return _decided(run_status(record, checking, outcome, errors), outcome, errors)
    reports = _reports(record, indexes, phase)
    outcome = _merge(record, reports, errors)
    if phase in CHECKING and outcome.file_error is None and _keys_repeat(record, phase, reports):
        return ShardedOutcome(None, outcome, errors, next_phase="locate")
    return _decided(run_status(record, phase, outcome, errors), outcome, errors)


def _decided(status: FileStatus | None, outcome: Outcome, errors: ErrorCollector) -> ShardedOutcome:
    # No status after a validate pass: every row valid, every key distinct, write them.
    return ShardedOutcome(
        status, outcome, errors, next_phase=None if status is not None else "write"
    )


def _reports(record: FileRecord, indexes: list[int], phase: ShardPhase) -> list[ShardReport]:
    """Every shard's report of `phase`, in shard order; ShardsMissing if one has not."""
    reports = {
        r.index: r
        for r in file_repository.shard_reports(record.tenant, record.file_id, record.run, phase)
    }
    missing = [i for i in indexes if i not in reports]
    if missing:
        raise ShardsMissing(phase, missing)
    return [reports[i] for i in indexes]


def _keys_repeat(record: FileRecord, phase: ShardPhase, reports: list[ShardReport]) -> bool:
    """Whether a valid row's key hash repeats anywhere in the file (every shard's hashes
    checked together); if so, the hashes to locate are staged for the locate phase."""
    keys = [_hashes_key(record, phase, r.index) for r in reports]
    if sum(r.rows_valid for r in reports) <= WHOLE_HASHES:
        dumps = [HashDump(partial(_slice, _read(key))) for key in keys]
    else:
        dumps = [HashDump(partial(_read_range, key)) for key in keys]
    repeated = repeated_across(dumps)
    logger.info(
        "shards' keys checked",
        extra={"repeated_keys": repeated.total, "later_rows": repeated.extra_rows},
    )
    if not repeated:
        return False
    _stage(_repeated_key(record), lambda out: out.write(repeated.to_bytes()))
    return True


def _with_duplicates(
    record: FileRecord,
    import_type: ImportType,
    indexes: list[int],
    errors: ErrorCollector,
    *,
    stage_keep: bool,
) -> tuple[Outcome, int]:
    """The checking phase's outcome with the later rows of repeated keys made invalid, as
    `run_execution._checked_pass` does: the first pass's errors, then a `duplicate_key` error
    on each later row, in the file's order. Returns it and the later rows located.

    Shard by shard, in order, with exact keys: a key's first row in the file is its first row
    in the first shard that has it. `stage_keep` stages, per shard, the keys whose first row
    it holds, for the keep phase (on_invalid=skip). Memory: one entry per distinct key whose
    hash repeats (<= DEFAULT_MAX_REPEATED, bar collisions), and one shard's staged object."""
    checking = phases(record)[0]
    reports = _reports(record, indexes, checking)
    members = {report.index: report.member for report in reports}
    outcome = _merge(record, reports, errors)
    repeated = RepeatedKeys.from_bytes(_read(_repeated_key(record)))
    field = import_type.natural_key
    firsts: dict[str, Occurrence] = {}  # key -> its first row in the file
    keep: dict[str, list[str]] = {}  # shard -> the keys whose first row it holds
    located = 0
    unlisted = False
    for index in indexes:
        member = members[index]
        where = _key_cell(import_type, outcome.result, member)
        found = json.loads(_read(_located_key(record, index)))
        again = []  # the shard's first rows of keys that an earlier shard has
        for row, line, key in found["firsts"]:
            if key in firsts:
                again.append((row, line, key))
            else:
                firsts[key] = Occurrence(line, member)
                keep.setdefault(str(index), []).append(key)
        later = [tuple(entry) for entry in found["later"]]
        listed = sorted(again + later)  # read order (rows are distinct in a shard)
        if found["later_count"] > len(later):
            # Later rows past the listed ones are only counted: list nothing after them.
            last = later[-1][0] if later else 0
            listed = [entry for entry in listed if entry[0] <= last]
        count = len(again) + found["later_count"]
        for _row, line, key in listed:
            error = duplicate_key_error(field=field, line=line, member=member, first=firsts[key])
            errors.add(error.model_copy(update=where) if where else error)
        errors.count_unlisted(count - len(listed))
        unlisted = unlisted or count > len(listed)
        located += count
    if stage_keep and located:
        _stage(
            _keep_key(record),
            lambda out: out.write(json.dumps(keep).encode()),
        )
    later_rows = located + repeated.unlocated_rows
    unlocated = repeated.unlocated_error(field)
    if unlocated is not None:
        errors.add(unlocated)
    result = outcome.result
    result.rows_valid -= later_rows
    result.rows_invalid += later_rows
    if checking == "single":
        result.rows_written -= later_rows
    result.errors_truncated = result.errors_truncated or errors.truncated or unlisted
    logger.info(
        "repeated keys found",
        extra={"rows": later_rows, "keys": len(repeated), "first_rows": len(firsts)},
    )
    return outcome, located


def _key_cell(import_type: ImportType, result: ImportResult, member: str | None) -> dict[str, Any]:
    """Where a duplicate_key error points: the key's column in the file, or in the member
    (each member of a ZIP has its own header, as one invocation reads it)."""
    if member is not None and result.columns is not None:
        mapped = [c for c in result.columns.mapped if c.file == member]
        result = ImportResult(columns=ColumnUsage(mapped=mapped))
    return key_cell(import_type, result, None)


def _merge(record: FileRecord, reports: list[ShardReport], errors: ErrorCollector) -> Outcome:
    total = ImportResult(shards=len(reports))
    file_error: RowError | None = None
    unlisted = False
    stopped: set[str | None] = set()  # ... read to a file error: one invocation read no further
    for report in reports:
        total.rows_written += report.rows_written
        if report.member in stopped:
            continue  # past the file error: a one-invocation run never read this
        total.rows_total += report.rows_total
        total.rows_valid += report.rows_valid
        total.rows_invalid += report.rows_invalid
        total.columns = _with_columns(total.columns, report.columns)
        total.encoding = total.encoding or report.encoding
        for error in report.errors:
            errors.add(error)
        listed = len(report.errors) + report.errors_more
        if report.errors_more and not errors.full:
            for error in _staged_errors(record, report):
                errors.add(error)
        else:
            errors.count_unlisted(report.errors_more)
        # Errors the shard counted but did not list still count (and decide the run).
        errors.count_unlisted(report.errors_count - listed)
        unlisted = unlisted or report.errors_count > listed
        if report.file_error is not None:
            stopped.add(report.member)  # a ZIP's other members are read on, as one run does
            file_error = file_error or report.file_error
    total.errors_truncated = errors.truncated or unlisted
    return Outcome(total, file_error)


def _with_columns(total: ColumnUsage | None, part: ColumnUsage | None) -> ColumnUsage | None:
    """The columns one invocation lists: each once, in the order first met. A CSV's shards
    all read its header (the same columns); a JSON file's shards each list the keys they met
    (unused ones up to KeyMatcher's limit per file, as one matcher lists them); a ZIP's
    members name theirs."""
    if part is None:
        return total
    if total is None:
        total = ColumnUsage()
    mapped = {(c.file, c.column, c.header, c.field) for c in total.mapped}
    unused = {(c.file, c.column, c.header) for c in total.unused}
    for column in part.mapped:
        if (column.file, column.column, column.header, column.field) not in mapped:
            total.mapped.append(column)
    for source in part.unused:
        listed = sum(c.file == source.file for c in total.unused)
        if (source.file, source.column, source.header) not in unused and listed < MAX_LISTED:
            total.unused.append(source)
            unused.add((source.file, source.column, source.header))
    return total


def _staged_errors(record: FileRecord, report: ShardReport) -> Iterator[RowError]:
    """The errors a shard listed past its report's, in its order (one object, streamed)."""
    with object_store.open_stream(_errors_key(record, report.phase, report.index)) as body:
        lines, _ = open_bytes(body)
        for line in lines:
            yield RowError.model_validate_json(line)


def _errors_key(record: FileRecord, phase: ShardPhase, index: int) -> str:
    return staging_key(record.tenant, record.file_id, record.run, f"errors/{phase}-{index:06d}")


def _hashes_key(record: FileRecord, phase: ShardPhase, index: int) -> str:
    return staging_key(record.tenant, record.file_id, record.run, f"keys/{phase}-{index:06d}")


def _repeated_key(record: FileRecord) -> str:
    return staging_key(record.tenant, record.file_id, record.run, "keys/repeated")


def _located_key(record: FileRecord, index: int) -> str:
    return staging_key(record.tenant, record.file_id, record.run, f"keys/located-{index:06d}")


def _keep_key(record: FileRecord) -> str:
    return staging_key(record.tenant, record.file_id, record.run, "keys/keep")


def _stage(key: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Put what `write` writes as the object `key` (in memory up to 8 MiB, then in /tmp)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        write(spool)
        spool.seek(0)
        object_store.upload_file(key, spool, content_type="application/octet-stream")


def _read(key: str) -> bytes:
    with object_store.open_stream(key) as body:
        return body.read()


def _read_range(key: str, start: int, end: int) -> bytes:
    with object_store.open_stream(key, byte_range=f"bytes={start}-{end - 1}") as body:
        return body.read()


def _slice(data: bytes, start: int, end: int) -> bytes:
    return data[start:end]


def _asked(record: FileRecord) -> str:
    return "check_only" if record.check_only else f"on_invalid={record.on_invalid}"

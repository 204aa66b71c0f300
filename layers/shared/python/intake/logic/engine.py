"""Validate a stream of raw records against an import type, feeding valid ones to a sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from intake.dal.record_sink import Sink
from intake.import_types import ImportType
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError, RawRecord
from intake.models.domain import ImportResult, RowError


@dataclass
class Outcome:
    result: ImportResult
    file_error: RowError | None  # set when the file could not be read to its end


def validate_records(
    events: Iterator[RawRecord | RowError],
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    sink: Sink | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 5000,
) -> Outcome:
    """One pass over the records. With a sink, valid records are written as they come."""
    result = ImportResult()
    check = import_type.check
    key_of = import_type.key_of
    to_item = import_type.to_sink_item
    file_error = None
    try:
        for event in events:
            result.rows_total += 1
            if type(event) is RowError:
                result.rows_invalid += 1
                errors.add(event)
                continue
            outcome = check(event.data, line=event.line)  # type: ignore[union-attr]
            if outcome.errors:
                result.rows_invalid += 1
                for error in outcome.errors:
                    errors.add(_with_record_number(error, result.rows_total))
            else:
                result.rows_valid += 1
                if sink is not None:
                    record = outcome.record
                    assert record is not None
                    sink.put(key_of(record), to_item(record))
            if on_progress is not None and result.rows_total % progress_every == 0:
                on_progress(result.rows_total)
    except FileLevelError as exc:
        file_error = exc.error
        errors.add(exc.error)
    if sink is not None:
        result.rows_written = sink.flush()
    result.errors_truncated = errors.truncated
    return Outcome(result, file_error)


def _with_record_number(error: RowError, number: int) -> RowError:
    # JSON arrays have no physical line per record: say which record it is instead.
    if error.line is None:
        return error.model_copy(update={"message": f"record {number}: {error.message}"})
    return error

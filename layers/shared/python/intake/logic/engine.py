"""Validate a stream of raw records against an import type, feeding valid ones to a sink."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from pydantic import ValidationError

from intake.dal.record_sink import Sink
from intake.import_types import ImportType
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError, ReadEvent
from intake.models.domain import ImportResult, RowError


@dataclass
class Outcome:
    result: ImportResult
    file_error: RowError | None  # set when the file could not be read to its end


def validate_records(
    events: Iterable[ReadEvent],
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    sink: Sink | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 5000,
    member: str | None = None,
) -> Outcome:
    """One pass over the records. With a sink, valid records are written as they come.

    `member` names the archive member the records come from; every error then carries it.
    """
    result = ImportResult()
    put = sink.put if sink is not None else None
    file_error = None
    total = valid = invalid = 0
    try:
        iterator = iter(events)
        first = next(iterator, None)  # a CSV reader reads (and checks) its header here
        columns = getattr(events, "columns", None)
        if columns is None and isinstance(first, tuple) and isinstance(first[1], list):
            # Rows of cells without their header (e.g. a reader wrapped in iter()): refuse,
            # rather than report every row invalid.
            raise TypeError("rows of cells need the reader's columns: pass the reader itself")
        shape = import_type.shape_for(columns)
        validate, locate, key_of, to_item = (
            shape.validate,
            shape.locate,
            shape.key_of,
            shape.to_item,
        )
        # The hot loop: one pydantic-core validation per record, Python work only for errors.
        for event in chain((first,), iterator) if first is not None else ():
            total += 1
            if type(event) is RowError:  # not isinstance: pydantic's metaclass check is slow
                invalid += 1
                errors.add(event.model_copy(update={"file": member}) if member else event)
                continue
            line, data = cast(tuple[int | None, Any], event)
            try:
                record = validate(data)
            except ValidationError as exc:
                invalid += 1
                for error in locate(exc, line=line, file=member):
                    errors.add(error)
            else:
                valid += 1
                if put is not None:
                    put(key_of(record), to_item(record))
            if on_progress is not None and total % progress_every == 0:
                on_progress(total)
    except FileLevelError as exc:
        file_error = exc.error.model_copy(update={"file": member}) if member else exc.error
        errors.add(file_error)
    result.rows_total, result.rows_valid, result.rows_invalid = total, valid, invalid
    if sink is not None:
        result.rows_written = sink.flush()
    result.errors_truncated = errors.truncated
    return Outcome(result, file_error)

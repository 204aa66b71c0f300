"""Validate a stream of raw records against an import type, feeding valid ones to a sink."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from pydantic import ValidationError

from intake.dal.record_sink import Sink
from intake.import_types import ImportType
from intake.import_types.base import RecordShape
from intake.import_types.mapping import resolve_columns
from intake.ingest.duplicates import KeyLocator, duplicate_key_error
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError, ReadEvent
from intake.models.domain import ColumnUsage, ImportResult, RowError
from intake.models.mapping import Mapping


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
    mapping: Mapping | None = None,
    track: Callable[[str], None] | None = None,
) -> Outcome:
    """One pass over the records. With a sink, valid records are written as they come;
    `track` is given each valid record's natural key (duplicate detection, pass 1).

    A reader of rows under a header (CSV, Excel) has `columns`: the mapping (or the type's
    names and aliases) decides what each column feeds, and the result lists what each one was
    used for. JSON records are dicts whose keys are matched the same way, per distinct set of
    keys. `member` names the archive member the records come from; every error carries it.
    """
    result = ImportResult()
    put = sink.put if sink is not None else None
    file_error = None
    keys: KeyMatcher | None = None
    total = valid = invalid = 0
    try:
        iterator = iter(events)
        first = next(iterator, None)  # a CSV reader reads (and checks) its header here
        shape, keys = _shape(events, first, import_type, mapping, member, result)
        fed = {c.column: c.field for c in result.columns.mapped} if result.columns else {}
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
                errors.add(_reader_error(event, member, fed))
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
                    key = key_of(record)
                    if track is not None:
                        track(key)
                    put(key, to_item(record))
                elif track is not None:
                    track(key_of(record))
            if on_progress is not None and total % progress_every == 0:
                on_progress(total)
    except FileLevelError as exc:
        located = [e.model_copy(update={"file": member}) if member else e for e in exc.errors]
        file_error = located[0]
        for error in located:
            errors.add(error)
    if keys is not None and keys.notable:
        result.columns = keys.usage
    result.rows_total, result.rows_valid, result.rows_invalid = total, valid, invalid
    if sink is not None:
        result.rows_written = sink.flush()
    result.errors_truncated = errors.truncated
    return Outcome(result, file_error)


def _reader_error(error: RowError, member: str | None, fed: dict[int | None, str]) -> RowError:
    """A reader's error as the run reports it: with its member, and naming the field its
    column feeds (the reader knows only the header)."""
    update: dict[str, Any] = {"file": member} if member else {}
    if error.column is not None:
        update["field"] = fed.get(error.column)
    return error.model_copy(update=update) if update else error


def _shape(
    events: Iterable[ReadEvent],
    first: ReadEvent | None,
    import_type: ImportType,
    mapping: Mapping | None,
    member: str | None,
    result: ImportResult,
) -> tuple[RecordShape, KeyMatcher | None]:
    """How this stream's records are validated: by its header's columns (CSV, Excel; the
    result lists what each column fed), or by its records' keys (JSON)."""
    columns = getattr(events, "columns", None)
    if columns is None and isinstance(first, tuple) and isinstance(first[1], list):
        # Rows of cells without their header (e.g. a reader wrapped in iter()): refuse,
        # rather than report every row invalid.
        raise TypeError("rows of cells need the reader's columns: pass the reader itself")
    sheet = getattr(events, "sheet", None)
    encoding = getattr(events, "encoding", None)
    if encoding not in (None, "utf-8") or (mapping and mapping.encoding):
        result.encoding = encoding  # said when not the default, or when one was declared
    formats = mapping.formats if mapping else {}
    keys = None
    if columns is not None:
        plan = resolve_columns(import_type, columns, mapping, file=member, sheet=sheet)
        result.columns = plan.usage
        if plan.errors:
            raise FileLevelError(*plan.errors)
        shape = import_type.shape_for(plan.fields, formats, typed_cells=sheet is not None)
    else:
        keys = KeyMatcher(import_type, mapping, member)
        shape = keys.shape(import_type.shape_for(None, formats))
    if sheet is not None:
        shape = in_sheet(shape, sheet)
    return shape, keys


def locate_duplicates(
    events: Iterable[ReadEvent],
    import_type: ImportType,
    errors: ErrorCollector,
    *,
    locator: KeyLocator,
    sink: Sink | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 5000,
    member: str | None = None,
    mapping: Mapping | None = None,
) -> Outcome:
    """Duplicate detection, pass 2 (only when pass 1 found a key hash twice): each later row
    with a key already seen is a `duplicate_key` error naming where the key first appeared.

    With a sink (pass 1 wrote as it went, on_invalid=skip), the first occurrence of each
    repeated key is written again, so the row that stays is the first one, as reported.
    `result.rows_invalid` counts the rows found, `rows_written` the rows written again.
    Errors of any other kind were recorded by pass 1 and are not recorded again.
    """
    result = ImportResult()
    found = rewritten = total = 0
    field = import_type.natural_key
    try:
        iterator = iter(events)
        first = next(iterator, None)
        seen = ImportResult()
        shape, _ = _shape(events, first, import_type, mapping, member, seen)
        where = key_cell(import_type, seen, getattr(events, "sheet", None))
        for event in chain((first,), iterator) if first is not None else ():
            total += 1
            if type(event) is RowError:
                continue
            line, data = cast(tuple[int | None, Any], event)
            try:
                record = shape.validate(data)
            except ValidationError:
                continue
            key = shape.key_of(record)
            earlier = locator.check(key, line, member)
            if earlier is not None:
                found += 1
                error = duplicate_key_error(field=field, line=line, member=member, first=earlier)
                errors.add(error.model_copy(update=where) if where else error)
            elif sink is not None and key in locator:
                sink.put(key, shape.to_item(record))
                rewritten += 1
            if on_progress is not None and total % progress_every == 0:
                on_progress(total)
    except FileLevelError:
        pass  # pass 1 recorded it, and stopped at the same place
    if sink is not None:
        sink.flush()
    result.rows_invalid, result.rows_written = found, rewritten
    return Outcome(result, None)


def key_cell(import_type: ImportType, seen: ImportResult, sheet: str | None) -> dict[str, Any]:
    """Where a duplicate_key error points in a file with a header: the key's column (and, in
    a spreadsheet, its sheet and letter)."""
    columns = seen.columns.mapped if seen.columns else []
    column = next((c.column for c in columns if c.field == import_type.natural_key), None)
    if column is None:
        return {}
    where: dict[str, Any] = {"column": column}
    if sheet is not None:
        from intake.ingest.xlsx_reader import column_letter

        where.update(sheet=sheet, column_letter=column_letter(column - 1))
    return where


class KeyMatcher:
    """JSON records: keys matched to fields like a header is (mapping first, then names and
    aliases), once per distinct set of keys; keys nothing uses are listed, as columns are."""

    MAX_LISTED = 100

    def __init__(self, import_type: ImportType, mapping: Mapping | None, member: str | None):
        self._type = import_type
        self._mapping = mapping
        self._member = member
        self._renames: dict[tuple[str, ...], dict[str, str] | None] = {}
        self.usage = ColumnUsage()
        self._listed: set[str] = set()

    @property
    def notable(self) -> bool:
        """Worth listing: a key was renamed or left unused (not when every key is a field's
        own name)."""
        return bool(self.usage.unused) or any(c.header != c.field for c in self.usage.mapped)

    def shape(self, inner: RecordShape) -> RecordShape:
        validate = inner.validate
        renames = self._renames
        plan_for = self._plan

        def renamed(data: Any) -> Any:
            if type(data) is not dict:
                return validate(data)
            keys = tuple(data)
            rename = renames[keys] if keys in renames else plan_for(keys)
            if rename is None:  # every key is a field's own name, or unused
                return validate(data)
            return validate({rename.get(k, k): v for k, v in data.items()})

        return RecordShape(renamed, inner.locate, inner.key_of, inner.to_item)

    def _plan(self, keys: tuple[str, ...]) -> dict[str, str] | None:
        plan = resolve_columns(self._type, keys, self._mapping, file=self._member)
        rename = {k: f for k, f in zip(keys, plan.fields, strict=True) if f and f != k}
        for column in plan.usage.unused:
            if column.header not in self._listed and len(self._listed) < self.MAX_LISTED:
                self._listed.add(column.header)
                self.usage.unused.append(column.model_copy(update={"column": None}))
        for column in plan.usage.mapped:
            if column.header not in self._listed and len(self._listed) < self.MAX_LISTED:
                self._listed.add(column.header)
                self.usage.mapped.append(column.model_copy(update={"column": None}))
        # plan.errors (required fields no key feeds) are not used: a JSON record without a
        # required field is that record's `required` error, located at its line.
        result = rename or None
        if len(self._renames) < 1024:
            self._renames[keys] = result
        return result


def in_sheet(shape: RecordShape, sheet: str) -> RecordShape:
    """Errors located on a spreadsheet also carry the sheet and the column's letter."""
    from intake.ingest.xlsx_reader import column_letter

    locate = shape.locate

    def located(exc: ValidationError, *, line: int | None, file: str | None = None) -> Any:
        return [
            e.model_copy(
                update={
                    "sheet": sheet,
                    "column_letter": column_letter(e.column - 1) if e.column else None,
                }
            )
            for e in locate(exc, line=line, file=file)
        ]

    return RecordShape(shape.validate, located, shape.key_of, shape.to_item)

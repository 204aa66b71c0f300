"""Content analysis: what a file declared without an import type holds, and which row types
it fits, with the mapping to import it by (design.md, "Analysis"; docs/decisions.md).

Pure: bytes in (a stream of the object, seekable for ZIP containers), an `Analysis` out. The
worker reads the object and stores the result (logic/uploads.py).

Bounded: only the start of the file is read, at most SAMPLE_BYTES of text (after gunzipping)
or SAMPLE_RECORDS rows of a sheet, and of those at most SAMPLE_RECORDS records are looked at.

For each row type (`takes_mapping`): columns are matched by header names and aliases first,
exactly as a run matches them (`resolve_columns`); then, for the fields still unfed, by the
values of the unused columns. Values that name their own kind (e-mail addresses, countries)
are taken under any header; values that could mean several things (dates, yes/no, ids, phone
numbers) only under a header that says nothing (empty, `Unnamed: 0`, `Column 3`). Date
columns get their format; yes/no columns their words. The suggested mapping is then checked
against the type and the sample is validated with it, as a run would validate it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import IO, Any, cast, get_args
from xml.etree.ElementTree import ParseError, iterparse

from intake.errors import InvalidFields
from intake.import_types.base import ImportType
from intake.import_types.contacts import EMAIL_PATTERN
from intake.import_types.countries import alpha2
from intake.import_types.formats import DEFAULT_FALSE, DEFAULT_TRUE
from intake.import_types.mapping import ColumnPlan, check_mapping, resolve_columns
from intake.ingest import media
from intake.ingest.archive import ArchiveLimits, open_archive
from intake.ingest.csv_reader import DELIMITERS, likely_encoding, read_csv
from intake.ingest.error_report import ErrorCollector
from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import FileLevelError, ReadEvent
from intake.ingest.streams import GZIP_MAGIC, CountingReader
from intake.logic.engine import validate_records
from intake.models.domain import Analysis, RowError, Suggestion
from intake.models.mapping import CsvDelimiter, Encoding, FieldFormat, Mapping
from intake.models.text import UNSAFE_TEXT

KiB = 1024
MiB = 1024 * KiB
SAMPLE_BYTES = 1 * MiB  # text read from the file's start (after gunzipping)
SAMPLE_RECORDS = 1_000  # records looked at (validated, values sniffed)
MAX_SHEETS = 5  # sheets tried when the first one fits no type
LISTED_COLUMNS = 100  # columns an analysis lists (its stored size stays bounded) ...
FEW_COLUMNS = 20  # ... or this many, when those would take more than:
MAX_STORED_BYTES = 64 * KiB
# The share of a column's non-empty sampled values that must look like a kind: under a header
# that says nothing, and under any other header (kinds that name themselves only).
SILENT_SHARE = 0.8
NAMED_SHARE = 0.9
_DELIMITER_LINES = 50  # lines of the sample that settle the delimiter
_ENCODINGS = frozenset(get_args(Encoding))
_WORKBOOK_PART_BYTES = 4 * MiB  # workbook.xml and its relationships, read whole
_DIMENSION_BYTES = 4 * KiB  # a sheet's <dimension> sits in its first bytes
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"

# Scoring weights: how much of the type's required fields the file feeds matters most; then
# whether the sample validates under the mapping; then optional fields and how much of the
# file the type explains. A value-matched column counts for less than a named one.
W_REQUIRED, W_VALID, W_OPTIONAL, W_COLUMNS = 0.55, 0.2, 0.15, 0.1
VALUE_CONFIDENCE = 0.9


# --- the sample -------------------------------------------------------------------------------


@dataclass
class Sample:
    """The start of a file as rows (or records) under a header, and how it was read."""

    format: str
    header: tuple[str, ...] = ()
    events: list[ReadEvent] = field(default_factory=list)  # the first SAMPLE_RECORDS
    records: int = 0  # every record in the sample (for the estimate)
    rows_estimated: int | None = None
    keyed: bool = False  # JSON: records are dicts, `header` the keys seen
    encoding: str | None = None
    bom: bool | None = None
    delimiter: CsvDelimiter | None = None
    sheet: str | None = None
    sheets: list[str] | None = None
    member: str | None = None
    error: RowError | None = None
    # What the mapping must say for a run to read the file as the sample was read.
    read_as: Mapping = field(default_factory=Mapping)


class _SampledRows(list[ReadEvent]):
    """Sampled events with what `validate_records` asks a reader for."""

    def __init__(self, sample: Sample) -> None:
        super().__init__(sample.events)
        self.columns = None if sample.keyed else sample.header
        self.sheet = sample.sheet


def analyse(
    source: IO[bytes],
    *,
    media_type: str,
    size: int,
    import_types: Sequence[ImportType],
    limits: ArchiveLimits,
) -> Analysis:
    """The analysis of one file: `source` is its bytes from the start (seekable for .xlsx and
    .zip), `size` its size in bytes. Unreadable content is an analysis with `error`."""
    row_types = [t for t in import_types if t.takes_mapping and media_type in t.media_types]
    try:
        if media_type == media.XLSX:
            sample, suggestions = _best_sheet(source, row_types, limits)
        else:
            if media_type == media.ZIP:
                sample = _zip_sample(source, limits)
            else:
                sample = _stream_sample(source, media_type, size)
            suggestions = _suggestions(sample, row_types)
    except FileLevelError as exc:
        return Analysis(format=media_type, error=exc.error)
    return _analysis(sample, suggestions)


def _analysis(sample: Sample, suggestions: list[Suggestion]) -> Analysis:
    analysis = _listing(sample, suggestions, LISTED_COLUMNS)
    if len(analysis.model_dump_json().encode()) > MAX_STORED_BYTES:
        # Long headers in many columns: list fewer, so the file's item stays far below
        # DynamoDB's 400 KB (the mappings, scores and counts are all kept).
        analysis = _listing(sample, suggestions, FEW_COLUMNS)
    return analysis


def _listing(sample: Sample, suggestions: list[Suggestion], columns: int) -> Analysis:
    def trimmed(suggestion: Suggestion) -> Suggestion:
        usage = suggestion.columns
        return suggestion.model_copy(
            update={
                "columns": usage.model_copy(
                    update={"mapped": usage.mapped[:columns], "unused": usage.unused[:columns]}
                )
            }
        )

    return Analysis(
        format=sample.format,
        encoding=sample.encoding,
        bom=sample.bom,
        delimiter=sample.delimiter,
        sheet=sample.sheet,
        sheets=sample.sheets,
        member=sample.member,
        header=[_shown(h) for h in sample.header[:columns]],
        columns_truncated=len(sample.header) > columns,
        rows_sampled=len(sample.events),
        rows_estimated=sample.rows_estimated,
        suggestions=[trimmed(s) for s in suggestions],
        error=sample.error,
    )


def _shown(header: str) -> str:
    """A header as an analysis lists it: no control characters or lone surrogates (the status
    table and JSON answers refuse them), and not past a mapping's header length."""
    text = UNSAFE_TEXT.sub("\ufffd", header)
    return text if len(text) <= 256 else text[:255] + "\u2026"


# --- text: CSV, JSON, JSON Lines (gzipped or not) -------------------------------------------


def _stream_sample(source: IO[bytes], media_type: str, size: int) -> Sample:
    counter = CountingReader(source)
    buffered = io.BufferedReader(counter, buffer_size=64 * KiB)
    gzipped = buffered.peek(2)[:2] == GZIP_MAGIC
    stream = cast(IO[bytes], gzip.GzipFile(fileobj=buffered) if gzipped else buffered)
    try:
        data = stream.read(SAMPLE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileLevelError(
            RowError(code="unreadable", message=f"the gzip stream cannot be read: {exc}")
        ) from None
    complete = len(data) <= SAMPLE_BYTES
    data = data[:SAMPLE_BYTES]
    # Of a gzip, the estimate scales by how much of the compressed file the sample took.
    whole = size if not gzipped or complete else int(size * len(data) / max(counter.bytes_read, 1))
    return _text_sample(data, media_type, complete=complete, whole=whole)


def _text_sample(data: bytes, media_type: str, *, complete: bool, whole: int) -> Sample:
    if not complete:
        data = _whole_lines(data)
    if media_type == media.CSV:
        sample = _csv_sample(data, complete=complete)
    elif media_type in (media.JSON, media.JSONL):
        sample = _json_sample(data, media_type, complete=complete)
    else:
        raise FileLevelError(
            RowError(code="unsupported_media_type", message=f"{media_type} is not analysed")
        )
    if complete:
        sample.rows_estimated = sample.records
    elif sample.records:
        head = len(data.split(b"\n", 1)[0]) + 1 if media_type == media.CSV else 0
        per_record = max((len(data) - head) / sample.records, 1.0)
        sample.rows_estimated = max(round((whole - head) / per_record), sample.records)
    return sample


def _whole_lines(data: bytes) -> bytes:
    """The sample up to its last line break (UTF-16: a whole code unit's)."""
    newline = {codecs.BOM_UTF16_LE: b"\n\x00", codecs.BOM_UTF16_BE: b"\x00\n"}.get(data[:2])
    if newline is None:
        return data[: data.rfind(b"\n") + 1] or data
    end = len(data)
    while (found := data.rfind(newline, 2, end)) > 0:
        if found % 2 == 0:  # code units start at even offsets, after the BOM
            return data[: found + 2]
        end = found + 1
    return data


def _csv_sample(data: bytes, *, complete: bool) -> Sample:
    encoding, bom, declare = _encoding_of(data, complete=complete)
    text_head = _decoded_head(data, encoding)
    delimiter = _delimiter_of(text_head)
    reader = read_csv(io.BytesIO(data), delimiter=delimiter, encoding=declare)
    sample = Sample(
        format=media.CSV,
        encoding=encoding,
        bom=bom,
        delimiter=delimiter,
        read_as=Mapping(
            encoding=declare,  # type: ignore[arg-type]  # one of Encoding (_encoding_of)
            delimiter=delimiter if delimiter != "," else None,
        ),
    )
    _collect(sample, reader, complete=complete)
    sample.header = reader.columns or ()
    return sample


def _json_sample(data: bytes, media_type: str, *, complete: bool) -> Sample:
    sample = Sample(format=media_type, encoding="utf-8", bom=data.startswith(codecs.BOM_UTF8))
    sample.keyed = True
    reader = read_jsonl if media_type == media.JSONL else read_json
    _collect(sample, reader(io.BytesIO(data)), complete=complete)
    keys: dict[str, None] = {}
    for event in sample.events:
        if isinstance(event, tuple) and isinstance(event[1], dict):
            keys.update(dict.fromkeys(k for k in event[1] if isinstance(k, str)))
    sample.header = tuple(keys)
    return sample


def _collect(sample: Sample, events: Iterable[ReadEvent], *, complete: bool) -> None:
    """Every record of the sample counted, the first SAMPLE_RECORDS kept. A sample cut from a
    longer file may end in the middle of a record (a quoted field, a JSON document): the
    reader's complaint about that end is the cut, not the file."""
    iterator = iter(events)
    try:
        for event in iterator:
            sample.records += 1
            if len(sample.events) < SAMPLE_RECORDS:
                sample.events.append(event)
    except FileLevelError as exc:
        if not sample.records:
            raise
        if complete:
            sample.error = exc.error  # read up to here; a run stops here too
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _encoding_of(data: bytes, *, complete: bool) -> tuple[str | None, bool, str | None]:
    """(the encoding as a mapping names it, whether a BOM starts the bytes, the encoding a
    mapping must declare for a run to read them: None when a run finds it by itself)."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16", True, None
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        around = data[max(0, exc.start - 32 * KiB) : exc.start + 32 * KiB]
        likely = likely_encoding(around)
        if likely is None or likely not in _ENCODINGS:
            raise FileLevelError(
                RowError(
                    code="invalid_encoding",
                    message="the file is not UTF-8 and no encoding a mapping can declare reads it",
                )
            ) from None
        return likely, False, likely
    return "utf-8", bom, None


def _decoded_head(data: bytes, encoding: str | None) -> str:
    codec = "utf-8-sig" if encoding in (None, "utf-8") else encoding
    head = data[: 256 * KiB]
    return codecs.getincrementaldecoder(codec)(errors="replace").decode(head, final=False)


def _delimiter_of(text: str) -> CsvDelimiter:
    """The delimiter that splits the first lines into as many cells as the header has (the
    most consistent one; the one the header holds most of on a tie). A run sniffs from the
    header alone, so the suggested mapping states any delimiter but a comma."""
    first = text.split("\n", 1)[0]
    best: tuple[float, int, CsvDelimiter] = (0.0, 0, ",")
    for delimiter in DELIMITERS:
        count = first.count(delimiter)
        if not count:
            continue
        try:
            rows = list(
                islice(csv.reader(io.StringIO(text), delimiter=delimiter), _DELIMITER_LINES)
            )
        except csv.Error:
            continue
        if len(rows) > 1 and not text.endswith("\n"):
            rows = rows[:-1]  # the last line may be cut in the middle
        width = count + 1
        consistent = sum(len(r) == width for r in rows[1:]) / max(len(rows) - 1, 1)
        candidate = (consistent, count, delimiter)
        if candidate[:2] > best[:2]:
            best = candidate  # type: ignore[assignment]
    return best[2]


# --- ZIP: the first member of rows ----------------------------------------------------------


def _zip_sample(source: IO[bytes], limits: ArchiveLimits) -> Sample:
    with open_archive(source, limits) as archive:
        rows = [i for i in archive.members if media.member_media_type(i.filename)]
        if not rows:
            raise FileLevelError(
                RowError(
                    code="no_records",
                    message="the archive holds no member of rows ("
                    + ", ".join(media.member_extensions())
                    + ")",
                )
            )
        first = rows[0]
        member_type = media.member_media_type(first.filename)
        assert member_type is not None
        with archive.open(first) as stream:
            data = stream.read(SAMPLE_BYTES + 1)
        complete = len(data) <= SAMPLE_BYTES and len(rows) == 1
        whole = sum(i.file_size for i in rows)
        sample = _text_sample(data[:SAMPLE_BYTES], member_type, complete=complete, whole=whole)
    sample.format = media.ZIP
    sample.member = first.filename
    return sample


# --- Excel ----------------------------------------------------------------------------------


def _best_sheet(
    source: IO[bytes], row_types: Sequence[ImportType], limits: ArchiveLimits
) -> tuple[Sample, list[Suggestion]]:
    """The first visible sheet, as a run reads it; if no type finds all its required fields
    there, the next sheets too (up to MAX_SHEETS), and the one that fits best wins. A sheet
    other than the first visible one is named in the suggested mappings."""
    sheets = _workbook_sheets(source)
    names = [name for name, _, _ in sheets]
    visible = [name for name, state, _ in sheets if state == "visible"] or names
    parts = {name: part for name, _, part in sheets}
    tried: list[tuple[Sample, list[Suggestion]]] = []
    first_error: FileLevelError | None = None
    for index, name in enumerate(visible[:MAX_SHEETS] or [None]):
        try:
            sample = _sheet_sample(source, name if index else None, limits, parts)
        except FileLevelError as exc:
            if exc.error.code not in _SHEET_ERRORS:
                raise  # the workbook itself cannot be read: no other sheet can either
            first_error = first_error or exc
            continue
        sample.sheets = names or None
        if index:
            sample.read_as = Mapping(sheet=sample.sheet)
        suggestions = _suggestions(sample, row_types)
        tried.append((sample, suggestions))
        if suggestions and not suggestions[0].missing:
            break
    if not tried:
        assert first_error is not None
        raise first_error
    return max(tried, key=lambda t: t[1][0].score if t[1] else 0.0)  # first on a tie


# What one sheet can be wrong with while the next ones may still be read.
_SHEET_ERRORS = frozenset({"missing_header", "sheet_not_found"})


def _sheet_sample(
    source: IO[bytes], sheet: str | None, limits: ArchiveLimits, parts: dict[str, str]
) -> Sample:
    from intake.ingest.xlsx_reader import read_xlsx  # openpyxl: ~70 ms, only for workbooks

    reader = read_xlsx(source, sheet=sheet, limits=limits)
    sample = Sample(format=media.XLSX)
    iterator = iter(reader)
    try:
        for event in iterator:
            sample.records += 1
            sample.events.append(event)
            if sample.records >= SAMPLE_RECORDS:
                break
        else:
            sample.rows_estimated = sample.records
    finally:
        iterator.close()  # type: ignore[attr-defined]  # a generator: closes the workbook
    sample.header = reader.columns or ()
    sample.sheet = reader.sheet
    if sample.rows_estimated is None and sample.sheet in parts:
        last_row = _dimension_rows(source, parts[sample.sheet])
        if last_row is not None:
            sample.rows_estimated = max(last_row - 1, sample.records)
    return sample


def _workbook_sheets(source: IO[bytes]) -> list[tuple[str, str, str]]:
    """(name, state, part) of every worksheet in workbook order; [] when the workbook cannot
    say (the reader then reports why it cannot be read)."""
    try:
        source.seek(0)
        with zipfile.ZipFile(source) as package:
            targets = {
                rel.get("Id", ""): rel.get("Target", "")
                for rel in _elements(package, "xl/_rels/workbook.xml.rels", _PKG_REL)
            }
            sheets = []
            for sheet in _elements(package, "xl/workbook.xml", f"{_MAIN_NS}sheet"):
                target = targets.get(sheet.get(f"{_REL_NS}id", ""), "")
                part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                sheets.append((sheet.get("name", ""), sheet.get("state", "visible"), part))
            return sheets
    except (zipfile.BadZipFile, ParseError, KeyError, OSError, ValueError, EOFError):
        return []
    finally:
        source.seek(0)


def _elements(package: zipfile.ZipFile, name: str, tag: str) -> list[Any]:
    if package.getinfo(name).file_size > _WORKBOOK_PART_BYTES:
        raise ValueError(f"{name} is too large")
    with package.open(name) as part:
        # expat refuses entity amplification; ElementTree fetches no external entity.
        return [e for _, e in iterparse(part) if e.tag == tag]  # noqa: S314


def _dimension_rows(source: IO[bytes], part: str) -> int | None:
    """The last row the sheet's `<dimension>` names: a writer's claim, good for an estimate
    (runs never trust it)."""
    try:
        source.seek(0)
        with zipfile.ZipFile(source) as package, package.open(part) as sheet:
            head = sheet.read(_DIMENSION_BYTES)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error):
        return None
    finally:
        source.seek(0)
    found = _DIMENSION.search(head)
    return int(found.group(1)) if found and found.group(1) else None


# --- suggestions ----------------------------------------------------------------------------


def _suggestions(sample: Sample, row_types: Sequence[ImportType]) -> list[Suggestion]:
    if not sample.header:
        return []
    suggestions = [_suggest(t, sample) for t in row_types]
    return sorted(suggestions, key=lambda s: -s.score)


@dataclass
class _Inference:
    """What one import type makes of one sample, built up step by step."""

    fields: list[str | None]  # what each column feeds
    confidence: dict[str, float] = field(default_factory=dict)  # field -> 0..1
    columns: dict[str, str] = field(default_factory=dict)  # the mapping's columns
    formats: dict[str, FieldFormat] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _suggest(import_type: ImportType, sample: Sample) -> Suggestion:
    header = sample.header
    values = _column_values(sample)
    named = resolve_columns(import_type, header, sample.read_as)
    inference = _Inference(fields=list(named.fields))
    for f in named.fields:
        if f is not None:
            inference.confidence[f] = 1.0
    _match_by_values(import_type, header, values, inference)
    _formats(import_type, header, values, inference)
    mapping = sample.read_as.model_copy(
        update={"columns": inference.columns, "formats": inference.formats}
    )
    try:
        check_mapping(import_type, mapping)
    except InvalidFields:  # cannot happen for what is inferred here; never suggest a bad one
        mapping = sample.read_as
    plan = resolve_columns(import_type, header, mapping)
    valid, invalid = _validate(import_type, sample, mapping)
    missing = [f for f in import_type.required_fields if f not in plan.fields]
    return Suggestion(
        import_type=import_type.name,
        score=_score(import_type, plan, inference, sample, valid, missing),
        mapping=mapping,
        missing=missing,
        columns=plan.usage.model_copy(
            update={
                "unused": [
                    c.model_copy(update={"header": _shown(c.header)}) for c in plan.usage.unused
                ],
            }
        ),
        rows_valid=valid,
        rows_invalid=invalid,
        notes=inference.notes,
    )


def _column_values(sample: Sample) -> list[list[Any]]:
    """Each column's non-empty sampled values (text stripped), in row order."""
    columns: list[list[Any]] = [[] for _ in sample.header]
    index = {h: i for i, h in enumerate(sample.header)}
    for event in sample.events:
        if not isinstance(event, tuple):
            continue
        data = event[1]
        cells: Iterable[tuple[int, Any]]
        if isinstance(data, dict):
            cells = ((index[k], v) for k, v in data.items() if k in index)
        else:
            cells = enumerate(data[: len(columns)])
        for i, cell in cells:
            value = cell.strip() if isinstance(cell, str) else cell
            if value is not None and value != "":
                columns[i].append(value)
    return columns


class _KeyCounter:
    """A sink that writes nothing: it counts the valid rows whose natural key an earlier valid
    row had, which a run reports as `duplicate_key` (logic/run_execution.py)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.repeated = 0

    def put(self, key: str, item: dict[str, Any]) -> None:
        if key in self.seen:
            self.repeated += 1
        self.seen.add(key)

    def flush(self) -> int:
        return 0


def _validate(import_type: ImportType, sample: Sample, mapping: Mapping) -> tuple[int, int]:
    """The sampled rows valid and invalid under the mapping, validated as a run would (a row
    repeating an earlier row's key included)."""
    errors = ErrorCollector(inline_limit=0, max_errors=0)
    keys = _KeyCounter()
    try:
        outcome = validate_records(
            _SampledRows(sample), import_type, errors, sink=keys, mapping=mapping
        )
    finally:
        errors.close()
    if outcome.file_error is not None:
        return 0, len(sample.events)
    result = outcome.result
    return result.rows_valid - keys.repeated, result.rows_invalid + keys.repeated


def _score(
    import_type: ImportType,
    plan: ColumnPlan,
    inference: _Inference,
    sample: Sample,
    valid: int,
    missing: list[str],
) -> float:
    fed = {f for f in plan.fields if f is not None}
    required = import_type.required_fields
    optional = [f for f in import_type.fields if f not in required]

    def covered(names: Sequence[str]) -> float:
        if not names:
            return 1.0
        return sum(inference.confidence.get(f, 1.0) for f in names if f in fed) / len(names)

    named = [h for h in plan.header if h]
    used = sum(1 for h, f in zip(plan.header, plan.fields, strict=True) if h and f)
    columns = used / len(named) if named else 0.0
    checked = len(sample.events)
    validity = valid / checked if checked and not missing else 0.0
    score = (
        W_REQUIRED * covered(required)
        + W_OPTIONAL * covered(optional)
        + W_COLUMNS * columns
        + W_VALID * validity
    )
    return round(min(max(score, 0.0), 1.0), 3)


# --- columns by their values ----------------------------------------------------------------

_SILENT = re.compile(
    r"^(|unnamed:?\s*\d+(_level_\d+)?|(column|col|field|feld|spalte|colonne)[\s_#-]*\d+|"
    r"f\d+|_?c\d+|\d+)$",
    re.IGNORECASE,
)
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,}(\s*(x|ext\.?)\s*\d+)?$", re.IGNORECASE)
_DIGITS = re.compile(r"\d")
_INTEGER = re.compile(r"^[+-]?\d+$")
_SPACE = re.compile(r"\s")
# Yes/no words beyond the ones every yes/no field takes (import_types/formats.py).
EXTRA_TRUE = ("ja", "oui", "si", "sí", "sim", "wahr", "vrai", "tak", "x")
EXTRA_FALSE = ("nein", "non", "não", "nao", "falsch", "faux", "nie")


def silent(header: str) -> bool:
    """A header that says nothing about its column: empty, or a tool's placeholder name."""
    return bool(_SILENT.match(header.strip()))


def _mappable(header: str, header_row: Sequence[str]) -> bool:
    """Can a mapping name this column? (A non-empty header of safe text, written once.)"""
    text = header.strip()
    return (
        bool(text)
        and len(text) <= 256
        and not UNSAFE_TEXT.search(text)
        and sum(1 for h in header_row if h.strip() == text) == 1
    )


Detector = Callable[[list[Any]], float]  # the share of values that look like the kind


def _share(values: list[Any], test: Callable[[Any], bool]) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _email_share(values: list[Any]) -> float:
    return _share(values, lambda v: isinstance(v, str) and bool(_EMAIL.match(v)))


def _country_share(values: list[Any]) -> float:
    return _share(values, lambda v: isinstance(v, str) and alpha2(v) is not None)


def _phone_share(values: list[Any]) -> float:
    def phone(v: Any) -> bool:
        return isinstance(v, str) and bool(_PHONE.match(v)) and len(_DIGITS.findall(v)) >= 7

    return _share(values, phone)


def _date_share(values: list[Any]) -> float:
    texts = [v for v in values if isinstance(v, str)]
    shaped = max((_shape_count(fmt, texts) for fmt in DATE_FORMATS), default=0)
    cells = sum(1 for v in values if isinstance(v, date))
    return (cells + shaped) / len(values) if values else 0.0


def _boolean_share(values: list[Any]) -> float:
    words = {w.casefold() for w in (*DEFAULT_TRUE, *DEFAULT_FALSE, *EXTRA_TRUE, *EXTRA_FALSE)}
    seen = {str(v).casefold() for v in values}
    if len(seen) < 2 and not all(isinstance(v, bool) for v in values):
        return 0.0  # one word throughout says nothing (a column of "1"s)
    return _share(values, lambda v: isinstance(v, bool) or str(v).casefold() in words)


def _key_share(values: list[Any], rows: int) -> float:
    """A natural key: in every sampled row, unique, no spaces, not just a running number."""
    texts = [str(v) for v in values]
    if not texts or len(texts) < rows or len(set(texts)) != len(texts):
        return 0.0
    if any(_SPACE.search(t) for t in texts) or all(_INTEGER.match(t) for t in texts):
        return 0.0
    return 1.0


def _detectors(import_type: ImportType, rows: int) -> list[tuple[str, Detector, bool, str]]:
    """(field, detector, taken under any header?, what the values look like), in the order
    fields are matched: kinds that name themselves first."""
    kinds = import_type.field_kinds
    out: list[tuple[str, Detector, bool, str]] = []
    for name in import_type.fields:
        if name == "email" or name.endswith("_email"):
            out.append((name, _email_share, True, "e-mail addresses"))
        elif name == "country" or name.endswith("_country"):
            out.append((name, _country_share, True, "countries"))
    for name in import_type.fields:
        if name == import_type.natural_key:
            out.append((name, lambda v: _key_share(v, rows), False, "unique ids"))
        elif kinds.get(name) == "date":
            out.append((name, _date_share, False, "dates"))
        elif kinds.get(name) == "boolean":
            out.append((name, _boolean_share, False, "yes/no values"))
        elif name == "phone" or name.endswith("_phone"):
            out.append((name, _phone_share, False, "phone numbers"))
    return out


def _match_by_values(
    import_type: ImportType, header: Sequence[str], values: list[list[Any]], inference: _Inference
) -> None:
    """Feed the fields the header left unfed from unused columns whose values say what they
    are: for each field, the column where most values fit (above the share), once each."""
    fields = inference.fields
    rows = max((len(v) for v in values), default=0)
    for name, detector, anywhere, what in _detectors(import_type, rows):
        if name in fields:
            continue
        best: tuple[float, int] | None = None
        for i, h in enumerate(header):
            if fields[i] is not None or not values[i] or not _mappable(h, header):
                continue
            quiet = silent(h)
            if not (quiet or anywhere):
                continue
            if not quiet and len({str(v) for v in values[i]}) < 2:
                continue  # one value throughout ("Jo", a country code too) proves nothing
            share = detector(values[i])
            if share >= (SILENT_SHARE if quiet else NAMED_SHARE) and (
                best is None or share > best[0]
            ):
                best = (share, i)
        if best is None:
            continue
        share, i = best
        fields[i] = name
        inference.columns[header[i].strip()] = name
        inference.confidence[name] = VALUE_CONFIDENCE * share
        inference.notes.append(
            f"{header[i].strip()!r} -> {name}: {share:.0%} of its sampled values are {what}"
        )


# --- formats --------------------------------------------------------------------------------

# Date formats tried on text cells, preferred in this order on a tie: ISO first (what a field
# takes without a format), day-first before month-first (a date with a day over 12 settles it;
# when none has one, day-first is assumed and said so).
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%Y%m%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
)
_DIRECTIVES = {"%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{1,2}", "%d": r"\d{1,2}"}
_DIRECTIVES.update({"%H": r"\d{1,2}", "%M": r"\d{2}", "%S": r"\d{2}"})


def _shape(fmt: str) -> re.Pattern[str]:
    pattern = re.escape(fmt)
    for directive, digits in _DIRECTIVES.items():
        pattern = pattern.replace(re.escape(directive), digits)
    if fmt == "%Y%m%d":
        pattern = r"\d{8}"
    return re.compile(f"^{pattern}$")


_SHAPES = {fmt: _shape(fmt) for fmt in DATE_FORMATS}


def _shape_count(fmt: str, texts: list[str]) -> int:
    shape = _SHAPES[fmt]
    return sum(1 for t in texts if shape.match(t))


def _parses(fmt: str, text: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def date_format(values: Sequence[Any]) -> tuple[str | None, str | None]:
    """(the strptime format the column's text dates are written in, a note when the sample
    cannot settle it). The format whose shape most values have and under which the most of
    them parse; on a tie the earlier of DATE_FORMATS. None: no text dates (e.g. only Excel
    date cells), or no format fits."""
    texts = [v for v in values if isinstance(v, str)]
    if not texts:
        return None, None
    shaped = [f for f in DATE_FORMATS if _shape_count(f, texts) >= SILENT_SHARE * len(texts)]
    if not shaped:
        return None, None
    counts = {f: sum(1 for t in texts if _parses(f, t)) for f in shaped}
    best = max(shaped, key=lambda f: counts[f])  # the first of the best: the preferred one
    rivals = [f for f in shaped if f != best and counts[f] == counts[best] and _swapped(f, best)]
    note = None
    if rivals:
        note = (
            f"no sampled date has a day above 12: read as {best}, not {rivals[0]}; check a few rows"
        )
    return best, note


def _swapped(one: str, other: str) -> bool:
    return one.replace("%d", "%D").replace("%m", "%d").replace("%D", "%m") == other


def boolean_words(values: Sequence[Any]) -> tuple[list[str], list[str]]:
    """The yes/no words a column uses beyond the defaults, as written: (true, false)."""
    defaults = {w.casefold() for w in (*DEFAULT_TRUE, *DEFAULT_FALSE)}
    extra_true = {w.casefold() for w in EXTRA_TRUE}
    extra_false = {w.casefold() for w in EXTRA_FALSE}
    true: dict[str, None] = {}
    false: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or value.casefold() in defaults:
            continue
        if value.casefold() in extra_true:
            true.setdefault(value)
        elif value.casefold() in extra_false:
            false.setdefault(value)
    return list(true)[:20], list(false)[:20]


_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_THOUSANDS_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")


def _formats(
    import_type: ImportType, header: Sequence[str], values: list[list[Any]], inference: _Inference
) -> None:
    """The format each fed date, yes/no and number field needs for its column's values."""
    kinds = import_type.field_kinds
    for i, name in enumerate(inference.fields):
        if name is None:
            continue
        kind = kinds.get(name)
        column = values[i] if i < len(values) else []
        if kind == "date":
            fmt, note = date_format(column)
            if fmt is not None and fmt != "%Y-%m-%d":  # ISO needs no format
                inference.formats[name] = FieldFormat(date=fmt)
                inference.notes.append(f"{name}: dates written as {fmt}")
            if note:
                inference.notes.append(f"{name}: {note}")
        elif kind == "boolean":
            true, false = boolean_words(column)
            if true or false:
                inference.formats[name] = FieldFormat(true=true or None, false=false or None)
        elif kind == "number":
            texts = [v for v in column if isinstance(v, str)]
            if texts and _share(texts, lambda t: bool(_DECIMAL_COMMA.match(t))) >= SILENT_SHARE:
                thousands = any(_THOUSANDS_DOT.match(t) for t in texts)
                inference.formats[name] = FieldFormat(
                    decimal=",", thousands="." if thousands else None
                )

"""validate_records: counts, what reaches the sink, file-level failures, record numbers."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from intake.import_types import ImportType, get_import_type
from intake.ingest.csv_reader import read_csv
from intake.ingest.error_report import ErrorCollector
from intake.ingest.json_readers import read_json
from intake.ingest.records import FileLevelError, RawRecord
from intake.ingest.streams import open_bytes
from intake.logic.engine import validate_records
from intake.models.domain import ImportResult, RowError


class FakeSink:
    """In-memory Sink: keeps what was put, reports how many since the last flush."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.flushes = 0
        self._since_flush = 0

    def put(self, key: str, item: dict[str, Any]) -> None:
        self.items[key] = item
        self._since_flush += 1

    def flush(self) -> int:
        self.flushes += 1
        written, self._since_flush = self._since_flush, 0
        return written


@pytest.fixture(scope="module")
def contacts() -> ImportType:
    return get_import_type("contacts")


@pytest.fixture
def errors() -> Iterator[ErrorCollector]:
    collector = ErrorCollector()
    yield collector
    collector.close()


CSV = (
    b"external_id,email,first_name,country,signed_up\n"
    b"1,ann@example.com,Ann,NO,2024-01-05\n"  # 2 valid
    b"2,not-an-email,Bob,,\n"  # 3 invalid email
    b"3,cid@example.com,Cid\n"  # 4 wrong column count
    b"4,dee@example.com,Dee,zz,\n"  # 5 invalid country
    b"5,eve@example.com,Eve,,\n"  # 6 valid
)


def csv_events(data: bytes, contacts: ImportType) -> Iterable[Any]:
    return read_csv(io.BytesIO(data))


def test_counts_every_row_and_writes_only_valid_ones(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    sink = FakeSink()

    outcome = validate_records(csv_events(CSV, contacts), contacts, errors, sink=sink)

    assert outcome.file_error is None
    assert outcome.result.model_copy(update={"columns": None}) == ImportResult(
        rows_total=5, rows_valid=2, rows_invalid=3, rows_written=2, errors_truncated=False
    )
    assert outcome.result.columns is not None
    assert [(c.column, c.field) for c in outcome.result.columns.mapped] == [
        (1, "external_id"),
        (2, "email"),
        (3, "first_name"),
        (4, "country"),
        (5, "signed_up"),
    ]
    assert sink.items == {
        "1": {
            "external_id": "1",
            "email": "ann@example.com",
            "first_name": "Ann",
            "country": "NO",
            "signed_up": "2024-01-05",
        },
        "5": {"external_id": "5", "email": "eve@example.com", "first_name": "Eve"},
    }
    assert [(e.line, e.field, e.code) for e in errors.inline] == [
        (3, "email", "invalid_email"),
        (4, None, "wrong_column_count"),
        (5, "country", "invalid_country"),
    ]
    assert errors.count == 3


def test_a_row_with_two_bad_fields_is_one_invalid_row_with_two_errors(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    data = b"external_id,email,first_name\n1,bad,\n"

    outcome = validate_records(csv_events(data, contacts), contacts, errors, sink=FakeSink())

    assert (outcome.result.rows_total, outcome.result.rows_invalid) == (1, 1)
    assert [(e.line, e.field, e.code) for e in errors.inline] == [
        (2, "email", "invalid_email"),
        (2, "first_name", "required"),
    ]


def test_without_a_sink_nothing_is_written(contacts: ImportType, errors: ErrorCollector) -> None:
    outcome = validate_records(csv_events(CSV, contacts), contacts, errors, sink=None)

    assert outcome.result.model_copy(update={"columns": None}) == ImportResult(
        rows_total=5, rows_valid=2, rows_invalid=3, rows_written=0
    )


def test_a_bad_header_fails_the_file_and_is_reported(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    data = b"external_id,first_name\n1,Ann\n"
    sink = FakeSink()

    outcome = validate_records(csv_events(data, contacts), contacts, errors, sink=sink)

    assert outcome.file_error == RowError(
        line=1,
        field="email",
        code="missing_column",
        message='no column maps to email. Map one with "mapping": '
        '{"columns": {"<header>": "email"}}',
    )
    assert errors.inline == [outcome.file_error]
    assert outcome.result.model_copy(update={"columns": None}) == ImportResult()
    assert sink.items == {}


def test_a_file_level_error_stops_reading(contacts: ImportType, errors: ErrorCollector) -> None:
    broken = RowError(code="invalid_json", message="parse error")

    def events() -> Iterator[RawRecord | RowError]:
        yield RawRecord(None, {"external_id": "1", "email": "a@x.io", "first_name": "A"})
        yield RawRecord(None, {"external_id": "2", "email": "b@x.io", "first_name": "B"})
        raise FileLevelError(broken)

    outcome = validate_records(events(), contacts, errors, sink=FakeSink())

    assert outcome.file_error == broken
    assert errors.inline == [broken]
    assert (outcome.result.rows_total, outcome.result.rows_valid) == (2, 2)


def test_json_array_errors_carry_the_record_line(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    data = (
        b'[{"external_id": "1", "email": "a@x.io", "first_name": "A"},\n'
        b' {"external_id": "2", "email": "nope", "first_name": "B"},\n'
        b" 7,\n"
        b' {"external_id": "4", "email": "d@x.io", "first_name": "D", "country": "xx"}]'
    )
    stream, _ = open_bytes(io.BytesIO(data))

    outcome = validate_records(read_json(stream), contacts, errors, sink=FakeSink())

    assert outcome.result == ImportResult(
        rows_total=4, rows_valid=1, rows_invalid=3, rows_written=1
    )
    assert errors.inline == [
        RowError(
            line=2,
            field="email",
            code="invalid_email",
            message="email is not a valid e-mail address",
        ),
        RowError(line=3, code="not_an_object", message="a record must be an object"),
        RowError(
            line=4,
            field="country",
            code="invalid_country",
            message="country must be an ISO 3166-1 code (DE, DEU) or an English country name",
        ),
    ]


def test_csv_errors_keep_their_message_without_a_record_number(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    validate_records(csv_events(CSV, contacts), contacts, errors)

    assert errors.inline[0].message == "email is not a valid e-mail address"


def test_progress_is_reported_every_n_rows(contacts: ImportType, errors: ErrorCollector) -> None:
    seen: list[int] = []

    validate_records(
        csv_events(CSV, contacts), contacts, errors, on_progress=seen.append, progress_every=2
    )

    assert seen == [2, 4]


def test_errors_truncated_is_carried_into_the_result(contacts: ImportType) -> None:
    collector = ErrorCollector(max_errors=1)
    try:
        outcome = validate_records(csv_events(CSV, contacts), contacts, collector)
    finally:
        collector.close()

    assert outcome.result.errors_truncated is True
    assert outcome.result.rows_invalid == 3


def test_cell_rows_without_their_header_are_refused(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    # A CSV reader hides its columns when wrapped: the engine must not read cells as records.
    events = iter(csv_events(b"external_id,email,first_name\nc-1,a@x.io,Ann\n", contacts))

    with pytest.raises(TypeError, match="columns"):
        validate_records(events, contacts, errors)


def test_a_spreadsheets_date_time_cell_in_a_date_field_is_its_date(
    contacts: ImportType, errors: ErrorCollector
) -> None:
    from datetime import datetime

    from openpyxl import Workbook

    from intake.import_types.registry import archive_limits
    from intake.ingest.xlsx_reader import read_xlsx

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Customer Id", "Email", "First Name", "Created At"])
    sheet.append(["c-1", "a@x.io", "Ann", datetime(2023, 2, 1, 23, 30)])  # a CRM timestamp
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    sink = FakeSink()

    validate_records(
        read_xlsx(buffer, limits=archive_limits(contacts)), contacts, errors, sink=sink
    )

    assert errors.inline == []
    assert sink.items["c-1"]["signed_up"] == "2023-02-01"

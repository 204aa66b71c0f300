"""JSON Lines and JSON readers: records, located errors, file-level syntax failures."""

from __future__ import annotations

import io

import pytest

from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import FileLevelError, RawRecord
from intake.ingest.streams import open_bytes
from intake.models.domain import RowError


def jsonl(data: bytes) -> list[RawRecord | RowError]:
    return list(read_jsonl(io.BytesIO(data)))


def json_records(data: bytes) -> list[RawRecord | RowError]:
    stream, _ = open_bytes(io.BytesIO(data))
    return list(read_json(stream))


def json_file_error(data: bytes) -> RowError:
    with pytest.raises(FileLevelError) as caught:
        json_records(data)
    return caught.value.error


# --- JSON Lines ---------------------------------------------------------------------------


def test_jsonl_reads_one_record_per_line_with_its_line_number() -> None:
    assert jsonl(b'{"id": "1"}\n{"id": "2", "n": 3}\n') == [
        RawRecord(1, {"id": "1"}),
        RawRecord(2, {"id": "2", "n": 3}),
    ]


def test_jsonl_skips_blank_lines_but_counts_them() -> None:
    assert jsonl(b'{"id": "1"}\n\n   \n{"id": "2"}\r\n\r\n{"id": "3"}') == [
        RawRecord(1, {"id": "1"}),
        RawRecord(4, {"id": "2"}),
        RawRecord(6, {"id": "3"}),
    ]


def test_jsonl_bad_line_is_located_with_its_column_and_reading_goes_on() -> None:
    events = jsonl(b'{"id": "1"}\n{"id": }\n{"id": "3"}\n')

    assert events == [
        RawRecord(1, {"id": "1"}),
        RowError(line=2, column=8, code="invalid_json", message="Expecting value"),
        RawRecord(3, {"id": "3"}),
    ]


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_jsonl_non_object_line_is_not_an_object(line: bytes) -> None:
    assert jsonl(b'{"id": "1"}\n' + line + b"\n") == [
        RawRecord(1, {"id": "1"}),
        RowError(line=2, code="not_an_object", message="a record must be an object"),
    ]


def test_jsonl_invalid_utf8_is_located_at_the_bad_byte() -> None:
    assert jsonl(b'{"id": "1"}\n{"n": "\xff"}\n{"id": "3"}\n') == [
        RawRecord(1, {"id": "1"}),
        RowError(line=2, column=8, code="invalid_encoding", message="not UTF-8"),
        RawRecord(3, {"id": "3"}),
    ]


def test_jsonl_tolerates_a_utf8_bom_on_the_first_line() -> None:
    assert jsonl(b'\xef\xbb\xbf{"id": "1"}\n{"id": "2"}\n') == [
        RawRecord(1, {"id": "1"}),
        RawRecord(2, {"id": "2"}),
    ]


def test_jsonl_keeps_non_ascii_text() -> None:
    assert jsonl('{"name": "Zoë"}\n'.encode()) == [RawRecord(1, {"name": "Zoë"})]


# --- JSON -----------------------------------------------------------------------------------


def test_json_array_of_records_has_no_line_numbers() -> None:
    assert json_records(b'[{"id": "1"}, {"id": "2", "score": 1.5}]') == [
        RawRecord(None, {"id": "1"}),
        RawRecord(None, {"id": "2", "score": 1.5}),
    ]


def test_json_object_with_a_records_array() -> None:
    data = b'  \n{"meta": {"source": "crm"}, "records": [{"id": "1"}, {"id": "2"}]}'

    assert json_records(data) == [RawRecord(None, {"id": "1"}), RawRecord(None, {"id": "2"})]


def test_json_empty_array_has_no_records() -> None:
    assert json_records(b"[]") == []


def test_json_non_object_item_is_an_error_and_reading_goes_on() -> None:
    assert json_records(b'[{"id": "1"}, 2, "x", {"id": "4"}]') == [
        RawRecord(None, {"id": "1"}),
        RowError(code="not_an_object", message="a record must be an object"),
        RowError(code="not_an_object", message="a record must be an object"),
        RawRecord(None, {"id": "4"}),
    ]


@pytest.mark.parametrize(
    "data",
    [b'[{"id": "1"},', b'[{"id": "1"} {"id": "2"}]', b'[{"id": 1,}]', b'{"records": [{]}'],
)
def test_json_syntax_error_fails_the_file(data: bytes) -> None:
    error = json_file_error(data)

    assert error.code == "invalid_json"
    assert error.message


@pytest.mark.parametrize("data", [b'"just text"', b"42", b"null", b"", b"id,email\n1,a@x.io\n"])
def test_json_neither_array_nor_object_fails_the_file(data: bytes) -> None:
    assert json_file_error(data) == RowError(
        line=1, code="invalid_json", message="expected a JSON array or an object"
    )

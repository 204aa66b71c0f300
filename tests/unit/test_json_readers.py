"""JSON Lines and JSON readers: records, located errors, file-level syntax failures."""

from __future__ import annotations

import io
from typing import Any

import pytest

from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import FileLevelError, RawRecord
from intake.ingest.streams import open_bytes
from intake.models.domain import RowError


def jsonl(data: bytes) -> list[Any]:
    return list(read_jsonl(io.BytesIO(data)))


def json_records(data: bytes) -> list[Any]:
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


def test_json_array_records_carry_the_line_they_start_on() -> None:
    assert json_records(
        b'[\n  {"id": "1"},\n  {"id": "2",\n   "score": 1.5},\n\n  {"id": "3"}\n]'
    ) == [
        RawRecord(2, {"id": "1"}),
        RawRecord(3, {"id": "2", "score": 1.5}),
        RawRecord(6, {"id": "3"}),
    ]


def test_json_object_with_a_records_array() -> None:
    data = b'  \n{"meta": {"source": "crm"}, "records": [{"id": "1"},\n{"id": "2"}], "n": 2}'

    assert json_records(data) == [RawRecord(2, {"id": "1"}), RawRecord(3, {"id": "2"})]


def test_json_object_without_records_fails_the_file() -> None:
    assert json_file_error(b'{"id": "1", "email": "a@x.io"}') == RowError(
        line=1, code="missing_records", message="the object has no records array"
    )


def test_json_with_a_bom_is_read() -> None:
    assert json_records(b'\xef\xbb\xbf[{"id": "1"}]') == [RawRecord(1, {"id": "1"})]


def test_json_empty_strings_count_as_absent() -> None:
    assert json_records(b'[{"id": "1", "last_name": ""}]') == [RawRecord(1, {"id": "1"})]


def test_json_empty_array_has_no_records() -> None:
    assert json_records(b"[]") == []
    assert json_records(b'{"records": []}') == []


def test_json_non_object_item_is_an_error_and_reading_goes_on() -> None:
    assert json_records(b'[{"id": "1"},\n 2, "x",\n {"id": "4"}]') == [
        RawRecord(1, {"id": "1"}),
        RowError(line=2, code="not_an_object", message="a record must be an object"),
        RowError(line=2, code="not_an_object", message="a record must be an object"),
        RawRecord(3, {"id": "4"}),
    ]


@pytest.mark.parametrize(
    ("data", "line", "column", "message"),
    [
        (b'[{"id": "1"},', 1, 14, "Expecting value"),
        (b'[{"id": "1"}\n {"id": "2"}]', 2, 2, "expected one of ',' ']'"),
        (b'[\n{"id": 1,}]', 2, 10, "Expecting property name enclosed in double quotes"),
        (b'{"records": [\n  {]}', 2, 4, "Expecting property name enclosed in double quotes"),
        (b'[{"a": 1}] trailing', 1, 12, "unexpected data after the end of the document"),
    ],
)
def test_json_syntax_error_is_located(data: bytes, line: int, column: int, message: str) -> None:
    assert json_file_error(data) == RowError(
        line=line, column=column, code="invalid_json", message=message
    )


def test_json_syntax_error_is_located_across_buffer_refills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.ingest import json_readers

    monkeypatch.setattr(json_readers, "CHUNK_CHARS", 7)
    data = b'[\n {"a": 12345678},\n {"abc": "defghijklmnop"},\n  {"a": tru}\n]'

    assert json_file_error(data) == RowError(
        line=4, column=9, code="invalid_json", message="Expecting value"
    )


def test_json_record_over_the_size_limit_fails_the_file() -> None:
    from intake.ingest.json_readers import read_json

    data = b'[{"a": "' + b"x" * 200 + b'"}]'
    with pytest.raises(FileLevelError) as caught:
        list(read_json(io.BufferedReader(io.BytesIO(data)), max_record_bytes=100))
    assert caught.value.error.code == "record_too_large"


def test_json_invalid_utf8_is_located() -> None:
    assert json_file_error(b'[\n{"a": "ok"},\n{"a": "\xff"}]') == RowError(
        line=3, code="invalid_encoding", message="the file is not valid UTF-8"
    )


@pytest.mark.parametrize("data", [b'"just text"', b"42", b"null", b"", b"id,email\n1,a@x.io\n"])
def test_json_neither_array_nor_object_fails_the_file(data: bytes) -> None:
    error = json_file_error(data)
    assert (error.line, error.code) == (1, "invalid_json")
    assert error.message == "expected a JSON array or an object with a records array"

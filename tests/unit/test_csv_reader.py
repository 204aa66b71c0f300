"""CSV reader: header mapping, delimiters, physical line numbers, encoding problems located."""

from __future__ import annotations

import gzip
import io

import pytest

from intake.ingest.csv_reader import CsvRecords, read_csv
from intake.ingest.records import FileLevelError, RawRecord
from intake.ingest.streams import open_bytes
from intake.models.domain import RowError


def named(records: CsvRecords) -> list[RawRecord | RowError]:
    """The reader's (line, cells) as (line, {column: value}) for non-empty cells."""
    out: list[RawRecord | RowError] = []
    for event in records:
        if isinstance(event, RowError):
            out.append(event)
        else:
            line, cells = event
            assert records.columns is not None
            out.append(
                RawRecord(line, {c: v for c, v in zip(records.columns, cells, strict=True) if v})
            )
    return out


def read(data: bytes, *, required: tuple[str, ...] = ()) -> list[RawRecord | RowError]:
    return named(read_csv(io.BytesIO(data), required=required))


def file_error(data: bytes, *, required: tuple[str, ...] = ()) -> RowError:
    with pytest.raises(FileLevelError) as caught:
        read(data, required=required)
    return caught.value.error


def test_maps_each_row_to_the_header_names_with_header_as_line_1() -> None:
    records = read(b"external_id,email,first_name\n1,a@x.io,Ann\n2,b@x.io,Bob\n")

    assert records == [
        RawRecord(2, {"external_id": "1", "email": "a@x.io", "first_name": "Ann"}),
        RawRecord(3, {"external_id": "2", "email": "b@x.io", "first_name": "Bob"}),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_sniffs_the_delimiter_from_the_header(delimiter: str) -> None:
    data = f"a{delimiter}b{delimiter}c\n1{delimiter}2{delimiter}3\n".encode()

    assert read(data) == [RawRecord(2, {"a": "1", "b": "2", "c": "3"})]


def test_a_comma_inside_a_value_does_not_break_a_semicolon_file() -> None:
    assert read(b"a;b\n1;x,y\n") == [RawRecord(2, {"a": "1", "b": "x,y"})]


def test_header_names_are_trimmed() -> None:
    assert read(b" a , b \n1,2\n") == [RawRecord(2, {"a": "1", "b": "2"})]


def test_a_quoted_newline_pushes_the_next_record_down_by_the_extra_lines() -> None:
    data = b'id,note\n1,"two\nlines"\n2,"three\nphysical\nlines"\n3,one\n'

    assert read(data) == [
        RawRecord(2, {"id": "1", "note": "two\nlines"}),
        RawRecord(4, {"id": "2", "note": "three\nphysical\nlines"}),
        RawRecord(7, {"id": "3", "note": "one"}),
    ]


def test_a_utf8_bom_is_not_part_of_the_first_column_name() -> None:
    records = read(b"\xef\xbb\xbfexternal_id,email\n1,a@x.io\n", required=("external_id",))

    assert records == [RawRecord(2, {"external_id": "1", "email": "a@x.io"})]


def test_crlf_line_endings_leave_no_carriage_returns_in_values() -> None:
    assert read(b"a,b\r\n1,2\r\n3,4\r\n") == [
        RawRecord(2, {"a": "1", "b": "2"}),
        RawRecord(3, {"a": "3", "b": "4"}),
    ]


def test_crlf_and_a_quoted_newline_still_count_physical_lines() -> None:
    assert read(b'a,b\r\n1,"x\r\ny"\r\n3,4\r\n') == [
        RawRecord(2, {"a": "1", "b": "x\r\ny"}),
        RawRecord(4, {"a": "3", "b": "4"}),
    ]


def test_blank_lines_are_skipped_but_counted() -> None:
    assert read(b"a,b\n\n1,2\n\n\n3,4\n") == [
        RawRecord(3, {"a": "1", "b": "2"}),
        RawRecord(6, {"a": "3", "b": "4"}),
    ]


def test_last_row_without_a_trailing_newline_is_read() -> None:
    assert read(b"a,b\n1,2\n3,4") == [
        RawRecord(2, {"a": "1", "b": "2"}),
        RawRecord(3, {"a": "3", "b": "4"}),
    ]


def test_empty_cells_are_left_out_of_the_record() -> None:
    assert read(b"a,b,c\n1,,3\n,,\n") == [RawRecord(2, {"a": "1", "c": "3"}), RawRecord(3, {})]


def test_valid_non_ascii_utf8_is_kept() -> None:
    assert read("name,city\nZoë,Zürich\n".encode()) == [
        RawRecord(2, {"name": "Zoë", "city": "Zürich"})
    ]


def test_an_invalid_utf8_byte_costs_only_its_row_and_is_located() -> None:
    data = b"id,name,city\n1,Ann,Oslo\n2,Bob,K\xf8benhavn\n3,Cid,Rome\n"

    assert read(data) == [
        RawRecord(2, {"id": "1", "name": "Ann", "city": "Oslo"}),
        RowError(
            line=3,
            column=3,
            field="city",
            code="invalid_encoding",
            message="the row is not valid UTF-8",
        ),
        RawRecord(4, {"id": "3", "name": "Cid", "city": "Rome"}),
    ]


def test_an_invalid_byte_after_a_multiline_field_is_located_at_the_record_start() -> None:
    data = b'id,note,name\n1,"a\nb",ok\n2,fine,\xff\xfe\n'

    events = read(data)

    assert events[1] == RowError(
        line=4,
        column=3,
        field="name",
        code="invalid_encoding",
        message="the row is not valid UTF-8",
    )


def test_wrong_column_count_is_reported_at_its_line_and_reading_goes_on() -> None:
    assert read(b"a,b\n1,2,3\n4\n5,6\n") == [
        RowError(line=2, code="wrong_column_count", message="expected 2 columns, found 3"),
        RowError(line=3, code="wrong_column_count", message="expected 2 columns, found 1"),
        RawRecord(4, {"a": "5", "b": "6"}),
    ]


def test_missing_required_column_fails_the_file_at_line_1() -> None:
    error = file_error(b"external_id,first_name\n1,Ann\n", required=("external_id", "email"))

    assert error == RowError(
        line=1, field="email", code="missing_column", message="the header has no email column"
    )


def test_duplicate_column_name_fails_the_file() -> None:
    assert file_error(b"a,b,a\n1,2,3\n") == RowError(
        line=1, column=3, field="a", code="duplicate_column", message="column repeated"
    )


def test_duplicate_after_trimming_fails_the_file() -> None:
    assert file_error(b"a, a\n1,2\n").code == "duplicate_column"


def test_empty_column_name_fails_the_file() -> None:
    assert file_error(b"a,,c\n1,2,3\n") == RowError(
        line=1, column=2, code="empty_column_name", message="a column has no name"
    )


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n", b"  \r\n"])
def test_empty_file_has_no_header(data: bytes) -> None:
    assert file_error(data) == RowError(line=1, code="missing_header", message="the file is empty")


def test_gzipped_csv_through_open_bytes_reads_like_the_plain_one() -> None:
    plain = b'\xef\xbb\xbfa;b\r\n1;"x\ny"\r\n\r\n3;4\r\n'
    stream, _ = open_bytes(io.BytesIO(gzip.compress(plain, mtime=0)))

    assert (
        named(read_csv(stream, required=("a",)))
        == read(plain)
        == [
            RawRecord(2, {"a": "1", "b": "x\ny"}),
            RawRecord(5, {"a": "3", "b": "4"}),
        ]
    )

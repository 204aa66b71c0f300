"""CSV reader: the header as written, delimiters, physical lines, encoding problems located."""

from __future__ import annotations

import gzip
import io

import pytest

from intake.ingest.csv_reader import CsvRecords, read_csv
from intake.ingest.records import FileLevelError, RawRecord
from intake.ingest.streams import open_bytes
from intake.models.domain import RowError

NOT_UTF8_LIKELY_1252 = (
    "the row is not valid UTF-8; the file is most likely windows-1252: declare it as the "
    'mapping\'s encoding ("mapping": {"encoding": "windows-1252"})'
)


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


def read(data: bytes, *, encoding: str | None = None) -> list[RawRecord | RowError]:
    return named(read_csv(io.BytesIO(data), encoding=encoding))


def file_error(data: bytes) -> RowError:
    with pytest.raises(FileLevelError) as caught:
        read(data)
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
    records = read(b"\xef\xbb\xbfexternal_id,email\n1,a@x.io\n")

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
    assert read(b"a,b,c\n1,,3\n, ,4\n") == [
        RawRecord(2, {"a": "1", "c": "3"}),
        RawRecord(3, {"b": " ", "c": "4"}),
    ]


def test_rows_of_empty_cells_are_skipped_like_blank_lines() -> None:
    # Excel leaves `,,,,` rows below the data when a range is cleared rather than deleted.
    assert read(b"a,b,c\n1,2,3\n,,\n,,\r\n4,5,6\n") == [
        RawRecord(2, {"a": "1", "b": "2", "c": "3"}),
        RawRecord(5, {"a": "4", "b": "5", "c": "6"}),
    ]


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
            message=NOT_UTF8_LIKELY_1252,
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
        message=NOT_UTF8_LIKELY_1252,
    )


def test_wrong_column_count_is_reported_at_its_line_and_reading_goes_on() -> None:
    assert read(b"a,b\n1,2,3\n4\n5,6\n") == [
        RowError(line=2, code="wrong_column_count", message="expected 2 columns, found 3"),
        RowError(line=3, code="wrong_column_count", message="expected 2 columns, found 1"),
        RawRecord(4, {"a": "5", "b": "6"}),
    ]


def test_the_header_is_handed_on_as_written_even_empty_or_repeated_cells() -> None:
    # What each column feeds is the mapping's business (import_types/mapping.py), not the
    # reader's: a pandas re-export's empty first header is just a column.
    records = read_csv(io.BytesIO(b",Unnamed: 0, a ,a\n0,1,2,3\n"))
    rows = list(records)

    assert records.columns == ("", "Unnamed: 0", "a", "a")
    assert rows == [(2, ["0", "1", "2", "3"])]


def test_a_row_quoted_whole_is_reported_as_such() -> None:
    data = b'id,name,job\n1,Ann,cook\n"2,Bob,Engineer, civil"\n3,Cy,"a, b"\n'

    assert read(data)[1] == RowError(
        line=3, code="quoted_row", message="the whole row is quoted as one cell; expected 3 columns"
    )
    assert read(data)[2] == RawRecord(4, {"id": "3", "name": "Cy", "job": "a, b"})


def test_utf16_with_a_bom_is_read_without_being_declared() -> None:
    data = "id;name\r\n1;Zoë\r\n".encode("utf-16")

    assert read(data) == [RawRecord(2, {"id": "1", "name": "Zoë"})]


def test_a_declared_windows_1252_file_is_read_as_written() -> None:
    data = "id;name\r\n1;Müller\r\n2;Françoise\r\n".encode("cp1252")

    assert read(data, encoding="windows-1252") == [
        RawRecord(2, {"id": "1", "name": "Müller"}),
        RawRecord(3, {"id": "2", "name": "Françoise"}),
    ]


def test_undeclared_windows_1252_names_the_likely_encoding_on_each_spoilt_row() -> None:
    names = ["Müller", "Françoise", "Øster", "Señor", "Böhm", "Grüß", "Hélène", "Ærø"]
    body = "".join(f"{i};{n} und {n}\r\n" for i, n in enumerate(names, 1))
    data = ("id;name\r\n" + body).encode("cp1252")

    errors = [e for e in read(data) if isinstance(e, RowError)]

    assert [e.line for e in errors] == list(range(2, 2 + len(names)))
    assert {(e.code, e.column, e.field) for e in errors} == {("invalid_encoding", 2, "name")}
    assert "windows-1252" in errors[0].message and '"encoding"' in errors[0].message


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n", b"  \r\n"])
def test_empty_file_has_no_header(data: bytes) -> None:
    assert file_error(data) == RowError(line=1, code="missing_header", message="the file is empty")


def test_gzipped_csv_through_open_bytes_reads_like_the_plain_one() -> None:
    plain = b'\xef\xbb\xbfa;b\r\n1;"x\ny"\r\n\r\n3;4\r\n'
    stream, _ = open_bytes(io.BytesIO(gzip.compress(plain, mtime=0)))

    assert (
        named(read_csv(stream))
        == read(plain)
        == [
            RawRecord(2, {"a": "1", "b": "x\ny"}),
            RawRecord(5, {"a": "3", "b": "4"}),
        ]
    )


def test_a_byte_order_mark_wins_over_the_declared_encoding() -> None:
    data = "\ufeffid;name\r\n1;Jürgen\r\n".encode()
    records = read_csv(io.BytesIO(data), encoding="windows-1252")

    assert named(records) == [RawRecord(2, {"id": "1", "name": "Jürgen"})]
    assert records.columns == ("id", "name") and records.encoding == "utf-8"


def test_utf8_bytes_under_a_declared_single_byte_encoding_are_read_as_utf8() -> None:
    # a partner whose export moved to UTF-8 under an old windows-1252 profile
    records = read_csv(io.BytesIO("id;name\n1;Jürgen Strauß\n".encode()), encoding="windows-1252")

    assert named(records) == [RawRecord(2, {"id": "1", "name": "Jürgen Strauß"})]
    assert records.encoding == "utf-8"


def test_excels_sep_line_sets_the_delimiter_and_the_header_is_line_2() -> None:
    assert read(b"sep=;\r\nid;name,x\r\n1;a,b\r\n") == [RawRecord(3, {"id": "1", "name,x": "a,b"})]

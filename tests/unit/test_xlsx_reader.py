"""Excel (.xlsx) reader: a sheet's rows as the CSV reader gives them, located, in bounded memory."""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from intake.ingest.archive import ArchiveLimits
from intake.ingest.records import FileLevelError
from intake.ingest.xlsx_reader import (
    MAX_ROWS,
    XlsxRecords,
    column_letter,
    normalise_cell,
    read_xlsx,
)
from intake.models.domain import RowError

LIMITS = ArchiveLimits()
PARTNER = Path(__file__).resolve().parents[1] / "fixtures" / "partner"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def saved(book: Workbook) -> io.BytesIO:
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def workbook(*sheets: tuple[str, list[list[Any]]], hidden: tuple[str, ...] = ()) -> io.BytesIO:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden:
            sheet.sheet_state = "hidden"
    return saved(book)


def read(stream: io.BytesIO, **kwargs: Any) -> tuple[XlsxRecords, list[Any]]:
    records = read_xlsx(stream, limits=kwargs.pop("limits", LIMITS), **kwargs)
    return records, list(records)


def fails(stream: io.BytesIO, **kwargs: Any) -> RowError:
    with pytest.raises(FileLevelError) as caught:
        read(stream, **kwargs)
    return caught.value.error


# --- cells ---------------------------------------------------------------------------------


def test_cells_come_through_as_the_validator_takes_them() -> None:
    # Given a row as Excel stores it: ids as floats, a date cell, a date-time, a time, a bool
    stream = workbook(
        (
            "Contacts",
            [
                ["id", "name", "signed up", "seen", "at", "opt in", "score", "count"],
                [1001.0, "Zoë Müller-Straße", date(2024, 3, 5), datetime(2024, 3, 5, 9, 30),
                 time(9, 30), True, 12.5, 7],
            ],
        )
    )  # fmt: skip

    records, events = read(stream)

    assert events == [
        (2, ["1001", "Zoë Müller-Straße", date(2024, 3, 5), datetime(2024, 3, 5, 9, 30),
             time(9, 30), True, "12.5", "7"]),
    ]  # fmt: skip
    assert type(events[0][1][2]) is date  # a date cell at midnight is a date, not a datetime
    assert records.columns == ("id", "name", "signed up", "seen", "at", "opt in", "score", "count")
    assert records.sheet == "Contacts"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("  kept as typed ", "  kept as typed "),
        (4915112345678.0, "4915112345678"),  # a phone number Excel made a number
        (0.1, "0.1"),
        (-3, "-3"),
        (1e-05, "1e-05"),
        (False, False),
        ("#N/A", "#N/A"),  # an error cell's cached value: text the validator judges
        ("line_x000D_break", "line\rbreak"),  # OOXML escapes what XML cannot hold
        ("_x005F_x0041_", "_x0041_"),  # ... and a literal _xHHHH_
    ],
)
def test_cell_normalisation(value: Any, cell: Any) -> None:
    assert normalise_cell(value) == cell


def test_a_formula_without_a_saved_result_reads_empty() -> None:
    """Excel saves each formula's last result, which is what is read. A file written by a
    library that never calculated (openpyxl, many exporters) has none: the cell is empty."""
    stream = workbook(("S", [["id", "total"], ["1", "=1+1"]]))
    assert read(stream)[1] == [(2, ["1", ""])]


@pytest.mark.parametrize(("index0", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (16383, "XFD")])
def test_column_letter(index0: int, letter: str) -> None:
    assert column_letter(index0) == letter


# --- header and rows -----------------------------------------------------------------------


def test_the_header_is_the_first_non_empty_row_and_rows_keep_their_sheet_numbers() -> None:
    stream = workbook(
        (
            "S",
            [
                [],
                [None, None],
                ["id", None, "Name", None, None],  # an empty header cell; trailing ones dropped
                ["1", "x", "Ann"],
                [],
                [None, None, None],
                ["2", None, "Bo"],
            ],
        )
    )

    records, events = read(stream)

    assert records.columns == ("id", "", "Name")
    assert events == [(4, ["1", "x", "Ann"]), (7, ["2", "", "Bo"])]


def test_header_cells_are_stripped_text() -> None:
    stream = workbook(("S", [[" Customer Id ", 2024, date(2024, 1, 31)], ["1", "2", "3"]]))
    assert read(stream)[0].columns == ("Customer Id", "2024", "2024-01-31")


def test_short_rows_are_padded_and_a_value_right_of_the_header_is_an_error() -> None:
    stream = workbook(
        ("People", [["id", "name", "city"], ["1"], ["2", "Bo", "Graz", None], ["3", "Cy", "", "x"]])
    )

    _, events = read(stream)

    assert events[:2] == [(2, ["1", "", ""]), (3, ["2", "Bo", "Graz"])]
    assert events[2] == RowError(
        line=4,
        column=4,
        sheet="People",
        column_letter="D",
        code="wrong_column_count",
        message="expected 3 columns, found a value in column D",
    )


def test_columns_and_sheet_are_known_once_iteration_has_started() -> None:
    records = read_xlsx(workbook(("Only", [["id"]])), limits=LIMITS)
    assert (records.columns, records.sheet) == (None, None)

    assert list(records) == []  # a header and no rows
    assert (records.columns, records.sheet) == (("id",), "Only")


def test_rows_are_read_past_a_dimension_that_says_less() -> None:
    """A writer that records `A1` as the sheet's size would cut the rows in read-only mode."""
    stream = handmade(
        ['<c r="A1" t="s"><v>0</v></c>', '<c r="A2"><v>1</v></c>', '<c r="A3"><v>2</v></c>'],
        ["id"],
        dimension="A1",
    )
    assert read(stream)[1] == [(2, ["1"]), (3, ["2"])]


def test_an_empty_sheet_has_no_header() -> None:
    error = fails(workbook(("Data", []), ("Other", [["id"]])))
    assert (error.code, error.sheet, error.message) == (
        "missing_header",
        "Data",
        "the sheet 'Data' is empty",
    )


# --- sheets --------------------------------------------------------------------------------


def two_sheets() -> io.BytesIO:
    return workbook(
        ("Readme", [["This export holds contacts"]]),
        ("Contacts 2024", [["id", "email"], ["7", "ann@example.com"]]),
    )


def test_the_first_sheet_is_read_by_default() -> None:
    records, events = read(two_sheets())
    assert (records.sheet, records.columns, events) == (
        "Readme",
        ("This export holds contacts",),
        [],
    )


def test_a_hidden_first_sheet_is_passed_over() -> None:
    stream = workbook(("Lookup", [["code"], ["DE"]]), ("Data", [["id"], ["1"]]), hidden=("Lookup",))
    records, events = read(stream)
    assert (records.sheet, events) == ("Data", [(2, ["1"])])


@pytest.mark.parametrize("name", ["Contacts 2024", "contacts 2024", " CONTACTS 2024 "])
def test_the_declared_sheet_is_read_by_name_in_any_case(name: str) -> None:
    records, events = read(two_sheets(), sheet=name)
    assert (records.sheet, events) == ("Contacts 2024", [(2, ["7", "ann@example.com"])])


def test_a_missing_sheet_names_the_sheets_there_are() -> None:
    error = fails(two_sheets(), sheet="Kontakte")
    assert (error.code, error.message) == (
        "sheet_not_found",
        "the workbook has no sheet 'Kontakte'; its sheets: 'Readme', 'Contacts 2024'",
    )


# --- what is not a workbook ----------------------------------------------------------------


def zip_of(*members: tuple[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (
            zip_of(("contacts.csv", b"id\n1\n"), ("more.csv", b"id\n2\n")),
            "the content is a ZIP archive of other files (contacts.csv, more.csv), "
            "not an Excel workbook (.xlsx)",
        ),
        (
            zip_of(("[Content_Types].xml", b"<Types/>"), ("docProps/app.xml", b"<x/>")),
            "the workbook cannot be read: File contains no valid workbook part",
        ),
        (
            zip_of(("docProps/app.xml", b"<x/>")),
            "the ZIP archive is not an Excel workbook: it holds docProps/app.xml",
        ),
        (
            io.BytesIO(b"id,email\n1,ann@example.com\n"),
            "the content is text, not an Excel workbook (.xlsx): CSV is declared as text/csv",
        ),
        (
            io.BytesIO(
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "Workbook".encode("utf-16-le")
            ),
            "the content is an old Excel .xls (binary) file, not .xlsx: save it as .xlsx or CSV",
        ),
    ],
    ids=["zip-of-csv", "package-without-workbook", "no-content-types", "csv", "xls"],
)
def test_what_is_not_a_workbook_fails_clearly(stream: io.BytesIO, message: str) -> None:
    error = fails(stream)
    assert (error.code, error.message) == ("invalid_workbook", message)


def test_broken_sheet_xml_fails_the_file_naming_the_sheet() -> None:
    stream = handmade(['<c r="A1" t="s"><v>0</v></c>', '<c r="A2"><v>1</v>'], ["id"])
    error = fails(stream)
    assert (error.code, error.sheet) == ("invalid_workbook", "Sheet1")
    assert error.message.startswith("the workbook cannot be read: mismatched tag")


def test_a_row_past_excels_last_row_is_refused() -> None:
    stream = handmade(
        ['<c r="A1" t="s"><v>0</v></c>', f'<c r="A{MAX_ROWS + 5}"><v>1</v></c>'], ["id"]
    )
    error = fails(stream)
    assert (error.code, error.line) == ("invalid_workbook", MAX_ROWS + 1)


def test_an_entity_bomb_in_the_shared_strings_is_refused() -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY l0 "lol">{laughs}]>'.encode()
    stream = handmade(['<c r="A1" t="s"><v>0</v></c>'], [], strings_xml=bomb + SST_BODY)
    error = fails(stream)
    assert error.code == "invalid_workbook"
    assert "amplification" in error.message


# --- shared strings ------------------------------------------------------------------------


def test_shared_strings_plain_rich_and_phonetic() -> None:
    """Excel keeps text cells in a shared table; rich text is runs, and phonetic guides (rPh)
    are not part of the text."""
    strings = [
        "<t>name</t>",
        "<t>city</t>",
        "<t>note</t>",
        '<r><rPr><b/></rPr><t>Fran</t></r><r><t xml:space="preserve">çoise </t></r>',
        '<t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh>',
        "<t>line_x000D_break</t>",
    ]
    cells = [
        "".join(
            f'<c r="{col}{row}" t="s"><v>{(row - 1) * 3 + i}</v></c>' for i, col in enumerate("ABC")
        )
        for row in (1, 2)
    ]

    records, events = read(handmade(cells, strings, raw_strings=True))

    assert records.columns == ("name", "city", "note")
    assert events == [(2, ["Françoise ", "東京", "line\rbreak"])]


# --- zip-bomb limits -----------------------------------------------------------------------


@functools.cache
def repetitive_bytes() -> bytes:
    """3,000 rows of much the same text: 200 KB of sheet XML that deflates about 13:1, as
    real sheets do (even rows of identical cells stay under 30:1: each cell names its row)."""
    rows = [["id", "city"], *([str(i), "Same City Every Row"] for i in range(3000))]
    return workbook(("S", rows)).getvalue()


def repetitive() -> io.BytesIO:
    return io.BytesIO(repetitive_bytes())


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (ArchiveLimits(max_members=3), "too_many_members"),
        (ArchiveLimits(max_member_size=100 * 1024), "member_too_large"),
        (ArchiveLimits(max_total_size=100 * 1024), "archive_too_large"),
        (ArchiveLimits(max_ratio=10, ratio_grace=64 * 1024), "compression_ratio_exceeded"),
    ],
)
def test_the_archive_limits_apply_before_the_workbook_is_opened(
    limits: ArchiveLimits, code: str
) -> None:
    assert fails(repetitive(), limits=limits).code == code


def test_the_import_types_limits_take_a_real_workbook() -> None:
    _, events = read(repetitive())
    assert len(events) == 3000


def test_the_shared_strings_table_is_capped() -> None:
    stream = handmade(['<c r="A1" t="s"><v>0</v></c>'], ["<t>id</t>"] * 1000, raw_strings=True)
    with pytest.raises(FileLevelError) as caught:
        list(read_xlsx(stream, limits=LIMITS, max_shared_strings=4096))
    error = caught.value.error
    assert (error.code, error.file) == ("member_too_large", "xl/sharedStrings.xml")
    assert "save the sheet as CSV" in error.message


def test_a_part_read_whole_is_capped() -> None:
    book = Workbook()
    book.active.append(["id"])
    with pytest.raises(FileLevelError) as caught:
        list(XlsxRecords(saved(book), limits=LIMITS, max_part=1024))
    assert caught.value.error.code == "member_too_large"


# --- a partner's workbook ------------------------------------------------------------------


def test_the_eu_export_workbook_reads_as_its_csv_copy() -> None:
    """tests/fixtures/partner/eu_customers.xlsx holds the rows of eu_customers.csv in a sheet
    "Customers" (dates as date cells, keys as text, bare digits as numbers), then "Notes"."""
    with (PARTNER / "eu_customers.xlsx").open("rb") as stream:
        records = read_xlsx(stream, sheet="Customers", limits=LIMITS)
        rows = list(records)
    with (PARTNER / "eu_customers.csv").open(encoding="utf-8-sig", newline="") as csv_file:
        header, *csv_rows = list(csv.reader(csv_file, delimiter=";"))

    assert records.columns == tuple(header)
    assert all(isinstance(event, tuple) for event in rows)
    assert [event[0] for event in rows] == list(range(2, len(csv_rows) + 2))  # type: ignore[index]
    differences = []
    for (line, cells), csv_cells in zip(rows, csv_rows, strict=True):  # type: ignore[misc]
        for column, (cell, text) in enumerate(zip(cells, csv_cells, strict=True), start=1):
            # A date cell: the CSV shows it as DD.MM.YYYY.
            shown = cell.strftime("%d.%m.%Y") if isinstance(cell, date) else cell
            if shown != text:
                differences.append((line, column, shown, text))
    # The one cell Excel had mangled in the CSV copy (13 -> 1,30E+01) is a number cell here.
    # Keys stay text with their zeros ('004215598731002'), bare-digit phones have no '.0',
    # accented names are as written.
    assert differences == [(14, 1, "13", "1,30E+01")]
    names = {cells[2] for _, cells in rows} | {cells[3] for _, cells in rows}  # type: ignore[misc]
    assert {"Jürgen", "Strauß", "Søren", "Kjærgaard", "Zoë"} <= names


def test_a_seekable_file_on_disk_reads_too(tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(two_sheets().getvalue())
    with path.open("rb") as stream:
        records = read_xlsx(stream, sheet="Contacts 2024", limits=LIMITS)
        assert list(records) == [(2, ["7", "ann@example.com"])]


# --- a hand-made package (what openpyxl does not write: shared strings, lying dimensions) ---

SST_BODY = (
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<si><t>&l9;</t></si></sst>"
)


def handmade(
    rows: list[str],
    strings: list[str],
    *,
    dimension: str | None = None,
    raw_strings: bool = False,
    strings_xml: bytes | None = None,
) -> io.BytesIO:
    """A minimal workbook as Excel lays it out: one sheet whose text cells point into
    xl/sharedStrings.xml. `rows` are each row's cells' XML."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    items = strings if raw_strings else [f"<t>{s}</t>" for s in strings]
    sst = (
        strings_xml
        or (f'<sst xmlns="{main}">' + "".join(f"<si>{i}</si>" for i in items) + "</sst>").encode()
    )
    sheet_rows = "".join(f'<row r="{row_number(cells)}">{cells}</row>' for cells in rows)
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{main}">{dim}<sheetData>{sheet_rows}</sheetData></worksheet>'
        ),
    }
    members = [(name, text.encode()) for name, text in parts.items()]
    return zip_of(*members, ("xl/sharedStrings.xml", sst))


def row_number(cells: str) -> int:
    reference = cells.split('r="', 1)[1].split('"', 1)[0]
    return int("".join(ch for ch in reference if ch.isdigit()))


def test_handmade_packages_are_workbooks() -> None:
    """The helper's own check: its package is what the sniffer takes for a workbook."""
    from intake.ingest.sniff import content_mismatch

    stream = handmade(['<c r="A1" t="s"><v>0</v></c>'], ["id"])
    assert content_mismatch(stream.getvalue(), XLSX_TYPE) is None

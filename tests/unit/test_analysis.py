"""The analyser (logic/analysis.py): bytes in, an Analysis out, no AWS."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from intake.import_types import all_import_types, get_import_type
from intake.import_types.registry import archive_limits
from intake.ingest import media
from intake.logic.analysis import SAMPLE_BYTES, analyse, boolean_words, date_format, silent
from intake.models.db import from_item, to_item
from intake.models.domain import Analysis, FileRecord, FileStatus
from intake.models.mapping import Mapping

FIXTURES = Path(__file__).parent.parent / "fixtures" / "partner"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
LIMITS = archive_limits(get_import_type("contacts"))


def run(data: bytes, media_type: str = media.CSV, *, size: int | None = None) -> Analysis:
    return analyse(
        io.BytesIO(data),
        media_type=media_type,
        size=len(data) if size is None else size,
        import_types=all_import_types(),
        limits=LIMITS,
    )


def csv_bytes(rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def mapped(analysis: Analysis) -> dict[str, str]:
    """header -> field of the top suggestion."""
    return {c.header: c.field for c in analysis.suggestions[0].columns.mapped}


# --- the partner fixtures --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_partner_export_gets_contacts_with_a_mapping_for_its_required_fields(name: str):
    facts = MANIFEST[name]
    data = (FIXTURES / name).read_bytes()

    analysis = run(data, media.media_type_for_name(name) or "")

    top = analysis.suggestions[0]
    assert top.import_type == "contacts"
    assert top.missing == []
    assert {"external_id", "email", "first_name"} <= set(mapped(analysis).values())
    assert [c.header for c in top.columns.unused] == facts["expected_unused_headers"]
    # The mapping is what a person adds for the file (the manifest's), except the sheet of a
    # workbook whose data is on its first sheet: a run reads that one without being told.
    expected = dict(facts["mapping"])
    if facts.get("sheets") and expected.get("sheet") == facts["sheets"][0]:
        del expected["sheet"]
    assert top.mapping == Mapping.model_validate(expected)
    assert analysis.header == facts["header"]
    assert analysis.rows_estimated == facts["data_rows"]
    assert analysis.delimiter == facts["delimiter"]
    assert analysis.encoding == facts["encoding"]
    assert analysis.sheet == facts["sheet"]
    assert analysis.sheets == facts.get("sheets")
    assert 0.8 <= top.score <= 1
    # The sample is the whole file here: validated as a run validates it (repeated keys too)
    assert (top.rows_valid, top.rows_invalid) == (
        facts["valid_rows"],
        facts["data_rows"] - facts["valid_rows"],
    )


def test_the_utf8_export_says_it_has_a_bom():
    analysis = run((FIXTURES / "eu_customers.csv").read_bytes())
    assert (analysis.encoding, analysis.bom) == ("utf-8", True)
    assert analysis.suggestions[0].mapping.encoding is None  # read without being declared


# --- headers ---------------------------------------------------------------------------------


def test_headers_match_by_names_and_aliases_and_need_no_mapping_entry():
    data = csv_bytes(
        [
            ["Contact Id", "E-mail Address", "Given Name", "Surname", "Country Code"],
            ["k1", "ada@example.com", "Ada", "Lovelace", "GB"],
            ["k2", "bob@example.com", "Bob", "Dylan", "US"],
        ]
    )

    analysis = run(data)

    assert mapped(analysis) == {
        "Contact Id": "external_id",
        "E-mail Address": "email",
        "Given Name": "first_name",
        "Surname": "last_name",
        "Country Code": "country",
    }
    top = analysis.suggestions[0]
    assert top.mapping == Mapping()
    assert (top.rows_valid, top.rows_invalid) == (2, 0)
    assert top.notes == []


def test_a_headerless_export_is_mapped_by_its_values():
    # Given a tool's placeholder headers: only the values say what the columns are
    rows = [["col1", "col2", "col3", "col4", "col5"]]
    rows += [
        [
            f"a{i}x{i * 7}",
            f"p{i}@example.org",
            "Germany",
            f"{1 + i:02d}.03.2024",
            "ja" if i % 2 else "nein",
        ]
        for i in range(20)
    ]

    analysis = run(csv_bytes(rows))

    top = analysis.suggestions[0]
    assert top.mapping.columns == {
        "col1": "external_id",
        "col2": "email",
        "col3": "country",
        "col4": "signed_up",
        "col5": "opt_in",
    }
    assert top.mapping.formats["signed_up"].date == "%d.%m.%Y"
    assert top.mapping.formats["opt_in"].true == ["ja"]
    assert top.mapping.formats["opt_in"].false == ["nein"]
    # first_name has no column the values could tell: missing, and the score says so
    assert top.missing == ["first_name"]
    assert top.score < 0.7
    assert any("'col2' -> email" in note for note in top.notes)


def test_values_that_name_themselves_are_taken_under_any_header():
    rows = [["Kundennummer", "Kontakt", "Vorname", "Geburtstag"]]
    names = ["Jo", "Ann", "Eve", "Max", "Ida"]
    rows += [
        [f"K-{i}", f"k{i}@example.de", names[i % 5], f"{i + 1:02d}.01.1990"] for i in range(10)
    ]

    top = run(csv_bytes(rows)).suggestions[0]

    # e-mail addresses are e-mail whatever the header says ...
    assert top.mapping.columns == {"Kontakt": "email"}
    # ... but a date under a header that says something could be any date: not signed_up
    assert "Geburtstag" in [c.header for c in top.columns.unused]
    assert sorted(top.missing) == ["external_id", "first_name"]


def test_a_running_number_under_an_empty_header_is_not_taken_for_an_id():
    rows = [["", "Email", "First Name"]]
    rows += [[str(i), f"p{i}@example.com", "Al"] for i in range(10)]

    top = run(csv_bytes(rows)).suggestions[0]

    assert top.missing == ["external_id"]
    assert top.mapping.columns == {}


@pytest.mark.parametrize(
    ("header", "quiet"),
    [("", True), ("Unnamed: 0", True), ("Column 3", True), ("col_2", True), ("7", True)],
    ids=repr,
)
def test_placeholder_headers_say_nothing(header: str, quiet: bool):
    assert silent(header) is quiet
    assert not silent("Date of birth")


# --- date formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected", "ambiguous"),
    [
        (["14.03.2021", "01.06.2021", "31.12.2020"], "%d.%m.%Y", False),
        (["26/08/2019", "20/07/2020"], "%d/%m/%Y", False),
        (["08/26/2019", "07/20/2020"], "%m/%d/%Y", False),
        (["2021-03-14", "2020-01-02"], "%Y-%m-%d", False),
        # no day above 12 anywhere: day-first assumed, and said
        (["01/02/2020", "03/04/2020"], "%d/%m/%Y", True),
        # one bad date (31 February) does not hide the format the others are written in
        (["14.03.2021", "31.02.2021", "15.03.2021"], "%d.%m.%Y", False),
        (["2021-03-14 10:22:00", "2021-03-15 08:00:00"], "%Y-%m-%d %H:%M:%S", False),
        ([date(2021, 3, 14), date(2021, 3, 15)], None, False),  # Excel date cells
        (["soon", "later"], None, False),
    ],
)
def test_date_formats(values: list[Any], expected: str | None, ambiguous: bool):
    fmt, note = date_format(values)
    assert fmt == expected
    assert (note is not None) is ambiguous


def test_a_header_matched_date_column_gets_its_format_and_iso_needs_none():
    rows = [["Customer Id", "Email", "First Name", "Signup Date"]]
    eu = run(csv_bytes([*rows, ["a1", "a@x.io", "A", "13/01/2024"]])).suggestions[0]
    iso = run(csv_bytes([*rows, ["a1", "a@x.io", "A", "2024-01-13"]])).suggestions[0]
    assert eu.mapping.formats["signed_up"].date == "%d/%m/%Y"
    assert iso.mapping.formats == {}
    assert eu.rows_valid == iso.rows_valid == 1


def test_yes_no_words_beyond_the_defaults():
    assert boolean_words(["Ja", "nein", "yes", "Ja"]) == (["Ja"], ["nein"])
    assert boolean_words(["true", "false"]) == ([], [])


# --- encodings and delimiters ----------------------------------------------------------------


def test_windows_1252_is_detected_and_named_in_the_mapping():
    rows = [["Customer Id", "Email", "First Name", "Last Name"]]
    rows += [[f"k{i}", f"p{i}@example.de", "Jürgen", "Strauß"] for i in range(5)]
    data = csv_bytes(rows, delimiter=";", encoding="cp1252")

    analysis = run(data)

    assert (analysis.encoding, analysis.bom, analysis.delimiter) == ("windows-1252", False, ";")
    top = analysis.suggestions[0]
    assert (top.mapping.encoding, top.mapping.delimiter) == ("windows-1252", ";")
    assert top.rows_valid == 5  # read with the detected encoding, the accents are valid text


def test_utf16_with_a_bom_needs_no_declaration():
    text = "external_id\temail\tfirst_name\r\nk1\tk1@example.com\tZoë\r\n"
    analysis = run(text.encode("utf-16"))
    assert (analysis.encoding, analysis.bom, analysis.delimiter) == ("utf-16", True, "\t")
    top = analysis.suggestions[0]
    assert top.mapping == Mapping(delimiter="\t")
    assert top.rows_valid == 1


def test_the_delimiter_is_the_one_that_splits_every_row_alike():
    # The header holds commas inside a quoted name, but every row splits on ";"
    rows = [["Customer Id", "Email", "First Name", "Notes, free text"]]
    rows += [[f"k{i}", f"p{i}@x.io", "A", "a, b, c"] for i in range(5)]
    assert run(csv_bytes(rows, delimiter=";")).delimiter == ";"


# --- bounds and estimates --------------------------------------------------------------------


def big_csv(rows: int) -> bytes:
    lines = ["external_id,email,first_name"]
    lines += [f"id-{i:07d},person{i:07d}@example.com,Person" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_large_file_is_sampled_from_its_start_and_its_rows_estimated():
    data = big_csv(200_000)  # about 8 MB
    assert len(data) > 4 * SAMPLE_BYTES

    analysis = run(data)

    assert analysis.rows_sampled == 1_000
    assert analysis.rows_estimated is not None
    assert abs(analysis.rows_estimated - 200_000) < 200
    assert analysis.suggestions[0].rows_valid == 1_000


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_large_utf16_file_is_cut_at_a_whole_line(codec: str):
    bom = b"\xff\xfe" if codec == "utf-16-le" else b"\xfe\xff"
    data = bom + big_csv(60_000).decode().replace("\n", "\r\n").encode(codec)
    assert len(data) > SAMPLE_BYTES

    analysis = run(data)

    assert (analysis.encoding, analysis.error) == ("utf-16", None)
    assert analysis.suggestions[0].rows_valid == analysis.rows_sampled == 1_000
    assert analysis.rows_estimated is not None
    assert abs(analysis.rows_estimated - 60_000) < 100


def test_a_gzipped_csv_is_read_and_estimated_from_its_compressed_size():
    data = gzip.compress(big_csv(200_000))

    analysis = run(data)

    assert analysis.format == media.CSV
    assert analysis.suggestions[0].missing == []
    assert analysis.rows_estimated is not None
    assert 150_000 < analysis.rows_estimated < 250_000


def test_a_sample_cut_inside_a_quoted_field_is_not_an_error():
    quoted = '"' + "x\n" * (SAMPLE_BYTES // 2) + '"'
    data = f"external_id,email,first_name,notes\nk1,a@x.io,A,{quoted}\nk2,b@x.io,B,n\n".encode()
    analysis = run(data)
    assert analysis.error is None
    assert analysis.header == ["external_id", "email", "first_name", "notes"]


# --- other formats ---------------------------------------------------------------------------


def test_json_lines_by_their_keys():
    records = [
        {"customer_id": f"c{i}", "E-Mail": f"c{i}@example.com", "Given Name": "Cy", "VIP": "yes"}
        for i in range(3)
    ]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()

    analysis = run(data, media.JSONL)

    assert analysis.format == media.JSONL
    assert analysis.header == ["customer_id", "E-Mail", "Given Name", "VIP"]
    top = analysis.suggestions[0]
    assert top.missing == []
    assert (top.rows_valid, analysis.rows_estimated) == (3, 3)


def test_a_json_array_with_typed_values():
    data = json.dumps(
        [{"id": 1, "email": "a@x.io", "first_name": "A", "": True}, {"id": 2, "email": "b@x.io"}]
    ).encode()
    analysis = run(data, media.JSON)
    top = analysis.suggestions[0]
    assert top.missing == []
    assert (top.rows_valid, top.rows_invalid) == (1, 1)  # the second has no first_name


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_with_its_data_on_a_later_sheet_names_that_sheet():
    data = workbook(
        {
            "Read me": [["Exported by", "CRM 7"], ["On", "2024-05-01"]],
            "Kunden": [["Customer Id", "Email", "First Name", "Signup Date"]]
            + [[f"k{i}", f"k{i}@example.com", "Kim", date(2024, 1, i + 1)] for i in range(9)],
        }
    )

    analysis = run(data, media.XLSX)

    assert analysis.sheets == ["Read me", "Kunden"]
    assert analysis.sheet == "Kunden"
    top = analysis.suggestions[0]
    assert top.mapping == Mapping(sheet="Kunden")  # date cells need no format
    assert (top.rows_valid, analysis.rows_estimated) == (9, 9)


def test_a_zip_is_read_through_its_first_member_of_rows():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "not rows")
        archive.writestr("a.csv", big_csv(10))
        archive.writestr("b.csv", big_csv(30))
    analysis = run(out.getvalue(), media.ZIP)
    assert analysis.member == "a.csv"
    assert analysis.suggestions[0].missing == []
    # both members, at a.csv's bytes per row (b.csv's header counted as a row)
    assert analysis.rows_estimated in (40, 41)


@pytest.mark.parametrize(
    ("data", "media_type", "code"),
    [
        (b"\x00\x01\x02 not a workbook", media.XLSX, "invalid_workbook"),
        (b'{"rows": []}', media.JSON, "missing_records"),
        (b"\n\n", media.CSV, "missing_header"),
        (gzip.compress(b"a,b\n")[:-6], media.CSV, "unreadable"),
    ],
    ids=["xlsx", "json", "csv", "gzip"],
)
def test_what_cannot_be_read_is_an_analysis_that_says_so(data: bytes, media_type: str, code: str):
    analysis = run(data, media_type)
    assert analysis.error is not None
    assert analysis.error.code == code
    assert analysis.suggestions == []


def test_a_very_wide_file_lists_its_first_columns_and_stays_small():
    wide = [f"Spalte mit einem sehr langen Namen Nummer {i} " + "\u00e9" * 200 for i in range(400)]
    rows = [["Customer Id", "Email", "First Name", *wide], ["k1", "a@x.io", "A", *"x" * 400]]

    analysis = run(csv_bytes(rows))

    assert analysis.columns_truncated
    assert len(analysis.header) == 20
    assert len(analysis.model_dump_json().encode()) < 64 * 1024
    top = analysis.suggestions[0]
    assert top.missing == [] and top.rows_valid == 1
    assert (len(top.columns.mapped), len(top.columns.unused)) == (3, 20)


# --- stored as JSON text ---------------------------------------------------------------------


def test_an_analysis_is_stored_as_json_text_and_read_back_whole():
    # Headers are any text: one spelled like a DynamoDB type tag (moto misreads a map with
    # such a key), and one with a byte that is not UTF-8
    rows = [b"Customer Id,S,First Name,bad\xff"]
    rows += [f"k{i}x,k{i}@x.io,A,v".encode() for i in range(5)]
    data = b"\r\n".join(rows) + b"\r\n"
    analysis = run(data)
    assert analysis.suggestions[0].mapping.columns == {"S": "email"}
    when = datetime(2024, 1, 1, tzinfo=UTC)
    record = FileRecord(
        tenant="acme",
        file_id="f" * 28,
        name="a.csv",
        media_type=media.CSV,
        size=len(data),
        status=FileStatus.UPLOADED,
        created_at=when,
        updated_at=when,
        object_key="k",
        analysis=analysis,
    )

    item = to_item(record)

    assert isinstance(item["analysis"], str)
    assert from_item(item).analysis == analysis

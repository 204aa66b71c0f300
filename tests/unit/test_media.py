"""Media types and extensions, from one module: names, Content-Types, archive members."""

from __future__ import annotations

import pytest

from intake.import_types import get_import_type
from intake.ingest import media


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("contacts.csv", media.CSV),
        ("dir/Contacts.CSV", media.CSV),
        ("contacts.csv.gz", media.CSV),
        ("a.json", media.JSON),
        ("a.json.GZ", media.JSON),
        ("a.jsonl", media.JSONL),
        ("a.ndjson.gz", media.JSONL),
        ("bundle.zip", media.ZIP),
        ("Export 2024.XLSX", media.XLSX),
        # A ZIP or a workbook is compressed already: gzip around one is nothing we read.
        ("bundle.zip.gz", None),
        ("export.xlsx.gz", None),
        ("old.xls", None),
        ("macro.xlsm", None),
        ("notes.txt", None),
        ("csv", None),
        ("archive.gz", None),
    ],
)
def test_media_type_for_name(name: str, media_type: str | None) -> None:
    assert media.media_type_for_name(name) == media_type


@pytest.mark.parametrize(
    ("content_type", "media_type"),
    [
        ("text/csv", media.CSV),
        ("Text/CSV; charset=utf-8", media.CSV),
        ("application/x-zip-compressed", media.ZIP),
        ("application/x-zip", media.ZIP),
        (media.XLSX, media.XLSX),
        # The .xls type (and what Windows browsers send for .csv files): says nothing reliable.
        ("application/vnd.ms-excel", None),
        ("application/octet-stream", None),
        ("binary/octet-stream", None),
        ("", None),
        (None, None),
    ],
)
def test_media_type_for_content_type(content_type: str | None, media_type: str | None) -> None:
    assert media.media_type_for_content_type(content_type) == media_type


@pytest.mark.parametrize(
    ("name", "content_type", "media_type"),
    [
        # The name wins: tools label the same file differently.
        ("contacts.xlsx", "application/vnd.ms-excel", media.XLSX),
        ("contacts.csv", "application/vnd.ms-excel", media.CSV),
        ("contacts.xlsx", "application/zip", media.XLSX),
        # No extension we know: the stored Content-Type decides.
        ("contacts", media.XLSX, media.XLSX),
        ("contacts.dat", "application/x-zip-compressed", media.ZIP),
        ("contacts", "application/vnd.ms-excel", None),
    ],
)
def test_dropped_object_media_type(name: str, content_type: str, media_type: str | None) -> None:
    assert media.media_type_of(name, content_type) == media_type


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("a.csv", media.CSV),
        ("dir/B.NDJSON", media.JSONL),
        # A workbook or a gzip inside a ZIP is a nested archive: no member type.
        ("a.xlsx", None),
        ("a.csv.gz", None),
        ("a.zip", None),
    ],
)
def test_archive_members_are_text_row_files(name: str, media_type: str | None) -> None:
    assert media.member_media_type(name) == media_type


def test_member_extensions_name_what_members_may_be() -> None:
    assert media.member_extensions() == [".csv", ".tsv", ".json", ".jsonl", ".ndjson"]


def test_contacts_take_workbooks_and_drops_named_xlsx_map_to_them() -> None:
    contacts = get_import_type("contacts")
    assert media.XLSX in contacts.media_types
    assert media.media_type_for_name("drop/acme/contacts/export.xlsx") in contacts.media_types


def test_no_layer_module_but_media_spells_a_data_media_type() -> None:
    """One fact, one place: readers, sniffing, uploads and types name media types through
    intake.ingest.media (HTTP's own application/json in the API layer is not a file type)."""
    from pathlib import Path

    import intake

    spelled = tuple(
        f'"{t}"' for t in ("text/csv", "application/x-ndjson", "application/zip", media.XLSX)
    )
    root = Path(intake.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "media.py" and any(s in path.read_text() for s in spelled)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("declared", "media_type"),
    [
        ("Text/CSV; charset=utf-8", media.CSV),
        # What Windows browsers send for a ZIP is a ZIP.
        ("application/x-zip-compressed", media.ZIP),
        ("Application/X-Zip", media.ZIP),
        ("application/gzip", "application/gzip"),
    ],
)
def test_a_declared_media_type_is_normalised_to_ours(declared: str, media_type: str) -> None:
    assert media.normalise(declared) == media_type


def test_a_refused_gzip_type_says_to_declare_the_contents_type() -> None:
    accepted = [media.JSON, media.ZIP]
    assert media.not_taken("application/pdf", accepted) == f"accepted: {media.JSON}, {media.ZIP}"
    named = media.not_taken("application/x-gzip", accepted, "export.csv.gz")
    assert "declare the media type of the content (here text/csv)" in named
    unnamed = media.not_taken("application/gzip", accepted, "export.gz")
    assert "declare the media type of the content (e.g. application/json)" in unnamed

"""The client's media type for a file to send: what Intake takes for that file."""

from __future__ import annotations

import pytest

from intake_client import media_type_for


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("people.csv", "text/csv"),
        ("dir/People.TSV", "text/csv"),
        # Excel's tab-delimited and "Unicode Text" exports
        ("Contacts.txt", "text/csv"),
        ("contacts.txt.gz", "text/csv"),
        ("export.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        # A gzipped text file is declared as what it holds: Intake finds gzip by its bytes.
        ("people.csv.gz", "text/csv"),
        ("people.tsv.gz", "text/csv"),
        ("election.json.gz", "application/json"),
        ("rows.jsonl.gz", "application/x-ndjson"),
        ("rows.NDJSON.GZ", "application/x-ndjson"),
        # A gzip of anything else is nothing Intake reads.
        ("bundle.zip.gz", "application/octet-stream"),
        ("archive.gz", "application/octet-stream"),
    ],
)
def test_media_type_for_a_file_to_send(path: str, media_type: str) -> None:
    assert media_type_for(path) == media_type

"""ZIPs of record files (contacts) through the real flow, and the seekable S3 reader under it."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from intake.dal import object_store
from tests.integration.conftest import declare_and_upload, zip_of
from tests.integration.test_worker import records

A_CSV = b"external_id,email,first_name\na-1,ann@example.com,Ann\na-2,bob@example.com,Bob\n"
B_CSV = (
    b"external_id;email;first_name;country\n"
    b"b-1;cy@example.com;Cy;FR\n"
    b"b-2;not-an-email;Di;FR\n"
    b"b-3;ed@example.com;Ed;DE\n"
)
C_JSONL = json.dumps({"external_id": "c-1", "email": "c@example.com", "first_name": "C"}).encode()
D_JSON = json.dumps([{"external_id": "d-1", "email": "d@example.com", "first_name": "D"}]).encode()


def upload_zip(api, body: bytes, **extra: Any) -> str:
    return declare_and_upload(
        api, body, name="contacts.zip", media_type="application/zip", auto_import=True, **extra
    )


def test_a_zip_of_two_csv_files_is_imported(api, drain, aws):
    valid_b = B_CSV.replace(b"not-an-email", b"di@example.com")
    file_id = upload_zip(api, zip_of({"june/a.csv": A_CSV, "june/b.csv": valid_b}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert {k: v for k, v in view["result"].items() if k != "columns"} == {
        "rows_total": 5,
        "rows_valid": 5,
        "rows_invalid": 0,
        "rows_written": 5,
        "errors_truncated": False,
        "warnings": 0,
    }
    assert {r["sk"] for r in records(aws)} == {"a-1", "a-2", "b-1", "b-2", "b-3"}


def test_errors_carry_the_member_name_and_skip_writes_the_valid_rows(api, drain, aws):
    file_id = upload_zip(api, zip_of({"a.csv": A_CSV, "b.csv": B_CSV}), on_invalid="skip")
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert [(e["file"], e["line"], e["field"], e["code"]) for e in view["errors"]] == [
        ("b.csv", 3, "email", "invalid_email")
    ]
    assert view["result"]["rows_written"] == 4
    assert {r["sk"] for r in records(aws)} == {"a-1", "a-2", "b-1", "b-3"}


def test_fail_validates_every_member_before_writing_anything(api, drain, aws):
    file_id = upload_zip(api, zip_of({"a.csv": A_CSV, "b.csv": B_CSV, "notes.txt": b"hi"}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert [(e["file"], e["line"], e["code"]) for e in view["errors"]] == [
        ("b.csv", 3, "invalid_email"),
        ("notes.txt", None, "unsupported_member"),
    ]
    assert view["result"]["rows_written"] == 0
    assert records(aws) == []


def test_a_clean_export_with_a_readme_fails_saying_so(api, drain, aws):
    # No row is invalid: the reason names the member that is not a file of rows, rather
    # than "0 of 2 rows are invalid".
    file_id = upload_zip(api, zip_of({"a.csv": A_CSV, "README.txt": b"exported by CRM 9"}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert view["result"]["rows_invalid"] == 0
    assert view["reason"] == "README.txt: members must be .csv, .tsv, .json, .jsonl, .ndjson files"
    assert records(aws) == []


def test_check_only_on_a_zip(api, drain, aws):
    file_id = upload_zip(api, zip_of({"a.csv": A_CSV}), check_only=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_total"] == 2
    assert records(aws) == []


def test_members_are_read_by_their_extension(api, drain, aws):
    body = zip_of({"a.csv": A_CSV, "c.ndjson": C_JSONL, "d.json": D_JSON, "e.jsonl": b""})
    file_id = upload_zip(api, body)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert {r["sk"] for r in records(aws)} == {"a-1", "a-2", "c-1", "d-1"}


def test_a_member_that_cannot_be_read_names_itself(api, drain, aws):
    body = zip_of({"a.csv": A_CSV, "b.csv": b"external_id,first_name\nx,y\n"})
    file_id = upload_zip(api, body)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert [(e["file"], e["line"], e["field"], e["code"]) for e in view["errors"]] == [
        ("b.csv", 1, "email", "missing_column")
    ]
    assert records(aws) == []


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
@pytest.mark.parametrize(
    ("members", "code", "member"),
    [
        # found in the central directory
        (
            {"a.csv": A_CSV, "zeros.csv": b"\0" * (10 * 1024 * 1024)},
            "compression_ratio_exceeded",
            "zeros.csv",
        ),
        ({"a.csv": A_CSV, "more.csv.gz": gzip.compress(A_CSV)}, "nested_archive", "more.csv.gz"),
        ({"a.csv": A_CSV, "/abs.csv": A_CSV}, "unsafe_member_name", "/abs.csv"),
        # found only while inflating, after a.csv's rows were read
        ({"a.csv": A_CSV, "b.csv": gzip.compress(A_CSV)}, "nested_archive", "b.csv"),
    ],
)
def test_an_archive_breach_fails_the_run_and_writes_nothing(
    api, drain, aws, members, code, member, on_invalid
):
    file_id = upload_zip(api, zip_of(members), on_invalid=on_invalid)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert [(e["file"], e["code"]) for e in view["errors"]] == [(member, code)]
    assert view["reason"] == view["errors"][0]["message"]
    assert records(aws) == []


def test_an_empty_archive_fails(api, drain, aws):
    file_id = upload_zip(api, zip_of({}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert [e["code"] for e in view["errors"]] == ["empty_archive"]


# --- the seekable reader --------------------------------------------------------------------


def put(aws, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=aws.names.bucket, Key=key, Body=body)


def test_range_reader_seeks_and_reads_like_a_file(aws):
    body = bytes(range(256)) * 1000
    put(aws, "t/blob", body)
    with object_store.open_seekable("t/blob", buffer_size=4096) as stream:
        assert stream.seekable()
        assert stream.read(10) == body[:10]
        assert stream.seek(-5, io.SEEK_END) == len(body) - 5
        assert stream.read() == body[-5:]
        assert stream.read(1) == b""
        stream.seek(100_000)
        assert stream.tell() == 100_000
        assert stream.read(5000) == body[100_000:105_000]
        stream.seek(10, io.SEEK_CUR)
        assert stream.read(3) == body[105_010:105_013]


def test_range_reader_reads_a_zip_in_bounded_requests(aws):
    members = {f"m{i}.csv": A_CSV * 50 for i in range(200)}
    put(aws, "t/archive.zip", zip_of(members))
    with object_store.open_seekable("t/archive.zip", buffer_size=64 * 1024) as stream:
        with zipfile.ZipFile(stream) as archive:
            assert all(archive.read(name) == data for name, data in members.items())
        raw = stream.raw
        size = raw.size  # type: ignore[attr-defined]
        # a few GETs per buffer's worth, never one per member or the whole object at once
        assert raw.requests <= size // (64 * 1024) + 4  # type: ignore[attr-defined]


def test_range_reader_refuses_an_object_replaced_while_reading(aws):
    put(aws, "t/blob", b"a" * 10_000)
    with object_store.open_seekable("t/blob", buffer_size=1024) as stream:
        assert stream.read(10) == b"a" * 10
        put(aws, "t/blob", b"b" * 10_000)
        with pytest.raises(ClientError) as caught:
            stream.read(5000)
    assert caught.value.response["Error"]["Code"] in ("PreconditionFailed", "412")

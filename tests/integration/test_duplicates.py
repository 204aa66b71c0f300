"""duplicate_of: a file whose bytes (SHA-256), tenant and import type match an earlier
SUCCEEDED file says so, on GET /files/{file_id} and in listings, and is imported all the same."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from intake_local.resources import Resources
from tests.integration.conftest import Drain, Invoke, declare_and_upload, zip_of

CSV = (
    b"external_id,email,first_name,country\n"
    b"c-1,ada@example.com,Ada,GB\n"
    b"c-2,alan@example.com,Alan,GB\n"
)
BAD_CSV = b"external_id,email,first_name,country\nc-1,not-an-email,Ada,GB\n"


def view(api: Invoke, file_id: str, tenant: str = "acme") -> dict[str, Any]:
    status, body = api("GET", f"/files/{file_id}", tenant=tenant)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def imported(api: Invoke, drain: Drain, data: bytes, **extra: Any) -> str:
    """Declare, upload and import (auto_import); the file must end SUCCEEDED."""
    file_id = declare_and_upload(api, data, auto_import=True, **extra)
    drain()
    assert view(api, file_id, extra.get("tenant", "acme"))["status"] == "SUCCEEDED"
    return file_id


def test_the_same_bytes_after_a_success_are_flagged_and_still_imported(
    api: Invoke, drain: Drain
) -> None:
    # The first declares its SHA-256 (S3's checksum path), the second does not (hashed stream).
    first = imported(api, drain, CSV, sha256=hashlib.sha256(CSV).hexdigest())
    assert view(api, first).get("duplicate_of") is None
    second = declare_and_upload(api, CSV, name="again.csv", auto_import=True)
    drain()
    again = view(api, second)
    assert again["duplicate_of"] == first
    assert again["status"] == "SUCCEEDED"  # flagged, not refused: the rows are upserts
    assert again["result"]["rows_written"] == 2
    listed = {item["file_id"]: item for item in api("GET", "/files")[1]["items"]}
    assert listed.keys() == {first, second}
    assert listed[second]["duplicate_of"] == first
    assert listed[first].get("duplicate_of") is None


def test_a_third_copy_points_at_the_first_success(api: Invoke, drain: Drain) -> None:
    first = imported(api, drain, CSV)
    imported(api, drain, CSV, name="second.csv")
    third = declare_and_upload(api, CSV, name="third.csv")
    drain()
    assert view(api, third)["duplicate_of"] == first


def test_other_bytes_are_no_duplicate(api: Invoke, drain: Drain) -> None:
    imported(api, drain, CSV)
    other = declare_and_upload(api, CSV + b"c-3,grace@example.com,Grace,US\n")
    drain()
    assert view(api, other).get("duplicate_of") is None


def test_a_file_only_validated_is_no_original(api: Invoke, drain: Drain) -> None:
    first = declare_and_upload(api, CSV, auto_import=True, check_only=True)
    drain()
    assert view(api, first)["status"] == "VALIDATED"
    second = declare_and_upload(api, CSV, name="again.csv")
    drain()
    assert view(api, second).get("duplicate_of") is None


def test_a_failed_file_is_no_original(api: Invoke, drain: Drain) -> None:
    first = declare_and_upload(api, BAD_CSV, auto_import=True)
    drain()
    assert view(api, first)["status"] == "FAILED"
    second = declare_and_upload(api, BAD_CSV, name="again.csv")
    drain()
    assert view(api, second).get("duplicate_of") is None


def test_another_tenants_success_is_no_original(api: Invoke, drain: Drain) -> None:
    imported(api, drain, CSV)
    theirs_id = declare_and_upload(api, CSV, tenant="globex")
    drain()
    theirs = view(api, theirs_id, tenant="globex")
    assert theirs["status"] == "UPLOADED"
    assert theirs.get("duplicate_of") is None


def test_another_import_types_success_is_no_original(api: Invoke, drain: Drain) -> None:
    archive = zip_of({"people.csv": CSV})
    imported(api, drain, archive, name="people.zip", media_type="application/zip")
    as_event = declare_and_upload(
        api, archive, name="event.zip", media_type="application/zip", import_type="event"
    )
    drain()
    assert view(api, as_event)["status"] == "UPLOADED"
    assert view(api, as_event).get("duplicate_of") is None
    # ...while the same archive as contacts again is one.
    as_contacts = declare_and_upload(api, archive, name="again.zip", media_type="application/zip")
    drain()
    assert view(api, as_contacts)["duplicate_of"]


def test_the_digest_entry_stays_out_of_listings(api: Invoke, drain: Drain, aws: Resources) -> None:
    first = imported(api, drain, CSV)
    table = boto3.resource("dynamodb").Table(aws.names.status_table)
    entries = table.query(
        KeyConditionExpression=Key("pk").eq("TENANT#acme") & Key("sk").begins_with("DIGEST#")
    )["Items"]
    assert [e["file_id"] for e in entries] == [first]
    for query in ({}, {"status": "SUCCEEDED"}, {"import_type": "contacts"}, {"limit": "1"}):
        status, listing = api("GET", "/files", query=query)
        assert status == 200, listing
        assert [item["file_id"] for item in listing["items"]] == [first]
        if listing["next_cursor"]:  # a full page may end with a cursor: the rest is empty
            status, rest = api("GET", "/files", query={**query, "cursor": listing["next_cursor"]})
            assert (status, rest["items"], rest["next_cursor"]) == (200, [], None)


def test_a_drop_with_an_s3_checksum_is_flagged(api: Invoke, drain: Drain) -> None:
    first = imported(api, drain, CSV)
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket="intake-local-uploads",
        Key="drop/acme/contacts/people.csv",
        Body=CSV,
        ChecksumAlgorithm="SHA256",
    )
    s3.put_object(Bucket="intake-local-uploads", Key="drop/acme/contacts/plain.csv", Body=CSV)
    drain()
    drops = {
        item["name"]: item for item in api("GET", "/files")[1]["items"] if item["origin"] == "drop"
    }
    assert drops["people.csv"]["duplicate_of"] == first
    assert drops["people.csv"]["status"] == "SUCCEEDED"
    # Without S3's checksum a drop is not hashed before its import (docs/decisions.md).
    assert drops["plain.csv"].get("duplicate_of") is None

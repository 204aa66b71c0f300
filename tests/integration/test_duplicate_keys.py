"""A natural key repeated within one file is an error on each later row, naming the line where
the key first appeared; the first row is the one that stays. (Before, the last row silently
won: the sink upserts by key.)"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.integration.conftest import declare_and_upload
from tests.integration.test_zip_records import upload_zip, zip_of

CSV = (
    b"Customer Id,Email,First Name\r\n"
    b"c-1,ada@example.com,Ada\r\n"  # 2
    b"c-2,alan@example.com,Alan\r\n"  # 3
    b"c-1,ada.later@example.com,Ada Later\r\n"  # 4: c-1 again
    b"c-3,grace@example.com,Grace\r\n"  # 5
    b"c-1,ada.last@example.com,Ada Last\r\n"  # 6: c-1 a third time
    b"c-2,not-an-email,Alan\r\n"  # 7: invalid, so not a duplicate
)


def stored(aws: Any) -> dict[str, str]:
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    items = table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "acme#contacts"}
    )["Items"]
    return {item["sk"]: item["email"] for item in items}


def run(api: Any, drain: Any, **declared: Any) -> dict[str, Any]:
    file_id = declare_and_upload(api, CSV, auto_import=True, **declared)
    drain()
    return api("GET", f"/files/{file_id}")[1]


def duplicate_errors(view: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [
        (e["line"], e["field"], e["message"])
        for e in view["errors"]
        if e["code"] == "duplicate_key"
    ]


EXPECTED = [
    (4, "external_id", "external_id repeats the value first seen on line 2"),
    (6, "external_id", "external_id repeats the value first seen on line 2"),
]


def test_skip_keeps_the_first_row_of_each_key_and_reports_the_later_ones(api, drain, aws):
    view = run(api, drain, on_invalid="skip")

    assert view["status"] == "SUCCEEDED"
    assert duplicate_errors(view) == EXPECTED
    assert {e["column"] for e in view["errors"] if e["code"] == "duplicate_key"} == {1}
    result = view["result"]
    assert (result["rows_total"], result["rows_valid"], result["rows_invalid"]) == (6, 3, 3)
    assert result["rows_written"] == 3
    assert stored(aws) == {
        "c-1": "ada@example.com",  # the first row, not the last
        "c-2": "alan@example.com",
        "c-3": "grace@example.com",
    }


def test_fail_writes_nothing_when_a_key_repeats(api, drain, aws):
    view = run(api, drain)

    assert view["status"] == "FAILED"
    assert duplicate_errors(view) == EXPECTED
    assert stored(aws) == {}


def test_check_only_reports_repeated_keys(api, drain):
    view = run(api, drain, check_only=True)

    assert view["status"] == "FAILED"
    assert duplicate_errors(view) == EXPECTED
    assert view["result"]["rows_invalid"] == 3


def test_a_key_repeated_across_members_of_a_zip_names_the_member(api, drain, aws):
    first = b"external_id,email,first_name\nz-1,a@example.com,A\nz-2,b@example.com,B\n"
    second = b"external_id,email,first_name\nz-3,c@example.com,C\nz-1,d@example.com,D\n"
    file_id = upload_zip(api, zip_of({"a.csv": first, "b.csv": second}), on_invalid="skip")
    drain()
    view = api("GET", f"/files/{file_id}")[1]

    assert view["status"] == "SUCCEEDED"
    assert [(e["file"], e["line"], e["message"]) for e in view["errors"]] == [
        ("b.csv", 3, "external_id repeats the value first seen on line 2 of a.csv")
    ]
    assert stored(aws) == {"z-1": "a@example.com", "z-2": "b@example.com", "z-3": "c@example.com"}


@pytest.mark.parametrize("media_type", ["application/x-ndjson"])
def test_json_records_are_checked_too(api, drain, aws, media_type):
    body = (
        b'{"external_id": "j-1", "email": "a@example.com", "first_name": "A"}\n'
        b'{"external_id": "j-1", "email": "b@example.com", "first_name": "B"}\n'
    )
    file_id = declare_and_upload(
        api, body, name="c.jsonl", media_type=media_type, auto_import=True, on_invalid="skip"
    )
    drain()
    view = api("GET", f"/files/{file_id}")[1]

    assert [(e["line"], e["code"]) for e in view["errors"]] == [(2, "duplicate_key")]
    assert stored(aws) == {"j-1": "a@example.com"}

"""The whole flow in process: API handlers -> S3 -> SQS -> worker -> status and records."""

from __future__ import annotations

import boto3

from tests.integration.conftest import declare_and_upload

CSV = (
    b"external_id,email,first_name,last_name,country,signed_up\n"
    b"c-1,ada@example.com,Ada,Lovelace,GB,2024-01-05\n"
    b"c-2,alan@example.com,Alan,Turing,GB,\n"
    b"c-3,grace@example.com,Grace,,US,2023-12-09\n"
)

BAD_CSV = (
    b"external_id,email,first_name,country\n"
    b"c-1,ada@example.com,Ada,GB\n"
    b"c-2,not-an-email,Alan,GB\n"
    b'c-3,grace@example.com,"",Atlantis\n'
)


def test_upload_validate_import(api, drain, aws):
    file_id = declare_and_upload(api, CSV)
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "UPLOADED"

    assert api("POST", f"/files/{file_id}/import", body={"check_only": True})[0] == 202
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_total"] == 3 and view["result"]["rows_written"] == 0

    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert {k: v for k, v in view["result"].items() if k != "columns"} == {
        "rows_total": 3,
        "rows_valid": 3,
        "rows_invalid": 0,
        "rows_written": 3,
        "errors_truncated": False,
        "warnings": 0,
    }
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    items = table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "acme#contacts"}
    )["Items"]
    assert {i["sk"] for i in items} == {"c-1", "c-2", "c-3"}
    ada = next(i for i in items if i["sk"] == "c-1")
    assert ada["signed_up"] == "2024-01-05" and ada["file_id"] == file_id


def test_bad_rows_fail_with_located_errors(api, drain, aws):
    file_id = declare_and_upload(api, BAD_CSV, auto_import=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert view["result"]["rows_written"] == 0
    located = {(e["line"], e["field"], e["code"]) for e in view["errors"]}
    assert located == {
        (3, "email", "invalid_email"),
        (4, "first_name", "required"),
        (4, "country", "invalid_country"),
    }
    assert view["error_report_url"]

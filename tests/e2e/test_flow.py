"""The flow of the README end to end: declare, upload straight to S3, validate, import; bad
rows; mismatched bytes; auto_import; the drop path; the project's client and CLI."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from intake_client import IntakeApiError, IntakeClient
from intake_client.cli import main as intake_cli
from tests.e2e.support import Api, Stack, contacts_csv, eventually

BAD_CSV = (
    b"external_id,email,first_name,last_name,country,signed_up\n"
    b"b-1,ok@example.com,Okay,Row,FR,2024-01-01\n"
    b"b-2,not-an-email,Bad,Email,FR,2024-01-01\n"
    b"b-3,third@example.com,,Missing,DE,2024-01-01\n"
    b"b-4,fourth@example.com,Wrong,Country,Atlantis,2024-01-01\n"
)


def test_declare_upload_validate_import(api: Api) -> None:
    data = contacts_csv(25)
    # Given a declared file with its SHA-256, uploaded with exactly the returned block
    declared = api.declare(data, sha256=hashlib.sha256(data).hexdigest())
    file_id = declared["file_id"]
    api.upload(declared, data)
    api.wait(file_id, "UPLOADED")

    # When it is validated
    accepted = api.call("POST", f"/files/{file_id}/import", json={"check_only": True})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "QUEUED"
    assert accepted.json()["check_only"] is True
    validated = api.wait(file_id, "VALIDATED")
    # Then every row is counted and nothing is written
    assert validated["result"]["rows_total"] == 25
    assert validated["result"]["rows_valid"] == 25
    assert validated["result"]["rows_written"] == 0

    # When it is imported for real (no new upload)
    accepted = api.call("POST", f"/files/{file_id}/import", json={"check_only": False})
    assert accepted.status_code == 202, accepted.text
    done = api.wait(file_id, "SUCCEEDED")
    # Then every row is written
    assert done["result"]["rows_written"] == done["result"]["rows_total"] == 25
    assert done["errors"] == []


def test_bad_rows_fail_with_located_errors(api: Api) -> None:
    file_id = api.uploaded(BAD_CSV, name="bad.csv")
    assert api.call("POST", f"/files/{file_id}/import", json={}).status_code == 202
    failed = api.wait(file_id, "FAILED")
    errors = failed["errors"]
    located = {(e["line"], e["field"], e["code"]) for e in errors}
    assert (3, "email", "invalid_email") in located
    assert (4, "first_name", "required") in located
    assert (5, "country", "invalid_country") in located
    assert all(e["message"] for e in errors)
    assert failed["result"]["rows_invalid"] == 3
    assert failed["result"]["rows_written"] == 0
    # The full error report is downloadable.
    assert failed["error_report_url"]
    report = requests.get(failed["error_report_url"], timeout=10)
    assert report.status_code == 200
    assert b"invalid_email" in report.content


def test_skip_invalid_rows_writes_the_valid_ones(api: Api) -> None:
    file_id = api.uploaded(BAD_CSV, name="skip.csv")
    response = api.call("POST", f"/files/{file_id}/import", json={"on_invalid": "skip"})
    assert response.status_code == 202, response.text
    done = api.wait(file_id, "SUCCEEDED")
    assert done["result"]["rows_written"] == 1
    assert done["result"]["rows_invalid"] == 3


def test_bytes_that_do_not_match_the_declaration_are_rejected(api: Api) -> None:
    data = contacts_csv(3)
    declared = api.declare(data + b"c-extra,x@example.com,X,,,\n")  # declares more bytes
    api.upload(
        declared | {"upload": declared["upload"] | {"headers": {"Content-Type": "text/csv"}}}, data
    )
    rejected = api.wait(declared["file_id"], "REJECTED")
    assert rejected["reason"]


def test_auto_import_goes_straight_on(api: Api) -> None:
    data = contacts_csv(4, prefix="auto")
    declared = api.declare(data, auto_import=True)
    api.upload(declared, data)
    done = api.wait(declared["file_id"], "SUCCEEDED")
    assert done["result"]["rows_written"] == 4


def test_a_dropped_file_is_registered_and_imported_without_api_calls(
    api: Api, stack: Stack
) -> None:
    tenant = f"drop{int(time.time() * 1000)}"
    name = "partner feed #1.csv"  # a key S3 URL-encodes in the notification
    stack.client("s3").put_object(
        Bucket=stack.bucket,
        Key=f"drop/{tenant}/contacts/{name}",
        Body=contacts_csv(6, prefix="drop"),
        ContentType="text/csv",
    )

    def dropped() -> dict | None:
        items = api.call("GET", "/files", tenant=tenant).json()["items"]
        return next((f for f in items if f["name"].endswith(name)), None)

    found = eventually(dropped)
    done = api.wait(found["file_id"], "SUCCEEDED", tenant=tenant)
    assert done["result"]["rows_written"] == 6
    assert done.get("origin") == "drop"
    # Nobody else sees it.
    assert api.call("GET", f"/files/{found['file_id']}", tenant="acme").status_code == 404


def test_jsonl_contacts_import(api: Api) -> None:
    rows = [
        {"external_id": f"j-{i}", "email": f"j{i}@example.com", "first_name": f"J{i}"}
        for i in range(5)
    ]
    data = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    file_id = api.uploaded(data, name="c.jsonl", media_type="application/x-ndjson")
    api.call("POST", f"/files/{file_id}/import", json={})
    assert api.wait(file_id, "SUCCEEDED")["result"]["rows_written"] == 5


# --- the project's client ---------------------------------------------------------------


def test_the_python_client_runs_the_flow(stack: Stack, tmp_path: Path) -> None:
    client = IntakeClient(stack.api_url, stack.token("clientco"))
    assert "contacts" in {t["name"] for t in client.list_import_types()}
    path = tmp_path / "contacts.csv"
    path.write_bytes(contacts_csv(7))

    declared = client.declare_path(path, import_type="contacts", tags=["e2e"])
    assert declared["status"] == "PENDING_UPLOAD"
    with pytest.raises(IntakeApiError) as early:
        client.request_import(declared["file_id"])
    assert early.value.status == 409

    client.upload(declared, path=path)
    assert client.wait_for(declared["file_id"], {"UPLOADED"}, timeout=20)["status"] == "UPLOADED"
    client.request_import(declared["file_id"], check_only=True)
    assert client.wait_for(declared["file_id"], {"VALIDATED"}, timeout=20)["status"] == "VALIDATED"
    client.request_import(declared["file_id"])
    done = client.wait_for(declared["file_id"], {"SUCCEEDED"}, timeout=20)
    assert done["result"]["rows_written"] == 7
    assert declared["file_id"] in {f["file_id"] for f in client.iter_files(page_size=1)}

    with pytest.raises(IntakeApiError) as missing:
        client.get_file("0" * 28)
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(IntakeApiError) as unauthorized:
        IntakeClient(stack.api_url, "not-a-token").list_files()
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")


def test_the_intake_cli_sends_a_file(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.csv"
    path.write_bytes(contacts_csv(3, prefix="cli"))
    common = ["--api-url", stack.api_url, "--token", stack.token("clico")]
    code = intake_cli(
        [*common, "send", str(path), "--type", "contacts", "--wait", "--timeout", "20"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    file = json.loads(out)
    assert file["status"] == "SUCCEEDED"
    assert file["result"]["rows_written"] == 3

    assert intake_cli([*common, "list", "--status", "SUCCEEDED"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert file["file_id"] in {f["file_id"] for f in listed["items"]}
    assert intake_cli([*common, "status", "0" * 28]) == 1
    assert "404 not_found" in capsys.readouterr().err
    assert intake_cli([*common, "status", "nope"]) == 1  # not an id this API makes
    assert "422 validation_error" in capsys.readouterr().err

"""The HTTP contract (docs/http-contract.md) through the real handlers: codes, envelopes,
tenancy."""

from __future__ import annotations

import pytest

from tests.integration.conftest import declare_and_upload, zip_of
from tests.integration.test_flow import CSV
from tests.unit.test_event_bundle import GOOD

DECLARE = {"name": "people.csv", "media_type": "text/csv", "size": 100, "import_type": "contacts"}


def assert_envelope(body, code):
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)


def test_declare_returns_a_signed_upload_block(api):
    status, body = api("POST", "/files", body={**DECLARE, "sha256": "ab" * 32})
    assert status == 201
    assert body["status"] == "PENDING_UPLOAD"
    upload = body["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"]["Content-Type"] == "text/csv"
    assert upload["headers"]["Content-Length"] == "100"
    assert "x-amz-checksum-sha256" in upload["headers"]
    signed = upload["url"].split("X-Amz-SignedHeaders=")[1].split("&")[0]
    assert signed.split("%3B") == [
        "content-length",
        "content-type",
        "host",
        "x-amz-checksum-sha256",
    ]
    assert "X-Amz-Expires=900" in upload["url"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"size": 11 * 1024**3}, 413, "too_large"),
        ({"media_type": "application/pdf"}, 415, "unsupported_media_type"),
        ({"size": 0}, 422, "validation_error"),
        ({"import_type": "planets"}, 422, "validation_error"),
        ({"sha256": "xyz"}, 422, "validation_error"),
        ({"surprise": True}, 422, "validation_error"),
        ({"name": "../etc/passwd"}, 422, "validation_error"),
    ],
)
def test_declare_rejects_bad_declarations(api, change, status, code):
    got, body = api("POST", "/files", body={**DECLARE, **change})
    assert got == status, body
    assert_envelope(body, code)


def test_validation_details_name_the_field(api):
    _, body = api("POST", "/files", body={**DECLARE, "size": -1})
    assert [d["field"] for d in body["error"]["details"]] == ["size"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', ""])
def test_malformed_body_is_400(api, raw):
    status, body = api("POST", "/files", raw_body=raw)
    assert status == 400, body
    assert_envelope(body, "malformed_body")


def test_media_type_parameters_are_ignored(api):
    status, body = api("POST", "/files", body={**DECLARE, "media_type": "Text/CSV; charset=utf-8"})
    assert status == 201
    assert body["upload"]["headers"]["Content-Type"] == "text/csv"


def test_a_zip_declared_as_windows_browsers_label_it_is_a_zip(api, drain):
    # Given an Open Event export declared as Windows browsers send a ZIP
    status, body = api(
        "POST",
        "/files",
        body={
            "name": "pycon.zip",
            "media_type": "application/x-zip-compressed",
            "size": 100,
            "import_type": "event",
        },
    )
    # Then it is declared as a ZIP, and uploaded and imported like one
    assert status == 201, body
    assert body["upload"]["headers"]["Content-Type"] == "application/zip"
    file_id = declare_and_upload(
        api,
        zip_of(GOOD),
        name="pycon.zip",
        media_type="application/x-zip-compressed",
        import_type="event",
        auto_import=True,
    )
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert (view["status"], view["media_type"]) == ("SUCCEEDED", "application/zip"), view


@pytest.mark.parametrize("gzip_type", ["application/gzip", "application/x-gzip"])
@pytest.mark.parametrize(
    ("name", "import_type", "content_type"),
    [
        ("election.json.gz", "election_event", "application/json"),
        ("people.csv.gz", "contacts", "text/csv"),
        ("people.csv.gz", None, "text/csv"),
    ],
)
def test_a_gzip_media_type_is_415_saying_to_declare_the_contents_type(
    api, gzip_type, name, import_type, content_type
):
    declaration = {"name": name, "media_type": gzip_type, "size": 100}
    if import_type:
        declaration["import_type"] = import_type
    status, body = api("POST", "/files", body=declaration)
    assert status == 415, body
    assert_envelope(body, "unsupported_media_type")
    (detail,) = body["error"]["details"]
    # The answer says what to declare instead: the content's type; gzip is found by its bytes
    assert f"declare the media type of the content (here {content_type})" in detail["message"]
    assert "gzip" in detail["message"]


def test_another_tenants_file_is_404(api):
    _, created = api("POST", "/files", body=DECLARE)
    status, body = api("GET", f"/files/{created['file_id']}", tenant="globex")
    assert status == 404
    assert_envelope(body, "not_found")
    status, _ = api("POST", f"/files/{created['file_id']}/import", body={}, tenant="globex")
    assert status == 404


def test_unknown_file_is_404(api):
    status, body = api("GET", "/files/" + "0" * 28)
    assert status == 404
    assert_envelope(body, "not_found")


@pytest.mark.parametrize("file_id", ["doesnotexist", "0" * 27, "A" * 28, "0" * 29])
def test_a_file_id_this_api_never_makes_is_422(api, file_id):
    requests: list[tuple[str, str, dict | None]] = [
        ("GET", f"/files/{file_id}", None),
        ("POST", f"/files/{file_id}/import", {}),
    ]
    for method, path, body in requests:
        status, answer = api(method, path, body=body)
        assert status == 422, answer
        assert answer["error"]["details"][0]["field"] == "file_id"


def test_token_without_tenant_claim_is_403(api):
    status, body = api("GET", "/files", tenant=None)
    assert status == 403
    assert_envelope(body, "forbidden")


def test_import_before_upload_is_409(api):
    _, created = api("POST", "/files", body=DECLARE)
    status, body = api("POST", f"/files/{created['file_id']}/import", body={"check_only": True})
    assert status == 409
    assert_envelope(body, "illegal_state")
    assert "not been uploaded" in body["error"]["message"]


def test_import_twice_while_queued_is_409(api, drain):
    file_id = declare_and_upload(api, CSV)
    drain()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    status, body = api("POST", f"/files/{file_id}/import", body={})
    assert status == 409
    assert "already queued" in body["error"]["message"]


def test_import_answers_202_with_the_queued_run(api, drain):
    file_id = declare_and_upload(api, CSV)
    drain()
    status, body = api("POST", f"/files/{file_id}/import", body={"check_only": True})
    assert status == 202
    assert body == {
        "file_id": file_id,
        "status": "QUEUED",
        "check_only": True,
        "on_invalid": "fail",
    }


def test_queue_outage_is_503_and_leaves_the_file_importable(api, drain, monkeypatch):
    from intake.dal import import_queue
    from intake.errors import Unavailable

    file_id = declare_and_upload(api, CSV)
    drain()

    def refuse(message):
        raise Unavailable("the import queue did not accept the request; try again")

    monkeypatch.setattr(import_queue, "send_import", refuse)
    status, body = api("POST", f"/files/{file_id}/import", body={})
    assert status == 503
    assert_envelope(body, "unavailable")
    assert api("GET", f"/files/{file_id}")[1]["status"] == "UPLOADED"
    monkeypatch.undo()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202


def test_list_pages_newest_first_and_filters(api):
    ids = [api("POST", "/files", body=DECLARE)[1]["file_id"] for _ in range(5)]
    status, page = api("GET", "/files", query={"limit": "2"})
    assert status == 200
    assert [f["file_id"] for f in page["items"]] == ids[::-1][:2]
    seen = [f["file_id"] for f in page["items"]]
    while page["next_cursor"]:
        page = api("GET", "/files", query={"limit": "2", "cursor": page["next_cursor"]})[1]
        seen += [f["file_id"] for f in page["items"]]
    assert seen == ids[::-1]
    assert api("GET", "/files", query={"status": "UPLOADED"})[1]["items"] == []
    assert len(api("GET", "/files", query={"status": "PENDING_UPLOAD"})[1]["items"]) == 5
    assert api("GET", "/files", query={"import_type": "event"})[1]["items"] == []
    assert api("GET", "/files", tenant="globex")[1] == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"limit": "0"}, 422),
        ({"limit": "x"}, 422),
        ({"status": "DONE"}, 422),
        ({"cursor": "zz"}, 400),
    ],
)
def test_list_rejects_bad_query(api, query, status):
    got, body = api("GET", "/files", query=query)
    assert got == status, body
    assert "error" in body


def test_expired_upload_becomes_expired(api, monkeypatch):
    from datetime import timedelta

    from intake import clock
    from intake.logic import files

    _, created = api("POST", "/files", body=DECLARE)
    later = clock.utcnow() + timedelta(minutes=16)
    monkeypatch.setattr(files, "utcnow", lambda: later)
    body = api("GET", f"/files/{created['file_id']}")[1]
    assert body["status"] == "EXPIRED"
    assert "expired" in body["reason"]


def test_import_types_describe_contacts(api):
    status, body = api("GET", "/import-types")
    assert status == 200
    contacts = next(t for t in body if t["name"] == "contacts")
    assert contacts["media_types"] == [
        "text/csv",
        "application/json",
        "application/x-ndjson",
        "application/zip",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
    assert contacts["max_size"] == 10 * 1024**3
    assert set(contacts["json_schema"]["required"]) == {"external_id", "email", "first_name"}
    # the header names partners' exports use, per field
    assert {"customer id", "user id", "contact id"} <= set(contacts["aliases"]["external_id"])
    assert {"e-mail", "email address"} <= set(contacts["aliases"]["email"])
    assert {"given name"} <= set(contacts["aliases"]["first_name"])
    assert {"surname"} <= set(contacts["aliases"]["last_name"])
    assert {"subscription date"} <= set(contacts["aliases"]["signed_up"])


def test_openapi_document_and_swagger_ui(api):
    status, spec = api("GET", "/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.1")
    assert {"/files", "/files/{file_id}", "/files/{file_id}/import", "/import-types"} <= set(
        spec["paths"]
    )
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    status, html = api("GET", "/docs")
    assert status == 200
    assert "swagger" in html.lower()


def test_body_that_is_not_utf8_is_400(api, handlers):
    from tests.integration.conftest import api_event, lambda_context

    event = api_event("POST", "/files")
    event["body"] = "//4A"  # base64 of b"\xff\xfe\x00"
    event["isBase64Encoded"] = True
    response = handlers["files_api"].lambda_handler(event, lambda_context())
    assert response["statusCode"] == 400
    assert '"malformed_body"' in response["body"]


def test_body_that_is_not_json_is_415(api, handlers):
    from tests.integration.conftest import api_event, lambda_context

    event = api_event("POST", "/files", raw_body="name=x")
    event["headers"]["content-type"] = "text/plain"
    response = handlers["files_api"].lambda_handler(event, lambda_context())
    assert response["statusCode"] == 415
    assert '"unsupported_media_type"' in response["body"]


def test_large_files_get_a_presigned_multipart_upload(api, drain, monkeypatch):
    import hashlib

    from intake.settings import get_settings
    from intake_client import IntakeClient

    # Given a multipart threshold low enough for a test (S3's minimum part is 5 MiB)
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * 1024**2))
    monkeypatch.setenv("MULTIPART_PART_BYTES", str(5 * 1024**2))
    get_settings.cache_clear()
    header = b"external_id,email,first_name\n"
    rows = b"".join(b"m-%07d,m%d@example.com,M\n" % (i, i) for i in range(400_000))
    body = header + rows
    assert 10 * 1024**2 < len(body) <= 15 * 1024**2  # three parts of 5 MiB
    status, created = api(
        "POST",
        "/files",
        body={
            "name": "big.csv",
            "media_type": "text/csv",
            "size": len(body),
            "import_type": "contacts",
            "sha256": hashlib.sha256(body).hexdigest(),
            "auto_import": True,
            "check_only": True,  # every row read and checked; writing 400k items to moto is slow
        },
    )
    assert status == 201
    upload = created["upload"]
    assert upload["method"] == "MULTIPART"
    assert "url" not in upload
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    assert [p["headers"]["Content-Length"] for p in upload["parts"]] == [
        str(5 * 1024**2),
        str(5 * 1024**2),
        str(len(body) - 10 * 1024**2),
    ]
    assert all(
        "content-length" in p["url"].split("X-Amz-SignedHeaders=")[1] for p in upload["parts"]
    )

    # When the project's client sends the parts and the completion straight to S3
    IntakeClient("http://unused.invalid", "token").upload(created, body)
    drain()

    # Then the worker checked the assembled object (size, type, SHA-256) and read every row
    view = api("GET", f"/files/{created['file_id']}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_valid"] == 400_000

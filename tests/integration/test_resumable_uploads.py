"""Resumable uploads: GET /files/{file_id}/upload re-signs what S3 lacks, DELETE aborts.

The handlers run in process against moto, with a multipart threshold and part size of 5 MiB
(S3's minimum part) so a file of a few parts stays small.
"""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest
import requests

from intake_client import IntakeClient
from tests.integration.conftest import api_event, lambda_context

MIB = 1024**2


@pytest.fixture
def small_parts(aws, monkeypatch):
    from intake.settings import Settings, get_settings

    for field in ("multipart_threshold_bytes", "multipart_part_bytes"):
        monkeypatch.setenv(str(Settings.model_fields[field].alias), str(5 * MIB))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def csv_of_size(at_least: int) -> bytes:
    header = b"external_id,email,first_name\n"
    rows = b"".join(b"r-%07d,r%d@example.com,R\n" % (i, i) for i in range(at_least // 30 + 1))
    return header + rows


def declare(api, body: bytes, *, tenant: str = "acme", **extra: Any) -> dict[str, Any]:
    status, created = api(
        "POST",
        "/files",
        tenant=tenant,
        body={
            "name": "big.csv",
            "media_type": "text/csv",
            "size": len(body),
            "import_type": "contacts",
            "sha256": hashlib.sha256(body).hexdigest(),
            **extra,
        },
    )
    assert status == 201, created
    return created


def put_part(part: dict[str, Any], body: bytes, part_size: int) -> str:
    offset = (part["part_number"] - 1) * part_size
    length = int(part["headers"]["Content-Length"])
    response = requests.put(
        part["url"], data=body[offset : offset + length], headers=part["headers"], timeout=30
    )
    assert response.status_code == 200, response.text
    return response.headers["ETag"].strip('"')


def delete_upload(handlers, file_id: str, tenant: str = "acme") -> tuple[int, Any]:
    response = handlers["files_api"].lambda_handler(
        api_event("DELETE", f"/files/{file_id}/upload", tenant=tenant), lambda_context()
    )
    return response["statusCode"], response.get("body")


def test_multipart_starts_above_64_mib_by_default(api):
    # Given the default settings, a file of exactly 64 MiB is one PUT
    status, created = api(
        "POST",
        "/files",
        body={
            "name": "a.csv",
            "media_type": "text/csv",
            "size": 64 * MIB,
            "import_type": "contacts",
        },
    )
    assert status == 201
    assert created["upload"]["method"] == "PUT"

    # When a file is one byte larger
    status, created = api(
        "POST",
        "/files",
        body={
            "name": "b.csv",
            "media_type": "text/csv",
            "size": 64 * MIB + 1,
            "import_type": "contacts",
        },
    )

    # Then it is multipart, in parts of 16 MiB and a last part of one byte
    upload = created["upload"]
    assert upload["method"] == "MULTIPART"
    assert upload["part_size"] == 16 * MIB
    assert [p["headers"]["Content-Length"] for p in upload["parts"]] == [
        *[str(16 * MIB)] * 4,
        "1",
    ]
    assert "uploaded" not in upload  # a declaration has sent nothing yet


def test_an_interrupted_multipart_upload_lists_its_parts_and_resumes(api, drain, small_parts):
    # Given a multipart upload of three parts, of which only the first was sent
    body = csv_of_size(12 * MIB)
    created = declare(api, body, auto_import=True, check_only=True)
    file_id = created["file_id"]
    upload = created["upload"]
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    etag = put_part(upload["parts"][0], body, upload["part_size"])

    # When the client asks for the upload again
    status, again = api("GET", f"/files/{file_id}/upload")

    # Then S3's part is listed with its ETag and size, and only the others are signed again
    assert status == 200, again
    assert again["file_id"] == file_id and again["status"] == "PENDING_UPLOAD"
    block = again["upload"]
    assert block["method"] == "MULTIPART"
    assert block["part_size"] == 5 * MIB
    assert block["uploaded"] == [{"part_number": 1, "etag": etag, "size": 5 * MIB}]
    assert [p["part_number"] for p in block["parts"]] == [2, 3]
    assert block["parts"][1]["headers"]["Content-Length"] == str(len(body) - 10 * MIB)
    for part in block["parts"]:
        assert "content-length" in part["url"].split("X-Amz-SignedHeaders=")[1]
        assert f"partNumber={part['part_number']}" in part["url"]
    assert block["complete_url"]

    # And the project's client sends the missing parts and completes the upload
    IntakeClient("http://unused.invalid", "token").upload(again, body)
    drain()
    status, view = api("GET", f"/files/{file_id}")
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_valid"] == body.count(b"\n") - 1

    # And once the bytes are in, there is no upload to resume
    status, answer = api("GET", f"/files/{file_id}/upload")
    assert status == 409, answer
    assert answer["error"]["code"] == "illegal_state"


def test_a_resumed_upload_with_every_part_sent_only_completes(api, drain, small_parts):
    # Given every part sent, but the completion never posted
    body = csv_of_size(11 * MIB)
    created = declare(api, body)
    upload = created["upload"]
    for part in upload["parts"]:
        put_part(part, body, upload["part_size"])

    # When the upload is asked for again
    status, again = api("GET", f"/files/{created['file_id']}/upload")

    # Then nothing is left to send, and the completion alone finishes it
    assert status == 200
    assert again["upload"]["parts"] == []
    assert [p["part_number"] for p in again["upload"]["uploaded"]] == [1, 2, 3]
    IntakeClient("http://unused.invalid", "token").upload(again, body)
    drain()
    assert api("GET", f"/files/{created['file_id']}")[1]["status"] == "UPLOADED"


def test_a_single_put_upload_is_signed_again(api, drain):
    # Given a small file declared for a single PUT that never came
    body = csv_of_size(1000)
    created = declare(api, body)
    file_id = created["file_id"]

    # When the upload is asked for again
    status, again = api("GET", f"/files/{file_id}/upload")

    # Then it is the PUT again, with the same signed headers and a new URL
    assert status == 200, again
    block = again["upload"]
    assert block["method"] == "PUT"
    assert block["headers"] == created["upload"]["headers"]
    assert "uploaded" not in block and "parts" not in block
    assert block["expires_at"] >= created["upload"]["expires_at"]

    # And the bytes sent with it are taken
    response = requests.put(block["url"], data=body, headers=block["headers"], timeout=10)
    assert response.status_code == 200, response.text
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "UPLOADED"


def test_abort_expires_the_file_and_drops_its_parts(api, handlers, small_parts):
    # Given a multipart upload with one part sent
    body = csv_of_size(11 * MIB)
    created = declare(api, body)
    file_id = created["file_id"]
    put_part(created["upload"]["parts"][0], body, created["upload"]["part_size"])

    # When it is aborted
    status, answer = delete_upload(handlers, file_id)

    # Then the answer is an empty 204, the file is EXPIRED and S3 holds no upload for it
    assert status == 204, answer
    assert not answer
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "EXPIRED"
    s3 = boto3.client("s3")
    from intake.settings import get_settings

    uploads = s3.list_multipart_uploads(Bucket=get_settings().bucket_name).get("Uploads", [])
    assert [u for u in uploads if file_id in u["Key"]] == []

    # And the upload can be neither aborted again nor resumed
    status, answer = delete_upload(handlers, file_id)
    assert status == 409, answer
    status, answer = api("GET", f"/files/{file_id}/upload")
    assert status == 409
    assert answer["error"]["code"] == "illegal_state"


def test_abort_of_a_single_put_upload_expires_the_file(api, handlers):
    created = declare(api, csv_of_size(1000))
    status, _ = delete_upload(handlers, created["file_id"])
    assert status == 204
    assert api("GET", f"/files/{created['file_id']}")[1]["status"] == "EXPIRED"


def test_unknown_or_another_tenants_file_is_404(api, handlers):
    created = declare(api, csv_of_size(1000), tenant="acme")
    unknown = "0" * 28
    for tenant, file_id in (("acme", unknown), ("globex", created["file_id"])):
        status, answer = api("GET", f"/files/{file_id}/upload", tenant=tenant)
        assert status == 404, answer
        assert answer["error"]["code"] == "not_found"
        status, _ = delete_upload(handlers, file_id, tenant=tenant)
        assert status == 404
    # and the other tenant's attempt changed nothing
    assert api("GET", f"/files/{created['file_id']}")[1]["status"] == "PENDING_UPLOAD"


def test_upload_routes_are_in_the_openapi_document(api):
    status, spec = api("GET", "/openapi.json")
    assert status == 200
    item = spec["paths"]["/files/{file_id}/upload"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(item["get"]["responses"])
    assert {"204", "401", "403", "404", "409", "422"} <= set(item["delete"]["responses"])
    schema = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/UploadAgainResponse")


def test_the_client_signs_again_when_its_urls_are_about_to_expire(
    api, drain, small_parts, monkeypatch
):
    # Given a declaration whose part URLs have expired (an upload that ran for too long)
    body = csv_of_size(11 * MIB)
    created = declare(api, body)
    file_id = created["file_id"]
    stale = {
        **created,
        "upload": {
            **created["upload"],
            "expires_at": "2020-01-01T00:00:00Z",
            "parts": [{**p, "url": "http://expired.invalid/"} for p in created["upload"]["parts"]],
            "complete_url": "http://expired.invalid/",
        },
    }
    client = IntakeClient("http://unused.invalid", "token")
    asked: list[str] = []

    def upload_block(asked_for: str) -> dict[str, Any]:
        asked.append(asked_for)
        status, answer = api("GET", f"/files/{asked_for}/upload")
        assert status == 200, answer
        return dict(answer)

    monkeypatch.setattr(client, "upload_block", upload_block)

    # When the client sends it
    client.upload(stale, body)

    # Then it asked for fresh URLs for that file, and the upload went through
    assert asked and set(asked) == {file_id}
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "UPLOADED"

"""Idempotency-Key on POST /files and POST /files/{file_id}/import, through the real handlers."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from intake_local.resources import Resources
from tests.integration.conftest import Drain, Invoke, declare_and_upload

CSV = b"external_id,email,first_name,country\nc-1,ada@example.com,Ada,GB\n"
DECLARE = {"name": "people.csv", "media_type": "text/csv", "size": 184, "import_type": "contacts"}
KEY = "9b2f6c1e-3d4a-4e5f-8a7b-1c2d3e4f5a6b"


def declare(api: Invoke, key: str | None, body: dict[str, Any] = DECLARE, **kwargs: Any) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else None
    return api("POST", "/files", body=body, headers=headers, **kwargs)


def file_ids(api: Invoke, tenant: str = "acme") -> list[str]:
    status, listing = api("GET", "/files", tenant=tenant)
    assert status == 200
    return [item["file_id"] for item in listing["items"]]


def test_the_same_key_and_body_answer_the_same_file(api: Invoke) -> None:
    first = declare(api, KEY)
    again = declare(api, KEY)
    assert first[0] == again[0] == 201
    # The whole answer: the same file_id and the same upload block (url, headers, expiry).
    assert again[1] == first[1]
    assert file_ids(api) == [first[1]["file_id"]]


def test_the_body_is_compared_as_parsed(api: Invoke) -> None:
    """Key order and a default spelled out do not make another request."""
    first = declare(api, KEY)
    reordered = {**dict(reversed(list(DECLARE.items()))), "check_only": False}
    again = declare(api, KEY, body=reordered)
    assert again == first


def test_the_same_key_with_another_body_is_a_409(api: Invoke) -> None:
    first = declare(api, KEY)
    status, body = declare(api, KEY, body={**DECLARE, "size": 185})
    assert status == 409
    assert body["error"]["code"] == "idempotency_key_reused"
    assert body["error"]["message"]
    assert body["error"]["details"][0]["field"] == "idempotency-key"
    assert file_ids(api) == [first[1]["file_id"]]


def test_tenants_using_the_same_key_do_not_meet(api: Invoke) -> None:
    acme = declare(api, KEY, tenant="acme")
    globex = declare(api, KEY, tenant="globex")
    assert acme[0] == globex[0] == 201
    assert acme[1]["file_id"] != globex[1]["file_id"]
    # Another body is no conflict either: each tenant has its own key space.
    other = declare(api, "shared-key", tenant="acme")
    assert declare(api, "shared-key", body={**DECLARE, "size": 9}, tenant="globex")[0] == 201
    assert file_ids(api, "acme") == [other[1]["file_id"], acme[1]["file_id"]]
    assert len(file_ids(api, "globex")) == 2


def test_without_the_header_every_request_declares_a_new_file(api: Invoke) -> None:
    first = declare(api, None)
    second = declare(api, None)
    assert first[0] == second[0] == 201
    assert first[1]["file_id"] != second[1]["file_id"]
    assert len(file_ids(api)) == 2


def test_keys_are_kept_24_hours_and_forgotten_after(api: Invoke, aws: Resources) -> None:
    first = declare(api, KEY)
    table = boto3.resource("dynamodb").Table(aws.names.idempotency_table)
    [record] = table.scan()["Items"]
    assert record["status"] == "COMPLETED"
    assert abs(int(record["expiration"]) - (time.time() + 24 * 3600)) < 60
    # Nothing of the key or the tenant is stored in the clear.
    assert KEY not in str(record["id"]) and "acme" not in str(record["id"])
    # 24 hours later (TTL may not have deleted the item yet) the key is a new request.
    table.update_item(
        Key={"id": record["id"]},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    later = declare(api, KEY)
    assert later[0] == 201
    assert later[1]["file_id"] != first[1]["file_id"]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "has space", "naïve", "semi;colon", 'quo"te', "tab\there"],
    ids=["empty", "too-long", "space", "non-ascii", "semicolon", "quote", "control"],
)
def test_a_malformed_key_is_a_422_and_declares_nothing(api: Invoke, key: str) -> None:
    status, body = declare(api, key)
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert [d["field"] for d in body["error"]["details"]] == ["idempotency-key"]
    assert file_ids(api) == []


@pytest.mark.parametrize("key", ["a", "x" * 255, "order-42:v2", "dGVzdA+/=", "01J9Z~a.b_c"])
def test_keys_of_the_documented_charset_are_taken(api: Invoke, key: str) -> None:
    assert declare(api, key)[0] == 201


def test_a_retry_while_the_first_request_runs_is_a_409(
    api: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake.logic import files

    declare_file = files.declare_file
    inner: list[tuple[int, Any]] = []

    def slow_declare(tenant: str, request: Any) -> Any:
        # The client gives up waiting and retries while the first request is still running.
        inner.append(declare(api, KEY))
        return declare_file(tenant, request)

    monkeypatch.setattr(files, "declare_file", slow_declare)
    status, _ = declare(api, KEY)
    assert status == 201
    [(retry_status, retry_body)] = inner
    assert retry_status == 409
    assert retry_body["error"]["code"] == "idempotency_key_in_progress"


def test_a_failed_request_is_not_remembered(api: Invoke) -> None:
    # The event type takes ZIP archives only: the route itself refuses a CSV.
    status, body = declare(api, KEY, body={**DECLARE, "import_type": "event"})
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    # The same key with a corrected body is a new request, not a 409: errors are not stored.
    assert declare(api, KEY)[0] == 201


def test_an_import_retried_with_its_key_answers_the_same(api: Invoke, drain: Drain) -> None:
    file_id = declare_and_upload(api, CSV)
    drain()
    path = f"/files/{file_id}/import"
    headers = {"Idempotency-Key": KEY}
    first = api("POST", path, body={"check_only": True}, headers=headers)
    assert first[0] == 202
    # Without the key the same request is refused: the file is already queued.
    assert api("POST", path, body={"check_only": True})[0] == 409
    again = api("POST", path, body={"check_only": True}, headers=headers)
    assert again == first
    other = api("POST", path, body={"check_only": False}, headers=headers)
    assert other[0] == 409
    assert other[1]["error"]["code"] == "idempotency_key_reused"
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "VALIDATED"


def test_an_import_key_on_another_file_is_another_request(api: Invoke, drain: Drain) -> None:
    first_id = declare_and_upload(api, CSV)
    second_id = declare_and_upload(api, CSV, name="other.csv")
    drain()
    headers = {"Idempotency-Key": KEY}
    assert api("POST", f"/files/{first_id}/import", body={}, headers=headers)[0] == 202
    status, body = api("POST", f"/files/{second_id}/import", body={}, headers=headers)
    assert status == 409
    assert body["error"]["code"] == "idempotency_key_reused"


def test_an_import_refused_before_the_upload_may_be_retried_with_its_key(
    api: Invoke, drain: Drain
) -> None:
    status, created = declare(api, None, body={**DECLARE, "size": len(CSV)})
    path = f"/files/{created['file_id']}/import"
    headers = {"Idempotency-Key": KEY}
    status, body = api("POST", path, body={}, headers=headers)
    assert (status, body["error"]["code"]) == (409, "illegal_state")
    boto3.client("s3").put_object(
        Bucket="intake-local-uploads",
        Key=f"uploads/acme/{created['file_id']}",
        Body=CSV,
        ContentType="text/csv",
    )
    drain()
    assert api("POST", path, body={}, headers=headers)[0] == 202


def test_the_same_key_on_the_two_routes_does_not_meet(api: Invoke, drain: Drain) -> None:
    file_id = declare_and_upload(api, CSV)
    drain()
    assert declare(api, KEY)[0] == 201
    status, _ = api("POST", f"/files/{file_id}/import", body={}, headers={"Idempotency-Key": KEY})
    assert status == 202

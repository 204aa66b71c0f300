"""Idempotency-Key retries over HTTP against the local stack, and duplicate_of on a re-sent file.

Each test uses a tenant of its own, so its listing holds only what it created."""

from __future__ import annotations

import uuid

from tests.e2e.support import Api, contacts_csv


def test_a_declaration_retried_with_its_key_is_the_same_file(api: Api) -> None:
    tenant = f"idem-{uuid.uuid4().hex[:8]}"
    data = contacts_csv(3)
    body = {"name": "c.csv", "media_type": "text/csv", "size": len(data), "import_type": "contacts"}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api.call("POST", "/files", tenant=tenant, json=body, headers=key)
    # The client never saw the answer (a timeout, a dropped connection) and sends it again.
    retry = api.call("POST", "/files", tenant=tenant, json=body, headers=key)
    assert first.status_code == retry.status_code == 201, retry.text
    assert retry.json() == first.json()

    # Another body under the same key is refused, in the contract's envelope.
    other = api.call("POST", "/files", tenant=tenant, json={**body, "size": 7}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"

    # The replayed upload block works, and there is one file.
    declared = retry.json()
    api.upload(declared, data)
    api.wait(declared["file_id"], "UPLOADED", tenant=tenant)
    listing = api.call("GET", "/files", tenant=tenant).json()
    assert [item["file_id"] for item in listing["items"]] == [declared["file_id"]]

    # An import retried with its key is queued once and answers the same.
    path = f"/files/{declared['file_id']}/import"
    import_key = {"Idempotency-Key": str(uuid.uuid4())}
    queued = api.call("POST", path, tenant=tenant, json={}, headers=import_key)
    again = api.call("POST", path, tenant=tenant, json={}, headers=import_key)
    assert queued.status_code == again.status_code == 202, again.text
    assert again.json() == queued.json()
    done = api.wait(declared["file_id"], "SUCCEEDED", tenant=tenant)
    assert done["result"]["rows_written"] == 3


def test_a_malformed_key_is_a_422(api: Api) -> None:
    response = api.call(
        "POST",
        "/files",
        json={"name": "c.csv", "media_type": "text/csv", "size": 10, "import_type": "contacts"},
        headers={"Idempotency-Key": "no spaces allowed"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "idempotency-key"


def test_the_same_bytes_again_name_the_first_success(api: Api) -> None:
    tenant = f"dup-{uuid.uuid4().hex[:8]}"
    data = contacts_csv(2, prefix="d")
    first = api.declare(data, tenant=tenant, auto_import=True)
    api.upload(first, data)
    api.wait(first["file_id"], "SUCCEEDED", tenant=tenant)
    second = api.uploaded(data, tenant=tenant, name="again.csv")
    assert api.file(second, tenant=tenant)["duplicate_of"] == first["file_id"]
    assert api.file(first["file_id"], tenant=tenant).get("duplicate_of") is None

"""Profiles over HTTP on the local stack: save, read, list, delete; a scope per method; a
drop under a profile's folder imports with it, and a file re-run with a corrected mapping."""

from __future__ import annotations

import time

from tests.e2e.support import Api, Stack, eventually

MAPPING = {
    "columns": {"Customer Id": "external_id", "Email Address": "email"},
    "formats": {"signed_up": {"date": "%d.%m.%Y"}},
    "delimiter": ";",
}
PARTNER_CSV = (
    b"Customer Id;Email Address;First Name;Subscription Date\r\n"
    b"p-1;ada@example.com;Ada;05.01.2024\r\n"
    b"p-2;alan@example.com;Alan;31.12.2023\r\n"
)


def _tenant(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000)}"


def test_put_get_list_delete_over_http(api: Api) -> None:
    tenant = _tenant("prof")
    body = {"import_type": "contacts", "mapping": MAPPING, "default": True}

    saved = api.call("PUT", "/profiles/partner-crm", tenant=tenant, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["mapping"] == MAPPING and saved.json()["default"] is True

    read = api.call("GET", "/profiles/partner-crm", tenant=tenant)
    assert read.status_code == 200 and read.json() == saved.json()
    listed = api.call("GET", "/profiles", tenant=tenant, params={"import_type": "contacts"})
    assert listed.status_code == 200 and listed.json()["items"] == [saved.json()]

    # Another tenant sees nothing
    assert api.call("GET", "/profiles/partner-crm", tenant=_tenant("other")).status_code == 404

    deleted = api.call("DELETE", "/profiles/partner-crm", tenant=tenant)
    assert deleted.status_code == 204 and not deleted.content
    assert api.call("GET", "/profiles/partner-crm", tenant=tenant).status_code == 404


def test_reading_takes_the_read_scope_and_saving_the_write_scope(api: Api, stack: Stack) -> None:
    tenant = _tenant("scope")
    read_only = stack.headers(tenant, scopes=("intake/read",))
    body = {"import_type": "contacts", "mapping": MAPPING}
    put = api.call("PUT", "/profiles/p", tenant=None, headers=read_only, json=body)
    assert put.status_code == 403 and put.json() == {"message": "Forbidden"}
    delete = api.call("DELETE", "/profiles/p", tenant=None, headers=read_only)
    assert delete.status_code == 403
    assert api.call("GET", "/profiles/p", tenant=None, headers=read_only).status_code == 404
    # A method the path does not have is 405 with the ones it has
    post = api.call("POST", "/profiles/p", tenant=tenant, json=body)
    assert post.status_code == 405
    assert post.headers["Allow"] == "GET, PUT, DELETE"


def test_a_drop_under_a_profiles_folder_imports_with_it(api: Api, stack: Stack) -> None:
    tenant = _tenant("dropprof")
    body = {"import_type": "contacts", "mapping": MAPPING}
    assert api.call("PUT", "/profiles/partner-crm", tenant=tenant, json=body).status_code == 200
    stack.client("s3").put_object(
        Bucket=stack.bucket,
        Key=f"drop/{tenant}/contacts/partner-crm/june export.csv",
        Body=PARTNER_CSV,
        ContentType="text/csv",
    )

    def dropped() -> dict | None:
        items = api.call("GET", "/files", tenant=tenant).json()["items"]
        return items[0] if items else None

    found = eventually(dropped)
    done = api.wait(found["file_id"], "SUCCEEDED", tenant=tenant)
    assert done["result"]["rows_written"] == 2
    assert (done["profile"], done["mapping"]) == ("partner-crm", MAPPING)
    assert (done["name"], done["folder"]) == ("june export.csv", None)


def test_a_failed_file_reruns_with_a_corrected_mapping(api: Api) -> None:
    # Given a file that FAILED on a wrong date format (US order, where the partner's is EU)
    wrong = {**MAPPING, "formats": {"signed_up": {"date": "%m/%d/%Y"}}}
    file_id = api.uploaded(PARTNER_CSV, mapping=wrong)
    assert api.call("POST", f"/files/{file_id}/import", json={}).status_code == 202
    failed = api.wait(file_id, "FAILED")
    assert failed["mapping"] == wrong
    assert failed["result"]["rows_invalid"] == 2

    # When it is imported again with the corrected mapping (no new upload)

    again = api.call("POST", f"/files/{file_id}/import", json={"mapping": MAPPING})
    assert again.status_code == 202, again.text
    done = api.wait(file_id, "SUCCEEDED")
    assert done["result"]["rows_written"] == 2 and done["mapping"] == MAPPING

"""Files declared without an import type (design.md, "Analysis"), in process: API handlers ->
logic -> worker on moto. The upload check analyses the file; the client imports it with the
type and mapping the analysis suggests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from intake.ingest import media
from tests.integration.conftest import declare_and_upload, zip_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "partner"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
CONTACTS = b"external_id,email,first_name\nc-1,ada@example.com,Ada\nc-2,bob@example.com,Bob\n"


def declare_untyped(api: Any, body: bytes, *, name: str = "export.csv", **extra: Any) -> str:
    """Declare with no import type and PUT the bytes, as a client does."""
    media_type = extra.pop("media_type", None) or media.media_type_for_name(name)
    status, created = api(
        "POST",
        "/files",
        body={"name": name, "media_type": media_type, "size": len(body), **extra},
    )
    assert status == 201, created
    upload = created["upload"]
    response = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
    assert response.status_code == 200, response.text
    return str(created["file_id"])


def analysed(api: Any, drain: Any, body: bytes, **extra: Any) -> dict[str, Any]:
    file_id = declare_untyped(api, body, **extra)
    drain()
    status, view = api("GET", f"/files/{file_id}")
    assert status == 200
    return dict(view)


def import_as(api: Any, file_id: str, **body: Any) -> tuple[int, Any]:
    return api("POST", f"/files/{file_id}/import", body=body)


# --- the flow -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_partner_export_is_analysed_then_imported_with_the_suggested_mapping(api, drain, name):
    facts = MANIFEST[name]
    # Given a partner's export declared without an import type and uploaded
    view = analysed(api, drain, (FIXTURES / name).read_bytes(), name=name)

    # Then it is UPLOADED with no type, and its analysis suggests contacts first, with a
    # mapping that feeds every required field
    assert view["status"] == "UPLOADED"
    assert view["import_type"] is None
    analysis = view["analysis"]
    assert analysis["header"] == facts["header"]
    assert analysis["rows_estimated"] == facts["data_rows"]
    top = analysis["suggestions"][0]
    assert top["import_type"] == "contacts"
    assert top["missing"] == []
    unused = [c["header"] for c in top["columns"]["unused"]]
    assert unused == facts["expected_unused_headers"]

    # When the client imports it as contacts with that mapping
    status, accepted = import_as(
        api, view["file_id"], import_type="contacts", mapping=top["mapping"], on_invalid="skip"
    )
    assert status == 202, accepted
    drain()

    # Then it imports exactly as it does with the mapping a person wrote for it (the manifest's)
    _, done = api("GET", f"/files/{view['file_id']}")
    assert done["status"] == "SUCCEEDED", done
    assert done["import_type"] == "contacts"
    assert done["mapping"] == top["mapping"]
    by_hand = declare_and_upload(
        api,
        (FIXTURES / name).read_bytes(),
        name=name,
        media_type=media.media_type_for_name(name) or "",
        mapping=facts["mapping"],
        on_invalid="skip",
        auto_import=True,
    )
    drain()
    expected = api("GET", f"/files/{by_hand}")[1]
    assert done["result"] == expected["result"]
    assert done["errors"] == expected["errors"]
    # and the analysis, which validated the whole (small) file, saw the same rows valid
    assert top["rows_valid"] == done["result"]["rows_valid"]
    assert done["analysis"] == analysis


def test_the_suggested_mapping_saves_as_a_profile_as_is(api, drain):
    view = analysed(api, drain, (FIXTURES / "eu_customers_cp1252.csv").read_bytes(), name="eu.csv")
    top = view["analysis"]["suggestions"][0]
    assert top["mapping"]["encoding"] == "windows-1252"

    status, saved = api(
        "PUT",
        "/profiles/eu-partner",
        body={"import_type": top["import_type"], "mapping": top["mapping"]},
    )

    assert status == 200, saved
    assert saved["mapping"] == top["mapping"]
    status, _ = import_as(api, view["file_id"], import_type="contacts", profile="eu-partner")
    assert status == 202


def test_a_typed_file_is_not_analysed(api, drain):
    file_id = declare_and_upload(api, CONTACTS)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "UPLOADED"
    assert "analysis" not in view


def test_json_lines_are_analysed_by_their_keys(api, drain):
    body = b"".join(
        json.dumps({"Customer Id": f"k{i}", "E-Mail": f"p{i}@example.com", "Vorname": "X"}).encode()
        + b"\n"
        for i in range(5)
    )
    view = analysed(api, drain, body, name="people.jsonl")
    analysis = view["analysis"]
    assert analysis["format"] == media.JSONL
    assert analysis["header"] == ["Customer Id", "E-Mail", "Vorname"]
    assert analysis["suggestions"][0]["missing"] == ["first_name"]


def test_a_zip_is_analysed_by_its_first_member_of_rows(api, drain):
    body = zip_of({"readme.txt": "hello", "export/contacts.csv": CONTACTS})
    view = analysed(api, drain, body, name="export.zip")
    analysis = view["analysis"]
    assert analysis["member"] == "export/contacts.csv"
    assert analysis["suggestions"][0]["missing"] == []
    assert analysis["rows_estimated"] == 2


# --- nothing broken by a file that cannot be analysed ----------------------------------------


def test_content_the_analysis_cannot_read_leaves_the_file_uploaded_saying_why(api, drain):
    view = analysed(api, drain, b'{"rows": [1, 2]}', name="data.json")
    assert view["status"] == "UPLOADED"
    assert view["analysis"]["error"]["code"] == "missing_records"
    assert view["analysis"]["suggestions"] == []


def test_a_failing_analysis_leaves_the_file_uploaded(api, drain, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("intake.logic.uploads.analyse", broken)
    view = analysed(api, drain, CONTACTS)
    assert view["status"] == "UPLOADED"
    assert view["analysis"]["error"]["code"] == "analysis_failed"
    # and it imports all the same
    assert import_as(api, view["file_id"], import_type="contacts")[0] == 202
    drain()
    assert api("GET", f"/files/{view['file_id']}")[1]["status"] == "SUCCEEDED"


# --- the contract around a missing type -------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"auto_import": True}, "auto_import"),
        ({"mapping": {"delimiter": ";"}}, "mapping"),
        ({"profile": "eu-crm"}, "profile"),
    ],
)
def test_what_needs_a_type_is_refused_without_one(api, extra, named):
    status, body = api(
        "POST",
        "/files",
        body={"name": "a.csv", "media_type": "text/csv", "size": 10, **extra},
    )
    assert status == 422, body
    (detail,) = body["error"]["details"]
    assert detail["field"] == "import_type"
    assert detail["code"] == "import_type_required"
    assert named in detail["message"]


def test_an_untyped_declaration_takes_only_what_some_type_reads(api):
    status, body = api(
        "POST", "/files", body={"name": "a.txt", "media_type": "text/plain", "size": 10}
    )
    assert status == 415, body
    assert "text/csv" in body["error"]["details"][0]["message"]

    too_big = 10 * 1024**3 + 1  # contacts, the largest type that takes CSV, takes 10 GiB
    status, body = api(
        "POST", "/files", body={"name": "a.csv", "media_type": "text/csv", "size": too_big}
    )
    assert status == 413, body


def test_an_untyped_file_needs_a_type_to_import(api, drain):
    view = analysed(api, drain, CONTACTS)
    status, body = import_as(api, view["file_id"])
    assert status == 422
    assert body["error"]["details"][0]["code"] == "import_type_required"
    # and a type that does not take the file's media type is a 415, nothing queued
    status, body = import_as(api, view["file_id"], import_type="event")
    assert status == 415, body
    assert api("GET", f"/files/{view['file_id']}")[1]["status"] == "UPLOADED"


def test_a_mapping_is_checked_against_the_type_the_import_names(api, drain):
    view = analysed(api, drain, CONTACTS)
    status, body = import_as(
        api, view["file_id"], import_type="contacts", mapping={"columns": {"x": "nope"}}
    )
    assert status == 422
    assert body["error"]["details"][0]["field"] == "mapping.columns.x"


def test_the_type_may_change_until_an_import_that_writes_is_queued(api, drain):
    # Given an untyped ZIP (contacts and event both take ZIPs), validated as event
    body = zip_of({"contacts.csv": CONTACTS})
    file_id = analysed(api, drain, body, name="export.zip")["file_id"]
    assert import_as(api, file_id, import_type="event", check_only=True)[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["import_type"] == "event"

    # When it is imported as contacts: another type is still taken (nothing was written)
    assert import_as(api, file_id, import_type="contacts")[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"

    # Then, its records being contacts, another type is a 409; its own type is not
    status, body = import_as(api, file_id, import_type="event", check_only=True)
    assert status == 409, body
    assert body["error"]["details"][0]["code"] == "import_type_fixed"
    assert import_as(api, file_id, import_type="contacts", check_only=True)[0] == 202


def test_the_same_bytes_are_flagged_once_the_type_is_known(api, drain):
    first = declare_and_upload(api, CONTACTS, auto_import=True)
    drain()
    assert api("GET", f"/files/{first}")[1]["status"] == "SUCCEEDED"

    view = analysed(api, drain, CONTACTS)
    assert view["duplicate_of"] is None  # no type yet: nothing to compare with

    import_as(api, view["file_id"], import_type="contacts")
    assert api("GET", f"/files/{view['file_id']}")[1]["duplicate_of"] == first


def test_listings_show_untyped_files_and_filter_them_out_by_type(api, drain):
    typed = declare_and_upload(api, CONTACTS)
    untyped = analysed(api, drain, CONTACTS)["file_id"]

    items = api("GET", "/files")[1]["items"]
    assert {i["file_id"]: i["import_type"] for i in items} == {typed: "contacts", untyped: None}
    filtered = api("GET", "/files", query={"import_type": "contacts"})[1]["items"]
    assert [i["file_id"] for i in filtered] == [typed]

"""Profiles (saved mappings) and mappings on declarations, imports and drops, in process:
API handlers -> logic -> DynamoDB on moto (design.md, "Partner files")."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from tests.integration.conftest import declare_and_upload

EU_MAPPING: dict[str, Any] = {
    "columns": {"Kundennummer": "external_id", "E-Mail": "email"},
    "formats": {"signed_up": {"date": "%d.%m.%Y"}},
    "delimiter": ";",
}


def put_profile(api: Any, name: str, *, tenant: str = "acme", **body: Any) -> tuple[int, Any]:
    return api(
        "PUT",
        f"/profiles/{name}",
        tenant=tenant,
        body={"import_type": "contacts", "mapping": EU_MAPPING, **body},
    )


# --- the resource -------------------------------------------------------------------------------


def test_put_get_list_delete(api):
    # Given no profiles, when one is saved
    status, saved = put_profile(api, "eu-crm")
    # Then it is answered as stored, with only the mapping's parts the client set
    assert status == 200, saved
    assert saved["name"] == "eu-crm"
    assert saved["import_type"] == "contacts"
    assert saved["mapping"] == EU_MAPPING
    assert saved["default"] is False
    assert saved["created_at"] == saved["updated_at"]

    assert api("GET", "/profiles/eu-crm") == (200, saved)
    assert api("GET", "/profiles") == (200, {"items": [saved], "next_cursor": None})

    # When it is deleted, it is gone
    status, body = api("DELETE", "/profiles/eu-crm")
    assert status == 204 and not body
    assert api("GET", "/profiles/eu-crm")[0] == 404
    assert api("DELETE", "/profiles/eu-crm")[0] == 404
    assert api("GET", "/profiles")[1]["items"] == []


def test_put_replaces_and_keeps_created_at(api):
    _, first = put_profile(api, "eu-crm")
    status, second = put_profile(api, "eu-crm", mapping={"columns": {"Mail": "email"}})
    assert status == 200
    assert second["mapping"] == {"columns": {"Mail": "email"}}
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] >= first["updated_at"]
    assert api("GET", "/profiles/eu-crm")[1] == second


def test_unknown_profile_is_404(api):
    status, body = api("GET", "/profiles/nothing-here")
    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_another_tenants_profile_is_404(api):
    put_profile(api, "eu-crm", tenant="acme")
    assert api("GET", "/profiles/eu-crm", tenant="globex")[0] == 404
    assert api("DELETE", "/profiles/eu-crm", tenant="globex")[0] == 404
    assert api("GET", "/profiles", tenant="globex")[1]["items"] == []
    # and globex's profile of the same name is its own
    put_profile(api, "eu-crm", tenant="globex", mapping={"columns": {"Mail": "email"}})
    assert api("GET", "/profiles/eu-crm", tenant="acme")[1]["mapping"] == EU_MAPPING


def test_listing_pages_by_name_and_filters_by_type(api):
    for name in ("c", "a", "e", "b", "d"):
        assert put_profile(api, name)[0] == 200
    names: list[str] = []
    page = api("GET", "/profiles", query={"limit": "2"})[1]
    names += [p["name"] for p in page["items"]]
    while page["next_cursor"]:
        page = api("GET", "/profiles", query={"limit": "2", "cursor": page["next_cursor"]})[1]
        names += [p["name"] for p in page["items"]]
    assert names == ["a", "b", "c", "d", "e"]

    assert len(api("GET", "/profiles", query={"import_type": "contacts"})[1]["items"]) == 5
    assert api("GET", "/profiles", query={"import_type": "orders"})[1]["items"] == []


def test_a_cursor_is_the_tenants_own(api):
    for name in ("a", "b"):
        put_profile(api, name)
    cursor = api("GET", "/profiles", query={"limit": "1"})[1]["next_cursor"]
    status, body = api("GET", "/profiles", tenant="globex", query={"cursor": cursor})
    assert status == 400
    assert body["error"]["details"][0]["code"] == "invalid_cursor"
    # and a files cursor is not a profiles cursor
    declare_and_upload(api, b"external_id,email\nx,x@example.com\n")
    declare_and_upload(api, b"external_id,email\ny,y@example.com\n")
    files_cursor = api("GET", "/files", query={"limit": "1"})[1]["next_cursor"]
    assert api("GET", "/profiles", query={"cursor": files_cursor})[0] == 400


def test_file_listings_never_show_profiles(api):
    put_profile(api, "eu-crm", default=True)
    assert api("GET", "/files")[1] == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (
            {"mapping": {"columns": {"Kundennummer": "customer_no"}}},
            "mapping.columns.Kundennummer",
            "unknown_field",
        ),
        (
            {"mapping": {"formats": {"email": {"date": "%d.%m.%Y"}}}},
            "mapping.formats.email.date",
            "format_does_not_fit",
        ),
        ({"import_type": "event"}, "mapping", "mapping_not_supported"),
        ({"import_type": "planets"}, "import_type", "unknown_import_type"),
        ({"mapping": {"delimiter": "x"}}, "mapping.delimiter", "literal_error"),
        ({"default": "yes"}, "default", "bool_type"),
        ({"created_at": "2026-01-01"}, "created_at", "extra_forbidden"),
    ],
)
def test_a_bad_profile_is_422_naming_the_entry(api, body, field, code):
    status, answer = put_profile(api, "eu-crm", **body)
    assert status == 422, answer
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in answer["error"]["details"]
    ], answer
    assert api("GET", "/profiles/eu-crm")[0] == 404  # nothing stored


@pytest.mark.parametrize("name", ["-eu", "eu crm", "a" * 65, "eu%2Fcrm", "\u00e9u"])
def test_a_name_that_is_not_a_profile_name_is_422(api, name):
    status, answer = put_profile(api, name)
    assert status == 422, answer
    assert answer["error"]["details"][0]["field"] == "name"


# --- the default profile --------------------------------------------------------------------------


def _defaults(api: Any, tenant: str = "acme") -> set[str]:
    return {p["name"] for p in api("GET", "/profiles", tenant=tenant)[1]["items"] if p["default"]}


def test_a_new_default_replaces_the_old_one(api, aws):
    # Given a default profile for contacts
    assert put_profile(api, "first", default=True)[1]["default"] is True
    assert _defaults(api) == {"first"}
    # When another one is made the default
    status, second = put_profile(api, "second", default=True)
    # Then it is the one default, and the first one says it no longer is
    assert status == 200 and second["default"] is True
    assert _defaults(api) == {"second"}
    assert api("GET", "/profiles/first")[1]["default"] is False
    # and the table holds one pointer for the type
    table = boto3.resource("dynamodb").Table(aws.names.status_table)
    pointers = table.query(
        KeyConditionExpression=Key("pk").eq("TENANT#acme") & Key("sk").begins_with("DEFAULT")
    )["Items"]
    assert [(p["sk"], p["profile"]) for p in pointers] == [("DEFAULT_PROFILE#contacts", "second")]


def test_saving_the_default_without_default_unsets_it(api):
    put_profile(api, "eu-crm", default=True)
    assert put_profile(api, "eu-crm")[1]["default"] is False
    assert _defaults(api) == set()


def test_deleting_the_default_removes_the_default(api):
    put_profile(api, "eu-crm", default=True)
    assert api("DELETE", "/profiles/eu-crm")[0] == 204
    # A profile saved again under the name is not the default by inheritance
    assert put_profile(api, "eu-crm")[1]["default"] is False
    assert _defaults(api) == set()


def test_defaults_are_per_tenant(api):
    put_profile(api, "eu-crm", tenant="acme", default=True)
    put_profile(api, "us-crm", tenant="globex", default=True)
    assert _defaults(api, "acme") == {"eu-crm"}
    assert _defaults(api, "globex") == {"us-crm"}


def test_profile_writes_contending_on_the_default_both_land(api, monkeypatch):
    # Given a write that loses a race: the pointer changes between its read and its write
    from intake.dal import profile_repository

    put_profile(api, "first", default=True)
    real_default_name = profile_repository._default_name
    calls = {"n": 0}

    def stale_read(tenant: str, import_type: str) -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:  # the first read sees no default yet: its write must not win
            return None
        return real_default_name(tenant, import_type)

    monkeypatch.setattr(profile_repository, "_default_name", stale_read)
    # When the second profile is made the default on that stale read
    status, second = put_profile(api, "second", default=True)
    # Then the write is retried on a fresh read, and one default remains
    assert status == 200 and second["default"] is True
    assert calls["n"] >= 2
    monkeypatch.setattr(profile_repository, "_default_name", real_default_name)
    assert _defaults(api) == {"second"}


# --- mappings and profiles on declarations --------------------------------------------------------

# A partner's export: its own headers, `;`, DD.MM.YYYY dates.
EU_CSV = (
    "Kundennummer;E-Mail;First Name;Last Name;Country;Subscription Date\n"
    "k-1;ada@example.com;Ada;Lovelace;GB;05.01.2024\n"
    "k-2;jose@example.com;Jos\u00e9;Garc\u00eda;ES;31.12.2023\n"
).encode()


def test_declare_with_an_inline_mapping_stores_it_and_the_run_uses_it(api, drain):
    file_id = declare_and_upload(api, EU_CSV, mapping=EU_MAPPING, auto_import=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["mapping"] == EU_MAPPING
    assert "profile" not in view
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == 2


def test_declare_with_a_profile_copies_its_mapping(api, drain):
    put_profile(api, "eu-crm")
    file_id = declare_and_upload(api, EU_CSV, profile="eu-crm", auto_import=True)
    # When the profile changes after the declaration
    put_profile(api, "eu-crm", mapping={"columns": {"Mail": "email"}})
    drain()
    # Then the file keeps the mapping it was declared with (a snapshot)
    view = api("GET", f"/files/{file_id}")[1]
    assert view["profile"] == "eu-crm"
    assert view["mapping"] == EU_MAPPING
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == 2


def test_a_file_without_mapping_shows_none(api):
    file_id = declare_and_upload(api, b"external_id,email\nx,x@example.com\n")
    view = api("GET", f"/files/{file_id}")[1]
    assert "mapping" not in view and "profile" not in view


def _declare(api: Any, **fields: Any) -> tuple[int, Any]:
    return api(
        "POST",
        "/files",
        body={
            "name": "eu.csv",
            "media_type": "text/csv",
            "size": len(EU_CSV),
            "import_type": "contacts",
            **fields,
        },
    )


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"mapping": EU_MAPPING, "profile": "eu-crm"}, "profile", "mapping_and_profile"),
        ({"profile": "nobody-saved-this"}, "profile", "unknown_profile"),
        (
            {"mapping": {"columns": {"Kundennummer": "customer_no"}}},
            "mapping.columns.Kundennummer",
            "unknown_field",
        ),
        (
            {"mapping": {"formats": {"first_name": {"decimal": ","}}}},
            "mapping.formats.first_name.decimal",
            "format_does_not_fit",
        ),
        ({"profile": "../eu"}, "profile", "string_pattern_mismatch"),
    ],
)
def test_a_declaration_with_a_bad_mapping_or_profile_is_422_and_stores_nothing(
    api, fields, field, code
):
    put_profile(api, "eu-crm")
    status, answer = _declare(api, **fields)
    assert status == 422, answer
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in answer["error"]["details"]
    ], answer
    assert api("GET", "/files")[1]["items"] == []


def test_another_tenants_profile_is_unknown(api):
    put_profile(api, "eu-crm", tenant="globex")
    status, answer = _declare(api, profile="eu-crm")
    assert status == 422
    assert answer["error"]["details"][0]["code"] == "unknown_profile"


def test_a_mapping_for_a_bundle_type_is_422(api):
    status, answer = api(
        "POST",
        "/files",
        body={
            "name": "event.zip",
            "media_type": "application/zip",
            "size": 100,
            "import_type": "event",
            "mapping": {"columns": {"Title": "name"}},
        },
    )
    assert status == 422
    assert answer["error"]["details"][0] == {
        "field": "mapping",
        "code": "mapping_not_supported",
        "message": answer["error"]["details"][0]["message"],
    }


def test_a_replayed_declaration_with_a_mapping_answers_the_same(api):
    body = {
        "name": "eu.csv",
        "media_type": "text/csv",
        "size": len(EU_CSV),
        "import_type": "contacts",
        "mapping": EU_MAPPING,
    }
    headers = {"Idempotency-Key": "eu-export-2024-06"}
    first = api("POST", "/files", body=body, headers=headers)
    again = api("POST", "/files", body=body, headers=headers)
    assert first[0] == again[0] == 201
    assert again[1]["file_id"] == first[1]["file_id"]
    assert len(api("GET", "/files")[1]["items"]) == 1
    # Another mapping under the same key is another request
    other = {**body, "mapping": {"columns": {"Mail": "email"}}}
    assert api("POST", "/files", body=other, headers=headers)[0] == 409


# --- mappings on import requests ------------------------------------------------------------------


def test_an_import_with_a_corrected_mapping_reruns_a_failed_file(api, drain):
    # Given a file that FAILED on a wrong mapping (its id column mapped from the wrong header)
    wrong = {**EU_MAPPING, "columns": {"Kunden-Nr": "external_id", "E-Mail": "email"}}
    file_id = declare_and_upload(api, EU_CSV, mapping=wrong, auto_import=True)
    drain()
    failed = api("GET", f"/files/{file_id}")[1]
    assert failed["status"] == "FAILED", failed
    assert failed["result"]["rows_written"] == 0

    # When it is imported again with the corrected mapping, with no new upload
    status, accepted = api("POST", f"/files/{file_id}/import", body={"mapping": EU_MAPPING})
    assert status == 202, accepted
    drain()

    # Then the run used the corrected mapping, and the file keeps it for later runs
    done = api("GET", f"/files/{file_id}")[1]
    assert done["status"] == "SUCCEEDED", done
    assert done["result"]["rows_written"] == 2
    assert done["mapping"] == EU_MAPPING
    assert api("POST", f"/files/{file_id}/import", body={"check_only": True})[0] == 202
    drain()
    again = api("GET", f"/files/{file_id}")[1]
    assert again["status"] == "VALIDATED" and again["mapping"] == EU_MAPPING


def test_an_import_with_a_profile_replaces_an_inline_mapping(api, drain):
    put_profile(api, "eu-crm")
    file_id = declare_and_upload(api, EU_CSV, mapping={"delimiter": ";"})
    drain()
    status, _ = api("POST", f"/files/{file_id}/import", body={"profile": "eu-crm"})
    assert status == 202
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert (view["profile"], view["mapping"]) == ("eu-crm", EU_MAPPING)
    # and an inline mapping afterwards replaces the profile's (the file no longer names it)
    api("POST", f"/files/{file_id}/import", body={"mapping": {"delimiter": ";"}})
    view = api("GET", f"/files/{file_id}")[1]
    assert view["mapping"] == {"delimiter": ";"} and "profile" not in view


def test_an_import_without_mapping_keeps_the_files_own(api, drain):
    put_profile(api, "eu-crm")
    file_id = declare_and_upload(api, EU_CSV, profile="eu-crm")
    drain()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    view = api("GET", f"/files/{file_id}")[1]
    assert (view["profile"], view["mapping"]) == ("eu-crm", EU_MAPPING)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"profile": "nobody-saved-this"}, "unknown_profile"),
        ({"mapping": {"columns": {"Kundennummer": "nope"}}}, "unknown_field"),
        ({"mapping": {}, "profile": "eu-crm"}, "mapping_and_profile"),
    ],
)
def test_a_bad_import_mapping_is_422_and_changes_nothing(api, drain, body, code):
    put_profile(api, "eu-crm")
    file_id = declare_and_upload(api, EU_CSV, mapping=EU_MAPPING)
    drain()
    status, answer = api("POST", f"/files/{file_id}/import", body=body)
    assert status == 422, answer
    assert answer["error"]["details"][0]["code"] == code
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "UPLOADED" and view["mapping"] == EU_MAPPING


def test_a_replayed_import_with_a_mapping_answers_the_same(api, drain):
    file_id = declare_and_upload(api, EU_CSV)
    drain()
    headers = {"Idempotency-Key": "rerun-with-mapping"}
    body = {"check_only": True, "mapping": EU_MAPPING}
    first = api("POST", f"/files/{file_id}/import", body=body, headers=headers)
    again = api("POST", f"/files/{file_id}/import", body=body, headers=headers)
    assert first == again
    assert first[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "VALIDATED"


def test_a_queue_refusal_restores_the_files_mapping(api, drain, monkeypatch):
    from intake.dal import import_queue
    from intake.errors import Unavailable

    file_id = declare_and_upload(api, EU_CSV, mapping=EU_MAPPING)
    drain()

    def refuse(message: Any) -> None:
        raise Unavailable("the import queue did not accept the request; try again")

    monkeypatch.setattr(import_queue, "send_import", refuse)
    status, _ = api("POST", f"/files/{file_id}/import", body={"mapping": {"delimiter": ","}})
    assert status == 503
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "UPLOADED" and view["mapping"] == EU_MAPPING


# --- drops ----------------------------------------------------------------------------------------


def _drop(aws: Any, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=aws.names.bucket, Key=key, Body=body)


def _only_file(api: Any) -> dict[str, Any]:
    [dropped] = api("GET", "/files")[1]["items"]
    return dict(dropped)


def test_a_drop_under_a_profiles_path_uses_that_profile(api, drain, aws):
    put_profile(api, "eu-crm")
    _drop(aws, "drop/acme/contacts/eu-crm/2024/june.csv", EU_CSV)
    drain()
    dropped = _only_file(api)
    assert dropped["status"] == "SUCCEEDED", dropped
    assert dropped["result"]["rows_written"] == 2
    assert (dropped["profile"], dropped["mapping"]) == ("eu-crm", EU_MAPPING)
    # the profile's folder is not a folder of the file
    assert (dropped["name"], dropped["folder"]) == ("june.csv", "2024")


def test_a_drop_right_under_a_profiles_folder_has_no_folder(api, drain, aws):
    put_profile(api, "eu-crm")
    _drop(aws, "drop/acme/contacts/eu-crm/june.csv", EU_CSV)
    drain()
    dropped = _only_file(api)
    assert dropped["profile"] == "eu-crm"
    assert (dropped["name"], dropped["folder"]) == ("june.csv", None)


def test_a_drop_with_no_profile_in_its_path_uses_the_default(api, drain, aws):
    put_profile(api, "other", mapping={"columns": {"Mail": "email"}})
    put_profile(api, "eu-crm", default=True)
    _drop(aws, "drop/acme/contacts/partners/june.csv", EU_CSV)
    drain()
    dropped = _only_file(api)
    assert dropped["status"] == "SUCCEEDED", dropped
    assert (dropped["profile"], dropped["folder"]) == ("eu-crm", "partners")


def test_a_drop_without_profile_or_default_is_read_as_is(api, drain, aws):
    put_profile(api, "eu-crm")  # not the default, and not in the path
    _drop(aws, "drop/acme/contacts/partners/june.csv", EU_CSV)
    drain()
    dropped = _only_file(api)
    assert "profile" not in dropped and "mapping" not in dropped
    assert dropped["status"] == "FAILED"  # its headers are not ours: nothing silent


def test_a_profile_of_another_type_or_tenant_in_the_path_is_a_folder(api, drain, aws):
    put_profile(api, "eu-crm", tenant="globex", default=True)
    _drop(aws, "drop/acme/contacts/eu-crm/june.csv", EU_CSV)
    drain()
    dropped = _only_file(api)
    assert dropped["folder"] == "eu-crm"
    assert "profile" not in dropped


def test_the_default_applies_only_to_its_tenant(api, drain, aws):
    put_profile(api, "eu-crm", tenant="globex", default=True)
    put_profile(api, "us-crm", tenant="acme", default=True, mapping={"columns": {"Mail": "email"}})
    _drop(aws, "drop/globex/contacts/june.csv", EU_CSV)
    drain()
    [dropped] = api("GET", "/files", tenant="globex")[1]["items"]
    assert dropped["profile"] == "eu-crm"
    assert dropped["status"] == "SUCCEEDED", dropped

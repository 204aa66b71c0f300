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

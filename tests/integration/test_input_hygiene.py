"""Bad input never gets stored and never breaks a later read; the OpenAPI document states every
answer. Through the real handlers, on moto (docs/http-contract.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.integration.conftest import api_event, lambda_context

DECLARE = {
    "name": "people.csv",
    "media_type": "text/csv",
    "size": 100,
    "import_type": "contacts",
    "tags": ["crm"],
    "metadata": {"source": "crm-export"},
}
HOSTILE = ["\x00", "\n", "\x1b[2J", "\x7f", "\x85", "\udbcc", "\udc00x"]
PLACES = [
    lambda t: {"name": f"a{t}.csv"},
    lambda t: {"media_type": f"text/csv;q={t}"},
    lambda t: {"import_type": f"contacts{t}"},
    lambda t: {"folder": t},
    lambda t: {"category": f"c{t}"},
    lambda t: {"tags": [t]},
    lambda t: {"metadata": {"source": t}},
    lambda t: {"metadata": {f"k{t}": "v"}},
    # "S" is a DynamoDB type tag: moto once stored {"S": ..., "x": ...} so that every later
    # read of the tenant's files failed in botocore's parser.
    lambda t: {"metadata": {"S": "v", "other": "w"}},
]


def _all_files(api: Any, tenant: str, **query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, page = api(
            "GET",
            "/files",
            tenant=tenant,
            query={**query, **({"cursor": cursor} if cursor else {})},
        )
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_hostile_text_is_refused_stored_nowhere_and_listings_still_work(api: Any) -> None:
    # Given a tenant with one good file
    tenant = "hygiene"
    status, good = api("POST", "/files", tenant=tenant, body=DECLARE)
    assert status == 201, good

    # When every text field is sent with control characters and lone surrogates
    for place in PLACES:
        for text in HOSTILE:
            status, body = api("POST", "/files", tenant=tenant, body={**DECLARE, **place(text)})
            # Then each is a 422 naming the field, and the answer is valid JSON (no raw input)
            assert status == 422, (place(text), body)
            assert body["error"]["code"] == "validation_error"
            named = {d["field"].split(".")[0] for d in body["error"]["details"]}
            assert named == set(place(text)), body
            assert not any(c in json.dumps(body) for c in "\x00\x1b\x7f")

    # And nothing was stored: the listing holds the good file only, and it (filtered, paged,
    # one by one) still reads
    files = _all_files(api, tenant)
    assert [f["file_id"] for f in files] == [good["file_id"]]
    assert files[0]["metadata"] == {"source": "crm-export"}
    assert [f["file_id"] for f in _all_files(api, tenant, import_type="contacts")] == [
        good["file_id"]
    ]
    assert _all_files(api, tenant, import_type="event", limit="1") == []
    assert api("GET", f"/files/{good['file_id']}", tenant=tenant)[0] == 200


def test_an_error_detail_never_carries_a_hostile_key_as_is(api: Any) -> None:
    key = "\x1b[31m" + "k" * 500
    status, body = api("POST", "/files", body={**DECLARE, "metadata": {key: "v"}})
    assert status == 422
    fields = [d["field"] for d in body["error"]["details"]]
    assert all("\x1b" not in f and len(f) < 200 for f in fields), fields


def test_the_largest_valid_declaration_is_taken(api: Any) -> None:
    # Every bounded field at its maximum, in 4-byte characters: the body cap never refuses
    # a declaration whose fields are all valid, whatever its escaping.
    wide = "😀"
    body = {
        **DECLARE,
        "name": wide * 255,
        "folder": wide * 128,
        "category": wide * 128,
        "tags": [wide * 64 for _ in range(20)],
        "metadata": {f"k{i:02d}" + "k" * 60: wide * 256 for i in range(20)},
    }
    raw = json.dumps(body)  # ensure_ascii: each emoji is a 12-byte surrogate-pair escape
    assert len(raw) > 80_000  # about 85 KB
    status, created = api("POST", "/files", raw_body=raw)
    assert status == 201, created
    view = api("GET", f"/files/{created['file_id']}")[1]
    assert view["metadata"] == body["metadata"] and view["name"] == body["name"]


@pytest.mark.parametrize("route", ["/files", "/files/" + "0" * 28 + "/import"])
def test_a_body_over_128_kib_is_413_before_it_is_parsed(api: Any, route: str) -> None:
    raw = '{"name": "' + "x" * (128 * 1024) + '"}'
    status, body = api("POST", route, raw_body=raw)
    assert status == 413, body
    assert body["error"]["code"] == "too_large"
    assert _all_files(api, "acme") == []


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary: Powertools raised a bare ValueError (a 500)
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
    ],
)
def test_form_and_multipart_bodies_are_415(api: Any, handlers: Any, content_type: str) -> None:
    for function, path in [("files_api", "/files"), ("imports_api", f"/files/{'0' * 28}/import")]:
        event = api_event("POST", path, body=DECLARE, headers={"Content-Type": content_type})
        response = handlers[function].lambda_handler(event, lambda_context())
        assert response["statusCode"] == 415, response
        assert json.loads(response["body"])["error"]["code"] == "unsupported_media_type"


def test_a_forged_cursor_is_400_even_with_invalid_utf16(api: Any) -> None:
    for sk in ["FILE#\udbcc", "FILE#../x", "TENANT#acme", "FILE#" + "0" * 27]:
        position = json.dumps({"sk": sk, "tenant": "acme"}).encode()
        cursor = base64.urlsafe_b64encode(position).decode().rstrip("=")
        status, body = api("GET", "/files", query={"cursor": cursor})
        assert status == 400, (sk, body)
        assert body["error"]["details"][0]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "query",
    [{"import_type": "contacts\x01"}, {"import_type": "Contacts"}, {"cursor": "a b"}],
)
def test_query_parameters_follow_their_patterns(api: Any, query: dict[str, str]) -> None:
    status, body = api("GET", "/files", query=query)
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == next(iter(query))


def test_another_method_on_a_documented_path_is_405_with_allow(handlers: Any, aws: Any) -> None:
    # API Gateway sends the paths' other methods (their 405 routes) to the catalog function
    for method, path, allowed in [
        ("PUT", "/files", "GET, POST"),
        ("DELETE", "/files/" + "0" * 28, "GET"),
        ("GET", "/files/" + "0" * 28 + "/import", "POST"),
        ("TRACE", "/import-types", "GET"),
    ]:
        response = handlers["catalog_api"].lambda_handler(api_event(method, path), lambda_context())
        assert response["statusCode"] == 405, response
        assert response["headers"]["Allow"] == allowed
        assert json.loads(response["body"])["error"]["code"] == "method_not_allowed"
    unknown = handlers["catalog_api"].lambda_handler(api_event("GET", "/nothing"), lambda_context())
    assert unknown["statusCode"] == 404


# --- the document ----------------------------------------------------------------------------

EXPECTED = {
    ("post", "/files"): {"201", "400", "401", "403", "409", "413", "415", "422", "503"},
    ("get", "/files"): {"200", "400", "401", "403", "422"},
    ("get", "/files/{file_id}"): {"200", "401", "403", "404", "422"},
    ("post", "/files/{file_id}/import"): {
        "202",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "422",
        "503",
    },
    ("get", "/files/{file_id}/upload"): {"200", "401", "403", "404", "409", "422"},
    ("delete", "/files/{file_id}/upload"): {"204", "401", "403", "404", "409", "422"},
    ("get", "/import-types"): {"200", "401", "403"},
    ("put", "/profiles/{name}"): {"200", "400", "401", "403", "413", "415", "422", "503"},
    ("get", "/profiles/{name}"): {"200", "401", "403", "404", "422"},
    ("delete", "/profiles/{name}"): {"204", "401", "403", "404", "422", "503"},
    ("get", "/profiles"): {"200", "400", "401", "403", "422"},
}


def test_the_document_lists_every_answer_of_every_route(api: Any) -> None:
    status, spec = api("GET", "/openapi.json")
    assert status == 200
    operations = {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == set(EXPECTED)
    schemas = spec["components"]["schemas"]
    for key, statuses in EXPECTED.items():
        responses = operations[key]["responses"]
        assert set(responses) == statuses, key
        for code, response in responses.items():
            if code == "204":
                assert not response.get("content"), key  # no body
                continue
            ref = response["content"]["application/json"]["schema"].get("$ref", "")
            if code == "401":
                assert ref.endswith("/GatewayMessage")
            elif code in ("403", "413"):
                assert ref.endswith("/ErrorOrGatewayMessage")
            elif code[0] == "4" or code[0] == "5":
                assert ref.endswith("/ErrorEnvelope"), (key, code)
    # Powertools' own 422 shape, which our errors never have, is gone
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    # The request schemas carry the rules the handlers enforce
    file_id = operations[("get", "/files/{file_id}")]["parameters"][0]
    assert file_id["schema"]["pattern"] == "^[0-9a-f]{28}$"
    query = {p["name"]: p["schema"] for p in operations[("get", "/files")]["parameters"]}
    assert query["limit"]["maximum"] == 100
    assert query["cursor"]["anyOf"][0]["pattern"]
    assert query["import_type"]["anyOf"][0]["pattern"]
    declaration = schemas["DeclareFileRequest"]["properties"]
    assert declaration["metadata"]["propertyNames"]["pattern"]
    assert declaration["import_type"]["anyOf"][0]["enum"] == ["contacts", "election_event", "event"]
    import_request = schemas["ImportRequest"]["properties"]
    assert import_request["import_type"]["anyOf"][0]["enum"] == [
        "contacts",
        "election_event",
        "event",
    ]
    # A file declared without a type shows its analysis
    assert "$ref" in str(schemas["FileView"]["properties"]["analysis"])
    assert "suggestions" in schemas["Analysis"]["properties"]
    # A declared file's id leads to its other operations
    links = operations[("post", "/files")]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "getFile",
        "requestImport",
        "getUpload",
        "abortUpload",
    }
    # The upload block and the result are described, not an empty schema
    assert "url" in schemas["UploadBlock"]["properties"]
    assert "rows_written" in schemas["ImportResult"]["properties"]


def test_the_document_describes_what_bundle_types_answer(api: Any) -> None:
    # A new user reads the bundle fields of a result in the document, not in the code
    schemas = api("GET", "/openapi.json")[1]["components"]["schemas"]
    result = schemas["ImportResult"]["properties"]
    for field in ("entities", "created", "skipped", "left_out", "warnings"):
        assert result[field].get("description"), field
    assert "bundle" in result["entities"]["description"].lower()
    assert "on_invalid" in result["left_out"]["description"]
    # The catalog's aliases of a bundle type are `<entity>.<field>` keys with dialect names
    assert "<entity>.<field>" in schemas["ImportTypeView"]["properties"]["aliases"]["description"]
    # A bundle re-imported is a new event with new ids, not an upsert
    duplicate_of = schemas["FileView"]["properties"]["duplicate_of"]["description"]
    assert "new ids" in duplicate_of
    # An import request left without on_invalid keeps the file's
    on_invalid = schemas["ImportRequest"]["properties"]["on_invalid"]
    assert "keeps the file's" in on_invalid["description"]
    assert {"type": "null"} in on_invalid["anyOf"]

"""The `election_event` bundle (Sequent's export) through the real flow: declare, upload,
worker, status, records table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3

from tests.integration.conftest import declare_and_upload, zip_of
from tests.integration.test_bundles import stored
from tests.unit.test_election_event import DOC, SAMPLE, SECTIONS, line_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sequent"
COLLECTIONS = ("election_event", *(f"election_event.{s}" for s in SECTIONS[1:]))
COUNTS = {"election_event": 1, **{s: len(DOC[s]) for s in SECTIONS[1:]}}


def upload(api, body: bytes, *, as_zip: bool = False, **extra: Any) -> str:
    if as_zip:
        body = zip_of({"export/export_election_event.json": body, "__MACOSX/._x.json": b"\0"})
    return declare_and_upload(
        api,
        body,
        name="export.zip" if as_zip else "export_election_event.json",
        media_type="application/zip" if as_zip else "application/json",
        import_type="election_event",
        auto_import=True,
        **extra,
    )


def nothing_written(aws) -> bool:
    return all(stored(aws, c) == [] for c in COLLECTIONS)


def test_a_sequent_export_is_imported_with_counts_equal_to_its_collections(api, drain, aws):
    file_id = upload(api, SAMPLE.encode())
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    result = view["result"]
    assert result["entities"] == COUNTS
    assert result["rows_written"] == sum(COUNTS.values())
    assert "keycloak_event_realm" in result["skipped"]
    [event] = stored(aws, "election_event")
    assert result["created"] == {"election_event": event["id"]}
    for section, count in COUNTS.items():
        name = "election_event" if section == "election_event" else f"election_event.{section}"
        rows = stored(aws, name)
        assert len(rows) == count
        assert all(r["election_event_id"] == event["id"] for r in rows)
    # references point to the new ids, never to Sequent's
    contests = {c["id"] for c in stored(aws, "election_event.contests")}
    assert {c["contest_id"] for c in stored(aws, "election_event.candidates")} <= contests
    # the realm is never written: no record, no status item (docs/decisions.md, "Never written")
    everything = [r for c in COLLECTIONS for r in stored(aws, c)]
    assert "keycloak" not in json.dumps(everything, default=str)
    assert "not-a-real-secret" not in json.dumps(everything, default=str)
    status_items = boto3.resource("dynamodb").Table(aws.names.status_table).scan()["Items"]
    assert "not-a-real-secret" not in json.dumps(status_items, default=str)
    # ...while the uploaded object, kept in the bucket until deleted, holds it as sent
    s3 = boto3.client("s3")
    uploaded = s3.get_object(Bucket=aws.names.bucket, Key=f"uploads/acme/{file_id}")
    assert b"not-a-real-secret" in uploaded["Body"].read()


def test_a_zip_holding_the_export_is_imported_too(api, drain, aws):
    file_id = upload(api, SAMPLE.encode(), as_zip=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["entities"] == COUNTS


def test_a_candidate_pointing_to_a_missing_contest_fails_and_writes_nothing(api, drain, aws):
    doc = json.loads(SAMPLE)
    doc["candidates"][1]["contest_id"] = "deadbeef-0000-4000-8000-000000000000"
    text = json.dumps(doc, indent=2)
    file_id = upload(api, text.encode())
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert [(e["file"], e["line"], e["field"], e["code"]) for e in view["errors"]] == [
        (
            "export_election_event.json",
            line_of(text, doc["candidates"][1]["name"]),
            "contest_id",
            "dangling_reference",
        )
    ]
    assert nothing_written(aws)


def test_a_cycle_in_the_areas_fails(api, drain, aws):
    doc = json.loads(SAMPLE)
    doc["areas"][1]["parent_id"] = doc["areas"][2]["id"]  # root -> south -> root
    file_id = upload(api, json.dumps(doc, indent=2).encode())
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert {(e["field"], e["code"]) for e in view["errors"]} == {("parent_id", "reference_cycle")}
    assert nothing_written(aws)


def test_check_only_validates_and_writes_nothing(api, drain, aws):
    file_id = upload(api, SAMPLE.encode(), check_only=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_total"] == sum(COUNTS.values())
    assert view["result"]["rows_written"] == 0
    assert nothing_written(aws)


def test_a_zip_must_hold_exactly_one_json_document(api, drain, aws):
    body = SAMPLE.encode()
    two = declare_and_upload(
        api,
        zip_of({"a.json": body, "b.json": body}),
        name="two.zip",
        media_type="application/zip",
        import_type="election_event",
        auto_import=True,
    )
    none = declare_and_upload(
        api,
        zip_of({"readme.txt": b"hello"}),
        name="none.zip",
        media_type="application/zip",
        import_type="election_event",
        auto_import=True,
    )
    drain()
    assert [(e["file"], e["code"]) for e in api("GET", f"/files/{two}")[1]["errors"]] == [
        ("b.json", "unsupported_member")
    ]
    assert [(e["file"], e["code"]) for e in api("GET", f"/files/{none}")[1]["errors"]] == [
        (None, "missing_member")
    ]
    assert nothing_written(aws)


# Sequent's own sample export (an excerpt: see tests/fixtures/sequent/README.md), one line of
# JSON as Sequent writes it, with its realm, tenant_id and extra sections.
REAL_PATH = FIXTURES / "export_election_event-0c260d25.excerpt.json"
REAL = REAL_PATH.read_bytes()
REAL_DOC = json.loads(REAL)
REAL_COUNTS = {
    "election_event": 1,
    **{s: len(REAL_DOC[s]) for s in SECTIONS[1:]},
}


def realm_markers() -> list[str]:
    """Values only the realm holds: none may appear in anything stored."""
    realm = REAL_DOC["keycloak_event_realm"]
    return [
        realm["accountTheme"],
        *(flow["id"] for flow in realm["authenticationFlows"]),
        *(flow["alias"] for flow in realm["authenticationFlows"]),
    ]


def assert_imported_like_the_export(aws, view: dict[str, Any]) -> None:
    assert view["status"] == "SUCCEEDED", view
    result = view["result"]
    assert result["entities"] == REAL_COUNTS
    assert result["rows_written"] == sum(REAL_COUNTS.values())
    assert set(result["skipped"]) >= {"keycloak_event_realm", "scheduled_events", "reports"}
    [event] = stored(aws, "election_event")
    assert event["source_id"] == REAL_DOC["election_event"]["id"]
    for section, count in REAL_COUNTS.items():
        name = "election_event" if section == "election_event" else f"election_event.{section}"
        assert len(stored(aws, name)) == count
    # Sequent's tenant is not the uploader's, and the realm is stored nowhere
    everything = json.dumps([r for c in COLLECTIONS for r in stored(aws, c)], default=str)
    assert REAL_DOC["tenant_id"] not in everything
    assert "keycloak" not in everything
    assert [m for m in realm_markers() if m in everything] == []


def test_sequents_real_export_validates_with_check_only(api, drain, aws):
    file_id = upload(api, REAL, check_only=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["errors"] == []
    assert view["result"]["rows_total"] == sum(REAL_COUNTS.values())
    assert "keycloak_event_realm" in view["result"]["skipped"]
    assert nothing_written(aws)


def test_sequents_real_export_is_imported_with_counts_equal_to_its_collections(api, drain, aws):
    file_id = upload(api, REAL)
    drain()
    assert_imported_like_the_export(aws, api("GET", f"/files/{file_id}")[1])


def test_sequents_real_export_gzipped_is_imported_the_same(api, drain, aws):
    file_id = declare_and_upload(
        api,
        gzip.compress(REAL, mtime=0),
        name=f"{REAL_PATH.name}.gz",
        media_type="application/json",
        import_type="election_event",
        auto_import=True,
    )
    drain()
    assert_imported_like_the_export(aws, api("GET", f"/files/{file_id}")[1])


def test_a_gzipped_export_cut_short_fails_as_a_corrupt_gzip(api, drain, aws):
    file_id = declare_and_upload(
        api,
        gzip.compress(REAL, mtime=0)[:-200],
        name=f"{REAL_PATH.name}.gz",
        media_type="application/json",
        import_type="election_event",
        auto_import=True,
    )
    assert drain()["failures"] == []  # a file error, not an attempt to retry
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert [e["code"] for e in view["errors"]] == ["corrupt_gzip"]
    assert view["reason"] == "the gzip stream ends before its end marker: the file was cut short"


def test_a_real_export_whose_candidate_points_to_a_missing_contest_fails_at_its_line(
    api, drain, aws
):
    # Given Sequent's export with one candidate's contest_id changed in place (same layout)
    victim = REAL_DOC["candidates"][3]
    text = REAL.decode()
    start = text.index(f'{{"id": "{victim["id"]}"')
    cut = text.index(victim["contest_id"], start)
    missing = "deadbeef-0000-4000-8000-000000000000"
    broken = (text[:cut] + missing + text[cut + len(missing) :]).encode()
    file_id = upload(api, broken)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    # Then the one error names the candidate where it starts in the document, and contest_id
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    assert [
        (e["file"], e["line"], e.get("column"), e["field"], e["code"]) for e in view["errors"]
    ] == [("export_election_event.json", line, column, "contest_id", "dangling_reference")]
    assert nothing_written(aws)


def test_a_record_over_dynamodbs_item_limit_keeps_its_big_attributes_in_the_bucket(api, drain, aws):
    # Given Sequent's real event record with its logo embedded as base64 in `presentation`,
    # as the full export has it (about 650 KB: over DynamoDB's 400 KB item limit)
    doc = json.loads(REAL)
    logo = "data:image/png;base64," + "iVBORw0KGgo" * 60_000
    doc["election_event"]["presentation"]["logo_url"] = logo
    file_id = upload(api, json.dumps(doc).encode())
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    # Then it is imported, the item names the object holding what did not fit, and the
    # object holds it exactly
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["entities"] == REAL_COUNTS
    [event] = stored(aws, "election_event")
    overflow = event["overflow"]
    assert overflow["fields"] == ["presentation"] and "presentation" not in event
    assert overflow["key"].startswith(f"records/acme/election_event/{event['id']}")
    body = boto3.client("s3").get_object(Bucket=aws.names.bucket, Key=overflow["key"])
    moved = json.loads(body["Body"].read())
    assert moved["presentation"]["logo_url"] == logo
    assert moved["presentation"] == json.loads(json.dumps(doc["election_event"]["presentation"]))
    # the small attributes stay in the item
    assert event["source_id"] == doc["election_event"]["id"]

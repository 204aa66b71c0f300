"""The `election_event` bundle (Sequent's export) through the real flow: declare, upload,
worker, status, records table."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import declare_and_upload, zip_of
from tests.integration.test_bundles import stored
from tests.unit.test_election_event import DOC, SAMPLE, SECTIONS, line_of

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
    # the realm is never stored, anywhere
    everything = [r for c in COLLECTIONS for r in stored(aws, c)]
    assert "keycloak" not in json.dumps(everything, default=str)
    assert "not-a-real-secret" not in json.dumps(everything, default=str)


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

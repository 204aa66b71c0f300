"""The `event` bundle through the real flow: declare, upload, worker, status, records table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest
import requests

from tests.integration.conftest import declare_and_upload, zip_of
from tests.unit.test_event_bundle import GOOD

ENTITIES = ("event", "event.tracks", "event.speakers", "event.sessions")


def bundle(texts: Mapping[str, str | bytes], **options: Any) -> bytes:
    return zip_of(texts, **options)


def upload_bundle(api, body: bytes, **extra: Any) -> str:
    return declare_and_upload(
        api,
        body,
        name="pycon.zip",
        media_type="application/zip",
        import_type="event",
        auto_import=True,
        **extra,
    )


def stored(aws, collection: str, tenant: str = "acme") -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    return table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"{tenant}#{collection}"}
    )["Items"]


def nothing_written(aws) -> bool:
    return all(stored(aws, c) == [] for c in ENTITIES)


def test_a_good_bundle_is_imported_with_new_ids_and_remapped_references(api, drain, aws):
    file_id = upload_bundle(api, bundle(GOOD))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["errors"] == []
    assert view["result"]["rows_total"] == 8
    assert view["result"]["rows_written"] == 8

    [event] = stored(aws, "event")
    tracks = {t["source_id"]: t for t in stored(aws, "event.tracks")}
    speakers = {s["source_id"]: s for s in stored(aws, "event.speakers")}
    sessions = {s["source_id"]: s for s in stored(aws, "event.sessions")}
    assert (event["source_id"], len(tracks), len(speakers), len(sessions)) == ("ev-1", 2, 2, 3)
    # every entity has a new id (its key) and belongs to the new event
    new_ids = {event["id"]} | {
        r["id"] for group in (tracks, speakers, sessions) for r in group.values()
    }
    assert len(new_ids) == 8
    assert not new_ids & {"ev-1", "t1", "t2", "1", "2", "s1", "s2", "s3"}
    for group in (tracks, speakers, sessions):
        for item in group.values():
            assert item["sk"] == item["id"]
            assert item["event_id"] == event["id"]
            assert item["file_id"] == file_id
    keynote = sessions["s1"]
    assert keynote["track_id"] == tracks["t1"]["id"]
    assert keynote["speaker_ids"] == [speakers["1"]["id"], speakers["2"]["id"]]
    assert keynote["starts_at"] == "2026-05-04T09:30:00+02:00"
    assert "track_id" not in sessions["s3"]


def test_the_result_reports_the_new_event_and_a_count_per_entity(api, drain, aws):
    file_id = upload_bundle(api, bundle(GOOD))
    drain()
    result = api("GET", f"/files/{file_id}")[1]["result"]
    [event] = stored(aws, "event")
    assert result["created"] == {"event": event["id"]}
    assert result["entities"] == {"event": 1, "tracks": 2, "speakers": 2, "sessions": 3}


def test_reimporting_the_same_bundle_creates_a_new_event(api, drain, aws):
    file_id = upload_bundle(api, bundle(GOOD))
    drain()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"
    events = stored(aws, "event")
    assert len(events) == 2 and len({e["id"] for e in events}) == 2
    assert len(stored(aws, "event.sessions")) == 6


def test_check_only_validates_and_writes_nothing(api, drain, aws):
    file_id = upload_bundle(api, bundle(GOOD), check_only=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "VALIDATED", view
    assert view["result"]["rows_total"] == 8 and view["result"]["rows_written"] == 0
    assert nothing_written(aws)


def test_a_dangling_reference_fails_the_bundle_and_writes_nothing(api, drain, aws):
    sessions = GOOD["sessions.json"].replace('"track_id": "t2"', '"track_id": "t9"')
    file_id = upload_bundle(api, bundle({**GOOD, "sessions.json": sessions}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert view["errors"] == [
        {
            "file": "sessions.json",
            "line": 4,
            "column": None,
            "field": "track_id",
            "code": "dangling_reference",
            "message": "'t9' is not an id in tracks.json",
        }
    ]
    assert view["result"]["rows_invalid"] == 1 and view["result"]["rows_written"] == 0
    report = requests.get(view["error_report_url"], timeout=10).text.splitlines()
    assert (
        report[1]
        == "sessions.json,4,,track_id,dangling_reference,'t9' is not an id in tracks.json,error"
    )
    assert nothing_written(aws)


def test_skip_imports_the_rest_and_reports_what_was_left_out_and_dropped(api, drain, aws):
    # Given a speaker with a broken e-mail, named by two sessions, and a session outside the
    # event's window
    speakers = GOOD["speakers.json"].replace("alan@example.com", "alan at example")
    sessions = GOOD["sessions.json"].replace("2026-05-05T07:00:00Z", "2026-05-01T07:00:00Z")
    body = bundle({**GOOD, "speakers.json": speakers, "sessions.json": sessions})
    # When it is imported with on_invalid=skip
    file_id = upload_bundle(api, body, on_invalid="skip")
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    # Then the rest is imported, and every left-out record and dropped reference is reported
    assert view["status"] == "SUCCEEDED", view
    result = view["result"]
    assert result["entities"] == {"event": 1, "tracks": 2, "speakers": 1, "sessions": 3}
    assert result["left_out"] == {"event": 0, "tracks": 0, "speakers": 1, "sessions": 0}
    assert (result["rows_total"], result["rows_invalid"], result["rows_written"]) == (8, 1, 7)
    assert result["warnings"] == 3
    assert [(e["file"], e["line"], e["field"], e["code"]) for e in view["errors"]] == [
        ("speakers.json", 3, "email", "invalid_email")
    ]
    assert [(w["file"], w["line"], w["field"], w["code"]) for w in view["warnings"]] == [
        ("sessions.json", 2, "speaker_ids.1", "reference_dropped"),
        ("sessions.json", 4, "starts_at", "outside_event"),
        ("sessions.json", 4, "speaker_ids.0", "reference_dropped"),
    ]
    report = requests.get(view["error_report_url"], timeout=10).text.splitlines()
    assert [line.rsplit(",", 1)[1] for line in report[1:]] == ["error"] + ["warning"] * 3
    speakers_by_source = {s["source_id"]: s["id"] for s in stored(aws, "event.speakers")}
    assert set(speakers_by_source) == {"1"}
    keynote = next(s for s in stored(aws, "event.sessions") if s["source_id"] == "s1")
    assert keynote["speaker_ids"] == [speakers_by_source["1"]]


def test_skip_with_an_invalid_event_fails_and_writes_nothing(api, drain, aws):
    event = GOOD["event.json"].replace('"name": "PyCon Sample"', '"name": ""')
    file_id = upload_bundle(api, bundle({**GOOD, "event.json": event}), on_invalid="skip")
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert view["reason"] == "the event record is invalid, so nothing of the bundle is imported"
    assert [(e["file"], e["field"], e["code"]) for e in view["errors"]] == [
        ("event.json", "name", "required")
    ]
    assert nothing_written(aws)


def test_a_zip_bomb_fails_with_its_code_and_writes_nothing(api, drain, aws):
    # 20 MB of spaces, about 20 KB zipped
    bomb: dict[str, str | bytes] = {**GOOD, "sessions.json": b" " * (20 * 1024 * 1024)}
    file_id = upload_bundle(api, bundle(bomb))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert [(e["file"], e["code"]) for e in view["errors"]] == [
        ("sessions.json", "compression_ratio_exceeded")
    ]
    assert "100:1" in view["reason"]
    assert nothing_written(aws)


def test_an_archive_inside_an_export_is_skipped_never_opened(api, drain, aws):
    # FOSSASIA11's export holds a copy of itself, FOSSASIA11.zip
    file_id = upload_bundle(api, bundle({**GOOD, "extra/photos.zip": b"PK\x03\x04" + b"\0" * 40}))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["skipped"] == ["extra/photos.zip"]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (
            {k: v for k, v in GOOD.items() if k != "speakers.json"},
            ("speakers.json", "missing_member"),
        ),
        ({**GOOD, "../event.json": "{}"}, ("../event.json", "unsafe_member_name")),
        ({**GOOD, "README.md": "hello"}, ("README.md", "unsupported_member")),
    ],
)
def test_bundle_level_problems_fail_the_run(api, drain, aws, texts, expected):
    file_id = upload_bundle(api, bundle(texts))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED", view
    assert [(e["file"], e["code"]) for e in view["errors"]] == [expected]
    assert view["reason"]
    assert nothing_written(aws)


def test_a_dropped_bundle_in_a_folder_is_imported(api, drain, aws):
    body = bundle({f"pycon-2026/{name}": text for name, text in GOOD.items()})
    boto3.client("s3").put_object(
        Bucket=aws.names.bucket, Key="drop/acme/event/conferences/pycon.zip", Body=body
    )
    drain()
    [dropped] = api("GET", "/files")[1]["items"]
    assert dropped["media_type"] == "application/zip"
    assert dropped["status"] == "SUCCEEDED", dropped
    assert len(stored(aws, "event.sessions")) == 3


def test_bytes_that_are_not_a_zip_are_rejected_at_upload(api, drain, aws):
    file_id = upload_bundle(api, b'{"id": "ev-1"}')
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "REJECTED"
    assert view["reason"] == "the content is not a ZIP archive"

"""Open Event exports through the real flow: both dialects import with one stored item per
record, references remapped to the new ids, and what was skipped listed in the result."""

from __future__ import annotations

from typing import Any

from tests.integration.test_bundles import stored, upload_bundle
from tests.unit.test_open_event_exports import (
    DASHERIZED,
    DASHERIZED_COUNTS,
    DASHERIZED_SKIPPED,
    SNAKE_CASE,
    SNAKE_COUNTS,
    SNAKE_SKIPPED,
    zipped,
)


def imported(api, drain, texts: dict[str, str | bytes]) -> dict[str, Any]:
    file_id = upload_bundle(api, zipped(texts))
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["errors"] == []
    return view["result"]


def by_source(aws, entity: str) -> dict[str, dict[str, Any]]:
    collection = "event" if entity == "event" else f"event.{entity}"
    return {item["source_id"]: item for item in stored(aws, collection)}


def test_a_dasherized_export_with_media_imports_every_record(api, drain, aws):
    result = imported(api, drain, DASHERIZED)
    assert result["entities"] == DASHERIZED_COUNTS
    assert result["rows_written"] == sum(DASHERIZED_COUNTS.values())
    assert result["skipped"] == DASHERIZED_SKIPPED
    for entity, count in DASHERIZED_COUNTS.items():
        assert len(by_source(aws, entity)) == count, entity
    tracks, rooms, kinds, speakers = (
        by_source(aws, e) for e in ("tracks", "microlocations", "session_types", "speakers")
    )
    keynote = by_source(aws, "sessions")["3"]
    assert keynote["track_id"] == tracks["2"]["id"]
    assert keynote["microlocation_id"] == rooms["2"]["id"]
    assert keynote["session_type_id"] == kinds["11"]["id"]
    assert keynote["speaker_ids"] == [speakers["2"]["id"]]
    assert "email" not in speakers["2"]  # "" in the export: absent, not stored
    [sponsor] = by_source(aws, "sponsors").values()
    assert sponsor["event_id"] == by_source(aws, "event")["182"]["id"]


def test_a_snake_case_export_with_flat_references_imports_every_record(api, drain, aws):
    result = imported(api, drain, SNAKE_CASE)
    assert result["entities"] == SNAKE_COUNTS
    assert result["skipped"] == SNAKE_SKIPPED
    opening = by_source(aws, "sessions")["30"]
    speakers = by_source(aws, "speakers")
    assert opening["speaker_ids"] == [speakers["20"]["id"], speakers["21"]["id"]]
    assert opening["microlocation_id"] == by_source(aws, "microlocations")["5"]["id"]
    assert "session_type_id" not in opening

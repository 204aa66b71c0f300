"""Open Event exports as FOSSASIA's systems write them (shaped like the exports in
fossasia/open-event's sample/ folder, e.g. Droidcon17): members without `.json` in a top
folder, media folders, dasherized and snake_case names, nested and flat references, "" for
every optional value left blank."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from intake.import_types.event import EVENT
from intake.ingest.archive import Archive
from intake.logic.bundles import bundle_limits, match_members, skipped_entries


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


# --- a dasherized export with nested references, zipped as one folder with its media -------

DASHERIZED_EVENT = {
    "id": 182,
    "name": "Droidcon Sample",
    "starts-at": "2017-04-10T09:00:00-07:00",
    "ends-at": "2017-04-11T18:00:00-07:00",
    "timezone": "America/Los_Angeles",
    "logo": "/images/logo.jpg",
    "email": "",
    "code-of-conduct": "",
}
DASHERIZED_TRACKS = [
    {"id": 1, "name": "General", "color": "#BF532E", "font-color": ""},
    {"id": 2, "name": "Keynote", "color": "#E8782C", "font-color": ""},
]
DASHERIZED_MICROLOCATIONS = [
    {"id": 1, "name": "Theatre 1", "floor": 0, "room": ""},
    {"id": 2, "name": "Theatre 2", "floor": 0, "room": ""},
]
DASHERIZED_SESSION_TYPES = [
    {"id": 1, "name": "1 hour session", "length": "01.00"},
    {"id": 11, "name": "45 Minutes session", "length": "00.45"},
]
DASHERIZED_SPEAKERS = [
    {
        "id": 2,
        "name": "Annyce Davis",
        "email": "",
        "organisation": "",
        "photo-url": "/images/speakers/ad.png",
        "short-biography": "Android GDE.",
        "is-featured": True,
    },
    {"id": 3, "name": "Nitya Narasimhan", "email": "", "organisation": "Facebook"},
]
DASHERIZED_SPONSORS = [
    {"id": 1, "name": "Firebase", "url": "", "level": 1, "type": "Gold", "logo": ""},
]
DASHERIZED_SESSIONS = [
    {
        "id": 2,
        "title": "Registration",
        "subtitle": "",
        "starts-at": "2017-04-10T09:00:00-07:00",
        "ends-at": "2017-04-10T10:00:00-07:00",
        "session-type": {"id": 1, "name": "1 hour session", "length": "01.00"},
        "track": {"id": 1, "name": "General", "color": "#BF532E"},
        "speakers": [],
        "microlocation": {"id": 1, "name": "Theatre 1"},
        "slides": "",
    },
    {
        "id": 3,
        "title": "First, Do No Harm",
        "starts-at": "2017-04-10T10:15:00-07:00",
        "ends-at": "2017-04-10T11:00:00-07:00",
        "session-type": {"id": 11, "name": "45 Minutes session"},
        "track": {"id": 2, "name": "Keynote", "color": "#E8782C"},
        "speakers": [{"id": 2, "name": "Annyce Davis", "organisation": ""}],
        "microlocation": {"id": 2, "name": "Theatre 2"},
    },
    {
        "id": 4,
        "title": "Firebase Analytics",
        "starts-at": "2017-04-10T11:00:00-07:00",
        "ends-at": "2017-04-10T12:00:00-07:00",
        "track": {"id": 1, "name": "General"},
        "speakers": [{"id": 2, "name": "Annyce Davis"}, {"id": 3, "name": "Nitya"}],
        "microlocation": None,
    },
]
DASHERIZED: dict[str, str | bytes] = {
    "droidcon/": b"",
    "droidcon/event": _dump(DASHERIZED_EVENT),
    "droidcon/tracks": _dump(DASHERIZED_TRACKS),
    "droidcon/microlocations": _dump(DASHERIZED_MICROLOCATIONS),
    "droidcon/session_types": _dump(DASHERIZED_SESSION_TYPES),
    "droidcon/speakers": _dump(DASHERIZED_SPEAKERS),
    "droidcon/sponsors": _dump(DASHERIZED_SPONSORS),
    "droidcon/sessions": _dump(DASHERIZED_SESSIONS),
    "droidcon/forms": '{"speaker": {}, "session": {}}',
    "droidcon/config.json": '{"Api_Link": ""}',
    "droidcon/images/logo.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
    "droidcon/images/speakers/ad.png": b"\x89PNG not really a png",
    "droidcon/audio/keynote.mp3": b"ID3",
    "__MACOSX/droidcon/._event": b"\x00\x05\x16\x07",
}
DASHERIZED_COUNTS = {
    "event": 1,
    "tracks": 2,
    "microlocations": 2,
    "session_types": 2,
    "speakers": 2,
    "sponsors": 1,
    "sessions": 3,
}
DASHERIZED_SKIPPED = [
    "droidcon/forms",
    "droidcon/config.json",
    "droidcon/images/",
    "droidcon/audio/",
    "__MACOSX/",
]

# --- a snake_case export with flat references, members named .json, no folder --------------

SNAKE_EVENT = {
    "id": "7d16c124",
    "name": "F8 Sample",
    "start_time": "2017-04-18T10:00:00-06:00",
    "end_time": "2017-04-19T17:00:00-06:00",
    "timezone": "US/Mountain",
    "latitude": "",
}
SNAKE_TRACKS = [{"id": 10, "name": "Platform", "color": ""}]
SNAKE_MICROLOCATIONS = [{"id": 5, "name": "Hall A", "room": ""}]
SNAKE_SPEAKERS = [
    {"id": 20, "name": "Adam", "email": "adam@example.com", "organisation": ""},
    {"id": 21, "name": "Aileen", "email": "", "short_biography": ""},
]
SNAKE_SESSIONS = [
    {
        "id": 30,
        "title": "Opening",
        "start_time": "2017-04-18T10:00:00-06:00",
        "end_time": "2017-04-18T11:00:00-06:00",
        "track_id": 10,
        "microlocation_id": 5,
        "speaker_ids": [20, 21],
        "session_type_id": "",
    },
    {
        "id": 31,
        "title": "Messenger",
        "start_time": "2017-04-18T11:00:00-06:00",
        "end_time": "2017-04-18T12:00:00-06:00",
        "track_id": "",
        "speaker_ids": [21],
    },
]
# the older server export's name for a sponsor's type
SNAKE_SPONSORS = [{"id": 40, "name": "Oculus", "sponsor_type": "Gold", "url": "", "logo": ""}]
SNAKE_CASE: dict[str, str | bytes] = {
    "event.json": _dump(SNAKE_EVENT),
    "tracks.json": _dump(SNAKE_TRACKS),
    "microlocations.json": _dump(SNAKE_MICROLOCATIONS),
    "speakers.json": _dump(SNAKE_SPEAKERS),
    "sponsors.json": _dump(SNAKE_SPONSORS),
    "sessions.json": _dump(SNAKE_SESSIONS),
    "meta.json": "{}",
    "audios/session_30.mp3": b"ID3",
}
SNAKE_COUNTS = {
    "event": 1, "tracks": 1, "microlocations": 1, "speakers": 2, "sponsors": 1, "sessions": 2
}  # fmt: skip
SNAKE_SKIPPED = ["meta.json", "audios/"]


def zipped(texts: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in texts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def opened(texts: dict[str, str | bytes]) -> Archive:
    return Archive(io.BytesIO(zipped(texts)), bundle_limits(EVENT))


def test_a_dasherized_export_in_a_folder_with_media_is_read_whole() -> None:
    archive = opened(DASHERIZED)
    errors, members = match_members(archive, EVENT)
    assert errors == []
    assert members["sessions.json"].name == "droidcon/sessions"
    assert skipped_entries(EVENT, archive.skipped) == DASHERIZED_SKIPPED
    check = EVENT.check_bundle(members)
    assert check.errors == []
    assert {k: len(v) for k, v in check.valid.items()} == DASHERIZED_COUNTS
    keynote = check.valid["sessions"][1]
    assert (keynote["track_id"], keynote["speaker_ids"]) == ("2", ["2"])
    assert (keynote["microlocation_id"], keynote["session_type_id"]) == ("2", "11")
    assert keynote["starts_at"].isoformat() == "2017-04-10T10:15:00-07:00"
    # "" is absent: no invalid_email for a speaker whose e-mail was left blank
    assert "email" not in check.valid["speakers"][0]
    assert check.valid["sessions"][2].get("microlocation_id") is None  # null: no room


def test_a_snake_case_export_with_flat_references_is_read_whole() -> None:
    archive = opened(SNAKE_CASE)
    errors, members = match_members(archive, EVENT)
    assert errors == []
    assert skipped_entries(EVENT, archive.skipped) == SNAKE_SKIPPED
    check = EVENT.check_bundle(members)
    assert check.errors == []
    assert {k: len(v) for k, v in check.valid.items()} == SNAKE_COUNTS
    assert check.valid["sponsors"][0]["type"] == "Gold"
    opening, messenger = check.valid["sessions"]
    assert opening["speaker_ids"] == ["20", "21"] and opening["microlocation_id"] == "5"
    assert "session_type_id" not in opening and "track_id" not in messenger


def test_errors_name_the_field_as_the_export_spells_it() -> None:
    sessions = json.loads(json.dumps(DASHERIZED_SESSIONS))
    sessions[1]["starts-at"] = "soon"
    sessions[1]["track"] = {"id": 9, "name": "Gone"}
    sessions[2]["speakers"][1]["id"] = 99
    sessions[2]["microlocation"] = {"id": 7}
    archive = opened({**DASHERIZED, "droidcon/sessions": _dump(sessions)})
    _, members = match_members(archive, EVENT)
    check = EVENT.check_bundle(members)
    located = [(e.file, e.field, e.code) for e in check.errors]
    assert located == [
        ("droidcon/sessions", "starts-at", "invalid_datetime"),
        ("droidcon/sessions", "track", "dangling_reference"),
        ("droidcon/sessions", "speakers.1", "dangling_reference"),
        ("droidcon/sessions", "microlocation", "dangling_reference"),
    ]
    assert check.errors[1].message == "'9' is not an id in droidcon/tracks"


def test_an_empty_required_string_is_missing() -> None:
    speakers = [{**DASHERIZED_SPEAKERS[0], "name": "  "}, DASHERIZED_SPEAKERS[1]]
    archive = opened({**DASHERIZED, "droidcon/speakers": _dump(speakers)})
    check = EVENT.check_bundle(match_members(archive, EVENT)[1])
    assert [(e.file, e.field, e.code) for e in check.errors] == [
        ("droidcon/speakers", "name", "required")
    ]


def test_media_do_not_count_against_the_member_limit() -> None:
    photos = {f"droidcon/images/speakers/{i}.jpg": b"jpeg" for i in range(190)}
    archive = opened({**DASHERIZED, **photos})
    assert EVENT.name == "event" and bundle_limits(EVENT).max_members == 100
    errors, members = match_members(archive, EVENT)
    assert errors == [] and len(members) == 7
    assert "droidcon/images/" in skipped_entries(EVENT, archive.skipped)


def test_a_member_given_twice_is_an_error() -> None:
    archive = opened({**SNAKE_CASE, "sessions": _dump(SNAKE_SESSIONS)})
    errors, _ = match_members(archive, EVENT)
    assert [(e.file, e.code) for e in errors] == [("sessions", "duplicate_member")]


def test_other_unknown_members_are_still_refused() -> None:
    archive = opened({**SNAKE_CASE, "notes.txt": "hello"})
    errors, _ = match_members(archive, EVENT)
    assert [(e.file, e.code) for e in errors] == [("notes.txt", "unsupported_member")]

"""The `event` bundle: every check with its exact member/line/field/code, and the remapping."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import pytest

from intake.import_types import get_import_type
from intake.import_types.bundle import BundleCheck, Member
from intake.import_types.event import EVENT
from intake.import_types.json_sources import parse_json_member
from intake.ingest.archive import Archive, ArchiveLimits
from intake.logic.bundles import match_members

EVENT_JSON = """{
  "id": "ev-1",
  "name": "PyCon Sample",
  "starts_at": "2026-05-04T09:00:00+02:00",
  "ends_at": "2026-05-06T18:00:00+02:00",
  "timezone": "Europe/Paris"
}
"""
TRACKS_JSON = """[
  {"id": "t1", "name": "Main hall", "color": "#1E90FF"},
  {"id": "t2", "name": "Workshops", "color": "#ffaa00"}
]
"""
SPEAKERS_JSON = """[
  {"id": 1, "name": "Ada", "email": "ada@example.com", "organisation": "AE", "twitter": "@ada"},
  {"id": 2, "name": "Alan", "email": "alan@example.com"}
]
"""
SESSIONS_JSON = """[
  {"id": "s1", "title": "Keynote", "track_id": "t1", "speaker_ids": [1, 2],
   "starts_at": "2026-05-04T09:30:00+02:00", "ends_at": "2026-05-04T10:30:00+02:00"},
  {"id": "s2", "title": "Workshop", "track_id": "t2", "speaker_ids": [2],
   "starts_at": "2026-05-05T07:00:00Z", "ends_at": "2026-05-05T09:00:00Z"},
  {"id": "s3", "title": "Lightning talks",
   "starts_at": "2026-05-06T16:00:00+02:00", "ends_at": "2026-05-06T17:00:00+02:00"}
]
"""
GOOD = {
    "event.json": EVENT_JSON,
    "tracks.json": TRACKS_JSON,
    "speakers.json": SPEAKERS_JSON,
    "sessions.json": SESSIONS_JSON,
}


def members(texts: Mapping[str, str | bytes]) -> dict[str, Member]:
    def reader(value: str | bytes) -> Any:
        return lambda: value.encode() if isinstance(value, str) else value

    return {name: Member(name, reader(text)) for name, text in texts.items()}


def check(**replacements: tuple[str, str]) -> BundleCheck:
    """The good bundle with `old -> new` replaced in the named member (dots as underscores)."""
    texts: dict[str, str | bytes] = dict(GOOD)
    for member, (old, new) in replacements.items():
        name = member.replace("_", ".")
        assert old in texts[name], f"{old!r} not in {name}"
        texts[name] = str(texts[name]).replace(old, new)
    return EVENT.check_bundle(members(texts))


def located(result: BundleCheck) -> list[tuple[str | None, int | None, str | None, str]]:
    return [(e.file, e.line, e.field, e.code) for e in result.errors]


def test_event_is_registered_as_a_zip_bundle() -> None:
    event = get_import_type("event")
    assert event is EVENT
    assert event.media_types == ("application/zip",)
    assert set(event.json_schema["properties"]) == {
        "event", "tracks", "speakers", "sessions", "microlocations", "session_types", "sponsors"
    }  # fmt: skip
    assert set(event.json_schema["required"]) == {"event", "tracks", "speakers", "sessions"}


def test_a_good_bundle_has_no_errors() -> None:
    result = EVENT.check_bundle(members(GOOD))
    assert result.errors == []
    assert (result.records_total, result.records_invalid) == (8, 0)
    assert {k: len(v) for k, v in result.valid.items()} == {
        "event": 1,
        "tracks": 2,
        "speakers": 2,
        "sessions": 3,
    }


def test_plan_gives_new_ids_and_remaps_every_reference() -> None:
    result = EVENT.check_bundle(members(GOOD))
    writes = EVENT.plan(result, lambda entity, source: f"new-{entity}-{source}")
    assert [w.entity for w in writes] == ["event", "tracks", "speakers", "sessions"]
    by_entity = {w.entity: dict(w.items) for w in writes}
    assert by_entity["event"] == {
        "new-event-ev-1": {
            "id": "new-event-ev-1",
            "source_id": "ev-1",
            "event_id": "new-event-ev-1",
            "name": "PyCon Sample",
            "starts_at": "2026-05-04T09:00:00+02:00",
            "ends_at": "2026-05-06T18:00:00+02:00",
            "timezone": "Europe/Paris",
        }
    }
    assert by_entity["tracks"]["new-tracks-t2"] == {
        "id": "new-tracks-t2",
        "source_id": "t2",
        "event_id": "new-event-ev-1",
        "name": "Workshops",
        "color": "#ffaa00",
    }
    # numeric ids become text; fields the type does not check are stored as written
    assert by_entity["speakers"]["new-speakers-1"] == {
        "twitter": "@ada",
        "id": "new-speakers-1",
        "source_id": "1",
        "event_id": "new-event-ev-1",
        "name": "Ada",
        "email": "ada@example.com",
        "organisation": "AE",
    }
    sessions = by_entity["sessions"]
    assert sessions["new-sessions-s1"] == {
        "id": "new-sessions-s1",
        "source_id": "s1",
        "event_id": "new-event-ev-1",
        "title": "Keynote",
        "track_id": "new-tracks-t1",
        "speaker_ids": ["new-speakers-1", "new-speakers-2"],
        "starts_at": "2026-05-04T09:30:00+02:00",
        "ends_at": "2026-05-04T10:30:00+02:00",
    }
    assert sessions["new-sessions-s2"]["starts_at"] == "2026-05-05T07:00:00+00:00"
    assert "track_id" not in sessions["new-sessions-s3"]
    assert sessions["new-sessions-s3"]["speaker_ids"] == []


# --- cross-checks -------------------------------------------------------------------------


def test_dangling_track_reference() -> None:
    result = check(sessions_json=('"track_id": "t2"', '"track_id": "t9"'))
    assert located(result) == [("sessions.json", 4, "track_id", "dangling_reference")]
    assert result.errors[0].message == "'t9' is not an id in tracks.json"
    assert result.records_invalid == 1


def test_dangling_speaker_reference_names_the_list_position() -> None:
    result = check(sessions_json=('"speaker_ids": [1, 2]', '"speaker_ids": [1, 7, 2]'))
    assert located(result) == [("sessions.json", 2, "speaker_ids.1", "dangling_reference")]


def test_duplicate_id_is_reported_at_the_second_occurrence() -> None:
    result = check(sessions_json=('"id": "s2"', '"id": "s1"'))
    assert located(result) == [("sessions.json", 4, "id", "duplicate_id")]
    assert result.errors[0].message == "id 's1' is already used at line 2"


def test_duplicate_numeric_and_text_ids_are_the_same_id() -> None:
    result = check(speakers_json=('"id": 2', '"id": "1"'))
    assert ("speakers.json", 3, "id", "duplicate_id") in located(result)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"2026-05-05T07:00:00Z"', '"2026-05-04T06:00:00Z"', "starts_at"),  # 08:00 in Paris
        ('"2026-05-05T09:00:00Z"', '"2026-05-06T17:00:01Z"', "ends_at"),
    ],
)
def test_session_outside_the_event_is_a_warning(old: str, new: str, field: str) -> None:
    result = check(sessions_json=(old, new))
    assert located(result) == []
    assert [(e.file, e.line, e.field, e.code) for e in result.warnings] == [
        ("sessions.json", 4, field, "outside_event")
    ]
    assert result.records_invalid == 0


def test_sessions_and_events_must_end_after_they_start() -> None:
    result = check(
        sessions_json=(
            '"ends_at": "2026-05-04T10:30:00+02:00"',
            '"ends_at": "2026-05-04T09:30:00+02:00"',
        )
    )
    assert located(result) == [("sessions.json", 2, "ends_at", "ends_before_start")]
    result = check(event_json=('"2026-05-06T18:00:00+02:00"', '"2026-05-03T18:00:00+02:00"'))
    assert located(result)[0] == ("event.json", 1, "ends_at", "ends_before_start")


# --- field rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "old", "new", "expected"),
    [
        (
            "sessions_json",
            '"2026-05-04T09:30:00+02:00"',
            '"2026-05-04 half past nine"',
            ("sessions.json", 2, "starts_at", "invalid_datetime"),
        ),
        (
            "sessions_json",
            '"2026-05-04T09:30:00+02:00"',
            '"next tuesday"',
            ("sessions.json", 2, "starts_at", "invalid_datetime"),
        ),
        (
            "event_json",
            '"Europe/Paris"',
            '"Mars/Olympus_Mons"',
            ("event.json", 1, "timezone", "invalid_timezone"),
        ),
        (
            "event_json",
            '"Europe/Paris"',
            '"../../etc/passwd"',
            ("event.json", 1, "timezone", "invalid_timezone"),
        ),
        ("tracks_json", '"#ffaa00"', '"orange"', ("tracks.json", 3, "color", "invalid_color")),
        (
            "speakers_json",
            '"alan@example.com"',
            '"alan at example"',
            ("speakers.json", 3, "email", "invalid_email"),
        ),
        ("sessions_json", '"title": "Workshop", ', "", ("sessions.json", 4, "title", "required")),
        (
            "event_json",
            '"name": "PyCon Sample"',
            '"name": ""',
            ("event.json", 1, "name", "required"),
        ),
        (
            "sessions_json",
            '"speaker_ids": [2]',
            '"speaker_ids": [{"id": 2}]',
            ("sessions.json", 4, "speaker_ids.0", "invalid_type"),
        ),
    ],
)
def test_field_rules(member: str, old: str, new: str, expected: tuple[Any, ...]) -> None:
    assert located(check(**{member: (old, new)})) == [expected]


def test_a_session_with_several_problems_reports_them_all() -> None:
    bad = (
        '{"id": "s3", "title": "Lightning talks",',
        '{"id": "s3", "track_id": "nope", "speaker_ids": [9],',
    )
    assert located(check(sessions_json=bad)) == [
        ("sessions.json", 6, "title", "required"),
        ("sessions.json", 6, "track_id", "dangling_reference"),
        ("sessions.json", 6, "speaker_ids.0", "dangling_reference"),
    ]


def test_errors_in_every_member_are_collected_in_one_pass() -> None:
    result = check(
        tracks_json=('"#1E90FF"', '"blue"'),
        speakers_json=('"ada@example.com"', '"ada"'),
        sessions_json=('"track_id": "t2"', '"track_id": "t3"'),
    )
    assert located(result) == [
        ("tracks.json", 2, "color", "invalid_color"),
        ("speakers.json", 2, "email", "invalid_email"),
        ("sessions.json", 4, "track_id", "dangling_reference"),
    ]
    assert (result.records_total, result.records_invalid) == (8, 3)


# --- member syntax and shape --------------------------------------------------------------


def test_json_syntax_errors_carry_line_and_column() -> None:
    result = check(tracks_json=('"name": "Workshops"', '"name" "Workshops"'))
    assert [(e.file, e.line, e.column, e.code) for e in result.errors] == [
        ("tracks.json", 3, 23, "invalid_json")
    ]
    assert result.errors[0].message == (
        "tracks.json is not valid JSON at line 3, column 23: a colon is missing after a key"
    )
    assert result.member_error == result.errors[0]


def test_a_trailing_or_missing_comma_between_elements_is_read_with_a_warning() -> None:
    # as in FOSSASIA11's export: `},` before `]`, and `}` then `{` with no comma
    result = check(
        tracks_json=('"#ffaa00"}\n]', '"#ffaa00"},\n]'),
        speakers_json=('"AE", "twitter": "@ada"},', '"AE", "twitter": "@ada"}'),
    )
    assert result.errors == []
    assert [(w.file, w.line, w.column, w.code) for w in result.warnings] == [
        ("tracks.json", 3, 56, "trailing_comma"),
        ("speakers.json", 3, 3, "missing_comma"),
    ]
    assert (result.records_total, result.records_invalid) == (8, 0)


def test_a_missing_comma_between_plain_values_is_still_an_error() -> None:
    result = check(speakers_json=('"id": 2,', '"id": 2 3,'))
    assert [e.code for e in result.errors] == ["invalid_json"]


def test_an_unreadable_member_does_not_flood_its_dependants() -> None:
    # tracks.json cannot be read: sessions are not also reported for their track_ids
    result = check(tracks_json=("[", "{"))
    assert [e.code for e in result.errors] == ["invalid_json"]


@pytest.mark.parametrize(
    ("name", "text", "code", "line"),
    [
        ("tracks.json", '\n{"tracks": []}', "not_an_array", 2),
        ("event.json", "[]", "not_an_object", 1),
        ("tracks.json", "[1, 2", "invalid_json", 1),
        ("tracks.json", "[] []", "invalid_json", 1),
        ("tracks.json", "", "invalid_json", 1),
    ],
)
def test_member_shape(name: str, text: str, code: str, line: int) -> None:
    result = EVENT.check_bundle(members({**GOOD, name: text}))
    assert [(e.file, e.line, e.code) for e in result.errors] == [(name, line, code)]


def test_records_that_are_not_objects() -> None:
    result = check(tracks_json=('{"id": "t2", "name": "Workshops", "color": "#ffaa00"}', '"t2"'))
    assert ("tracks.json", 3, None, "not_an_object") in located(result)


def test_invalid_utf8_is_located() -> None:
    data = TRACKS_JSON.replace("Main hall", "Main \udcff").encode("utf-8", "surrogateescape")
    result = EVENT.check_bundle(members({**GOOD, "tracks.json": data}))
    assert [(e.file, e.line, e.column, e.code) for e in result.errors] == [
        ("tracks.json", 2, 30, "invalid_encoding")
    ]


def test_record_lines_follow_the_layout() -> None:
    text = '\ufeff[\n\n  {"id": 1},\n  {\n    "id": 2\n  }, {"id": 3}\n]\n'
    rows, error = parse_json_member("x.json", text.encode(), array=True)
    assert error is None
    assert rows == [(3, {"id": 1}), (4, {"id": 2}), (6, {"id": 3})]
    assert parse_json_member("x.json", b"[ ]", array=True) == ([], None)


# --- which members a bundle has -----------------------------------------------------------


def zip_of(names: list[str]) -> Archive:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "[]")
    return Archive(io.BytesIO(buffer.getvalue()), ArchiveLimits())


def test_missing_and_unexpected_members() -> None:
    errors, found = match_members(zip_of(["event.json", "sessions.json", "notes.txt"]), EVENT)
    assert set(found) == {"event.json", "sessions.json"}
    assert [(e.file, e.code) for e in errors] == [
        ("notes.txt", "unsupported_member"),
        ("tracks.json", "missing_member"),
        ("speakers.json", "missing_member"),
    ]


def test_a_bundle_zipped_as_one_folder() -> None:
    names = [f"my-event/{n}" for n in GOOD]
    errors, found = match_members(zip_of(["my-event/", *names]), EVENT)
    assert errors == []
    assert found["tracks.json"].name == "my-event/tracks.json"
    errors, _ = match_members(zip_of(names[:3]), EVENT)
    assert [(e.file, e.code) for e in errors] == [("my-event/sessions.json", "missing_member")]

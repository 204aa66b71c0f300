"""The real-data policy of bundles: warnings (located, never failing), time zones and naive
date-times of Open Event exports, placeholder sessions, and on_invalid=skip (records left out,
references to them dropped, each one reported)."""

from __future__ import annotations

import json
from typing import Any, NotRequired

import pytest
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.bundle import BundleCheck, BundleImportType, Entity, Member, Ref
from intake.import_types.election_event import ELECTION_EVENT
from intake.import_types.event import EVENT
from tests.unit.test_election_event import DOC
from tests.unit.test_event_bundle import GOOD, members


def event_check(skip: bool = False, **replacements: tuple[str, str]) -> BundleCheck:
    texts: dict[str, str | bytes] = dict(GOOD)
    for member, (old, new) in replacements.items():
        name = member.replace("_", ".")
        assert old in texts[name], f"{old!r} not in {name}"
        texts[name] = str(texts[name]).replace(old, new)
    return EVENT.check_bundle(members(texts), skip=skip)


def found(items: list[Any]) -> list[tuple[str | None, int | None, str | None, str]]:
    return [(e.file, e.line, e.field, e.code) for e in items]


def stored(check: BundleCheck) -> dict[str, dict[str, dict[str, Any]]]:
    writes = EVENT.plan(check, lambda entity, source: f"{entity}-{source}")
    return {w.entity: dict(w.items) for w in writes}


# --- time zones and naive date-times ---------------------------------------------------------


def test_naive_date_times_are_read_in_the_event_time_zone() -> None:
    result = event_check(
        event_json=('"2026-05-04T09:00:00+02:00"', '"2026-05-04T09:00:00"'),
        sessions_json=('"2026-05-04T09:30:00+02:00"', '"2026-05-04 09:30:00"'),
    )
    assert result.errors == [] and result.warnings == []
    records = stored(result)
    assert records["event"]["event-ev-1"]["starts_at"] == "2026-05-04T09:00:00+02:00"
    assert records["sessions"]["sessions-s1"]["starts_at"] == "2026-05-04T09:30:00+02:00"
    # in winter the same zone is an hour closer to UTC
    result = event_check(
        event_json=('"2026-05-04T09:00:00+02:00"', '"2026-01-04T09:00:00"'),
    )
    assert stored(result)["event"]["event-ev-1"]["starts_at"] == "2026-01-04T09:00:00+01:00"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("US / Pacific", "US/Pacific"),
        ("america/new york", "America/New_York"),
        (" Europe / Paris ", "Europe/Paris"),
    ],
)
def test_a_legacy_zone_spelling_is_normalised_with_a_warning(written: str, read: str) -> None:
    result = event_check(event_json=('"Europe/Paris"', json.dumps(written)))
    assert result.errors == []
    assert found(result.warnings) == [("event.json", 1, "timezone", "timezone_normalised")]
    assert read in result.warnings[0].message
    assert stored(result)["event"]["event-ev-1"]["timezone"] == read


def test_an_unknown_zone_is_an_error_and_naive_times_cannot_be_read() -> None:
    result = event_check(
        event_json=('"Europe/Paris"', '"Mars/Olympus"'),
        sessions_json=('"2026-05-04T09:30:00+02:00"', '"2026-05-04T09:30:00"'),
    )
    assert ("event.json", 1, "timezone", "invalid_timezone") in found(result.errors)
    # without a valid event the session's naive time has nothing to be read in
    assert ("sessions.json", 2, "starts_at", "naive_datetime") in found(result.errors)


# --- placeholders and the event's window ---------------------------------------------------


def test_a_00_00_placeholder_session_is_imported_unscheduled_with_a_warning() -> None:
    result = event_check(
        sessions_json=(
            '"starts_at": "2026-05-06T16:00:00+02:00", "ends_at": "2026-05-06T17:00:00+02:00"',
            '"starts_at": "2026-05-06T00:00:00", "ends_at": "2026-05-06T00:00:00"',
        )
    )
    assert result.errors == []
    assert found(result.warnings) == [("sessions.json", 6, "starts_at", "unscheduled")]
    session = stored(result)["sessions"]["sessions-s3"]
    assert "starts_at" not in session and "ends_at" not in session


def test_a_session_with_one_time_only_is_an_error() -> None:
    result = event_check(sessions_json=(', "ends_at": "2026-05-06T17:00:00+02:00"', ""))
    assert found(result.errors) == [("sessions.json", 6, "ends_at", "required")]


def test_warnings_never_make_a_record_invalid() -> None:
    result = event_check(sessions_json=('"2026-05-05T07:00:00Z"', '"2026-05-01T07:00:00Z"'))
    assert result.errors == [] and result.records_invalid == 0
    assert found(result.warnings) == [("sessions.json", 4, "starts_at", "outside_event")]
    assert len(stored(result)["sessions"]) == 3


# --- on_invalid=skip ----------------------------------------------------------------------


def test_skip_leaves_an_invalid_speaker_out_and_drops_the_references_to_it() -> None:
    broken = ('"email": "alan@example.com"', '"email": "alan at example"')
    failing = event_check(speakers_json=broken)
    assert found(failing.errors) == [("speakers.json", 3, "email", "invalid_email")]

    result = event_check(skip=True, speakers_json=broken)
    assert found(result.errors) == [("speakers.json", 3, "email", "invalid_email")]
    # s1 names speakers 1 and 2, s2 names speaker 2: each dropped reference is reported
    assert found(result.warnings) == [
        ("sessions.json", 2, "speaker_ids.1", "reference_dropped"),
        ("sessions.json", 4, "speaker_ids.0", "reference_dropped"),
    ]
    assert "left out (line 3 of speakers.json)" in result.warnings[0].message
    assert result.left_out == {"event": 0, "tracks": 0, "speakers": 1, "sessions": 0}
    assert (result.records_total, result.records_invalid) == (8, 1)
    records = stored(result)
    assert set(records["speakers"]) == {"speakers-1"}
    assert records["sessions"]["sessions-s1"]["speaker_ids"] == ["speakers-1"]
    assert records["sessions"]["sessions-s2"]["speaker_ids"] == []


def test_skip_drops_a_dangling_optional_reference_instead_of_failing() -> None:
    result = event_check(skip=True, sessions_json=('"track_id": "t2"', '"track_id": "t9"'))
    assert result.errors == []
    assert found(result.warnings) == [("sessions.json", 4, "track_id", "reference_dropped")]
    assert "'t9' is not an id in tracks.json" in result.warnings[0].message
    assert "track_id" not in stored(result)["sessions"]["sessions-s2"]


def test_skip_cannot_save_a_bundle_whose_root_is_invalid() -> None:
    result = event_check(skip=True, event_json=('"name": "PyCon Sample"', '"name": ""'))
    assert found(result.errors) == [("event.json", 1, "name", "required")]
    assert result.has_root is False


# --- on_invalid=skip over required references and a tree (election_event) -------------------


def election_check(doc: dict[str, Any], *, skip: bool) -> BundleCheck:
    data = json.dumps(doc, indent=2).encode()
    return ELECTION_EVENT.check_bundle({"e.json": Member("e.json", lambda: data)}, skip=skip)


def test_skip_leaves_out_what_requires_a_left_out_record() -> None:
    doc = json.loads(json.dumps(DOC))
    contest = doc["contests"][0]
    contest["election_id"] = "not-a-uuid"
    dependants = [c for c in doc["candidates"] if c["contest_id"] == contest["id"]]
    joins = [a for a in doc["area_contests"] if a["contest_id"] == contest["id"]]
    assert dependants and joins

    result = election_check(doc, skip=True)
    codes = [(e.field, e.code) for e in result.errors]
    assert codes.count(("election_id", "invalid_uuid")) == 1
    assert codes.count(("contest_id", "reference_left_out")) == len(dependants) + len(joins)
    assert result.left_out["contests"] == 1
    assert result.left_out["candidates"] == len(dependants)
    assert result.left_out["area_contests"] == len(joins)
    assert result.records_invalid == 1 + len(dependants) + len(joins)
    kept = {c["id"] for c in result.valid["candidates"]}
    assert kept.isdisjoint(c["id"] for c in dependants)


def test_skip_drops_the_parent_of_an_area_whose_parent_is_left_out() -> None:
    doc = json.loads(json.dumps(DOC))
    children = [a for a in doc["areas"] if a.get("parent_id")]
    assert children, "the sample has a nested area"
    child = children[0]
    parent = next(a for a in doc["areas"] if a["id"] == child["parent_id"])
    parent["election_event_id"] = "not-a-uuid"

    result = election_check(doc, skip=True)
    assert ("election_event_id", "invalid_uuid") in [(e.field, e.code) for e in result.errors]
    assert ("parent_id", "reference_dropped") in [(w.field, w.code) for w in result.warnings]
    kept = next(a for a in result.valid["areas"] if a["id"] == child["id"])
    assert kept.get("parent_id") is None


def test_a_reference_to_an_entity_the_bundle_lacks_is_dangling_or_dropped() -> None:
    # sessions name microlocation 3, but this export has no microlocations member
    sessions = ('"track_id": "t2"', '"track_id": "t2", "microlocation": {"id": 3, "name": "Hall"}')
    result = event_check(sessions_json=sessions)
    assert found(result.errors) == [("sessions.json", 4, "microlocation", "dangling_reference")]
    assert "the bundle has no microlocations" in result.errors[0].message

    result = event_check(skip=True, sessions_json=sessions)
    assert result.errors == []
    assert found(result.warnings) == [("sessions.json", 4, "microlocation", "reference_dropped")]
    assert "microlocation_id" not in stored(result)["sessions"]["sessions-s2"]


# --- declarations that cannot work fail at import -------------------------------------------


class _Root(TypedDict):
    id: str


class _Child(TypedDict):
    id: str
    root_id: str
    parent_id: NotRequired[str]


def _bundle(*entities: Entity) -> BundleImportType:
    return BundleImportType(
        name="demo",
        version="1",
        description="demo",
        media_types=("application/zip",),
        max_size=1,
        natural_key="id",
        adapter=TypeAdapter(dict),
        required_fields=(),
        entities=entities,
    )


ROOT = Entity("root", _Root, ("id",), single=True)


@pytest.mark.parametrize(
    ("entities", "complaint"),
    [
        ((ROOT, Entity("child", _Child, ("id",), (Ref("root_id", "root"),))), "required"),
        ((Entity("child", _Child, ("id", "root_id"), (Ref("root_id", "root"),)), ROOT), "ahead"),
        ((ROOT, Entity("child", _Child, ("id", "root_id"), tree="parent_id")), "tree"),
        ((Entity("root", _Root, ("id",)),), "root"),
    ],
)
def test_a_declaration_that_cannot_work_fails_at_import(
    entities: tuple[Entity, ...], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        _bundle(*entities)


def test_the_catalog_lists_each_entitys_dialect_names() -> None:
    assert EVENT.aliases["sessions.starts_at"] == ("start_time",)
    assert EVENT.aliases["sponsors.type"] == ("sponsor_type",)


# no times at all, both empty (exports write "" for a session not scheduled yet), one null
@pytest.mark.parametrize("times", ["", '"starts_at": "", "ends_at": "", ', '"starts_at": null, '])
def test_a_session_without_times_is_imported_unscheduled(times: str) -> None:
    old = '"starts_at": "2026-05-06T16:00:00+02:00", "ends_at": "2026-05-06T17:00:00+02:00"'
    new = times.rstrip(", ") or '"title2": "x"'
    result = event_check(sessions_json=(old, new))
    assert result.errors == []
    session = stored(result)["sessions"]["sessions-s3"]
    assert "starts_at" not in session and "ends_at" not in session


def test_a_session_with_one_time_only_says_which_is_missing() -> None:
    result = event_check(sessions_json=(', "ends_at": "2026-05-06T17:00:00+02:00"', ""))
    assert [e.message for e in result.errors] == ["ends_at is required when a time is given"]


def test_messages_about_a_document_name_its_section() -> None:
    doc = json.loads(json.dumps(DOC))
    doc["candidates"][0]["contest_id"] = "deadbeef-0000-4000-8000-000000000000"
    result = election_check(doc, skip=False)
    [error] = result.errors
    assert error.message.endswith("is not an id in contests")
    assert error.file == "e.json"


def test_an_invalid_root_is_reported_once_not_by_every_reference_to_it() -> None:
    doc = json.loads(json.dumps(DOC))
    doc["election_event"]["id"] = "not-a-uuid"
    for skip in (False, True):
        result = election_check(doc, skip=skip)
        assert [(e.field, e.code) for e in result.errors] == [("id", "invalid_uuid")]
        assert result.warnings == [] and result.has_root is False


def test_member_names_are_read_in_any_case() -> None:
    assert EVENT.member_for("Sessions.JSON") == EVENT.member_for("sessions")
    assert EVENT.skips("export/._event")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("NaN", "NaN or Infinity"),
        ("1e400", "out of the range"),
        ("1234567890123456789012345678901234567890", "significant digits"),
        ('{"": 1}', "empty key"),
        ('"\\ud800"', "unpaired surrogate"),
        ("[" * 40 + "]" * 40, "nested more than 32"),
    ],
)
def test_a_value_the_records_table_cannot_hold_is_an_error_of_its_record(
    value: str, why: str
) -> None:
    # Sequent's records are kept whole: what DynamoDB refuses mid-write is refused up front
    text = json.dumps(DOC, indent=2)
    first = DOC["candidates"][0]["id"]
    text = text.replace(f'"id": "{first}"', f'"id": "{first}", "extra": {value}', 1)
    data = text.encode()
    result = ELECTION_EVENT.check_bundle({"e.json": Member("e.json", lambda: data)})
    [error] = result.errors
    assert error.code == "unstorable_value"
    assert (error.field or "").split(".")[0] == "extra"
    assert why in error.message


def test_an_exports_other_fields_are_kept_but_not_its_back_references() -> None:
    # what real exports carry beyond the checked fields: abstracts, photos, links...
    result = event_check(
        sessions_json=('"title": "Keynote", ', '"title": "Keynote", "long-abstract": "Why", '),
        tracks_json=(
            '"color": "#1E90FF"}',
            '"color": "#1E90FF", "sessions": [{"id": "s1", "title": "Keynote"}]}',
        ),
    )
    assert result.errors == []
    records = stored(result)
    assert records["sessions"]["sessions-s1"]["long_abstract"] == "Why"
    assert "sessions" not in records["tracks"]["tracks-t1"]  # old ids, never stored


def test_a_naive_time_at_a_clock_change_is_read_with_a_warning() -> None:
    # Paris skips 02:00-03:00 on 2026-03-29 and repeats 02:00-03:00 on 2026-10-25
    result = event_check(
        event_json=('"2026-05-04T09:00:00+02:00"', '"2026-03-28T09:00:00"'),
        sessions_json=(
            '"starts_at": "2026-05-06T16:00:00+02:00", "ends_at": "2026-05-06T17:00:00+02:00"',
            '"starts_at": "2026-03-29T02:30:00", "ends_at": "2026-03-29T04:00:00"',
        ),
    )
    assert result.errors == []
    assert [(w.field, w.code) for w in result.warnings] == [("starts_at", "nonexistent_time")]
    session = stored(result)["sessions"]["sessions-s3"]
    assert session["starts_at"] == "2026-03-29T03:30:00+02:00"  # 01:30 UTC, as 02:30+01:00 is

    result = event_check(
        event_json=('"2026-05-06T18:00:00+02:00"', '"2026-10-30T18:00:00"'),
        sessions_json=(
            '"starts_at": "2026-05-06T16:00:00+02:00", "ends_at": "2026-05-06T17:00:00+02:00"',
            '"starts_at": "2026-10-25T02:30:00", "ends_at": "2026-10-25T04:00:00"',
        ),
    )
    assert [(w.field, w.code) for w in result.warnings if w.code != "outside_event"] == [
        ("starts_at", "ambiguous_time")
    ]
    assert stored(result)["sessions"]["sessions-s3"]["starts_at"] == "2026-10-25T02:30:00+02:00"

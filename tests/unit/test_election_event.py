"""The `election_event` bundle (Sequent's export): located errors, references, the area tree,
the skipped realm, and the plan's order and remapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from intake.import_types import get_import_type
from intake.import_types.bundle import BundleCheck, Member
from intake.import_types.election_event import ELECTION_EVENT

SAMPLE_PATH = Path(__file__).parents[1] / "fixtures" / "sequent" / "election_event.json"
SAMPLE = SAMPLE_PATH.read_text()
DOC = json.loads(SAMPLE)
SECTIONS = ("election_event", "elections", "contests", "candidates", "areas", "area_contests")
NAME = "export_election_event.json"


def check(text: str) -> BundleCheck:
    data = text.encode()
    return ELECTION_EVENT.check_bundle({NAME: Member(NAME, lambda: data)})


def line_of(text: str, needle: str) -> int:
    """The line of the `{` that opens the record holding `needle` (pretty-printed sample)."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if needle in line)
    while lines[at].strip() not in ("{", "{},"):
        at -= 1
    return at + 1


def errors(result: BundleCheck) -> list[tuple[int | None, str | None, str]]:
    return [(e.line, e.field, e.code) for e in result.errors]


def test_the_type_is_registered_for_json_and_zip() -> None:
    assert get_import_type("election_event") is ELECTION_EVENT
    assert set(ELECTION_EVENT.media_types) == {"application/json", "application/zip"}


def test_the_sample_is_valid_and_every_collection_is_counted() -> None:
    result = check(SAMPLE)
    assert result.errors == []
    assert {k: len(v) for k, v in result.valid.items()} == {
        "election_event": 1,
        **{s: len(DOC[s]) for s in SECTIONS[1:]},
    }
    assert result.records_total == 1 + sum(len(DOC[s]) for s in SECTIONS[1:])
    # the realm (and the other sections Intake does not import) are skipped, never stored
    assert result.skipped == ["keycloak_event_realm", "reports", "scheduled_events"]


def test_a_candidate_pointing_to_a_missing_contest_is_named_by_line_and_field() -> None:
    doc = json.loads(SAMPLE)
    victim = doc["candidates"][3]
    victim["contest_id"] = "deadbeef-0000-4000-8000-000000000000"
    text = json.dumps(doc, indent=2)
    result = check(text)
    assert errors(result) == [(line_of(text, victim["name"]), "contest_id", "dangling_reference")]
    assert result.errors[0].file == NAME
    assert "deadbeef-0000-4000-8000-000000000000" in result.errors[0].message
    assert result.records_invalid == 1


def test_a_one_line_export_locates_records_by_column() -> None:
    """Sequent writes its export on one line: the column says which record it is."""
    doc = json.loads(SAMPLE)
    doc["area_contests"][2]["contest_id"] = "deadbeef-0000-4000-8000-000000000000"
    text = json.dumps(doc)
    [error] = check(text).errors
    assert (error.line, error.field) == (1, "contest_id")
    assert text[error.column - 1 :].startswith('{"id": "' + doc["area_contests"][2]["id"])  # type: ignore[operator]


def test_every_reference_is_checked() -> None:
    doc = json.loads(SAMPLE)
    missing = "00000000-0000-4000-8000-00000000dead"
    doc["contests"][0]["election_id"] = missing
    doc["areas"][0]["parent_id"] = missing
    doc["area_contests"][0]["area_id"] = missing
    doc["elections"][1]["election_event_id"] = missing
    text = json.dumps(doc, indent=2)
    assert sorted((f, c) for _, f, c in errors(check(text))) == [
        ("area_id", "dangling_reference"),
        ("election_event_id", "dangling_reference"),
        ("election_id", "dangling_reference"),
        ("parent_id", "dangling_reference"),
    ]


def test_a_cycle_in_the_area_tree_fails_at_each_area_in_it() -> None:
    doc = json.loads(SAMPLE)
    north, root, _south = doc["areas"]
    root["parent_id"] = north["id"]  # root -> north -> root; south hangs below the loop
    text = json.dumps(doc, indent=2)
    assert errors(check(text)) == [
        (line_of(text, north["name"]), "parent_id", "reference_cycle"),
        (line_of(text, root["name"]), "parent_id", "reference_cycle"),
    ]


def test_an_area_that_is_its_own_parent_is_a_cycle() -> None:
    doc = json.loads(SAMPLE)
    doc["areas"][2]["parent_id"] = doc["areas"][2]["id"]
    assert [(f, c) for _, f, c in errors(check(json.dumps(doc)))] == [
        ("parent_id", "reference_cycle")
    ]


def test_ids_must_be_uuids_and_unique() -> None:
    doc = json.loads(SAMPLE)
    doc["candidates"][0]["id"] = "candidate-1"
    doc["candidates"][2]["id"] = doc["candidates"][1]["id"]
    text = json.dumps(doc, indent=2)
    assert errors(check(text)) == [
        (line_of(text, doc["candidates"][0]["name"]), "id", "invalid_uuid"),
        (line_of(text, doc["candidates"][2]["name"]), "id", "duplicate_id"),
    ]


def test_a_missing_section_and_a_section_of_the_wrong_shape() -> None:
    doc = json.loads(SAMPLE)
    del doc["area_contests"]
    doc["candidates"] = {"not": "an array"}
    result = check(json.dumps(doc))
    assert sorted((f, c) for _, f, c in errors(result)) == [
        ("area_contests", "missing_section"),
        ("candidates", "not_an_array"),
    ]


def test_invalid_json_is_located() -> None:
    result = check('{\n  "election_event": {"id": }\n}')
    assert [(e.line, e.code) for e in result.errors] == [(2, "invalid_json")]
    assert result.member_error is not None


def test_the_plan_writes_in_dependency_order_with_parents_first_and_new_ids() -> None:
    result = check(SAMPLE)
    writes = ELECTION_EVENT.plan(result, lambda entity, source: f"new-{source}")
    assert [w.entity for w in writes] == list(SECTIONS)
    items: dict[str, list[dict[str, Any]]] = {w.entity: [i for _, i in w.items] for w in writes}
    [event] = items["election_event"]
    assert event["id"] == "new-" + DOC["election_event"]["id"]
    assert "tenant_id" not in event  # Sequent's tenant is not Intake's
    # areas: the parent (second in the document) is written before its children
    assert [a["name"] for a in items["areas"]] == ["Whole country", "North", "South"]
    north = items["areas"][1]
    assert north["parent_id"] == items["areas"][0]["id"]
    candidate = items["candidates"][0]
    assert candidate["contest_id"] == "new-" + DOC["candidates"][0]["contest_id"]
    assert candidate["source_id"] == DOC["candidates"][0]["id"]
    assert candidate["election_event_id"] == event["id"]
    assert candidate["presentation"] == {"sort_order": 0}  # other fields pass through
    link = items["area_contests"][0]
    assert (link["area_id"], link["contest_id"]) == (
        "new-" + DOC["area_contests"][0]["area_id"],
        "new-" + DOC["area_contests"][0]["contest_id"],
    )
    assert all("keycloak" not in json.dumps(i, default=str) for w in writes for _, i in w.items)

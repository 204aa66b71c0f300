"""Real Open Event exports (tests/fixtures/open_event: fossasia/open-event's sample/ folder)
through the real flow: each ends in a terminal state; the clean ones import with counts equal
to their members' records; the others import with on_invalid=skip, every record left out
reported by member, line and field; the two whose event record itself is invalid fail,
saying why."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.fixtures.open_event.samples import SAMPLES, build_zip, record_counts
from tests.integration.test_bundles import upload_bundle

# What each export is, from its data (the fixtures' README says why):
# clean: imports as it is; skip: imports with on_invalid=skip; invalid_event: its event
# record cannot be read (a time zone that names no zone), so nothing can be imported;
# broken_json: a member is not JSON beyond the slips that are read (curly quotes).
KIND = {
    "Droidcon17": "skip",  # speaker 32 and session 32 appear twice
    "F8": "broken_json",  # tracks quotes its names with “ ”
    "FBF817": "skip",  # references to microlocations/session_types it lacks, a duplicate id
    "FOSSASIA10": "invalid_event",  # timezone "Asia/Vietnum"
    "FOSSASIA11": "skip",  # a session with a malformed time; JSON slips read with warnings
    "FOSSASIA14": "clean",  # timezone "UTC+07:00", read as Etc/GMT-7 with a warning
    "FOSSASIA15": "broken_json",  # unquoted values in microlocations; a comma missing inside
    # a speaker
    "GoogleIO17": "skip",  # a session naming session type 455, which it does not have
    "MozillaAllHands16": "invalid_event",  # timezone "Hawaii-Aleutian"; speakers not JSON
    "MozillaAllHands17": "skip",  # references to members it lacks, a duplicate id
    "OSCON17": "skip",  # references to microlocations it lacks, a duplicate speaker id
    "SparkSummit17": "skip",  # a session ending before it starts; raw line breaks in strings
}
# Codes that say a standard member was not found or not taken: never, for a real export.
LAYOUT_CODES = {"missing_member", "unsupported_member", "duplicate_member"}


def run(api, drain, sample: str, **options: Any) -> dict[str, Any]:
    file_id = upload_bundle(api, build_zip(sample), **options)
    drain()
    view: dict[str, Any] = api("GET", f"/files/{file_id}")[1]
    return view


def test_every_stored_sample_has_an_expected_outcome() -> None:
    assert set(KIND) == set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_real_export_ends_in_a_terminal_state_with_its_members_found(api, drain, aws, sample):
    view = run(api, drain, sample)
    assert view["status"] in ("SUCCEEDED", "FAILED"), view
    assert not LAYOUT_CODES & {e["code"] for e in view["errors"]}
    # media folders and the exporter's own files are listed, never read
    assert view["result"]["skipped"], view["result"]
    if KIND[sample] == "clean":
        assert view["status"] == "SUCCEEDED", view
        assert view["result"]["entities"] == record_counts(sample)
    else:
        assert view["status"] == "FAILED", view
        assert view["reason"]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if KIND[s] == "skip"])
def test_with_skip_an_export_imports_and_reports_every_record_left_out(api, drain, aws, sample):
    view = run(api, drain, sample, on_invalid="skip")
    assert view["status"] == "SUCCEEDED", view
    result = view["result"]
    counts = record_counts(sample)
    # every record is written or left out, and each left out one is reported
    assert {e: result["entities"][e] + result["left_out"][e] for e in counts} == counts
    assert sum(result["left_out"].values()) == result["rows_invalid"]
    assert result["rows_written"] == result["rows_total"] - result["rows_invalid"]
    # what fails it without skip is reported: records left out, or references dropped
    assert view["errors"] or {w["code"] for w in view["warnings"]} & {"reference_dropped"}
    left_out_by_member = Counter(e["file"] for e in view["errors"])
    assert sum(left_out_by_member.values()) >= result["rows_invalid"]
    for error in view["errors"]:
        assert error["file"].startswith(f"{sample}/"), error
        assert error["line"] and error["field"], error
    assert result["warnings"] == len(view["warnings"]) or len(view["warnings"]) == 100


@pytest.mark.parametrize("sample", [s for s in SAMPLES if KIND[s] == "invalid_event"])
def test_an_export_whose_event_is_invalid_fails_even_with_skip(api, drain, aws, sample):
    view = run(api, drain, sample, on_invalid="skip")
    assert view["status"] == "FAILED", view
    problems = {(e["file"], e["field"], e["code"]) for e in view["errors"]}
    assert (f"{sample}/event", "timezone", "invalid_timezone") in problems


@pytest.mark.parametrize("sample", [s for s in SAMPLES if KIND[s] == "broken_json"])
def test_an_export_with_a_member_that_is_not_json_fails_at_its_place(api, drain, aws, sample):
    view = run(api, drain, sample, on_invalid="skip")
    assert view["status"] == "FAILED", view
    broken = [e for e in view["errors"] if e["code"] == "invalid_json"]
    assert broken
    for error in broken:
        assert error["file"].startswith(f"{sample}/") and error["line"] and error["column"]
    assert view["reason"] == broken[0]["message"]

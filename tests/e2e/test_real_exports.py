"""Real exports through the local stack at the deployed log level, as a user sends them: an
Open Event export with its photos (warnings, on_invalid=skip, the report's severity column)
and Sequent's election-event export gzipped."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import requests

from tests.e2e.support import Api, Stack
from tests.fixtures.open_event.samples import build_zip, record_counts

SEQUENT = Path(__file__).parents[1] / "fixtures" / "sequent"


def test_a_real_open_event_export_imports_with_skip_and_reports_warnings(
    api: Api, stack: Stack
) -> None:
    assert stack.info["log_level"] == "INFO"
    data = build_zip("Droidcon17")  # its photos, forms and config.json included
    declared = api.declare(
        data,
        name="Droidcon17.zip",
        media_type="application/zip",
        import_type="event",
        on_invalid="skip",
        auto_import=True,
    )
    api.upload(declared, data)
    done = api.wait(declared["file_id"], "SUCCEEDED")
    result = done["result"]
    counts = record_counts("Droidcon17")
    assert {e: result["entities"][e] + result["left_out"][e] for e in counts} == counts
    assert result["left_out"]["speakers"] == 1 and result["left_out"]["sessions"] == 1
    assert [(e["file"], e["code"]) for e in done["errors"]] == [
        ("Droidcon17/speakers", "duplicate_id"),
        ("Droidcon17/sessions", "duplicate_id"),
    ]
    # `US / Pacific` read as US/Pacific, sessions outside the event's days: warnings
    assert result["warnings"] == len(done["warnings"]) > 1
    assert done["warnings"][0]["code"] == "timezone_normalised"
    assert "Droidcon17/images/" in result["skipped"]
    report = requests.get(done["error_report_url"], timeout=10)
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [r["severity"] for r in rows].count("error") == 2
    assert [r["severity"] for r in rows].count("warning") == result["warnings"]


def test_sequents_export_gzipped_imports_without_its_realm(api: Api, stack: Stack) -> None:
    [path] = SEQUENT.glob("export_election_event-*.json")
    data = gzip.compress(path.read_bytes(), mtime=0)
    declared = api.declare(
        data,
        name=f"{path.name}.gz",
        media_type="application/json",
        import_type="election_event",
        auto_import=True,
    )
    api.upload(declared, data)
    done = api.wait(declared["file_id"], "SUCCEEDED")
    assert done["result"]["entities"]["election_event"] == 1
    assert "keycloak_event_realm" in done["result"]["skipped"]

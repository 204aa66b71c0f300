"""ErrorCollector: a few errors inline, all of them (up to a cap) in the CSV report."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import pytest

from intake.ingest.error_report import INLINE_ERRORS, ErrorCollector
from intake.models.domain import RowError

Make = Callable[..., ErrorCollector]
HEADER = ["file", "line", "column", "field", "code", "message", "severity"]


def error(n: int) -> RowError:
    return RowError(line=n, column=2, field="email", code="invalid_email", message=f"bad {n}")


def report_rows(collector: ErrorCollector) -> list[list[str]]:
    return list(csv.reader(io.TextIOWrapper(collector.report(), encoding="utf-8", newline="")))


@pytest.fixture
def make() -> Iterator[Make]:
    made: list[ErrorCollector] = []

    def factory(**kwargs: int) -> ErrorCollector:
        made.append(ErrorCollector(**kwargs))
        return made[-1]

    yield factory
    for collector in made:
        collector.close()


def test_keeps_the_first_100_inline_and_all_in_the_report(make: Make) -> None:
    collector = make()
    for n in range(1, 151):
        collector.add(error(n))

    assert INLINE_ERRORS == 100
    assert collector.inline == [error(n) for n in range(1, 101)]
    assert collector.count == 150
    assert collector.truncated is False
    rows = report_rows(collector)
    assert rows[0] == HEADER
    assert len(rows) == 151
    assert rows[150] == ["", "150", "2", "email", "invalid_email", "bad 150", "error"]


def test_report_renders_absent_parts_as_empty_cells(make: Make) -> None:
    collector = make()
    collector.add(RowError(code="invalid_json", message="parse error, line 3"))
    collector.add(
        RowError(file="tracks.json", line=4, field="id", code="required", message='a "quote"')
    )

    assert report_rows(collector) == [
        HEADER,
        ["", "", "", "", "invalid_json", "parse error, line 3", "error"],
        ["tracks.json", "4", "", "id", "required", 'a "quote"', "error"],
    ]


def test_empty_collector_reports_only_the_header(make: Make) -> None:
    collector = make()

    assert report_rows(collector) == [HEADER]
    assert collector.truncated is False


def test_at_the_cap_nothing_is_truncated(make: Make) -> None:
    collector = make(inline_limit=2, max_errors=3)
    for n in range(1, 4):
        collector.add(error(n))

    assert collector.truncated is False
    assert [row[1] for row in report_rows(collector)[1:]] == ["1", "2", "3"]


def test_past_the_cap_it_stops_recording_and_says_how_many_more(make: Make) -> None:
    collector = make(inline_limit=2, max_errors=3)
    for n in range(1, 9):
        collector.add(error(n))

    assert collector.count == 8
    assert collector.truncated is True
    assert collector.inline == [error(1), error(2)]
    assert report_rows(collector) == [
        HEADER,
        ["", "1", "2", "email", "invalid_email", "bad 1", "error"],
        ["", "2", "2", "email", "invalid_email", "bad 2", "error"],
        ["", "3", "2", "email", "invalid_email", "bad 3", "error"],
        ["", "", "", "", "too_many_errors", "5 more errors not listed", "error"],
    ]


def test_errors_counted_elsewhere_take_no_room_in_the_report(make: Make) -> None:
    # A sharded run's finalize: each shard lists its first errors and counts the rest.
    # Counted-only errors must not use up the cap, and the closing line counts exactly what
    # the report does not list.
    collector = make(inline_limit=2, max_errors=5)
    collector.add(error(1))
    collector.add(error(2))
    collector.count_unlisted(100)  # shard 0 counted 102 errors, listed 2
    collector.add(error(500))
    collector.count_unlisted(50)  # shard 1 counted 51, listed 1

    assert collector.count == 153
    assert collector.truncated is True
    assert collector.inline == [error(1), error(2)]
    assert report_rows(collector) == [
        HEADER,
        ["", "1", "2", "email", "invalid_email", "bad 1", "error"],
        ["", "2", "2", "email", "invalid_email", "bad 2", "error"],
        ["", "500", "2", "email", "invalid_email", "bad 500", "error"],
        ["", "", "", "", "too_many_errors", "150 more errors not listed", "error"],
    ]


def test_inline_stops_at_the_cap_even_below_the_inline_limit(make: Make) -> None:
    collector = make(inline_limit=10, max_errors=2)
    for n in range(1, 6):
        collector.add(error(n))

    assert collector.inline == [error(1), error(2)]


def test_close_twice_is_harmless(make: Make) -> None:
    collector = make()
    collector.add(error(1))
    collector.close()
    collector.close()


def test_warnings_are_counted_apart_and_reported_with_their_severity(make: Make) -> None:
    collector = make(max_errors=2)
    collector.add(error(1))
    warning = RowError(
        file="sessions", line=7, field="starts_at", code="outside_event", message="early"
    )
    for _ in range(3):
        collector.warn(warning)

    assert collector.count == 1  # warnings never decide a run
    assert collector.warning_count == 3
    assert collector.warnings == [warning, warning]  # past the cap: counted only
    assert collector.any
    assert report_rows(collector) == [
        HEADER,
        ["", "1", "2", "email", "invalid_email", "bad 1", "error"],
        ["sessions", "7", "", "starts_at", "outside_event", "early", "warning"],
        ["sessions", "7", "", "starts_at", "outside_event", "early", "warning"],
        ["", "", "", "", "too_many_warnings", "1 more warnings not listed", "warning"],
    ]

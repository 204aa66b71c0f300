"""Collect located errors and warnings: the first few of each inline, all of them (up to a cap
each) in one CSV report, where the last column says which is which.

Warnings are findings a source system accepted (a session outside its event's window, a
legacy time-zone spelling read as its IANA name): located like errors, counted, never failing
a file. `count` is errors only: what decides a run."""

from __future__ import annotations

import csv
import io
import tempfile
from typing import IO

from intake.models.domain import RowError

INLINE_ERRORS = 100
MAX_ERRORS = 10_000
REPORT_COLUMNS = ("file", "line", "column", "field", "code", "message", "severity")


class ErrorCollector:
    def __init__(self, *, inline_limit: int = INLINE_ERRORS, max_errors: int = MAX_ERRORS) -> None:
        self.inline: list[RowError] = []
        self.count = 0  # every error seen, recorded or not
        self.listed = 0  # errors written to the report (at most max_errors)
        self.warnings: list[RowError] = []  # the first warnings, as `inline` for errors
        self.warning_count = 0
        self._inline_limit = inline_limit
        self._max = max_errors
        # Spools to disk past 4 MiB: a file with millions of bad rows stays bounded in memory.
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        self._text = io.TextIOWrapper(self._spool, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text)
        self._writer.writerow(REPORT_COLUMNS)

    @property
    def truncated(self) -> bool:
        """Whether the report lists fewer errors than were counted."""
        return self.count > self.listed

    @property
    def full(self) -> bool:
        """Whether the report has no room left: later errors are only counted."""
        return self.listed >= self._max

    def add(self, error: RowError) -> None:
        self.count += 1
        # The cap is on what is listed: errors only counted (count_unlisted) take no room.
        if self.listed >= self._max:
            return
        self.listed += 1
        if len(self.inline) < self._inline_limit:
            self.inline.append(error)
        self._write(error, "error")

    def count_unlisted(self, n: int) -> None:
        """Errors found and counted elsewhere (a shard's beyond the first it reported): they
        decide the run like any other, but have nothing to list, and leave the report's room
        to the errors added after them."""
        self.count += n

    def warn(self, warning: RowError) -> None:
        self.warning_count += 1
        if self.warning_count > self._max:
            return
        if len(self.warnings) < self._inline_limit:
            self.warnings.append(warning)
        self._write(warning, "warning")

    @property
    def any(self) -> bool:
        """Whether there is anything to report."""
        return bool(self.count or self.warning_count)

    def _write(self, finding: RowError, severity: str) -> None:
        self._writer.writerow(
            (
                finding.file or "",
                finding.line or "",
                finding.column or "",
                finding.field or "",
                finding.code,
                finding.message,
                severity,
            )
        )

    def report(self) -> IO[bytes]:
        """The CSV report, rewound, with a closing line for each kind that was cut short."""
        for more, kind in (
            (self.count - self.listed, "error"),
            (self.warning_count - self._max, "warning"),
        ):
            if more > 0:
                self._writer.writerow(
                    ("", "", "", "", f"too_many_{kind}s", f"{more} more {kind}s not listed", kind)
                )
        self._text.flush()
        self._spool.seek(0)
        return self._spool

    def close(self) -> None:
        # The transfer manager may already have closed the spool after uploading it.
        if not self._spool.closed:
            self._text.detach()
            self._spool.close()

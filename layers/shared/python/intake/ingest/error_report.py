"""Collect located errors: the first few inline, all of them (up to a cap) in a CSV report."""

from __future__ import annotations

import csv
import io
import tempfile
from typing import IO

from intake.models.domain import RowError

INLINE_ERRORS = 100
MAX_ERRORS = 10_000
REPORT_COLUMNS = ("file", "line", "column", "field", "code", "message")


class ErrorCollector:
    def __init__(self, *, inline_limit: int = INLINE_ERRORS, max_errors: int = MAX_ERRORS) -> None:
        self.inline: list[RowError] = []
        self.count = 0  # every error seen, recorded or not
        self._inline_limit = inline_limit
        self._max = max_errors
        # Spools to disk past 4 MiB: a file with millions of bad rows stays bounded in memory.
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        self._text = io.TextIOWrapper(self._spool, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text)
        self._writer.writerow(REPORT_COLUMNS)

    @property
    def truncated(self) -> bool:
        return self.count > self._max

    def add(self, error: RowError) -> None:
        self.count += 1
        if self.count > self._max:
            return
        if len(self.inline) < self._inline_limit:
            self.inline.append(error)
        self._writer.writerow(
            (
                error.file or "",
                error.line or "",
                error.column or "",
                error.field or "",
                error.code,
                error.message,
            )
        )

    def report(self) -> IO[bytes]:
        """The CSV report, rewound, with a closing line when errors were dropped."""
        if self.truncated:
            self._writer.writerow(
                (
                    "",
                    "",
                    "",
                    "",
                    "too_many_errors",
                    f"{self.count - self._max} more errors not listed",
                )
            )
        self._text.flush()
        self._spool.seek(0)
        return self._spool

    def close(self) -> None:
        # The transfer manager may already have closed the spool after uploading it.
        if not self._spool.closed:
            self._text.detach()
            self._spool.close()

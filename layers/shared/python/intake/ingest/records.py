"""What a reader yields: a raw record at its line, or an error located in the file."""

from __future__ import annotations

from typing import Any, NamedTuple

from intake.models.domain import RowError


class RawRecord(NamedTuple):
    """A record as read, before validation. Readers on the hot path yield plain
    `(line, data)` tuples, which compare equal to this."""

    line: int | None  # physical line where the record starts (header = line 1)
    data: dict[str, Any]


# What readers yield: (line, data) for a record (a plain tuple on the hot path), or a located
# error. `data` is a dict (JSON) or, from a CSV reader, the row's cells in its `columns` order.
ReadEvent = tuple[int | None, Any] | RowError


class FileLevelError(Exception):
    """The file cannot be read further (bad header, broken JSON syntax): the run fails here.

    `error` is the first (the file's reason); `errors` all of them (e.g. one per required
    field no column maps to)."""

    def __init__(self, error: RowError, *more: RowError) -> None:
        super().__init__(error.message)
        self.error = error
        self.errors = (error, *more)

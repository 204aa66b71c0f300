"""Pick the reader for a media type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from intake.import_types import ImportType
from intake.ingest.csv_reader import read_csv
from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import ReadEvent


def read_records(
    stream: IO[bytes], media_type: str, import_type: ImportType, *, delimiter: str | None = None
) -> Iterable[ReadEvent]:
    """`delimiter` is the declared CSV delimiter; without one it is sniffed from the header."""
    if media_type == "text/csv":
        return read_csv(stream, required=import_type.required_fields, delimiter=delimiter)
    if media_type == "application/x-ndjson":
        return read_jsonl(stream)
    if media_type == "application/json":
        return read_json(stream)
    raise ValueError(f"no reader for {media_type}")

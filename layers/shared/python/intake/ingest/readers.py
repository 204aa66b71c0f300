"""Pick the reader for a media type (a stream's: spreadsheets are read by ingest/xlsx_reader.py
from a seekable file, see logic/run_execution.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from intake.ingest import media
from intake.ingest.csv_reader import read_csv
from intake.ingest.json_readers import read_json, read_jsonl
from intake.ingest.records import ReadEvent
from intake.models.mapping import Mapping


def read_records(
    stream: IO[bytes],
    media_type: str,
    *,
    mapping: Mapping | None = None,
    delimiter: str | None = None,
) -> Iterable[ReadEvent]:
    """Records of one stream. The mapping says how to read it (encoding, delimiter, sheet);
    `delimiter` is the file's older `csv_delimiter`, which the mapping's own one overrides.
    Without either, the delimiter is sniffed from the header."""
    mapping = mapping or Mapping()
    if media_type == media.CSV:
        return read_csv(stream, delimiter=mapping.delimiter or delimiter, encoding=mapping.encoding)
    if media_type == media.JSONL:
        return read_jsonl(stream)
    if media_type == media.JSON:
        return read_json(stream)
    raise ValueError(f"no reader for {media_type}")

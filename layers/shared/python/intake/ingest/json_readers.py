"""JSON Lines (one record per line) and JSON (an array, or an object with a records array)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import ijson

from intake.ingest.records import FileLevelError, RawRecord
from intake.models.domain import RowError


def read_jsonl(stream: IO[bytes]) -> Iterator[RawRecord | RowError]:
    for line_no, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except UnicodeDecodeError as exc:
            yield RowError(
                line=line_no, column=exc.start + 1, code="invalid_encoding", message="not UTF-8"
            )
            continue
        except json.JSONDecodeError as exc:
            yield RowError(line=line_no, column=exc.colno, code="invalid_json", message=exc.msg)
            continue
        if not isinstance(value, dict):
            yield RowError(line=line_no, code="not_an_object", message="a record must be an object")
            continue
        yield RawRecord(line_no, value)


def read_json(stream: IO[bytes]) -> Iterator[RawRecord | RowError]:
    prefix = _records_prefix(stream)
    try:
        for value in ijson.items(stream, prefix, use_float=True):
            if not isinstance(value, dict):
                yield RowError(code="not_an_object", message="a record must be an object")
                continue
            yield RawRecord(None, value)
    except ijson.JSONError as exc:
        raise FileLevelError(RowError(code="invalid_json", message=str(exc)[:300])) from None


def _records_prefix(stream: Any) -> str:
    head = stream.peek(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"[":
        return "item"
    if head[:1] == b"{":
        return "records.item"
    raise FileLevelError(
        RowError(line=1, code="invalid_json", message="expected a JSON array or an object")
    )

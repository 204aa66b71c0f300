"""Where valid records go. The parsers only know the Sink protocol; DynamoDB is one destination."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from boto3.dynamodb.types import TypeSerializer

from intake.aws import unvalidated_client
from intake.settings import get_settings

BATCH_LIMIT = 25  # DynamoDB BatchWriteItem maximum
MAX_ATTEMPTS = 8


class Sink(Protocol):
    """Accepts records keyed by their natural key; `flush` makes every accepted record durable."""

    def put(self, key: str, item: dict[str, Any]) -> None: ...

    def flush(self) -> int:
        """Write what is buffered; return how many records were written since the last flush."""
        ...


class SinkWriteError(Exception):
    """Records could not be written after every retry."""


class DynamoDBSink:
    """Batches of 25 by natural key (last write wins inside a batch, upsert across batches);
    unprocessed items are retried with exponential backoff and full jitter. Items go out in
    the low-level wire format, serialized here."""

    def __init__(
        self,
        *,
        tenant: str,
        import_type: str,
        file_id: str,
        imported_at: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._partition = f"{tenant}#{import_type}"
        self._file_id = file_id
        self._imported_at = imported_at
        self._sleep = sleep
        self._pending: dict[str, dict[str, Any]] = {}
        self._pending_rows = 0  # rows put since the last batch (a repeated key counts each time)
        self._written = 0
        self.requests = 0  # BatchWriteItem calls made (benchmarks report it)

    def put(self, key: str, item: dict[str, Any]) -> None:
        self._pending[key] = item
        self._pending_rows += 1
        if len(self._pending) >= BATCH_LIMIT:
            self._write_batch()

    def flush(self) -> int:
        if self._pending:
            self._write_batch()
        written, self._written = self._written, 0
        return written

    def _write_batch(self) -> None:
        table = get_settings().records_table
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **{name: _attribute(value) for name, value in item.items()},
                        "pk": {"S": self._partition},
                        "sk": {"S": key},
                        "file_id": {"S": self._file_id},
                        "imported_at": {"S": self._imported_at},
                    }
                }
            }
            for key, item in self._pending.items()
        ]
        rows, self._pending_rows = self._pending_rows, 0
        self._pending = {}
        unprocessed: dict[str, Any] = {table: requests}
        for attempt in range(MAX_ATTEMPTS):
            self.requests += 1
            response = unvalidated_client("dynamodb").batch_write_item(RequestItems=unprocessed)
            unprocessed = response.get("UnprocessedItems") or {}
            if not unprocessed:
                self._written += rows
                return
            if attempt + 1 < MAX_ATTEMPTS:  # no wait after the last attempt: it only delays
                self._sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))  # noqa: S311
        raise SinkWriteError(f"{len(unprocessed[table])} records still unprocessed")


_SERIALIZER = TypeSerializer()


def _attribute(value: Any) -> dict[str, Any]:
    """A value in DynamoDB's wire format: strings (nearly every value) without boto3's generic
    serializer, which costs more CPU per item than the request itself."""
    if type(value) is str:
        return {"S": value}
    if type(value) is float:  # TypeSerializer refuses floats; DynamoDB numbers are text
        return {"N": repr(value)}
    return _SERIALIZER.serialize(value)  # type: ignore[no-any-return]


class CountingSink:
    """Counts records without storing them (benchmarks of the parsing path)."""

    def __init__(self) -> None:
        self._count = 0
        self.requests = 0

    def put(self, key: str, item: dict[str, Any]) -> None:
        self._count += 1

    def flush(self) -> int:
        count, self._count = self._count, 0
        return count

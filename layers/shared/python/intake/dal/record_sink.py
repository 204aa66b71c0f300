"""Where valid records go. The parsers only know the Sink protocol; DynamoDB is one destination.

DynamoDB takes items up to 400 KB. A record bigger than that (a Sequent election event embeds
its logo as base64 in `presentation`) keeps its small attributes in the item and has its
biggest ones moved to one JSON object in the bucket (the claim-check pattern): the item's
`overflow` map names the object (`key`), the attributes moved (`fields`) and their size.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeSerializer

from intake.aws import unvalidated_client
from intake.dal import object_store
from intake.keys import overflow_key
from intake.settings import get_settings

BATCH_LIMIT = 25  # DynamoDB BatchWriteItem maximum
MAX_ATTEMPTS = 8
# DynamoDB's item limit is 400 KB (409,600 bytes, attribute names included); items are kept
# under this, leaving room for the attributes the sink adds and for our size being an estimate.
ITEM_BYTES = 380_000
# Never moved out of an item: its keys and what says where it came from.
_KEPT = frozenset({"pk", "sk", "id", "source_id", "file_id", "imported_at"})


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
        fit_items: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._partition = f"{tenant}#{import_type}"
        self._file_id = file_id
        self._imported_at = imported_at
        self._sleep = sleep
        # Measure each item and move what does not fit to the bucket (see the module doc):
        # for records whose size nothing bounds; it costs about as much as building the item.
        self._fit_items = fit_items
        self._pending: dict[str, dict[str, Any]] = {}
        self._pending_rows = 0  # rows put since the last batch (a repeated key counts each time)
        self._written = 0
        self.requests = 0  # BatchWriteItem calls made (benchmarks report it)
        self.overflowed = 0  # records whose biggest attributes went to the bucket

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
                    "Item": self._fitted(
                        key,
                        {
                            **{name: _attribute(value) for name, value in item.items()},
                            "pk": {"S": self._partition},
                            "sk": {"S": key},
                            "file_id": {"S": self._file_id},
                            "imported_at": {"S": self._imported_at},
                        },
                        item,
                    )
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

    def _fitted(self, key: str, wire: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        """The item as written: as it is when it fits, else with its biggest attributes moved
        to the bucket (written first, so an item never points to a missing object)."""
        if not self._fit_items:
            return wire
        sizes = {name: len(name.encode()) + _size(value) for name, value in wire.items()}
        total = sum(sizes.values())
        if total <= ITEM_BYTES:
            return wire
        moved: list[str] = []
        for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
            if total <= ITEM_BYTES - 1_000:  # room for the overflow map itself
                break
            if name in _KEPT or name not in item:
                continue
            moved.append(name)
            total -= sizes[name]
        body = json.dumps({name: item[name] for name in moved}, default=_json_number).encode()
        tenant, collection = self._partition.split("#", 1)
        object_key = overflow_key(tenant, collection, key)
        object_store.upload_file(object_key, io.BytesIO(body), content_type="application/json")
        self.overflowed += 1
        fitted = {name: value for name, value in wire.items() if name not in moved}
        fitted["overflow"] = _attribute({"key": object_key, "fields": moved, "bytes": len(body)})
        return fitted


def _size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it, from the wire format (a slight
    overestimate for numbers, which DynamoDB stores packed)."""
    kind, inner = next(iter(value.items()))
    if kind in ("S", "N"):
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # SS, NS, BS


def _json_number(value: Any) -> Any:
    """Exact decimals (how bundle documents are read) as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


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

"""The fault suite's harness: the integration harness (in-process moto with the stack's
resources, the real handlers) plus faults injected where AWS would produce them.

- `network` stands between botocore and moto (moto's in-process endpoint is a botocore
  `before-send` handler): a test answers chosen requests with the error AWS would send
  (throttling, access denied), so botocore's retries, parsing and error mapping all run as in
  AWS. It also applies each request atomically, as AWS applies one conditional write: moto's
  in-process backends take no lock, and two threads must not both win one condition.
- botocore event hooks on Intake's own cached clients (`intake.aws`) inject what happens
  inside one call: a worker that dies before a batch write, DynamoDB returning part of a batch
  as UnprocessedItems, an S3 body that breaks mid-read.
- `Worker` is one Lambda container of the import worker: its own handler module (so its own
  BatchProcessor), invoked with SQS event records built from real received messages.
- botocore's retry backoff is recorded instead of slept: the retries happen, the waits do not.

Every test ends by reading the records table itself: exactly the file's rows.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import botocore.endpoint
import botocore.exceptions
import pytest
import urllib3.exceptions
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.response import StreamingBody
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from intake import aws as intake_aws
from intake.clock import utcnow
from intake.models.db import file_key, iso
from intake.models.messages import ImportMessage
from intake_local.lambda_runtime import load_handler_module
from intake_local.resources import Resources
from intake_local.worker_runner import sqs_event_record
from tests.integration.conftest import (
    ROOT,
    api,
    declare_and_upload,
    handlers,
    lambda_context,
)

__all__ = ["api", "handlers"]  # the integration fixtures, used here too

BATCH = 25  # rows per sink BatchWriteItem (DynamoDB's limit; record_sink.BATCH_LIMIT)


# --- files and the sink ------------------------------------------------------------------------


def contacts_csv(rows: int, prefix: str = "r", *, remarks: int = 0) -> tuple[bytes, list[str]]:
    """A contacts CSV of `rows` valid rows, and its natural keys in file order. `remarks` adds
    a column (unused by the import type) of that many characters: wide rows, big files."""
    keys = [f"{prefix}-{i:04d}" for i in range(rows)]
    pad = "," + "x" * remarks if remarks else ""
    lines = [f"{k},{k}@example.com,Name {k}{pad}\n" for k in keys]
    header = "external_id,email,first_name" + (",remarks" if remarks else "")
    return (header + "\n" + "".join(lines)).encode(), keys


def sink_rows(aws: Resources) -> list[dict[str, Any]]:
    """Every item in the records table (all tenants, all types): what the sink holds."""
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_sink_holds_exactly(aws: Resources, files: dict[str, list[str]]) -> None:
    """The sink holds each file's rows once, written by that file, and nothing else."""
    rows = sink_rows(aws)
    held = Counter((r["file_id"], r["sk"]) for r in rows)
    expected = Counter((file_id, key) for file_id, keys in files.items() for key in keys)
    missing = expected - held
    extra = held - expected
    assert not missing, f"{len(missing)} rows lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} rows too many, e.g. {sorted(extra)[:3]}"
    assert len(rows) == sum(len(keys) for keys in files.values())


def assert_succeeded_with_exactly(
    api: Callable[..., tuple[int, Any]], aws: Resources, file_id: str, keys: list[str]
) -> dict[str, Any]:
    """The file ended SUCCEEDED, says it wrote its rows, and the sink holds exactly them."""
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == len(keys)
    assert_sink_holds_exactly(aws, {file_id: keys})
    return view


def file_view(api: Callable[..., tuple[int, Any]], file_id: str) -> dict[str, Any]:
    status, view = api("GET", f"/files/{file_id}")
    assert status == 200, view
    return dict(view)


# --- the network between botocore and moto -----------------------------------------------------

Answer = Callable[[AWSPreparedRequest, int], AWSResponse | None]


@dataclass
class Network:
    """Requests as AWS sees them. `intercept` answers some instead of AWS (moto)."""

    calls: Counter[str] = field(default_factory=Counter)  # "service.Operation" -> requests
    _answers: dict[str, Answer] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def intercept(self, service: str, operation: str, answer: Answer) -> None:
        """`answer(request, n)` for the n-th request (from 1) of that operation: a response to
        send back instead of AWS's, or None to let AWS (moto) answer."""
        self._answers[f"{service}.{operation}"] = answer

    def clear(self) -> None:
        self._answers.clear()

    def send(self, event_name: str, request: AWSPreparedRequest, to_aws: Callable[[], Any]) -> Any:
        # event_name is "before-send.<service-id>.<Operation>"
        operation = event_name.removeprefix("before-send.")
        with self._lock:
            self.calls[operation] += 1
            answer = self._answers.get(operation)
            response = answer(request, self.calls[operation]) if answer else None
            return response if response is not None else to_aws()


@pytest.fixture(autouse=True)
def network(aws: Resources, monkeypatch: pytest.MonkeyPatch) -> Network:
    """Every test's requests go through it (atomic, counted); faults only where intercepted."""
    net = Network()
    real_call = BotocoreStubber.__call__

    def call(stubber: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        return net.send(event_name, request, lambda: real_call(stubber, event_name, request))

    monkeypatch.setattr(BotocoreStubber, "__call__", call)
    return net


def dynamodb_error(code: str, message: str, status: int = 400) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    return AWSResponse("https://dynamodb", status, headers, MockRawResponse(body))  # type: ignore[arg-type]


def s3_error(code: str, message: str, status: int) -> AWSResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault</RequestId></Error>"
    )
    headers = {"Content-Type": "application/xml", "x-amz-request-id": "fault"}
    return AWSResponse("https://s3", status, headers, MockRawResponse(body))  # type: ignore[arg-type]


THROTTLED = "ProvisionedThroughputExceededException"


def throttled() -> AWSResponse:
    return dynamodb_error(
        THROTTLED,
        "The level of configured provisioned throughput for the table was exceeded.",
    )


@pytest.fixture(autouse=True)
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry delays, recorded instead of slept (the retries themselves happen)."""
    delays: list[float] = []

    class _Time:
        @staticmethod
        def sleep(seconds: float) -> None:
            delays.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", _Time)
    return delays


# --- hooks on Intake's own clients -------------------------------------------------------------


class Hooks:
    """botocore event hooks on the clients Intake caches (intake.aws), for this test only."""

    @property
    def sink(self) -> Any:
        """The records table's client (the sink's batch writes)."""
        return intake_aws.unvalidated_client("dynamodb")

    @property
    def status(self) -> Any:
        """The status table's client."""
        return intake_aws.resource("dynamodb").meta.client

    @property
    def s3(self) -> Any:
        return intake_aws.client("s3")

    def on(self, client: Any, event: str, handler: Callable[..., Any]) -> None:
        client.meta.events.register(event, handler)


@pytest.fixture
def hooks(aws: Resources) -> Hooks:
    # The `aws` fixture resets the cached clients: these hooks live and die with this test's.
    return Hooks()


class WorkerKilled(BaseException):
    """The Lambda process dies (timeout, out of memory): nothing after this point runs, not
    even the worker's own error handling. A BaseException, so no `except Exception` sees it."""


# --- the worker and the queue ------------------------------------------------------------------


@dataclass
class Delivery:
    messages: list[dict[str, Any]]
    failed: set[str]  # message ids in batchItemFailures

    @property
    def ids(self) -> list[str]:
        return [m["MessageId"] for m in self.messages]


class Queue:
    """The import queue as Lambda's event source mapping sees it."""

    def __init__(self, aws: Resources) -> None:
        self.aws = aws
        self.sqs = boto3.client("sqs")
        self._latest: dict[str, str] = {}  # message id -> its latest receipt handle

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        messages = list(
            self.sqs.receive_message(
                QueueUrl=self.aws.queue_url,
                MaxNumberOfMessages=max_messages,
                AttributeNames=["All"],
            ).get("Messages", [])
        )
        self._latest.update((m["MessageId"], m["ReceiptHandle"]) for m in messages)
        return messages

    def visibility_timeout_passes(self, message: dict[str, Any]) -> None:
        """The message becomes visible again, as it does when its visibility timeout ends."""
        self.sqs.change_message_visibility(
            QueueUrl=self.aws.queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )

    def delete(self, message: dict[str, Any]) -> None:
        if self._latest.get(message["MessageId"]) != message["ReceiptHandle"]:
            # Received again since: SQS answers a delete with an older receipt handle with
            # success and keeps the message (moto would delete it).
            return
        self.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def depth(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.aws.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def dead_letters(self) -> list[str]:
        bodies = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.aws.dlq_url, MaxNumberOfMessages=10
        ).get("Messages"):
            bodies += [m["Body"] for m in batch]
        return bodies


class Worker:
    """One Lambda container of the import worker (its own handler module and BatchProcessor)."""

    def __init__(self, aws: Resources, queue: Queue) -> None:
        self.aws = aws
        self.queue = queue
        path = ROOT / "functions" / "import_worker" / "handler.py"
        self.module: ModuleType = load_handler_module(
            path, f"intake_fault_worker_{uuid.uuid4().hex}"
        )

    def invoke(self, messages: list[dict[str, Any]]) -> Delivery:
        """One invocation with these messages; settles them as the event source mapping does:
        succeeded ones deleted, failed ones left for redelivery."""
        event = {"Records": [sqs_event_record(m, self.aws.queue_arn) for m in messages]}
        response = self.module.lambda_handler(event, lambda_context("intake-import-worker"))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.queue.delete(m)
        return Delivery(messages, failed)

    def poll(self) -> Delivery | None:
        """Receive a batch and invoke; failed messages come back at once (their visibility
        timeout is taken as passed)."""
        messages = self.queue.receive()
        if not messages:
            return None
        delivery = self.invoke(messages)
        for m in messages:
            if m["MessageId"] in delivery.failed:
                self.queue.visibility_timeout_passes(m)
        return delivery

    def run_until_empty(self, max_rounds: int = 20) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for _ in range(max_rounds):
            delivery = self.poll()
            if delivery is None:
                return deliveries
            deliveries.append(delivery)
        raise AssertionError(f"the queue still had messages after {max_rounds} deliveries")


@pytest.fixture
def queue(aws: Resources) -> Queue:
    return Queue(aws)


@pytest.fixture
def new_worker(aws: Resources, queue: Queue) -> Callable[[], Worker]:
    return lambda: Worker(aws, queue)


@pytest.fixture
def worker(new_worker: Callable[[], Worker]) -> Worker:
    return new_worker()


def import_message_of(message: dict[str, Any]) -> ImportMessage:
    return ImportMessage.model_validate_json(message["Body"])


@pytest.fixture
def lease_seconds(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set PROCESSING_LEASE_SECONDS for the functions (the settings are re-read)."""
    from intake.settings import get_settings

    def set_lease(seconds: int) -> None:
        monkeypatch.setenv("PROCESSING_LEASE_SECONDS", str(seconds))
        get_settings.cache_clear()

    return set_lease


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target` in a thread; the dict gets its result or its exception."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # a test thread reports everything, WorkerKilled too
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leaked:
        t.join(timeout=30)
    assert not [t for t in leaked if t.is_alive()], "a worker thread did not finish"


# --- files through the flow --------------------------------------------------------------------


def upload_for_import(
    api: Callable[..., tuple[int, Any]], worker: Worker, body: bytes, **declaration: Any
) -> str:
    """Declare with auto_import, upload, and let `worker` handle the upload's notification:
    the file is QUEUED and its import message waits on the queue (no fault armed yet)."""
    file_id = declare_and_upload(api, body, auto_import=True, **declaration)
    delivery = worker.poll()  # s3:TestEvent and ObjectCreated: verified, then queued
    assert delivery is not None and not delivery.failed
    assert file_view(api, file_id)["status"] == "QUEUED"
    return file_id


def status_item(aws: Resources, file_id: str, tenant: str = "acme") -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(aws.names.status_table)
    item = table.get_item(Key=file_key(tenant, file_id), ConsistentRead=True)["Item"]
    return dict(item)


def lease_expires(aws: Resources, file_id: str, tenant: str = "acme") -> None:
    """The file's processing lease as it is once its duration has passed (nobody renewed it):
    what a redelivery sees after the queue's visibility timeout, which outlasts the lease."""
    assert "lease_until" in status_item(aws, file_id, tenant)
    boto3.resource("dynamodb").Table(aws.names.status_table).update_item(
        Key=file_key(tenant, file_id),
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": iso(utcnow() - timedelta(seconds=1))},
    )


# --- S3 bodies that break mid-read -------------------------------------------------------------


def read_timeout() -> Exception:
    """What urllib3 raises when S3 stops sending (botocore: ReadTimeoutError, an OSError)."""
    return urllib3.exceptions.ReadTimeoutError(None, "https://s3", "Read timed out.")  # type: ignore[arg-type]


def connection_reset() -> Exception:
    """What urllib3 raises when the connection drops (botocore: ResponseStreamingError)."""
    return urllib3.exceptions.ProtocolError(
        "Connection broken", ConnectionResetError(104, "Connection reset by peer")
    )


class _BreaksAfter:
    """A response body's raw stream that delivers `after` bytes, then fails with `error`."""

    def __init__(self, body: StreamingBody, after: int, error: Exception) -> None:
        self._body = body
        self._left = after
        self._error = error

    def read(self, amt: int | None = None) -> bytes:
        if self._left <= 0:
            raise self._error
        chunk = self._body.read(self._left if amt is None else min(amt, self._left))
        self._left -= len(chunk)
        return chunk  # a short read: the bytes that arrived before the connection broke

    def close(self) -> None:
        self._body.close()


class BrokenBody:
    """The n-th GetObject of Intake's S3 client (from 1, counted from now) gets a body that
    breaks after `after` bytes, raising what urllib3 raises (Intake reads the raw stream)."""

    def __init__(self, hooks: Hooks, *, nth: int, after: int, error: Callable[[], Exception]):
        self.nth = nth
        self.after = after
        self.error = error
        self.gets: list[str | None] = []  # the Range of every GetObject call seen
        self.broken = False
        hooks.on(hooks.s3, "before-parameter-build.s3.GetObject", self._note)
        hooks.on(hooks.s3, "after-call.s3.GetObject", self._after_call)

    def _note(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.gets.append(params.get("Range"))

    def _after_call(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        if len(self.gets) != self.nth or "Body" not in parsed:
            return
        self.broken = True
        parsed["Body"] = StreamingBody(
            _BreaksAfter(parsed["Body"], self.after, self.error()),  # type: ignore[arg-type]
            int(parsed["ContentLength"]),
        )


class NoAnswer:
    """The n-th GetObject call of Intake's S3 client (from 1, counted from now) gets no answer
    on any attempt: botocore retries, then raises its ReadTimeoutError (an OSError)."""

    def __init__(self, hooks: Hooks, *, nth: int) -> None:
        self.nth = nth
        self.gets: list[str | None] = []
        self.attempts = 0
        hooks.on(hooks.s3, "before-parameter-build.s3.GetObject", self._note)
        hooks.on(hooks.s3, "before-send.s3.GetObject", self._time_out)

    @property
    def broken(self) -> bool:
        return self.attempts > 0

    def _note(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.gets.append(params.get("Range"))

    def _time_out(self, request: AWSPreparedRequest, **kwargs: Any) -> None:
        if len(self.gets) == self.nth:
            self.attempts += 1
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url)

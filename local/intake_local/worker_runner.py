"""Run the import worker from the import queue the way Lambda's SQS event source mapping does.

- long-polls the queue, gathers up to `batch_size` messages within the batching window;
- hands them over as the SQS event Lambda builds (Records with messageId, receiptHandle,
  body, attributes, messageAttributes, md5OfBody, eventSource, eventSourceARN, awsRegion);
- with ReportBatchItemFailures semantics: messages named in `batchItemFailures` are retried,
  the others deleted; a function error or an invalid answer fails the whole batch;
- the queue's RedrivePolicy does the rest: moto, like SQS, moves a message to the DLQ when it
  is received again after maxReceiveCount receives.

Local-stack behaviour, not AWS's: a failed message is made visible again after
`retry_delay_seconds` (ChangeMessageVisibility, default 2 s). In AWS it stays invisible for
the queue's visibility timeout (6x the worker's timeout, 90 minutes), which is right there and
useless on a laptop.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from intake_local.lambda_runtime import REGION, LocalFunction

log = logging.getLogger("intake_local.worker")

SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most ten messages per call


@dataclass
class BatchOutcome:
    received: int = 0
    succeeded: list[str] = field(default_factory=list)  # message ids
    failed: list[str] = field(default_factory=list)
    reason: str = ""  # why the whole batch failed, if it did


class WorkerRunner:
    def __init__(
        self,
        function: LocalFunction,
        sqs: Any,
        *,
        queue_url: str,
        queue_arn: str,
        batch_size: int = 10,
        batching_window_seconds: float = 0.0,
        wait_seconds: int = 1,
        retry_delay_seconds: int = 2,
        dlq_url: str | None = None,
        region: str = REGION,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.function = function
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.batching_window_seconds = batching_window_seconds
        self.wait_seconds = wait_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.dlq_url = dlq_url
        self.region = region
        self.report = report or (lambda line: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dlq_depth = 0
        self.batches = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="worker-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a batch in progress is finished first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning("worker runner did not stop within %.0f s", timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
                self._watch_dlq()
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("worker runner: polling failed; retrying in 1 s")
                self._stop.wait(1.0)

    # --- one batch -------------------------------------------------------------------------

    def poll_once(self) -> BatchOutcome:
        messages = self._receive_batch()
        if not messages:
            return BatchOutcome()
        self.batches += 1
        event = {"Records": [self.to_record(m) for m in messages]}
        invocation = self.function.invoke(event)
        outcome = self.settle(
            messages, invocation.result if invocation.ok else None, error=invocation.error
        )
        self.report(self._describe(outcome, invocation.duration_ms))
        return outcome

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages = self._receive(self.batch_size, self.wait_seconds)
        if not messages or self.batching_window_seconds <= 0:
            return messages
        # The batching window: keep gathering until the batch is full or the window closes.
        window_ends = time.monotonic() + self.batching_window_seconds
        while len(messages) < self.batch_size and time.monotonic() < window_ends:
            more = self._receive(self.batch_size - len(messages), 0)
            if more:
                messages.extend(more)
            elif self._stop.wait(0.05):
                break
        return messages

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(count, SQS_RECEIVE_MAX),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def to_record(self, message: dict[str, Any]) -> dict[str, Any]:
        return sqs_event_record(message, self.queue_arn, self.region)

    def settle(
        self,
        messages: Sequence[dict[str, Any]],
        result: Any,
        *,
        error: BaseException | None = None,
    ) -> BatchOutcome:
        """Delete what succeeded, schedule a retry for what failed."""
        ids = [m["MessageId"] for m in messages]
        failed_ids, reason = _failed_ids(ids, result, error)
        outcome = BatchOutcome(
            received=len(messages),
            succeeded=[i for i in ids if i not in failed_ids],
            failed=[i for i in ids if i in failed_ids],
            reason=reason,
        )
        by_id = {m["MessageId"]: m for m in messages}
        for chunk in _chunks(outcome.succeeded, SQS_RECEIVE_MAX):
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": by_id[i]["ReceiptHandle"]}
                    for n, i in enumerate(chunk)
                ],
            )
            for failure in answer.get("Failed", []):
                log.warning("could not delete a processed message: %s", failure)
        for chunk in _chunks(outcome.failed, SQS_RECEIVE_MAX):
            answer = self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(n),
                        "ReceiptHandle": by_id[i]["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_delay_seconds,
                    }
                    for n, i in enumerate(chunk)
                ],
            )
            for failure in answer.get("Failed", []):
                log.warning("could not schedule a retry: %s", failure)
        return outcome

    def _describe(self, outcome: BatchOutcome, duration_ms: float) -> str:
        line = f"worker batch of {outcome.received}: {len(outcome.succeeded)} done"
        if outcome.failed:
            line += f", {len(outcome.failed)} retry in {self.retry_delay_seconds}s"
            if outcome.reason:
                line += f" ({outcome.reason})"
        return line + f" ({duration_ms:.0f}ms)"

    def _watch_dlq(self) -> None:
        if not self.dlq_url:
            return
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        depth = int(attrs.get("ApproximateNumberOfMessages", 0))
        if depth > self._dlq_depth:
            self.report(
                f"worker: {depth - self._dlq_depth} message(s) moved to the DLQ "
                f"after maxReceiveCount receives ({depth} there now)"
            )
        self._dlq_depth = depth


def _failed_ids(ids: list[str], result: Any, error: BaseException | None) -> tuple[set[str], str]:
    """The message ids to retry, as Lambda reads a ReportBatchItemFailures answer."""
    if error is not None:
        return set(ids), f"function error: {type(error).__name__}"
    if result is None:
        return set(), ""
    if not isinstance(result, dict):
        return set(ids), "invalid response"
    failures = result.get("batchItemFailures")
    if not failures:
        return set(), ""
    if not isinstance(failures, list):
        return set(ids), "invalid batchItemFailures"
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            # An empty, null or unknown itemIdentifier fails the whole batch.
            return set(ids), f"invalid itemIdentifier {identifier!r}"
        failed.add(identifier)
    return failed, ""


def sqs_event_record(
    message: dict[str, Any], queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """One received SQS message as a record of the event Lambda's event source sends."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _record_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _record_attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    return out


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

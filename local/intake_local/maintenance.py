"""The local stack's share of operations: the run sweep's schedule and the DLQ redrive.

- `SweepSchedule` calls `run_sweep` every interval with the event EventBridge's schedule sends,
  as the stack's rule does every RUN_SWEEP_INTERVAL_MINUTES.
- `redrive_dlq` moves the DLQ's messages back to the import queue. In AWS that is
  `aws sqs start-message-move-task --source-arn <dlq arn>`; moto (5.2.5, in process and server)
  does not implement StartMessageMoveTask, so locally the same move is a receive, a send of the
  same body and attributes to the source queue, and a delete, message by message.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from intake_local.lambda_runtime import ACCOUNT_ID, REGION, LocalFunction

log = logging.getLogger("intake_local.maintenance")

SQS_BATCH_MAX = 10


def scheduled_event(rule_arn: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The event an EventBridge schedule delivers to its target."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": when,
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


SWEEP_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/intake-local-run-sweep"


class SweepSchedule:
    """Invoke the sweep function every `interval_seconds` until stopped."""

    def __init__(
        self,
        function: LocalFunction,
        interval_seconds: float,
        *,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.function = function
        self.interval_seconds = interval_seconds
        self.report = report or (lambda line: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="run-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.sweep_once()

    def sweep_once(self) -> dict[str, int] | None:
        invocation = self.function.invoke(scheduled_event(SWEEP_RULE_ARN))
        if not invocation.ok:
            self.report(f"run sweep failed: {type(invocation.error).__name__} (local-stack.log)")
            return None
        result: dict[str, int] = invocation.result
        if result.get("requeued") or result.get("failed"):
            self.report(
                f"run sweep: {result['requeued']} run(s) requeued, {result['failed']} failed "
                f"({result['past_lease']} past their lease, {result['queued_overdue']} queued "
                "too long)"
            )
        return result


@dataclass
class Redrive:
    moved: int = 0
    failed: int = 0  # sent back but could not be deleted from the DLQ: there twice now


def redrive_dlq(sqs: Any, *, dlq_url: str, queue_url: str) -> Redrive:
    """Move every message of the DLQ back to `queue_url`, body and attributes unchanged."""
    outcome = Redrive()
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=SQS_BATCH_MAX,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return outcome
        for message in messages:
            attributes = message.get("MessageAttributes")
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                **({"MessageAttributes": attributes} if attributes else {}),
            )
            try:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception:
                log.exception("redriven message %s not deleted from the DLQ", message["MessageId"])
                outcome.failed += 1
                continue
            outcome.moved += 1

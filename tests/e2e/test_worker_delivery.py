"""The worker runs from SQS the way Lambda's event source mapping does, with the real worker:
partial batch failures, redelivery, and the DLQ after maxReceiveCount receives."""

from __future__ import annotations

import time
import uuid

from infra.definitions import IMPORT_QUEUE
from tests.e2e.support import RETRY_DELAY, Api, Stack, contacts_csv, eventually


def _dlq_bodies(stack: Stack) -> dict[str, dict]:
    sqs = stack.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=stack.dlq_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=0,  # only looking: leave them for the next look
        WaitTimeSeconds=0,
    )
    return {m["Body"]: m for m in answer.get("Messages", [])}


def test_a_poison_message_goes_to_the_dlq_and_its_batch_mates_still_succeed(
    api: Api, stack: Stack
) -> None:
    file_id = api.uploaded(contacts_csv(3, prefix="mate"))
    poison = f"not json at all {uuid.uuid4()}"
    started = time.monotonic()

    # Given a message the worker cannot handle, queued next to a real import request
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=poison)
    assert api.call("POST", f"/files/{file_id}/import", json={}).status_code == 202

    # Then the import succeeds: only the failed message is retried, not its batch
    assert api.wait(file_id, "SUCCEEDED")["result"]["rows_written"] == 3

    # And the poison message is redelivered until maxReceiveCount, then moved to the DLQ
    moved = eventually(lambda: _dlq_bodies(stack).get(poison), timeout=30)
    elapsed = time.monotonic() - started
    receives = int(moved["Attributes"]["ApproximateReceiveCount"])
    assert receives >= IMPORT_QUEUE.max_receive_count
    assert elapsed >= (IMPORT_QUEUE.max_receive_count - 1) * RETRY_DELAY
    assert not any("intake.import" in body for body in _dlq_bodies(stack))
    # The runner says so on the stack's console.
    console = stack.state_dir / "console.log"
    assert "retry in" in console.read_text()
    eventually(lambda: "moved to the DLQ" in console.read_text(), timeout=5)

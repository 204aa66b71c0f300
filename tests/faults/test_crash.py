"""The worker crashes between two batch writes of the sink; the message is delivered again."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from tests.faults.conftest import (
    BATCH,
    WorkerKilled,
    assert_sink_holds_exactly,
    assert_succeeded_with_exactly,
    contacts_csv,
    file_view,
    lease_expires,
    sink_rows,
    status_item,
    upload_for_import,
)

ROWS = 5 * BATCH + 7  # six batch writes


# on_invalid="fail" reads the file twice: a validating pass that writes nothing, then the
# writing pass, which is the one broken here. on_invalid="skip" writes in its only pass.
@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_worker_dies_between_batch_writes_and_the_redelivery_finishes_the_file(
    api, aws, hooks, queue, new_worker, on_invalid
):
    # Given a queued file of six batches, and a worker that dies before its third batch write
    body, keys = contacts_csv(ROWS)
    first = new_worker()
    file_id = upload_for_import(api, first, body, on_invalid=on_invalid)
    batch_writes = []

    def dies_before_the_third(**kwargs):
        batch_writes.append(kwargs["params"])
        if len(batch_writes) == 3:
            raise WorkerKilled("Task timed out")

    hooks.on(hooks.sink, "before-call.dynamodb.BatchWriteItem", dies_before_the_third)
    [message] = queue.receive()

    # When the invocation dies mid-run (no error handling of its own runs)
    with pytest.raises(WorkerKilled):
        first.invoke([message])

    # Then two batches are written and the file is PROCESSING under the dead worker's lease
    assert len(sink_rows(aws)) == 2 * BATCH
    assert file_view(api, file_id)["status"] == "PROCESSING"

    # When the lease runs out and the message comes back (its visibility timeout is longer)
    lease_expires(aws, file_id)
    queue.visibility_timeout_passes(message)
    deliveries = new_worker().run_until_empty()

    # Then the next container takes the run over and the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == ROWS
    assert "lease_until" not in status_item(aws, file_id)
    assert_sink_holds_exactly(aws, {file_id: keys})


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_sink_connection_lost_between_batch_writes_fails_the_delivery_and_the_retry_finishes(
    api, aws, hooks, queue, worker, backoff, on_invalid
):
    # Given a queued file, and the sink's endpoint unreachable from the third batch write on
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid=on_invalid)
    attempts = []

    def unreachable_from_the_third_batch(request, **kwargs):
        attempts.append(request)
        if len(attempts) >= 3:
            raise EndpointConnectionError(endpoint_url=request.url)

    hooks.on(hooks.sink, "before-send.dynamodb.BatchWriteItem", unreachable_from_the_third_batch)

    # When the worker gets the import message
    delivery = worker.poll()

    # Then botocore retried the third batch, the delivery failed, and the run let go of its
    # lease so the redelivery need not wait for it
    assert delivery is not None and delivery.failed == set(delivery.ids)
    third_batch_attempts = len(attempts) - 2
    assert third_batch_attempts > 1
    assert len(backoff) == third_batch_attempts - 1
    assert len(sink_rows(aws)) == 2 * BATCH
    assert file_view(api, file_id)["status"] == "PROCESSING"

    # When the network is back and the message is delivered again
    hooks.sink.meta.events.unregister(
        "before-send.dynamodb.BatchWriteItem", unreachable_from_the_third_batch
    )
    deliveries = worker.run_until_empty()

    # Then the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    assert_succeeded_with_exactly(api, aws, file_id, keys)

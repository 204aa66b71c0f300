"""DynamoDB throttles the sink: throttling errors, and batches it only partly takes."""

from __future__ import annotations

import json

import pytest

from intake.dal.record_sink import MAX_ATTEMPTS
from tests.faults.conftest import (
    BATCH,
    assert_succeeded_with_exactly,
    contacts_csv,
    file_view,
    sink_rows,
    throttled,
    upload_for_import,
)

ROWS = 5 * BATCH + 11


def written_keys(request) -> list[str]:
    [requests] = json.loads(request.body)["RequestItems"].values()
    return [r["PutRequest"]["Item"]["sk"]["S"] for r in requests]


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_throttled_batch_writes_are_retried_and_the_file_succeeds_in_one_delivery(
    api, aws, network, queue, worker, backoff, on_invalid
):
    # Given a queued file, and DynamoDB refusing every other batch write request (throttled)
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid=on_invalid)
    refused: list[list[str]] = []

    def every_other(request, n):
        if n % 2 == 1:
            refused.append(written_keys(request))
            return throttled()
        return None

    network.intercept("dynamodb", "BatchWriteItem", every_other)

    # When the worker runs the import
    deliveries = worker.run_until_empty()

    # Then botocore backed off and sent each refused batch again: one delivery, every row
    assert [d.failed for d in deliveries] == [set()]
    assert len(refused) == ROWS // BATCH + 1
    assert len(backoff) == len(refused)
    assert network.calls["dynamodb.BatchWriteItem"] == 2 * len(refused)
    assert_succeeded_with_exactly(api, aws, file_id, keys)


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_throttling_past_every_retry_fails_the_delivery_and_the_redelivery_finishes(
    api, aws, network, queue, worker, backoff, on_invalid
):
    # Given a queued file, and DynamoDB throttling from the third batch write on, for longer
    # than botocore retries
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid=on_invalid)
    network.intercept(
        "dynamodb", "BatchWriteItem", lambda request, n: throttled() if n >= 3 else None
    )

    # When the worker gets the import message
    delivery = worker.poll()

    # Then the delivery fails with the throttling error and the first two batches are written
    assert delivery is not None and delivery.failed == set(delivery.ids)
    assert len(sink_rows(aws)) == 2 * BATCH
    assert file_view(api, file_id)["status"] == "PROCESSING"

    # When the table has capacity again and the message comes back
    network.clear()
    deliveries = worker.run_until_empty()

    # Then the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    assert_succeeded_with_exactly(api, aws, file_id, keys)


class Withholding:
    """DynamoDB writes part of a batch request and hands the rest back as UnprocessedItems
    (what it does when a partition is over its capacity). `take(size, n)` says how many items
    of the n-th request (from 1) of `size` items it writes: the first ones."""

    def __init__(self, hooks, take) -> None:
        self.take = take
        self.requests = 0
        self.handed_back: list[int] = []  # items handed back, per request that had some
        self.active = True
        hooks.on(hooks.sink, "before-parameter-build.dynamodb.BatchWriteItem", self._withhold)
        hooks.on(hooks.sink, "after-call.dynamodb.BatchWriteItem", self._hand_back)

    def stop(self) -> None:
        self.active = False

    def _withhold(self, params, context, **kwargs):
        if not self.active:
            return
        self.requests += 1
        [(table, requests)] = params["RequestItems"].items()
        taken = self.take(len(requests), self.requests)
        if taken >= len(requests):
            return
        # A new dict: the request the sink built stays as it built it.
        params["RequestItems"] = {table: requests[:taken]}
        context["withheld"] = {table: requests[taken:]}
        self.handed_back.append(len(requests) - taken)

    def _hand_back(self, parsed, context, **kwargs):
        if "withheld" in context:
            parsed.setdefault("UnprocessedItems", {}).update(context.pop("withheld"))


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_unprocessed_items_are_written_again_until_every_row_is_in(
    api, aws, hooks, queue, worker, on_invalid
):
    # Given a queued file, and DynamoDB writing only 10 items of each of the first eight
    # batch requests
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid=on_invalid)
    partial = Withholding(hooks, lambda size, n: min(size, 10) if n <= 8 else size)

    # When the worker runs the import
    deliveries = worker.run_until_empty()

    # Then the sink sent what came back until nothing did: one delivery, every row once
    assert [d.failed for d in deliveries] == [set()]
    # batches 1 to 3 went out three times each: 25 items (15 back), 15 (5 back), then 5
    assert partial.handed_back == [15, 5] * 3
    assert_succeeded_with_exactly(api, aws, file_id, keys)


def test_unprocessed_items_past_every_retry_fail_the_delivery_never_the_rows(
    api, aws, hooks, queue, worker
):
    # Given a queued file, and DynamoDB writing 20 items, then handing every item back
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid="skip")
    partial = Withholding(hooks, lambda size, n: min(size, 20) if n == 1 else 0)

    # When the worker runs the import
    delivery = worker.poll()

    # Then the first batch's last five rows never got in, the sink gave up after its retries,
    # and the run does not claim success
    assert delivery is not None and delivery.failed == set(delivery.ids)
    assert partial.requests == MAX_ATTEMPTS
    assert partial.handed_back == [5] * MAX_ATTEMPTS
    assert len(sink_rows(aws)) == 20
    assert file_view(api, file_id)["status"] == "PROCESSING"

    # When DynamoDB takes whole batches again and the message comes back
    partial.stop()
    deliveries = worker.run_until_empty()

    # Then the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    assert_succeeded_with_exactly(api, aws, file_id, keys)

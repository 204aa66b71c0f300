"""Every delivery of a run fails: the last one ends the file FAILED with the reason, and the
file can be run again once the fault is gone."""

from __future__ import annotations

import pytest

from intake.settings import get_settings
from tests.faults.conftest import (
    BATCH,
    assert_sink_holds_exactly,
    contacts_csv,
    dynamodb_error,
    file_view,
    s3_error,
    sink_rows,
    upload_for_import,
)

ROWS = 4 * BATCH + 6

FAULTS = {
    # The object cannot be read (a bucket policy or KMS key change): nothing is written.
    "s3_access_denied": (
        "s3",
        "GetObject",
        lambda request, n: s3_error("AccessDenied", "Access Denied", 403),
        0,
        "AccessDenied",
    ),
    # The sink refuses writes from the third batch on: every delivery rewrites the same two.
    "sink_access_denied": (
        "dynamodb",
        "BatchWriteItem",
        lambda request, n: (
            dynamodb_error("AccessDeniedException", "not authorized to perform BatchWriteItem")
            if n % 3 == 0  # the third write of each delivery
            else None
        ),
        2 * BATCH,
        "AccessDeniedException",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_last_delivery_ends_the_file_failed_with_the_reason(
    api, aws, network, queue, worker, fault
):
    # Given a queued file (on_invalid="skip": each delivery writes as it reads), and a fault
    # that fails every delivery of its import
    service, operation, answer, rows_left, error = FAULTS[fault]
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, worker, body, on_invalid="skip")
    network.intercept(service, operation, answer)

    # When SQS delivers the message as often as the queue allows (maxReceiveCount)
    deliveries = worker.run_until_empty()

    # Then each delivery failed, the last one ended the file FAILED with the reason, and the
    # message went to the dead-letter queue
    max_receives = get_settings().max_receive_count
    assert [len(d.failed) for d in deliveries] == [1] * max_receives
    view = file_view(api, file_id)
    assert view["status"] == "FAILED", view
    assert view["reason"] == f"the import could not complete ({error}); see logs"
    assert len(queue.dead_letters()) == 1
    # ... and the sink holds what the deliveries wrote before the fault, once
    assert sorted(r["sk"] for r in sink_rows(aws)) == keys[:rows_left]

    # When the fault is gone and the file is run again
    network.clear()
    status, accepted = api("POST", f"/files/{file_id}/import", body={"on_invalid": "skip"})
    assert status == 202, accepted
    deliveries = worker.run_until_empty()

    # Then it ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert "reason" not in view or view["reason"] is None
    assert view["result"]["rows_written"] == ROWS
    assert_sink_holds_exactly(aws, {file_id: keys})

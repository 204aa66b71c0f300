"""A redelivery arrives while the first run still holds its lease: it waits its turn."""

from __future__ import annotations

import threading

import pytest

from tests.faults.conftest import (
    BATCH,
    assert_sink_holds_exactly,
    contacts_csv,
    file_view,
    in_thread,
    sink_rows,
    upload_for_import,
)

ROWS = 4 * BATCH + 3


@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_redelivery_during_a_live_lease_never_runs_the_file_concurrently(
    api, aws, hooks, queue, new_worker, lease_seconds, on_invalid
):
    # Given a lease far longer than this test (however slow the machine), and a queued file
    lease_seconds(3600)
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, new_worker(), body, on_invalid=on_invalid)
    [message] = queue.receive()

    # ... whose first worker is on its second batch write when the message comes back
    first_thread: list[int] = []
    writes_by_thread: dict[int, int] = {}
    mid_run, resume = threading.Event(), threading.Event()

    def pause_the_first_run(**kwargs):
        me = threading.get_ident()
        writes_by_thread[me] = writes_by_thread.get(me, 0) + 1
        if me in first_thread and writes_by_thread[me] == 2:
            mid_run.set()
            assert resume.wait(timeout=30), "the test never resumed the first run"

    hooks.on(hooks.sink, "before-call.dynamodb.BatchWriteItem", pause_the_first_run)
    first = new_worker()

    def first_invocation():
        first_thread.append(threading.get_ident())
        return first.invoke([message])

    thread, first_outcome = in_thread(first_invocation)
    assert mid_run.wait(timeout=30), "the first run never reached its second batch write"
    assert len(sink_rows(aws)) == BATCH

    # When the visibility timeout passes and another container gets the message
    queue.visibility_timeout_passes(message)
    [again] = queue.receive()
    assert again["MessageId"] == message["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    second = new_worker().invoke([again])

    # Then it reports the message failed (SQS brings it back later) and wrote nothing
    assert second.failed == {message["MessageId"]}
    assert set(writes_by_thread) == set(first_thread)
    assert file_view(api, file_id)["status"] == "PROCESSING"
    assert len(sink_rows(aws)) == BATCH

    # When the first run goes on to the end
    resume.set()
    thread.join(timeout=60)
    assert "error" not in first_outcome, first_outcome.get("error")
    assert first_outcome["result"].failed == set()
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view

    # And the message comes back once more
    queue.visibility_timeout_passes(again)
    deliveries = new_worker().run_until_empty()

    # Then that delivery finds the run finished and leaves it alone; the queue is empty
    assert [d.failed for d in deliveries] in ([], [set()])
    assert queue.depth() == 0
    assert set(writes_by_thread) == set(first_thread)
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED"
    assert view["result"]["rows_written"] == ROWS
    assert_sink_holds_exactly(aws, {file_id: keys})

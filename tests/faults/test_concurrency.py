"""The same message twice, at the same time: two worker containers race on every step."""

from __future__ import annotations

import threading

import boto3
import pytest

from tests.faults.conftest import (
    BATCH,
    assert_sink_holds_exactly,
    assert_succeeded_with_exactly,
    contacts_csv,
    file_view,
    in_thread,
    status_item,
    upload_for_import,
)
from tests.integration.conftest import declare_and_upload

ROWS = 3 * BATCH + 4

# Two containers in one process share the module-level Metrics: one flush may find the other's
# metrics already flushed, which Powertools warns about. Separate processes in Lambda.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def meet_at_first_status_write(hooks, parties: int = 2) -> threading.Barrier:
    """Each thread waits at its first conditional write to the status table until every party
    has read what it read: the interleaving where both act on the same observed state."""
    barrier = threading.Barrier(parties)
    arrived: set[int] = set()  # threads that met there; later writes (and threads) go on
    lock = threading.Lock()

    def wait(**kwargs):
        with lock:
            if len(arrived) >= parties or threading.get_ident() in arrived:
                return
            arrived.add(threading.get_ident())
        try:
            barrier.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass  # the other party never writes: nothing to race with

    for operation in ("PutItem", "UpdateItem"):
        hooks.on(hooks.status, f"before-call.dynamodb.{operation}", wait)
    return barrier


def notifications(queue, aws, duplicate: bool):
    """The object's ObjectCreated message, and the same S3 event delivered once more."""
    messages = []
    while batch := queue.receive():
        messages += batch
    created = [m for m in messages if "ObjectCreated" in m["Body"]]
    assert len(created) == 1
    for m in messages:
        if m not in created:
            queue.delete(m)  # s3:TestEvent
    if duplicate:
        queue.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=created[0]["Body"])
        created += queue.receive()
    return created


@pytest.mark.parametrize("origin", ["upload", "drop"])
def test_the_same_s3_event_twice_at_once_registers_and_imports_the_file_once(
    api, aws, network, hooks, queue, new_worker, origin
):
    # Given an object whose S3 event SQS delivers twice
    body, keys = contacts_csv(ROWS)
    if origin == "upload":
        declare_and_upload(api, body, auto_import=True, on_invalid="fail")
    else:
        boto3.client("s3").put_object(
            Bucket=aws.names.bucket, Key="drop/acme/contacts/twice.csv", Body=body
        )
    first, second = notifications(queue, aws, duplicate=True)
    sends_before = network.calls["sqs.SendMessage"]

    # When two worker containers handle the two deliveries at the same time
    meet_at_first_status_write(hooks)
    a, b = new_worker(), new_worker()
    threads = [in_thread(lambda: a.invoke([first])), in_thread(lambda: b.invoke([second]))]
    for thread, _ in threads:
        thread.join(timeout=60)
    outcomes = [outcome for _, outcome in threads]

    # Then both deliveries succeed, and exactly one run is queued
    assert [o.get("error") for o in outcomes] == [None, None]
    assert [o["result"].failed for o in outcomes] == [set(), set()]
    assert network.calls["sqs.SendMessage"] - sends_before == 1

    # When the queue is drained
    deliveries = new_worker().run_until_empty()

    # Then one file, imported once, holds exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    [listed] = api("GET", "/files")[1]["items"]
    file_id = listed["file_id"]
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == ROWS
    assert status_item(aws, file_id)["run"] == 1
    assert_sink_holds_exactly(aws, {file_id: keys})


def test_the_same_import_message_twice_at_once_runs_it_once(
    api, aws, network, hooks, queue, new_worker
):
    # Given a queued import whose message SQS hands to two containers at the same time
    body, keys = contacts_csv(ROWS)
    file_id = upload_for_import(api, new_worker(), body, on_invalid="skip")
    [message] = queue.receive()
    queue.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=message["Body"])
    [copy] = queue.receive()
    writers = []
    hooks.on(
        hooks.sink,
        "before-call.dynamodb.BatchWriteItem",
        lambda **kwargs: writers.append(threading.get_ident()),
    )

    # When both claim the run at once
    meet_at_first_status_write(hooks)
    a, b = new_worker(), new_worker()
    threads = [in_thread(lambda: a.invoke([message])), in_thread(lambda: b.invoke([copy]))]
    for thread, _ in threads:
        thread.join(timeout=60)

    # Then one container ran it: every batch write came from one thread
    assert [o.get("error") for _, o in threads] == [None, None]
    assert len(set(writers)) == 1
    assert len(writers) == ROWS // BATCH + 1
    new_worker().run_until_empty()  # whatever came back finds the run finished

    # And the file holds exactly its rows
    assert_succeeded_with_exactly(api, aws, file_id, keys)

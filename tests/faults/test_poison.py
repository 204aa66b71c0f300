"""Poison messages between good ones: only they fail (partial batch response), and only they
end in the dead-letter queue."""

from __future__ import annotations

import json
from collections import Counter

import boto3

from tests.faults.conftest import (
    BATCH,
    assert_sink_holds_exactly,
    contacts_csv,
    file_view,
    status_item,
    upload_for_import,
)

POISON = [
    "not json at all",
    json.dumps({"kind": "intake.import", "tenant": "acme"}),  # an import request without a file
    json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),  # breaks the S3 event parser
]


def test_poison_messages_between_good_ones_fail_alone_and_end_in_the_dlq(api, aws, queue, worker):
    # Given an import request, and a dropped file's S3 event, each with poison around them
    uploaded_body, uploaded_keys = contacts_csv(3 * BATCH + 2, prefix="u")
    uploaded = upload_for_import(api, worker, uploaded_body, on_invalid="skip")
    [import_request] = queue.receive()
    dropped_body, dropped_keys = contacts_csv(2 * BATCH + 9, prefix="d")
    boto3.client("s3").put_object(
        Bucket=aws.names.bucket, Key="drop/acme/contacts/dropped.csv", Body=dropped_body
    )
    [drop_event] = queue.receive()
    for body in POISON:
        queue.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body)
    poison: list[dict] = []
    while len(poison) < len(POISON):
        poison += queue.receive()
    batch = [poison[0], import_request, poison[1], drop_event, poison[2]]

    # When one invocation gets them all
    delivery = worker.invoke(batch)

    # Then exactly the poison messages are reported failed; the good ones did their work
    assert delivery.failed == {m["MessageId"] for m in poison}
    view = file_view(api, uploaded)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == len(uploaded_keys)

    # When SQS goes on delivering (the poison again and again, the dropped file's import)
    for m in poison:
        queue.visibility_timeout_passes(m)
    deliveries = worker.run_until_empty()

    # Then the poison alone is dead-lettered, after the queue's maxReceiveCount deliveries
    assert sorted(queue.dead_letters()) == sorted(POISON)
    delivered = Counter(m["MessageId"] for d in deliveries for m in d.messages)
    assert all(delivered[m["MessageId"]] == 4 for m in poison)  # 1 above + 4: maxReceiveCount 5
    assert delivered[import_request["MessageId"]] == 0
    assert delivered[drop_event["MessageId"]] == 0
    assert queue.depth() == 0

    # And each good file was imported once and holds exactly its rows
    files = {f["name"]: f for f in api("GET", "/files")[1]["items"]}
    dropped = files["dropped.csv"]["file_id"]
    assert file_view(api, dropped)["status"] == "SUCCEEDED"
    assert status_item(aws, uploaded)["run"] == status_item(aws, dropped)["run"] == 1
    assert_sink_holds_exactly(aws, {uploaded: uploaded_keys, dropped: dropped_keys})

"""The local stack's operations on in-process moto: the sweep's schedule and the DLQ redrive."""

from __future__ import annotations

import time
from datetime import timedelta

import boto3
import pytest

from infra import definitions as d
from intake.clock import utcnow
from intake.settings import get_settings
from intake_local.lambda_runtime import load_function
from intake_local.maintenance import SweepSchedule, redrive_dlq
from intake_local.paths import default_functions_dir
from intake_local.resources import Resources
from tests.integration.conftest import Drain, Invoke, declare_and_upload
from tests.integration.test_flow import CSV


def test_redrive_moves_every_message_back_with_its_body_and_attributes(aws: Resources) -> None:
    sqs = boto3.client("sqs")
    for i in range(12):  # more than one receive's worth
        sqs.send_message(
            QueueUrl=aws.dlq_url,
            MessageBody=f"message {i}",
            MessageAttributes={"origin": {"DataType": "String", "StringValue": f"test-{i}"}},
        )
    outcome = redrive_dlq(sqs, dlq_url=aws.dlq_url, queue_url=aws.queue_url)
    assert (outcome.moved, outcome.failed) == (12, 0)
    assert "Messages" not in sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10)
    moved: dict[str, str] = {}
    while messages := sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for m in messages:
            if m["Body"].startswith("message "):  # not S3's s3:TestEvent
                moved[m["Body"]] = m["MessageAttributes"]["origin"]["StringValue"]
    assert moved == {f"message {i}": f"test-{i}" for i in range(12)}


def test_the_schedule_runs_the_sweep_until_stopped(
    api: Invoke, drain: Drain, aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queued run whose message was lost, past a one-second grace period
    monkeypatch.setenv("QUEUED_RUN_GRACE_SECONDS", "1")
    get_settings.cache_clear()
    file_id = declare_and_upload(api, CSV)
    drain()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    sqs = boto3.client("sqs")
    (lost,) = sqs.receive_message(QueueUrl=aws.queue_url)["Messages"]
    sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=lost["ReceiptHandle"])
    # When the local schedule runs the real sweep function every 0.2 s
    lines: list[str] = []
    schedule = SweepSchedule(
        load_function(d.RUN_SWEEP, default_functions_dir()), 0.2, report=lines.append
    )
    schedule.start()
    deadline = utcnow() + timedelta(seconds=10)
    while not lines and utcnow() < deadline:
        time.sleep(0.1)
    schedule.stop()
    # Then it requeued the run, said so, and the worker imports it
    assert lines and lines[0].startswith("run sweep: 1 run(s) requeued"), lines
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"

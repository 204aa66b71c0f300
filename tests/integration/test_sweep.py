"""The run sweep on moto: runs stuck in QUEUED or PROCESSING are requeued, or failed.

A "lost message" is made by deleting the run's message from the queue; a "dead worker" by
claiming the run with a lease that has already run out, as a worker that died long ago left it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr

from intake.clock import utcnow
from intake.dal import file_repository, import_queue
from intake.logic.sweep import sweep_stuck_runs
from intake.models.db import ACTIVE_RUN_ATTRIBUTES, REQUEUES, file_key
from intake.models.domain import FileStatus, Progress
from intake.models.messages import ImportMessage
from intake.settings import get_settings
from intake_local.resources import Resources
from tests.integration.conftest import (
    Drain,
    Invoke,
    declare_and_upload,
    delete_every_version,
    lambda_context,
    load_handler,
)
from tests.integration.test_flow import CSV


@pytest.fixture(scope="module")
def sweep_handler() -> ModuleType:
    return load_handler("run_sweep")


def _queued(api: Invoke, drain: Drain) -> str:
    """An uploaded file with an import queued; its message is still on the queue."""
    file_id = declare_and_upload(api, CSV)
    drain()
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    return file_id


def _lose_messages(aws: Resources) -> int:
    """Delete whatever waits on the import queue, as if it never arrived."""
    sqs = boto3.client("sqs")
    lost = 0
    while messages := sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
            lost += 1
    return lost


def _worker_died(file_id: str) -> None:
    """Claim the run as a worker does, with a lease that ran out a minute ago."""
    record = file_repository.get("acme", file_id)
    file_repository.transition(
        "acme",
        file_id,
        FileStatus.PROCESSING,
        now=utcnow(),
        expect=[record.status],
        condition=Attr("run").eq(record.run),
        lease_until=utcnow() - timedelta(minutes=1),
        progress=Progress(total=record.size),
    )


def _allow_requeues(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setenv("SWEEP_MAX_REQUEUES", str(count))
    get_settings.cache_clear()


def _item(aws: Resources, file_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(aws.names.status_table)
    return dict(table.get_item(Key=file_key("acme", file_id))["Item"])


def _rows(aws: Resources) -> int:
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    return len(
        table.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "acme#contacts"}
        )["Items"]
    )


def test_a_queued_run_whose_message_was_lost_is_requeued_and_imported(
    api: Invoke, drain: Drain, aws: Resources
) -> None:
    # Given a queued import whose message never reached the worker
    file_id = _queued(api, drain)
    assert _lose_messages(aws) == 1
    grace = timedelta(seconds=get_settings().queued_run_grace_seconds)
    # When the sweep runs within the grace period, it leaves the run alone
    assert sweep_stuck_runs(now=utcnow()).as_dict() == {
        "queued_overdue": 0,
        "past_lease": 0,
        "requeued": 0,
        "failed": 0,
    }
    # When it runs after the grace period, it sends the run's message again
    report = sweep_stuck_runs(now=utcnow() + grace + timedelta(seconds=1))
    assert (report.queued_overdue, report.requeued, report.failed) == (1, 1, 0)
    assert _item(aws, file_id)[REQUEUES] == 1
    # And a second sweep right after does not send it twice (it waits another grace period)
    again = sweep_stuck_runs(now=utcnow() + grace + timedelta(seconds=2))
    assert again.requeued == 0
    # Then the worker runs the import to its end, once
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == 3 and _rows(aws) == 3
    # And a finished file has left the active-runs index
    assert not set(ACTIVE_RUN_ATTRIBUTES) & set(_item(aws, file_id))


def test_a_run_whose_worker_died_is_taken_over_after_a_requeue(
    api: Invoke,
    drain: Drain,
    aws: Resources,
    sweep_handler: ModuleType,
) -> None:
    # Given a run whose worker died (lease over) and whose message is gone (its last delivery)
    file_id = _queued(api, drain)
    _lose_messages(aws)
    _worker_died(file_id)
    # When the scheduled sweep runs
    answer = sweep_handler.lambda_handler({"source": "aws.events"}, lambda_context())
    # Then it found the run past its lease and requeued it
    assert answer == {"queued_overdue": 0, "past_lease": 1, "requeued": 1, "failed": 0}
    # And the worker takes the expired run over and finishes it
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert _rows(aws) == 3


def test_a_live_lease_is_left_alone(api: Invoke, drain: Drain, aws: Resources) -> None:
    # Given a run a worker is processing right now (its lease runs for minutes)
    file_id = _queued(api, drain)
    _lose_messages(aws)
    record = file_repository.get("acme", file_id)
    file_repository.transition(
        "acme",
        file_id,
        FileStatus.PROCESSING,
        now=utcnow(),
        condition=Attr("run").eq(record.run),
        lease_until=utcnow() + timedelta(minutes=16),
    )
    # When the sweep runs, it finds nothing
    report = sweep_stuck_runs(now=utcnow())
    assert (report.past_lease, report.requeued, report.failed) == (0, 0, 0)
    # Then the run is untouched and no message was sent
    assert api("GET", f"/files/{file_id}")[1]["status"] == "PROCESSING"
    assert _lose_messages(aws) == 0


def test_a_run_that_keeps_dying_ends_failed_with_the_reason(
    api: Invoke, drain: Drain, aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow_requeues(monkeypatch, 2)
    file_id = _queued(api, drain)
    _lose_messages(aws)
    # Given a run whose worker dies every time it is given the run
    for expected_requeues in (1, 2):
        _worker_died(file_id)
        report = sweep_stuck_runs(now=utcnow())
        assert (report.requeued, report.failed) == (1, 0)
        assert _item(aws, file_id)[REQUEUES] == expected_requeues
        assert _lose_messages(aws) == 1  # the requeued message; its worker dies too
    _worker_died(file_id)
    # When the sweep finds it stuck again after the last requeue it allows
    report = sweep_stuck_runs(now=utcnow())
    # Then the run ends FAILED with the reason, and leaves the index
    assert (report.past_lease, report.requeued, report.failed) == (1, 0, 1)
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert view["reason"].startswith("the import stopped without finishing 3 times")
    assert not set(ACTIVE_RUN_ATTRIBUTES) & set(_item(aws, file_id))
    assert sweep_stuck_runs(now=utcnow() + timedelta(days=1)).past_lease == 0
    # And a late delivery of the failed run's message is dropped: the file stays FAILED
    failed = file_repository.get("acme", file_id)
    import_queue.send_import(
        ImportMessage(
            tenant="acme", file_id=file_id, run=failed.run, check_only=False, on_invalid="fail"
        )
    )
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "FAILED"
    # And a new run (POST /files/{id}/import) is what imports it
    assert api("POST", f"/files/{file_id}/import", body={})[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"


def test_a_short_grace_period_requeues_through_the_handler(
    api: Invoke,
    drain: Drain,
    aws: Resources,
    sweep_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a grace period of one second (QUEUED_RUN_GRACE_SECONDS) and a lost message
    monkeypatch.setenv("QUEUED_RUN_GRACE_SECONDS", "1")
    get_settings.cache_clear()
    file_id = _queued(api, drain)
    _lose_messages(aws)
    time.sleep(1.1)
    # When the scheduled sweep runs
    answer = sweep_handler.lambda_handler({"source": "aws.events"}, lambda_context())
    # Then the run was requeued and the worker imports it
    assert answer == {"queued_overdue": 1, "past_lease": 0, "requeued": 1, "failed": 0}
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"


def test_a_failed_attempt_is_left_to_sqs_and_swept_only_if_no_redelivery_came(
    api: Invoke, drain: Drain, aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow_requeues(monkeypatch, 1)
    redelivery = timedelta(seconds=get_settings().queue_visibility_seconds)
    # Given a queued run whose verified bytes are gone for good (every version deleted)
    file_id = _queued(api, drain)
    delete_every_version(aws)
    # When an attempt fails
    assert drain()["failures"]
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "PROCESSING"
    assert view["reason"] == "an attempt stopped (NoSuchVersion); the run is retried"
    # Then the sweep leaves the retry to SQS, which redelivers within its visibility timeout
    assert sweep_stuck_runs(now=utcnow()).past_lease == 0
    assert sweep_stuck_runs(now=utcnow() + redelivery - timedelta(minutes=1)).past_lease == 0
    # When no redelivery came by then (the message was lost), the sweep sends the run again
    _lose_messages(aws)
    assert sweep_stuck_runs(now=utcnow() + redelivery + timedelta(minutes=1)).requeued == 1
    assert drain()["failures"]  # and that attempt fails the same way
    _lose_messages(aws)
    # Then, past its requeues, the sweep ends it FAILED, saying what stopped it
    assert sweep_stuck_runs(now=utcnow() + redelivery + timedelta(minutes=1)).failed == 1
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert view["reason"] == (
        "the import stopped without finishing 2 times; "
        "last: an attempt stopped (NoSuchVersion); the run is retried"
    )


def test_requeues_while_queued_do_not_count_against_the_runs_attempts(
    api: Invoke, drain: Drain, aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow_requeues(monkeypatch, 1)
    grace = timedelta(seconds=get_settings().queued_run_grace_seconds)
    # Given a run that waited in QUEUED through two sweeps (a backlog; its message lost)
    file_id = _queued(api, drain)
    _lose_messages(aws)
    for hours in (1, 2):
        assert sweep_stuck_runs(now=utcnow() + hours * grace + timedelta(minutes=1)).requeued == 1
    assert _item(aws, file_id)[REQUEUES] == 2
    _lose_messages(aws)
    # When a worker finally claims it, then dies
    _worker_died(file_id)
    # Then the run starts its attempts afresh: requeued, not failed
    assert REQUEUES not in _item(aws, file_id)
    report = sweep_stuck_runs(now=utcnow())
    assert (report.requeued, report.failed) == (1, 0)


def test_a_run_that_succeeds_after_a_failed_attempt_keeps_no_reason(
    api: Invoke, drain: Drain, aws: Resources
) -> None:
    # Given a run whose first attempt stopped and left its reason on the file
    file_id = _queued(api, drain)
    _worker_died(file_id)
    file_repository.update_fields(
        "acme",
        file_id,
        expect_status=FileStatus.PROCESSING,
        reason="an attempt stopped (ReadTimeoutError); the run is retried",
    )
    # When the redelivered message takes the run over and finishes it
    drain()
    # Then the file says nothing about the attempt that failed
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED"
    assert view.get("reason") is None

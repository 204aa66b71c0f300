"""The local stack's stand-in for the stack's EventBridge rule on failed sharded runs
(intake_local.sharded_runs.ExecutionWatcher): moto emits no execution events, so the stack
polls the executions and sends what the rule would deliver to the import queue."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from moto import mock_aws

from intake_local.moto_process import MOTO_CONFIG
from intake_local.resources import create_resources
from intake_local.sharded_runs import ROLE_ARN, ExecutionWatcher

FAILING = json.dumps(
    {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Broken"}],
                "Default": "Ended",
            },
            "Broken": {"Type": "Fail", "Error": "ShardsMissing", "Cause": "shard 3 never reported"},
            "Ended": {"Type": "Succeed"},
        },
    }
)


def _finished(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def test_a_failed_execution_reaches_the_import_queue_once_as_eventbridge_delivers_it() -> None:
    with mock_aws(config=MOTO_CONFIG):
        resources = create_resources()
        sfn = boto3.client("stepfunctions")
        sqs = boto3.client("sqs")
        machine = sfn.create_state_machine(
            name="intake-local-sharded-runs", definition=FAILING, roleArn=ROLE_ARN
        )["stateMachineArn"]
        watcher = ExecutionWatcher(
            sfn, sqs, state_machine_arn=machine, queue_url=resources.queue_url
        )
        # Given one execution that fails and one that succeeds
        run = {"tenant": "acme", "file_id": "f1", "run": 2}
        failed = sfn.start_execution(
            stateMachineArn=machine, name="f1-2", input=json.dumps({**run, "fail": True})
        )["executionArn"]
        succeeded = sfn.start_execution(
            stateMachineArn=machine, name="f2-1", input=json.dumps({"fail": False})
        )["executionArn"]
        assert _finished(sfn, failed)["status"] == "FAILED"
        assert _finished(sfn, succeeded)["status"] == "SUCCEEDED"

        # When the watcher polls, twice
        sent = watcher.poll()
        again = watcher.poll()

        # Then the failed one is on the import queue, once, as the rule's target receives it
        messages = sqs.receive_message(
            QueueUrl=resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
    assert again == []
    assert len(sent) == 1
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b for b in bodies if b.get("Event") != "s3:TestEvent"] == sent
    event = sent[0]
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["resources"] == [failed]
    detail = event["detail"]
    assert detail["executionArn"] == failed
    assert detail["stateMachineArn"] == machine
    assert detail["name"] == "f1-2"
    assert detail["status"] == "FAILED"
    assert detail["error"] == "ShardsMissing"
    assert detail["cause"] == "shard 3 never reported"
    # The input is the execution's input as a JSON string, as in Step Functions' events.
    assert json.loads(detail["input"]) == {**run, "fail": True}
    assert isinstance(detail["startDate"], int) and isinstance(detail["stopDate"], int)

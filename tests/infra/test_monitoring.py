"""Alarms an operator needs (docs/operations.md): the DLQ, the worker, the API, the queue's
age, the failure rate of runs, stuck runs, stopped sharded runs; and the run sweep's schedule."""

from __future__ import annotations

from typing import Any

from infra import definitions as d
from infra.lambda_factory import METRICS_NAMESPACE, SERVICE_NAME
from infra.monitoring import (
    FAILURE_RATE_MIN_RUNS,
    FAILURE_RATE_THRESHOLD_PERCENT,
    MESSAGE_AGE_THRESHOLD_SECONDS,
)
from tests.infra.helpers import Resources, function_for, of_type, only, ref_id

SERVICE = [{"Name": "service", "Value": SERVICE_NAME}]


def _alarm(resources: Resources, name: str) -> dict[str, Any]:
    """The alarm built as Monitoring's `name` construct."""
    found = [
        r["Properties"]
        for logical_id, r in of_type(resources, "AWS::CloudWatch::Alarm").items()
        if logical_id.startswith(f"Monitoring{name}")
    ]
    assert len(found) == 1, f"{name}: {len(found)} alarms"
    return found[0]


def _fires_at(resources: Resources, alarm: dict[str, Any], threshold: float) -> None:
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    (action,) = alarm["AlarmActions"]
    assert resources[ref_id(action)]["Type"] == "AWS::SNS::Topic"


def _queue_of(resources: Resources, alarm: dict[str, Any]) -> dict[str, Any]:
    (dimension,) = alarm["Dimensions"]
    assert dimension["Name"] == "QueueName"
    queue = resources[ref_id(dimension["Value"])]
    assert queue["Type"] == "AWS::SQS::Queue"
    return queue


def test_dlq_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "DeadLetterQueueNotEmpty")
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert "RedrivePolicy" not in _queue_of(resources, alarm)["Properties"]  # the DLQ
    _fires_at(resources, alarm, 1)


def test_worker_errors_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "WorkerErrors")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    worker_id, _ = function_for(resources, d.IMPORT_WORKER)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": worker_id}}]
    _fires_at(resources, alarm, 1)


def test_api_5xx_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "Api5xx")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    api_id, _ = only(resources, "AWS::ApiGatewayV2::Api")
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": api_id}}]
    _fires_at(resources, alarm, 1)


def test_import_message_age_alarm_watches_the_import_queue(resources: Resources) -> None:
    alarm = _alarm(resources, "ImportMessageAge")
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
    )
    assert alarm["Statistic"] == "Maximum"
    assert "RedrivePolicy" in _queue_of(resources, alarm)["Properties"]  # the import queue
    # Twice the worker's timeout: no healthy message lives that long.
    assert 2 * d.IMPORT_WORKER.timeout_seconds == MESSAGE_AGE_THRESHOLD_SECONDS
    _fires_at(resources, alarm, MESSAGE_AGE_THRESHOLD_SECONDS)


def test_failure_rate_alarm_divides_failed_runs_by_all_runs(resources: Resources) -> None:
    alarm = _alarm(resources, "RunFailureRate")
    _fires_at(resources, alarm, FAILURE_RATE_THRESHOLD_PERCENT)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    # The worker's EMF metrics, where the functions' Powertools settings put them.
    for query_id, name in (
        ("succeeded", "RunsSucceeded"),
        ("validated", "RunsValidated"),
        ("failed", "RunsFailed"),
    ):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": METRICS_NAMESPACE,
            "MetricName": name,
            "Dimensions": SERVICE,
        }
        assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)
        assert queries[query_id]["ReturnData"] is False
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression["ReturnData"] is True
    text = expression["Expression"]
    assert f">= {FAILURE_RATE_MIN_RUNS}" in text and "100 * FILL(failed, 0) /" in text
    total = "(FILL(succeeded, 0) + FILL(validated, 0) + FILL(failed, 0))"
    assert text.count(total) == 2  # the minimum applies to, and the rate divides by, all runs


def test_the_worker_emits_the_metrics_the_failure_rate_reads(resources: Resources) -> None:
    _, worker = function_for(resources, d.IMPORT_WORKER)
    env = worker["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME


def test_stuck_run_alarms_read_the_sweeps_metrics(resources: Resources) -> None:
    for name in ("RunsPastLease", "QueuedRunsOverdue"):
        alarm = _alarm(resources, name)
        assert (alarm["Namespace"], alarm["MetricName"]) == (METRICS_NAMESPACE, name)
        assert alarm["Dimensions"] == SERVICE
        assert alarm["Statistic"] == "Sum"
        _fires_at(resources, alarm, 1)


def test_sweep_errors_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "SweepErrors")
    sweep_id, _ = function_for(resources, d.RUN_SWEEP)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": sweep_id}}]
    _fires_at(resources, alarm, 1)


def test_the_sweep_runs_on_a_schedule(resources: Resources) -> None:
    sweep_id, _ = function_for(resources, d.RUN_SWEEP)
    (rule,) = [
        r["Properties"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert rule["ScheduleExpression"] == f"rate({d.RUN_SWEEP_INTERVAL_MINUTES} minutes)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert ref_id(target["Arn"]) == sweep_id
    # EventBridge may invoke it (the rule's permission on the function)
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if ref_id(p["Properties"]["FunctionName"]) == sweep_id
    ]
    assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]


def test_a_stopped_sharded_run_alarms(resources: Resources) -> None:
    """A sharded run whose execution failed or timed out waits for an operator's redrive: one
    is enough to alarm (an abort is an operator's own doing and does not)."""
    alarm = _alarm(resources, "ShardedRunsStopped")
    _fires_at(resources, alarm, 1)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    (machine_id,) = of_type(resources, "AWS::StepFunctions::StateMachine")
    for query_id, name in (("failed", "ExecutionsFailed"), ("timedout", "ExecutionsTimedOut")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
            "AWS/States",
            name,
        )
        (dimension,) = stat["Metric"]["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        assert ref_id(dimension["Value"]) == machine_id
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression["Expression"] == "FILL(failed, 0) + FILL(timedout, 0)"

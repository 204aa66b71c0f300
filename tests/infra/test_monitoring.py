"""Alarms an operator needs: DLQ not empty, worker errors, API 5xx."""

from __future__ import annotations

from typing import Any

from infra import definitions as d
from tests.infra.helpers import Resources, function_for, of_type, only, ref_id


def _alarm(resources: Resources, metric: str) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["MetricName"] == metric
    ]
    assert len(found) == 1, f"{metric}: {len(found)} alarms"
    return found[0]


def _fires_on_one(resources: Resources, alarm: dict[str, Any]) -> None:
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    (action,) = alarm["AlarmActions"]
    assert resources[ref_id(action)]["Type"] == "AWS::SNS::Topic"


def test_dlq_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "ApproximateNumberOfMessagesVisible")
    assert alarm["Namespace"] == "AWS/SQS"
    (dimension,) = alarm["Dimensions"]
    dlq = resources[ref_id(dimension["Value"])]
    assert dlq["Type"] == "AWS::SQS::Queue"
    assert "RedrivePolicy" not in dlq["Properties"]  # the DLQ, not the main queue
    _fires_on_one(resources, alarm)


def test_worker_errors_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "Errors")
    assert alarm["Namespace"] == "AWS/Lambda"
    worker_id, _ = function_for(resources, d.IMPORT_WORKER)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": worker_id}}]
    _fires_on_one(resources, alarm)


def test_api_5xx_alarm(resources: Resources) -> None:
    alarm = _alarm(resources, "5xx")
    assert alarm["Namespace"] == "AWS/ApiGateway"
    api_id, _ = only(resources, "AWS::ApiGatewayV2::Api")
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": api_id}}]
    _fires_on_one(resources, alarm)

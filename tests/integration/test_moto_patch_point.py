"""The guard on the one moto internal the local stack relies on (intake_local.moto_process).

The local stack runs the sharded-runs state machine on moto server and routes its Lambda tasks
to the in-process handlers by replacing `moto.awslambda_simple.models.LambdaSimpleBackend.invoke`.
moto is pinned (requirements/dev.txt); if an upgrade moves or changes that method, these tests
fail and say where to look, instead of every Lambda task silently echoing its payload.
"""

from __future__ import annotations

import importlib
import inspect
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.definitions import FunctionDef
from intake_local.lambda_invoke import InvokeEndpoint, function_name_of
from intake_local.lambda_runtime import LocalFunction, function_arn
from intake_local.moto_process import MOTO_CONFIG, PATCH_PARAMETERS, PATCH_POINT, forwarding_invoke

UPGRADE_HINT = (
    f"moto's Lambda-without-Docker entry point {PATCH_POINT}{PATCH_PARAMETERS} changed: the "
    "local stack's Step Functions tasks would no longer run the handlers. Fix "
    "local/intake_local/moto_process.py for the new moto, or keep moto pinned "
    "(requirements/dev.txt)."
)


def _patch_point() -> Any:
    module_name, class_name, method_name = PATCH_POINT.rsplit(".", 2)
    try:
        owner = getattr(importlib.import_module(module_name), class_name)
        return getattr(owner, method_name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{PATCH_POINT} is gone ({exc}). {UPGRADE_HINT}")


def test_the_patch_point_exists_with_the_parameters_the_local_stack_replaces() -> None:
    parameters = tuple(inspect.signature(_patch_point()).parameters)
    assert parameters == ("self", *PATCH_PARAMETERS), f"{parameters}: {UPGRADE_HINT}"


def test_moto_without_docker_serves_lambda_from_the_patched_backend() -> None:
    from moto.awslambda.utils import get_backend
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config

    saved = json.loads(json.dumps(default_user_config["lambda"]))
    default_user_config["lambda"].update(MOTO_CONFIG["lambda"])
    try:
        backend = get_backend("123456789012", "us-east-1")
    finally:
        default_user_config["lambda"] = saved
    assert isinstance(backend, LambdaSimpleBackend), UPGRADE_HINT


# --- a state machine's Lambda tasks reach the handlers through the patch ---------------------


class ShardsMissing(Exception):
    """Named like shard_finish's error, which the state machine retries by name."""


class KeepsFailing(Exception):
    pass


@pytest.fixture
def stand_in() -> Iterator[tuple[InvokeEndpoint, list[tuple[str, Any]]]]:
    """Two functions behind the local stack's invoke endpoint: `flaky` raises ShardsMissing
    on its first call, `broken` always raises KeepsFailing."""
    calls: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def flaky(event: Any, context: Any) -> Any:
        with lock:
            calls.append((context.function_name, event))
            first = sum(1 for name, _ in calls if name == context.function_name) == 1
        if first:
            raise ShardsMissing("shard 2 has not reported")
        return {"phase": None, "seen": event}

    def broken(event: Any, context: Any) -> Any:
        with lock:
            calls.append((context.function_name, event))
        raise KeepsFailing("the sink refused every write")

    functions = {
        name: LocalFunction(FunctionDef(name, name, timeout_seconds=30), handler)
        for name, handler in (("flaky", flaky), ("broken", broken))
    }
    endpoint = InvokeEndpoint(functions)
    endpoint.start()
    try:
        yield endpoint, calls
    finally:
        endpoint.stop()


def _definition() -> str:
    return json.dumps(
        {
            "StartAt": "Finish",
            "States": {
                # A Lambda ARN as the resource, as the CDK construct renders LambdaInvoke.
                "Finish": {
                    "Type": "Task",
                    "Resource": function_arn("flaky"),
                    "Retry": [
                        {"ErrorEquals": ["ShardsMissing"], "IntervalSeconds": 1, "MaxAttempts": 2}
                    ],
                    "ResultPath": "$.finished",
                    "Next": "Write",
                },
                # The lambda:invoke service integration, by function name.
                "Write": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "intake-local-broken", "Payload.$": "$"},
                    "End": True,
                },
            },
        }
    )


def test_a_lambda_task_runs_the_handler_and_its_exception_name_drives_retry(
    monkeypatch: pytest.MonkeyPatch, stand_in: tuple[InvokeEndpoint, list[tuple[str, Any]]]
) -> None:
    endpoint, calls = stand_in
    # Given moto with Step Functions executions on and the local stack's patch in place
    module_name, class_name, method_name = PATCH_POINT.rsplit(".", 2)
    owner = getattr(importlib.import_module(module_name), class_name)
    monkeypatch.setattr(owner, method_name, forwarding_invoke(endpoint.url))
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="patch-point",
            definition=_definition(),
            roleArn="arn:aws:iam::123456789012:role/patch-point",
        )["stateMachineArn"]
        # When an execution runs
        started = sfn.start_execution(
            stateMachineArn=machine, name="f1-1", input=json.dumps({"file_id": "f1"})
        )
        deadline = time.monotonic() + 30
        while True:
            described = sfn.describe_execution(executionArn=started["executionArn"])
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    # Then both tasks ran the handlers, not moto's echo (else: the patch point moved)
    names = [name for name, _ in calls]
    assert "intake-local-flaky" in names, f"no Lambda task reached the handlers. {UPGRADE_HINT}"
    # and the handler's exception class is the error name: Retry on ShardsMissing ran it again
    assert names == ["intake-local-flaky", "intake-local-flaky", "intake-local-broken"]
    assert calls[0][1] == {"file_id": "f1"}
    assert calls[2][1] == {"file_id": "f1", "finished": {"phase": None, "seen": {"file_id": "f1"}}}
    # and an exception no Retry matches fails the execution with its name and message
    assert described["status"] == "FAILED"
    assert described["error"] == "KeepsFailing"
    assert json.loads(described["cause"])["errorMessage"] == "the sink refused every write"


@pytest.mark.parametrize(
    ("requested", "name"),
    [
        ("intake-local-shard_run", "intake-local-shard_run"),
        ("intake-local-shard_run:$LATEST", "intake-local-shard_run"),
        (function_arn("shard_run"), "intake-local-shard_run"),
        (function_arn("shard_run") + ":live", "intake-local-shard_run"),
    ],
)
def test_invocations_name_functions_as_lambda_does(requested: str, name: str) -> None:
    assert function_name_of(requested) == name

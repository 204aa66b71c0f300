"""Sharded runs: the Standard state machine with its Distributed Map, the shard functions' and
the state machine's least privilege, failed executions to the import queue, the worker's start
permission; and the rendered definition the local stack uses, accepted and run by moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from infra import definitions as d
from infra.config import DEFAULTS, SIZE_SETTINGS, env_name
from infra.sharded_runs import render_definition
from intake.logic.run_steps import RunEnded
from tests.infra.conftest import build
from tests.infra.helpers import (
    Resources,
    actions,
    function_for,
    of_type,
    only,
    ref_id,
    resources_for_action,
    role_statements,
)

State = dict[str, Any]


# --- Reading the template -------------------------------------------------------------------


def _state_machine(resources: Resources) -> tuple[str, dict[str, Any]]:
    return only(resources, "AWS::StepFunctions::StateMachine")


def _function_ids(resources: Resources) -> dict[str, str]:
    """FunctionDef name -> logical id, for the three shard functions."""
    return {fn.name: function_for(resources, fn)[0] for fn in d.SHARD_FUNCTIONS}


def _arn(function_id: str) -> str:
    """A function's ARN as the definitions here write it: named by its logical id."""
    return f"arn:aws:lambda:us-east-1:123456789012:function:{function_id}"


def _template_definition(resources: Resources) -> State:
    """The state machine's ASL, each function's ARN written as `_arn(<its logical id>)`."""
    _, machine = _state_machine(resources)
    definition = machine["Properties"]["DefinitionString"]
    parts = definition["Fn::Join"][1] if isinstance(definition, dict) else [definition]
    text = "".join(part if isinstance(part, str) else _arn(ref_id(part)) for part in parts)
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def definition(resources: Resources) -> State:
    return _template_definition(resources)


def _all_states(definition: State) -> Iterator[tuple[str, State]]:
    for name, state in definition["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from _all_states(state["ItemProcessor"])


def _the(definition: State, type_: str) -> tuple[str, State]:
    found = [(n, s) for n, s in definition["States"].items() if s["Type"] == type_]
    assert len(found) == 1, f"expected one {type_} state, found {found}"
    return found[0]


def _task_of(definition: State, function_id: str) -> State:
    found = [s for _, s in _all_states(definition) if s.get("Resource") == _arn(function_id)]
    assert len(found) == 1, f"expected one task invoking {function_id}"
    return found[0]


# --- The state machine ----------------------------------------------------------------------


def test_the_state_machine_is_standard_traced_and_logged(resources: Resources) -> None:
    _, machine = _state_machine(resources)
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    (destination,) = logging["Destinations"]
    log_group = resources[ref_id(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])]
    assert log_group["Properties"]["RetentionInDays"] == 30
    # Under the vended-logs prefix (no entry in the account's Logs resource policy), named
    # after the stack and its id (a stack deployed again after a delete gets a new name).
    separator, (named, stack_uuid) = log_group["Properties"]["LogGroupName"]["Fn::Join"]
    assert (separator, named) == ("", "/aws/vendedlogs/states/Intake-sharded-runs-")
    assert stack_uuid == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


def test_plan_then_phase_then_the_shards(resources: Resources, definition: State) -> None:
    ids = _function_ids(resources)
    start = definition["States"][definition["StartAt"]]
    assert start is _task_of(definition, ids[d.SHARD_PLAN.name])
    assert start["ResultPath"] == "$.plan"
    # The plan's function gets the execution's input ({"tenant", "file_id", "run"}).
    assert "Parameters" not in start
    # A plan that ended the run (a file that cannot be read through) names no phase: done.
    planned = definition["States"][start["Next"]]
    assert planned["Type"] == "Choice"
    (rule,) = planned["Choices"]
    assert (rule["Variable"], rule["IsNull"]) == ("$.plan.phase", True)
    assert definition["States"][rule["Next"]]["Type"] == "Succeed"
    phase = definition["States"][planned["Default"]]
    assert phase["Type"] == "Pass"
    assert phase["Parameters"]["phase.$"] == "$.plan.phase"
    map_name, _ = _the(definition, "Map")
    assert phase["Next"] == map_name


def test_the_shards_run_in_a_distributed_map_of_standard_children(definition: State) -> None:
    _, shards = _the(definition, "Map")
    assert shards["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert shards["MaxConcurrency"] == d.SHARD_MAX_CONCURRENCY
    assert shards["ItemsPath"] == "$.plan.shards"
    assert shards["ItemSelector"] == {
        "tenant.$": "$.tenant",
        "file_id.$": "$.file_id",
        "run.$": "$.run",
        "phase.$": "$.phase",
        "object.$": "$.plan.object",
        "shard.$": "$$.Map.Item.Value",
    }
    # The shards' answers are discarded: the state keeps its plan, whatever the shard count.
    assert "ResultPath" in shards
    assert shards["ResultPath"] is None
    # No failure is tolerated (Step Functions' default is 0), and nothing catches one.
    assert shards.get("ToleratedFailurePercentage", 0) == 0
    assert "ToleratedFailureCount" not in shards


def test_a_shard_is_retried_on_any_error_but_a_run_that_ended(
    resources: Resources, definition: State
) -> None:
    _, shards = _the(definition, "Map")
    processor = shards["ItemProcessor"]
    shard = processor["States"][processor["StartAt"]]
    assert shard is _task_of(definition, _function_ids(resources)[d.SHARD_RUN.name])
    assert shard["Retry"] == [
        {"ErrorEquals": ["RunEnded"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2},
    ]
    assert RunEnded.__name__ == "RunEnded"  # the error type the retrier names


def test_nothing_catches_a_failure(definition: State) -> None:
    # A failed execution stays redrivable; EventBridge reports it to the import queue.
    for name, state in _all_states(definition):
        assert "Catch" not in state, name
        assert state["Type"] != "Fail", name


def test_finish_counts_the_shards_and_retries_missing_ones(
    resources: Resources, definition: State
) -> None:
    _, shards = _the(definition, "Map")
    finish = definition["States"][shards["Next"]]
    assert finish is _task_of(definition, _function_ids(resources)[d.SHARD_FINISH.name])
    assert finish["Parameters"]["shard_count.$"] == "States.ArrayLength($.plan.shards)"
    assert finish["Parameters"]["phase.$"] == "$.phase"
    missing = [r for r in finish["Retry"] if r["ErrorEquals"] == ["ShardsMissing"]]
    assert missing == [{"ErrorEquals": ["ShardsMissing"], "IntervalSeconds": 10, "MaxAttempts": 3}]


def test_plan_and_finish_retry_lambdas_service_errors_and_throttling(
    resources: Resources, definition: State
) -> None:
    """A throttled Plan or Finish (the worker and the shards share the account's concurrency)
    is tried again, not a failed execution; CDK's service retrier does not name throttling."""
    ids = _function_ids(resources)
    for function in (d.SHARD_PLAN, d.SHARD_FINISH):
        retried = {
            error: retrier
            for retrier in _task_of(definition, ids[function.name])["Retry"]
            for error in retrier["ErrorEquals"]
        }
        assert retried["Lambda.TooManyRequestsException"] == {
            "ErrorEquals": ["Lambda.TooManyRequestsException"],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
        }
        assert {"Lambda.ServiceException", "Lambda.SdkClientException"} <= retried.keys()
        assert "States.ALL" not in retried  # a data fault is not retried: it is reported


def test_the_choice_ends_on_a_null_phase_and_loops_back_to_the_shards(
    definition: State,
) -> None:
    map_name, shards = _the(definition, "Map")
    finish = definition["States"][shards["Next"]]
    choice_name = finish["Next"]
    choice = definition["States"][choice_name]
    assert choice["Type"] == "Choice"
    (rule,) = choice["Choices"]
    assert rule["Variable"] == f"{finish['ResultPath']}.phase"
    assert rule["IsNull"] is True
    assert definition["States"][rule["Next"]]["Type"] == "Succeed"
    # Otherwise the next phase becomes $.phase and the same map runs again.
    next_phase = definition["States"][choice["Default"]]
    assert next_phase["Type"] == "Pass"
    assert next_phase["Parameters"]["phase.$"] == f"{finish['ResultPath']}.phase"
    assert next_phase["Next"] == map_name


# --- Least privilege ------------------------------------------------------------------------


def _prefixes(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The key patterns (e.g. "/uploads/*") of the bucket objects `action` is allowed on."""
    found = set()
    for target in resources_for_action(statements, action):
        if isinstance(target, dict) and "Fn::Join" in target:
            found.add(target["Fn::Join"][1][-1])
        else:
            # The bucket itself (s3:List*, GetBucket*) is the only other S3 target allowed.
            assert isinstance(target, dict) and "Fn::GetAtt" in target, target
    return found


SOURCES = {f"/{p}*" for p in (*d.NOTIFIED_PREFIXES, d.STAGING_PREFIX)}


@pytest.mark.parametrize(
    ("fn", "reads", "puts"),
    [
        (d.SHARD_PLAN, SOURCES, {f"/{d.STAGING_PREFIX}*"}),
        (d.SHARD_RUN, SOURCES, {f"/{d.RECORD_PREFIX}*", f"/{d.STAGING_PREFIX}*"}),
        (
            d.SHARD_FINISH,
            {f"/{d.STAGING_PREFIX}*"},
            {f"/{d.REPORT_PREFIX}*", f"/{d.STAGING_PREFIX}*"},
        ),
    ],
    ids=lambda v: v.name if isinstance(v, d.FunctionDef) else "",
)
def test_each_shard_function_reads_and_writes_only_its_prefixes(
    resources: Resources, fn: d.FunctionDef, reads: set[str], puts: set[str]
) -> None:
    function_id, _ = function_for(resources, fn)
    statements = role_statements(resources, function_id)
    assert _prefixes(statements, "s3:GetObject*") == reads
    assert _prefixes(statements, "s3:PutObject") == puts
    assert not {a for a in actions(statements) if a.startswith("s3:Delete")}


def _table_actions(resources: Resources, fn: d.FunctionDef, env_var: str) -> set[str]:
    function_id, function = function_for(resources, fn)
    table = ref_id(function["Properties"]["Environment"]["Variables"][env_var])
    statements = role_statements(resources, function_id)
    on_table = [
        s
        for s in statements
        if {"Fn::GetAtt": [table, "Arn"]}
        in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    return actions(on_table)


@pytest.mark.parametrize("fn", d.SHARD_FUNCTIONS, ids=lambda f: f.name)
def test_shard_functions_read_and_write_the_status_table(
    resources: Resources, fn: d.FunctionDef
) -> None:
    granted = _table_actions(resources, fn, "STATUS_TABLE")
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= granted


def test_only_the_shard_step_writes_records_and_never_reads_them(resources: Resources) -> None:
    written = _table_actions(resources, d.SHARD_RUN, "RECORDS_TABLE")
    assert "dynamodb:BatchWriteItem" in written
    assert not written & {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}
    for fn in (d.SHARD_PLAN, d.SHARD_FINISH):
        assert not _table_actions(resources, fn, "RECORDS_TABLE")


def test_only_finish_of_the_shard_functions_publishes_events(resources: Resources) -> None:
    publishers = {
        fn.name
        for fn in d.SHARD_FUNCTIONS
        if "events:PutEvents" in actions(role_statements(resources, function_for(resources, fn)[0]))
    }
    assert publishers == {d.SHARD_FINISH.name}
    _, finish = function_for(resources, d.SHARD_FINISH)
    assert finish["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == d.EVENT_BUS_NAME


def test_no_shard_function_sends_to_the_queue_or_starts_executions(resources: Resources) -> None:
    for fn in d.SHARD_FUNCTIONS:
        granted = actions(role_statements(resources, function_for(resources, fn)[0]))
        assert not {a for a in granted if a.startswith(("sqs:", "states:"))}, fn.name


def _machine_statements(resources: Resources) -> list[dict[str, Any]]:
    _, machine = _state_machine(resources)
    role = ref_id(machine["Properties"]["RoleArn"])
    statements: list[dict[str, Any]] = []
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_the_state_machine_invokes_the_three_shard_functions_only(resources: Resources) -> None:
    statements = _machine_statements(resources)
    invoked = set()
    for target in resources_for_action(statements, "lambda:InvokeFunction"):
        if "Fn::Join" in target:  # <function ARN>:* (its versions)
            function_arn, suffix = target["Fn::Join"][1]
            assert suffix == ":*"
            invoked.add(ref_id(function_arn))
        else:
            invoked.add(ref_id(target))
    assert invoked == set(_function_ids(resources).values())
    assert {a for a in actions(statements) if a.startswith("lambda:")} == {"lambda:InvokeFunction"}


def test_the_state_machine_manages_only_its_own_executions(resources: Resources) -> None:
    machine_id, _ = _state_machine(resources)
    statements = _machine_statements(resources)
    assert resources_for_action(statements, "states:StartExecution") == [{"Ref": machine_id}]
    for action in ("states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"):
        (arn,) = resources_for_action(statements, action)
        # arn:...:execution:<this machine's name>:* (or /*:* for its map runs)
        parts = arn["Fn::Join"][1]
        assert parts[-3] == ":execution:"
        assert parts[-2]["Fn::Select"][1]["Fn::Split"][1] == {"Ref": machine_id}
    assert {a for a in actions(statements) if a.startswith("states:")} == {
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
    }


# --- Failed executions, the worker ----------------------------------------------------------


def _import_queue_id(resources: Resources) -> str:
    (queue_id,) = [
        k
        for k, r in of_type(resources, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in r["Properties"]
    ]
    return queue_id


def test_failed_executions_of_this_machine_go_to_the_import_queue(resources: Resources) -> None:
    machine_id, _ = _state_machine(resources)
    queue_id = _import_queue_id(resources)
    rules = [
        (k, r)
        for k, r in of_type(resources, "AWS::Events::Rule").items()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    assert len(rules) == 1
    rule_id, rule = rules[0]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
            "stateMachineArn": [{"Ref": machine_id}],
        },
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    # The whole event is the message (the worker reads detail.name, detail.status).
    assert "Input" not in target and "InputTransformer" not in target
    # And the queue lets EventBridge send, for this rule only.
    (policy,) = [
        p
        for p in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    allowed = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert len(allowed) == 1
    assert "sqs:SendMessage" in actions(allowed)
    assert allowed[0]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
    }


def test_the_worker_starts_executions_of_this_machine(resources: Resources) -> None:
    machine_id, _ = _state_machine(resources)
    worker_id, worker = function_for(resources, d.IMPORT_WORKER)
    env = worker["Properties"]["Environment"]["Variables"]
    assert env[env_name("sharded_runs_state_machine_arn")] == {"Ref": machine_id}
    statements = role_statements(resources, worker_id)
    assert resources_for_action(statements, "states:StartExecution") == [{"Ref": machine_id}]
    assert {a for a in actions(statements) if a.startswith("states:")} == {"states:StartExecution"}


def _env(resources: Resources, fn: d.FunctionDef) -> dict[str, Any]:
    return function_for(resources, fn)[1]["Properties"]["Environment"]["Variables"]  # type: ignore[no-any-return]


def test_sizes_reach_the_functions_that_read_them(resources: Resources) -> None:
    default = {env_name(field): str(DEFAULTS[key]) for key, field in SIZE_SETTINGS.items()}
    upload = {k: v for k, v in default.items() if k.startswith("MULTIPART_")}
    shard = {k: v for k, v in default.items() if k.startswith("SHARD_")}
    assert _env(resources, d.FILES_API).items() >= upload.items()
    for fn in (d.IMPORT_WORKER, *d.SHARD_FUNCTIONS):
        assert _env(resources, fn).items() >= shard.items(), fn.name


# --- The rendered definition (the local stack's) --------------------------------------------


def test_render_definition_is_the_template_definition(
    resources: Resources, definition: State
) -> None:
    arns = {name: _arn(function_id) for name, function_id in _function_ids(resources).items()}
    assert json.loads(render_definition(arns)) == definition


def test_render_definition_needs_every_function() -> None:
    with pytest.raises(KeyError, match="shard_finish"):
        render_definition({"shard_plan": "arn:a", "shard_run": "arn:b"})


LOCAL_ARNS = {
    fn.name: f"arn:aws:lambda:us-east-1:123456789012:function:intake-local-{fn.name}"
    for fn in d.SHARD_FUNCTIONS
}
MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def _run_on_moto(asl: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list]:
    """Create the state machine on in-process moto and run one execution to its end, the
    Lambda tasks answered by stand-ins of the three functions (3 shards, validate -> write)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, *_: Any) -> bytes:
        name = function_name.rsplit(":", 1)[-1].removeprefix("intake-local-")
        event = json.loads(body)
        calls.append((name, event))
        if name == d.SHARD_PLAN.name:
            answer: dict[str, Any] = {
                "shards": [{"index": i, "start": i * 10} for i in range(3)],
                "phase": "validate",
                "object": {"key": "uploads/acme/f1", "version_id": None},
            }
        elif name == d.SHARD_RUN.name:
            answer = {"index": event["shard"]["index"], "rows": 10}
        else:
            answer = {"phase": "write" if event["phase"] == "validate" else None}
        return json.dumps(answer).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    with mock_aws(config=MOTO_CONFIG):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        machine = client.create_state_machine(
            name="ShardedRuns",
            definition=asl,
            roleArn="arn:aws:iam::123456789012:role/intake-local-sharded-runs",
            type="STANDARD",
        )
        execution = client.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name="f1-1",
            input=json.dumps({"tenant": "acme", "file_id": "f1", "run": 1}),
        )
        deadline = time.monotonic() + 60
        while True:
            described = client.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described, calls
            time.sleep(0.1)


def test_moto_accepts_and_runs_the_rendered_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the definition as the local stack renders it
    asl = render_definition(LOCAL_ARNS)
    # When moto creates the state machine and runs a file of 3 shards
    described, calls = _run_on_moto(asl, monkeypatch)
    # Then the execution plans, validates every shard, finishes, writes every shard, ends
    assert described["status"] == "SUCCEEDED", described.get("cause")
    names = [name for name, _ in calls]
    assert names == [
        "shard_plan",
        *["shard_run"] * 3,
        "shard_finish",
        *["shard_run"] * 3,
        "shard_finish",
    ]
    assert calls[0][1] == {"tenant": "acme", "file_id": "f1", "run": 1}
    shard_events = [event for name, event in calls if name == "shard_run"]
    assert sorted((e["phase"], e["shard"]["index"]) for e in shard_events) == [
        (phase, i) for phase in ("validate", "write") for i in range(3)
    ]
    assert shard_events[0].keys() == {"tenant", "file_id", "run", "phase", "object", "shard"}
    assert shard_events[0]["object"] == {"key": "uploads/acme/f1", "version_id": None}
    finishes = [event for name, event in calls if name == "shard_finish"]
    assert finishes == [
        {"tenant": "acme", "file_id": "f1", "run": 1, "phase": phase, "shard_count": 3}
        for phase in ("validate", "write")
    ]
    # The shards' answers were discarded: the state still holds the plan, not 3 results.
    assert json.loads(described["output"])["plan"]["phase"] == "validate"


def test_the_records_tables_write_rate_sizes_the_map_and_warms_the_table(
    tmp_path_factory: pytest.TempPathFactory, deps_layer: Any, resources: Resources
) -> None:
    # Default: a new on-demand table's 4,000 writes/s, 4 shards of ~1,000 writes/s; not warmed.
    _, shards = _the(_template_definition(resources), "Map")
    assert shards["MaxConcurrency"] == 4
    records = _records_table(resources)
    assert "WarmThroughput" not in records["Properties"]
    # An operator gives the table 12,000 writes/s: it is warmed to that, and 12 shards run.
    warmed = build(tmp_path_factory, deps_layer, recordsWritesPerSecond=12000)
    warmed_resources = warmed.template.to_json()["Resources"]
    _, shards = _the(_template_definition(warmed_resources), "Map")
    assert shards["MaxConcurrency"] == 12
    assert _records_table(warmed_resources)["Properties"]["WarmThroughput"] == {
        "WriteUnitsPerSecond": 12000
    }


def _records_table(resources: Resources) -> dict[str, Any]:
    [table] = [
        t
        for logical_id, t in of_type(resources, "AWS::DynamoDB::Table").items()
        if logical_id.startswith(f"Tables{d.RECORDS_TABLE.logical_name}")
    ]
    return table

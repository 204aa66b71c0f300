"""Every function is built by the one factory; each gets only the access it uses."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra import definitions as d
from intake.settings import Settings
from tests.infra.conftest import OIDC_TENANT_CLAIM
from tests.infra.helpers import (
    Resources,
    actions,
    app_functions,
    function_for,
    of_type,
    ref_id,
    resources_for_action,
    role_statements,
)

# Every function the stack builds: the API's, the worker, the sweep and the sharded runs'.
ALL_FUNCTIONS = (*d.FUNCTIONS, *d.SHARD_FUNCTIONS)

# The variables the functions' Settings model cannot do without.
REQUIRED_ENV = {
    str(field.alias) for field in Settings.model_fields.values() if field.is_required()
} | {"TENANT_CLAIM"}


def test_required_env_matches_the_settings_model() -> None:
    assert {
        "BUCKET_NAME",
        "STATUS_TABLE",
        "RECORDS_TABLE",
        "IDEMPOTENCY_TABLE",
        "IMPORT_QUEUE_URL",
        "TENANT_CLAIM",
    } == REQUIRED_ENV


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.name)
def test_function_runtime_and_observability(resources: Resources, fn: d.FunctionDef) -> None:
    _, function = function_for(resources, fn)
    props = function["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == fn.timeout_seconds
    assert props["MemorySize"] == fn.memory_mb
    assert props["EphemeralStorage"] == {"Size": fn.ephemeral_storage_mb}
    logging = props["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == "INFO"
    log_group = resources[ref_id(logging["LogGroup"])]
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert len(props["Layers"]) == 2


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.name)
def test_function_role_writes_to_its_own_log_group_only(
    resources: Resources, fn: d.FunctionDef
) -> None:
    function_id, function = function_for(resources, fn)
    role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
    # No AWSLambdaBasicExecutionRole: it may create and write to any log group.
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = role_statements(resources, function_id)
    own = {"Fn::GetAtt": [ref_id(function["Properties"]["LoggingConfig"]["LogGroup"]), "Arn"]}
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert resources_for_action(statements, action) == [own]
    assert "logs:CreateLogGroup" not in actions(statements)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.name)
def test_function_environment(resources: Resources, fn: d.FunctionDef) -> None:
    _, function = function_for(resources, fn)
    env = function["Properties"]["Environment"]["Variables"]
    assert env.keys() >= REQUIRED_ENV
    assert env["POWERTOOLS_SERVICE_NAME"] == "intake"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Intake"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["TENANT_CLAIM"] == "client_id"  # the default stack uses Cognito
    assert env["IMPORT_QUEUE_MAX_RECEIVES"] == str(d.IMPORT_QUEUE.max_receive_count)
    # Each variable names the right resource.
    assert resources[ref_id(env["BUCKET_NAME"])]["Type"] == "AWS::S3::Bucket"
    assert resources[ref_id(env["IMPORT_QUEUE_URL"])]["Properties"]["RedrivePolicy"]
    status = resources[ref_id(env["STATUS_TABLE"])]["Properties"]
    records = resources[ref_id(env["RECORDS_TABLE"])]["Properties"]
    assert status["TimeToLiveSpecification"]["AttributeName"] == d.STATUS_TABLE.ttl_attribute
    assert "TimeToLiveSpecification" not in records


def test_layers_are_arm64_python312(resources: Resources) -> None:
    layers = of_type(resources, "AWS::Lambda::LayerVersion")
    for function in app_functions(resources).values():
        for layer in function["Properties"]["Layers"]:
            props = layers[ref_id(layer)]["Properties"]
            assert props["CompatibleRuntimes"] == ["python3.12"]
            assert props["CompatibleArchitectures"] == ["arm64"]


def test_tenant_claim_comes_from_context(oidc_template: Template) -> None:
    resources = oidc_template.to_json()["Resources"]
    for function in app_functions(resources).values():
        assert function["Properties"]["Environment"]["Variables"]["TENANT_CLAIM"] == (
            OIDC_TENANT_CLAIM
        )


def _actions(resources: Resources, fn: d.FunctionDef) -> set[str]:
    function_id, _ = function_for(resources, fn)
    return actions(role_statements(resources, function_id))


def test_catalog_has_no_data_access(resources: Resources) -> None:
    granted = _actions(resources, d.CATALOG_API)
    assert not {a for a in granted if a.split(":")[0] in ("dynamodb", "s3", "sqs")}


def test_only_imports_api_and_the_sweep_send_to_the_queue(resources: Resources) -> None:
    senders = {fn.name for fn in ALL_FUNCTIONS if "sqs:SendMessage" in _actions(resources, fn)}
    assert senders == {d.IMPORTS_API.name, d.RUN_SWEEP.name}


def test_the_sweep_queries_the_active_runs_index_and_touches_no_objects(
    resources: Resources,
) -> None:
    function_id, sweep = function_for(resources, d.RUN_SWEEP)
    statements = role_statements(resources, function_id)
    granted = actions(statements)
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage"} <= granted
    assert not {a for a in granted if a.startswith("s3:")}
    status_table = ref_id(_env(sweep)["STATUS_TABLE"])
    index_arns = [
        r
        for r in resources_for_action(statements, "dynamodb:Query")
        if "Fn::Join" in r and r["Fn::Join"][1][-1] == "/index/*"
    ]
    assert [ref_id(r["Fn::Join"][1][0]) for r in index_arns] == [status_table]


def test_files_api_presigns_uploads_and_reports_only(resources: Resources) -> None:
    function_id, _ = function_for(resources, d.FILES_API)
    statements = role_statements(resources, function_id)
    granted = actions(statements)
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= granted
    assert not {a for a in granted if a.startswith("s3:Delete")}
    put_targets = resources_for_action(statements, "s3:PutObject")
    assert [t["Fn::Join"][1][-1] for t in put_targets] == [f"/{d.UPLOAD_PREFIX}*"]
    get_targets = resources_for_action(statements, "s3:GetObject*")
    object_targets = [t for t in get_targets if "Fn::Join" in t]
    assert [t["Fn::Join"][1][-1] for t in object_targets] == [f"/{d.REPORT_PREFIX}*"]


def test_imports_api_touches_no_objects(resources: Resources) -> None:
    granted = _actions(resources, d.IMPORTS_API)
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= granted
    assert not {a for a in granted if a.startswith("s3:")}


def test_worker_reads_objects_writes_reports_and_records(resources: Resources) -> None:
    function_id, _ = function_for(resources, d.IMPORT_WORKER)
    statements = role_statements(resources, function_id)
    granted = actions(statements)
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= granted
    assert {"dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "dynamodb:GetItem"} <= granted
    put_targets = resources_for_action(statements, "s3:PutObject")
    assert sorted(t["Fn::Join"][1][-1] for t in put_targets) == sorted(
        [f"/{d.REPORT_PREFIX}*", f"/{d.RECORD_PREFIX}*"]
    )
    read_targets = {
        t["Fn::Join"][1][-1]
        for t in resources_for_action(statements, "s3:GetObject*")
        if "Fn::Join" in t
    }
    assert read_targets == {f"/{prefix}*" for prefix in d.NOTIFIED_PREFIXES}
    # The records table is written, never read.
    _, worker = function_for(resources, d.IMPORT_WORKER)
    records_table = {"Fn::GetAtt": [ref_id(_env(worker)["RECORDS_TABLE"]), "Arn"]}
    on_records = [s for s in statements if records_table in _as_list(s["Resource"])]
    assert on_records
    assert not actions(on_records) & {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}


def _env(function: dict[str, Any]) -> dict[str, Any]:
    return function["Properties"]["Environment"]["Variables"]  # type: ignore[no-any-return]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_worker_may_publish_completion_events_and_nothing_else_may(resources: Resources) -> None:
    _, worker = function_for(resources, d.IMPORT_WORKER)
    assert _env(worker)["EVENT_BUS_NAME"] == d.EVENT_BUS_NAME
    publishers = {fn.name for fn in ALL_FUNCTIONS if "events:PutEvents" in _actions(resources, fn)}
    # The worker at every end of a run; the sweep when it fails a run that kept getting stuck;
    # shard_finish at the end of a sharded run.
    assert publishers == {d.IMPORT_WORKER.name, d.RUN_SWEEP.name, d.SHARD_FINISH.name}


def test_the_worker_has_room_in_tmp_for_duplicate_detection_of_a_whole_run() -> None:
    # 8 bytes a row spilled past 4M rows (ingest/duplicates.py); ~225M rows in 15 minutes
    assert d.IMPORT_WORKER.ephemeral_storage_mb * 1024**2 >= 225_000_000 * 8

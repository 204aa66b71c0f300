"""The API's idempotency table: Powertools' key shape, expiry by TTL, and only the two POST
routes' functions may touch it."""

from __future__ import annotations

from infra import definitions as d
from tests.infra.helpers import (
    Resources,
    actions,
    function_for,
    ref_id,
    role_statements,
)


def _idempotency_table(resources: Resources) -> tuple[str, dict]:
    _, files = function_for(resources, d.FILES_API)
    table_id = ref_id(files["Properties"]["Environment"]["Variables"]["IDEMPOTENCY_TABLE"])
    return table_id, resources[table_id]


def test_table_is_keyed_as_powertools_writes_and_expires_records_by_ttl(
    resources: Resources,
) -> None:
    _, table = _idempotency_table(resources)
    props = table["Properties"]
    # DynamoDBPersistenceLayer's defaults: a string `id`, expiry in epoch seconds `expiration`.
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_every_function_names_the_same_idempotency_table(resources: Resources) -> None:
    table_id, _ = _idempotency_table(resources)
    for fn in d.FUNCTIONS:
        _, function = function_for(resources, fn)
        env = function["Properties"]["Environment"]["Variables"]
        assert ref_id(env["IDEMPOTENCY_TABLE"]) == table_id


def _actions_on(resources: Resources, fn: d.FunctionDef, table_id: str) -> set[str]:
    function_id, _ = function_for(resources, fn)
    arn = {"Fn::GetAtt": [table_id, "Arn"]}
    statements = [
        s
        for s in role_statements(resources, function_id)
        if arn in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    return actions(statements)


def test_only_the_post_routes_functions_use_the_idempotency_table(resources: Resources) -> None:
    table_id, _ = _idempotency_table(resources)
    # Powertools puts the in-progress record, reads it back, completes or deletes it.
    needed = {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    for fn in (d.FILES_API, d.IMPORTS_API):
        assert needed <= _actions_on(resources, fn, table_id), fn.name
    for fn in (d.CATALOG_API, d.IMPORT_WORKER):
        assert not _actions_on(resources, fn, table_id), fn.name

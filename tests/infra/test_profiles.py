"""The profiles routes and function: scopes per method, access to the status table only."""

from __future__ import annotations

from typing import Any

from infra import definitions as d
from tests.infra.helpers import (
    Resources,
    actions,
    function_for,
    of_type,
    ref_id,
    resources_for_action,
    role_statements,
)


def _routes(resources: Resources) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
    }


def _target_function(resources: Resources, route: dict[str, Any]) -> str:
    integration = resources[ref_id(route["Target"]["Fn::Join"][1][1])]["Properties"]
    return ref_id(integration["IntegrationUri"])


def test_profile_routes_read_with_read_scope_and_change_with_write(resources: Resources) -> None:
    routes = _routes(resources)
    profiles_fn, _ = function_for(resources, d.PROFILES_API)
    expected = {
        "GET /profiles": ["intake/read"],
        "GET /profiles/{name}": ["intake/read"],
        "PUT /profiles/{name}": ["intake/write"],
        "DELETE /profiles/{name}": ["intake/write"],
    }
    for key, scopes in expected.items():
        assert routes[key]["AuthorizationType"] == "JWT", key
        assert routes[key]["AuthorizationScopes"] == scopes, key
        assert _target_function(resources, routes[key]) == profiles_fn, key


def test_profile_paths_other_methods_go_to_the_405_answer(resources: Resources) -> None:
    routes = _routes(resources)
    catalog_fn, _ = function_for(resources, d.CATALOG_API)
    for key in ("POST /profiles/{name}", "PATCH /profiles/{name}", "PUT /profiles"):
        assert routes[key]["AuthorizationType"] == "JWT", key
        assert _target_function(resources, routes[key]) == catalog_fn, key


def test_profiles_function_reads_and_writes_the_status_table_only(resources: Resources) -> None:
    function_id, function = function_for(resources, d.PROFILES_API)
    statements = role_statements(resources, function_id)
    granted = actions(statements)
    # Transactions (the default pointer with its profile) need each item action they hold.
    needed = {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    }
    assert needed <= granted
    env = function["Properties"]["Environment"]["Variables"]
    status_table = {"Fn::GetAtt": [ref_id(env["STATUS_TABLE"]), "Arn"]}
    assert status_table in resources_for_action(statements, "dynamodb:PutItem")
    tables = {
        ref_id(r)
        for a in granted
        if a.startswith("dynamodb:")
        for r in resources_for_action(statements, a)
        if "Fn::GetAtt" in r
    }
    assert tables == {ref_id(env["STATUS_TABLE"])}
    # No objects, no queue, no events.
    assert not {a for a in granted if a.split(":")[0] in ("s3", "sqs", "events")}


def test_the_preflight_allows_the_profile_methods(resources: Resources) -> None:
    (api,) = of_type(resources, "AWS::ApiGatewayV2::Api").values()
    allowed = set(api["Properties"]["CorsConfiguration"]["AllowMethods"])
    assert {"GET", "PUT", "DELETE"} <= allowed

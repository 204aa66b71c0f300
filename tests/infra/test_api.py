"""The HTTP API: JWT authorizer, scopes per route, public docs, CORS, throttling, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra import definitions as d
from tests.infra.conftest import OIDC_AUDIENCE, OIDC_ISSUER
from tests.infra.helpers import Resources, data_bucket, function_for, of_type, only, ref_id


def _route(resources: Resources, route: d.RouteDef) -> dict[str, Any]:
    key = f"{route.method} {route.path}"
    found = [
        r["Properties"]
        for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == key
    ]
    assert len(found) == 1, f"route {key}: {len(found)} found"
    return found[0]


@pytest.mark.parametrize("route", d.ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_authorization(resources: Resources, route: d.RouteDef) -> None:
    props = _route(resources, route)
    if route.scopes:
        authorizer_id, _ = only(resources, "AWS::ApiGatewayV2::Authorizer")
        assert props["AuthorizationType"] == "JWT"
        assert ref_id(props["AuthorizerId"]) == authorizer_id
        assert props["AuthorizationScopes"] == list(route.scopes)
    else:
        assert props["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in props
        assert "AuthorizationScopes" not in props


def test_docs_routes_are_public_and_data_routes_are_not(resources: Resources) -> None:
    public = {f"{r.method} {r.path}" for r in d.ROUTES if not r.scopes}
    assert public == {"GET /openapi.json", "GET /docs"}
    assert _route(resources, d.ROUTES[0])["AuthorizationScopes"] == ["intake/write"]


@pytest.mark.parametrize("route", d.ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_targets_its_function(resources: Resources, route: d.RouteDef) -> None:
    target = _route(resources, route)["Target"]["Fn::Join"][1][1]
    integration = resources[ref_id(target)]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    function_id, _ = function_for(resources, route.function)
    assert ref_id(integration["IntegrationUri"]) == function_id


def test_jwt_authorizer_uses_the_cognito_user_pool(resources: Resources) -> None:
    _, authorizer = only(resources, "AWS::ApiGatewayV2::Authorizer")
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    pool_id, _ = only(resources, "AWS::Cognito::UserPool")
    client_id, client = only(resources, "AWS::Cognito::UserPoolClient")
    assert client["Properties"]["ClientName"] == "intake-tenant-demo"
    # One app client per tenant; each one's id is an accepted audience (and its tenant id).
    assert props["JwtConfiguration"]["Audience"] == [{"Ref": client_id}]
    issuer = props["JwtConfiguration"]["Issuer"]["Fn::Join"][1]
    assert issuer[0] == "https://cognito-idp."
    assert {"Ref": pool_id} in issuer


def test_cognito_pool_has_scopes_and_a_client_per_tenant(resources: Resources) -> None:
    _, pool = only(resources, "AWS::Cognito::UserPool")
    # No custom attributes: nothing reads one, and a deployed one can never be removed.
    assert "Schema" not in pool["Properties"]
    assert pool["Properties"]["MfaConfiguration"] == "ON"
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14


def test_cognito_resource_server_and_client(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {
            "Identifier": "intake",
            "Scopes": Match.array_with(
                [
                    Match.object_like({"ScopeName": "read"}),
                    Match.object_like({"ScopeName": "write"}),
                ]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "AllowedOAuthFlows": ["client_credentials"],
            "GenerateSecret": True,
            "AllowedOAuthScopes": Match.array_with(
                [
                    {"Fn::Join": ["", [Match.any_value(), "/read"]]},
                    {"Fn::Join": ["", [Match.any_value(), "/write"]]},
                ]
            ),
        },
    )


def test_oidc_context_replaces_cognito(oidc_template: Template) -> None:
    oidc_template.resource_count_is("AWS::Cognito::UserPool", 0)
    oidc_template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "IdentitySource": ["$request.header.Authorization"],
            "JwtConfiguration": {"Issuer": OIDC_ISSUER, "Audience": [OIDC_AUDIENCE]},
        },
    )


def test_no_route_takes_the_cors_preflight(resources: Resources) -> None:
    # API Gateway answers OPTIONS preflights itself only while no route matches them: an ANY
    # or OPTIONS route behind the JWT authorizer would answer a browser's preflight 401.
    keys = [
        r["Properties"]["RouteKey"] for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
    ]
    assert not [k for k in keys if k.split(" ")[0] in ("ANY", "OPTIONS")], keys
    # and the paths' other methods still reach the 405 answer
    assert "DELETE /files/{file_id}" in keys and "PUT /files" in keys


def test_cors_preflight_and_throttling(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {
            "ProtocolType": "HTTP",
            "CorsConfiguration": Match.object_like(
                {
                    "AllowOrigins": ["*"],
                    "AllowMethods": Match.array_with(["GET", "POST"]),
                    "AllowHeaders": Match.array_with(["Authorization", "Content-Type"]),
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": Match.any_value(),
                "ThrottlingRateLimit": Match.any_value(),
            },
        },
    )


def test_outputs_api_url_and_bucket_name(template: Template, resources: Resources) -> None:
    outputs = template.to_json()["Outputs"]
    bucket_id, _ = data_bucket(resources)
    api_id, _ = only(resources, "AWS::ApiGatewayV2::Api")
    assert outputs["BucketName"]["Value"] == {"Ref": bucket_id}
    assert {"Ref": api_id} in outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    assert {"UserPoolId", "TenantClientIdDemo", "TokenUrl"} <= outputs.keys()


def test_api_access_logs_go_to_a_log_group(resources: Resources) -> None:
    _, stage = only(resources, "AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["AccessLogSettings"]
    log_group = resources[ref_id(settings["DestinationArn"])]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0
    fields = json.loads(settings["Format"])
    assert {"requestId", "ip", "routeKey", "status", "integrationError", "authorizerError"} <= set(
        fields
    )
    assert fields["requestId"] == "$context.requestId"  # = the functions' correlation_id

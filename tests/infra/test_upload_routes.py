"""The resumable-upload routes in the template: behind the JWT authorizer with the write
scope (GET signs URLs that write to the bucket), on the files function."""

from __future__ import annotations

import pytest

from infra import definitions as d
from tests.infra.helpers import (
    Resources,
    function_for,
    of_type,
    only,
    ref_id,
    resources_for_action,
    role_statements,
)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_upload_route_is_write_scoped_and_served_by_the_files_function(
    resources: Resources, method: str
) -> None:
    key = f"{method} /files/{{file_id}}/upload"
    routes = [
        r["Properties"]
        for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == key
    ]
    assert routes, f"no route {key}"
    route = routes[0]
    authorizer_id, _ = only(resources, "AWS::ApiGatewayV2::Authorizer")
    assert route["AuthorizationType"] == "JWT"
    assert ref_id(route["AuthorizerId"]) == authorizer_id
    assert route["AuthorizationScopes"] == [d.SCOPE_WRITE]
    target = route["Target"]["Fn::Join"][1][1]
    integration = resources[ref_id(target)]["Properties"]
    function_id, _ = function_for(resources, d.FILES_API)
    assert ref_id(integration["IntegrationUri"]) == function_id


def test_other_methods_on_the_upload_path_are_answered_405_not_404(resources: Resources) -> None:
    keys = {
        r["Properties"]["RouteKey"] for r in of_type(resources, "AWS::ApiGatewayV2::Route").values()
    }
    for method in ("POST", "PUT", "PATCH"):
        assert f"{method} /files/{{file_id}}/upload" in keys


def test_files_api_may_list_and_abort_upload_parts_under_uploads_only(
    resources: Resources,
) -> None:
    function_id, _ = function_for(resources, d.FILES_API)
    statements = role_statements(resources, function_id)
    for action in ("s3:ListMultipartUploadParts", "s3:Abort*"):
        targets = resources_for_action(statements, action)
        assert [t["Fn::Join"][1][-1] for t in targets] == [f"/{d.UPLOAD_PREFIX}*"], action
    # and listing parts did not bring reading the uploaded objects with it
    assert not resources_for_action(statements, "s3:GetObject")
    readable = [t for t in resources_for_action(statements, "s3:GetObject*") if "Fn::Join" in t]
    assert [t["Fn::Join"][1][-1] for t in readable] == [f"/{d.REPORT_PREFIX}*"]

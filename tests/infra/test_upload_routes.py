"""The resumable-upload routes in the template: behind the JWT authorizer with the write
scope (GET signs URLs that write to the bucket), on the files function."""

from __future__ import annotations

import pytest

from infra import definitions as d
from tests.infra.helpers import Resources, function_for, of_type, only, ref_id


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

"""Small readers over a synthesized template's JSON (resources by type, a function's IAM)."""

from __future__ import annotations

from typing import Any

from infra import definitions as d

Resources = dict[str, dict[str, Any]]


def of_type(resources: Resources, type_: str) -> Resources:
    return {k: r for k, r in resources.items() if r["Type"] == type_}


def only(resources: Resources, type_: str) -> tuple[str, dict[str, Any]]:
    found = of_type(resources, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def data_bucket(resources: Resources) -> tuple[str, dict[str, Any]]:
    """The Intake bucket (uploads/, drop/, reports/): the one that logs to the access-log bucket."""
    found = [
        (k, r)
        for k, r in of_type(resources, "AWS::S3::Bucket").items()
        if "LoggingConfiguration" in r["Properties"]
    ]
    assert len(found) == 1, f"expected one bucket with access logs, found {len(found)}"
    return found[0]


def app_functions(resources: Resources) -> Resources:
    """The Intake functions (not CDK's own custom-resource handlers)."""
    return {
        k: r
        for k, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == "handler.lambda_handler"
    }


def function_for(resources: Resources, fn: d.FunctionDef) -> tuple[str, dict[str, Any]]:
    """The function built from a FunctionDef (descriptions are unique)."""
    found = [
        (k, r)
        for k, r in app_functions(resources).items()
        if r["Properties"].get("Description") == fn.description
    ]
    assert len(found) == 1, f"expected one function for {fn.name}, found {len(found)}"
    return found[0]


def role_statements(resources: Resources, function_id: str) -> list[dict[str, Any]]:
    """Every IAM statement of the policies attached to the function's role."""
    role_ref = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role_ref} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def resources_for_action(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The Resource entries of the statements that allow `action`."""
    found: list[Any] = []
    for statement in statements:
        if action in actions([statement]):
            resource = statement["Resource"]
            found.extend(resource if isinstance(resource, list) else [resource])
    return found


def ref_id(value: Any) -> str:
    """The logical id behind {"Ref": id} or {"Fn::GetAtt": [id, attr]}."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])

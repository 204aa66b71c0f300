"""Integration fixtures: the real handlers, invoked with API Gateway and SQS events, on moto."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests

from intake_local.lambda_runtime import LambdaContext, load_handler_module
from intake_local.resources import Resources
from intake_local.worker_runner import sqs_event_record

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def lambda_context(name: str = "intake-test") -> LambdaContext:
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        aws_request_id=str(uuid.uuid4()),
        timeout_seconds=300,
    )


def load_handler(name: str) -> ModuleType:
    return load_handler_module(ROOT / "functions" / name / "handler.py", f"intake_fn_{name}")


@pytest.fixture(scope="session")
def handlers() -> dict[str, ModuleType]:
    return {
        n: load_handler(n)
        for n in ("files_api", "imports_api", "catalog_api", "profiles_api", "import_worker")
    }


def api_event(
    method: str,
    path: str,
    *,
    tenant: str | None = "acme",
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event as the JWT authorizer passes it on (from events/)."""
    event = json.loads((EVENTS / "apigw_http_request.json").read_text())
    # Payload 2.0 carries header names in lower case.
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    route_path = path
    path_params: dict[str, str] = {}
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "files":
        path_params["file_id"] = parts[1]
        route_path = "/files/{file_id}" + (f"/{parts[2]}" if len(parts) == 3 else "")
    elif len(parts) == 2 and parts[0] == "profiles":
        path_params["name"] = parts[1]
        route_path = "/profiles/{name}"
    event["routeKey"] = f"{method} {route_path}"
    event["rawPath"] = path
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event["queryStringParameters"] = query or None
    event["pathParameters"] = path_params or None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    if tenant is None:
        claims.pop("tenant", None)
    else:
        claims["tenant"] = tenant
    event["body"] = (
        raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    )
    return event


Invoke = Callable[..., tuple[int, Any]]


@pytest.fixture
def api(aws: Resources, handlers: dict[str, ModuleType]) -> Invoke:
    routes = {
        ("POST", "files"): "files_api",
        ("GET", "files"): "files_api",
        ("POST", "import"): "imports_api",
        ("GET", "import-types"): "catalog_api",
        ("GET", "openapi.json"): "catalog_api",
        ("GET", "docs"): "catalog_api",
        ("PUT", "profiles"): "profiles_api",
        ("GET", "profiles"): "profiles_api",
        ("DELETE", "profiles"): "profiles_api",
    }

    def invoke(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        fn = routes[(method, parts[-1] if parts[-1] in ("import",) else parts[0])]
        response = handlers[fn].lambda_handler(api_event(method, path, **kwargs), lambda_context())
        body = response.get("body")
        ctype = response.get("headers", {}).get("Content-Type", "")
        return response["statusCode"], json.loads(body) if body and "json" in ctype else body

    return invoke


Drain = Callable[..., dict[str, Any]]


@pytest.fixture
def drain(aws: Resources, handlers: dict[str, ModuleType]) -> Drain:
    """Deliver everything on the import queue to the worker, as Lambda's event source would."""
    sqs = boto3.client("sqs")

    def run(max_rounds: int = 20) -> dict[str, Any]:
        failures: list[str] = []
        for _ in range(max_rounds):
            messages = sqs.receive_message(
                QueueUrl=aws.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                VisibilityTimeout=0,
            ).get("Messages", [])
            if not messages:
                return {"failures": failures}
            event = {"Records": [sqs_event_record(m, aws.queue_arn) for m in messages]}
            response = handlers["import_worker"].lambda_handler(event, lambda_context())
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            failures.extend(failed)
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
            if failed:
                return {"failures": failures}
        return {"failures": failures}

    return run


def declare_and_upload(
    api: Invoke,
    body: bytes,
    *,
    name: str = "people.csv",
    media_type: str = "text/csv",
    import_type: str = "contacts",
    tenant: str = "acme",
    **extra: Any,
) -> str:
    """Declare a file through the API and PUT its bytes to the presigned URL, like a client."""
    status, created = api(
        "POST",
        "/files",
        tenant=tenant,
        body={
            "name": name,
            "media_type": media_type,
            "size": len(body),
            "import_type": import_type,
            **extra,
        },
    )
    assert status == 201, created
    upload = created["upload"]
    # moto intercepts requests in process: the PUT goes to the presigned URL, like a client's.
    response = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
    assert response.status_code == 200, response.text
    return str(created["file_id"])


def delete_every_version(aws: Resources) -> None:
    """Every object version in the bucket gone for good (not a delete marker)."""
    s3 = boto3.client("s3")
    for version in s3.list_object_versions(Bucket=aws.names.bucket).get("Versions", []):
        s3.delete_object(
            Bucket=aws.names.bucket, Key=version["Key"], VersionId=version["VersionId"]
        )


def zip_of(members: Mapping[str, str | bytes], **options: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, **options) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()

"""One way to build an API function's resolver: validation on, errors in the contract's shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, OpenAPI
from aws_lambda_powertools.utilities.typing import LambdaContext

from intake import errors
from intake.api.contract import MAX_JSON_BODY_BYTES
from intake.api.errors import register_error_handlers

TITLE = "Intake"
VERSION = "1.0.0"
DESCRIPTION = (
    "Declare a file, upload its bytes straight to S3 with the returned block, then validate "
    "or import it and follow its status."
)
SECURITY_SCHEMES = {"bearerAuth": HTTPBearer(bearerFormat="JWT")}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


# What Powertools adds on its own to every route's document when validation is on: a 422 in
# its own shape, which our errors never have. Routes with input document their own 422.
_POWERTOOLS_422 = "#/components/schemas/HTTPValidationError"
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")


# Body types Powertools would parse into the routes' JSON models; our routes take JSON only.
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_NOT_JSON = "application/x-not-json"


class IntakeResolver(APIGatewayHttpResolver):
    """Powertools' resolver, with two differences:

    - request bodies are JSON or nothing: a form or multipart body is answered 415 like any
      other type (Powertools would parse it against the JSON model, and raises a bare
      ValueError, a 500, on a multipart type without a boundary);
    - its OpenAPI document (GET /openapi.json and /docs alike) lists only what the routes
      answer: the generic 422 is dropped from routes that take no input.
    """

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        headers = event.get("headers") or {}
        content_type = str(headers.get("content-type", "")).split(";")[0].strip().lower()
        if content_type in _FORM_TYPES:
            event = {**event, "headers": {**headers, "content-type": _NOT_JSON}}
        return super().resolve(event, context)

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        document = super().get_openapi_schema(**kwargs)
        for item in (document.paths or {}).values():
            for operation in (item.get, item.put, item.post, item.delete, item.patch):
                if operation is None or not operation.responses:
                    continue
                content = getattr(operation.responses.get(422), "content", None) or {}
                media = content.get("application/json")
                if media is not None and media.schema_ and media.schema_.ref == _POWERTOOLS_422:
                    del operation.responses[422]
        schemas = document.components.schemas if document.components else None
        for name in _POWERTOOLS_SCHEMAS:
            if schemas and name in schemas and f"/schemas/{name}" not in _text(document):
                del schemas[name]
        return document


def _text(document: OpenAPI) -> str:
    return document.model_dump_json(by_alias=True, exclude_none=True)


def build_app(*routers: Router) -> APIGatewayHttpResolver:
    app = IntakeResolver(enable_validation=True, json_body_deserializer=_bounded_json)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)
    return app


def _bounded_json(body: str) -> Any:
    """The request body as JSON, refused (413) unparsed when it is longer than any valid one."""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_JSON_BODY_BYTES:
        raise errors.PayloadTooLarge(
            f"the request body is over {MAX_JSON_BODY_BYTES // 1024} KiB",
            details=[
                {"field": None, "code": "too_large", "message": f"max {MAX_JSON_BODY_BYTES} bytes"}
            ],
        )
    return json.loads(body)


def openapi_json(app: APIGatewayHttpResolver) -> str:
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
        security=SECURITY,
    )

"""Every failure leaves the API as the contract's envelope: {"error": {code, message, details}}."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from intake import errors
from intake.api.contract import allowed_methods
from intake.models.api import ErrorBody, ErrorEnvelope
from intake.models.text import UNSAFE_TEXT
from intake.observability import logger, metrics

STATUS_BY_ERROR: dict[type[errors.IntakeError], HTTPStatus] = {
    errors.BadRequest: HTTPStatus.BAD_REQUEST,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.IdempotencyKeyReused: HTTPStatus.CONFLICT,
    errors.IdempotencyKeyInProgress: HTTPStatus.CONFLICT,
    errors.PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    errors.InvalidFields: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


def error_response(
    status: HTTPStatus, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[str]:
    metrics.add_metric(
        name="RequestsRejected" if status < HTTPStatus.INTERNAL_SERVER_ERROR else "RequestsFailed",
        unit="Count",
        value=1,
    )
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details or []))
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
    )


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(errors.IntakeError)
    def _domain(exc: errors.IntakeError) -> Response[str]:
        status = STATUS_BY_ERROR.get(type(exc), HTTPStatus.BAD_REQUEST)
        return error_response(status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        problems = list(exc.errors())
        if any(_is_malformed_body(p) for p in problems):
            return error_response(
                HTTPStatus.BAD_REQUEST, "malformed_body", "the request body must be a JSON object"
            )
        details = [_detail(p) for p in problems]
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "some fields are invalid", details
        )

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(exc: UnicodeDecodeError) -> Response[str]:
        return error_response(
            HTTPStatus.BAD_REQUEST, "malformed_body", "the request body must be UTF-8 JSON"
        )

    @app.exception_handler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response[str]:
        # Python's json parser gives up near 1,000 levels of nesting: a few KB of "[[[[...".
        return error_response(
            HTTPStatus.BAD_REQUEST, "malformed_body", "the request body is nested too deeply"
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request body as application/json",
        )

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        # API Gateway sends a documented path's other methods here (definitions.ROUTES):
        # 405 with the methods the path has, as HTTP asks, rather than API Gateway's 404.
        allowed = allowed_methods(app, app.current_event.path)
        if not allowed:
            return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")
        response = error_response(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "method_not_allowed",
            f"{app.current_event.http_method.upper()} is not a method of this path",
            [{"field": None, "code": "method_not_allowed", "message": f"use {', '.join(allowed)}"}],
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side"
        )


def _is_malformed_body(problem: dict[str, Any]) -> bool:
    loc = tuple(problem.get("loc", ()))
    if problem.get("type") == "json_invalid":
        return True
    # A body that is not an object at all (missing, a list, a string) is malformed, not invalid.
    return loc == ("body",) and problem.get("type") in (
        "missing",
        "model_attributes_type",
        "dict_type",
    )


# A field's path can hold a client's own text (a metadata key, an unknown field's name): it is
# echoed bounded and without control characters or lone surrogates (UTF-8 JSON cannot carry one).
_MAX_LOCATION_PART = 64


def _location_part(part: Any) -> str:
    text = UNSAFE_TEXT.sub("\ufffd", str(part))
    return text if len(text) <= _MAX_LOCATION_PART else text[: _MAX_LOCATION_PART - 1] + "\u2026"


def _detail(problem: dict[str, Any]) -> dict[str, Any]:
    loc = [
        _location_part(p)
        for p in problem.get("loc", ())
        if p not in ("body", "query", "path", "header")
    ]
    return {
        "field": ".".join(loc) or None,
        "code": problem.get("type", "invalid"),
        "message": problem.get("msg", "invalid value"),
    }

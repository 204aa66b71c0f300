"""What each route answers, as the OpenAPI document states it (docs/http-contract.md).

Every status a route can give is listed with what it means for that route and the shape of
its body: the functions' error envelope, or API Gateway's own `{"message": ...}` for the
answers the gateway gives before a function runs (401, a missing scope's 403, a body over its
10 MB limit). The route decorators take these tables as `responses=`.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from intake.clock import FILE_ID_PATTERN
from intake.models.api import ErrorEnvelope, ErrorOrGatewayMessage, GatewayMessage
from intake.models.mapping import PROFILE_NAME as PROFILE_NAME_PATTERN

# Request bodies are JSON declarations and import requests: no valid one comes near this (every
# field is bounded; the largest valid declaration, every character \u-escaped, is about 85 KB).
# Longer bodies are refused before they are parsed.
MAX_JSON_BODY_BYTES = 128 * 1024

_BODY_BY_STATUS: dict[int, type[Any]] = {
    401: GatewayMessage,  # only ever the JWT authorizer
    403: ErrorOrGatewayMessage,  # the authorizer (scope) or the function (tenant claim)
    413: ErrorOrGatewayMessage,  # the function (limits) or the gateway (10 MB)
}

UNAUTHORIZED = (
    "No bearer token, or one that is malformed, expired, badly signed or not for this API"
)
MALFORMED_BODY = "The body is not a JSON object, or not UTF-8"
INVALID_FIELDS = "A field breaks its rule; `details` names each one"
NOT_JSON = "The request's Content-Type is not application/json"
IDEMPOTENCY_CONFLICT = (
    "`idempotency_key_reused`: the Idempotency-Key came with another request before; "
    "`idempotency_key_in_progress`: its first request has not answered yet"
)
BODY_TOO_LARGE = f"the body is over {MAX_JSON_BODY_BYTES // 1024} KiB"
UNAVAILABLE = "A dependency refused the request; nothing was changed, retry"


_OPENAPI_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_Documented = list[tuple[re.Pattern[str], list[str]]]
_DOCUMENTED_PATHS: weakref.WeakKeyDictionary[APIGatewayHttpResolver, _Documented] = (
    weakref.WeakKeyDictionary()
)


def allowed_methods(app: APIGatewayHttpResolver, path: str) -> list[str]:
    """The methods the app's OpenAPI document gives `path` (e.g. ["GET", "POST"] for
    /files), or [] for a path it does not document: what a 405's Allow header lists."""
    if app not in _DOCUMENTED_PATHS:  # once per container: the document takes ~100 ms
        documented: _Documented = []
        for template, item in (app.get_openapi_schema().paths or {}).items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = [m.upper() for m in _OPENAPI_METHODS if getattr(item, m, None)]
            documented.append((re.compile(regex), methods))
        _DOCUMENTED_PATHS[app] = documented
    for pattern, methods in _DOCUMENTED_PATHS[app]:
        if pattern.fullmatch(path):
            return methods
    return []


def answers(
    success: int,
    description: str,
    errors: dict[int, str],
    links: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """`responses=` for a route: its success (body from the route's return type, and the
    operations its answer leads to) and its errors."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": description}}
    if links:
        documented[success]["links"] = links
    for status, why in sorted(errors.items()):
        body = _BODY_BY_STATUS.get(status, ErrorEnvelope)
        documented[status] = {
            "description": why,
            "content": {"application/json": {"model": body}},
        }
    return documented


def secured(scope: str) -> dict[int, str]:
    """The 401 and 403 every route behind the JWT authorizer can answer."""
    return {
        401: UNAUTHORIZED,
        403: f"The token lacks the {scope} scope, or names no valid tenant",
    }


# Where a declared file's id goes next (OpenAPI links: clients and fuzzers follow them).
_DECLARED_FILE = {"file_id": "$response.body#/file_id"}
DECLARE_FILE = answers(
    201,
    "Declared: the file's id and the block to upload its bytes with",
    {
        **secured("intake/write"),
        400: MALFORMED_BODY,
        409: IDEMPOTENCY_CONFLICT,
        413: "The declared size is over the import type's limit (without a type: over the "
        f"largest limit of the types that take the media type), or {BODY_TOO_LARGE}",
        415: "The import type does not take this media type (without a type: no type takes "
        f"it); or: {NOT_JSON}",
        422: INVALID_FIELDS + " (an unknown import type is one; `import_type_required`: "
        "auto_import, a mapping or a profile without a type)",
        503: UNAVAILABLE,
    },
    links={
        "GetFile": {"operationId": "getFile", "parameters": _DECLARED_FILE},
        "RequestImport": {"operationId": "requestImport", "parameters": _DECLARED_FILE},
        "GetUpload": {"operationId": "getUpload", "parameters": _DECLARED_FILE},
        "AbortUpload": {"operationId": "abortUpload", "parameters": _DECLARED_FILE},
    },
)
GET_FILE = answers(
    200,
    "The file: state, progress, counts, errors",
    {
        **secured("intake/read"),
        404: "No such file for this tenant",
        422: "The file id is not one this API makes (28 lower-case hex digits)",
    },
)
_NOT_PENDING = (
    "The file is not waiting for its upload: its bytes arrived (UPLOADED or later), it was "
    "REJECTED, or it is EXPIRED (the upload was aborted, or not resumed in time)"
)
GET_UPLOAD = answers(
    200,
    "The upload block signed afresh: for MULTIPART, URLs for the parts S3 does not have yet "
    "(`parts`) and the parts it has (`uploaded`); for PUT, the PUT again",
    {
        **secured("intake/write"),
        404: "No such file for this tenant",
        409: _NOT_PENDING,
        422: "The file id is not one this API makes (28 lower-case hex digits)",
    },
)
ABORT_UPLOAD = answers(
    204,
    "Aborted: S3 dropped the parts sent so far and the file is EXPIRED",
    {
        **secured("intake/write"),
        404: "No such file for this tenant",
        409: _NOT_PENDING,
        422: "The file id is not one this API makes (28 lower-case hex digits)",
    },
)
ABORT_UPLOAD[204]["content"] = {}  # no body (Powertools would document the return type's)
LIST_FILES = answers(
    200,
    "A page of the tenant's files, newest first; `next_cursor` fetches the next",
    {
        **secured("intake/read"),
        400: "`cursor` is not one this API returned (`invalid_cursor`)",
        422: INVALID_FIELDS,
    },
)
REQUEST_IMPORT = answers(
    202,
    "Queued: the run starts shortly; follow it with GET /files/{file_id}",
    {
        **secured("intake/write"),
        400: MALFORMED_BODY,
        404: "No such file for this tenant",
        409: "The file is not in a state that may be imported (not uploaded yet, already "
        "queued or running, REJECTED, EXPIRED); `import_type_fixed`: it names another type "
        "than the file's after an import that writes was queued; or " + IDEMPOTENCY_CONFLICT,
        413: "The file's size is over the limit of the import type named; or " + BODY_TOO_LARGE,
        415: "The import type named does not take the file's media type; or " + NOT_JSON,
        422: INVALID_FIELDS + "; `import_type_required`: the file was declared without a type "
        "and the request names none; a file id that is not 28 lower-case hex digits is one",
        503: "The import queue refused the run; the file is as it was, retry",
    },
)
_PROFILE_NAME_422 = (
    "The name is not a profile name (1 to 64 letters, digits, `_`, `.`, `-`; a letter or "
    "digit first)"
)
_SAVED_PROFILE = {"name": "$response.body#/name"}
PUT_PROFILE = answers(
    200,
    "Saved (created or replaced): the profile",
    {
        **secured("intake/write"),
        400: MALFORMED_BODY,
        413: BODY_TOO_LARGE[0].upper() + BODY_TOO_LARGE[1:],
        415: NOT_JSON,
        422: INVALID_FIELDS + ": a mapping entry that does not fit the import type (e.g. "
        "`mapping.columns.<header>`, `unknown_field`) is one, and so is a name that is not a "
        "profile name",
        503: "Other requests were changing the profile at the same time; nothing was "
        "changed, retry",
    },
    links={
        "GetProfile": {"operationId": "getProfile", "parameters": _SAVED_PROFILE},
        "DeleteProfile": {"operationId": "deleteProfile", "parameters": _SAVED_PROFILE},
    },
)
GET_PROFILE = answers(
    200,
    "The profile",
    {
        **secured("intake/read"),
        404: "No such profile for this tenant",
        422: _PROFILE_NAME_422,
    },
)
DELETE_PROFILE = answers(
    204,
    "Deleted (and no longer the default for its import type); files keep their copy",
    {
        **secured("intake/write"),
        404: "No such profile for this tenant",
        422: _PROFILE_NAME_422,
        503: "Other requests were changing the profile at the same time; nothing was "
        "changed, retry",
    },
)
DELETE_PROFILE[204]["content"] = {}  # no body (Powertools would document the return type's)
LIST_PROFILES = answers(
    200,
    "A page of the tenant's profiles by name; `next_cursor` fetches the next",
    {
        **secured("intake/read"),
        400: "`cursor` is not one this API returned (`invalid_cursor`)",
        422: INVALID_FIELDS,
    },
)
LIST_IMPORT_TYPES = answers(
    200,
    "Every import type with its media types, size limit and JSON Schema",
    secured("intake/read"),
)

FILE_ID = Path(
    pattern=FILE_ID_PATTERN,
    description="The id POST /files returned (28 lower-case hex digits)",
)
PROFILE_NAME = Path(
    pattern=PROFILE_NAME_PATTERN,
    max_length=64,
    description="The profile's name: 1 to 64 letters, digits, `_`, `.`, `-`, a letter or digit "
    "first (it is also a folder of drop paths: drop/<tenant>/<import_type>/<profile>/...)",
)

"""The Lambda Invoke API for the local stack's functions, served from the stack's process.

moto server's Step Functions executions call Lambda; the patched LambdaSimpleBackend.invoke
(moto_process.py) forwards each call here, and the function runs through its LocalFunction,
like every function of the stack: this process's environment, a Lambda context, logs in
functions.log. The API's shape (POST /2015-03-31/functions/{name}/invocations):
- the handler's JSON result, 200;
- a handler that raised: 200 with `X-Amz-Function-Error: Unhandled` and
  {"errorType": <the exception's class name>, "errorMessage", "stackTrace"}, as Lambda's Python
  runtime answers, so a state machine's Retry or Catch on an error name (e.g. ShardsMissing)
  matches;
- `X-Amz-Invocation-Type: Event`: 202 at once, the function runs in the background;
- an unknown function: 404 ResourceNotFoundException.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from intake_local.lambda_runtime import FUNCTION_PREFIX, Invocation, LocalFunction

log = logging.getLogger("intake_local.lambda_invoke")

PATH_PREFIX = "/2015-03-31/functions/"
PATH_SUFFIX = "/invocations"


def function_name_of(name_or_arn: str) -> str:
    """`intake-local-x`, `intake-local-x:qualifier` or its ARN -> `intake-local-x`."""
    name = name_or_arn
    if name.startswith("arn:"):
        # arn:aws:lambda:region:account:function:name[:qualifier]
        parts = name.split(":")
        name = parts[6] if len(parts) > 6 else ""
    return name.split(":", 1)[0]


def error_payload(error: BaseException) -> dict[str, Any]:
    """What Lambda's Python runtime reports for an unhandled exception."""
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class InvokeEndpoint:
    """A small HTTP server answering Invoke for `functions` (keyed by FunctionDef name)."""

    def __init__(self, functions: dict[str, LocalFunction], *, host: str = "127.0.0.1") -> None:
        self._by_name = {f.name: f for f in functions.values()}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                endpoint._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("invoke: " + format, *args)

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-invoke", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def add(self, function: LocalFunction) -> None:
        self._by_name[function.name] = function

    # --- one request ---------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urllib.parse.urlsplit(request.path).path
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if not (path.startswith(PATH_PREFIX) and path.endswith(PATH_SUFFIX)):
            _answer(request, HTTPStatus.NOT_FOUND, {"message": f"no route {path}"})
            return
        requested = urllib.parse.unquote(path[len(PATH_PREFIX) : -len(PATH_SUFFIX)])
        function = self._by_name.get(function_name_of(requested))
        if function is None:
            _answer(
                request,
                HTTPStatus.NOT_FOUND,
                {
                    "Type": "User",
                    "message": f"Function not found: {requested} (the local stack runs "
                    f"{', '.join(sorted(self._by_name))}; names start with {FUNCTION_PREFIX})",
                },
                headers={"X-Amzn-ErrorType": "ResourceNotFoundException"},
            )
            return
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            _answer(
                request,
                HTTPStatus.BAD_REQUEST,
                {"Type": "User", "message": f"Could not parse request body into json: {exc}"},
                headers={"X-Amzn-ErrorType": "InvalidRequestContentException"},
            )
            return
        if request.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(
                target=function.invoke, args=(event,), name=f"event-{function.name}", daemon=True
            ).start()
            _answer(request, HTTPStatus.ACCEPTED, None)
            return
        payload, headers = _result(function.invoke(event))
        _answer(request, HTTPStatus.OK, payload, headers=headers)


def _result(invocation: Invocation) -> tuple[Any, dict[str, str]]:
    if invocation.error is not None:
        return error_payload(invocation.error), {"X-Amz-Function-Error": "Unhandled"}
    return invocation.result, {}


def _answer(
    request: BaseHTTPRequestHandler,
    status: HTTPStatus,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    data = b"" if status == HTTPStatus.ACCEPTED else json.dumps(payload, default=str).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)

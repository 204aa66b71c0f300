"""moto server as the local stack runs it: `python -m intake_local.moto_process -H HOST -p PORT`.

Plain `moto_server` would do for S3, SQS and DynamoDB. For the sharded-runs state machine three
things must happen inside the server's own process before it serves (../toolchain facts):
- MOTO_PORT is the server's port: moto's Step Functions interpreter calls Lambda back through
  `http://localhost:$MOTO_PORT` (moto.settings.moto_server_port);
- Step Functions executes state machines and Lambda runs without Docker
  (moto.core.config.default_user_config, what `mock_aws(config=...)` sets in process);
- `LambdaSimpleBackend.invoke` (PATCH_POINT), which without Docker only echoes the payload,
  forwards each invocation to the local stack's main process over the Lambda Invoke API
  (INVOKE_URL_ENV, served by intake_local.lambda_invoke): the handlers run there, with the
  stack's environment, context objects and log redirection, as every other function does.

Nothing here is on a Lambda's path. tests/integration/test_moto_patch_point.py fails loudly if
a moto upgrade moves or changes the patch point.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

# The method the patch replaces, and its parameters after `self` (moto 5.2.5, pinned).
PATCH_POINT = "moto.awslambda_simple.models.LambdaSimpleBackend.invoke"
PATCH_PARAMETERS = ("function_name", "qualifier", "body", "headers", "response_headers")
# The main process's Lambda Invoke endpoint, e.g. http://127.0.0.1:PORT (lambda_invoke.py).
INVOKE_URL_ENV = "INTAKE_LOCAL_INVOKE_URL"
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# A function may run 900 s; the call waits a little longer than any function may take.
INVOKE_TIMEOUT_SECONDS = 1000.0
FUNCTION_ERROR_HEADER = "X-Amz-Function-Error"

Invoke = Callable[[Any, str, str | None, Any, Any, dict[str, Any]], bytes]


def invocation_url(base_url: str, function_name: str, qualifier: str | None) -> str:
    """The Invoke API's path for a function name or ARN (as moto passes it on)."""
    url = (
        f"{base_url.rstrip('/')}/2015-03-31/functions/"
        f"{urllib.parse.quote(function_name, safe='')}/invocations"
    )
    if qualifier:
        url += "?" + urllib.parse.urlencode({"Qualifier": qualifier})
    return url


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return str(body).encode("utf-8")


def _function_error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")


def forwarding_invoke(base_url: str) -> Invoke:
    """A replacement for LambdaSimpleBackend.invoke that runs the function in the main process."""

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> bytes:
        request_headers = {"Content-Type": "application/json"}
        invocation_type = headers.get("X-Amz-Invocation-Type") if headers else None
        if invocation_type:
            request_headers["X-Amz-Invocation-Type"] = str(invocation_type)
        request = urllib.request.Request(
            invocation_url(base_url, function_name, qualifier),
            data=_as_bytes(body),
            headers=request_headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as response:
                function_error = response.headers.get(FUNCTION_ERROR_HEADER)
                payload: bytes = response.read()
        except urllib.error.HTTPError as exc:
            # Not a function error: the function is unknown to the stack, or the endpoint
            # failed. Reported as a function error so the execution fails, saying why.
            response_headers["x-amz-function-error"] = "Unhandled"
            return _function_error(
                "IntakeLocalInvokeFailed",
                f"{function_name}: the local stack answered {exc.code}: "
                f"{exc.read()[:500].decode('utf-8', 'replace')}",
            )
        except OSError as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _function_error(
                "IntakeLocalInvokeFailed",
                f"{function_name}: the local stack's invoke endpoint {base_url} is unreachable "
                f"({exc})",
            )
        if function_error:
            response_headers["x-amz-function-error"] = function_error
        return payload or b"null"

    return invoke


def configure(port: int, invoke_url: str | None) -> None:
    """Everything the server's process needs before it serves (see the module doc)."""
    os.environ["MOTO_PORT"] = str(port)  # moto.server keeps a MOTO_PORT it finds: overwrite
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"].update(MOTO_CONFIG["stepfunctions"])
    default_user_config["lambda"].update(MOTO_CONFIG["lambda"])

    from moto.awslambda_simple.models import LambdaSimpleBackend

    if invoke_url:
        LambdaSimpleBackend.invoke = forwarding_invoke(invoke_url)  # type: ignore[assignment,method-assign]


EARLY_IMPORTS = (
    "moto.stepfunctions.responses",
    "moto.stepfunctions.parser.models",
    "moto.awslambda_simple.responses",
)


def _import_early(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: S112 - the request that needs it imports it (and says why)
            continue


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="intake_local.moto_process", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    configure(args.port, os.environ.get(INVOKE_URL_ENV))
    # moto imports a service on its first request; Step Functions' interpreter takes ~1.5 s,
    # which the stack would wait for when it creates the state machine. Imported meanwhile.
    threading.Thread(target=_import_early, args=(EARLY_IMPORTS,), daemon=True).start()

    from moto.server import main as moto_main

    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main(sys.argv[1:])

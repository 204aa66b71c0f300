"""Run a Lambda handler in this process the way the Lambda runtime calls it.

Handlers are loaded from functions/<name>/handler.py by file path under a unique module name
(every function has a module called `handler`), invoked with a context object that has the
attributes Powertools reads, one invocation at a time per function (a Lambda execution
environment never runs two invocations at once), with timing and errors logged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Metrics

from infra.definitions import FunctionDef

log = logging.getLogger("intake_local.lambda")

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
FUNCTION_PREFIX = "intake-local-"

Handler = Callable[[Any, Any], Any]


def function_arn(definition_name: str) -> str:
    """The ARN the local stack gives a function (its name: FUNCTION_PREFIX + the folder)."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_PREFIX}{definition_name}"


@dataclass
class LambdaContext:
    """The context object a Python Lambda handler receives (the attributes people use)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or (
            time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """What one call produced: the handler's return value or its exception."""

    result: Any
    error: BaseException | None
    duration_ms: float
    request_id: str
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.error is None


class LocalFunction:
    def __init__(self, definition: FunctionDef, handler: Handler) -> None:
        self.definition = definition
        self.handler = handler
        self.name = FUNCTION_PREFIX + definition.name
        self.arn = function_arn(definition.name)
        self._lock = threading.Lock()

    def invoke(self, event: Any) -> Invocation:
        context = LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.definition.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=self.definition.timeout_seconds,
        )
        with self._lock:
            started = time.perf_counter()
            try:
                result, error = self.handler(event, context), None
            except Exception as exc:  # the runtime reports any error as a function error
                result, error = None, exc
            duration_ms = (time.perf_counter() - started) * 1000
            _forget_unpublished_metrics()
        timed_out = duration_ms > self.definition.timeout_seconds * 1000
        if error is not None:
            log.error(
                "%s request %s raised:\n%s",
                self.name,
                context.aws_request_id,
                "".join(traceback.format_exception(error)),
            )
        if timed_out:
            # A thread cannot be stopped, so the call ran to its end; in Lambda it would have
            # been cut off. Say so loudly rather than pretend.
            log.warning(
                "%s request %s ran %.0f ms, over its %d s timeout: Lambda would have stopped it",
                self.name,
                context.aws_request_id,
                duration_ms,
                self.definition.timeout_seconds,
            )
        return Invocation(result, error, duration_ms, context.aws_request_id, timed_out)


def _forget_unpublished_metrics() -> None:
    """With POWERTOOLS_METRICS_DISABLED (the local stack's default: no EMF blobs on a laptop),
    Powertools 3.37 never clears its metric set, so it grows across invocations and prints a
    blob of every function's metrics each 100 datapoints. Lambda would have published them at
    the end of the invocation; here they are dropped then."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        Metrics().clear_metrics()


def load_handler_module(path: Path, module_name: str) -> ModuleType:
    """Import a handler file under `module_name` (unique per function)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def load_function(
    definition: FunctionDef, functions_dir: Path, *, handler_name: str = "lambda_handler"
) -> LocalFunction:
    path = functions_dir / definition.name / "handler.py"
    if not path.is_file():
        raise FileNotFoundError(f"{definition.name}: no handler at {path}")
    module = load_handler_module(path, f"intake_local_fn_{definition.name}_handler")
    handler = getattr(module, handler_name, None)
    if not callable(handler):
        raise AttributeError(f"{path} has no callable {handler_name}")
    return LocalFunction(definition, handler)


def load_functions(
    definitions: Iterable[FunctionDef], functions_dir: Path
) -> dict[str, LocalFunction]:
    return {d.name: load_function(d, functions_dir) for d in definitions}


def isolate_log_keys(service: str) -> None:
    """Give each thread its own Powertools log keys for `service`.

    In Lambda every function runs in a process of its own, one invocation at a time, so the
    keys `inject_lambda_context` sets (function_name, function_request_id, correlation_id) are
    that invocation's. Here every function shares this process and runs on its own thread;
    with one shared key dict, a worker line logged while an API request starts would carry the
    API function's name. Each thread gets a copy of the keys as they are now, and what one
    invocation sets or clears stays on its thread.
    """
    handler = next(
        (h for h in logging.getLogger(service).handlers if hasattr(h.formatter, "log_format")),
        None,
    )
    if handler is None or handler.formatter is None:
        return
    formatter = handler.formatter
    if getattr(type(formatter), "per_thread_keys", False):
        return
    initial = dict(formatter.log_format)  # type: ignore[attr-defined]
    keys = threading.local()

    class PerThreadKeys(type(formatter)):  # type: ignore[misc]
        per_thread_keys = True

        @property
        def log_format(self) -> dict[str, Any]:
            if not hasattr(keys, "value"):
                keys.value = dict(initial)
            return keys.value  # type: ignore[no-any-return]

        @log_format.setter
        def log_format(self, value: dict[str, Any]) -> None:
            keys.value = value

    formatter.__class__ = PerThreadKeys

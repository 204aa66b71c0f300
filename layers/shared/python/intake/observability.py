"""Logger, Tracer and Metrics, created once per process (service from POWERTOOLS_SERVICE_NAME).

Two rules keep logging from hurting a run, and this module is where they hold:

- **A log call cannot raise on its fields.** `logging` raises KeyError when an `extra` key
  (or a Powertools keyword field) names a `LogRecord` attribute such as `created`, `name` or
  `module`, and only when the level lets the call through: a suite run at WARNING never sees
  an INFO line crash. That is how event bundles failed at import in every deployment. The
  service logger's `makeRecord` below renames such a key (`created` -> `created_`) instead
  of raising, so no field name can bring the crash back; tests/unit/test_observability.py
  logs every reserved name at DEBUG, and the whole suite runs at INFO (tests/conftest.py).
- **Keys belong to one invocation.** Code appends per-request keys (file_id, tenant, run,
  message_id) with `logger.thread_safe_append_keys`, and every handler's
  `inject_lambda_context(clear_state=True)` drops them when the next invocation starts, so a
  warm container never stamps one request's file on another's lines. The thread-safe keys
  also keep the local stack honest, where every function shares this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

# Attribute names of a LogRecord (plus the two Formatter adds): an `extra` key among them
# makes logging.Logger.makeRecord raise KeyError("Attempt to overwrite ...").
RESERVED_LOG_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def safe_extra(extra: Mapping[str, object] | None) -> Mapping[str, object] | None:
    """`extra` with every reserved name suffixed by "_" (`created` -> `created_`)."""
    if not extra or RESERVED_LOG_KEYS.isdisjoint(extra):
        return extra
    return {(f"{k}_" if k in RESERVED_LOG_KEYS else k): v for k, v in extra.items()}


def _without_collisions(make_record: Callable[..., logging.LogRecord]) -> Callable[..., Any]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        # makeRecord(name, level, fn, lno, msg, args, exc_info, func=None, extra=None, sinfo=None)
        if len(args) > 8:
            args = (*args[:8], safe_extra(args[8]), *args[9:])
        elif "extra" in kwargs:
            kwargs["extra"] = safe_extra(kwargs["extra"])
        return make_record(*args, **kwargs)

    return make


logger = Logger()
_service_logger = logging.getLogger(logger.service)
_service_logger.makeRecord = _without_collisions(_service_logger.makeRecord)  # type: ignore[method-assign]
tracer = Tracer()
metrics = Metrics()

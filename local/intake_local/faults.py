"""Fault injection for the local stack's sharded runs (tests and demos only; never in AWS).

INTAKE_LOCAL_FAIL_SHARD=<index>: the first time shard <index> runs a writing phase ("write",
or "single" for `skip`), it dies after its first batch of records reached the records table,
as a Lambda killed mid-run (timeout, out of memory) would: some rows written, no report. The
map's Retry runs it again; the rows it writes twice are upserts of the same keys.

INTAKE_LOCAL_FAIL_FUNCTION=<name>[,<name>...]: every invocation of those functions (FunctionDef
names, e.g. shard_plan) raises FunctionFault before the handler runs: a sharded run whose
execution fails, to watch the failure reach the worker.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from intake_local.lambda_runtime import LocalFunction

log = logging.getLogger("intake_local.faults")

FAIL_SHARD_ENV = "INTAKE_LOCAL_FAIL_SHARD"
FAIL_FUNCTION_ENV = "INTAKE_LOCAL_FAIL_FUNCTION"
WRITING_PHASES = frozenset({"write", "single"})


class ShardKilled(RuntimeError):
    """The injected fault: a shard's invocation ended mid-run."""


class FunctionFault(RuntimeError):
    """The injected fault: a function that always fails."""


_armed = threading.local()  # set on the thread running the shard that is to die
_patch_lock = threading.Lock()


def _patch_sink() -> None:
    """Make DynamoDBSink raise, after a batch was written, on a thread that is armed."""
    from intake.dal.record_sink import DynamoDBSink

    with _patch_lock:
        original = DynamoDBSink._write_batch
        if getattr(original, "fault_injection", False):
            return

        @functools.wraps(original)
        def write_batch(self: Any) -> None:
            original(self)
            if getattr(_armed, "shard", None) is not None:
                shard, _armed.shard = _armed.shard, None
                raise ShardKilled(f"{FAIL_SHARD_ENV}: shard {shard} killed after a batch")

        write_batch.fault_injection = True  # type: ignore[attr-defined]
        DynamoDBSink._write_batch = write_batch  # type: ignore[method-assign]


def fail_shard_once(function: LocalFunction, index: int) -> None:
    """Wrap shard_run's handler: shard `index` dies once in a writing phase (module doc)."""
    _patch_sink()
    handler = function.handler
    fired = threading.Event()

    def faulty(event: Any, context: Any) -> Any:
        shard = event.get("shard") if isinstance(event, dict) else None
        phase = event.get("phase") if isinstance(event, dict) else None
        target = (
            not fired.is_set()
            and isinstance(shard, dict)
            and shard.get("index") == index
            and phase in WRITING_PHASES
        )
        if target:
            fired.set()
            _armed.shard = index
            log.warning("%s: shard %d will be killed after its first batch", FAIL_SHARD_ENV, index)
        try:
            return handler(event, context)
        finally:
            _armed.shard = None

    function.handler = faulty


def fail_always(function: LocalFunction) -> None:
    """Every invocation of `function` raises FunctionFault (module doc)."""

    def failing(event: Any, context: Any) -> Any:
        raise FunctionFault(f"{FAIL_FUNCTION_ENV}: {function.definition.name} always fails")

    function.handler = failing


def inject(functions: dict[str, LocalFunction], environ: dict[str, str]) -> None:
    """The faults `environ` asks for (FAIL_SHARD_ENV, FAIL_FUNCTION_ENV), on `functions`
    (keyed by FunctionDef name); unknown names stop the start."""
    shard = environ.get(FAIL_SHARD_ENV, "").strip()
    if shard:
        from infra.definitions import SHARD_RUN

        if SHARD_RUN.name not in functions:
            raise RuntimeError(f"{FAIL_SHARD_ENV} is set but sharded runs are off")
        fail_shard_once(functions[SHARD_RUN.name], int(shard))
    for name in filter(None, (n.strip() for n in environ.get(FAIL_FUNCTION_ENV, "").split(","))):
        if name not in functions:
            raise RuntimeError(f"{FAIL_FUNCTION_ENV}: no function {name!r}")
        fail_always(functions[name])

"""Fault injection for the local stack's sharded runs (tests and demos only; never in AWS).

INTAKE_LOCAL_FAIL_SHARD=<index>: the first time shard <index> runs a writing phase ("write",
or "single" for `skip`), it dies after its first batch of records reached the records table,
as a Lambda killed mid-run (timeout, out of memory) would: some rows written, no report. The
map's Retry runs it again; the rows it writes twice are upserts of the same keys.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from intake_local.lambda_runtime import LocalFunction

log = logging.getLogger("intake_local.faults")

FAIL_SHARD_ENV = "INTAKE_LOCAL_FAIL_SHARD"
WRITING_PHASES = frozenset({"write", "single"})


class ShardKilled(RuntimeError):
    """The injected fault: a shard's invocation ended mid-run."""


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

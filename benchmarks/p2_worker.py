"""P2's worker: a fresh process that takes the import message off the queue and runs the real
import (run_import -> _checked_pass -> S3 stream -> read_csv -> validate_records, with the
duplicate-key tracker, and a second pass when keys repeat) into a CountingSink.

Run by benchmarks.p2 as `python -m benchmarks.p2_worker FILE_ID [--detection off]`, with the
environment of the worker function pointing at the moto server. Prints one JSON line; its peak
RSS is read by the parent (wait4) and reported here too (VmHWM).

The run's KeyTracker (logic/run_execution.py) is observed, not changed: a subclass records how
many keys it took and how often it spilled to /tmp. `--detection off` is the yardstick that
shows what detection costs: the tracker is replaced by one that keeps nothing and finds nothing
(not Intake).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


class _NoDetection:
    """Stands in for KeyTracker in the yardstick run: keeps no key, finds no repeat."""

    spills = 0

    def __init__(self, **_: Any) -> None:
        self.add = _ignore

    def __enter__(self) -> _NoDetection:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def repeated(self) -> tuple[()]:
        return ()  # falsy: the run makes no second pass


def _ignore(_key: str) -> None:
    return None


def _observe_detection(enabled: bool) -> list[dict[str, Any]]:
    """Patch run_execution's KeyTracker: observed (on) or replaced (off). Returns what the
    observed trackers report when their keys are checked."""
    from intake.logic import run_execution

    seen: list[dict[str, Any]] = []
    if not enabled:
        run_execution.KeyTracker = _NoDetection  # type: ignore[misc,assignment]
        return seen
    real = run_execution.KeyTracker

    class Observed(real):  # type: ignore[misc,valid-type]
        def repeated(self) -> Any:
            keys, spills = self.rows, self.spills  # before the check frees them
            found = super().repeated()
            seen.append(
                {
                    "keys": keys,
                    "spills": spills,
                    "repeated_keys": len(found),
                    "extra_rows": found.extra_rows,
                    "unlocated_rows": found.unlocated_rows,
                }
            )
            return found

    run_execution.KeyTracker = Observed  # type: ignore[misc]
    return seen


def main(file_id: str, *, detection: bool = True) -> None:
    from benchmarks.env import TENANT
    from intake.aws import client
    from intake.dal import file_repository
    from intake.dal.record_sink import CountingSink
    from intake.logic.run_execution import run_import
    from intake.models.messages import ImportMessage
    from intake.settings import get_settings

    sqs = client("sqs")
    queue_url = get_settings().import_queue_url
    message = None
    while message is None:  # S3's own notifications share the queue: skip them
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not received:
            raise SystemExit("no import message on the queue")
        for m in received:
            body: dict[str, Any] = json.loads(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            if body.get("kind") == "intake.import" and body.get("file_id") == file_id:
                message = ImportMessage.model_validate(body)
    trackers = _observe_detection(detection)
    baseline_kb = _status_kb("VmRSS")  # everything imported, clients built: before the import
    sinks: list[CountingSink] = []

    def counting_sink(_record: Any) -> CountingSink:
        sinks.append(CountingSink())
        return sinks[-1]

    start = time.perf_counter()
    run_import(message, sink_factory=counting_sink)
    seconds = time.perf_counter() - start
    record = file_repository.get(TENANT, file_id)
    result = record.result.model_dump() if record.result else None
    print(
        json.dumps(
            {
                "status": record.status.value,
                "result": result,
                "seconds": seconds,
                "sinks": len(sinks),
                "detection": detection,
                "trackers": trackers,
                "baseline_rss_kb": baseline_kb,
                "vmhwm_kb": _status_kb("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], detection=sys.argv[2:] != ["--detection", "off"])

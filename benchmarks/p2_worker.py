"""P2's worker: a fresh process that takes the import message off the queue and runs the real
import (run_import -> _pass -> S3 stream -> read_csv -> validate_records) into a CountingSink.

Run by benchmarks.p2 as `python -m benchmarks.p2_worker FILE_ID`, with the environment of the
worker function pointing at the moto server. Prints one JSON line; its peak RSS is read by
the parent (wait4) and reported here too (VmHWM).
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


def main(file_id: str) -> None:
    from benchmarks.env import TENANT
    from intake.aws import client
    from intake.dal import file_repository
    from intake.dal.record_sink import CountingSink
    from intake.logic.importer import run_import
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
                "baseline_rss_kb": baseline_kb,
                "vmhwm_kb": _status_kb("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])

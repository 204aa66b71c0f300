"""P2: peak RSS of a worker process importing a generated contacts CSV from S3.

moto server runs in its own process, so the object's bytes live there, not in the worker. Per
size: the file is generated on disk (bench-data/, reused across runs; one row in REPEAT_EVERY
repeats an earlier row's external_id, as partner exports do), declared through the API's logic
(on_invalid=skip, so pass 1 writes every valid row to the sink while the duplicate-key tracker
takes every valid row's key, and pass 2 locates the repeated ones), streamed into S3
with boto3's transfer manager (multipart, from the file: never all in memory), checked by the
worker's upload verification and queued by the import request. Then a fresh child process
(benchmarks.p2_worker) takes the message and runs the real run_import with a CountingSink, then
reports its own peak RSS (VmHWM), so one size cannot pollute another. wait4's ru_maxrss is
recorded but is not the figure: a child started by vfork + exec inherits the parent's
high-water mark from before the exec (here the parent's multipart upload buffers).

Then the same file is imported again by a child whose duplicate detection is patched out (a
yardstick, not Intake): the difference is what detection costs, in memory and in time. The
invalid rows the real run reports are checked against what the generator planted: every
repeated key whose two rows are otherwise valid must be a duplicate_key.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.env import DATA_DIR, ROOT, TENANT, create_stack, moto_server, use_fake_aws

MB = 1024 * 1024
TARGET_PEAK_MB = 200
TARGET_RATIO = 1.5
# One row in this many repeats the external_id of the row REPEAT_EVERY/2 rows before it.
REPEAT_EVERY = 1000


def run(*, small: int, large: int) -> dict[str, Any]:
    from benchmarks.data import cached_file
    from intake.ingest.duplicates import (
        DEFAULT_MAX_DISTINCT,
        DEFAULT_MAX_IN_MEMORY,
        DEFAULT_MAX_REPEATED,
    )
    from intake.logic.run_requests import request_import
    from intake.models.api import ImportRequest

    files = {}
    for size in (small, large):
        start = time.perf_counter()
        path, rows = cached_file(DATA_DIR, size, repeat_every=REPEAT_EVERY)
        files[size] = (path, rows, time.perf_counter() - start)
    valid_entries = _valid_pool_entries()
    measured: list[dict[str, Any]] = []
    with moto_server("moto-p2.log") as endpoint:
        use_fake_aws(endpoint)
        create_stack()
        for size in (small, large):
            path, rows, generate_s = files[size]
            file_id, upload_s = _upload_and_queue(path)
            child = _import_in_child(file_id)
            result = child["result"] or {}
            request_import(TENANT, file_id, ImportRequest(on_invalid="skip"))  # the same file again
            off = _import_in_child(file_id, detection=False)
            expected_invalid, expected_duplicates = _expected_invalid(rows, valid_entries)
            tracker = child["trackers"][0] if child["trackers"] else {}
            measured.append(
                {
                    "label": _label(size),
                    "bytes": path.stat().st_size,
                    "rows": rows,
                    "status": child["status"],
                    "rows_total": result.get("rows_total"),
                    "rows_written": result.get("rows_written"),
                    "import_s": round(child["seconds"], 2),
                    "rows_per_s": round(result.get("rows_total", 0) / child["seconds"]),
                    "mb_per_s": round(path.stat().st_size / MB / child["seconds"], 1),
                    "vmhwm_mb": round(child["vmhwm_kb"] / 1024, 1),
                    # Not the figure: after vfork + exec it keeps the parent's high-water mark.
                    "wait4_ru_maxrss_mb": round(child["ru_maxrss_kb"] / 1024, 1),
                    "baseline_rss_mb": round(child["baseline_rss_kb"] / 1024, 1),
                    "generate_s": round(generate_s, 1),
                    "upload_s": round(upload_s, 1),
                    "rows_invalid": result.get("rows_invalid"),
                    "expected_invalid": expected_invalid,
                    "expected_duplicates": expected_duplicates,
                    "repeated_rows_planted": len(range(REPEAT_EVERY - 1, rows, REPEAT_EVERY)),
                    "tracker": tracker,
                    "hashes_mb": round(
                        min(tracker.get("keys", 0), DEFAULT_MAX_IN_MEMORY) * 8 / MB, 1
                    ),
                    "no_detection": {
                        "status": off["status"],
                        "rows_invalid": (off["result"] or {}).get("rows_invalid"),
                        "import_s": round(off["seconds"], 2),
                        "vmhwm_mb": round(off["vmhwm_kb"] / 1024, 1),
                        "baseline_rss_mb": round(off["baseline_rss_kb"] / 1024, 1),
                    },
                }
            )
    small_m, large_m = measured
    ratio = large_m["vmhwm_mb"] / small_m["vmhwm_mb"]
    out = {
        "sizes": measured,
        "ratio": round(ratio, 3),
        "target_peak_mb": TARGET_PEAK_MB,
        "target_ratio": TARGET_RATIO,
        "repeat_every": REPEAT_EVERY,
        "duplicates": {
            "max_in_memory": DEFAULT_MAX_IN_MEMORY,
            "max_distinct": DEFAULT_MAX_DISTINCT,
            "max_repeated": DEFAULT_MAX_REPEATED,
        },
    }
    out["pass_peak"] = large_m["vmhwm_mb"] <= TARGET_PEAK_MB
    out["pass_ratio"] = ratio <= TARGET_RATIO
    out["complete"] = all(
        m["status"] == "SUCCEEDED"
        and m["rows_total"] == m["rows"]
        and m["rows_invalid"] == m["expected_invalid"]
        and m["tracker"]
        for m in measured
    )
    return out


def _label(size: int) -> str:
    return f"{size // 1024**3} GB" if size >= 1024**3 else f"{size // MB} MB"


def _valid_pool_entries() -> frozenset[int]:
    """The generator's pool entries whose rows contacts finds valid, asked of Intake's own
    validation once (rows made from one entry differ only by their id and e-mail number)."""
    from benchmarks.data import POOL, csv_bytes, pool_index
    from intake.dal.record_sink import CountingSink
    from intake.import_types import get_import_type
    from intake.ingest import media
    from intake.ingest.error_report import ErrorCollector
    from intake.ingest.readers import read_records
    from intake.ingest.streams import open_bytes
    from intake.logic.engine import validate_records

    class Keys(CountingSink):
        def __init__(self) -> None:
            super().__init__()
            self.valid: set[int] = set()

        def put(self, key: str, item: dict[str, Any]) -> None:
            self.valid.add(pool_index(int(key.removeprefix("c-"))))

    sink = Keys()
    stream, _counter = open_bytes(io.BytesIO(csv_bytes(POOL)))
    errors = ErrorCollector()
    try:
        validate_records(
            read_records(stream, media.CSV), get_import_type("contacts"), errors, sink=sink
        )
    finally:
        errors.close()
    return frozenset(sink.valid)


def _expected_invalid(rows: int, valid_entries: frozenset[int]) -> tuple[int, int]:
    """(invalid rows, of which duplicate_key) in a generated file of `rows` rows: a repeated
    id is a duplicate_key when both its rows are otherwise valid (only valid rows' keys count:
    an invalid row's key is not trusted)."""
    from benchmarks.data import POOL, pool_index, repeated_rows

    cycles = rows // POOL  # every POOL consecutive rows use each pool entry once
    invalid = cycles * (POOL - len(valid_entries))
    invalid += sum(1 for n in range(cycles * POOL, rows) if pool_index(n) not in valid_entries)
    duplicates = sum(
        1
        for n, first in repeated_rows(rows, REPEAT_EVERY)
        if pool_index(n) in valid_entries and pool_index(first) in valid_entries
    )
    return invalid + duplicates, duplicates


def _upload_and_queue(path: Any) -> tuple[str, float]:
    from boto3.s3.transfer import TransferConfig

    from intake.aws import client
    from intake.keys import upload_key
    from intake.logic.files import declare_file
    from intake.logic.run_requests import request_import
    from intake.logic.uploads import verify_upload
    from intake.models.api import DeclareFileRequest, ImportRequest
    from intake.settings import get_settings

    size = path.stat().st_size
    declared = declare_file(
        TENANT,
        DeclareFileRequest(
            name=path.name, media_type="text/csv", size=size, import_type="contacts"
        ),
    )
    key = upload_key(TENANT, declared.file_id)
    start = time.perf_counter()
    with path.open("rb") as source:
        client("s3").upload_fileobj(
            source,
            get_settings().bucket_name,
            key,
            ExtraArgs={"ContentType": "text/csv"},
            Config=TransferConfig(multipart_chunksize=64 * MB, max_concurrency=2),
        )
    upload_s = time.perf_counter() - start
    verify_upload(key)  # what the worker does with the upload's S3 notification
    request_import(TENANT, declared.file_id, ImportRequest(on_invalid="skip"))
    return declared.file_id, upload_s


def _import_in_child(file_id: str, *, detection: bool = True) -> dict[str, Any]:
    switch = [] if detection else ["--detection", "off"]
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.p2_worker", file_id, *switch],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the P2 worker failed with exit code {process.returncode}")
    report: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    report["ru_maxrss_kb"] = usage.ru_maxrss  # kilobytes on Linux
    return report

"""P5's processes: each step of a run in a fresh process, as each is a Lambda invocation in AWS.

    python -m benchmarks.p5_worker plan FILE PLAN_JSON SHARD_BYTES
    python -m benchmarks.p5_worker shard FILE PLAN_JSON INDEX FILE_ID
    python -m benchmarks.p5_worker finish FILE PLAN_JSON FILE_ID
    python -m benchmarks.p5_worker whole FILE FILE_ID

Run by benchmarks.p5 with the functions' environment pointing at a moto server (the status
table: shard reports, the one invocation's lease renewals). Prints one JSON line: the seconds
spent importing and setting up (`startup_s`), the step's own seconds (`work_s`), its result,
its peak RSS (VmHWM, as P2 reads it) and its CPU seconds (user + system, start-up included).

What is real and what stands in (benchmarks.p5 says why):
- the bucket is local files: the object's bytes come from the local file
  (`object_store.open_stream` is replaced by a reader of the file or a byte range of it, the
  interface of S3's GetObject body), and what a sharded run stages for its finalize (key
  hashes) is written to and read from files under bench-data/p5-objects/;
- the records table is never reached: the real DynamoDBSink builds every item and batch, and
  botocore serializes and signs every BatchWriteItem; its HTTP send is answered in process
  with DynamoDB's empty success (`{"UnprocessedItems": {}}`);
- everything else is Intake's code: plan_csv, run_shard (open_shard -> read_records ->
  validate_records -> record_shard), finish_sharded, and for one invocation the worker's
  `_run_records` (KeyTracker, progress and lease renewals included).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import io  # noqa: E402  (the clock starts before anything is imported)
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from dataclasses import asdict  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import IO, Any  # noqa: E402

TENANT = "bench"
# The empty success every BatchWriteItem gets instead of a trip to DynamoDB.
_BATCH_OK = b'{"UnprocessedItems":{}}'


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


class _Range(io.RawIOBase):
    """Bytes [start, end) of a local file: what S3's GetObject (with a Range) streams."""

    def __init__(self, path: Path, start: int, end: int | None) -> None:
        self._file = path.open("rb", buffering=0)
        self._file.seek(start)
        self._left = (end - start) if end is not None else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer) if self._left is None else min(len(buffer), self._left)
        if size <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:size]) or 0
        if self._left is not None:
            self._left -= got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def local_objects(path: Path, object_key: str) -> dict[str, int]:
    """The bucket as local files: the run's object (`object_key`) is `path`, read whole or by
    a `bytes=a-b` range; any other object (a sharded run's staged key hashes) is a file under
    bench-data/p5-objects/, written by `upload_file`. Returns counts of the other objects'
    bytes written and read."""
    from intake.dal import object_store

    store = path.parent / "p5-objects"
    moved = {"staged_bytes": 0, "staged_read_bytes": 0}

    def where(key: str) -> Path:
        return path if key == object_key else store / key

    def open_stream(
        key: str, *, version_id: str | None = None, byte_range: str | None = None
    ) -> IO[bytes]:
        target = where(key)
        if byte_range is None:
            start, end = 0, None
        else:
            first, last = byte_range.removeprefix("bytes=").split("-")
            start, end = int(first), int(last) + 1
        if target != path:
            size = target.stat().st_size
            moved["staged_read_bytes"] += (end if end is not None else size) - start
        return _Range(target, start, end)  # type: ignore[return-value]

    def upload_file(key: str, fileobj: IO[bytes], *, content_type: str) -> None:
        target = store / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            shutil.copyfileobj(fileobj, out, 1024 * 1024)
        moved["staged_bytes"] += target.stat().st_size

    object_store.open_stream = open_stream  # type: ignore[assignment]
    object_store.upload_file = upload_file  # type: ignore[assignment]
    return moved


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def answer_batch_writes() -> dict[str, int]:
    """The sink's client serializes and signs each BatchWriteItem; the send is answered here.
    Returns the counts of requests and items that reached the send."""
    from botocore.awsrequest import AWSResponse

    from intake.aws import unvalidated_client

    seen = {"requests": 0, "request_bytes": 0}

    def send(request: Any, **_: Any) -> AWSResponse:
        seen["requests"] += 1
        seen["request_bytes"] += len(request.body or b"")
        return AWSResponse(request.url, 200, {}, _Raw(_BATCH_OK))

    unvalidated_client("dynamodb").meta.events.register("before-send.dynamodb.BatchWriteItem", send)
    return seen


def file_record(path: Path, file_id: str) -> Any:
    """The claimed run both sides execute: contacts, on_invalid=skip (one pass that writes
    the valid rows: `single` for a sharded run), run 1."""
    from intake.clock import utcnow
    from intake.models.domain import FileRecord, FileStatus

    now = utcnow()
    return FileRecord(
        tenant=TENANT,
        file_id=file_id,
        name=path.name,
        media_type="text/csv",
        size=path.stat().st_size,
        import_type="contacts",
        status=FileStatus.PROCESSING,
        created_at=now,
        updated_at=now,
        object_key=f"uploads/{TENANT}/{file_id}",
        on_invalid="skip",
        import_type_fixed=True,
        run=1,
        lease_until=now + timedelta(minutes=16),
    )


def load_shards(plan_json: Path) -> list[Any]:
    from intake.ingest.shards import Shard

    return [Shard(**s) for s in json.loads(plan_json.read_text())["shards"]]


def _errors(errors: list[Any]) -> list[list[Any]]:
    return [[e.line, e.field, e.code] for e in errors]


def plan(path: Path, plan_json: Path, shard_bytes: int) -> dict[str, Any]:
    from intake.ingest.shards import plan_csv

    ready = time.perf_counter()
    with path.open("rb") as stream:  # the planner reads the object once, sequentially
        shards = plan_csv(stream, shard_size=shard_bytes)
    work = time.perf_counter() - ready
    rows = [{k: v for k, v in asdict(s).items() if k not in ("prefix", "suffix")} for s in shards]
    plan_json.write_text(json.dumps({"shards": rows}))
    return {"startup_s": ready - STARTED, "work_s": work, "shards": len(shards)}


def shard(path: Path, plan_json: Path, index: int, file_id: str) -> dict[str, Any]:
    from intake.logic.run_execution import dynamodb_sink
    from intake.logic.shard_runs import run_shard

    record = file_record(path, file_id)
    moved = local_objects(path, record.object_key)
    seen = answer_batch_writes()
    one = load_shards(plan_json)[index]
    baseline = status_kb("VmRSS")
    ready = time.perf_counter()
    report = run_shard(record, one, phase="single", sink_factory=dynamodb_sink)
    work = time.perf_counter() - ready
    return {
        "startup_s": ready - STARTED,
        "work_s": work,
        "index": index,
        "bytes": one.size,
        "rows": report.rows_total,
        "rows_written": report.rows_written,
        "batch_writes": seen["requests"],
        "request_bytes": seen["request_bytes"],
        "baseline_rss_kb": baseline,
        **moved,
    }


def finish(path: Path, plan_json: Path, file_id: str) -> dict[str, Any]:
    from intake.logic.shard_runs import finish_sharded

    record = file_record(path, file_id)
    moved = local_objects(path, record.object_key)
    shards = load_shards(plan_json)
    ready = time.perf_counter()
    done = finish_sharded(record, len(shards), phase="single")
    work = time.perf_counter() - ready
    try:
        result = done.outcome.result
        return {
            "startup_s": ready - STARTED,
            "work_s": work,
            "status": done.status.value if done.status else None,
            "result": result.model_dump(include=_COUNTS),
            "errors_count": done.errors.count,
            "errors": _errors(done.errors.inline),
            "next_phase": getattr(done, "next_phase", None),
            **moved,
        }
    finally:
        done.errors.close()


_COUNTS = {"rows_total", "rows_valid", "rows_invalid", "rows_written", "shards"}


def whole(path: Path, file_id: str) -> dict[str, Any]:
    from intake.import_types import get_import_type
    from intake.ingest.error_report import ErrorCollector
    from intake.logic import run_execution

    record = file_record(path, file_id)
    local_objects(path, record.object_key)
    seen = answer_batch_writes()
    import_type = get_import_type(record.run_type)
    baseline = status_kb("VmRSS")
    ready = time.perf_counter()
    # What the worker's _run does between claim and finish: the run's passes and its status.
    errors = ErrorCollector(max_errors=import_type.max_errors)
    try:
        status, outcome = run_execution._run_records(
            record, import_type, errors, run_execution.dynamodb_sink
        )
        work = time.perf_counter() - ready
        return {
            "startup_s": ready - STARTED,
            "work_s": work,
            "status": status.value,
            "result": outcome.result.model_dump(include=_COUNTS),
            "errors_count": errors.count,
            "errors": _errors(errors.inline),
            "batch_writes": seen["requests"],
            "request_bytes": seen["request_bytes"],
            "baseline_rss_kb": baseline,
        }
    finally:
        errors.close()


def main(argv: list[str]) -> None:
    step, file_arg, *rest = argv
    path = Path(file_arg)
    if step == "plan":
        out = plan(path, Path(rest[0]), int(rest[1]))
    elif step == "shard":
        out = shard(path, Path(rest[0]), int(rest[1]), rest[2])
    elif step == "finish":
        out = finish(path, Path(rest[0]), rest[1])
    elif step == "whole":
        out = whole(path, rest[0])
    else:
        raise SystemExit(f"unknown step {step!r}")
    out["vmhwm_kb"] = status_kb("VmHWM")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime  # the whole process's, start-up included
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])

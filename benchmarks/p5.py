"""P5: a large contacts CSV run sharded (2 shards at a time) against the same run in one
invocation, on this machine; and each shard's peak RSS against a small file's.

What runs is the compute of a sharded run as it executes in AWS, each step in a fresh process
(benchmarks.p5_worker) as each is a Lambda invocation there: the plan pass over the whole file
(plan_csv), then every shard in its own process, CONCURRENCY at a time (the Distributed Map's
MaxConcurrency; a child per shard as a Lambda per shard), each running `run_shard` (its byte
range through open_shard -> read_records -> validate_records -> the DynamoDB sink -> its report
to the status table), then the finalize (`finish_sharded`: reads every report, sums them,
decides the status). Against it, one process runs the one-invocation worker's passes over the
whole file (`run_execution._run_records`, on_invalid=skip, as the sharded run: duplicate-key
detection and lease renewals included, as the worker runs them).

What stands in for AWS, so that moto's speed is not what is measured:
- the bucket is local files: the object is the generated file (bench-data/, in the page cache
  after the first read), read whole or by byte range through the interface S3's GetObject
  gives; what the shards stage for the finalize (key hashes) goes to bench-data/p5-objects/;
- the records table: the real DynamoDBSink builds every item and batch and botocore serializes
  and signs every BatchWriteItem, whose send is answered in process with an empty success;
- the status table is a moto server child (one report write per shard, one query to finalize,
  and the one invocation's lease renewals every 3 s): a few dozen requests in all.
Not measured: S3's and DynamoDB's service time and network, Step Functions' own latency
between states, and what both runs do alike after the run's status is decided (uploading the
error report, finish_run, the completion event).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.env import DATA_DIR, ROOT, create_stack, moto_server, use_fake_aws

MB = 1024 * 1024
TARGET_SPEEDUP = 1.7
# A shard's peak RSS is flat when it is within this factor of a small file's (one shard).
TARGET_RSS_RATIO = 1.2
CONCURRENCY = 2


def run(
    *, size: int, small: int, shard_bytes: int, concurrency: int = CONCURRENCY
) -> dict[str, Any]:
    from benchmarks.data import cached_file

    files = {}
    for n in (small, size):
        start = time.perf_counter()
        path, rows = cached_file(DATA_DIR, n)  # 3% invalid rows, no repeated keys
        files[n] = (path, rows, time.perf_counter() - start)
    shutil.rmtree(DATA_DIR / "p5-objects", ignore_errors=True)  # an earlier run's staging
    with moto_server("moto-p5.log") as endpoint:
        use_fake_aws(endpoint)
        create_stack()
        small_path = files[small][0]
        small_sharded = _sharded(small_path, "p5-small-sharded", shard_bytes, concurrency)
        small_whole = _whole(small_path, "p5-small-whole")
        path, rows, generate_s = files[size]
        _warm(path)
        whole = _whole(path, "p5-whole")
        sharded = _sharded(path, "p5-sharded", shard_bytes, concurrency)
    return _figures(
        path=path,
        rows=rows,
        generate_s=generate_s,
        shard_bytes=shard_bytes,
        concurrency=concurrency,
        whole=whole,
        sharded=sharded,
        small={
            "label": label(small),
            "bytes": small_path.stat().st_size,
            "rows": files[small][1],
            "shard": small_sharded["shards"][0],
            "whole": small_whole,
        },
    )


def label(size: int) -> str:
    return f"{size / 1024**3:.3g} GB" if size >= 1023 * MB else f"{round(size / MB)} MB"


def _warm(path: Path) -> None:
    """Read the file once so both runs find it in the page cache (neither pays the disk)."""
    with path.open("rb", buffering=0) as f:
        while f.read(16 * MB):
            pass


def _step(*args: str) -> dict[str, Any]:
    """One Lambda invocation: a fresh process; its wall time measured from here."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.p5_worker", *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"p5_worker {args[0]} failed with exit code {done.returncode}")
    out: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def _whole(path: Path, file_id: str) -> dict[str, Any]:
    from benchmarks.p5_worker import file_record
    from intake.dal import file_repository

    file_repository.create(file_record(path, file_id))  # PROCESSING: its lease is renewed
    return _step("whole", str(path), file_id)


def _sharded(path: Path, file_id: str, shard_bytes: int, concurrency: int) -> dict[str, Any]:
    plan_json = DATA_DIR / f"{file_id}-plan.json"
    start = time.perf_counter()
    plan = _step("plan", str(path), str(plan_json), str(shard_bytes))
    map_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        shards = list(
            pool.map(
                lambda i: _step("shard", str(path), str(plan_json), str(i), file_id),
                range(plan["shards"]),
            )
        )
    map_s = time.perf_counter() - map_start
    finish = _step("finish", str(path), str(plan_json), file_id)
    total = time.perf_counter() - start
    return {"plan": plan, "map_s": map_s, "shards": shards, "finish": finish, "total_s": total}


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def _figures(
    *,
    path: Path,
    rows: int,
    generate_s: float,
    shard_bytes: int,
    concurrency: int,
    whole: dict[str, Any],
    sharded: dict[str, Any],
    small: dict[str, Any],
) -> dict[str, Any]:
    shards = sharded["shards"]
    peaks = [_mb(s["vmhwm_kb"]) for s in shards]
    small_peak = _mb(small["shard"]["vmhwm_kb"])
    startup = [s["startup_s"] for s in shards]
    work = [s["work_s"] for s in shards]
    shard_rows_per_s = [s["rows"] / s["work_s"] for s in shards]
    size = path.stat().st_size
    speedup = whole["wall_s"] / sharded["total_s"]
    # The same sharded run with each shard's process start-up (imports, clients) taken out,
    # as warm Lambdas would run it: an estimate, not a measurement.
    warm_total = sharded["total_s"] - sum(startup) / concurrency
    finish = sharded["finish"]
    same = (
        whole["status"] == finish["status"]
        and {k: v for k, v in whole["result"].items() if k != "shards"}
        == {k: v for k, v in finish["result"].items() if k != "shards"}
        and whole["errors_count"] == finish["errors_count"]
        and whole["errors"] == finish["errors"]
    )
    out: dict[str, Any] = {
        "label": label(size),
        "bytes": size,
        "rows": rows,
        "generate_s": round(generate_s, 1),
        "shard_bytes": shard_bytes,
        "concurrency": concurrency,
        "cores": os.cpu_count(),
        "whole": {
            "wall_s": round(whole["wall_s"], 2),
            "startup_s": round(whole["startup_s"], 2),
            "work_s": round(whole["work_s"], 2),
            "rows_per_s": round(rows / whole["work_s"]),
            "mb_per_s": round(size / MB / whole["work_s"], 1),
            "vmhwm_mb": _mb(whole["vmhwm_kb"]),
            "cpu_s": round(whole["cpu_s"], 2),
            "baseline_rss_mb": _mb(whole["baseline_rss_kb"]),
            "status": whole["status"],
            "result": whole["result"],
            "errors_count": whole["errors_count"],
            "batch_writes": whole["batch_writes"],
            "request_bytes": whole.get("request_bytes", 0),
        },
        "sharded": {
            "total_s": round(sharded["total_s"], 2),
            "plan_s": round(sharded["plan"]["wall_s"], 2),
            "plan_work_s": round(sharded["plan"]["work_s"], 2),
            "plan_mb_per_s": round(size / MB / sharded["plan"]["work_s"], 1),
            "map_s": round(sharded["map_s"], 2),
            # Every process of the sharded run: plan, shards, finalize (start-ups included).
            "cpu_s": round(
                sharded["plan"]["cpu_s"] + sum(s["cpu_s"] for s in shards) + finish["cpu_s"],
                2,
            ),
            "plan_cpu_s": round(sharded["plan"]["cpu_s"], 2),
            "finish_s": round(finish["wall_s"], 2),
            "finish_work_s": round(finish["work_s"], 3),
            "shards": len(shards),
            "status": finish["status"],
            "result": finish["result"],
            "errors_count": finish["errors_count"],
            "batch_writes": sum(s["batch_writes"] for s in shards),
            "request_bytes": sum(s.get("request_bytes", 0) for s in shards),
            # Key hashes the shards stage for the finalize's duplicate-key check, and what the
            # finalize reads of them (0: the shard runs of this checkout stage nothing).
            "staged_bytes": sum(s.get("staged_bytes", 0) for s in shards),
            "staged_read_bytes": finish.get("staged_read_bytes", 0),
            "next_phase": finish.get("next_phase"),
            "shard_wall_s": _spread([s["wall_s"] for s in shards]),
            "shard_startup_s": _spread(startup),
            "shard_work_s": _spread(work),
            "shard_rows_per_s": _spread(shard_rows_per_s, digits=0),
            "shard_rows": _spread([s["rows"] for s in shards], digits=0),
            "shard_vmhwm_mb": _spread(peaks),
            "shard_baseline_rss_mb": _spread([_mb(s["baseline_rss_kb"]) for s in shards]),
            "per_shard": [
                {
                    "index": s["index"],
                    "bytes": s["bytes"],
                    "rows": s["rows"],
                    "wall_s": round(s["wall_s"], 2),
                    "work_s": round(s["work_s"], 2),
                    "vmhwm_mb": _mb(s["vmhwm_kb"]),
                }
                for s in shards
            ],
            "warm_total_s": round(warm_total, 2),
        },
        "small": {
            "label": small["label"],
            "bytes": small["bytes"],
            "rows": small["rows"],
            "shard_vmhwm_mb": small_peak,
            "shard_baseline_rss_mb": _mb(small["shard"]["baseline_rss_kb"]),
            "whole_vmhwm_mb": _mb(small["whole"]["vmhwm_kb"]),
        },
        "speedup": round(speedup, 3),
        "warm_speedup": round(whole["wall_s"] / warm_total, 3),
        "rss_ratio": round(max(peaks) / small_peak, 3),
        "same_result": same,
        "target_speedup": TARGET_SPEEDUP,
        "target_rss_ratio": TARGET_RSS_RATIO,
    }
    out["pass_speedup"] = speedup >= TARGET_SPEEDUP
    out["pass_rss"] = out["rss_ratio"] <= TARGET_RSS_RATIO
    return out


def _spread(values: list[float], *, digits: int = 2) -> dict[str, float]:
    def r(x: float) -> float:
        return round(x, digits) if digits else round(x)

    return {
        "min": r(min(values)),
        "median": r(statistics.median(values)),
        "max": r(max(values)),
    }

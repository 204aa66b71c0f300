"""Duplicate natural keys (intake.ingest.duplicates): cost per key and peak memory.

    python -m benchmarks.duplicates              # every scenario, each in a fresh process
    python -m benchmarks.duplicates --rows 2000000 --max-in-memory 200000   # smaller
    python -m benchmarks.duplicates --json       # one JSON document instead of a table

Each scenario runs in its own child process, which reports its own peak RSS (VmHWM from
/proc/self/status) and its RSS before the scenario: one scenario's memory cannot pollute
another's. Keys are made on the fly ("C-00000123"), never held in a list, so the RSS is the
tracker's. Run times are wall and CPU seconds of one run (the machine is shared and noisy);
ns per key figures are process CPU time, best of 3, less a loop that makes the same keys and
calls nothing. Not part of `make bench`: docs/benchmarks.md is left alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

MB = 1024 * 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _per_key_ns(count: int, body: Callable[[str], object]) -> float:
    """ns per key of `body(key)` over `count` generated keys, less the bare loop's cost."""

    def run(call: Callable[[str], object] | None) -> float:
        started = time.process_time()
        if call is None:
            for i in range(count):
                f"C-{i:08d}"  # the same key-making work as below
        else:
            for i in range(count):
                call(f"C-{i:08d}")
        return time.process_time() - started

    bare = min(run(None) for _ in range(3))
    timed = min(run(body) for _ in range(3))
    return (timed - bare) / count * 1e9


def key_hash(args: argparse.Namespace) -> Callable[[str], int]:
    """The hash under test: the module's own, or xxh3_64 (the xxhash package, if installed) to
    see what a faster stable hash would give."""
    from intake.ingest.duplicates import stable_hash

    if args.hash == "blake2b":
        return stable_hash
    import xxhash  # type: ignore[import-not-found,unused-ignore]

    digest = xxhash.xxh3_64_intdigest

    def xxh3(key: str) -> int:
        return digest(key.encode("utf-8", "surrogatepass"))  # type: ignore[no-any-return]

    return xxh3


def scenario_add(args: argparse.Namespace) -> dict[str, Any]:
    """ns per add (in memory: no spill), and per hash alone."""
    from intake.ingest.duplicates import KeyTracker

    count = args.adds
    hash_ns = _per_key_ns(count, key_hash(args))
    trackers: list[KeyTracker] = []

    def add(key: str) -> None:
        trackers[-1].add(key)

    # A fresh tracker per repetition, so no repetition spills or grows past `count`.
    def timed_add() -> float:
        trackers.append(KeyTracker(max_in_memory=count + 1, hash_key=key_hash(args)))
        add_ns = _per_key_ns(count, trackers[-1].add)
        return add_ns

    add_ns = min(timed_add() for _ in range(2))
    for tracker in trackers:
        tracker.close()
    return {"keys": count, "hash": args.hash, "hash_ns": round(hash_ns), "add_ns": round(add_ns)}


def _run_tracker(
    rows: int,
    *,
    max_in_memory: int,
    repeat_every: int,
    temp_dir: str,
    hash_key: Callable[[str], int],
) -> dict[str, Any]:
    """`rows` adds; every `repeat_every`-th row (if any) repeats the key of row 0..; then check."""
    from intake.ingest.duplicates import KeyTracker

    baseline_kb = _status_kb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    with KeyTracker(max_in_memory=max_in_memory, temp_dir=temp_dir, hash_key=hash_key) as tracker:
        add = tracker.add
        repeated_keys = 0
        for i in range(rows):
            if repeat_every and i % repeat_every == repeat_every - 1:
                add(f"C-{repeated_keys:08d}")
                repeated_keys += 1
            else:
                add(f"C-{i:08d}")
        added = time.perf_counter()
        spill_mb = round(tracker.spills * max_in_memory * 8 / MB, 1)
        repeated = tracker.repeated()
        checked = time.perf_counter()
        cpu = time.process_time() - cpu
        return {
            "rows": rows,
            "max_in_memory": max_in_memory,
            "spills": tracker.spills,
            "spilled_mb": spill_mb,
            "repeated": repr(repeated),
            "add_s": round(added - started, 2),
            "check_s": round(checked - added, 2),
            "total_s": round(checked - started, 2),
            "cpu_s": round(cpu, 2),
            "baseline_rss_mb": round(baseline_kb / 1024, 1),
            "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        }


def scenario_spill(args: argparse.Namespace) -> dict[str, Any]:
    """`rows` keys, 10 repeated, with max_in_memory forcing spills to /tmp."""
    with tempfile.TemporaryDirectory() as folder:
        return _run_tracker(
            args.rows,
            max_in_memory=args.max_in_memory,
            repeat_every=args.rows // 10,
            temp_dir=folder,
            hash_key=key_hash(args),
        )


def scenario_memory(args: argparse.Namespace) -> dict[str, Any]:
    """The same keys held in memory (no spill): what the spill bound saves."""
    with tempfile.TemporaryDirectory() as folder:
        return _run_tracker(
            args.rows,
            max_in_memory=args.rows + 1,
            repeat_every=args.rows // 10,
            temp_dir=folder,
            hash_key=key_hash(args),
        )


def scenario_repeats(args: argparse.Namespace) -> dict[str, Any]:
    """Every other row repeats an earlier key (rows/2 repeated keys): the capped case."""
    with tempfile.TemporaryDirectory() as folder:
        return _run_tracker(
            args.rows,
            max_in_memory=args.max_in_memory,
            repeat_every=2,
            temp_dir=folder,
            hash_key=key_hash(args),
        )


def scenario_locate(args: argparse.Namespace) -> dict[str, Any]:
    """Pass 2: ns per check() over keys that mostly do not repeat (1,000 repeated hashes)."""
    from intake.ingest.duplicates import KeyTracker

    count = args.adds
    with KeyTracker(hash_key=key_hash(args)) as tracker:
        for i in range(count):
            tracker.add(f"C-{i:08d}")
        for i in range(1000):
            tracker.add(f"C-{i:08d}")
        locator = tracker.repeated().locator()
    line = 0

    def check(key: str) -> None:
        nonlocal line
        line += 1
        locator.check(key, line)

    return {"keys": count, "check_ns": round(_per_key_ns(count, check)), "repeated_hashes": 1000}


def scenario_engine(args: argparse.Namespace) -> dict[str, Any]:
    """The real validation pass over a contacts CSV (P1's data), with and without tracking.

    Until the engine calls the tracker itself, a sink wrapper calls `add(key)` in `put`: one
    Python call more per row than the wired engine will make, so the added cost is an upper
    bound. Best of 3 interleaved repetitions of process CPU time.
    """
    import io

    from benchmarks.data import csv_bytes
    from intake.dal.record_sink import CountingSink
    from intake.import_types import get_import_type
    from intake.ingest.duplicates import KeyTracker
    from intake.ingest.error_report import ErrorCollector
    from intake.ingest.readers import read_records
    from intake.ingest.streams import open_bytes
    from intake.logic.engine import validate_records

    contacts = get_import_type("contacts")
    data = csv_bytes(args.engine_rows)

    class TrackingSink(CountingSink):
        def __init__(self, tracker: KeyTracker) -> None:
            super().__init__()
            add, put = tracker.add, super().put

            def tracked_put(key: str, item: dict[str, Any]) -> None:
                add(key)
                put(key, item)

            self.put = tracked_put  # type: ignore[method-assign]

    def one_pass(track: bool) -> tuple[float, int, str]:
        stream, _ = open_bytes(io.BytesIO(data))
        errors = ErrorCollector()
        with KeyTracker(hash_key=key_hash(args)) as tracker:
            sink = TrackingSink(tracker) if track else CountingSink()
            started = time.process_time()
            outcome = validate_records(
                read_records(stream, "text/csv"), contacts, errors, sink=sink
            )
            repeated = repr(tracker.repeated()) if track else ""
            seconds = time.process_time() - started
        errors.close()
        return seconds, outcome.result.rows_valid, repeated

    one_pass(True)  # warm-up: imports, schemas
    best = {False: float("inf"), True: float("inf")}
    for _ in range(3):
        for track in (False, True):
            seconds, valid, repeated = one_pass(track)
            best[track] = min(best[track], seconds)
    rows = args.engine_rows
    return {
        "rows": rows,
        "valid_rows": valid,
        "rows_per_s_without": round(rows / best[False]),
        "rows_per_s_with": round(rows / best[True]),
        "added_ns_per_row": round((best[True] - best[False]) / rows * 1e9),
        "added_percent": round((best[True] / best[False] - 1) * 100, 1),
        "repeated": repeated,
    }


SCENARIOS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "add": scenario_add,
    "engine": scenario_engine,
    "locate": scenario_locate,
    "spill": scenario_spill,
    "memory": scenario_memory,
    "repeats": scenario_repeats,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.duplicates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--adds", type=int, default=1_000_000, help="keys for ns per add/check")
    parser.add_argument("--rows", type=int, default=10_000_000, help="keys for the run figures")
    parser.add_argument("--engine-rows", type=int, default=300_000, help="contacts CSV rows")
    parser.add_argument(
        "--max-in-memory", type=int, default=1_000_000, help="hashes held before a spill"
    )
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--hash",
        choices=("blake2b", "xxh3"),
        default="blake2b",
        help="blake2b: the module's stable_hash; xxh3: xxhash's xxh3_64 (needs xxhash)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--child", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        print(json.dumps(SCENARIOS[args.child](args)))
        return 0
    forwarded = ["--adds", str(args.adds), "--rows", str(args.rows)]
    forwarded += ["--engine-rows", str(args.engine_rows), "--hash", args.hash]
    forwarded += ["--max-in-memory", str(args.max_in_memory)]
    results: dict[str, Any] = {}
    for name in args.only or SCENARIOS:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.duplicates", *forwarded, "--child", name],
            check=True,
            capture_output=True,
            text=True,
        )
        results[name] = json.loads(child.stdout)
        if not args.json:
            print(f"{name:8s} {results[name]}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

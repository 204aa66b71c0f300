"""P1: CSV parse + validate throughput of the real `contacts` path vs bare csv.reader.

Both read the same in-memory bytes. The real path is what a worker's pass runs, minus S3:
open_bytes -> read_records (read_csv) -> validate_records with the contacts import type, an
ErrorCollector and a CountingSink (so valid records are also turned into sink items, as in an
import). The sink=None pass (a validate-only run) is measured too. Each figure is the best of
N repetitions of process CPU time (wall time is recorded too); repetitions are interleaved.
"""

from __future__ import annotations

import cProfile
import csv
import gc
import io
import pstats
import time
from typing import Any

TARGET_RATIO = 0.4


def _bare(data: bytes) -> int:
    rows = 0
    for _row in csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")):
        rows += 1
    return rows - 1  # the header


def _real(data: bytes, *, with_sink: bool) -> Any:
    from intake.dal.record_sink import CountingSink
    from intake.import_types import get_import_type
    from intake.ingest.error_report import ErrorCollector
    from intake.ingest.readers import read_records
    from intake.ingest.streams import open_bytes
    from intake.logic.engine import validate_records

    contacts = get_import_type("contacts")
    stream, _counter = open_bytes(io.BytesIO(data))
    errors = ErrorCollector(max_errors=getattr(contacts, "max_errors", 10_000))
    try:
        outcome = validate_records(
            read_records(stream, "text/csv"),
            contacts,
            errors,
            sink=CountingSink() if with_sink else None,
        )
    finally:
        errors.close()
    return outcome.result


def _floor(data: bytes, validate: Any) -> int:
    """The least a per-row design can do: csv.reader, a dict per row, one C-level validation,
    nothing else (no line numbers, no errors kept, no sink). Not Intake: a yardstick."""
    from pydantic import ValidationError

    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))
    header = next(reader)
    rows = 0
    for row in reader:
        rows += 1
        try:
            validate({k: v for k, v in zip(header, row, strict=False) if v})
        except ValidationError:
            pass
    return rows


def _timed(fn: Any) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, value) of one call; CPU time is what a busy neighbour
    disturbs least on this 2-core machine, so the figures use it."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, value


def run(*, rows: int, reps: int, profile_top: int = 10) -> dict[str, Any]:
    from benchmarks.data import csv_bytes
    from intake.import_types import get_import_type

    data = csv_bytes(rows)
    _real(data, with_sink=True)  # warm-up: imports, pydantic schema, regex compilation
    validate = get_import_type("contacts").adapter.validator.validate_python
    variants = {
        "bare": lambda: _bare(data),
        "real": lambda: _real(data, with_sink=True),
        "validate_only": lambda: _real(data, with_sink=False),
        "floor": lambda: _floor(data, validate),
    }
    cpu = dict.fromkeys(variants, float("inf"))
    wall = dict.fromkeys(variants, float("inf"))
    values: dict[str, Any] = {}
    for _ in range(reps):  # interleaved, so a noisy neighbour slows every variant alike
        for name, fn in variants.items():
            c, w, values[name] = _timed(fn)
            cpu[name], wall[name] = min(cpu[name], c), min(wall[name], w)
    result = values["real"]
    assert result.rows_total == values["bare"] == rows, (result, values["bare"])
    rps = {name: rows / seconds for name, seconds in cpu.items()}
    out: dict[str, Any] = {
        "rows": rows,
        "bytes": len(data),
        "reps": reps,
        "invalid_rows": result.rows_invalid,
        "bare_rows_per_s": round(rps["bare"]),
        "real_rows_per_s": round(rps["real"]),
        "validate_only_rows_per_s": round(rps["validate_only"]),
        "ratio": round(rps["real"] / rps["bare"], 3),
        "validate_only_ratio": round(rps["validate_only"] / rps["bare"], 3),
        "floor_rows_per_s": round(rps["floor"]),
        "floor_ratio": round(rps["floor"] / rps["bare"], 3),
        "wall_rows_per_s": {name: round(rows / seconds) for name, seconds in wall.items()},
        "wall_ratio": round(wall["bare"] / wall["real"], 3),
        "target": TARGET_RATIO,
    }
    out["pass"] = out["ratio"] >= TARGET_RATIO
    if not out["pass"]:
        out["profile"] = profile(data, top=profile_top)
    return out


def profile(data: bytes, *, top: int) -> list[dict[str, Any]]:
    """The top costs (own time) of one real pass under cProfile, as shares of the total."""
    return profile_of(lambda: _real(data, with_sink=True), top=top)


def profile_of(fn: Any, *, top: int) -> list[dict[str, Any]]:
    """The top costs (own time) of one call of `fn` under cProfile, as shares of the total."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: kv[1][2],
        reverse=True,
    )[:top]:
        where = _short(filename)
        rows.append(
            {
                "function": f"{where}:{line}({name})" if where != "~" else name,
                "calls": ncalls,
                "own_share": round(tottime / total, 3),
                "cum_share": round(cumtime / total, 3),
            }
        )
    return rows


def _short(filename: str) -> str:
    for marker, label in (
        ("/intake/", "intake"),
        ("/site-packages/", "site-packages"),
        ("/lib/python3", "stdlib"),
    ):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            if label == "stdlib":  # "/lib/python3.11/_strptime.py" -> "stdlib/_strptime.py"
                rest = rest.split("/", 1)[-1]
            return f"{label}/{rest}"
    return filename

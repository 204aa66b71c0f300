"""P4's workbook reader: a fresh process reads the EU export's .xlsx copy through the real path
and reports its rows/s and its own peak RSS (so the CSV figures' data cannot pollute it).

Run by benchmarks.p4 as `python -m benchmarks.p4_xlsx PATH ROWS REPS`: read_xlsx (contacts'
archive limits, the mapping's sheet) -> validate_records(contacts, mapping, ErrorCollector,
CountingSink), REPS times; CPU and wall time are the best pass. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from benchmarks.p2_worker import _status_kb

# What a user sends for the workbook: the sheet, and the date format for any date a user typed
# as text (date cells come through as dates and pass it untouched).
XLSX_MAPPING = {"sheet": "Customers", "formats": {"signed_up": {"date": "%d.%m.%Y"}}}


def main(path: str, rows: int, reps: int) -> None:
    from benchmarks.env import use_fake_aws

    use_fake_aws(None)
    from intake.dal.record_sink import CountingSink
    from intake.import_types import get_import_type
    from intake.import_types.registry import archive_limits
    from intake.ingest.error_report import ErrorCollector
    from intake.ingest.xlsx_reader import read_xlsx
    from intake.logic.engine import validate_records
    from intake.models.mapping import Mapping

    contacts = get_import_type("contacts")
    mapping = Mapping.model_validate(XLSX_MAPPING)
    limits = archive_limits(contacts)

    def one_pass() -> Any:
        errors = ErrorCollector(max_errors=getattr(contacts, "max_errors", 10_000))
        with open(path, "rb") as stream:
            try:
                outcome = validate_records(
                    read_xlsx(stream, sheet=mapping.sheet, limits=limits),
                    contacts,
                    errors,
                    sink=CountingSink(),
                    mapping=mapping,
                )
            finally:
                errors.close()
        if outcome.file_error is not None:
            raise RuntimeError(f"the workbook failed: {outcome.file_error}")
        return outcome.result

    baseline_kb = _status_kb("VmRSS")  # everything imported: before the first pass
    cpu = wall = float("inf")
    result = None
    for _ in range(reps):
        c, w = time.process_time(), time.perf_counter()
        result = one_pass()
        cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
    assert result is not None and result.rows_total == rows, result
    unused = [c.header for c in result.columns.unused] if result.columns else []
    print(
        json.dumps(
            {
                "reps": reps,
                "rows_total": result.rows_total,
                "rows_valid": result.rows_valid,
                "rows_invalid": result.rows_invalid,
                "unused_columns": unused,
                "rows_per_s": round(rows / cpu),
                "wall_rows_per_s": round(rows / wall),
                "baseline_rss_mb": round(baseline_kb / 1024, 1),
                "vmhwm_mb": round(_status_kb("VmHWM") / 1024, 1),
                "mapping": XLSX_MAPPING,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

"""`make bench`: measure P1-P5, print them, rewrite docs/benchmarks.md.

    python -m benchmarks.run                 # everything (~13 min: a 1 GB file goes through S3)
    python -m benchmarks.run --quick         # smoke run: smaller sizes, docs left alone
    python -m benchmarks.run --only P1 --only P3
    python -m benchmarks.run --only P5 --p5-mb 2048   # P5 at the size docs/benchmarks.md used
    python -m benchmarks.run --render        # rewrite the doc from its stored results only

Generated files go to bench-data/ (gitignored) and are reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.env import ROOT, use_fake_aws

MB = 1024 * 1024
DOC = ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller sizes")
    parser.add_argument(
        "--only",
        action="append",
        type=str.upper,
        choices=("P1", "P2", "P3", "P4", "P5"),
        help="run only this figure (repeatable)",
    )
    parser.add_argument("--write", action="store_true", help="rewrite the docs even with --quick")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--doc", type=Path, default=DOC, help="where the results go")
    parser.add_argument("--p1-rows", type=int, help="P1 rows (default 300,000; quick 100,000)")
    parser.add_argument("--p1-reps", type=int, help="P1 and P4 repetitions (default 3; quick 2)")
    parser.add_argument("--p2-small-mb", type=int, default=10, help="P2 small file (MiB)")
    parser.add_argument("--p2-large-mb", type=int, help="P2 large file (default 1024; quick 100)")
    parser.add_argument("--p3-rows", type=int, help="P3 rows (default 20,000; quick 2,000)")
    parser.add_argument(
        "--p3-backend",
        choices=("inprocess", "server"),
        default="inprocess",
        help="moto for P3: in process (default) or a moto server child",
    )
    parser.add_argument("--p4-rows", type=int, help="P4 rows (default 300,000; quick 100,000)")
    parser.add_argument(
        "--p4-xlsx-rows", type=int, help="P4 rows of the .xlsx copy (default 50,000; quick 10,000)"
    )
    parser.add_argument(
        "--p5-mb", type=int, help="P5 large file (MiB; default 256, quick 32; the doc's: 2048)"
    )
    parser.add_argument("--p5-small-mb", type=int, default=10, help="P5 small file (MiB)")
    parser.add_argument(
        "--p5-shard-mb", type=int, help="P5 shard size (MiB; default the deployed 32; quick 8)"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite the doc from the results stored in it",
    )
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    invoked = shlex.join(["python", "-m", "benchmarks.run", *argv])
    if os.environ.get("MAKELEVEL") and not argv:
        return f"make bench  # {invoked}"
    return invoked


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    use_fake_aws(None)  # before any intake module reads the environment
    quick = args.quick
    if args.render:
        from benchmarks.report import load_previous, render

        args.doc.write_text(render(load_previous(args.doc)))
        print(f"rewrote {args.doc} from its stored results")
        return 0
    figures = args.only or ["P1", "P2", "P3", "P4", "P5"]
    run_info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "command": command_line(argv),
        "quick": quick,
        "load_start": _load(),
    }
    from benchmarks.report import load_previous, machine, render, summary_rows

    run_info["machine"] = machine()
    results: dict[str, Any] = {}
    started = time.monotonic()
    for name in ("P1", "P4", "P3", "P2", "P5"):  # CPU-time figures first: most sensitive
        if name not in figures:
            continue
        t0 = time.monotonic()
        _say(f"{name}: running")
        results[name] = _run_figure(name, args, quick)
        _say(f"{name}: done in {time.monotonic() - t0:.0f} s")
    run_info["load_end"] = _load()
    run_info["seconds"] = round(time.monotonic() - started)

    for name in ("P1", "P2", "P3", "P4", "P5"):
        if name in results:
            print(f"\n{name}: " + json.dumps(_brief(name, results[name]), indent=1))
    current = {name: {"data": data, "run": run_info} for name, data in results.items()}
    print("\nFigure | Measure | Result | Target | ")
    for row in summary_rows(current):
        print(" | ".join(cell.replace("**", "") for cell in row))
    print(f"\n{run_info['seconds']} s; load average {run_info['load_start']} -> {_load()}")

    write = not args.no_write and (not quick or args.write)
    if write:
        figures_doc = {k: v for k, v in load_previous(args.doc).items() if k not in current}
        figures_doc.update(current)
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(render(dict(sorted(figures_doc.items()))))
        print(f"wrote {args.doc.relative_to(ROOT) if args.doc.is_relative_to(ROOT) else args.doc}")
    else:
        print("docs/benchmarks.md left alone (--quick or --no-write; --write to force)")
    return 0


def _run_figure(name: str, args: argparse.Namespace, quick: bool) -> dict[str, Any]:
    if name == "P1":
        from benchmarks import p1

        rows = args.p1_rows or (100_000 if quick else 300_000)
        reps = args.p1_reps or (2 if quick else 3)
        return p1.run(rows=rows, reps=reps)
    if name == "P2":
        from benchmarks import p2

        large_mb = args.p2_large_mb or (100 if quick else 1024)
        return p2.run(small=args.p2_small_mb * MB, large=large_mb * MB)
    if name == "P4":
        from benchmarks import p4

        return p4.run(
            rows=args.p4_rows or (100_000 if quick else 300_000),
            reps=args.p1_reps or (2 if quick else 3),
            xlsx_rows=args.p4_xlsx_rows or (10_000 if quick else 50_000),
        )
    if name == "P5":
        from benchmarks import p5

        return p5.run(
            size=(args.p5_mb or (32 if quick else 256)) * MB,
            small=args.p5_small_mb * MB,
            shard_bytes=args.p5_shard_mb * MB if args.p5_shard_mb else _shard_bytes(quick),
        )
    from benchmarks import p3

    rows = args.p3_rows or (2_000 if quick else 20_000)
    return p3.run(rows=rows, backend=args.p3_backend)


def _shard_bytes(quick: bool) -> int:
    """The deployed shard size (Settings' default), or 8 MiB for a quick run."""
    if quick:
        return 8 * MB
    from intake.settings import Settings

    return int(Settings.model_fields["shard_size_bytes"].default)


def _brief(name: str, data: dict[str, Any]) -> dict[str, Any]:
    if name in ("P1", "P4"):
        return {k: v for k, v in data.items() if k != "profile"}
    if name == "P3":
        keep = ("wall_s", "rows_per_s", "dynamodb_requests", "requests_per_1000_rows")
        return {
            **{k: v for k, v in data.items() if not isinstance(v, dict)},
            **{
                side: {k: data[side][k] for k in keep}
                for side in ("intake", "sample", "batch_writer")
            },
        }
    if name == "P5":
        return {k: v for k, v in data.items() if k not in ("sharded", "small")} | {
            "sharded": {k: v for k, v in data["sharded"].items() if k != "per_shard"}
        }
    return data


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

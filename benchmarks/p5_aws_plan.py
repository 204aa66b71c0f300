"""docs/benchmarks.md, "A 10 GiB file in AWS": the plan for one large file worked out on paper
from P5's measured rates, the stack's settings and AWS's published limits and prices.

Every figure that is not measured here or read from the repository is a constant below, with
where it comes from; the doc prints them in a table, so a reader can redo each step.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from benchmarks.env import ROOT

GiB = 1024**3
MiB = 1024**2
FILE_BYTES = 10 * GiB  # contacts' max_size (import_types/contacts.py; README, issue 9)

# AWS's published limits (AWS documentation, as copied on 2026-12-01). A new on-demand table's
# 4,000 writes/s and the 40,000 write units/s default table quota are infra/definitions.py's.
LAMBDA_FULL_VCPU_MB = 1769  # Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
LAMBDA_TIMEOUT_S = 900  # Lambda's maximum timeout (15 minutes); SHARD_RUN uses it
PARTITION_WRITES = 1000  # one DynamoDB partition: 1,000 write units/s
ITEM_WRU_BYTES = 1024  # one write request unit writes an item up to 1 KB

# Prices, us-east-1 (AWS pricing pages for Lambda, Step Functions, DynamoDB and S3, as
# published since DynamoDB's on-demand price cut of 2024-11-01; copied 2026-12-01).
LAMBDA_ARM_GB_S = 0.0000133334  # arm64, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6
SFN_TRANSITION = 0.025 / 1000  # Standard workflows, after 4,000 free a month
DDB_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit
DDB_STORAGE_GB_MONTH = 0.25  # Standard table class, after 25 GB free
S3_GET = 0.0004 / 1000  # S3 Standard GET

# Assumptions, not measured and not published (say so wherever they are used).
BATCH_ITEMS = 25  # the sink's BatchWriteItem, one in flight per shard
# Round trips of a batch shown besides infra/definitions.py's estimate (~25 ms).
OTHER_ROUND_TRIPS_MS = (6, 10)
# State transitions a shard costs: the Distributed Map's child execution (start, the
# shard_run task, end), plus a fixed number for the parent (plan, map, check, finish).
TRANSITIONS_PER_SHARD = 3
TRANSITIONS_FIXED = 10
# Graviton's per-core speed against this machine's (AMD EPYC): taken as equal.
CORE_SPEED = 1.0


def _definitions() -> Any:
    if str(ROOT) not in sys.path:  # infra/definitions.py is not a package on the path
        sys.path.insert(0, str(ROOT))
    from infra import definitions

    return definitions


def _settings_defaults() -> tuple[int, int]:
    from intake.settings import Settings

    fields = Settings.model_fields
    return (
        int(fields["shard_size_bytes"].default),
        int(fields["shard_threshold_bytes"].default),
    )


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.1 else f"${x:,.4f}"


def ten_gib(p5: dict[str, Any], p1: dict[str, Any] | None) -> list[str]:
    d = _definitions()
    concurrency = int(d.SHARD_MAX_CONCURRENCY)
    run_fn = d.SHARD_RUN
    plan_fn = d.SHARD_PLAN
    shard_bytes, threshold = _settings_defaults()
    sh, w = p5["sharded"], p5["whole"]

    bytes_per_row = p5["bytes"] / p5["rows"]
    valid_share = w["result"]["rows_valid"] / w["result"]["rows_total"]
    rows = FILE_BYTES / bytes_per_row
    items = rows * valid_share
    shards = math.ceil(FILE_BYTES / shard_bytes)
    rows_shard = shard_bytes / bytes_per_row
    cpu_share = run_fn.memory_mb / LAMBDA_FULL_VCPU_MB
    measured = sh["shard_rows_per_s"]["median"]
    cpu_rate = measured * cpu_share * CORE_SPEED  # rows/s one shard's CPU allows in Lambda
    new_table = int(d.NEW_TABLE_WRITES_PER_SECOND)
    table_max = int(d.TABLE_MAX_WRITES_PER_SECOND)
    shard_net = int(d.SHARD_WRITES_PER_SECOND)  # items/s a shard's one batch in flight allows
    rtt_ms = BATCH_ITEMS / shard_net * 1000

    def shard_rate(net_items_s: float) -> float:
        """rows/s of one shard: a row's CPU and its share of a batch's round trip add up."""
        return 1 / (1 / cpu_rate + valid_share / net_items_s)

    rate = shard_rate(shard_net)
    shard_s = rows_shard / rate
    fits = shard_s <= LAMBDA_TIMEOUT_S
    # The largest shard a 15-minute invocation finishes at this rate.
    max_shard_mib = LAMBDA_TIMEOUT_S * rate * bytes_per_row / MiB
    plan_rate = sh["plan_mb_per_s"] * MiB * cpu_share * CORE_SPEED
    plan_s = FILE_BYTES / plan_rate
    finish_s = max(sh["finish_work_s"], 0.1) * shards / max(sh["shards"], 1)

    def wall(concurrency_: int) -> float:
        return plan_s + math.ceil(shards / concurrency_) * shard_s + finish_s

    warmed = int(d.shard_max_concurrency(table_max))
    one_invocation_rows = LAMBDA_TIMEOUT_S * rate

    others = [(ms, shard_rate(BATCH_ITEMS / ms * 1000)) for ms in (*OTHER_ROUND_TRIPS_MS, rtt_ms)]
    gb = run_fn.memory_mb / 1024

    gb_s = shards * shard_s * gb + plan_s * plan_fn.memory_mb / 1024 + finish_s * gb
    cost_lambda = gb_s * LAMBDA_ARM_GB_S + (shards + 2) * LAMBDA_REQUEST
    transitions = shards * TRANSITIONS_PER_SHARD + TRANSITIONS_FIXED
    cost_sfn = transitions * SFN_TRANSITION
    cost_ddb = items * DDB_WRITE_UNIT
    gets = 1 + 2 * shards  # the plan's one stream; per shard the header's range and its own
    cost_s3 = gets * S3_GET
    total = cost_lambda + cost_sfn + cost_ddb + cost_s3
    parse_rate = p1["real_rows_per_s"] if p1 else None
    # on_invalid=fail: a validating pass first (no sink), at P1's validate-only rate.
    validate_s = rows / (p1["validate_only_rows_per_s"] * cpu_share) if p1 else None

    out = [
        "## A 10 GiB file in AWS (on paper)",
        "",
        "Worked out from P5's measured rates (above), the stack's settings (infra/"
        "definitions.py, layers/shared/python/intake/settings.py) and AWS's published limits "
        "and prices (the tables at the end, with where each comes from). Figures that are "
        "assumptions are marked so. `benchmarks/p5_aws_plan.py` computes this section from the "
        "stored P5 results, so it follows each new P5 run.",
        "",
        "### Shards",
        "",
        f"- 10 GiB at P5's {bytes_per_row:.1f} bytes a row is about **{rows / 1e6:,.0f}M rows**, "
        f"of which {valid_share:.0%} valid in P5's file: **{items / 1e6:,.0f}M items** to write "
        "(a contacts row is one item in the records table, `pk` = tenant#type, `sk` = its "
        "natural key; about 0.2 KB"
        + (
            f" (P5's BatchWriteItem bodies: {w['request_bytes'] / w['batch_writes'] / 25:.0f} "
            "bytes of JSON an item, type tags and quotes included)"
            if w.get("request_bytes")
            else ""
        )
        + ", under 1 KB, so **one write request unit each**).",
        f"- `SHARD_SIZE_BYTES` = {shard_bytes // MiB} MiB: **{shards} shards** of about "
        f"{rows_shard / 1e6:.2f}M rows. `SHARD_THRESHOLD_BYTES` = {threshold // MiB:,} MiB "
        "(files above it are sharded).",
        "",
        "### Time a shard takes",
        "",
        f"- CPU: P5 measured **{_n(measured)} rows/s** a shard (median, one core of this "
        "machine, the sink's request building included)"
        + (
            f"; parsing and validation alone run at {_n(parse_rate)} rows/s (P1), so the "
            "DynamoDB sink's request building (botocore's serializer) is most of a row's CPU"
            if parse_rate
            else ""
        )
        + f". SHARD_RUN has {run_fn.memory_mb} MB, which Lambda gives "
        f"{cpu_share:.2f} of a vCPU ({run_fn.memory_mb} / {LAMBDA_FULL_VCPU_MB} MB); taking "
        "a Graviton core as fast as this machine's (**assumption**): "
        f"**{_n(cpu_rate)} rows/s**.",
        f"- Network: the sink keeps one {BATCH_ITEMS}-item BatchWriteItem in flight and waits "
        f"for it. infra/definitions.py estimates ~{rtt_ms:.0f} ms a batch in the same Region, "
        f"{_n(shard_net)} items/s a shard (**assumption**: moto's latency says nothing of "
        f"DynamoDB's). The waits add {valid_share / shard_net * 1e6:,.0f} µs a row to the "
        f"CPU's {1e6 / cpu_rate:.0f} µs: **{_n(rate)} rows/s a shard**, "
        f"{_n(rate * valid_share)} writes/s.",
        f"- A shard: {rows_shard / 1e6:.2f}M rows / {_n(rate)} rows/s = **{shard_s:,.0f} s** "
        f"against Lambda's {LAMBDA_TIMEOUT_S} s: "
        + (
            "it fits."
            if fits
            else f"**it does not fit**. At this rate a shard must be at most about "
            f"{max_shard_mib:,.0f} MiB (SHARD_SIZE_BYTES is {shard_bytes // MiB} MiB), or "
            "the sink must keep several batches in flight (the CPU alone allows "
            f"{_n(cpu_rate)} rows/s). **This is the first thing to settle** before a 10 GiB "
            "file runs: measure a batch's round trip from a Lambda."
        ),
        "",
        "The round trip decides a shard's time; the same arithmetic for other values:",
        "",
        "| A batch's round trip | items/s a shard (network) | rows/s a shard | a "
        f"{shard_bytes // MiB} MiB shard | largest shard in {LAMBDA_TIMEOUT_S} s |",
        "|---|---|---|---|---|",
        *(
            f"| {ms:.0f} ms | {_n(BATCH_ITEMS / ms * 1000)} | {_n(r)} | "
            f"{rows_shard / r:,.0f} s | {LAMBDA_TIMEOUT_S * r * bytes_per_row / MiB:,.0f} MiB |"
            for ms, r in others
        ),
        "",
        "### Concurrency, DynamoDB capacity and wall time",
        "",
        f"`SHARD_MAX_CONCURRENCY` follows from the write rate the records table is given "
        "(infra/definitions.py, `shard_max_concurrency`: the rate / "
        f"{_n(shard_net)} items/s a shard; the rate is the `recordsWritesPerSecond` context, "
        f"default {_n(new_table)}, a new on-demand table's until it is warmed; above that "
        "the stack sets the table's warm throughput to it). So by default "
        f"**{concurrency} shards** ask for {_n(concurrency * rate * valid_share)} writes/s, "
        f"within what a new table takes; at the default table quota of {_n(table_max)} write "
        f"units/s, {warmed} shards.",
        "",
        "| Records table's rate | Shards at once | Waves | Wall time (plan + waves x shard "
        "+ finalize) | Writes/s asked |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {c} | {math.ceil(shards / c)} | **{wall(c) / 3600:.1f} h** | "
            f"{_n(c * rate * valid_share)} |"
            for label, c in (
                (f"{_n(new_table)} writes/s (default: a new table)", concurrency),
                (f"{_n(table_max)} writes/s (warmed, the default quota)", warmed),
            )
        ),
        "",
        f"The plan pass is {plan_s / 60:.1f} min of it (10 GiB at P5's "
        f"{sh['plan_mb_per_s']} MB/s x {cpu_share:.2f} of a vCPU, if one S3 stream delivers "
        f"that) and the finalize about {finish_s:,.0f} s (P5's, scaled to {shards} shards)."
        + (
            ""
            if fits
            else " Both rows assume shards that finish: with 64 MiB shards at this rate they "
            "time out and are retried without end (their rows are upserts, never counted "
            "twice, but the run does not finish)."
        )
        + " On-demand tables also raise their own warm throughput as traffic grows (up to "
        "twice the previous peak, with throttling if that is passed within 30 minutes); "
        "MaxConcurrency does not follow it, so this plan does not count on it.",
        "",
        f"- **One partition key per tenant and type**: every item of the import has the same "
        f"`pk`, and one partition takes {_n(PARTITION_WRITES)} write units/s. DynamoDB splits a "
        "hot item collection by sort key when the table has no local secondary index (the "
        "records table has none), but it adapts over minutes, and keys written in ascending "
        f"order all land at the end of the range. Until it splits, the import runs at "
        f"{_n(PARTITION_WRITES)} writes/s ({items / PARTITION_WRITES / 3600:.0f} h, and "
        "shards time out). **A risk next to the round trip's**: measure it against "
        "a real table before promising a 10 GiB import a time, or spread the key "
        "(e.g. a suffix bucket in `pk`) with the reads that go with it.",
        _one_invocation_line(rate, one_invocation_rows * bytes_per_row, threshold),
        "",
        "### Cost of one 10 GiB import (on_invalid=skip)",
        "",
        "The same whatever the concurrency (it changes the wall time, not the work), counting "
        "shards that finish at the rate above:",
        "",
        "| Item | Quantity | Price | Cost |",
        "|---|---|---|---|",
        f"| Lambda, arm64, {run_fn.memory_mb} MB | {shards} shards x {shard_s:,.0f} s + the "
        f"plan + the finalize = {_n(gb_s)} GB-s; {shards + 2} requests | "
        f"${LAMBDA_ARM_GB_S:.10f} a GB-s, $0.20 a million requests | {_money(cost_lambda)} |",
        f"| Step Functions, Standard | about {transitions:,} state transitions "
        f"({TRANSITIONS_PER_SHARD} a shard + {TRANSITIONS_FIXED}: **assumption** until the "
        "state machine is final) | $0.025 a 1,000 | " + _money(cost_sfn) + " |",
        f"| DynamoDB on-demand writes | {items / 1e6:,.1f}M write request units | $0.625 a "
        f"million | **{_money(cost_ddb)}** |",
        f"| S3 GET | {gets} (the plan's stream; a shard's header range and its own range) | "
        f"$0.0004 a 1,000 | {_money(cost_s3)} |",
        f"| **Total** | | | **{_money(total)}** |",
        "",
        f"Writes are {cost_ddb / total:.0%} of it. Not in it: storing the items "
        f"(${DDB_STORAGE_GB_MONTH} a GB-month after 25 GB free: {items / 1e6:,.0f}M items of "
        f"about 0.2 KB is about {items * 200 / 1e9:,.0f} GB, "
        f"${items * 200 / 1e9 * DDB_STORAGE_GB_MONTH:,.0f} a month), pre-warming the table "
        "(billed separately; see DynamoDB's pricing page), the upload itself, CloudWatch "
        "logs, and the status table's few hundred requests. `on_invalid: fail` adds a "
        "validating pass over every shard (CPU only, no writes"
        + (
            f": about {_n(validate_s * gb)} GB-s more at P1's validate-only rate, "
            f"{_money(validate_s * gb * LAMBDA_ARM_GB_S)}"
            if validate_s
            else ""
        )
        + ") and doubles the GETs; a cold table's throttled shards are billed for the "
        "seconds they wait.",
        "",
        "### Sources of the figures above",
        "",
        "| Figure | Value | Source |",
        "|---|---|---|",
        f"| rows/s a shard, plan MB/s, bytes a row, valid share | {_n(measured)}; "
        f"{sh['plan_mb_per_s']}; {bytes_per_row:.1f}; {valid_share:.1%} | P5 above (this "
        "machine) |",
        f"| shard size, shard threshold | {shard_bytes // MiB} MiB, {threshold // MiB:,} MiB | "
        "layers/shared/python/intake/settings.py |",
        f"| MaxConcurrency (default); SHARD_RUN's memory and timeout | {concurrency}; "
        f"{run_fn.memory_mb} MB, {run_fn.timeout_seconds} s | infra/definitions.py |",
        f"| vCPU share of a Lambda | 1 vCPU at {_n(LAMBDA_FULL_VCPU_MB)} MB, in proportion "
        "below | AWS Lambda Developer Guide, memory and computing power (copied 2026-12-01) |",
        f"| new on-demand table | {_n(new_table)} writes/s (12,000 reads/s), 2x the "
        "previous peak within 30 minutes | DynamoDB Developer Guide, pre-warming on-demand "
        "tables and warm throughput (copied 2026-12-01); ../shared/toolchain.md |",
        f"| one partition | {_n(PARTITION_WRITES)} write units/s (3,000 read units/s) | "
        "DynamoDB Developer Guide, warm throughput scenarios (copied 2026-12-01) |",
        f"| per-table default quota | {_n(table_max)} write units/s | DynamoDB Developer "
        "Guide, service quotas (copied 2026-12-01); infra/definitions.py |",
        f"| write request unit | an item up to {ITEM_WRU_BYTES // 1024} KB | DynamoDB on-demand "
        "pricing page (copied 2026-12-01) |",
        f"| a round trip of BatchWriteItem | ~{rtt_ms:.0f} ms ({_n(shard_net)} items/s a "
        "shard) | **assumption**: infra/definitions.py's estimate; not measured here |",
        "| Graviton core vs this machine's core | equal | **assumption** |",
        "",
        "Prices, us-east-1, from the AWS pricing pages of each service (copied 2026-12-01 "
        "from the pages as published since DynamoDB's on-demand price cut of 2024-11-01; "
        "check them before quoting a customer):",
        "",
        "| Service | Price |",
        "|---|---|",
        f"| Lambda, arm64 | ${LAMBDA_ARM_GB_S:.10f} a GB-second (first 7.5 billion GB-s a "
        "month); $0.20 a million requests |",
        "| Step Functions, Standard workflows | $0.025 a 1,000 state transitions (4,000 free "
        "a month) |",
        "| DynamoDB, on-demand, Standard table class | $0.625 a million write request units; "
        f"$0.125 a million read request units; ${DDB_STORAGE_GB_MONTH} a GB-month |",
        "| S3 Standard | $0.0004 a 1,000 GET requests; $0.005 a 1,000 PUT requests |",
    ]
    return out


def _one_invocation_line(rate: float, fits_bytes: float, threshold: int) -> str:
    """Whether a file just under the shard threshold writes in one 15-minute invocation."""
    head = (
        f"- The same arithmetic for one invocation: at {_n(rate)} rows/s, 15 minutes writes "
        f"about {fits_bytes / MiB:,.0f} MiB of such a CSV; "
    )
    if fits_bytes >= threshold:
        return head + (
            f"`SHARD_THRESHOLD_BYTES` is {threshold // MiB:,} MiB, so every file run in one "
            "invocation fits (a validating pass alone runs at P1's rate)."
        )
    return head + (
        f"`SHARD_THRESHOLD_BYTES` is {threshold // MiB:,} MiB: files between the two would "
        "time out in one invocation while writing; the threshold wants lowering."
    )

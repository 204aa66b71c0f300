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

# AWS's published limits (AWS documentation, as copied on 2026-12-01).
LAMBDA_FULL_VCPU_MB = 1769  # Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
LAMBDA_TIMEOUT_S = 900  # Lambda's maximum timeout (15 minutes); SHARD_RUN uses it
NEW_TABLE_WRITES = 4000  # a new on-demand table: up to 4,000 writes/s until warmed
PARTITION_WRITES = 1000  # one DynamoDB partition: 1,000 write units/s
TABLE_MAX_WRITES = 40000  # default per-table quota, write request units/s (Service Quotas)
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
# Per shard, one BatchWriteItem of 25 items at a time: about 6 ms a round trip from Lambda to
# DynamoDB in the same Region is 4,000 items/s, infra/definitions.py's figure.
SHARD_NETWORK_ITEMS_S = 4000
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
    items_shard = rows_shard * valid_share
    cpu_share = run_fn.memory_mb / LAMBDA_FULL_VCPU_MB
    measured = sh["shard_rows_per_s"]["median"]
    cpu_rate = measured * cpu_share * CORE_SPEED  # rows/s one shard's CPU allows in Lambda
    # One thread: a row's CPU and its share of a batch's round trip add up.
    rate = 1 / (1 / cpu_rate + valid_share / SHARD_NETWORK_ITEMS_S)
    shard_s = rows_shard / rate
    waves = math.ceil(shards / concurrency)
    demand = concurrency * rate * valid_share  # writes/s the table must take
    plan_rate = sh["plan_mb_per_s"] * MiB * cpu_share * CORE_SPEED
    plan_s = FILE_BYTES / plan_rate
    finish_s = max(sh["finish_work_s"], 0.1) * shards / max(p5["sharded"]["shards"], 1)
    map_s = waves * shard_s
    warm_total = plan_s + map_s + finish_s
    cold_total = plan_s + items / NEW_TABLE_WRITES
    cold_shard_rate = NEW_TABLE_WRITES / concurrency
    cold_shard_s = items_shard / cold_shard_rate
    cold_max_concurrency = int(NEW_TABLE_WRITES * LAMBDA_TIMEOUT_S / items_shard)
    one_invocation_rows = LAMBDA_TIMEOUT_S * rate
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
        f"- Network: the sink sends one 25-item BatchWriteItem at a time and waits for it. "
        f"At about 6 ms a round trip (**assumption**, infra/definitions.py's "
        f"{_n(SHARD_NETWORK_ITEMS_S)} items/s a shard) the waits add "
        f"{valid_share / SHARD_NETWORK_ITEMS_S * 1e6:.0f} µs a row to the CPU's "
        f"{1e6 / cpu_rate:.0f} µs: **{_n(rate)} rows/s a shard**, "
        f"{_n(rate * valid_share)} writes/s.",
        f"- A shard: {rows_shard / 1e6:.2f}M rows / {_n(rate)} rows/s = **{shard_s:,.0f} s** "
        f"(Lambda's limit: {LAMBDA_TIMEOUT_S} s), if the table takes its writes.",
        "",
        "### Concurrency and DynamoDB capacity",
        "",
        f"`SHARD_MAX_CONCURRENCY` = **{concurrency}** (infra/definitions.py): {concurrency} "
        f"shards at {_n(rate * valid_share)} writes/s ask for **{_n(demand)} writes/s**. Why "
        f"{concurrency}, as infra/definitions.py reasons it: a shard writes at most about "
        f"{_n(SHARD_NETWORK_ITEMS_S)} items/s, so {concurrency} shards ask for up to "
        f"{_n(concurrency * SHARD_NETWORK_ITEMS_S)} writes/s, the warm throughput the records "
        "table must be given; that stays under the default per-table quota of "
        f"{_n(TABLE_MAX_WRITES)} write units/s with room for other imports, where more shards "
        "would need a quota increase. A new table takes only "
        f"{_n(NEW_TABLE_WRITES)}: see the cold case below.",
        "",
        f"- **A warmed table** (on-demand, `warm_throughput` of at least {_n(demand)} write "
        f"units/s; TableV2's `warm_throughput`, set ahead of the import): {shards} shards / "
        f"{concurrency} = {waves} waves x {shard_s:,.0f} s = {map_s / 60:,.0f} min of map, "
        f"plus the plan pass ({plan_s / 60:.1f} min: 10 GiB at P5's "
        f"{sh['plan_mb_per_s']} MB/s x {cpu_share:.2f} of a vCPU, if one S3 stream delivers "
        f"that) and the finalize (seconds): **about {warm_total / 3600:.1f} h**.",
        f"- **A new, cold table** takes about {_n(NEW_TABLE_WRITES)} writes/s: "
        f"{items / 1e6:,.0f}M items take **{cold_total / 3600:.1f} h** at that rate. Worse, "
        f"{concurrency} shards share it ({_n(cold_shard_rate)} writes/s each), so a shard "
        f"needs {cold_shard_s:,.0f} s, past Lambda's {LAMBDA_TIMEOUT_S} s: every shard times "
        "out and is retried (its rows are upserts, never counted twice, but the run does not "
        f"finish). On a cold table the concurrency must be at most "
        f"**{cold_max_concurrency}** ({_n(NEW_TABLE_WRITES)} x {LAMBDA_TIMEOUT_S} s / "
        f"{items_shard / 1e6:.2f}M items a shard), or the table warmed first. On-demand "
        "tables raise their own warm throughput as traffic grows (up to twice the previous "
        "peak, with throttling if that is passed within 30 minutes), so a long import speeds "
        "up as it goes; this plan does not count on it.",
        f"- **One partition key per tenant and type**: every item of the import has the same "
        f"`pk`, and one partition takes {_n(PARTITION_WRITES)} write units/s. DynamoDB splits a "
        "hot item collection by sort key when the table has no local secondary index (the "
        "records table has none), but it adapts over minutes, and keys written in ascending "
        f"order all land at the end of the range. Until it splits, the import runs at "
        f"{_n(PARTITION_WRITES)} writes/s ({items / PARTITION_WRITES / 3600:.0f} h, and "
        "shards time out as above). **This is the plan's largest risk**: measure it against "
        "a real table before promising a 10 GiB import a time, or spread the key "
        "(e.g. a suffix bucket in `pk`) with the reads that go with it.",
        f"- The same arithmetic for one invocation: at {_n(rate)} rows/s, 15 minutes is "
        f"{one_invocation_rows / 1e6:.1f}M rows, about "
        f"{one_invocation_rows * bytes_per_row / MiB:,.0f} MiB of such a CSV: far below "
        f"`SHARD_THRESHOLD_BYTES` ({threshold // MiB:,} MiB); with no wait for DynamoDB at "
        f"all, the CPU alone ({_n(cpu_rate)} rows/s) allows "
        f"{LAMBDA_TIMEOUT_S * cpu_rate * bytes_per_row / MiB:,.0f} MiB, still below it. "
        "Files between the two would time out in one invocation while writing (a validating "
        "pass alone runs at P1's rate and is not at risk): the threshold wants lowering, or "
        "the sink's CPU cutting (P5 above).",
        "",
        "### Cost of one 10 GiB import (on_invalid=skip, a warmed table)",
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
        f"| MaxConcurrency; SHARD_RUN's memory and timeout | {concurrency}; "
        f"{run_fn.memory_mb} MB, {run_fn.timeout_seconds} s | infra/definitions.py |",
        f"| vCPU share of a Lambda | 1 vCPU at {_n(LAMBDA_FULL_VCPU_MB)} MB, in proportion "
        "below | AWS Lambda Developer Guide, memory and computing power (copied 2026-12-01) |",
        f"| new on-demand table | {_n(NEW_TABLE_WRITES)} writes/s (12,000 reads/s), 2x the "
        "previous peak within 30 minutes | DynamoDB Developer Guide, pre-warming on-demand "
        "tables and warm throughput (copied 2026-12-01); ../shared/toolchain.md |",
        f"| one partition | {_n(PARTITION_WRITES)} write units/s (3,000 read units/s) | "
        "DynamoDB Developer Guide, warm throughput scenarios (copied 2026-12-01) |",
        f"| per-table default quota | {_n(TABLE_MAX_WRITES)} write units/s | DynamoDB Developer "
        "Guide, service quotas (copied 2026-12-01) |",
        f"| write request unit | an item up to {ITEM_WRU_BYTES // 1024} KB | DynamoDB on-demand "
        "pricing page (copied 2026-12-01) |",
        "| a round trip of BatchWriteItem | ~6 ms (4,000 items/s a shard) | **assumption** "
        "(infra/definitions.py's comment); not measured here |",
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

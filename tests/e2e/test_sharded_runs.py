"""Sharded runs on the local stack (issue 9's Done-when, scaled for CI): a CSV cut into shards
by the planner, run on the sharded-runs state machine on moto server, its Lambda tasks the
real handlers in the stack's process.

The issue's check runs a 200 MB file against `make up`; here the file is about 24 MB, with
SHARD_THRESHOLD_BYTES 8 MB and SHARD_SIZE_BYTES 3 MB passed through the stack's environment
as `make up` passes them, so it is cut into 8 shards and the module stays within two minutes
(moto writes about 1,000-1,500 records a second). INTAKE_E2E_SHARDED_MB=200 runs it at the
issue's size (shards of about 16 MB; about 10 minutes, most of it moto's writes). Rows are
about 1 KB (an unused `notes` column) so the file is large in bytes, not in records. Every
record's notes are quoted with doubled quotes; invalid records sit on both sides of every
shard boundary, and those next to a boundary carry quoted line breaks (the one before it a
whole fake record after a quoted line break, where a cut that ignored quotes would fall), so
both the cut and the line numbers in errors are tested. The same file, zipped with a second
member, is sharded member by member with the same errors, each naming its member.

What a one-invocation run reports is computed by running the same bytes on a second stack
with a threshold above any file here. A third stack kills one shard mid-run
(INTAKE_LOCAL_FAIL_SHARD, local/intake_local/faults.py) to see the map retry it; a fourth has
a planner that always fails, so the execution fails and (moto emitting no events) the local
stack's stand-in for the EventBridge rule tells the worker.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from intake.ingest.shards import plan_csv
from intake.settings import Settings
from intake_local.faults import FAIL_FUNCTION_ENV, FAIL_SHARD_ENV
from tests.e2e.conftest import local_stack
from tests.e2e.support import FINAL, Api, Stack

FILE_MB = int(os.environ.get("INTAKE_E2E_SHARDED_MB") or 24)
FILE_SIZE = FILE_MB * 1_000_000
THRESHOLD = 8_000_000
SHARD_SIZE = max(3_000_000, FILE_SIZE // 12)
KILLED_SHARD = 2
# Seconds for one run of the whole file: a write pass of 24 MB (24k records) takes ~20 s here.
RUN_TIMEOUT = 10.0 * max(FILE_MB, 24)

THRESHOLD_ENV = str(Settings.model_fields["shard_threshold_bytes"].alias)
SHARD_SIZE_ENV = str(Settings.model_fields["shard_size_bytes"].alias)
# Every file here is PUT in one request, whatever its size (multipart is not what is tested).
ONE_PUT = {
    str(Settings.model_fields[name].alias): str(5 * 1024**3)
    for name in ("multipart_threshold_bytes", "multipart_part_bytes")
}
SHARDED = {**ONE_PUT, THRESHOLD_ENV: str(THRESHOLD), SHARD_SIZE_ENV: str(SHARD_SIZE)}
# One invocation for every file here, whatever its size and the default threshold.
UNSHARDED = {**ONE_PUT, THRESHOLD_ENV: str(5 * 1024**3)}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(4 * RUN_TIMEOUT))]


# --- the file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BigCsv:
    data: bytes
    ids: list[str]  # every record's external_id, in file order
    invalid: frozenset[str]  # the ids of the records made invalid
    shards: int  # how many shards the planner cuts it into at SHARD_SIZE

    @property
    def valid(self) -> set[str]:
        return set(self.ids) - self.invalid


@dataclass
class _Row:
    start: int
    at: int  # the email's `@`
    country: int  # the country's first letter
    first_name: int  # the first name's first letter, and its length
    first_name_len: int
    pad: int  # where the notes' padding starts (inside the quotes)


def _same_length(data: bytearray, at: int, new: bytes) -> None:
    """Change bytes in place without moving any record: the planner's cuts stay put."""
    data[at : at + len(new)] = new


def build_csv() -> BigCsv:
    header = b"external_id,email,first_name,last_name,country,notes\n"
    data = bytearray(header)
    rows: list[_Row] = []
    ids: list[str] = []
    i = 0
    while len(data) < FILE_SIZE:
        external_id = f"x-{i:06d}"
        first_name = f"First{i}"
        before_notes = f"{external_id},person{i:06d}@example.com,{first_name},Last{i},GB,"
        # Doubled quotes in every record, a quoted line break in every 7th.
        said = f'Row {i} said ""hello"", then left.' + (" Line two:\nmore." if i % 7 == 0 else "")
        line = f'{before_notes}"{said} {"n" * 900}"\n'.encode()
        start = len(data)
        rows.append(
            _Row(
                start=start,
                at=start + line.index(b"@"),
                country=start + len(before_notes) - 3,
                first_name=start + line.index(first_name.encode()),
                first_name_len=len(first_name),
                pad=start + line.index(b"nnnn"),
            )
        )
        ids.append(external_id)
        data += line
        i += 1

    plan = plan_csv(io.BytesIO(bytes(data)), shard_size=SHARD_SIZE)
    starts = {row.start: n for n, row in enumerate(rows)}
    invalid: set[int] = {0, len(rows) - 1}
    for shard in plan[1:]:
        first = starts[shard.start]  # a shard starts exactly at a record
        last = first - 1
        # The record the cut follows: a bad e-mail, and after a quoted line break a whole
        # valid-looking record (a cut ignoring quotes would land here).
        _same_length(data, rows[last].at, b"#")
        _same_length(data, rows[last].pad, b"\nz-999999,fake@example.com,Fake,Row,GB,\n")
        # The shard's first record: a bad country and quoted line breaks.
        _same_length(data, rows[first].country, b"XX")
        _same_length(data, rows[first].pad, b"\n\n")
        # Their neighbours: a blank first name, a bad e-mail.
        _same_length(data, rows[last - 1].first_name, b" " * rows[last - 1].first_name_len)
        _same_length(data, rows[first + 1].at, b"#")
        invalid |= {last - 1, last, first, first + 1}
    for n in (0, len(rows) - 1):
        _same_length(data, rows[n].at, b"#")
    replanned = plan_csv(io.BytesIO(bytes(data)), shard_size=SHARD_SIZE)
    assert [s.start for s in replanned] == [s.start for s in plan], "the cuts moved"
    assert len(invalid) < 100, "keep every error inline (the API lists the first 100)"
    return BigCsv(
        data=bytes(data),
        ids=ids,
        invalid=frozenset(ids[n] for n in invalid),
        shards=len(plan),
    )


@pytest.fixture(scope="module")
def big_csv() -> BigCsv:
    built = build_csv()
    assert built.shards >= 5, built.shards
    return built


# --- the stacks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharded() -> Iterator[Stack]:
    with local_stack("-sharded", SHARDED) as started:
        yield started


@pytest.fixture(scope="module")
def killing() -> Iterator[Stack]:
    with local_stack("-killing", {**SHARDED, FAIL_SHARD_ENV: str(KILLED_SHARD)}) as started:
        yield started


@pytest.fixture(scope="module")
def failing() -> Iterator[Stack]:
    with local_stack("-failing", {**SHARDED, FAIL_FUNCTION_ENV: "shard_plan"}) as started:
        yield started


@dataclass(frozen=True)
class Outcome:
    file: dict[str, Any]
    progress_seen: list[dict[str, Any]]  # every `progress` read while the run was PROCESSING

    @property
    def report(self) -> bytes:
        url = self.file["error_report_url"]
        assert url, self.file
        response = requests.get(url, timeout=30)
        assert response.status_code == 200
        return response.content


def run(stack: Stack, data: bytes, tenant: str, body: dict[str, Any], **declared: Any) -> Outcome:
    """Upload `data` for `tenant` (declared as big.csv, or as `declared` says), import it with
    `body`, follow it to its end."""
    api = Api(stack)
    file_id = api.uploaded(data, tenant=tenant, **({"name": "big.csv"} | declared))
    accepted = api.call("POST", f"/files/{file_id}/import", tenant=tenant, json=body)
    assert accepted.status_code == 202, accepted.text
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        file = api.file(file_id, tenant=tenant)
        if file["status"] in FINAL:
            return Outcome(file, seen)
        if file["status"] == "PROCESSING" and file.get("progress"):
            seen.append(file["progress"])
        assert time.monotonic() < deadline, f"{file_id} still {file['status']}: {stack.log_dir}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def one_invocation(big_csv: BigCsv) -> Outcome:
    """The same file validated in one invocation: a stack at the default threshold."""
    with local_stack("-unsharded", UNSHARDED) as stack:
        assert stack.info["settings"][THRESHOLD_ENV] > len(big_csv.data)
        outcome = run(stack, big_csv.data, "reference", {"check_only": True})
        # The report is fetched while its stack runs.
        return Outcome({**outcome.file, "report": outcome.report}, outcome.progress_seen)


def stored_ids(stack: Stack, tenant: str) -> list[str]:
    """The external_ids in the records table for `tenant`'s contacts (every item, paged)."""
    table = stack.info["resources"]["records_table"]
    pages = (
        stack.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{tenant}#contacts"}},
            ProjectionExpression="sk",
        )
    )
    return [item["sk"]["S"] for page in pages for item in page["Items"]]


# --- the tests --------------------------------------------------------------------------------


def test_the_stack_passes_the_shard_settings_through_and_runs_the_state_machine(
    sharded: Stack,
) -> None:
    assert sharded.info["settings"][THRESHOLD_ENV] == THRESHOLD
    assert sharded.info["settings"][SHARD_SIZE_ENV] == SHARD_SIZE
    arn = sharded.info["sharded_runs_state_machine_arn"]
    assert arn.startswith("arn:aws:states:us-east-1:")
    machines = sharded.client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["stateMachineArn"] for m in machines] == [arn]


def test_validating_fails_at_exactly_the_lines_a_one_invocation_run_reports(
    sharded: Stack, big_csv: BigCsv, one_invocation: Outcome
) -> None:
    # Given the reference: the same bytes validated in one invocation
    reference = one_invocation.file
    assert reference["status"] == "FAILED"
    assert reference["result"].get("shards") in (None, 1)
    assert len(reference["errors"]) == len(big_csv.invalid)

    # When the file is validated as a sharded run
    outcome = run(sharded, big_csv.data, "validate", {"check_only": True})

    # Then it is cut into shards and fails with the same errors, at the same lines
    file = outcome.file
    assert file["status"] == "FAILED", file.get("reason")
    assert file["result"]["shards"] == big_csv.shards
    assert file["errors"] == reference["errors"]
    assert outcome.report == reference["report"]
    counts = ("rows_total", "rows_valid", "rows_invalid", "rows_written")
    assert [file["result"][k] for k in counts] == [reference["result"][k] for k in counts]
    assert file["result"]["rows_total"] == len(big_csv.ids)
    assert file["result"]["rows_invalid"] == len(big_csv.invalid)
    assert file["result"]["rows_written"] == 0
    assert stored_ids(sharded, "validate") == []


def test_a_zip_of_the_file_and_another_is_sharded_member_by_member(
    sharded: Stack, big_csv: BigCsv, one_invocation: Outcome
) -> None:
    # Given the file zipped with a second member, a JSON Lines file of clean contacts (stored,
    # not deflated, as some exporters write: the threshold is on the upload's size)
    more = b"".join(
        json.dumps(
            {"external_id": f"m-{i}", "email": f"m{i}@example.com", "first_name": "M"}
        ).encode()
        + b"\n"
        for i in range(2000)
    )
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("export/big.csv", big_csv.data)
        archive.writestr("export/more.jsonl", more)
    assert len(packed.getvalue()) > THRESHOLD

    # When it is validated as a sharded run
    outcome = run(
        sharded,
        packed.getvalue(),
        "zipped",
        {"check_only": True},
        name="export.zip",
        media_type="application/zip",
    )

    # Then each member is cut on its own, and the errors are the file's, naming its member
    file = outcome.file
    assert file["status"] == "FAILED", file.get("reason")
    assert file["result"]["shards"] == big_csv.shards + 1
    reference = one_invocation.file
    assert file["errors"] == [{**e, "file": "export/big.csv"} for e in reference["errors"]]
    assert file["result"]["rows_total"] == len(big_csv.ids) + 2000
    assert file["result"]["rows_invalid"] == len(big_csv.invalid)


def test_skip_imports_exactly_the_valid_rows_and_shows_shards_while_running(
    sharded: Stack, big_csv: BigCsv
) -> None:
    outcome = run(sharded, big_csv.data, "skip", {"on_invalid": "skip"})

    file = outcome.file
    assert file["status"] == "SUCCEEDED", file.get("reason")
    assert file["result"]["shards"] == big_csv.shards
    assert file["result"]["rows_written"] == len(big_csv.valid)
    assert file["result"]["rows_invalid"] == len(big_csv.invalid)
    stored = stored_ids(sharded, "skip")
    assert len(stored) == len(big_csv.valid)
    assert set(stored) == big_csv.valid
    # While it ran, progress counted its shards.
    shards = [p["shards"] for p in outcome.progress_seen if p.get("shards")]
    assert shards, outcome.progress_seen
    assert {s["total"] for s in shards} == {big_csv.shards}


def test_fail_writes_nothing(sharded: Stack, big_csv: BigCsv) -> None:
    outcome = run(sharded, big_csv.data, "fail", {"on_invalid": "fail"})

    file = outcome.file
    assert file["status"] == "FAILED", file.get("reason")
    assert file["result"]["shards"] == big_csv.shards
    assert file["result"]["rows_invalid"] == len(big_csv.invalid)
    assert file["result"]["rows_written"] == 0
    assert stored_ids(sharded, "fail") == []


def test_a_shard_killed_mid_run_is_retried_and_the_rows_are_exact(
    killing: Stack, big_csv: BigCsv
) -> None:
    outcome = run(killing, big_csv.data, "killed", {"on_invalid": "skip"})

    # The shard died once after writing a batch of its records ...
    stack_log = (killing.log_dir / "local-stack.log").read_text()
    assert "ShardKilled" in stack_log, killing.log_dir
    # ... and its retry finished the run with every valid row, once
    file = outcome.file
    assert file["status"] == "SUCCEEDED", file.get("reason")
    assert file["result"]["shards"] == big_csv.shards
    assert file["result"]["rows_written"] == len(big_csv.valid)
    stored = stored_ids(killing, "killed")
    assert len(stored) == len(big_csv.valid)
    assert set(stored) == big_csv.valid


def test_a_failed_execution_ends_the_file_failed_saying_why(
    failing: Stack, big_csv: BigCsv
) -> None:
    # Given a stack whose planner always fails (a Plan error is not retried)
    # When a file over the threshold is imported
    outcome = run(failing, big_csv.data, "failing", {"on_invalid": "skip"})

    # Then the execution's failure reaches the worker, which ends the file FAILED with the
    # execution's error in its reason, and nothing was written
    file = outcome.file
    assert file["status"] == "FAILED", file
    assert "FunctionFault" in (file["reason"] or ""), file["reason"]
    assert (file.get("result") or {}).get("rows_written", 0) == 0
    assert stored_ids(failing, "failing") == []

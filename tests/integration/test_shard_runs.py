"""A sharded run's shards and its finalize (logic/shard_runs.py) on moto: the same file, cut
into tiny shards, gives exactly what a one-invocation run gives (counts, error lines, status),
a retried shard counts once, and nothing finishes before every shard has reported."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from intake.clock import utcnow
from intake.dal import file_repository
from intake.ingest.shards import Shard, plan_csv, plan_jsonl
from intake.logic.run_execution import run_import
from intake.logic.shard_runs import ShardsMissing, finish_sharded, phases, run_shard
from intake.models.domain import FileRecord, FileStatus, ShardReport
from intake.models.messages import ImportMessage
from intake_local.resources import Resources

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
LEASE = timedelta(minutes=16)
SHARD_SIZE = 84  # bytes: two or three rows a shard, cut in 5 rows with quoted line breaks


def _csv(keys: dict[int, str] | None = None, rows: int = 40) -> bytes:
    """40 rows; every 7th has a quoted line break, so physical lines run ahead of rows, and
    bad rows (bad e-mail, bad country, no first name, a missing column) spread over the file,
    several of them first or last in their shard (test_the_file_is_cut_across_bad_rows).
    Row i's key is c-i, or `keys[i]`; its first name says which row it is (P<i>)."""
    lines = [b"external_id,email,first_name,country"]
    for i in range(1, rows + 1):
        email, first, country = f"p{i}@example.com", f"P{i}", "GB"
        if i % 7 == 0:
            first = f'"P{i}\nsecond line"'
        if i % 5 == 0:
            email = "not-an-email"
        if i % 9 == 0:
            country = "Atlantis"
        if i % 11 == 0:
            first = '""'
        key = (keys or {}).get(i, f"c-{i}")
        row = f"{key},{email},{first},{country}"
        if i % 13 == 0:
            row = f"{key},{email}"  # a column short
        lines.append(row.encode())
    return b"\n".join(lines) + b"\n"


CSV = _csv()


def _shards() -> list[Shard]:
    return plan_csv(io.BytesIO(CSV), shard_size=SHARD_SIZE)


def _queued(
    aws: Resources,
    file_id: str,
    *,
    check_only: bool,
    on_invalid: str,
    body: bytes = CSV,
    media_type: str = "text/csv",
) -> None:
    """An uploaded file (its bytes at a pinned version) with run 1 queued."""
    key = f"uploads/acme/{file_id}"
    put = boto3.client("s3").put_object(Bucket=aws.names.bucket, Key=key, Body=body)
    record = FileRecord(
        tenant="acme",
        file_id=file_id,
        name="people.csv",
        media_type=media_type,
        size=len(body),
        import_type="contacts",
        status=FileStatus.UPLOADED,
        created_at=T0,
        updated_at=T0,
        object_key=key,
        object_version=put.get("VersionId"),
    )
    assert file_repository.create(record)
    file_repository.queue_run(
        record,
        now=utcnow(),
        check_only=check_only,
        on_invalid=on_invalid,  # type: ignore[arg-type]
    )


def _claimed(
    aws: Resources,
    file_id: str,
    *,
    check_only: bool,
    on_invalid: str,
    body: bytes = CSV,
    media_type: str = "text/csv",
) -> FileRecord:
    """As the state machine's first step will: run 1 queued, then claimed."""
    _queued(
        aws, file_id, check_only=check_only, on_invalid=on_invalid, body=body, media_type=media_type
    )
    claimed = file_repository.claim_run("acme", file_id, 1, now=utcnow(), lease=LEASE)
    assert claimed is not None
    return claimed


def _one_invocation(
    aws: Resources,
    *,
    check_only: bool,
    on_invalid: str,
    body: bytes = CSV,
    media_type: str = "text/csv",
) -> FileRecord:
    file_id = "018f2a3b4c5d0000000000000001"
    _queued(
        aws, file_id, check_only=check_only, on_invalid=on_invalid, body=body, media_type=media_type
    )
    message = ImportMessage(
        tenant="acme",
        file_id=file_id,
        run=1,
        check_only=check_only,
        on_invalid=on_invalid,  # type: ignore[arg-type]
    )
    run_import(message)
    return file_repository.get("acme", file_id)


def _sharded(
    record: FileRecord,
    shards: list[Shard],
    ran: list[str] | None = None,
    reports: list[bytes] | None = None,
) -> tuple[FileStatus, Any, list[Any]]:
    """Every phase as the state machine runs it: all shards, then finalize, which ends the
    run or names the next phase (`ran` gets the phases run, in order; `reports` the CSV error
    report the run would store)."""
    phase: Any = phases(record)[0]
    while phase is not None:
        if ran is not None:
            ran.append(phase)
        for shard in shards:
            run_shard(record, shard, phase=phase)
        # The finalize knows only how many shards there are (the state machine's finish step).
        end = finish_sharded(record, len(shards), phase=phase)
        try:
            if end.status is not None:
                assert end.next_phase is None
                if reports is not None:
                    reports.append(end.errors.report().read())
                return end.status, end.outcome.result, list(end.errors.inline)
        finally:
            end.errors.close()
        phase = end.next_phase
    raise AssertionError("no phase ended the run")


def _records(aws: Resources) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    items = table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "acme#contacts"}
    )["Items"]
    return {item["sk"]: item for item in items}


def _located(errors: list[Any]) -> list[tuple[int | None, str | None, str]]:
    return [(e.line, e.field, e.code) for e in errors]


def test_the_file_is_cut_across_bad_rows_and_quoted_line_breaks() -> None:
    shards = _shards()
    assert len(shards) >= 8
    firsts = [next(csv.reader(io.StringIO(CSV[s.start : s.end].decode()))) for s in shards]
    rows_before = [len(list(csv.reader(io.StringIO(CSV[: s.start].decode())))) for s in shards]
    # Quoted line breaks: later shards start on a physical line past their row's number.
    assert any(s.first_line > rows + 1 for s, rows in zip(shards, rows_before, strict=True))
    # Bad rows are the first row of some shards (and so the last of the one before).
    assert any("not-an-email" in row or "Atlantis" in row or len(row) < 4 for row in firsts)
    # A row with a quoted line break is where some shards are cut (the row across the target).
    lasts = [list(csv.reader(io.StringIO(CSV[s.start : s.end].decode())))[-1] for s in shards]
    assert any("\n" in field for row in lasts for field in row)


@pytest.mark.parametrize(
    ("check_only", "on_invalid", "status"),
    [
        (True, "fail", FileStatus.FAILED),
        (False, "fail", FileStatus.FAILED),
        (False, "skip", FileStatus.SUCCEEDED),
    ],
)
def test_sharded_run_reports_exactly_what_one_invocation_does(
    aws: Resources, check_only: bool, on_invalid: str, status: FileStatus
) -> None:
    # Given the same bytes run whole, and cut into tiny shards
    whole = _one_invocation(aws, check_only=check_only, on_invalid=on_invalid)
    shards = _shards()
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000002", check_only=check_only, on_invalid=on_invalid
    )

    # When every shard runs and the run is finalized
    sharded_status, result, errors = _sharded(record, shards)

    # Then the counts, the status and the located errors are the one-invocation run's
    assert whole.result is not None
    assert sharded_status is whole.status is status
    counts = ("rows_total", "rows_valid", "rows_invalid", "rows_written", "errors_truncated")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}
    assert result.columns == whole.result.columns
    assert result.shards == len(shards)
    assert _located(errors) == _located(whole.errors)
    assert errors == whole.errors  # messages and columns too
    assert result.rows_invalid > 0 and result.rows_valid > 0


def test_a_file_error_in_a_middle_shard_ends_the_count_there_as_in_one_invocation(
    aws: Resources,
) -> None:
    # Given a record over the reader's 1 MiB limit in the middle of the file (a file error:
    # a one-invocation run stops reading there), and bad rows after it that it never sees
    rows = CSV.split(b"\n")
    huge = b"c-99,huge@example.com," + b"x" * (1024 * 1024 + 10) + b",GB"
    body = b"\n".join([*rows[:20], huge, *rows[20:]])
    whole = _one_invocation(aws, check_only=True, on_invalid="fail", body=body)
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000008", check_only=True, on_invalid="fail", body=body
    )
    shards = plan_csv(io.BytesIO(body), shard_size=SHARD_SIZE)

    status, result, errors = _sharded(record, shards)

    assert whole.result is not None
    assert status is whole.status is FileStatus.FAILED
    assert errors == whole.errors
    assert errors[-1].code == "record_too_large"
    counts = ("rows_total", "rows_valid", "rows_invalid")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}


def test_a_retried_shard_counts_once(aws: Resources) -> None:
    record = _claimed(aws, "018f2a3b4c5d0000000000000003", check_only=False, on_invalid="skip")
    shards = _shards()
    first = run_shard(record, shards[2], phase="single")

    # A retry of shard 2 (the map retried it after a timeout), then every shard
    again = run_shard(record, shards[2], phase="single")
    for shard in shards:
        run_shard(record, shard, phase="single")
    end = finish_sharded(record, len(shards), phase="single")
    end.errors.close()

    assert again == first
    assert [
        r.index for r in file_repository.shard_reports("acme", record.file_id, 1, "single")
    ] == [s.index for s in shards]
    assert end.outcome.result.rows_written == end.outcome.result.rows_valid == len(_records(aws))


def test_a_differing_second_report_changes_nothing(aws: Resources) -> None:
    first = ShardReport(index=0, phase="validate", rows_total=3, rows_valid=3)
    file_repository.record_shard("acme", "f1", 1, 0, phase="validate", report=first)

    stands = file_repository.record_shard(
        "acme", "f1", 1, 0, phase="validate", report=first.model_copy(update={"rows_valid": 2})
    )

    assert stands == first
    assert file_repository.shard_reports("acme", "f1", 1, "validate") == [first]
    # another run or phase is another report
    assert file_repository.shard_reports("acme", "f1", 1, "write") == []
    assert file_repository.shard_reports("acme", "f1", 2, "validate") == []


def test_reports_are_read_past_a_page_in_shard_order(aws: Resources) -> None:
    big = "x" * 3000  # 400 reports of 3 KB: more than the 1 MB one query page holds
    for index in reversed(range(400)):
        report = ShardReport(index=index, phase="single", errors_count=1, encoding=big)
        file_repository.record_shard("acme", "f2", 1, index, phase="single", report=report)

    reports = file_repository.shard_reports("acme", "f2", 1, "single")

    assert [r.index for r in reports] == list(range(400))


def test_finalize_with_a_shard_missing_raises(aws: Resources) -> None:
    record = _claimed(aws, "018f2a3b4c5d0000000000000004", check_only=True, on_invalid="fail")
    shards = _shards()
    for shard in shards:
        if shard.index != 3:
            run_shard(record, shard, phase="validate")

    with pytest.raises(ShardsMissing) as raised:
        finish_sharded(record, len(shards), phase="validate")

    assert raised.value.missing == [3]
    # once shard 3 has run (the state machine's retry), the run finalizes
    run_shard(record, shards[3], phase="validate")
    end = finish_sharded(record, len(shards), phase="validate")
    end.errors.close()
    assert end.status is FileStatus.FAILED


def test_check_only_writes_nothing(aws: Resources) -> None:
    record = _claimed(aws, "018f2a3b4c5d0000000000000005", check_only=True, on_invalid="fail")
    shards = _shards()

    status, result, _ = _sharded(record, shards)

    assert status is FileStatus.FAILED
    assert result.rows_written == 0
    assert _records(aws) == {}
    with pytest.raises(ValueError, match="no write phase"):
        run_shard(record, shards[0], phase="write")


def test_skip_writes_exactly_the_valid_rows(aws: Resources) -> None:
    record = _claimed(aws, "018f2a3b4c5d0000000000000006", check_only=False, on_invalid="skip")

    status, result, _ = _sharded(record, _shards())

    assert status is FileStatus.SUCCEEDED
    stored = _records(aws)
    assert len(stored) == result.rows_written == result.rows_valid == 40 - result.rows_invalid
    assert "c-5" not in stored and "c-1" in stored  # c-5's e-mail is bad
    assert stored["c-7"]["first_name"] == "P7\nsecond line"  # a quoted line break, kept whole


def test_fail_with_a_clean_file_validates_then_writes(aws: Resources) -> None:
    clean = b"external_id,email,first_name\n" + b"".join(
        f'c-{i},p{i}@example.com,"P{i}\nmore"\n'.encode() for i in range(1, 21)
    )
    file_id = "018f2a3b4c5d0000000000000007"
    record = _claimed(aws, file_id, check_only=False, on_invalid="fail")
    boto3.client("s3").put_object(Bucket=aws.names.bucket, Key=record.object_key, Body=clean)
    record = record.model_copy(update={"object_version": None, "size": len(clean)})
    shards = plan_csv(io.BytesIO(clean), shard_size=SHARD_SIZE)

    status, result, errors = _sharded(record, shards)

    assert (status, errors) == (FileStatus.SUCCEEDED, [])
    assert result.rows_written == result.rows_valid == 20 == len(_records(aws))


# --- repeated natural keys: exactly what one invocation finds -------------------------------

# Row -> key. c-3 on rows 3-4 and c-16 on rows 16-17, side by side; c-1 again on rows 23 and
# 24; c-2 on four more rows, two of them bad (33 has no first name, 35 a bad e-mail: a bad
# row's key is never seen); c-10 first valid on row 12 (row 10's e-mail is bad); row 20, c-1
# with a bad e-mail, repeats nothing.
DUPLICATES = {
    4: "c-3",
    12: "c-10",
    14: "c-10",
    17: "c-16",
    20: "c-1",
    23: "c-1",
    24: "c-1",
    31: "c-2",
    33: "c-2",
    35: "c-2",
    37: "c-2",
}
DUPLICATED = _csv(DUPLICATES)


def _shard_of(shards: list[Shard], line: int) -> int:
    return max(s.index for s in shards if s.first_line <= line)


def _first_line(message: str) -> int:
    return int(message.rsplit(" ", 1)[1])


@pytest.mark.parametrize(
    ("check_only", "on_invalid", "ran"),
    [
        (True, "fail", ["validate", "locate"]),
        (False, "fail", ["validate", "locate"]),  # never the write phase
        (False, "skip", ["single", "locate", "keep"]),
    ],
)
def test_repeated_keys_within_and_across_shards_are_what_one_invocation_reports(
    aws: Resources, check_only: bool, on_invalid: str, ran: list[str]
) -> None:
    # Given a file whose keys repeat inside shards and across their boundaries
    whole = _one_invocation(aws, check_only=check_only, on_invalid=on_invalid, body=DUPLICATED)
    shards = plan_csv(io.BytesIO(DUPLICATED), shard_size=SHARD_SIZE)
    record = _claimed(
        aws,
        "018f2a3b4c5d0000000000000011",
        check_only=check_only,
        on_invalid=on_invalid,
        body=DUPLICATED,
    )

    # When the shards run phase after phase, as the finalizes say
    phases_run: list[str] = []
    status, result, errors = _sharded(record, shards, phases_run)

    # Then: the errors (codes, lines, messages, columns), counts and status of one invocation
    assert whole.result is not None
    assert phases_run == ran
    assert status is whole.status
    counts = ("rows_total", "rows_valid", "rows_invalid", "rows_written", "errors_truncated")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}
    assert errors == whole.errors
    duplicates = [e for e in errors if e.code == "duplicate_key"]
    assert len(duplicates) == 7  # rows 4, 14, 17, 23, 24, 31, 37
    assert duplicates[0].column == 1 and duplicates[0].field == "external_id"
    # some name a line in their own shard, some a line in an earlier one
    same = [
        _shard_of(shards, e.line) == _shard_of(shards, _first_line(e.message)) for e in duplicates
    ]
    assert any(same) and not all(same)
    assert status is (FileStatus.SUCCEEDED if on_invalid == "skip" else FileStatus.FAILED)


def test_with_skip_the_first_row_of_a_repeated_key_is_what_stays(aws: Resources) -> None:
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000012", check_only=False, on_invalid="skip", body=DUPLICATED
    )

    status, result, _ = _sharded(record, plan_csv(io.BytesIO(DUPLICATED), shard_size=SHARD_SIZE))

    assert status is FileStatus.SUCCEEDED
    stored = _records(aws)
    assert len(stored) == result.rows_written == result.rows_valid
    firsts = {"c-1": "P1", "c-2": "P2", "c-3": "P3", "c-10": "P12", "c-16": "P16"}
    assert {k: stored[k]["first_name"] for k in firsts} == firsts
    assert stored["c-2"]["email"] == "p2@example.com"


def test_fail_with_repeated_keys_writes_nothing(aws: Resources) -> None:
    # Every row valid, but one key twice, in shards far apart
    clean = b"external_id,email,first_name\n" + b"".join(
        f"c-{i % 19},p{i}@example.com,P{i}\n".encode() for i in range(1, 21)
    )
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000013", check_only=False, on_invalid="fail", body=clean
    )
    phases_run: list[str] = []

    status, result, errors = _sharded(
        record, plan_csv(io.BytesIO(clean), shard_size=SHARD_SIZE), phases_run
    )

    assert phases_run == ["validate", "locate"]
    assert status is FileStatus.FAILED
    assert [(e.line, e.code, e.message) for e in errors] == [
        (21, "duplicate_key", "external_id repeats the value first seen on line 2")
    ]
    assert (result.rows_valid, result.rows_invalid, result.rows_written) == (19, 1, 0)
    assert _records(aws) == {}


@pytest.mark.parametrize(("check_only", "on_invalid"), [(True, "fail"), (False, "skip")])
def test_a_key_on_hundreds_of_rows_across_shards_is_what_one_invocation_reports(
    aws: Resources, check_only: bool, on_invalid: str
) -> None:
    # 300 valid rows, 240 of them with the key c-1: more later rows than a shard's report lists
    body = b"external_id,email,first_name\n" + b"".join(
        f"{f'c-{i}' if i % 5 == 0 else 'c-1'},p{i}@example.com,P{i}\n".encode()
        for i in range(1, 301)
    )
    whole = _one_invocation(aws, check_only=check_only, on_invalid=on_invalid, body=body)
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000014", check_only=check_only, on_invalid=on_invalid, body=body
    )
    shards = plan_csv(io.BytesIO(body), shard_size=1000)
    reports: list[bytes] = []

    status, result, errors = _sharded(record, shards, reports=reports)

    assert whole.result is not None
    assert len(shards) >= 6
    assert status is whole.status
    counts = ("rows_total", "rows_valid", "rows_invalid", "rows_written", "errors_truncated")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}
    assert result.rows_invalid == 239
    assert errors == whole.errors
    assert len(errors) == 100 and {e.message for e in errors} == {
        "external_id repeats the value first seen on line 2"
    }
    # and the full report lists every later row, as one invocation's does
    assert whole.error_report_key is not None
    s3 = boto3.client("s3")
    report = s3.get_object(Bucket=aws.names.bucket, Key=whole.error_report_key)["Body"].read()
    assert reports == [report]
    assert report.count(b"duplicate_key") == 239


def test_more_repeated_keys_than_are_located_is_said_as_one_invocation_says_it(
    aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given both runs locate only 3 repeated keys (100,000 in production)
    from functools import partial

    from intake.ingest import duplicates
    from intake.logic import run_execution, shard_runs

    monkeypatch.setattr(run_execution, "KeyTracker", partial(duplicates.KeyTracker, max_repeated=3))
    monkeypatch.setattr(
        shard_runs, "repeated_across", partial(duplicates.repeated_across, max_repeated=3)
    )
    body = _csv({i: f"c-{i - 20}" for i in range(21, 41)})  # rows 21-40 repeat rows 1-20
    whole = _one_invocation(aws, check_only=True, on_invalid="fail", body=body)
    record = _claimed(
        aws, "018f2a3b4c5d0000000000000015", check_only=True, on_invalid="fail", body=body
    )

    status, result, errors = _sharded(record, plan_csv(io.BytesIO(body), shard_size=SHARD_SIZE))

    assert whole.result is not None
    assert status is whole.status is FileStatus.FAILED
    counts = ("rows_total", "rows_valid", "rows_invalid", "errors_truncated")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}
    assert errors == whole.errors
    assert errors[-1].line is None and "only 3 repeated keys are located" in errors[-1].message


def test_json_lines_with_keys_repeated_across_shards_read_by_ranges(
    aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given JSON Lines (no header: errors have no column) and a finalize that reads every
    # shard's hashes group by group with ranged GETs, as it does past 4Mi rows
    from intake.logic import shard_runs

    monkeypatch.setattr(shard_runs, "WHOLE_HASHES", 0)
    body = b"".join(
        json.dumps(
            {"external_id": f"c-{i % 17}", "email": f"p{i}@example.com", "first_name": f"P{i}"}
        ).encode()
        + b"\n"
        for i in range(1, 41)
    )
    jsonl = "application/x-ndjson"
    whole = _one_invocation(aws, check_only=True, on_invalid="fail", body=body, media_type=jsonl)
    record = _claimed(
        aws,
        "018f2a3b4c5d0000000000000016",
        check_only=True,
        on_invalid="fail",
        body=body,
        media_type=jsonl,
    )
    shards = plan_jsonl(io.BytesIO(body), shard_size=300)

    status, result, errors = _sharded(record, shards)

    assert len(shards) >= 5
    assert whole.result is not None
    assert status is whole.status is FileStatus.FAILED
    counts = ("rows_total", "rows_valid", "rows_invalid", "errors_truncated")
    assert {n: getattr(result, n) for n in counts} == {n: getattr(whole.result, n) for n in counts}
    assert errors == whole.errors
    assert len(errors) == 23 and errors[0].line == 18 and errors[0].column is None
    assert errors[0].message == "external_id repeats the value first seen on line 1"


@pytest.mark.parametrize(
    ("check_only", "on_invalid", "ran", "status"),
    [
        (True, "fail", ["validate", "locate"], FileStatus.VALIDATED),
        (False, "fail", ["validate", "locate", "write"], FileStatus.SUCCEEDED),
        (False, "skip", ["single", "locate"], FileStatus.SUCCEEDED),
    ],
)
def test_keys_whose_hashes_collide_are_not_duplicates(
    aws: Resources,
    monkeypatch: pytest.MonkeyPatch,
    check_only: bool,
    on_invalid: str,
    ran: list[str],
    status: FileStatus,
) -> None:
    # Given the finalize's hash check says two distinct keys' hashes repeat (what a 64-bit
    # collision would make it say), in a file where every key is distinct
    from intake.ingest.duplicates import RepeatedKeys, stable_hash
    from intake.logic import shard_runs

    collided = RepeatedKeys(
        frozenset({stable_hash("c-3"), stable_hash("c-15")}),
        total=2,
        extra_rows=1,
        unlocated_rows=0,
    )
    monkeypatch.setattr(shard_runs, "repeated_across", lambda dumps: collided)
    clean = b"external_id,email,first_name\n" + b"".join(
        f"c-{i},p{i}@example.com,P{i}\n".encode() for i in range(1, 21)
    )
    record = _claimed(
        aws,
        "018f2a3b4c5d0000000000000017",
        check_only=check_only,
        on_invalid=on_invalid,
        body=clean,
    )
    phases_run: list[str] = []

    # When the locate phase compares the exact keys
    end, result, errors = _sharded(
        record, plan_csv(io.BytesIO(clean), shard_size=SHARD_SIZE), phases_run
    )

    # Then nothing repeats: the run goes on as it would have without the collision
    assert phases_run == ran
    assert (end, errors) == (status, [])
    assert (result.rows_valid, result.rows_invalid) == (20, 0)
    assert result.rows_written == len(_records(aws)) == (0 if check_only else 20)

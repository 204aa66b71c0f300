"""The status table: one item per file; every state change is a conditional write."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from intake.aws import resource
from intake.clock import FILE_ID_PATTERN
from intake.dal.cursors import decode_cursor, encode_cursor
from intake.errors import Conflict, NotFound, RetryLater
from intake.models.db import (
    ACTIVE_RUN_ATTRIBUTES,
    ACTIVE_RUNS_INDEX,
    ACTIVE_STATUS,
    REQUEUES,
    STALE_AT,
    active_run_from_item,
    digest_key,
    file_key,
    from_item,
    iso,
    tenant_partition,
    to_attr,
    to_item,
)
from intake.models.domain import (
    TERMINAL,
    TRANSITIONS,
    ActiveRun,
    FileRecord,
    FileStatus,
    ImportResult,
    OnInvalid,
    Progress,
    RowError,
    ShardPhase,
    ShardReport,
)
from intake.models.mapping import Mapping
from intake.observability import logger
from intake.settings import get_settings

_MAX_PAGES_PER_LIST = 10
_CURSOR_KEY = re.compile("FILE#" + FILE_ID_PATTERN.strip("^$"))


def _table() -> Any:
    return resource("dynamodb").Table(get_settings().status_table)


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def create(record: FileRecord) -> bool:
    """Store a new file. False if one with the same id exists (a redelivered registration)."""
    item = to_item(record)
    try:
        _table().put_item(Item=item, ConditionExpression=Attr("pk").not_exists())
    except ClientError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def get(tenant: str, file_id: str) -> FileRecord:
    item = _table().get_item(Key=file_key(tenant, file_id), ConsistentRead=True).get("Item")
    if item is None:
        raise NotFound(f"file {file_id} not found")
    return from_item(item)


def transition(
    tenant: str,
    file_id: str,
    to: FileStatus,
    *,
    now: datetime,
    expect: Iterable[FileStatus] | None = None,
    condition: Any = None,
    remove: Iterable[str] = (),
    **changes: Any,
) -> FileRecord:
    """Move a file to `to` only if it is in one of the allowed states; return the new record.

    `expect` narrows the allowed previous states (default: every state the state machine
    allows). Raises NotFound if there is no such file, Conflict if another writer moved it.
    Every transition also keeps the file's entry in the active-runs index true (_active_run).
    """
    allowed = set(TRANSITIONS[to] if expect is None else expect)
    if not allowed <= TRANSITIONS[to] | ({to} if to is FileStatus.PROCESSING else set()):
        raise ValueError(f"{sorted(allowed)} -> {to} is not a transition of the state machine")
    cond = Attr("pk").exists() & Attr("status").is_in([s.value for s in allowed])
    if condition is not None:
        cond = cond & condition
    values = {**changes, "updated_at": now}
    if to in TERMINAL and get_settings().status_retention_days:
        values["ttl"] = int(
            (now + timedelta(days=get_settings().status_retention_days)).timestamp()
        )
    # QUEUED -> PROCESSING starts the run's work: requeues counted while it waited in QUEUED
    # do not count against its attempts (a takeover, PROCESSING -> PROCESSING, keeps them).
    fresh_claim = to is FileStatus.PROCESSING and FileStatus.PROCESSING not in allowed
    active, gone = _active_run(
        to, now=now, lease_until=changes.get("lease_until"), fresh_claim=fresh_claim
    )
    values.update(active)
    # The status is set last: a store that applies SET clauses one by one (moto does) never
    # shows a reader the new status without the fields that come with it (result, reason).
    values["status"] = to.value
    return _update(tenant, file_id, values, remove=[*remove, *gone], condition=cond)


def _active_run(
    to: FileStatus, *, now: datetime, lease_until: datetime | None, fresh_claim: bool = False
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The active-runs index entry a file in state `to` has: (attributes to set, to remove).

    QUEUED: overdue once its message has waited the grace period (a new run: no requeues yet).
    PROCESSING: overdue when its lease ends. Every other state: not in the index at all.
    """
    if to is FileStatus.QUEUED:
        grace = timedelta(seconds=get_settings().queued_run_grace_seconds)
        return {ACTIVE_STATUS: to.value, STALE_AT: now + grace}, (REQUEUES,)
    if to is FileStatus.PROCESSING:
        if lease_until is None:
            raise ValueError("a PROCESSING file holds a lease: lease_until is required")
        return {ACTIVE_STATUS: to.value, STALE_AT: lease_until}, (REQUEUES,) if fresh_claim else ()
    return {}, ACTIVE_RUN_ATTRIBUTES


def update_fields(
    tenant: str, file_id: str, *, expect_status: FileStatus, condition: Any = None, **changes: Any
) -> FileRecord:
    """Change fields (progress, lease) of a file without changing its state.

    A new `lease_until` (renewed, or released after a failure) is also when the sweep will
    find the run overdue.
    """
    cond = Attr("status").eq(expect_status.value)
    if condition is not None:
        cond = cond & condition
    if changes.get("lease_until") is not None and expect_status is FileStatus.PROCESSING:
        changes.setdefault(STALE_AT, changes["lease_until"])
    return _update(tenant, file_id, changes, remove=(), condition=cond)


def _update(
    tenant: str, file_id: str, values: dict[str, Any], *, remove: Iterable[str], condition: Any
) -> FileRecord:
    names: dict[str, str] = {}
    attr_values: dict[str, Any] = {}
    sets = []
    for i, (name, value) in enumerate(values.items()):
        names[f"#set{i}"] = name
        attr_values[f":set{i}"] = to_attr(value)
        sets.append(f"#set{i} = :set{i}")
    expression = "SET " + ", ".join(sets)
    removals = []
    for j, name in enumerate(remove):
        names[f"#del{j}"] = name
        removals.append(f"#del{j}")
    if removals:
        expression += " REMOVE " + ", ".join(removals)
    try:
        response = _table().update_item(
            Key=file_key(tenant, file_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attr_values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if not _is_condition_failure(exc):
            raise
        current = get(tenant, file_id)  # NotFound if it does not exist at all
        raise Conflict(
            f"file {file_id} is {current.status.value}",
            details=[{"field": "status", "code": "illegal_state", "message": current.status.value}],
        ) from None
    return from_item(response["Attributes"])


def list_files(
    tenant: str,
    *,
    limit: int,
    cursor: str | None,
    status: FileStatus | None = None,
    import_type: str | None = None,
) -> tuple[list[FileRecord], str | None]:
    """Newest first. Filters apply before paging, so a page is full unless the list ends."""
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_partition(tenant))
        & Key("sk").begins_with("FILE#"),
        "ScanIndexForward": False,
    }
    filters = []
    if status is not None:
        filters.append(Attr("status").eq(status.value))
    if import_type is not None:
        filters.append(Attr("import_type").eq(import_type))
    if filters:
        combined = filters[0]
        for extra in filters[1:]:
            combined = combined & extra
        query["FilterExpression"] = combined
    start = decode_cursor(cursor, tenant, sort_key=_CURSOR_KEY) if cursor else None
    items: list[FileRecord] = []
    for _ in range(_MAX_PAGES_PER_LIST):
        page_query = dict(query, Limit=max(limit - len(items), 1) if not filters else 100)
        if start:
            page_query["ExclusiveStartKey"] = start
        page = _table().query(**page_query)
        for raw in page.get("Items", []):
            items.append(from_item(raw))
            if len(items) == limit:
                last = file_key(tenant, items[-1].file_id)
                return items, encode_cursor(tenant, last["sk"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items, None
    return items, encode_cursor(tenant, start["sk"]) if start else None


# --- runs: the run and lease protocol ------------------------------------------------------
# logic/run_requests.py asks for runs, logic/run_execution.py executes them, logic/sweep.py
# rescues the stuck ones. Each operation is one conditional write on the file's item (a claim
# reads it first), keyed on the run's number: a stale or duplicated message never touches a
# newer run. Two deliveries of one run share the number: the lease keeps them apart.


# The terminal states a run ends in (REJECTED and EXPIRED are an upload's).
_RUN_ENDS = (FileStatus.SUCCEEDED, FileStatus.VALIDATED, FileStatus.FAILED)


def _this_run(run: int) -> Any:
    return Attr("run").eq(run)


def _lease_over(now: datetime) -> Any:
    return Attr("lease_until").lt(iso(now))


def queue_run(
    record: FileRecord,
    *,
    now: datetime,
    check_only: bool,
    on_invalid: OnInvalid,
    mapping: Mapping | None = None,
    profile: str | None = None,
    import_type: str | None = None,
    duplicate_of: str | None = None,
) -> FileRecord:
    """The file, in the state `record` saw, -> QUEUED as its next run (`record.run + 1`).

    A `mapping` replaces the file's mapping, and `profile` its profile (None: the mapping is
    inline, so the file names no profile). An `import_type` replaces the file's type, and
    `duplicate_of` is the earlier SUCCEEDED file of that type with the same bytes (None: there
    is none). A run that may write records (not check_only) fixes the file's type for good.
    All in the one conditional write, so the run reads what it was queued with. Conflict if the
    file moved on since `record` was read.
    """
    replaced: dict[str, Any] = {}
    removed: list[str] = []
    if mapping is not None:
        replaced["mapping"] = mapping
        if profile is not None:
            replaced["profile"] = profile
        else:
            removed.append("profile")
    if import_type is not None:
        replaced["import_type"] = import_type
        if duplicate_of is not None:
            replaced["duplicate_of"] = duplicate_of
        elif record.duplicate_of is not None:
            removed.append("duplicate_of")  # it named a file of the old type
    if not check_only:
        replaced["import_type_fixed"] = True
    return transition(
        record.tenant,
        record.file_id,
        FileStatus.QUEUED,
        now=now,
        expect=[record.status],
        remove=removed,
        run=record.run + 1,
        check_only=check_only,
        on_invalid=on_invalid,
        **replaced,
    )


def restore_after_failed_queue(record: FileRecord, *, run: int, now: datetime) -> None:
    """Undo our own QUEUED claim when the queue refused the run's message (see
    logic/run_requests.py), including a mapping, profile or import type the claim replaced."""
    kept = {
        name: getattr(record, name)
        for name in ("mapping", "profile", "import_type", "duplicate_of", "import_type_fixed")
    }
    try:
        _update(
            record.tenant,
            record.file_id,
            {
                "updated_at": now,
                "run": record.run,
                "check_only": record.check_only,
                "on_invalid": record.on_invalid,
                **{name: value for name, value in kept.items() if value is not None},
                "status": record.status.value,  # last, as in transition()
            },
            # no run is active any more
            remove=[*ACTIVE_RUN_ATTRIBUTES, *(n for n, v in kept.items() if v is None)],
            condition=Attr("status").eq(FileStatus.QUEUED.value) & _this_run(run),
        )
    except Conflict:
        pass  # someone else moved it on; nothing of ours to undo


def claim_run(
    tenant: str, file_id: str, run: int, *, now: datetime, lease: timedelta
) -> FileRecord | None:
    """Run `run` of the file, held by the caller for `lease` from `now`: QUEUED -> PROCESSING
    (the run starts afresh: no errors, warnings, result, report or reason of an earlier run), or
    a PROCESSING run whose lease has expired taken over as it is (its worker died or released
    it).

    None when there is nothing to claim: no such file, a file on another run or in another
    state (a stale or duplicated message), or another delivery claimed it first. RetryLater
    while another delivery holds a live lease on the run.
    """
    try:
        record = get(tenant, file_id)
    except NotFound:
        logger.warning("import message for an unknown file", extra={"file_id": file_id})
        return None
    if record.run != run or record.status not in (FileStatus.QUEUED, FileStatus.PROCESSING):
        logger.info("stale import message dropped", extra={"status": record.status.value})
        return None
    if record.status is FileStatus.PROCESSING and record.execution:
        # Handed to the sharded-runs state machine, whose steps hold the lease from now on; a
        # message that comes back (the worker stopped after handing it over) has nothing to do.
        logger.info("run is in its state machine's hands", extra={"execution": record.execution})
        return None
    lease_until = now + lease
    try:
        if record.status is FileStatus.QUEUED:
            return transition(
                tenant,
                file_id,
                FileStatus.PROCESSING,
                now=now,
                # Only from QUEUED: FAILED -> PROCESSING is a redriven execution's, and a late
                # duplicate of this message must not take up a run that has ended.
                expect=[FileStatus.QUEUED],
                condition=_this_run(run),
                lease_until=lease_until,
                progress=Progress(total=record.size),
                remove=(
                    "errors",
                    "warnings",
                    "result",
                    "error_report_key",
                    "reason",
                    "execution",
                    "redrivable",
                ),
            )
        if record.lease_until and record.lease_until > now:
            raise RetryLater(f"run {record.run} is held until {record.lease_until.isoformat()}")
        logger.warning("taking over a run whose lease expired")
        return transition(
            tenant,
            file_id,
            FileStatus.PROCESSING,
            now=now,
            expect=[FileStatus.PROCESSING],
            condition=_this_run(run) & _lease_over(now),
            lease_until=lease_until,
        )
    except Conflict:
        return None  # another delivery claimed it first


def renew_lease(record: FileRecord, *, done: int, now: datetime, lease: timedelta) -> None:
    """The claimed run `record` has read `done` bytes of the file, and holds its lease for
    `lease` from `now` (which is also when the sweep would find it overdue). Conflict if the run
    is not PROCESSING any more (it finished, or the sweep failed it)."""
    update_fields(
        record.tenant,
        record.file_id,
        expect_status=FileStatus.PROCESSING,
        condition=_this_run(record.run),
        progress=Progress(done=done, total=record.size),
        lease_until=now + lease,
    )


def finish_run(
    record: FileRecord,
    status: FileStatus,
    *,
    now: datetime,
    result: ImportResult,
    errors: list[RowError],
    warnings: list[RowError],
    report_key: str | None,
    reason: str | None,
) -> FileRecord:
    """The claimed run `record`, PROCESSING -> `status` (SUCCEEDED, VALIDATED or FAILED), with
    what it found: the result, the first errors and warnings, the full report's key and, for a
    failure, the reason. Its progress reads complete and its lease is gone; a reason a failed
    attempt of this run left on the file goes too, unless `reason` replaces it. Conflict if the
    run is not PROCESSING any more (e.g. the sweep failed it)."""
    if status not in _RUN_ENDS:
        raise ValueError(f"a run does not end {status.value}")
    changes: dict[str, Any] = {
        "result": result,
        "errors": errors,
        "warnings": warnings,
        "progress": Progress(done=record.size, total=record.size),
    }
    if report_key:
        changes["error_report_key"] = report_key
    if reason:
        changes["reason"] = reason
    return transition(
        record.tenant,
        record.file_id,
        status,
        now=now,
        condition=_this_run(record.run),
        # A failed attempt of this run left its reason on the file: this attempt finished it.
        remove=("lease_until",) if reason else ("lease_until", "reason"),
        **changes,
    )


def release(record: FileRecord, *, reason: str, now: datetime) -> None:
    """A worker's attempt at the claimed run `record` raised: its lease ends now, so the
    redelivery SQS makes within the queue's visibility timeout takes the run over at once, and
    the file says what stopped the attempt (`reason`). SQS owns that retry: the run sweep finds
    the run overdue only if no redelivery came by then (a lost or dead-lettered message).
    Conflict if the run is not PROCESSING any more."""
    redelivery = timedelta(seconds=get_settings().queue_visibility_seconds)
    update_fields(
        record.tenant,
        record.file_id,
        expect_status=FileStatus.PROCESSING,
        condition=_this_run(record.run),
        lease_until=now - timedelta(seconds=1),
        reason=reason,
        **{STALE_AT: now + redelivery},
    )


def fail_run(
    tenant: str, file_id: str, run: int, *, reason: str, now: datetime
) -> FileRecord | None:
    """PROCESSING -> FAILED for run `run`, whose last delivery failed, with the reason. Never
    under a live lease: another delivery may be finishing the run right now. None if there is
    no such run to fail (no such file, another run or state, a live lease)."""
    return _fail_processing(
        tenant, file_id, condition=_this_run(run) & _lease_over(now), reason=reason, now=now
    )


def _fail_processing(
    tenant: str, file_id: str, *, condition: Any, reason: str, now: datetime, **changes: Any
) -> FileRecord | None:
    """PROCESSING -> FAILED under `condition`, with the reason; None if it does not hold."""
    try:
        return transition(
            tenant,
            file_id,
            FileStatus.FAILED,
            now=now,
            expect=[FileStatus.PROCESSING],
            condition=condition,
            reason=reason,
            remove=("lease_until",),
            **changes,
        )
    except (Conflict, NotFound):
        return None


# --- sharded runs: the state machine's hold on a run ---------------------------------------


def hand_over_run(
    record: FileRecord, *, execution: str, now: datetime, lease: timedelta
) -> FileRecord:
    """The claimed run `record` is run from now on by the sharded-runs state machine's
    execution `execution` (its name): a redelivered message leaves it alone (`claim_run`), the
    execution's steps hold the lease (`hold_sharded_run`), and only a stop of that execution
    fails it (`fail_sharded_run`). Conflict if the run is not PROCESSING any more."""
    return update_fields(
        record.tenant,
        record.file_id,
        expect_status=FileStatus.PROCESSING,
        condition=_this_run(record.run),
        execution=execution,
        lease_until=now + lease,
    )


def hold_sharded_run(
    tenant: str,
    file_id: str,
    run: int,
    *,
    now: datetime,
    lease: timedelta,
    progress: Progress | None = None,
    take_up: bool = False,
) -> FileRecord:
    """A step of run `run`'s execution holds the PROCESSING run for `lease` from `now` (and
    sets its `progress`, if given). `take_up`, for a step's first hold only: a run that FAILED
    when its execution stopped (`fail_sharded_run`) is taken up again (FAILED -> PROCESSING,
    the failure's reason gone), as only a redriven execution's step starts after that. A
    renewal never does: a shard still finishing after its execution failed (Step Functions
    stops the execution, not the Lambda invocations in flight) must not revive the run.

    Conflict when the run is not this step's to run: another run was queued since, the run
    ended, or the sweep failed it (or it failed and this is not a step's first hold). NotFound
    if the file is gone.
    """
    changes: dict[str, Any] = {"lease_until": now + lease}
    if progress is not None:
        changes["progress"] = progress
    # Not conditional on `execution`: the worker marks the run after starting the execution,
    # whose first step may come first.
    held = _this_run(run)
    try:
        return update_fields(
            tenant, file_id, expect_status=FileStatus.PROCESSING, condition=held, **changes
        )
    except Conflict:
        if not take_up:
            raise
    logger.warning("a redriven execution takes its failed run up again")
    return transition(
        tenant,
        file_id,
        FileStatus.PROCESSING,
        now=now,
        expect=[FileStatus.FAILED],
        condition=held & Attr("redrivable").eq(True),  # only fail_sharded_run sets it
        remove=("reason", "redrivable"),
        **changes,
    )


def shard_reported(record: FileRecord, *, size: int, now: datetime, lease: timedelta) -> None:
    """One more shard of the current pass reported, having read `size` bytes: the progress
    counts it (atomically: shards report concurrently) and the lease is renewed."""
    lease_until = now + lease
    try:
        _table().update_item(
            Key=file_key(record.tenant, record.file_id),
            UpdateExpression=(
                "SET progress.done = progress.done + :size, "
                "progress.shards.done = progress.shards.done + :one, "
                "lease_until = :lease, #stale = :lease"
            ),
            ConditionExpression=Attr("status").eq(FileStatus.PROCESSING.value)
            & _this_run(record.run)
            & Attr("progress.shards").exists(),
            ExpressionAttributeNames={"#stale": STALE_AT},
            ExpressionAttributeValues={":size": size, ":one": 1, ":lease": iso(lease_until)},
        )
    except ClientError as exc:
        if not _is_condition_failure(exc):
            raise
        raise Conflict(f"file {record.file_id} is not running run {record.run}") from None


def fail_sharded_run(
    tenant: str, file_id: str, run: int, *, execution: str, reason: str, now: datetime
) -> FileRecord | None:
    """Run `run`, whose execution `execution` stopped (failed, timed out or was aborted),
    PROCESSING -> FAILED with the reason, whatever its lease says (no other attempt runs a
    sharded run), and redrivable: a redrive of the execution takes it up again. None if the
    run is not that execution's, or not PROCESSING (it ended, or another run was queued)."""
    # Under a live lease too: a stopped execution's steps hold it no more.
    return _fail_processing(
        tenant,
        file_id,
        condition=_this_run(run) & Attr("execution").eq(execution),
        reason=reason,
        now=now,
        redrivable=True,
    )


# --- shards: one report per shard and phase of a sharded run -------------------------------
# In the tenant's partition but not under FILE#, so listings (begins_with FILE#) never see them.
# The index is zero-padded: a query returns a run's reports in shard order.
_SHARD_PREFIX = "SHARD#"


def _shard_prefix(tenant: str, file_id: str, run: int, phase: ShardPhase) -> dict[str, str]:
    return {"pk": tenant_partition(tenant), "sk": f"{_SHARD_PREFIX}{file_id}#{run}#{phase}#"}


def _shard_key(
    tenant: str, file_id: str, run: int, index: int, phase: ShardPhase
) -> dict[str, str]:
    key = _shard_prefix(tenant, file_id, run, phase)
    return {**key, "sk": f"{key['sk']}{index:06d}"}


def record_shard(
    tenant: str, file_id: str, run: int, index: int, *, phase: ShardPhase, report: ShardReport
) -> ShardReport:
    """Report what shard `index` of run `run` found in `phase`, once: the first report of a
    shard and phase is kept (a conditional put), so a retried shard never counts twice.

    Returns the report that counts. A second identical report (a retry that read the same
    pinned bytes) is a no-op. A second report that differs (only a change of code between two
    attempts could make one) changes nothing either: the first stands, is returned, and the
    difference is logged, because the rows the first attempt wrote are the ones counted.
    """
    if report.index != index or report.phase != phase:
        raise ValueError(
            f"a report of shard {report.index} ({report.phase}) is not {index} ({phase})"
        )
    # JSON text, not a map: errors quote the partner's text, and text is what DynamoDB and
    # moto agree on (docs/decisions.md, "Sharded runs: shard reports").
    item: dict[str, Any] = {
        **_shard_key(tenant, file_id, run, index, phase),
        "report": report.model_dump_json(exclude_none=True),
    }
    retention = get_settings().status_retention_days
    if retention:
        item["ttl"] = int(time.time()) + retention * 86400
    try:
        _table().put_item(Item=item, ConditionExpression=Attr("pk").not_exists())
    except ClientError as exc:
        if not _is_condition_failure(exc):
            raise
        stored = _table().get_item(
            Key=_shard_key(tenant, file_id, run, index, phase), ConsistentRead=True
        )["Item"]
        first = _shard_report(stored)
        if first != report:
            logger.warning(
                "a shard reported again, differently; the first report stands",
                extra={
                    "shard": index,
                    "phase": phase,
                    "first": first.model_dump(
                        include={"rows_total", "rows_valid", "rows_invalid", "rows_written"}
                    ),
                },
            )
        return first
    return report


def shard_report(
    tenant: str, file_id: str, run: int, index: int, phase: ShardPhase
) -> ShardReport | None:
    """Shard `index`'s report of run `run` in `phase`, if it has reported."""
    item = (
        _table()
        .get_item(Key=_shard_key(tenant, file_id, run, index, phase), ConsistentRead=True)
        .get("Item")
    )
    return _shard_report(item) if item else None


def shard_reports(tenant: str, file_id: str, run: int, phase: ShardPhase) -> list[ShardReport]:
    """Every report of run `run` in `phase`, in shard order (a consistent, paginated query)."""
    key = _shard_prefix(tenant, file_id, run, phase)
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(key["pk"]) & Key("sk").begins_with(key["sk"]),
        "ConsistentRead": True,
    }
    reports: list[ShardReport] = []
    while True:
        page = _table().query(**query)
        reports.extend(_shard_report(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return reports
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _shard_report(item: dict[str, Any]) -> ShardReport:
    return ShardReport.model_validate_json(str(item["report"]))


# --- duplicates: the first SUCCEEDED file per tenant, import type and SHA-256 ----------------


def first_succeeded_with_digest(tenant: str, import_type: str, sha256: str) -> str | None:
    """The id of the tenant's first file of `import_type` with these bytes that SUCCEEDED."""
    item = (
        _table()
        .get_item(Key=digest_key(tenant, import_type, sha256), ConsistentRead=True)
        .get("Item")
    )
    if item is None or ("ttl" in item and item["ttl"] < time.time()):  # TTL deletes lazily
        return None
    return str(item["file_id"])


def record_first_success(record: FileRecord, *, now: datetime) -> None:
    """Remember `record`, which just SUCCEEDED, as the first file of its tenant and import type
    with its bytes (`record.sha256`). The first file keeps the place (a conditional put); the
    same file succeeding again renews the entry, which expires with the file's status item."""
    if record.sha256 is None:
        raise ValueError("a file without a verified SHA-256 has no digest to record")
    if record.import_type is None:
        raise ValueError("a file without an import type has not run")
    item: dict[str, Any] = {
        **digest_key(record.tenant, record.import_type, record.sha256),
        "file_id": record.file_id,
    }
    retention = get_settings().status_retention_days
    if retention:
        item["ttl"] = int((now + timedelta(days=retention)).timestamp())
    try:
        _table().put_item(
            Item=item,
            ConditionExpression=Attr("pk").not_exists()
            | Attr("file_id").eq(record.file_id)
            | Attr("ttl").lt(int(now.timestamp())),
        )
    except ClientError as exc:
        if not _is_condition_failure(exc):
            raise


# --- the run sweep (logic/sweep.py) ---------------------------------------------------------


def find_overdue_runs(status: FileStatus, *, now: datetime, limit: int) -> list[ActiveRun]:
    """Runs of every tenant in `status` (QUEUED or PROCESSING) overdue at `now`, oldest first.

    Read from the sparse active-runs index, which is eventually consistent: an entry may be a
    moment old, so the operations below re-check on the table itself.
    """
    if status not in (FileStatus.QUEUED, FileStatus.PROCESSING):
        raise ValueError(f"{status} runs are not in the active-runs index")
    query: dict[str, Any] = {
        "IndexName": ACTIVE_RUNS_INDEX,
        "KeyConditionExpression": Key(ACTIVE_STATUS).eq(status.value) & Key(STALE_AT).lt(iso(now)),
    }
    runs: list[ActiveRun] = []
    while len(runs) < limit:
        page = _table().query(**query, Limit=limit - len(runs))
        runs.extend(active_run_from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return runs


def count_requeue(run: ActiveRun, *, now: datetime) -> int | None:
    """Record that the sweep sent `run`'s message again: one more requeue, and the run is not
    overdue again before the grace period has passed. Conditional on the run being as the
    sweep found it (same state and run, still overdue); None if it has moved on since."""
    grace = timedelta(seconds=get_settings().queued_run_grace_seconds)
    try:
        response = _table().update_item(
            Key=file_key(run.tenant, run.file_id),
            UpdateExpression="SET #requeues = if_not_exists(#requeues, :zero) + :one, "
            "#stale_at = :next",
            ConditionExpression=Attr("status").eq(run.status.value)
            & _this_run(run.run)
            & Attr(STALE_AT).lt(iso(now)),
            ExpressionAttributeNames={"#requeues": REQUEUES, "#stale_at": STALE_AT},
            ExpressionAttributeValues={":zero": 0, ":one": 1, ":next": iso(now + grace)},
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as exc:
        if _is_condition_failure(exc):
            return None
        raise
    return int(response["Attributes"][REQUEUES])


def fail_stuck_run(run: ActiveRun, *, reason: str, now: datetime) -> FileRecord | None:
    """PROCESSING -> FAILED for a run whose lease has expired and that nobody took over since
    the sweep found it. None if the run has moved on (finished, claimed, renewed)."""
    if run.status is not FileStatus.PROCESSING:
        raise ValueError("only a PROCESSING run is failed by the sweep (QUEUED -> FAILED skips)")
    try:
        return transition(
            run.tenant,
            run.file_id,
            FileStatus.FAILED,
            now=now,
            expect=[FileStatus.PROCESSING],
            condition=_this_run(run.run) & _lease_over(now) & Attr(STALE_AT).lt(iso(now)),
            remove=("lease_until",),
            reason=reason,
        )
    except (Conflict, NotFound):
        return None

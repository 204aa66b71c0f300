"""A sharded run, step by step, as the sharded-runs state machine invokes it.

A records file over SHARD_THRESHOLD_BYTES is not run in one invocation: the worker claims the
run and hands it to the state machine (run_execution.py), which runs these steps:

    plan -> (shards of one phase, in parallel -> finish) ... until finish ends the run

- `plan` cuts the object into byte-range shards at record boundaries (ingest/shards.py). A
  gzip upload is inflated once, into a plain copy under staging/, and cut there.
- `run_shard` runs one shard in one phase (logic/shard_runs.py) and reports it once. A shard
  that has reported already (a retry after a report, a redriven execution) is not run again.
- `finish` sums a phase's reports: the run either goes on to its next phase (the write phase
  of on_invalid=fail once nothing was invalid) or ends, with the same result, errors, report
  and completion event as a one-invocation run (run_execution.end_run).

Every step holds the run's lease (dal: `hold_sharded_run`); when an execution stops before it
ends the run (a shard failed past its retries, a timeout, an abort), the worker hears of it
from EventBridge and ends the file FAILED, redrivably (`execution_stopped`): a redrive of the
execution takes the run up again and runs only the shards that have not reported.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intake.clock import utcnow
from intake.dal import file_repository, object_store
from intake.dal.events import publish_file_finished
from intake.errors import Conflict, NotFound
from intake.import_types import get_import_type
from intake.import_types.registry import archive_limits
from intake.ingest import media
from intake.ingest.archive import open_archive
from intake.ingest.error_report import ErrorCollector
from intake.ingest.records import FileLevelError
from intake.ingest.shards import (
    NotShardable,
    Readable,
    Shard,
    merge_shards,
    plan_csv,
    plan_json_array,
    plan_jsonl,
    plan_restaged,
)
from intake.ingest.streams import is_gunzipped, open_bytes
from intake.keys import staging_key
from intake.logic import shard_runs
from intake.logic.engine import Outcome
from intake.logic.run_execution import PROGRESS_INTERVAL_SECONDS, end_run, run_ended, run_lease
from intake.models.domain import (
    TERMINAL,
    FileRecord,
    FileStatus,
    ImportResult,
    Progress,
    ShardPhase,
    ShardProgress,
)
from intake.observability import logger, metrics
from intake.settings import get_settings

# A plan's shards travel in the execution's state, which Step Functions caps at 256 KiB: a
# shard is under 200 bytes of JSON, so at most this many, whatever SHARD_SIZE_BYTES says
# (a 10 GiB file at the default 32 MiB is 320 shards): the planner cuts larger shards, and a
# gzip upload's plan (whose inflated size is known only once cut) has neighbours joined.
MAX_SHARDS = 1000


class RunEnded(Exception):
    """The run is not this execution's to run any more: it ended, the sweep failed it, or a
    later run was queued. The step stops; the execution fails and changes nothing."""


class RunRef(BaseModel):
    """Which run a step is for: every step's input names it."""

    model_config = ConfigDict(extra="ignore")

    tenant: str
    file_id: str
    run: int


class StagedObject(BaseModel):
    """The object a run's shards index: the upload itself, or its plain copy under staging/."""

    key: str
    version_id: str | None = None


class ShardStep(RunRef):
    phase: ShardPhase
    shard: dict[str, Any]
    object: StagedObject


class FinishStep(RunRef):
    phase: ShardPhase
    shard_count: int = Field(ge=1)


class ExecutionStopped(BaseModel):
    """EventBridge's "Step Functions Execution Status Change" for an execution that stopped
    without ending its run (the fields used; the rest of the event is ignored)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    input: str
    error: str | None = None


EXECUTION_EVENT_SOURCE = "aws.states"
EXECUTION_EVENT_TYPE = "Step Functions Execution Status Change"


# --- the worker's side ----------------------------------------------------------------------


def execution_stopped(event: dict[str, Any]) -> None:
    """An execution stopped without ending its run: the file ends FAILED, redrivably, saying
    why and how to go on. Nothing happens if the run has ended or moved on."""
    stopped = ExecutionStopped.model_validate(event.get("detail"))
    ref = RunRef.model_validate_json(stopped.input)
    what = {"FAILED": "failed", "TIMED_OUT": "timed out", "ABORTED": "was stopped"}[stopped.status]
    reason = (
        f"the sharded run {what}"
        + (f" ({stopped.error})" if stopped.error else "")
        + f"; redriving execution {stopped.name} finishes the shards that did not report"
    )
    failed = file_repository.fail_sharded_run(
        ref.tenant, ref.file_id, ref.run, execution=stopped.name, reason=reason, now=utcnow()
    )
    if failed is None:
        logger.info("stopped execution's run has ended already", extra={"execution": stopped.name})
        return
    run_ended(failed.status, reason=reason)
    publish_file_finished(failed)


# --- the state machine's steps --------------------------------------------------------------


def _hold(ref: RunRef, progress: Progress | None = None, *, first: bool = False) -> FileRecord:
    """Hold the run (`first`: the step's first hold, which takes up a run whose execution
    failed: only a redriven execution's step starts after that)."""
    try:
        return file_repository.hold_sharded_run(
            ref.tenant,
            ref.file_id,
            ref.run,
            now=utcnow(),
            lease=run_lease(),
            progress=progress,
            take_up=first,
        )
    except (Conflict, NotFound) as exc:
        raise RunEnded(f"run {ref.run} of {ref.file_id} is not running: {exc}") from None


def _pass_progress(total: int, shards: int) -> Progress:
    """A pass starting: none of the `total` bytes its shards read (the object they index: a
    gzip upload's inflated copy, not the upload) read yet, none of its shards reported."""
    return Progress(total=total, shards=ShardProgress(total=shards))


def plan(ref: RunRef) -> dict[str, Any]:
    """Cut the run's object into shards; the first phase runs next."""
    record = _take_up(ref, planned=False)
    if record is None:  # an earlier attempt ended the run (a file it could not read through)
        return _NOTHING_PLANNED
    started = time.monotonic()
    try:
        parts = _plan(record)
    except FileLevelError as exc:
        return _unreadable(record, exc)
    if parts[0].member is not None:
        _stage_members(ref, parts)
    items = _items(parts)
    total = sum(part.shards[-1].end for part in parts)
    _hold(ref, _pass_progress(total, len(items)))
    metrics.add_metric(name="ShardsPlanned", unit="Count", value=len(items))
    logger.info(
        "run planned",
        extra={
            "shards": len(items),
            "planned": sum(len(part.shards) for part in parts),
            "members": sum(part.member is not None for part in parts),
            "staged": parts[0].object.key != record.object_key,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return {
        "shards": items,
        "phase": shard_runs.phases(record)[0],
        "object": parts[0].object.model_dump(),
    }


def _items(parts: list[_Part]) -> list[dict[str, Any]]:
    """The map's items: every part's shards, numbered through the run, at most MAX_SHARDS
    (a gzip upload is cut as it is inflated, at a size worked out from its compressed size;
    past the cap, an archive's members share it by their shards, each keeping at least one).
    A member's shards carry its part number (1-based): its name and staged copy are in the
    run's members manifest, so long member names cost the execution's state nothing."""
    planned = sum(len(part.shards) for part in parts)
    spare = MAX_SHARDS - len(parts)  # each part keeps one shard, and shares out the rest
    items: list[dict[str, Any]] = []
    for number, part in enumerate(parts, 1):
        allowed = len(part.shards)  # under the cap, nothing is joined
        if planned > MAX_SHARDS:
            allowed = 1 + spare * len(part.shards) // planned if len(parts) > 1 else MAX_SHARDS
        for shard in merge_shards(part.shards, allowed):
            item = replace(shard, index=len(items)).to_item()
            if part.member is not None:
                item["part"] = number
            items.append(item)
    return items


def _members_key(ref: RunRef) -> str:
    return staging_key(ref.tenant, ref.file_id, ref.run, "members.json")


def _stage_members(ref: RunRef, parts: list[_Part]) -> None:
    """A ZIP's members manifest: each part's member name and staged copy, by part number."""
    members = [{"member": p.member, **p.object.model_dump()} for p in parts]
    object_store.upload_file(
        _members_key(ref), io.BytesIO(json.dumps(members).encode()), content_type=media.JSON
    )


def _member(ref: RunRef, part: int) -> tuple[str, StagedObject]:
    """Part `part`'s member name and staged copy, from the run's members manifest."""
    with object_store.open_stream(_members_key(ref)) as body:
        entry = json.loads(body.read())[part - 1]
    return str(entry.pop("member")), StagedObject.model_validate(entry)


# The plan's answer when it ended the run: no phase, so the Planned? choice ends the execution.
_NOTHING_PLANNED: dict[str, Any] = {"shards": [], "phase": None, "object": None}


def _unreadable(record: FileRecord, exc: FileLevelError) -> dict[str, Any]:
    """The plan could not read the file through (a gzip cut short or corrupt): the run ends
    FAILED with the file's error, as a one-invocation run's reading does, and the state
    machine ends (no phase)."""
    errors = ErrorCollector(max_errors=get_import_type(record.run_type).max_errors)
    try:
        for error in exc.errors:
            errors.add(error)
        _end(record, FileStatus.FAILED, Outcome(ImportResult(shards=0), exc.error), errors)
    finally:
        errors.close()
    logger.info("run ended by its plan", extra={"code": exc.error.code})
    return _NOTHING_PLANNED


@dataclass(frozen=True)
class _Part:
    """What the plan cut: the upload, its plain copy (gzip), or one ZIP member's plain copy."""

    object: StagedObject
    shards: list[Shard]
    member: str | None = None


def _plan(record: FileRecord) -> list[_Part]:
    size = max(get_settings().shard_size_bytes, math.ceil(record.size / MAX_SHARDS))
    if record.media_type == media.ZIP:
        return _plan_members(record, size)
    cut = _cutter(record, record.media_type, size)
    upload = StagedObject(key=record.object_key, version_id=record.object_version)
    with object_store.open_stream(upload.key, version_id=upload.version_id) as body:
        stream, _ = open_bytes(body)
        if not is_gunzipped(stream):
            try:
                return [_Part(upload, cut(stream))]
            except NotShardable as exc:
                logger.info("run in one shard", extra={"why": str(exc)})
                return [_Part(upload, [Shard.whole(record.size)])]
        # Byte ranges of compressed bytes cannot be read alone: inflate once, into a plain copy.
        return [
            _restaged(stream, staging_key(record.tenant, record.file_id, record.run, "plain"), cut)
        ]


def _plan_members(record: FileRecord, size: int) -> list[_Part]:
    """Each member of a ZIP (all of them files of rows: run_execution._members_shardable)
    inflated once into a plain copy, and cut. An archive breach met while inflating (a member
    larger than it says, a ratio past the limit) ends the plan as it ends a one-invocation
    run: FileLevelError."""
    limits = archive_limits(get_import_type(record.run_type))
    parts = []
    with (
        object_store.open_seekable(record.object_key, version_id=record.object_version) as body,
        open_archive(body, limits) as archive,
    ):
        for number, info in enumerate(archive.members, 1):
            media_type = media.member_media_type(info.filename)
            if media_type is None:
                raise ValueError(f"member {info.filename!r} is not a file of rows")
            key = staging_key(record.tenant, record.file_id, record.run, f"member-{number:04d}")
            with archive.open(info) as stream:
                part = _restaged(stream, key, _cutter(record, media_type, size))
            parts.append(replace(part, member=info.filename))
    return parts


def _restaged(stream: Readable, key: str, cut: Callable[[Readable], list[Shard]]) -> _Part:
    with object_store.staged_upload(key) as staging:
        try:
            shards = plan_restaged(stream, staging.write, cut)
        except NotShardable as exc:
            logger.info("run in one shard", extra={"why": str(exc)})
            shards = [Shard.whole(staging.size)]
    return _Part(StagedObject(key=key, version_id=staging.version_id), shards)


def _cutter(record: FileRecord, media_type: str, size: int) -> Callable[[Readable], list[Shard]]:
    """How a plain stream of `media_type` is cut into shards of about `size` bytes."""
    mapping = record.mapping

    def cut(stream: Readable) -> list[Shard]:
        if media_type == media.CSV:
            return plan_csv(
                stream,
                shard_size=size,
                encoding=mapping.encoding if mapping else None,
                delimiter=(mapping.delimiter if mapping else None) or record.csv_delimiter,
            )
        if media_type == media.JSONL:
            return plan_jsonl(stream, shard_size=size)
        return plan_json_array(stream, shard_size=size)

    return cut


class _LeaseKeeper:
    """Holds the run while a long shard reads, at most every few seconds: the lease never
    runs out under a shard that is still working (the sweep would take it for stuck).

    A run's only shard (a file the plan could not cut) also shows the bytes it has read, as a
    one-invocation run's progress does; a shard of many counts in the progress when it
    reports (shards report concurrently, so only whole shards add up exactly)."""

    def __init__(self, ref: RunRef, only: Progress | None) -> None:
        self._ref = ref
        self._only = only
        self._last = time.monotonic()
        self.shown = 0  # the bytes the progress shows this shard has read

    def __call__(self, bytes_read: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last = now
        if self._only is None:
            _hold(self._ref)
            return
        self.shown = min(bytes_read, self._only.total)
        _hold(self._ref, self._only.model_copy(update={"done": self.shown}))


def _only_shard(record: FileRecord) -> Progress | None:
    """The progress of a pass that has one shard, at its start; None for a pass of many."""
    progress = record.progress
    if progress is None or progress.shards is None or progress.shards.total != 1:
        return None
    return _pass_progress(progress.total, 1)


def run_shard(step: ShardStep) -> dict[str, Any]:
    """Run one shard in one phase and report it, once."""
    record = _hold(step, first=True)
    item = dict(step.shard)
    part = item.pop("part", None)  # an archive member's shard reads its own staged copy
    shard = Shard.from_item(item)
    done = file_repository.shard_report(
        step.tenant, step.file_id, step.run, shard.index, step.phase
    )
    if done is not None:
        logger.info("shard reported already", extra={"shard": shard.index, "phase": step.phase})
        return {"index": shard.index, "rows": done.rows_total}
    member, staged = _member(step, part) if part is not None else (None, step.object)
    only = _only_shard(record)
    if only is not None:
        _hold(step, only)  # a retried shard's bytes count from 0 again
    keeper = _LeaseKeeper(step, only)
    report = shard_runs.run_shard(
        record,
        shard,
        phase=step.phase,
        object_key=staged.key,
        version_id=staged.version_id,
        member=member,
        on_progress=keeper,
    )
    try:
        file_repository.shard_reported(
            record, size=max(0, shard.size - keeper.shown), now=utcnow(), lease=run_lease()
        )
    except Conflict as exc:
        raise RunEnded(str(exc)) from None
    metrics.add_metric(name="ShardsRun", unit="Count", value=1)
    return {"index": shard.index, "rows": report.rows_total}


def _take_up(ref: RunRef, *, planned: bool) -> FileRecord | None:
    """A plan's or finish's first hold; None when an earlier attempt of the step had ended
    the run (Step Functions ran it again, e.g. after a Lambda service error on its answer):
    the execution then ends as the run did, rather than failing over a file that ended."""
    try:
        return _hold(ref, first=True)
    except RunEnded:
        if not _ended_by_a_step(ref, planned=planned):
            raise
    logger.info("run ended by an earlier attempt of this step")
    return None


def _ended_by_a_step(ref: RunRef, *, planned: bool) -> bool:
    """Whether the run ended through a step of its execution (its result counts shards: at
    least one for a finish, none for a plan that could not read the file), not by the sweep,
    a stopped execution or a later run."""
    try:
        record = file_repository.get(ref.tenant, ref.file_id)
    except NotFound:
        return False
    return (
        record.run == ref.run
        and record.status in TERMINAL
        and record.result is not None
        and record.result.shards is not None
        and (record.result.shards > 0) == planned
    )


def finish(step: FinishStep) -> dict[str, Any]:
    """Sum the phase's shard reports; end the run, or start its next phase. ShardsMissing
    (retried by the state machine) while a shard has not reported."""
    record = _take_up(step, planned=True)
    if record is None:  # an earlier attempt ended the run
        return {"phase": None}
    summed = shard_runs.finish_sharded(record, step.shard_count, phase=step.phase)
    try:
        if summed.next_phase is not None:
            total = record.progress.total if record.progress else record.size
            _hold(step, _pass_progress(total, step.shard_count))
            logger.info("next phase", extra={"phase": summed.next_phase})
            return {"phase": summed.next_phase}
        assert summed.status is not None
        _end(record, summed.status, summed.outcome, summed.errors)
    finally:
        summed.errors.close()
    metrics.add_metric(name="RowsProcessed", unit="Count", value=summed.outcome.result.rows_total)
    return {"phase": None}


def _end(record: FileRecord, status: FileStatus, outcome: Outcome, errors: ErrorCollector) -> None:
    """End the run from a step, as one invocation ends it (RunEnded if it is not running)."""
    try:
        end_run(record, status, outcome, errors)
    except Conflict as exc:
        raise RunEnded(str(exc)) from None
    run_ended(status, result=outcome.result.model_dump(), sharded=True)

"""The run sweep: find runs stuck in QUEUED or PROCESSING and requeue them, or fail them.

A run is stuck when nothing moved it for longer than it should take:
- PROCESSING past its lease: the worker that held it died (timeout, out of memory), and the
  run would wait for SQS to redeliver its message, which takes the queue's visibility timeout
  (90 minutes), or never happens when that was the message's last delivery. A run released
  after an error is SQS's to retry: it is overdue only once the visibility timeout has passed
  with no redelivery (file_repository.release).
- QUEUED past the grace period (QUEUED_RUN_GRACE_SECONDS): its message was lost, e.g. the API
  function stopped between queueing the file and sending the message.

Either way the sweep sends the run's ImportMessage again: the worker claims a QUEUED run, and
takes over a PROCESSING run whose lease has expired (file_repository.claim_run). Every duplicate
this makes is harmless: a message for a run that has finished is dropped as stale, one for a run
held by a live lease waits. A PROCESSING run found stuck after SWEEP_MAX_REQUEUES requeues ends
FAILED with the reason. A QUEUED run is never failed (QUEUED -> FAILED is not a transition of
the state machine, and a run that never started has nothing to fail); it is requeued once per
grace period for as long as it stays QUEUED, and the QueuedRunsOverdue alarm says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from intake.dal import file_repository, import_queue
from intake.dal.events import publish_file_finished
from intake.errors import NotFound, Unavailable
from intake.logic.run_execution import run_ended
from intake.models.domain import ActiveRun, FileStatus
from intake.models.messages import ImportMessage
from intake.observability import logger, metrics
from intake.settings import get_settings

# Runs handled per invocation and state: about 20 ms each (a send and a conditional write), so
# a sweep ends well within its timeout; whatever is left waits for the next one.
MAX_RUNS_PER_SWEEP = 500


@dataclass
class SweepReport:
    queued_overdue: int = 0  # QUEUED runs found past their grace period
    past_lease: int = 0  # PROCESSING runs found past their lease
    requeued: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep_stuck_runs(*, now: datetime) -> SweepReport:
    report = SweepReport()
    max_requeues = get_settings().sweep_max_requeues
    for run in file_repository.find_overdue_runs(
        FileStatus.PROCESSING, now=now, limit=MAX_RUNS_PER_SWEEP
    ):
        report.past_lease += 1
        if run.requeues >= max_requeues:
            report.failed += _fail(run, now=now)
        else:
            report.requeued += _requeue(run, now=now)
    for run in file_repository.find_overdue_runs(
        FileStatus.QUEUED, now=now, limit=MAX_RUNS_PER_SWEEP
    ):
        report.queued_overdue += 1
        report.requeued += _requeue(run, now=now)
    # Every sweep publishes every count, zeros included: the graphs show the sweep running.
    metrics.add_metric(name="RunsPastLease", unit="Count", value=report.past_lease)
    metrics.add_metric(name="QueuedRunsOverdue", unit="Count", value=report.queued_overdue)
    metrics.add_metric(name="RunsRequeued", unit="Count", value=report.requeued)
    metrics.add_metric(name="RunsFailedBySweep", unit="Count", value=report.failed)
    log = logger.warning if report.past_lease or report.queued_overdue else logger.info
    log("run sweep finished", extra=report.as_dict())
    return report


def _requeue(run: ActiveRun, *, now: datetime) -> int:
    """Send the run's message again, then count it. 1 if this sweep requeued it, else 0."""
    message = ImportMessage(
        tenant=run.tenant,
        file_id=run.file_id,
        run=run.run,
        check_only=run.check_only,
        on_invalid=run.on_invalid,
    )
    keys = {"tenant": run.tenant, "file_id": run.file_id, "run": run.run}
    try:
        import_queue.send_import(message)
    except Unavailable:
        # Nothing changed: the run is still overdue and the next sweep tries again.
        logger.exception("could not requeue a stuck run", extra=keys)
        return 0
    # Sent first, counted second: if the run moved on in between, the extra message is dropped
    # as stale or waits for the live lease; a lost count would instead hide a requeue.
    requeues = file_repository.count_requeue(run, now=now)
    if requeues is None:
        logger.info("stuck run moved on while it was requeued", extra=keys)
        return 0
    logger.warning(
        "stuck run requeued",
        extra={**keys, "status": run.status.value, "requeues": requeues},
    )
    return 1


def _fail(run: ActiveRun, *, now: datetime) -> int:
    """End a run that kept getting stuck FAILED, with the reason. 1 if this sweep failed it."""
    reason = (
        f"the import stopped without finishing {run.requeues + 1} times (a timeout, out of "
        "memory or an error); see logs"
    )
    try:
        record = file_repository.get(run.tenant, run.file_id)
    except NotFound:
        return 0  # gone since the index was read
    last = record.reason if record.run == run.run else None
    if last:  # what the last failed attempt said about itself (run_execution._release)
        reason = f"the import stopped without finishing {run.requeues + 1} times; last: {last}"
    failed = file_repository.fail_stuck_run(run, reason=reason, now=now)
    keys = {"tenant": run.tenant, "file_id": run.file_id, "run": run.run}
    if failed is None:
        logger.info("stuck run moved on before the sweep failed it", extra=keys)
        return 0
    logger.error("stuck run failed by the sweep", extra={**keys, "reason": reason})
    run_ended(failed.status, reason=reason)
    publish_file_finished(failed)
    return 1

"""The run and lease protocol of the status table (dal/file_repository.py, "runs") on moto.

Each operation is a conditional write keyed on the run's number: these tests hold every
condition to what a worker, a duplicate delivery or the sweep would see: the wrong run, a live
or an expired lease, a file in another state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from intake.dal import file_repository
from intake.errors import Conflict, RetryLater
from intake.models.domain import FileRecord, FileStatus, ImportResult, Progress, RowError
from intake.models.mapping import Mapping
from intake_local.resources import Resources
from tests.conftest import LogLines

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
LEASE = timedelta(minutes=16)
FILE_ID = "018f2a3b4c5d0123456789abcdef"
SIZE = 1234


def _uploaded(**fields: object) -> FileRecord:
    record = FileRecord.model_validate(
        {
            "tenant": "acme",
            "file_id": FILE_ID,
            "name": "people.csv",
            "media_type": "text/csv",
            "size": SIZE,
            "import_type": "contacts",
            "status": FileStatus.UPLOADED,
            "created_at": T0,
            "updated_at": T0,
            "object_key": f"uploads/acme/{FILE_ID}",
            **fields,
        }
    )
    assert file_repository.create(record)
    return record


def _queued(**fields: object) -> FileRecord:
    """An uploaded file with its first run queued."""
    return file_repository.queue_run(
        _uploaded(**fields), now=T0, check_only=False, on_invalid="fail"
    )


def _claimed(now: datetime = T0) -> FileRecord:
    claimed = file_repository.claim_run("acme", FILE_ID, 1, now=now, lease=LEASE)
    assert claimed is not None
    return claimed


def _current() -> FileRecord:
    return file_repository.get("acme", FILE_ID)


def _finish(record: FileRecord, status: FileStatus, **fields: object) -> FileRecord:
    outcome: dict[str, object] = {
        "result": ImportResult(rows_total=3, rows_valid=3, rows_written=3),
        "errors": [],
        "warnings": [],
        "report_key": None,
        "reason": None,
        **fields,
    }
    return file_repository.finish_run(
        record,
        status,
        now=T0 + timedelta(minutes=1),
        **outcome,  # type: ignore[arg-type]
    )


# --- queue_run ---------------------------------------------------------------------------------


def test_queueing_starts_the_next_run_with_what_it_was_asked_for(aws: Resources) -> None:
    # Given an uploaded file with a saved profile's mapping
    record = _uploaded(profile="crm", mapping=Mapping(columns={"Mail": "email"}))
    # When a validation is queued with an inline mapping
    queued = file_repository.queue_run(
        record,
        now=T0,
        check_only=True,
        on_invalid="skip",
        mapping=Mapping(columns={"E-Mail": "email"}),
    )
    # Then it is run 1, QUEUED, with the new mapping and no profile, its type not fixed yet
    assert (queued.status, queued.run, queued.check_only, queued.on_invalid) == (
        FileStatus.QUEUED,
        1,
        True,
        "skip",
    )
    assert queued.mapping == Mapping(columns={"E-Mail": "email"})
    assert queued.profile is None
    assert not queued.import_type_fixed
    assert _current() == queued


def test_queueing_a_run_that_writes_fixes_the_type_and_a_new_type_its_duplicate(
    aws: Resources,
) -> None:
    record = _uploaded(import_type="contacts", duplicate_of="018f2a3b4c5d0123456789aaaaaa")
    queued = file_repository.queue_run(
        record, now=T0, check_only=False, on_invalid="fail", import_type="orders"
    )
    assert (queued.import_type, queued.import_type_fixed) == ("orders", True)
    assert queued.duplicate_of is None  # it named a file of the old type


def test_queueing_from_a_state_the_file_has_left_is_a_conflict(aws: Resources) -> None:
    record = _uploaded()
    file_repository.queue_run(record, now=T0, check_only=False, on_invalid="fail")
    # A second request that read the file while it was still UPLOADED
    with pytest.raises(Conflict):
        file_repository.queue_run(record, now=T0, check_only=True, on_invalid="fail")
    assert (_current().run, _current().check_only) == (1, False)


# --- claim_run ---------------------------------------------------------------------------------


def test_claiming_a_queued_run_holds_it_and_starts_it_afresh(aws: Resources) -> None:
    # Given a file whose earlier run FAILED, queued again
    _queued()
    first = _claimed()
    failed = _finish(
        first,
        FileStatus.FAILED,
        errors=[RowError(line=2, code="invalid", message="bad")],
        warnings=[RowError(line=3, code="odd", message="odd")],
        report_key="reports/acme/x/1.csv",
        reason="1 of 3 rows are invalid",
    )
    file_repository.queue_run(failed, now=T0, check_only=False, on_invalid="fail")
    # When a delivery of run 2 claims it
    claimed = file_repository.claim_run("acme", FILE_ID, 2, now=T0, lease=LEASE)
    # Then it is PROCESSING under a lease from now, nothing of run 1 left on it
    assert claimed is not None
    assert (claimed.status, claimed.run, claimed.lease_until) == (
        FileStatus.PROCESSING,
        2,
        T0 + LEASE,
    )
    assert claimed.progress == Progress(total=SIZE)
    assert (claimed.errors, claimed.warnings, claimed.result) == ([], [], None)
    assert (claimed.error_report_key, claimed.reason) == (None, None)


def test_a_live_lease_makes_another_delivery_retry_later(aws: Resources) -> None:
    _queued()
    _claimed()
    with pytest.raises(RetryLater):
        file_repository.claim_run(
            "acme", FILE_ID, 1, now=T0 + LEASE - timedelta(seconds=1), lease=LEASE
        )
    assert _current().lease_until == T0 + LEASE  # the holder keeps it


def test_an_expired_lease_is_taken_over_as_it_is(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    file_repository.renew_lease(holder, done=600, now=T0, lease=LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    taken = file_repository.claim_run("acme", FILE_ID, 1, now=later, lease=LEASE)
    assert taken is not None
    assert (taken.status, taken.run, taken.lease_until) == (
        FileStatus.PROCESSING,
        1,
        later + LEASE,
    )
    assert taken.progress == Progress(done=600, total=SIZE)  # taken over, not restarted


def test_nothing_is_claimed_for_another_run_another_state_or_an_unknown_file(
    aws: Resources, log_lines: LogLines
) -> None:
    # A message of another run (stale, or from the future)
    _queued()
    assert file_repository.claim_run("acme", FILE_ID, 2, now=T0, lease=LEASE) is None
    assert file_repository.claim_run("acme", FILE_ID, 0, now=T0, lease=LEASE) is None
    assert _current().status is FileStatus.QUEUED
    # A run that has finished: a duplicate delivery after the end
    _finish(_claimed(), FileStatus.SUCCEEDED)
    later = T0 + 2 * LEASE
    assert file_repository.claim_run("acme", FILE_ID, 1, now=later, lease=LEASE) is None
    assert _current().status is FileStatus.SUCCEEDED
    # A file that does not exist (or another tenant's)
    assert file_repository.claim_run("other", FILE_ID, 1, now=T0, lease=LEASE) is None
    said = [(line["level"], line["message"]) for line in log_lines()]
    assert said.count(("INFO", "stale import message dropped")) == 3
    assert ("WARNING", "import message for an unknown file") in said


def test_a_late_duplicate_that_read_the_run_queued_never_takes_up_its_failure(
    aws: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second delivery read the file QUEUED, then the first ended the run FAILED: the second
    claims nothing (FAILED -> PROCESSING is a redriven execution's, never a message's)."""
    queued = _queued()
    _finish(_claimed(), FileStatus.FAILED, reason="2 of 3 rows are invalid")
    monkeypatch.setattr(file_repository, "get", lambda tenant, file_id: queued)  # read before
    assert file_repository.claim_run("acme", FILE_ID, 1, now=T0, lease=LEASE) is None
    monkeypatch.undo()
    current = _current()
    assert current.status is FileStatus.FAILED
    assert current.reason == "2 of 3 rows are invalid"


# --- renew_lease -------------------------------------------------------------------------------


def test_renewing_moves_the_lease_and_the_progress(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    now = T0 + timedelta(minutes=10)
    file_repository.renew_lease(holder, done=900, now=now, lease=LEASE)
    current = _current()
    assert (current.lease_until, current.progress) == (now + LEASE, Progress(done=900, total=SIZE))
    # So a delivery that would have found the first lease expired still waits
    with pytest.raises(RetryLater):
        file_repository.claim_run(
            "acme", FILE_ID, 1, now=T0 + LEASE + timedelta(seconds=1), lease=LEASE
        )


def test_a_run_that_ended_or_was_requeued_cannot_be_renewed(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    finished = _finish(holder, FileStatus.VALIDATED)
    with pytest.raises(Conflict):
        file_repository.renew_lease(holder, done=1, now=T0, lease=LEASE)
    # Run 2 is PROCESSING now: run 1's holder still may not touch it
    file_repository.queue_run(finished, now=T0, check_only=False, on_invalid="fail")
    assert file_repository.claim_run("acme", FILE_ID, 2, now=T0, lease=LEASE) is not None
    with pytest.raises(Conflict):
        file_repository.renew_lease(holder, done=1, now=T0, lease=LEASE)
    assert _current().progress == Progress(total=SIZE)


# --- finish_run --------------------------------------------------------------------------------


def test_finishing_records_the_outcome_and_drops_the_lease(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    error = RowError(line=2, column=1, field="email", code="invalid_email", message="bad")
    warning = RowError(line=3, code="outside_event", message="late")
    finished = _finish(
        holder,
        FileStatus.FAILED,
        result=ImportResult(rows_total=3, rows_valid=2, rows_invalid=1, warnings=1),
        errors=[error],
        warnings=[warning],
        report_key="reports/acme/r1.csv",
        reason="1 of 3 rows are invalid",
    )
    assert _current() == finished
    assert finished.status is FileStatus.FAILED
    assert (finished.errors, finished.warnings) == ([error], [warning])
    assert finished.result == ImportResult(rows_total=3, rows_valid=2, rows_invalid=1, warnings=1)
    assert (finished.error_report_key, finished.reason) == (
        "reports/acme/r1.csv",
        "1 of 3 rows are invalid",
    )
    assert finished.progress == Progress(done=SIZE, total=SIZE)
    assert finished.lease_until is None


def test_a_run_that_succeeds_after_a_failed_attempt_keeps_no_reason(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    file_repository.release(holder, reason="an attempt stopped (ReadTimeoutError)", now=T0)
    assert _current().reason == "an attempt stopped (ReadTimeoutError)"
    finished = _finish(_claimed(T0 + timedelta(seconds=1)), FileStatus.SUCCEEDED)
    assert (finished.status, finished.reason) == (FileStatus.SUCCEEDED, None)


def test_a_run_finishes_once_and_only_in_a_state_a_run_ends_in(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    with pytest.raises(ValueError):
        _finish(holder, FileStatus.EXPIRED)
    _finish(holder, FileStatus.SUCCEEDED)
    # A second delivery that also got to the end (it held the run before a takeover)
    with pytest.raises(Conflict):
        _finish(holder, FileStatus.FAILED, reason="late")
    assert (_current().status, _current().reason) == (FileStatus.SUCCEEDED, None)


def test_an_old_run_never_finishes_a_newer_one(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    requeued = file_repository.queue_run(
        _finish(holder, FileStatus.VALIDATED), now=T0, check_only=False, on_invalid="fail"
    )
    assert file_repository.claim_run("acme", FILE_ID, requeued.run, now=T0, lease=LEASE)
    with pytest.raises(Conflict):
        _finish(holder, FileStatus.SUCCEEDED)
    assert (_current().status, _current().run) == (FileStatus.PROCESSING, 2)


# --- release and fail_run ----------------------------------------------------------------------


def test_a_released_run_is_taken_over_at_once_and_says_why(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    file_repository.release(holder, reason="an attempt stopped (RuntimeError)", now=T0)
    assert _current().reason == "an attempt stopped (RuntimeError)"
    taken = file_repository.claim_run(
        "acme", FILE_ID, 1, now=T0 + timedelta(seconds=1), lease=LEASE
    )
    assert taken is not None and taken.status is FileStatus.PROCESSING


def test_a_run_that_ended_cannot_be_released(aws: Resources) -> None:
    _queued()
    holder = _claimed()
    _finish(holder, FileStatus.SUCCEEDED)
    with pytest.raises(Conflict):
        file_repository.release(holder, reason="late", now=T0)
    assert (_current().status, _current().reason) == (FileStatus.SUCCEEDED, None)


def test_the_last_delivery_fails_a_run_only_once_its_lease_is_over(aws: Resources) -> None:
    _queued()
    _claimed()
    # Under a live lease another delivery may be finishing the run: nothing happens
    reason = "the import could not complete (RuntimeError); see logs"
    assert file_repository.fail_run("acme", FILE_ID, 1, reason=reason, now=T0) is None
    assert _current().status is FileStatus.PROCESSING
    # Once it is over, the run ends FAILED with the reason and no lease
    failed = file_repository.fail_run(
        "acme", FILE_ID, 1, reason=reason, now=T0 + LEASE + timedelta(seconds=1)
    )
    assert failed is not None
    assert (failed.status, failed.reason, failed.lease_until) == (FileStatus.FAILED, reason, None)
    assert _current() == failed


def test_the_last_delivery_never_fails_another_run_or_a_run_not_processing(
    aws: Resources,
) -> None:
    later = T0 + LEASE + timedelta(seconds=1)
    assert file_repository.fail_run("acme", FILE_ID, 1, reason="x", now=later) is None  # no file
    _queued()
    assert file_repository.fail_run("acme", FILE_ID, 1, reason="x", now=later) is None  # QUEUED
    holder = _claimed()
    file_repository.release(holder, reason="stopped", now=T0)
    assert file_repository.fail_run("acme", FILE_ID, 2, reason="x", now=later) is None
    assert (_current().status, _current().reason) == (FileStatus.PROCESSING, "stopped")

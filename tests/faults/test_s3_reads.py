"""S3 fails in the middle of reading an object: the run fails and is retried, never cut short
and never blamed on the file."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from tests.faults.conftest import (
    BATCH,
    BrokenBody,
    Hooks,
    NoAnswer,
    assert_sink_holds_exactly,
    connection_reset,
    contacts_csv,
    file_view,
    read_timeout,
    sink_rows,
    upload_for_import,
)
from tests.integration.conftest import zip_of

MiB = 1024 * 1024


def break_get(hooks: Hooks, how: str, nth: int, after: int) -> BrokenBody | NoAnswer:
    """`how`: the body breaks after `after` bytes (read timeout or connection reset, as urllib3
    raises them), or the request gets no answer on any of botocore's attempts."""
    if how == "no_answer":
        return NoAnswer(hooks, nth=nth)
    errors: dict[str, Callable[[], Exception]] = {
        "body_read_timeout": read_timeout,
        "body_connection_reset": connection_reset,
    }
    return BrokenBody(hooks, nth=nth, after=after, error=errors[how])


# Wide rows, about 1.4 MiB: the readers take 1 MiB at a time, so a pass that writes has written
# the rows of its first MiB when a break in its second MiB comes.
ROWS = 1400
REMARKS = 1000


# A CSV is read as one stream per pass. on_invalid="fail" makes two passes: GET 1 is the
# validating pass (writes nothing), GET 2 the writing pass. "skip" writes in its only pass.
@pytest.mark.parametrize("how", ["body_read_timeout", "body_connection_reset", "no_answer"])
@pytest.mark.parametrize(
    ("on_invalid", "broken_get", "writes_before"),
    [("fail", 1, False), ("fail", 2, True), ("skip", 1, True)],
    ids=["fail-validating-pass", "fail-writing-pass", "skip-only-pass"],
)
def test_csv_read_failing_mid_object_is_retried_never_truncated(
    api, aws, hooks, queue, worker, backoff, how, on_invalid, broken_get, writes_before
):
    # Given a queued CSV, and S3 failing one GET of it in its second MiB
    body, keys = contacts_csv(ROWS, remarks=REMARKS)
    assert len(body) > MiB + MiB // 4
    file_id = upload_for_import(api, worker, body, on_invalid=on_invalid)
    fault = break_get(hooks, how, nth=broken_get, after=MiB + MiB // 4)

    # When the worker runs the import
    delivery = worker.poll()

    # Then the delivery fails: what arrived is not taken for the whole file
    assert fault.broken
    assert delivery is not None and delivery.failed == set(delivery.ids)
    view = file_view(api, file_id)
    assert view["status"] == "PROCESSING", view
    written = len(sink_rows(aws))
    if writes_before and how != "no_answer":
        assert 0 < written < ROWS and written % BATCH == 0
    elif not writes_before:
        assert written == 0

    # When the message comes back (this time S3 sends every byte)
    deliveries = worker.run_until_empty()

    # Then the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_total"] == ROWS
    assert view["result"]["rows_written"] == ROWS
    assert_sink_holds_exactly(aws, {file_id: keys})


# A ZIP is read through ranged GETs (a seekable view for zipfile). Per pass, for this archive:
# GETs 1-3 find the end records, 4 reads the central directory, 5 the members' data.
# on_invalid="fail" reads it twice (GET 10: the writing pass's members); "skip" inflates the
# whole archive before writing, from the same buffered bytes.
@pytest.mark.parametrize("how", ["body_connection_reset", "no_answer"])
@pytest.mark.parametrize(
    ("on_invalid", "broken_get"),
    [("fail", 1), ("fail", 4), ("fail", 5), ("fail", 10), ("skip", 5)],
    ids=["end-record", "directory", "members", "writing-pass-members", "skip-members"],
)
def test_zip_read_failing_mid_object_is_retried_never_called_corrupt(
    api, aws, hooks, queue, worker, backoff, how, on_invalid, broken_get
):
    # Given a queued ZIP of two CSVs, and S3 failing one ranged GET of it
    first, first_keys = contacts_csv(4 * BATCH + 5, prefix="a")
    second, second_keys = contacts_csv(4 * BATCH + 5, prefix="b")
    archive = zip_of({"a.csv": first, "b.csv": second})
    file_id = upload_for_import(
        api, worker, archive, name="people.zip", media_type="application/zip", on_invalid=on_invalid
    )
    fault = break_get(hooks, how, nth=broken_get, after=0)

    # When the worker runs the import
    delivery = worker.poll()

    # Then the delivery fails, and the file is still PROCESSING: not FAILED as a corrupt archive
    assert fault.broken, fault.gets
    assert delivery is not None and delivery.failed == set(delivery.ids)
    view = file_view(api, file_id)
    assert view["status"] == "PROCESSING", view

    # When the message comes back
    deliveries = worker.run_until_empty()

    # Then the file ends with exactly its rows
    assert [d.failed for d in deliveries] == [set()]
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["rows_written"] == len(first_keys) + len(second_keys)
    assert_sink_holds_exactly(aws, {file_id: first_keys + second_keys})


def test_bytes_written_over_the_key_during_a_run_never_reach_it(api, aws, hooks, queue, worker):
    # Given a queued CSV (on_invalid="fail": a validating pass, then a writing pass), whose
    # key is written again (the upload URL is still valid) right after the first pass's GET
    body, keys = contacts_csv(3 * BATCH)
    file_id = upload_for_import(api, worker, body, on_invalid="fail")
    key = f"uploads/acme/{file_id}"
    gets: list[str] = []

    def overwrite_after_the_first_get(**kwargs):
        gets.append(key)
        if len(gets) == 1:
            boto3.client("s3").put_object(
                Bucket=aws.names.bucket, Key=key, Body=b"external_id,first_name\nx-1,X\n"
            )

    hooks.on(hooks.s3, "after-call.s3.GetObject", overwrite_after_the_first_get)

    # When the worker runs the import
    worker.run_until_empty()

    # Then both passes read the version the upload check verified: exactly its rows
    assert len(gets) == 2
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert_sink_holds_exactly(aws, {file_id: keys})

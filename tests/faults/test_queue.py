"""The import queue refuses a run's message while the worker handles an upload."""

from __future__ import annotations

from botocore.exceptions import EndpointConnectionError

from intake import aws as intake_aws
from tests.faults.conftest import BATCH, assert_sink_holds_exactly, contacts_csv, file_view
from tests.integration.conftest import declare_and_upload


def test_auto_import_survives_the_queue_refusing_its_first_run(api, aws, queue, worker):
    # Given an auto_import upload, and SQS unreachable for the worker's first SendMessage call
    # (botocore's every attempt)
    body, keys = contacts_csv(2 * BATCH + 3)
    file_id = declare_and_upload(api, body, auto_import=True)
    sqs = intake_aws.client("sqs")
    attempts: list[str] = []

    def unreachable_for_one_call(request, **kwargs):
        attempts.append(request.url)
        if len(attempts) <= sqs.meta.config.retries["total_max_attempts"]:
            raise EndpointConnectionError(endpoint_url=request.url)

    sqs.meta.events.register("before-send.sqs.SendMessage", unreachable_for_one_call)

    # When the worker handles the upload's notification, and SQS delivers it again
    deliveries = worker.run_until_empty()

    # Then the first delivery failed, and the file was imported after all
    assert len(deliveries[0].failed) == 1
    view = file_view(api, file_id)
    assert view["status"] == "SUCCEEDED", view
    assert_sink_holds_exactly(aws, {file_id: keys})

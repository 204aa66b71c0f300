"""What operators read: failed records logged with their traceback and keys; no key outlives
its invocation or its record. The suite runs at INFO, the deployed level (tests/conftest.py)."""

from __future__ import annotations

import json

from intake.models.messages import ImportMessage
from intake_local.worker_runner import sqs_event_record
from tests.conftest import LogLines
from tests.integration.conftest import declare_and_upload, delete_every_version, lambda_context
from tests.integration.test_bundles import bundle, upload_bundle
from tests.integration.test_flow import CSV
from tests.unit.test_event_bundle import GOOD


def _message(aws, body: str, message_id: str) -> dict:  # type: ignore[no-untyped-def]
    raw = {"MessageId": message_id, "ReceiptHandle": "r", "Body": body, "Attributes": {}}
    record = sqs_event_record(raw, aws.queue_arn)
    record["attributes"]["ApproximateReceiveCount"] = "1"
    return record


def test_a_failed_record_is_logged_with_traceback_message_file_and_tenant(
    api, drain, aws, handlers, log_lines: LogLines
):
    # Given an uploaded file whose object has since vanished from the bucket
    file_id = declare_and_upload(api, CSV)
    drain()
    delete_every_version(aws)
    run = ImportMessage(tenant="acme", file_id=file_id, run=1, check_only=False, on_invalid="fail")
    api("POST", f"/files/{file_id}/import", body={})
    # When the worker gets a batch: a poison message, the failing run, a good S3 test event
    event = {
        "Records": [
            _message(aws, "not json", "m-poison"),
            _message(aws, run.model_dump_json(), "m-run"),
            _message(aws, json.dumps({"Event": "s3:TestEvent"}), "m-test"),
        ]
    }
    response = handlers["import_worker"].lambda_handler(event, lambda_context())
    # Then both failures are reported and logged at ERROR with their traceback and keys
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {"m-poison", "m-run"}
    failures = {line["message_id"]: line for line in log_lines() if line["level"] == "ERROR"}
    assert set(failures) == {"m-poison", "m-run"}
    assert "UnknownMessage" in failures["m-poison"]["exception"]
    assert "file_id" not in failures["m-poison"]
    failed_run = failures["m-run"]
    assert (failed_run["file_id"], failed_run["tenant"], failed_run["run"]) == (file_id, "acme", 1)
    assert "NoSuchVersion" in failed_run["exception"] and "Traceback" in failed_run["exception"]
    # and the next record's lines carry none of the failed record's keys
    [skipped] = [line for line in log_lines() if line.get("message_id") == "m-test"]
    assert skipped["message"] == "s3:TestEvent skipped"
    assert not {"file_id", "tenant", "run"} & set(skipped)


def test_worker_keys_do_not_reach_the_next_invocation_of_an_api_function(
    api, drain, aws, log_lines: LogLines
):
    # Given a worker run that logged its file_id, tenant, run and message_id
    file_id = declare_and_upload(api, CSV, auto_import=True)
    drain()
    worker_lines = [line for line in log_lines() if line.get("file_id") == file_id]
    assert any("message_id" in line and "run" in line for line in worker_lines)
    # (and the API's own lines name the file and the tenant)
    [declared] = [line for line in log_lines() if line["message"] == "file declared"]
    assert (declared["file_id"], declared["tenant"]) == (file_id, "acme")
    # When an API function logs for another request in the same process (a warm container,
    # or the local stack, where every function shares one process)
    before = len(log_lines())
    status, _ = api("GET", "/files/" + "0" * 28)
    assert status == 404
    # Then its lines carry only its own keys
    for line in log_lines()[before:]:
        assert not {"message_id", "run", "receive_count"} & set(line), line
        assert line.get("file_id") in (None, "0" * 28), line


def test_an_event_bundle_imports_at_the_deployed_log_level(api, drain, aws, log_lines: LogLines):
    # The bundle's "imported" line once passed a reserved LogRecord key and failed every import.
    file_id = upload_bundle(api, bundle(GOOD))  # auto_import
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["result"]["entities"]["sessions"] >= 1
    [imported] = [line for line in log_lines() if line["message"] == "bundle imported"]
    assert imported["created_ids"]["event"] == view["result"]["created"]["event"]


def test_a_run_failed_on_its_last_delivery_counts_as_a_failed_run(
    api, drain, aws, handlers, log_lines: LogLines, capsys
):
    # Given a queued run whose verified bytes are gone for good
    file_id = declare_and_upload(api, CSV)
    drain()
    delete_every_version(aws)
    api("POST", f"/files/{file_id}/import", body={})
    run = ImportMessage(tenant="acme", file_id=file_id, run=1, check_only=False, on_invalid="fail")
    # When its last delivery fails
    record = _message(aws, run.model_dump_json(), "m-last")
    record["attributes"]["ApproximateReceiveCount"] = "5"
    capsys.readouterr()
    handlers["import_worker"].lambda_handler({"Records": [record]}, lambda_context())
    # Then the run's end is counted like any other: the "run finished" line and RunsFailed
    [finished] = [line for line in log_lines() if line["message"] == "run finished"]
    assert (finished["status"], finished["file_id"]) == ("FAILED", file_id)
    assert finished["reason"] == "the import could not complete (NoSuchVersion); see logs"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(blob.get("RunsFailed") == [1.0] for blob in emf), emf

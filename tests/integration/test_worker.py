"""The import worker on moto: S3 put -> SQS message -> worker, and every way a run can end."""

from __future__ import annotations

import gzip
import hashlib
import json

import boto3
import pytest

from intake.errors import RetryLater
from intake.logic import run_execution
from intake.models.messages import ImportMessage
from intake_local.worker_runner import sqs_event_record
from tests.integration.conftest import declare_and_upload, lambda_context
from tests.integration.test_flow import BAD_CSV, CSV

JSONL = b"\n".join(
    json.dumps(r).encode()
    for r in [
        {"external_id": "j-1", "email": "a@example.com", "first_name": "A"},
        {"external_id": "j-2", "email": "b@example.com", "first_name": "B", "country": "FR"},
    ]
)
JSON_DOC = json.dumps(
    {"records": [{"external_id": "k-1", "email": "k@example.com", "first_name": "K"}]}
).encode()


def records(aws, tenant="acme"):
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    return table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"{tenant}#contacts"}
    )["Items"]


def put_object(aws, key, body, **extra):
    boto3.client("s3").put_object(Bucket=aws.names.bucket, Key=key, Body=body, **extra)


def test_drop_path_registers_and_imports_without_api_calls(api, drain, aws):
    put_object(aws, "drop/acme/contacts/partners/june 2026.csv", CSV)
    drain()
    files = api("GET", "/files")[1]["items"]
    assert len(files) == 1
    dropped = files[0]
    assert dropped["origin"] == "drop"
    assert dropped["name"] == "june 2026.csv"
    assert dropped["folder"] == "partners"
    assert dropped["status"] == "SUCCEEDED", dropped
    assert dropped["result"]["rows_written"] == 3
    assert len(records(aws)) == 3


def test_redelivered_drop_event_imports_once(api, drain, aws, handlers):
    put_object(aws, "drop/acme/contacts/once.csv", CSV)
    sqs = boto3.client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages"):
        messages += batch
    event = {"Records": [sqs_event_record(m, aws.queue_arn) for m in messages]}
    handlers["import_worker"].lambda_handler(event, lambda_context())
    handlers["import_worker"].lambda_handler(event, lambda_context())  # the same event, again
    drain()
    items = api("GET", "/files")[1]["items"]
    assert [f["status"] for f in items] == ["SUCCEEDED"]
    assert items[0]["result"]["rows_written"] == 3


def _queued_notifications(aws) -> list[dict]:
    """The S3 notifications waiting on the queue, received without hiding them."""
    messages = boto3.client("sqs").receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    return [m for m in messages if "Records" in json.loads(m["Body"])]


def _with_event_time(message: dict, event_time: str) -> dict:
    body = json.loads(message["Body"])
    for record in body["Records"]:
        record["eventTime"] = event_time
    return {**message, "Body": json.dumps(body), "MessageId": f"resent-{event_time}"}


def test_a_hand_resent_notification_with_another_event_time_leaves_one_file(
    api, drain, aws, handlers
):
    # Given a dropped file that was registered and imported
    put_object(aws, "drop/acme/contacts/resent.csv", CSV)
    [notification] = _queued_notifications(aws)
    drain()
    worker = handlers["import_worker"].lambda_handler
    # When the same object version is notified again, hours later, by a replay or by hand
    for event_time in ("2026-11-30T23:59:59.000Z", "2027-01-01T00:00:00.000Z"):
        resent = _with_event_time(notification, event_time)
        worker({"Records": [sqs_event_record(resent, aws.queue_arn)]}, lambda_context())
    drain()
    # Then there is still one file, imported once
    items = api("GET", "/files")[1]["items"]
    assert [f["status"] for f in items] == ["SUCCEEDED"]
    assert items[0]["result"]["rows_written"] == 3
    assert len(records(aws)) == 3


def test_a_drop_overwritten_with_new_bytes_is_a_new_file(api, drain, aws):
    put_object(aws, "drop/acme/contacts/daily.csv", CSV)
    drain()
    put_object(aws, "drop/acme/contacts/daily.csv", CSV.replace(b"Ada", b"Ava"))
    drain()
    items = api("GET", "/files")[1]["items"]
    assert [f["status"] for f in items] == ["SUCCEEDED", "SUCCEEDED"]
    assert len({f["file_id"] for f in items}) == 2


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("drop/acme/contacts/notes.txt", "does not take"),
        ("drop/acme/planets/earth.csv", "unknown import type"),
    ],
)
def test_unusable_drops_are_rejected_with_a_reason(api, drain, aws, key, reason):
    put_object(aws, key, CSV)
    drain()
    [dropped] = api("GET", "/files")[1]["items"]
    assert dropped["status"] == "REJECTED"
    assert reason in dropped["reason"]


def test_upload_of_other_bytes_is_rejected(api, drain, aws):
    _, created = api(
        "POST",
        "/files",
        body={"name": "p.csv", "media_type": "text/csv", "size": 500, "import_type": "contacts"},
    )
    put_object(aws, f"uploads/acme/{created['file_id']}", CSV, ContentType="text/csv")
    drain()
    view = api("GET", f"/files/{created['file_id']}")[1]
    assert view["status"] == "REJECTED"
    assert view["reason"] == f"declared 500 bytes, received {len(CSV)}"


def test_upload_with_wrong_sha256_is_rejected(api, drain):
    wrong = hashlib.sha256(b"something else").hexdigest()
    file_id = declare_and_upload_unsigned(api, CSV, sha256=wrong)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "REJECTED"
    assert "SHA-256" in view["reason"]


def test_upload_with_matching_sha256_is_accepted(api, drain):
    file_id = declare_and_upload(api, CSV, sha256=hashlib.sha256(CSV).hexdigest())
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "UPLOADED"


def declare_and_upload_unsigned(api, body, **extra):
    """Bytes that differ from the declaration reach S3 only if S3 skips a check (moto does)."""
    _, created = api(
        "POST",
        "/files",
        body={
            "name": "p.csv",
            "media_type": "text/csv",
            "size": len(body),
            "import_type": "contacts",
            **extra,
        },
    )
    boto3.client("s3").put_object(
        Bucket="intake-local-uploads",
        Key=f"uploads/acme/{created['file_id']}",
        Body=body,
        ContentType="text/csv",
    )
    return created["file_id"]


def test_json_content_declared_as_csv_is_rejected(api, drain):
    file_id = declare_and_upload_unsigned(api, JSON_DOC)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "REJECTED"
    assert view["reason"] == "the content is JSON, not CSV"


@pytest.mark.parametrize(
    ("media_type", "body", "keys"),
    [
        ("application/x-ndjson", JSONL, {"j-1", "j-2"}),
        ("application/json", JSON_DOC, {"k-1"}),
        ("text/csv", gzip.compress(CSV, mtime=0), {"c-1", "c-2", "c-3"}),
    ],
)
def test_every_format_imports(api, drain, aws, media_type, body, keys):
    file_id = declare_and_upload(api, body, name="f", media_type=media_type, auto_import=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert {r["sk"] for r in records(aws)} == keys


def test_skip_writes_the_valid_rows(api, drain, aws):
    file_id = declare_and_upload(api, BAD_CSV)
    drain()
    api("POST", f"/files/{file_id}/import", body={"on_invalid": "skip"})
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED"
    assert {k: v for k, v in view["result"].items() if k != "columns"} == {
        "rows_total": 3,
        "rows_valid": 1,
        "rows_invalid": 2,
        "rows_written": 1,
        "errors_truncated": False,
        "warnings": 0,
    }
    assert [r["sk"] for r in records(aws)] == ["c-1"]
    assert len(view["errors"]) == 3


def test_failed_check_then_import_with_skip(api, drain, aws):
    file_id = declare_and_upload(api, BAD_CSV)
    drain()
    api("POST", f"/files/{file_id}/import", body={"check_only": True})
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "FAILED"
    assert api("POST", f"/files/{file_id}/import", body={"on_invalid": "skip"})[0] == 202
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"


def test_import_request_keeps_the_declared_on_invalid_unless_it_names_one(api, drain, aws):
    # Given a file declared with on_invalid=skip
    file_id = declare_and_upload(api, BAD_CSV, on_invalid="skip")
    drain()
    # When an import request does not name on_invalid, the run keeps the file's
    status, accepted = api("POST", f"/files/{file_id}/import", body={})
    assert (status, accepted["on_invalid"], accepted["check_only"]) == (202, "skip", False)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert (view["status"], view["on_invalid"]) == ("SUCCEEDED", "skip")
    assert [r["sk"] for r in records(aws)] == ["c-1"]
    # A request that names it replaces it, for this run and the ones after it
    status, accepted = api("POST", f"/files/{file_id}/import", body={"on_invalid": "fail"})
    assert (status, accepted["on_invalid"]) == (202, "fail")
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "FAILED"
    status, accepted = api("POST", f"/files/{file_id}/import", body={"check_only": True})
    assert (status, accepted["on_invalid"]) == (202, "fail")


def test_error_report_lists_every_error(api, drain, aws):
    import requests

    file_id = declare_and_upload(api, BAD_CSV)
    drain()
    api("POST", f"/files/{file_id}/import", body={"check_only": True})
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    report = requests.get(view["error_report_url"], timeout=10)
    assert report.status_code == 200
    lines = report.text.strip().splitlines()
    assert lines[0] == "file,line,column,field,code,message,severity"
    assert lines[1:] == [
        ",3,2,email,invalid_email,email is not a valid e-mail address,error",
        ",4,3,first_name,required,first_name is required and must not be empty,error",
        ',4,4,country,invalid_country,"country must be an ISO 3166-1 code (DE, DEU) or an '
        'English country name",error',
    ]


def test_reimport_leaves_the_same_rows(api, drain, aws):
    file_id = declare_and_upload(api, CSV)
    drain()
    api("POST", f"/files/{file_id}/import", body={})
    drain()
    first = sorted((r["sk"], r["email"]) for r in records(aws))
    api("POST", f"/files/{file_id}/import", body={})
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"
    assert sorted((r["sk"], r["email"]) for r in records(aws)) == first


MISSING_EMAIL = (
    'no column maps to email. Map one with "mapping": {"columns": {"<header>": "email"}}'
)


def test_header_without_required_column_fails_the_file(api, drain, aws):
    body = b"external_id,first_name\nc-1,Ada\n"
    file_id = declare_and_upload(api, body, auto_import=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert view["errors"] == [
        {
            "line": 1,
            "column": None,
            "field": "email",
            "code": "missing_column",
            "message": MISSING_EMAIL,
            "file": None,
        }
    ]
    assert view["reason"] == MISSING_EMAIL
    assert view["result"]["columns"]["mapped"] == [
        {"column": 1, "header": "external_id", "field": "external_id"},
        {"column": 2, "header": "first_name", "field": "first_name"},
    ]


def queued_message(api, drain, body=CSV) -> tuple[str, ImportMessage]:
    file_id = declare_and_upload(api, body)
    drain()
    api("POST", f"/files/{file_id}/import", body={})
    sqs_message = boto3.client("sqs").receive_message(
        QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/intake-local-import",
        MaxNumberOfMessages=1,
    )["Messages"][0]
    return file_id, ImportMessage.model_validate_json(sqs_message["Body"])


def test_two_deliveries_of_one_run_import_once(api, drain, aws):
    file_id, message = queued_message(api, drain)
    writes = []

    class Recording:
        def __init__(self):
            self.n = 0

        def put(self, key, item):
            writes.append(key)
            self.n += 1

        def flush(self):
            n, self.n = self.n, 0
            return n

    run_execution.run_import(message, sink_factory=lambda r: Recording())
    run_execution.run_import(message, sink_factory=lambda r: Recording())  # duplicate delivery
    assert sorted(writes) == ["c-1", "c-2", "c-3"]
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"


def test_live_lease_defers_a_second_delivery(api, drain, monkeypatch):
    file_id, message = queued_message(api, drain)

    def crash(record):
        raise RuntimeError("worker died mid-run")

    # A worker that claimed the run and is still "alive" (its lease is live)...
    from intake.dal import file_repository

    original = run_execution._run
    monkeypatch.setattr(run_execution, "_run", lambda record, factory: None)
    run_execution.run_import(message)
    monkeypatch.setattr(run_execution, "_run", original)
    assert file_repository.get("acme", file_id).status.value == "PROCESSING"
    # ...makes another delivery wait for it.
    with pytest.raises(RetryLater):
        run_execution.run_import(message, sink_factory=crash)


def test_crashed_run_is_taken_over_by_the_next_delivery(api, drain, aws):
    file_id, message = queued_message(api, drain)

    def crash(record):
        raise RuntimeError("sink unavailable")

    with pytest.raises(RuntimeError):
        run_execution.run_import(message, sink_factory=crash)
    assert api("GET", f"/files/{file_id}")[1]["status"] == "PROCESSING"
    run_execution.run_import(message)  # redelivery: the crashed run released its lease
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED"
    assert view["result"]["rows_written"] == 3


def test_last_delivery_failure_ends_the_run_failed(api, drain, aws, monkeypatch, handlers):
    file_id = declare_and_upload(api, CSV)
    drain()
    api("POST", f"/files/{file_id}/import", body={})

    def broken(*args, **kwargs):
        raise RuntimeError("S3 is having a bad day")

    monkeypatch.setattr(run_execution, "read_records", broken)
    sqs = boto3.client("sqs")
    message = sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]
    )["Messages"][0]
    record = sqs_event_record(message, aws.queue_arn)
    record["attributes"]["ApproximateReceiveCount"] = "5"
    response = handlers["import_worker"].lambda_handler({"Records": [record]}, lambda_context())
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "FAILED"
    assert "RuntimeError" in view["reason"]


def test_test_event_is_skipped_and_unknown_messages_fail(aws, handlers):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.queue_url, MessageBody="not json at all")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages"):
        messages += batch
    bodies = {m["MessageId"]: m["Body"] for m in messages}
    event = {"Records": [sqs_event_record(m, aws.queue_arn) for m in messages]}
    response = handlers["import_worker"].lambda_handler(event, lambda_context())
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert [bodies[i] for i in failed] == ["not json at all"]
    assert any("s3:TestEvent" in b for b in bodies.values())


def test_sample_events_run_through_the_worker(aws, handlers):
    from pathlib import Path

    for name in ("sqs_s3_test_event.json", "sqs_s3_object_created.json"):
        event = json.loads((Path(__file__).parents[2] / "events" / name).read_text())
        response = handlers["import_worker"].lambda_handler(event, lambda_context())
        assert response == {"batchItemFailures": []}


def test_progress_is_visible_while_processing(api, drain, aws, monkeypatch):
    # Given a file big enough for several progress writes, and no minimum interval between them
    rows = "".join(f"p-{i},p{i}@example.com,P{i}\n" for i in range(12_000))
    body = ("external_id,email,first_name\n" + rows).encode()
    file_id = declare_and_upload(api, body)
    drain()
    api("POST", f"/files/{file_id}/import", body={"on_invalid": "skip"})
    monkeypatch.setattr(run_execution, "PROGRESS_INTERVAL_SECONDS", 0.0)
    seen = []

    class Watching:
        """A sink that looks at the file's status while the run is in flight."""

        def __init__(self):
            self.n = 0

        def put(self, key, item):
            self.n += 1
            if key in ("p-6000", "p-11000"):
                seen.append(api("GET", f"/files/{file_id}")[1])

        def flush(self):
            n, self.n = self.n, 0
            return n

    message = boto3.client("sqs").receive_message(QueueUrl=aws.queue_url)["Messages"][0]
    run_execution.run_import(
        ImportMessage.model_validate_json(message["Body"]), sink_factory=lambda r: Watching()
    )
    # Then the status showed PROCESSING with growing byte progress out of the file's size
    assert [s["status"] for s in seen] == ["PROCESSING", "PROCESSING"]
    first, second = (s["progress"] for s in seen)
    assert first["total"] == second["total"] == len(body)
    assert 0 < first["done"] <= second["done"] <= len(body)
    final = api("GET", f"/files/{file_id}")[1]
    assert final["status"] == "SUCCEEDED"
    assert final["progress"] == {"done": len(body), "total": len(body), "unit": "bytes"}


def test_declared_delimiter_wins_over_sniffing(api, drain, aws):
    # A header with more commas than semicolons, in a file that is really semicolon-separated.
    body = b"external_id;email;first_name;last_name\nc-1;a@example.com;Ada;Lovelace, Countess\n"
    file_id = declare_and_upload(api, body, csv_delimiter=";", auto_import=True)
    drain()
    view = api("GET", f"/files/{file_id}")[1]
    assert view["status"] == "SUCCEEDED", view
    assert view["csv_delimiter"] == ";"
    [row] = records(aws)
    assert row["last_name"] == "Lovelace, Countess"


def test_last_delivery_never_fails_a_run_another_worker_holds(api, drain, aws, monkeypatch):
    from intake.logic.worker import handle_message

    file_id, message = queued_message(api, drain)
    monkeypatch.setattr(run_execution, "_run", lambda record, factory: None)
    run_execution.run_import(message)  # a worker claims the run and is still on it (live lease)

    with pytest.raises(RetryLater):
        handle_message(message.model_dump_json(), receive_count=5)
    assert api("GET", f"/files/{file_id}")[1]["status"] == "PROCESSING"


def test_every_finished_run_publishes_a_completion_event(api, drain, aws, monkeypatch):
    from intake.dal import events

    published = []
    real_client = events.client

    def recording_client(service):
        real = real_client(service)
        if service != "events":
            return real

        class Recording:
            def put_events(self, Entries):
                published.extend(Entries)
                return real.put_events(Entries=Entries)  # moto accepts it on the default bus

        return Recording()

    monkeypatch.setattr(events, "client", recording_client)
    good = declare_and_upload(api, CSV, auto_import=True)
    bad = declare_and_upload(api, BAD_CSV, auto_import=True, check_only=True)
    rejected = declare_and_upload_unsigned(api, JSON_DOC)
    drain()

    details = {json.loads(e["Detail"])["file_id"]: json.loads(e["Detail"]) for e in published}
    assert {e["Source"] for e in published} == {"intake"}
    assert {e["DetailType"] for e in published} == {"Intake File Finished"}
    assert {e["EventBusName"] for e in published} == {"default"}
    assert details[good]["status"] == "SUCCEEDED"
    assert details[good]["result"]["rows_written"] == 3
    assert details[bad]["status"] == "FAILED" and details[bad]["errors"] == 3
    assert details[rejected]["status"] == "REJECTED"
    assert details[rejected]["reason"] == "the content is JSON, not CSV"
    assert all(d["tenant"] == "acme" for d in details.values())
    assert len(published) == 3  # one event per finished file, none for UPLOADED or QUEUED


def test_a_refused_event_never_fails_the_run(api, drain, aws, monkeypatch):
    from botocore.exceptions import ClientError

    from intake.dal import events

    class Refusing:
        def put_events(self, Entries):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents"
            )

    monkeypatch.setattr(events, "client", lambda service: Refusing())
    file_id = declare_and_upload(api, CSV, auto_import=True)
    drain()
    assert api("GET", f"/files/{file_id}")[1]["status"] == "SUCCEEDED"

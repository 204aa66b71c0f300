"""P3: the same file imported end to end into moto DynamoDB by Intake and by the sample.

Both run against the same moto: in process by default (mock_aws, so moto's own per-request
cost is all there is; `--p3-backend server` runs a moto server child instead, every request
then crossing HTTP). The file (all rows valid, so both write every row) is declared through
the API's logic with auto_import, uploaded with a PUT to its presigned URL like a client, and
S3's notification lands on the import queue. Then:

- Intake: the worker's message handler (intake.logic.worker.handle_message) handles that
  notification (verify the upload, queue the run) and then the import message it produced
  (run_import with the DynamoDB sink), exactly as the import worker Lambda would.
- Sample: benchmarks.sample handles the same notification.

DynamoDB requests are counted by botocore hooks on the clients each side uses (the same
RequestCounter for both); every DynamoDB request counts, status-table writes included.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import requests

from benchmarks.env import TENANT, RequestCounter, create_stack, moto_server, use_fake_aws

TARGET_REQUESTS_PER_1000 = 45
TARGET_SPEEDUP = 5.0


def run(*, rows: int, backend: str = "inprocess") -> dict[str, Any]:
    from benchmarks.data import csv_bytes

    body = csv_bytes(rows, invalid_rate=0.0)
    with _backend(backend):
        resources = create_stack()
        file_id, notification = _declare_and_upload(body, resources)
        intake = _run_intake(notification, resources, file_id)
        sample = _run_sample(notification, resources)
        reference = _run_batch_writer(body, resources)
        stored = {
            "intake": _count_items(resources, f"{TENANT}#contacts"),
            "sample": _count_items(resources, "sample#contacts"),
            "batch_writer": _count_items(resources, "reference#contacts"),
        }
    out: dict[str, Any] = {
        "rows": rows,
        "bytes": len(body),
        "backend": backend,
        "intake": intake,
        "sample": sample,
        "batch_writer": reference,
    }
    for side in ("intake", "sample", "batch_writer"):
        m = out[side]
        m["items_stored"] = stored[side]
        m["requests_per_1000_rows"] = round(m["dynamodb_requests"] * 1000 / rows, 2)
        m["rows_per_s"] = round(rows / m["wall_s"])
    out["speedup"] = round(sample["wall_s"] / intake["wall_s"], 2)
    out["target_requests_per_1000"] = TARGET_REQUESTS_PER_1000
    out["target_speedup"] = TARGET_SPEEDUP
    out["pass_requests"] = intake["requests_per_1000_rows"] <= TARGET_REQUESTS_PER_1000
    out["pass_speed"] = out["speedup"] >= TARGET_SPEEDUP
    out["batch_writer_speedup"] = round(sample["wall_s"] / reference["wall_s"], 2)
    out["complete"] = stored["intake"] == rows == stored["sample"]
    return out


@contextlib.contextmanager
def _backend(kind: str) -> Iterator[None]:
    """In-process moto (mock_aws; the default: the sample's 20k put_items take ~1 min) or a
    moto server child (every request crosses HTTP; ~3x slower for both sides)."""
    if kind == "server":
        with moto_server("moto-p3.log") as endpoint:
            use_fake_aws(endpoint)
            yield
        return
    from moto import mock_aws

    use_fake_aws(None)
    with mock_aws():
        yield


def _declare_and_upload(body: bytes, resources: Any) -> tuple[str, str]:
    from intake.aws import client
    from intake.logic.files import declare_file
    from intake.models.api import DeclareFileRequest

    declared = declare_file(
        TENANT,
        DeclareFileRequest(
            name="contacts-p3.csv",
            media_type="text/csv",
            size=len(body),
            import_type="contacts",
            auto_import=True,
        ),
    )
    upload = declared.upload
    assert upload.url is not None, "a file this small gets a single presigned PUT"
    response = requests.put(upload.url, data=body, headers=upload.headers, timeout=60)
    response.raise_for_status()
    sqs = client("sqs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # S3's notification of the upload
        for m in _receive(sqs, resources.queue_url):
            if '"ObjectCreated:' in m["Body"]:
                return declared.file_id, m["Body"]
    raise RuntimeError("no S3 notification for the upload")


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def _run_intake(notification: str, resources: Any, file_id: str) -> dict[str, Any]:
    from intake.aws import client, reset_clients, resource, unvalidated_client
    from intake.dal import file_repository
    from intake.logic.worker import handle_message

    reset_clients()
    counter = RequestCounter()
    # Every DynamoDB client Intake uses (intake/aws.py): a client left out would hide requests.
    counter.attach(client("dynamodb"))
    counter.attach(resource("dynamodb").meta.client)
    counter.attach(unvalidated_client("dynamodb"))
    sqs = client("sqs")
    start = time.perf_counter()
    handle_message(notification, receive_count=1)  # verify the upload, queue the run
    handled = 1
    while True:
        messages = [m for m in _receive(sqs, resources.queue_url) if "intake.import" in m["Body"]]
        if not messages:
            break
        for m in messages:
            handle_message(m["Body"], receive_count=1)  # the import itself
            handled += 1
    wall = time.perf_counter() - start
    record = file_repository.get(TENANT, file_id)
    written = record.result.rows_written if record.result else 0
    if written and not counter.calls_by_table.get(resources.names.records_table):
        raise RuntimeError("records were written but no request was counted: a client is unhooked")
    return {
        "status": record.status.value,
        "result": record.result.model_dump() if record.result else None,
        "messages": handled,
        "wall_s": round(wall, 2),
        **counter.summary(),
        "records_table_requests": counter.calls_by_table.get(resources.names.records_table, 0),
        "status_table_requests": counter.calls_by_table.get(resources.names.status_table, 0),
    }


def _run_sample(notification: str, resources: Any) -> dict[str, Any]:
    from benchmarks.sample import SampleLambda

    sample = SampleLambda(resources.names.records_table)
    counter = RequestCounter()
    counter.attach(sample.dynamodb.meta.client)
    event = {"Records": [{"messageId": "sample", "body": notification}]}
    start = time.perf_counter()
    written = sample.handler(event)
    wall = time.perf_counter() - start
    return {
        "written": written,
        "wall_s": round(wall, 2),
        **counter.summary(),
        "records_table_requests": counter.calls_by_table.get(resources.names.records_table, 0),
    }


def _run_batch_writer(body: bytes, resources: Any) -> dict[str, Any]:
    """A yardstick, not a contender: the same rows through boto3's plain batch_writer (no
    validation, no status, no S3), to show what moto's per-item cost allows."""
    import csv
    import io

    import boto3

    dynamodb = boto3.resource("dynamodb")
    counter = RequestCounter()
    counter.attach(dynamodb.meta.client)
    table = dynamodb.Table(resources.names.records_table)
    start = time.perf_counter()
    with table.batch_writer() as writer:
        for row in csv.DictReader(io.StringIO(body.decode("utf-8"))):
            item = {k: v for k, v in row.items() if v}
            writer.put_item(Item={"pk": "reference#contacts", "sk": row["external_id"], **item})
    wall = time.perf_counter() - start
    return {
        "wall_s": round(wall, 2),
        **counter.summary(),
    }


def _count_items(resources: Any, partition: str) -> int:
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb").Table(resources.names.records_table)
    count = 0
    kwargs: dict[str, Any] = {}
    while True:
        page = table.query(KeyConditionExpression=Key("pk").eq(partition), Select="COUNT", **kwargs)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            return count
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

"""What a deployment broke on, tried against the local stack as a new user would (issue 6):
an event bundle at the deployed log level, a hand re-sent S3 notification, log keys that
leaked from the worker into the API functions' lines."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from tests.e2e.support import Api, Stack, contacts_csv, eventually
from tests.integration.conftest import zip_of
from tests.unit.test_event_bundle import GOOD


def test_an_event_bundle_ends_succeeded_with_its_entity_counts(api: Api, stack: Stack) -> None:
    assert stack.info["log_level"] == "INFO"  # the level the stack deploys with
    data = zip_of(GOOD)
    declared = api.declare(
        data,
        name="pycon.zip",
        media_type="application/zip",
        import_type="event",
        auto_import=True,
    )
    api.upload(declared, data)
    done = api.wait(declared["file_id"], "SUCCEEDED")
    entities = done["result"]["entities"]
    assert entities["event"] == 1 and entities["sessions"] >= 1 and entities["speakers"] >= 1
    assert done["result"]["rows_written"] == sum(entities.values())
    assert done["result"]["created"]["event"]


def _notification(stack: Stack, key: str, event_time: str) -> str:
    """The S3 notification for the key's current version, as S3 would send it."""
    head = stack.client("s3").head_object(Bucket=stack.bucket, Key=key)
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "resent-by-hand",
            "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"},
            "object": {
                "key": key.replace(" ", "+"),
                "size": head["ContentLength"],
                "eTag": head["ETag"].strip('"'),
                "versionId": head.get("VersionId"),
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    return json.dumps({"Records": [record]})


def _queue_settled(stack: Stack) -> bool:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(v) == 0 for v in attributes.values())


def test_a_hand_resent_notification_for_an_imported_version_leaves_one_file(
    api: Api, stack: Stack
) -> None:
    # Given a dropped file, registered and imported
    tenant = f"resend{int(time.time() * 1000)}"
    key = f"drop/{tenant}/contacts/weekly feed.csv"
    stack.client("s3").put_object(
        Bucket=stack.bucket, Key=key, Body=contacts_csv(5, prefix="rs"), ContentType="text/csv"
    )

    def files() -> list[dict]:
        return list(api.call("GET", "/files", tenant=tenant).json()["items"])

    [first] = eventually(files)
    api.wait(first["file_id"], "SUCCEEDED", tenant=tenant)
    # When an operator re-sends its notification by hand, later, with another eventTime
    resent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stack.client("sqs").send_message(
        QueueUrl=stack.queue_url, MessageBody=_notification(stack, key, resent_at)
    )
    time.sleep(0.5)
    eventually(lambda: _queue_settled(stack))
    # Then there is still one file, imported by its one run
    [still] = files()
    assert still["file_id"] == first["file_id"]
    assert still["status"] == "SUCCEEDED"
    assert still["result"]["rows_written"] == 5


def test_api_function_lines_never_carry_a_workers_keys(api: Api, stack: Stack) -> None:
    # Given worker runs that logged file_id, message_id and run
    data = contacts_csv(3, prefix="keys")
    declared = api.declare(data, auto_import=True)
    api.upload(declared, data)
    api.wait(declared["file_id"], "SUCCEEDED")
    # When the API functions log afterwards
    assert api.call("GET", "/files/" + "0" * 28).status_code == 404
    assert api.call("GET", "/import-types").status_code == 200
    # Then no API function's line holds a key only the worker sets
    lines = [
        json.loads(line)
        for line in (stack.log_dir / "functions.log").read_text().splitlines()
        if line.startswith('{"level"')
    ]
    api_lines = [line for line in lines if "import_worker" not in line.get("function_name", "")]
    worker_lines = [line for line in lines if "import_worker" in line.get("function_name", "")]
    assert api_lines and any("message_id" in line for line in worker_lines)
    leaked = [line for line in api_lines if {"message_id", "receive_count"} & set(line)]
    assert not leaked, leaked[:3]

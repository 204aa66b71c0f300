"""What an operator runs against the local stack: `intake-local redrive-dlq` and
`intake-local sweep` (docs/operations.md), as commands against the running stack.

The stuck states are made by hand, as a crash would leave them: a file QUEUED for a run whose
message sits in the DLQ, or whose message was lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from intake.models.db import ACTIVE_STATUS, STALE_AT, file_key, iso
from intake.models.messages import ImportMessage
from intake_local.paths import repo_root
from tests.e2e.support import Api, Stack, contacts_csv, eventually


def _command(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    port = str(urlparse(stack.aws_endpoint).port)
    return subprocess.run(
        [sys.executable, "-m", "intake_local.cli", *args, "--aws-port", port],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root(),
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env},
        check=False,
    )


def _queue_by_hand(stack: Stack, file_id: str, **extra: Any) -> ImportMessage:
    """QUEUED for a new run, as POST /files/{id}/import leaves it, without its message."""
    table = stack.client("dynamodb")
    key = {k: {"S": v} for k, v in file_key("acme", file_id).items()}
    run = int(table.get_item(TableName=_status_table(stack), Key=key)["Item"]["run"]["N"]) + 1
    names = {"#status": "status", "#run": "run"}
    values: dict[str, Any] = {":queued": {"S": "QUEUED"}, ":run": {"N": str(run)}}
    sets = ["#status = :queued", "#run = :run"]
    for i, (name, value) in enumerate(extra.items()):
        names[f"#x{i}"], values[f":x{i}"] = name, {"S": value}
        sets.append(f"#x{i} = :x{i}")
    table.update_item(
        TableName=_status_table(stack),
        Key=key,
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    return ImportMessage(
        tenant="acme", file_id=file_id, run=run, check_only=False, on_invalid="fail"
    )


def _status_table(stack: Stack) -> str:
    return str(stack.info["resources"]["status_table"])


def _dlq_bodies(stack: Stack) -> set[str]:
    messages = (
        stack.client("sqs")
        .receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        .get("Messages", [])
    )
    return {m["Body"] for m in messages}


def test_redrive_moves_a_dead_lettered_import_back_and_the_worker_runs_it(
    api: Api, stack: Stack
) -> None:
    # Given an import whose message went to the DLQ before any worker claimed the run
    file_id = api.uploaded(contacts_csv(4, prefix="redrive"))
    message = _queue_by_hand(stack, file_id)
    body = message.model_dump_json()
    stack.client("sqs").send_message(QueueUrl=stack.dlq_url, MessageBody=body)
    assert body in _dlq_bodies(stack)
    assert api.file(file_id)["status"] == "QUEUED"
    # When the operator redrives the DLQ
    done = _command(stack, "redrive-dlq")
    assert done.returncode == 0, done.stderr
    assert "back to intake-local-import" in done.stdout
    # Then the message left the DLQ and the worker ran the import
    assert body not in _dlq_bodies(stack)
    assert api.wait(file_id, "SUCCEEDED")["result"]["rows_written"] == 4


def test_a_redriven_message_of_a_finished_run_is_dropped(api: Api, stack: Stack) -> None:
    # Given a file whose run ended FAILED (a bad row), and that run's message in the DLQ
    bad = contacts_csv(2, prefix="dead").replace(b"person1@example.com", b"not-an-email")
    file_id = api.uploaded(bad)
    assert api.call("POST", f"/files/{file_id}/import", json={}).status_code == 202
    failed = api.wait(file_id, "FAILED")
    body = ImportMessage(
        tenant="acme", file_id=file_id, run=1, check_only=False, on_invalid="fail"
    ).model_dump_json()
    stack.client("sqs").send_message(QueueUrl=stack.dlq_url, MessageBody=body)
    # When it is redriven
    assert _command(stack, "redrive-dlq").returncode == 0
    # Then the worker drops it as stale, and the file is as it was
    log = stack.log_dir / "functions.log"
    eventually(
        lambda: any(
            "stale import message dropped" in line and file_id in line
            for line in log.read_text().splitlines()
        )
    )
    assert body not in _dlq_bodies(stack)
    view = api.file(file_id)
    assert (view["status"], view["updated_at"]) == ("FAILED", failed["updated_at"])
    # And POST /files/{id}/import is what runs it again (docs/operations.md)
    assert api.call("POST", f"/files/{file_id}/import", json={"on_invalid": "skip"}).ok
    assert api.wait(file_id, "SUCCEEDED")["result"]["rows_written"] == 1


def test_the_sweep_command_requeues_a_run_whose_message_was_lost(api: Api, stack: Stack) -> None:
    # Given a run QUEUED two hours ago whose message never arrived (past the 1 h grace)
    file_id = api.uploaded(contacts_csv(3, prefix="swept"))
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    _queue_by_hand(stack, file_id, **{ACTIVE_STATUS: "QUEUED", STALE_AT: iso(two_hours_ago)})
    # When the operator runs the sweep (the stack's schedule would, every 5 minutes)
    done = _command(stack, "sweep")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["queued_overdue"] >= 1 and report["requeued"] >= 1
    # Then the worker gets the run's message and imports the file
    assert api.wait(file_id, "SUCCEEDED")["result"]["rows_written"] == 3


def test_the_commands_say_when_no_stack_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "intake_local.cli", "redrive-dlq", "--aws-port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo_root(),
        check=False,
    )
    assert done.returncode == 1
    assert "no local stack at http://127.0.0.1:9" in done.stderr

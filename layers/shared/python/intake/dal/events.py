"""Completion events on EventBridge: what automation subscribes to instead of polling."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from intake.aws import client
from intake.models.domain import FileRecord
from intake.observability import logger, metrics
from intake.settings import get_settings

SOURCE = "intake"
FILE_FINISHED = "Intake File Finished"


def publish_file_finished(record: FileRecord) -> None:
    """One event per terminal state (SUCCEEDED, VALIDATED, FAILED, REJECTED).

    Best effort: the file's status is the source of truth and is already written, so a failed
    publish is logged and counted, never turned into a retry of the run.
    """
    detail = {
        "tenant": record.tenant,
        "file_id": record.file_id,
        "name": record.name,
        "import_type": record.import_type,
        "origin": record.origin,
        "status": record.status.value,
        "run": record.run,
        "check_only": record.check_only,
        "reason": record.reason,
        "result": record.result.model_dump(mode="json") if record.result else None,
        "errors": len(record.errors),
    }
    try:
        response = client("events").put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": FILE_FINISHED,
                    "Detail": json.dumps(detail),
                    "EventBusName": get_settings().event_bus_name,
                    "Resources": [],
                }
            ]
        )
        failed = response.get("FailedEntryCount", 0)
    except (ClientError, BotoCoreError):
        logger.exception("completion event not published")
        failed = 1
    if failed:
        logger.error("completion event refused", extra={"file_id": record.file_id})
        metrics.add_metric(name="EventsNotPublished", unit="Count", value=1)

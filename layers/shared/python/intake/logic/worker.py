"""One message from the import queue: an S3 notification, an import request, or EventBridge's
word that a sharded run's execution stopped."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from pydantic import ValidationError

from intake.errors import RetryLater
from intake.keys import decode_event_key, parse_drop_key, parse_upload_key
from intake.logic import run_steps
from intake.logic.run_execution import fail_run, failure_kind, run_import
from intake.logic.uploads import ObjectVersion, object_created
from intake.models.messages import ImportMessage
from intake.observability import logger
from intake.settings import get_settings

__all__ = ["MESSAGE_KEYS", "RetryLater", "UnknownMessage", "handle_message"]

# Log keys that describe one queue message; the handler removes them before the next one.
MESSAGE_KEYS = ("message_id", "receive_count", "file_id", "tenant", "run", "key")


class UnknownMessage(ValueError):
    """Neither an S3 notification nor an import request: left for the DLQ."""


def handle_message(body: str, *, receive_count: int) -> None:
    try:
        payload: Any = json.loads(body)
    except json.JSONDecodeError:
        raise UnknownMessage("message body is not JSON") from None
    if not isinstance(payload, dict):
        raise UnknownMessage("message body is not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        logger.info("s3:TestEvent skipped")
        return
    if (
        payload.get("source") == run_steps.EXECUTION_EVENT_SOURCE
        and payload.get("detail-type") == run_steps.EXECUTION_EVENT_TYPE
    ):
        # EventBridge: a sharded run's execution stopped before it ended the run.
        try:
            run_steps.execution_stopped(payload)
        except ValidationError as exc:
            raise UnknownMessage(f"malformed execution event: {exc.error_count()} errors") from None
        return
    if "Records" in payload:
        _s3_notification(S3Event(payload))
        return
    if payload.get("kind") == ImportMessage.model_fields["kind"].default:
        try:
            message = ImportMessage.model_validate(payload)
        except ValidationError as exc:
            raise UnknownMessage(f"malformed import request: {exc.error_count()} errors") from None
        _import(message, receive_count=receive_count)
        return
    raise UnknownMessage("unrecognised message")


def _s3_notification(event: S3Event) -> None:
    for record in event.records:
        if not record.event_name.startswith("ObjectCreated:"):
            continue
        s3_object = record.s3.get_object
        key = decode_event_key(s3_object.key)
        _bind_object_keys(key)
        # eventTime is deliberately not used: a replayed notification is the same object.
        object_created(
            ObjectVersion(
                bucket=record.s3.bucket.name,
                key=key,
                version_id=s3_object.version_id or None,
                etag=s3_object.etag.strip('"') or None,
            )
        )


def _bind_object_keys(key: str) -> None:
    """Whatever a key tells about its file, on every line logged for it (and its failure)."""
    logger.thread_safe_append_keys(key=key)
    upload = parse_upload_key(key)
    drop = parse_drop_key(key)
    if upload:
        logger.thread_safe_append_keys(tenant=upload[0], file_id=upload[1])
    elif drop:
        logger.thread_safe_append_keys(tenant=drop[0])


def _import(message: ImportMessage, *, receive_count: int) -> None:
    logger.thread_safe_append_keys(file_id=message.file_id, tenant=message.tenant, run=message.run)
    try:
        run_import(message)
    except RetryLater:
        raise  # another delivery is running this run: never fail it from here
    except Exception as exc:
        if receive_count >= get_settings().max_receive_count:
            # This was the last delivery SQS will make: say so on the file, not only in the DLQ.
            fail_run(message, _failure_reason(exc))
        raise


def _failure_reason(exc: Exception) -> str:
    """The reason a file gets when its last delivery failed."""
    return f"the import could not complete ({failure_kind(exc)}); see logs"

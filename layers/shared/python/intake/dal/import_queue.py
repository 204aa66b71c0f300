"""The import queue: import requests share it with S3's ObjectCreated notifications."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from intake.aws import client
from intake.errors import Unavailable
from intake.models.messages import ImportMessage
from intake.settings import get_settings


def send_import(message: ImportMessage) -> None:
    try:
        client("sqs").send_message(
            QueueUrl=get_settings().import_queue_url, MessageBody=message.model_dump_json()
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("the import queue did not accept the request; try again") from exc

"""The import worker: S3 notifications and import requests from the import queue."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.logic.worker import handle_message
from intake.observability import logger, metrics, tracer

# With ReportBatchItemFailures, "every record failed" is an answer like any other: report each
# failure rather than raising, so Lambda retries exactly the failed messages.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> None:
    logger.append_keys(message_id=record.message_id)
    metrics.add_metric(name="QueueMessages", unit="Count", value=1)
    handle_message(record.body, receive_count=int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

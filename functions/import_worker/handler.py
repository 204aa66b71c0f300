"""The import worker: S3 notifications and import requests from the import queue."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.logic.worker import MESSAGE_KEYS, RetryLater, handle_message
from intake.observability import logger, metrics, tracer

# With ReportBatchItemFailures, "every record failed" is an answer like any other: report each
# failure rather than raising, so Lambda retries exactly the failed messages. No `logger=`
# here: record_handler logs each failure itself, while the record's keys are still bound.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    # One record's keys never reach the next record's lines.
    logger.thread_safe_remove_keys(MESSAGE_KEYS)
    receive_count = int(record.attributes.approximate_receive_count)
    logger.thread_safe_append_keys(message_id=record.message_id, receive_count=receive_count)
    metrics.add_metric(name="QueueMessages", unit="Count", value=1)
    try:
        # A subsegment rather than @tracer.capture_method, which logs every exception at ERROR
        # itself, a routine RetryLater included; the failures are logged below, once.
        with tracer.provider.in_subsegment("## record_handler") as subsegment:
            subsegment.put_annotation(key="message_id", value=record.message_id)
            handle_message(record.body, receive_count=receive_count)
    except RetryLater as exc:
        logger.info("run held by another delivery; the message comes back later: %s", exc)
        raise
    except Exception:
        # With the traceback, the message id and whatever file id and tenant are known.
        logger.exception("queue message failed; SQS will deliver it again or dead-letter it")
        metrics.add_metric(name="QueueMessagesFailed", unit="Count", value=1)
        raise


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

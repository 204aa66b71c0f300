"""S3 ObjectCreated -> import queue (with a DLQ) -> the import worker.

Import requests from the API share the queue with S3's notifications.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import compliance
from infra import definitions as d
from infra.config import env_name
from infra.lambda_factory import LambdaFactory

# aws-cdk-lib's construct id of the handler behind Bucket.add_event_notification.
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class ImportQueue(Construct):
    """The queue and its dead-letter queue, fed by the bucket's notified prefixes."""

    def __init__(self, scope: Construct, id: str, *, bucket: s3.Bucket) -> None:
        super().__init__(scope, id)
        spec = d.IMPORT_QUEUE
        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=Duration.days(spec.dlq_retention_days),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(spec.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dlq, max_receive_count=spec.max_receive_count
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        for prefix in d.NOTIFIED_PREFIXES:
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(self.queue),
                s3.NotificationKeyFilter(prefix=prefix),
            )
        # The notifications are set by CDK's own custom resource, a stack-wide singleton.
        handler = Stack.of(self).node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            raise LookupError(f"CDK's {NOTIFICATIONS_HANDLER_ID} not found: has its id changed?")
        compliance.acknowledge(
            handler,
            "IAM4",
            "CDK's bucket-notifications custom resource (deploy time only) comes with the "
            "AWSLambdaBasicExecutionRole managed policy: CloudWatch Logs writes, nothing else.",
            findings=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole"
            ],
        )


class ImportWorker(Construct):
    """The worker: verifies uploads, registers drops, runs imports; reports partial failures."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        factory: LambdaFactory,
        queue: sqs.IQueue,
        bucket: s3.IBucket,
        status_table: dynamodb.ITable,
        records_table: dynamodb.ITable,
        sharded_runs: sfn.IStateMachine,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id)
        spec = d.IMPORT_QUEUE
        self.function = factory.create(self, d.IMPORT_WORKER)
        for name, value in environment.items():
            self.function.add_environment(name, value)
        # A file over the shard threshold runs as an execution of the sharded-runs state
        # machine (infra/sharded_runs.py), started by the worker; a failed execution comes
        # back to it on the import queue (that module's EventBridge rule).
        sharded_runs.grant_start_execution(self.function)
        self.function.add_environment(
            env_name("sharded_runs_state_machine_arn"), sharded_runs.state_machine_arn
        )
        if spec.visibility_timeout_seconds < 6 * d.IMPORT_WORKER.timeout_seconds:
            raise ValueError("the import queue's visibility timeout must be >= 6x the worker's")
        # Reads uploads and drops; writes error reports under reports/ and the attributes of
        # records too big for a DynamoDB item under records/.
        for prefix in d.NOTIFIED_PREFIXES:
            bucket.grant_read(self.function, f"{prefix}*")
        for prefix in (d.REPORT_PREFIX, d.RECORD_PREFIX):
            bucket.grant_put(self.function, f"{prefix}*")
        status_table.grant_read_write_data(self.function)
        records_table.grant_write_data(self.function)
        prefixes = (*d.NOTIFIED_PREFIXES, d.REPORT_PREFIX, d.RECORD_PREFIX)
        compliance.acknowledge_wildcards(
            self.function,
            compliance.S3_PREFIX_GRANT.format(prefixes=", ".join(prefixes)),
            actions=[*compliance.S3_READ_ACTIONS, *compliance.S3_PUT_ACTIONS],
            resources=[compliance.arn_finding(bucket, f"/{prefix}*") for prefix in prefixes],
        )
        compliance.acknowledge_wildcards(
            self.function,
            compliance.TABLE_INDEX_GRANT,
            resources=[compliance.arn_finding(status_table, "/index/*")],
        )
        # Completion events ("Intake File Finished") on the account's default bus.
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", d.EVENT_BUS_NAME)
        bus.grant_put_events_to(self.function)
        self.function.add_environment("EVENT_BUS_NAME", bus.event_bus_name)
        # The event source grants receive/delete/change-visibility on the queue.
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=spec.batch_size,
                max_batching_window=Duration.seconds(spec.max_batching_window_seconds),
                report_batch_item_failures=True,
            )
        )

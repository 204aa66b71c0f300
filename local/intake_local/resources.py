"""Create the stack's bucket, queues and tables (from infra.definitions) on any endpoint.

Used by the local stack against moto server and by the tests against in-process moto, so
both run against the resources the CDK stack declares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from infra import definitions as d


@dataclass(frozen=True)
class ResourceNames:
    bucket: str = "intake-local-uploads"
    status_table: str = "intake-local-status"
    records_table: str = "intake-local-records"
    idempotency_table: str = "intake-local-idempotency"
    queue: str = "intake-local-import"
    dlq: str = "intake-local-import-dlq"
    # Created by the local stack (sharded_runs.py), not by create_resources: its definition
    # is rendered from the CDK construct.
    sharded_runs: str = "intake-local-sharded-runs"


@dataclass(frozen=True)
class Resources:
    names: ResourceNames
    queue_url: str
    queue_arn: str
    dlq_url: str

    def function_environment(
        self, *, tenant_claim: str = "tenant", sharded_runs_state_machine_arn: str = ""
    ) -> dict[str, str]:
        """The environment the stack gives every function (see infra/lambda_factory.py)."""
        return {
            "BUCKET_NAME": self.names.bucket,
            "STATUS_TABLE": self.names.status_table,
            "RECORDS_TABLE": self.names.records_table,
            "IDEMPOTENCY_TABLE": self.names.idempotency_table,
            "IMPORT_QUEUE_URL": self.queue_url,
            "TENANT_CLAIM": tenant_claim,
            # The worker marks a run FAILED on its last delivery; keep it equal to the
            # queue's redrive policy rather than relying on the setting's default.
            "IMPORT_QUEUE_MAX_RECEIVES": str(d.IMPORT_QUEUE.max_receive_count),
            "IMPORT_QUEUE_VISIBILITY_SECONDS": str(d.IMPORT_QUEUE.visibility_timeout_seconds),
            "EVENT_BUS_NAME": d.EVENT_BUS_NAME,  # the worker's (infra/import_pipeline.py)
            # "" (no state machine) runs every file in one invocation.
            "SHARDED_RUNS_STATE_MACHINE_ARN": sharded_runs_state_machine_arn,
        }


def create_resources(
    names: ResourceNames | None = None,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
) -> Resources:
    """Create everything; `endpoint_url` (e.g. moto server) overrides the configured endpoint."""
    names = names or ResourceNames()
    session = session or boto3.session.Session()
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)

    queue = d.IMPORT_QUEUE
    dlq_url = sqs.create_queue(
        QueueName=names.dlq,
        Attributes={"MessageRetentionPeriod": str(queue.dlq_retention_days * 86400)},
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "VisibilityTimeout": str(queue.visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
            ),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)

    s3.create_bucket(Bucket=names.bucket)
    if d.BUCKET_VERSIONED:
        s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_cors(
        Bucket=names.bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": list(d.CORS_ALLOWED_METHODS),
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": list(d.CORS_ALLOWED_HEADERS),
                    "ExposeHeaders": list(d.CORS_EXPOSED_HEADERS),
                }
            ]
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in d.NOTIFIED_PREFIXES
            ]
        },
    )

    for table, name in (
        (d.STATUS_TABLE, names.status_table),
        (d.RECORDS_TABLE, names.records_table),
        (d.IDEMPOTENCY_TABLE, names.idempotency_table),
    ):
        _create_table(dynamodb, table, name)
    return Resources(names=names, queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url)


def find_resources(
    names: ResourceNames | None = None,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
) -> Resources:
    """The resources of a running local stack (created by create_resources), looked up."""
    names = names or ResourceNames()
    sqs = (session or boto3.session.Session()).client("sqs", endpoint_url=endpoint_url)
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"]
    return Resources(
        names=names, queue_url=queue_url, queue_arn=_queue_arn(sqs, queue_url), dlq_url=dlq_url
    )


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _create_table(dynamodb: Any, table: d.TableDef, name: str) -> None:
    keys = [(table.partition_key, "HASH")]
    if table.sort_key:
        keys.append((table.sort_key, "RANGE"))
    attributes = dict.fromkeys(n for n, _ in keys)
    indexes = []
    for index in table.indexes:
        attributes.update(dict.fromkeys((index.partition_key, index.sort_key)))
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(index.projected),
                },
            }
        )
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in attributes],
        KeySchema=[{"AttributeName": n, "KeyType": kind} for n, kind in keys],
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )

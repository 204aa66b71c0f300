"""The status table (file records), the records table (the import sink) and the API's
idempotency table (Idempotency-Key records, expired by TTL)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import definitions as d


class Tables(Construct):
    """`records_warm_writes`: the records table's warm write throughput (write units/s), so a
    sharded run's writes are taken at once rather than as an on-demand table scales up."""

    def __init__(
        self, scope: Construct, id: str, *, records_warm_writes: int | None = None
    ) -> None:
        super().__init__(scope, id)
        self.status_table = _table(self, d.STATUS_TABLE)
        warm = (
            dynamodb.WarmThroughput(write_units_per_second=records_warm_writes)
            if records_warm_writes
            else None
        )
        self.records_table = _table(self, d.RECORDS_TABLE, warm_throughput=warm)
        self.idempotency_table = _table(self, d.IDEMPOTENCY_TABLE)


def _table(
    scope: Construct, table: d.TableDef, *, warm_throughput: dynamodb.WarmThroughput | None = None
) -> dynamodb.Table:
    created = dynamodb.Table(
        scope,
        table.logical_name,
        partition_key=dynamodb.Attribute(
            name=table.partition_key, type=dynamodb.AttributeType.STRING
        ),
        sort_key=(
            dynamodb.Attribute(name=table.sort_key, type=dynamodb.AttributeType.STRING)
            if table.sort_key
            else None
        ),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=table.ttl_attribute,
        removal_policy=RemovalPolicy.RETAIN,
        warm_throughput=warm_throughput,
    )
    for index in table.indexes:
        created.add_global_secondary_index(
            index_name=index.name,
            partition_key=dynamodb.Attribute(
                name=index.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(index.projected),
        )
    return created

"""The run sweep: a function on an EventBridge schedule that requeues or fails stuck runs."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import compliance
from infra import definitions as d
from infra.lambda_factory import LambdaFactory


class RunSweep(Construct):
    """`run_sweep` every RUN_SWEEP_INTERVAL_MINUTES (intake/logic/sweep.py says what it does)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        factory: LambdaFactory,
        status_table: dynamodb.ITable,
        import_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, id)
        self.function = factory.create(self, d.RUN_SWEEP)
        # Queries the active-runs index (the table's grant covers its indexes), then
        # conditional writes on the files it requeues or fails.
        status_table.grant_read_write_data(self.function)
        compliance.acknowledge_wildcards(
            self.function,
            compliance.TABLE_INDEX_GRANT + " The sweep queries exactly that index.",
            resources=[compliance.arn_finding(status_table, "/index/*")],
        )
        import_queue.grant_send_messages(self.function)
        # A run it fails is finished: "Intake File Finished" on the default bus, as the worker.
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", d.EVENT_BUS_NAME)
        bus.grant_put_events_to(self.function)
        self.function.add_environment("EVENT_BUS_NAME", bus.event_bus_name)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Run the Intake run sweep",
            schedule=events.Schedule.rate(Duration.minutes(d.RUN_SWEEP_INTERVAL_MINUTES)),
            # No retries: the next scheduled sweep is minutes away and sees the same table.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

"""Alarms (to an SNS topic) and a small dashboard for operators."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        dlq: sqs.IQueue,
        worker: lambda_.IFunction,
        http_api: apigw.HttpApi,
        api_functions: dict[str, lambda_.Function],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="Intake alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.alarms = [
            self._at_least_one(
                "DeadLetterQueueNotEmpty",
                "Import messages failed every retry and wait in the DLQ",
                dlq.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
            ),
            self._at_least_one(
                "WorkerErrors",
                "The import worker failed invocations (not per-record errors)",
                worker.metric_errors(period=PERIOD, statistic="Sum"),
            ),
            self._at_least_one(
                "Api5xx",
                "The HTTP API answered with 5xx (never expected for bad input)",
                http_api.metric_server_error(period=PERIOD, statistic="Sum"),
            ),
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=self.alarms, title="Alarms", width=24, height=3)
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    http_api.metric_count(period=PERIOD, statistic="Sum"),
                    http_api.metric_client_error(period=PERIOD, statistic="Sum"),
                    http_api.metric_server_error(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p90)",
                left=[http_api.metric_latency(period=PERIOD, statistic="p90")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Worker invocations, errors, duration (max)",
                left=[
                    worker.metric_invocations(period=PERIOD, statistic="Sum"),
                    worker.metric_errors(period=PERIOD, statistic="Sum"),
                ],
                right=[worker.metric_duration(period=PERIOD, statistic="Maximum")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API function errors",
                left=[
                    fn.metric_errors(period=PERIOD, statistic="Sum", label=name)
                    for name, fn in api_functions.items()
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    dlq.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum"
                    )
                ],
                width=12,
            ),
        )

    def _at_least_one(
        self, id: str, description: str, metric: cloudwatch.IMetric
    ) -> cloudwatch.Alarm:
        """An alarm that fires when the metric reaches 1 in one period; no data is not a breach."""
        return cloudwatch.Alarm(
            self,
            id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

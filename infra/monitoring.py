"""Alarms (to an SNS topic) and a small dashboard for operators (docs/operations.md says what
each alarm means and what to do)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.lambda_factory import METRICS_NAMESPACE, SERVICE_NAME

PERIOD = Duration.minutes(5)
# A message older than this is waiting on a backlog or on a retry: a run ends within the
# worker's 15-minute timeout, so no healthy message (in flight or not) gets twice as old.
MESSAGE_AGE_THRESHOLD_SECONDS = 1800
# Failed runs are mostly partners' bad files, a normal outcome. Half of at least ten runs
# failing within an hour is not: a broken deploy, an import type or the sink failing for all.
FAILURE_RATE_PERIOD = Duration.hours(1)
FAILURE_RATE_MIN_RUNS = 10
FAILURE_RATE_THRESHOLD_PERCENT = 50


def intake_metric(name: str, *, period: Duration = PERIOD) -> cloudwatch.Metric:
    """A metric the functions emit with Powertools (EMF): namespace Intake, service=intake."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        period=period,
        statistic="Sum",
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        worker: lambda_.IFunction,
        sweep: lambda_.IFunction,
        http_api: apigw.HttpApi,
        api_functions: dict[str, lambda_.Function],
        sharded_runs: sfn.IStateMachine,
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
            self._alarm(
                "ImportMessageAge",
                f"The oldest import message is over {MESSAGE_AGE_THRESHOLD_SECONDS // 60} "
                "minutes old: a backlog, or messages being retried",
                queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                threshold=MESSAGE_AGE_THRESHOLD_SECONDS,
            ),
            self._alarm(
                "RunFailureRate",
                f"At least {FAILURE_RATE_THRESHOLD_PERCENT}% of the runs in the last hour "
                f"failed (counted once {FAILURE_RATE_MIN_RUNS} runs or more ended)",
                _failure_rate(),
                threshold=FAILURE_RATE_THRESHOLD_PERCENT,
            ),
            self._at_least_one(
                "RunsPastLease",
                "The run sweep found runs stuck in PROCESSING past their lease (a worker "
                "died, or a failed attempt's message never came back)",
                intake_metric("RunsPastLease"),
            ),
            self._at_least_one(
                "QueuedRunsOverdue",
                "The run sweep found QUEUED runs nobody picked up within the grace period",
                intake_metric("QueuedRunsOverdue"),
            ),
            self._at_least_one(
                "ShardedRunsStopped",
                "A sharded run's execution failed or timed out: its file is FAILED until an "
                "operator redrives the execution",
                cloudwatch.MathExpression(
                    expression="FILL(failed, 0) + FILL(timedout, 0)",
                    using_metrics={
                        "failed": sharded_runs.metric_failed(period=PERIOD, statistic="Sum"),
                        "timedout": sharded_runs.metric_timed_out(period=PERIOD, statistic="Sum"),
                    },
                    period=PERIOD,
                    label="Sharded-run executions failed or timed out",
                ),
            ),
            self._at_least_one(
                "SweepErrors",
                "The run sweep function failed",
                sweep.metric_errors(period=PERIOD, statistic="Sum"),
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
            cloudwatch.GraphWidget(
                title="Age of the oldest import message (s)",
                left=[
                    queue.metric_approximate_age_of_oldest_message(
                        period=PERIOD, statistic="Maximum"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Runs ended",
                left=[intake_metric(n) for n in ("RunsSucceeded", "RunsValidated", "RunsFailed")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Sharded runs (executions)",
                left=[
                    sharded_runs.metric_started(period=PERIOD, statistic="Sum"),
                    sharded_runs.metric_succeeded(period=PERIOD, statistic="Sum"),
                    sharded_runs.metric_failed(period=PERIOD, statistic="Sum"),
                    sharded_runs.metric_timed_out(period=PERIOD, statistic="Sum"),
                    sharded_runs.metric_aborted(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Run sweep",
                left=[
                    intake_metric(n)
                    for n in (
                        "RunsPastLease",
                        "QueuedRunsOverdue",
                        "RunsRequeued",
                        "RunsFailedBySweep",
                    )
                ],
                width=12,
            ),
        )

    def _at_least_one(
        self, id: str, description: str, metric: cloudwatch.IMetric
    ) -> cloudwatch.Alarm:
        """An alarm that fires when the metric reaches 1 in one period; no data is not a breach."""
        return self._alarm(id, description, metric, threshold=1)

    def _alarm(
        self, id: str, description: str, metric: cloudwatch.IMetric, *, threshold: float
    ) -> cloudwatch.Alarm:
        """Fires when the metric reaches `threshold` in one period; no data is not a breach."""
        return cloudwatch.Alarm(
            self,
            id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def _failure_rate() -> cloudwatch.MathExpression:
    """Percent of the runs ended in the period that FAILED; 0 below the minimum number of runs.

    The worker counts each run it ends once, as RunsSucceeded, RunsValidated or RunsFailed.
    """
    total = "(FILL(succeeded, 0) + FILL(validated, 0) + FILL(failed, 0))"
    return cloudwatch.MathExpression(
        label="Failed runs (%)",
        expression=(f"IF({total} >= {FAILURE_RATE_MIN_RUNS}, 100 * FILL(failed, 0) / {total}, 0)"),
        using_metrics={
            "succeeded": intake_metric("RunsSucceeded", period=FAILURE_RATE_PERIOD),
            "validated": intake_metric("RunsValidated", period=FAILURE_RATE_PERIOD),
            "failed": intake_metric("RunsFailed", period=FAILURE_RATE_PERIOD),
        },
        period=FAILURE_RATE_PERIOD,
    )

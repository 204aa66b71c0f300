"""Sharded runs (docs/design "Large files"): the three shard functions and the Standard state
machine that plans a large file into shards, runs each phase over them in a Distributed Map,
and loops while the finish step names a next phase.

The definition is built by a module-level function, so the local stack renders the very same
Amazon States Language with its own Lambda ARNs (`render_definition`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import App, Duration, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import compliance
from infra import definitions as d
from infra.lambda_factory import LOG_RETENTION, LambdaFactory

# The shard step retries any error: shard_run raises only on infrastructure faults (a data
# error is reported, never raised), and a shard's report is idempotent (first report wins).
SHARD_RETRY_INTERVAL_SECONDS = 5
SHARD_RETRY_BACKOFF = 2.0
SHARD_RETRY_ATTEMPTS = 3
# shard_finish raises ShardsMissing while a shard's report is not readable yet.
SHARDS_MISSING_ERROR = "ShardsMissing"
RUN_ENDED_ERROR = "RunEnded"
SHARDS_MISSING_INTERVAL_SECONDS = 10
SHARDS_MISSING_ATTEMPTS = 3
# Plan and Finish retry Lambda's service errors (CDK's retry_on_service_exceptions) and its
# throttling, which that retrier leaves out: in an account whose concurrency the worker and
# the shards use up, a throttled step would otherwise fail the execution.
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
THROTTLED_INTERVAL_SECONDS = 2
THROTTLED_BACKOFF = 2.0
THROTTLED_ATTEMPTS = 6
# A failed execution ends here: EventBridge delivers it to the import queue (the worker ends
# the file FAILED with a redrivable reason). No Catch in the definition, so a failed run stays
# redrivable in Step Functions.
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"

COMMENT = "Intake sharded runs: plan, then each phase's shards, then finish"
# The account and region render_definition's throwaway stack claims (nothing is deployed).
_RENDER_ENV = {"account": "123456789012", "region": "us-east-1"}


def _vended_log_group_name(stack: Stack) -> str:
    """/aws/vendedlogs/states/<stack>-sharded-runs-<the stack's own id>: under that prefix,
    Step Functions' log delivery needs no entry in the account's CloudWatch Logs resource
    policy, whose 5,120 characters an account with many logged state machines fills (AWS's
    advice for state machine logs). The stack id's UUID keeps the name new when a deleted
    stack, whose retained log group keeps its name, is deployed again."""
    stack_uuid = Fn.select(2, Fn.split("/", stack.stack_id))
    return Fn.join("", ["/aws/vendedlogs/states/", stack.stack_name, "-sharded-runs-", stack_uuid])


def _retried_when_throttled(task: sfn.TaskStateBase) -> sfn.TaskStateBase:
    task.add_retry(
        errors=[LAMBDA_THROTTLED],
        interval=Duration.seconds(THROTTLED_INTERVAL_SECONDS),
        backoff_rate=THROTTLED_BACKOFF,
        max_attempts=THROTTLED_ATTEMPTS,
    )
    return task


def build_definition(
    scope: Construct,
    plan_fn: lambda_.IFunction,
    run_fn: lambda_.IFunction,
    finish_fn: lambda_.IFunction,
    *,
    max_concurrency: int = d.SHARD_MAX_CONCURRENCY,
) -> sfn.IChainable:
    """Plan -> Planned? -> Phase -> Shards (Distributed Map of shard_run) -> Finish -> Done? ->
    (Next phase -> Shards | Ended); Planned? goes to Ended when the plan ended the run (a file
    that cannot be read through). JSONPath throughout; no Catch anywhere.

    The execution's input is {"tenant", "file_id", "run"}; every step passes those on.
    """
    run_keys: dict[str, object] = {
        "tenant": sfn.JsonPath.string_at("$.tenant"),
        "file_id": sfn.JsonPath.string_at("$.file_id"),
        "run": sfn.JsonPath.number_at("$.run"),
    }
    plan = _retried_when_throttled(
        tasks.LambdaInvoke(
            scope,
            "Plan",
            lambda_function=plan_fn,
            # No payload given: the function's event is the state's input, {"tenant", ...}.
            # (TaskInput.from_json_path_at("$") would render "Parameters": "$", invalid ASL.)
            payload_response_only=True,
            retry_on_service_exceptions=True,
            result_path="$.plan",
        )
    )
    phase = sfn.Pass(
        scope,
        "Phase",
        parameters={
            **run_keys,
            "plan": sfn.JsonPath.object_at("$.plan"),
            "phase": sfn.JsonPath.string_at("$.plan.phase"),
        },
    )
    shard = (
        tasks.LambdaInvoke(
            scope,
            "Shard",
            lambda_function=run_fn,
            payload_response_only=True,  # the item the map selected is the event
            # States.ALL covers Lambda's service errors too.
            retry_on_service_exceptions=False,
        )
        .add_retry(
            # The run ended or moved on (logic/run_steps.RunEnded): trying again cannot help.
            errors=[RUN_ENDED_ERROR],
            max_attempts=0,
        )
        .add_retry(
            errors=[sfn.Errors.ALL],
            interval=Duration.seconds(SHARD_RETRY_INTERVAL_SECONDS),
            backoff_rate=SHARD_RETRY_BACKOFF,
            max_attempts=SHARD_RETRY_ATTEMPTS,
        )
    )
    shards = sfn.DistributedMap(
        scope,
        "Shards",
        items_path="$.plan.shards",
        item_selector={
            **run_keys,
            "phase": sfn.JsonPath.string_at("$.phase"),
            "object": sfn.JsonPath.object_at("$.plan.object"),
            "shard": sfn.JsonPath.object_at("$$.Map.Item.Value"),
        },
        max_concurrency=max_concurrency,
        map_execution_type=sfn.StateMachineType.STANDARD,
        # The shards' answers are in the status table (shard reports); the state keeps only
        # the plan, so a file of many shards stays far from the 256 KiB state limit.
        result_path=sfn.JsonPath.DISCARD,
        # No tolerated failures (Step Functions' default, 0, so not written): a shard that
        # fails every retry fails the map and the execution, which can then be redriven.
    )
    shards.item_processor(shard)
    finish = tasks.LambdaInvoke(
        scope,
        "Finish",
        lambda_function=finish_fn,
        payload=sfn.TaskInput.from_object(
            {
                **run_keys,
                "phase": sfn.JsonPath.string_at("$.phase"),
                "shard_count": sfn.JsonPath.array_length(sfn.JsonPath.list_at("$.plan.shards")),
            }
        ),
        payload_response_only=True,
        retry_on_service_exceptions=True,
        # {"phase": "write"|"locate"|null}. A JSONPath ResultSelector can only build an
        # object, so the answer lands beside the state and "Next phase" lifts it to $.phase.
        result_path="$.finished",
    ).add_retry(
        errors=[SHARDS_MISSING_ERROR],
        interval=Duration.seconds(SHARDS_MISSING_INTERVAL_SECONDS),
        max_attempts=SHARDS_MISSING_ATTEMPTS,
    )
    _retried_when_throttled(finish)
    next_phase = sfn.Pass(
        scope,
        "Next phase",
        parameters={
            **run_keys,
            "plan": sfn.JsonPath.object_at("$.plan"),
            "phase": sfn.JsonPath.string_at("$.finished.phase"),
        },
    )
    ended = sfn.Succeed(scope, "Ended")
    done = (
        sfn.Choice(scope, "Done?")
        .when(sfn.Condition.is_null("$.finished.phase"), ended)
        .otherwise(next_phase.next(shards))
    )
    # The plan ends the run itself when the file cannot be read through (a gzip cut short):
    # no phase, nothing to shard.
    planned = (
        sfn.Choice(scope, "Planned?")
        .when(sfn.Condition.is_null("$.plan.phase"), ended)
        .otherwise(phase.next(shards).next(finish).next(done))
    )
    return plan.next(planned)


def render_definition(function_arns: Mapping[str, str]) -> str:
    """The state machine's ASL (JSON, no CloudFormation tokens) with these Lambda ARNs, keyed
    by FunctionDef name (shard_plan, shard_run, shard_finish): the local stack's definition.

    Builds a throwaway App and Stack through jsii. Measured here: importing aws_cdk (jsii starts
    node) 1-3 s, the first render 0.15-0.7 s, later ones 0.03-0.15 s (docs/architecture.md).
    """
    missing = {fn.name for fn in d.SHARD_FUNCTIONS} - set(function_arns)
    if missing:
        raise KeyError(f"no ARN for {', '.join(sorted(missing))}")
    stack = Stack(App(), "ShardedRunsDefinition", env=_RENDER_ENV)
    functions = {
        fn.name: lambda_.Function.from_function_arn(stack, fn.name, function_arns[fn.name])
        for fn in d.SHARD_FUNCTIONS
    }
    chain = build_definition(
        stack,
        functions[d.SHARD_PLAN.name],
        functions[d.SHARD_RUN.name],
        functions[d.SHARD_FINISH.name],
    )
    # Rendered by a state machine, as in the template: the JSON is written on the jsii side.
    # (Resolving a StateGraph's to_graph_json() from Python drops the map's "ResultPath": null,
    # and the shards' results would then replace the state.)
    machine = sfn.StateMachine(
        stack,
        "StateMachine",
        comment=COMMENT,
        definition_body=sfn.DefinitionBody.from_chainable(chain),
    )
    cfn = machine.node.default_child
    assert isinstance(cfn, sfn.CfnStateMachine)
    definition = stack.resolve(cfn.definition_string)
    if not isinstance(definition, str) or "${Token[" in definition:
        raise ValueError(f"the definition did not render to plain JSON: {definition!r:.200}")
    return definition


class ShardedRuns(Construct):
    """The shard functions, each granted what its step does, and the state machine that runs
    them; failed executions are reported to the import queue."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        factory: LambdaFactory,
        bucket: s3.IBucket,
        status_table: dynamodb.ITable,
        records_table: dynamodb.ITable,
        import_queue: sqs.IQueue,
        environment: Mapping[str, str],
        max_concurrency: int = d.SHARD_MAX_CONCURRENCY,
    ) -> None:
        super().__init__(scope, id)
        self.functions = {fn.name: factory.create(self, fn) for fn in d.SHARD_FUNCTIONS}
        plan = self.functions[d.SHARD_PLAN.name]
        run = self.functions[d.SHARD_RUN.name]
        finish = self.functions[d.SHARD_FINISH.name]
        for function in self.functions.values():
            for name, value in environment.items():
                function.add_environment(name, value)
            # Each step reads and writes the file's status and its shard reports.
            status_table.grant_read_write_data(function)
            compliance.acknowledge_wildcards(
                function,
                compliance.TABLE_INDEX_GRANT,
                resources=[compliance.arn_finding(status_table, "/index/*")],
            )
        sources = (*d.NOTIFIED_PREFIXES, d.STAGING_PREFIX)
        # The plan reads the whole object once; a gzip or ZIP member is re-staged as a plain
        # copy under staging/ (put), which the shards then read by byte range.
        self._grant(plan, bucket, read=sources, put=(d.STAGING_PREFIX,))
        # A shard reads its byte range and writes its records (overflow objects under records/)
        # and its valid rows' key hashes and repeated-key findings (under staging/).
        self._grant(run, bucket, read=sources, put=(d.RECORD_PREFIX, d.STAGING_PREFIX))
        records_table.grant_write_data(run)
        # The finish step reads the shards' key hashes and findings and writes what it found
        # repeated (staging/), the run's error report (reports/) and the completion event.
        staging = (d.STAGING_PREFIX,)
        self._grant(finish, bucket, read=staging, put=(d.REPORT_PREFIX, d.STAGING_PREFIX))
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", d.EVENT_BUS_NAME)
        bus.grant_put_events_to(finish)
        finish.add_environment("EVENT_BUS_NAME", bus.event_bus_name)

        self.log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=_vended_log_group_name(Stack.of(self)),
            retention=LOG_RETENTION,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=COMMENT,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                build_definition(self, plan, run, finish, max_concurrency=max_concurrency)
            ),
            tracing_enabled=True,
            # ALL events without execution data: the history says which step failed and why;
            # the inputs (keys, shard ranges) are in the execution's own history.
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self._acknowledge_state_machine_role()

        self.failures = events.Rule(
            self,
            "FailedExecutions",
            description="A failed, timed-out or aborted sharded run -> the import queue",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={
                    "status": list(FAILED_STATUSES),
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            # The target adds the queue policy statement for events.amazonaws.com (this rule).
            targets=[targets.SqsQueue(import_queue)],
        )

    @staticmethod
    def _grant(
        function: lambda_.Function,
        bucket: s3.IBucket,
        *,
        read: tuple[str, ...],
        put: tuple[str, ...],
    ) -> None:
        for prefix in read:
            bucket.grant_read(function, f"{prefix}*")
        for prefix in put:
            bucket.grant_put(function, f"{prefix}*")
        prefixes = dict.fromkeys((*read, *put))
        compliance.acknowledge_wildcards(
            function,
            compliance.S3_PREFIX_GRANT.format(prefixes=", ".join(prefixes)),
            actions=[
                *(compliance.S3_READ_ACTIONS if read else ()),
                *(compliance.S3_PUT_ACTIONS if put else ()),
            ],
            resources=[compliance.arn_finding(bucket, f"/{prefix}*") for prefix in prefixes],
        )

    def _acknowledge_state_machine_role(self) -> None:
        machine = self.state_machine
        compliance.acknowledge(
            machine,
            "IAM5",
            "CDK's LambdaInvoke grant: each of the three shard functions and its versions "
            "(<function ARN>:*); the state machine may invoke no other function.",
            findings=[compliance.arn_finding(fn, ":*") for fn in self.functions.values()],
        )
        compliance.acknowledge(
            machine,
            "IAM5",
            "Tracing and logging of the state machine: the X-Ray writes and the CloudWatch Logs "
            "log-delivery actions take no resource ARN, so IAM requires Resource *.",
            findings=["Resource::*"],
        )
        # CDK's DistributedMapPolicy (the map's child executions, per the Step Functions guide
        # "IAM policies for using Distributed Map states"): StartExecution on this state
        # machine, Describe/StopExecution on its executions, RedriveExecution on its map runs'.
        cfn = machine.node.default_child
        assert isinstance(cfn, sfn.CfnStateMachine)
        logical_id = Stack.of(self).resolve(cfn.logical_id)
        name = json.dumps(
            {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": logical_id}]}]},
            separators=(",", ":"),
        )
        executions = (
            f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}"
        )
        compliance.acknowledge(
            machine,
            "IAM5",
            "A Distributed Map runs its shards as child executions of this state machine: it "
            "describes and stops its own executions (execution:<this machine>:*) and redrives "
            "its own map runs (execution:<this machine>/*:*), nothing of other state machines.",
            findings=[f"{executions}:*", f"{executions}/*:*"],
        )

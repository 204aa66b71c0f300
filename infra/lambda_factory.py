"""The one place that decides how an Intake Lambda function is built."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import compliance
from infra import definitions as d
from infra.config import REPO_ROOT

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "handler.lambda_handler"
FUNCTIONS_DIR = REPO_ROOT / "functions"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", ".built"]
# Powertools: every function's metrics go to this namespace with the dimension service=<name>
# (the alarms in infra/monitoring.py read them there).
SERVICE_NAME = "intake"
METRICS_NAMESPACE = "Intake"

# Powertools log level name -> Lambda's application log level (JSON logging controls).
_APPLICATION_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


class LambdaFactory(Construct):
    """Builds every function the same way: python3.12 on arm64, X-Ray tracing, JSON logs
    into a log group with a retention, the shared-code and dependencies layers, Powertools
    settings and the application environment (names as in intake.settings.Settings).

    It grants nothing: each construct grants its functions what they use.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        status_table: dynamodb.ITable,
        records_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        import_queue: sqs.IQueue,
        tenant_claim: str,
        deps_layer_path: Path,
        log_level: str = "INFO",
    ) -> None:
        super().__init__(scope, id)
        if not (deps_layer_path / "python").is_dir():
            raise FileNotFoundError(
                f"dependencies layer not found at {deps_layer_path}/python: run `make layer` "
                "first (or point context depsLayerPath at a folder that holds python/)"
            )
        self._log_level = log_level
        self.layers = [
            lambda_.LayerVersion(
                self,
                "SharedLayer",
                code=lambda_.Code.from_asset(str(SHARED_LAYER_DIR), exclude=ASSET_EXCLUDE),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description="Intake shared code (the intake package)",
            ),
            lambda_.LayerVersion(
                self,
                "DepsLayer",
                code=lambda_.Code.from_asset(str(deps_layer_path), exclude=ASSET_EXCLUDE),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description="Intake third-party dependencies (requirements/lambda.txt)",
            ),
        ]
        self.environment = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "BUCKET_NAME": bucket.bucket_name,
            "STATUS_TABLE": status_table.table_name,
            "RECORDS_TABLE": records_table.table_name,
            "IDEMPOTENCY_TABLE": idempotency_table.table_name,
            "IMPORT_QUEUE_URL": import_queue.queue_url,
            "TENANT_CLAIM": tenant_claim,
            # The worker ends a run FAILED on the last delivery SQS will make.
            "IMPORT_QUEUE_MAX_RECEIVES": str(d.IMPORT_QUEUE.max_receive_count),
            # A failed delivery comes back after this; the run sweep leaves it to SQS till then.
            "IMPORT_QUEUE_VISIBILITY_SECONDS": str(d.IMPORT_QUEUE.visibility_timeout_seconds),
        }

    def create(self, scope: Construct, fn: d.FunctionDef) -> lambda_.Function:
        """The function for `fn`, code from functions/<fn.name>/, in `scope`."""
        code_dir = FUNCTIONS_DIR / fn.name
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(f"{code_dir}/handler.py not found (FunctionDef {fn.name})")
        construct_id = "".join(part.title() for part in fn.name.split("_"))
        log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=LOG_RETENTION)
        # Its own role, allowed to write to its own log group only: the default role's managed
        # AWSLambdaBasicExecutionRole may create log groups and write to any of them.
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Intake {fn.name}",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            construct_id,
            description=fn.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDE),
            layers=self.layers,
            timeout=Duration.seconds(fn.timeout_seconds),
            memory_size=fn.memory_mb,
            ephemeral_storage_size=Size.mebibytes(fn.ephemeral_storage_mb),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_APPLICATION_LOG_LEVELS[self._log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            role=role,
            environment=dict(self.environment),
        )
        compliance.acknowledge_wildcards(
            function,
            "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords take no "
            "resource ARN, so IAM requires Resource *.",
            resources=["Resource::*"],
        )
        compliance.acknowledge(
            function,
            "L1",
            f"{RUNTIME.name} on purpose: the dependencies layer is built for that Python "
            "(Makefile LAYER_PYTHON, compiled wheels such as pydantic_core), so the runtime and "
            "the layer move together in one change; python3.12 is a supported Lambda runtime.",
        )
        return function

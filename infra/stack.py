"""The Intake stack: composes one construct per concern; no resources are defined here."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import definitions as d
from infra.api import Api
from infra.auth import Auth
from infra.config import IntakeConfig
from infra.import_pipeline import ImportQueue, ImportWorker
from infra.lambda_factory import LambdaFactory
from infra.monitoring import Monitoring
from infra.run_sweep import RunSweep
from infra.sharded_runs import ShardedRuns
from infra.storage import Storage
from infra.tables import Tables


class IntakeStack(Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        config = IntakeConfig.from_context(self.node)

        storage = Storage(self, "Storage", cors_origins=config.cors_origins)
        tables = Tables(self, "Tables", records_warm_writes=config.records_warm_writes)
        pipeline = ImportQueue(self, "ImportQueue", bucket=storage.bucket)
        auth = Auth(
            self,
            "Auth",
            issuer=config.auth_issuer,
            audience=config.auth_audience,
            tenants=config.tenants,
            cognito_domain_prefix=config.cognito_domain_prefix,
        )
        factory = LambdaFactory(
            self,
            "Functions",
            bucket=storage.bucket,
            status_table=tables.status_table,
            records_table=tables.records_table,
            idempotency_table=tables.idempotency_table,
            import_queue=pipeline.queue,
            tenant_claim=config.tenant_claim,
            deps_layer_path=config.deps_layer_path,
            log_level=config.log_level,
        )
        sharded_runs = ShardedRuns(
            self,
            "ShardedRuns",
            factory=factory,
            bucket=storage.bucket,
            status_table=tables.status_table,
            records_table=tables.records_table,
            import_queue=pipeline.queue,
            environment=config.shard_environment,
            max_concurrency=config.shard_max_concurrency,
        )
        worker = ImportWorker(
            self,
            "ImportWorker",
            factory=factory,
            queue=pipeline.queue,
            bucket=storage.bucket,
            status_table=tables.status_table,
            records_table=tables.records_table,
            sharded_runs=sharded_runs.state_machine,
            environment=config.shard_environment,
        )
        api = Api(
            self,
            "Api",
            factory=factory,
            bucket=storage.bucket,
            status_table=tables.status_table,
            idempotency_table=tables.idempotency_table,
            import_queue=pipeline.queue,
            jwt_issuer=auth.issuer,
            jwt_audience=auth.audience,
            cors_origins=config.cors_origins,
        )
        # files_api signs uploads: multipart above the threshold, in parts of at least this.
        for name, value in config.upload_environment.items():
            api.functions[d.FILES_API.name].add_environment(name, value)
        sweep = RunSweep(
            self,
            "RunSweep",
            factory=factory,
            status_table=tables.status_table,
            import_queue=pipeline.queue,
        )
        Monitoring(
            self,
            "Monitoring",
            queue=pipeline.queue,
            dlq=pipeline.dlq,
            worker=worker.function,
            sweep=sweep.function,
            http_api=api.http_api,
            api_functions=api.functions,
            sharded_runs=sharded_runs.state_machine,
            alarm_email=config.alarm_email,
        )

        CfnOutput(self, "ApiUrl", value=api.url)
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(
            self,
            "DeadLetterQueueArn",
            value=pipeline.dlq.queue_arn,
            description="aws sqs start-message-move-task --source-arn <this> (docs/operations.md)",
        )
        CfnOutput(self, "JwtIssuer", value=auth.issuer)
        CfnOutput(
            self,
            "ShardedRunsStateMachineArn",
            value=sharded_runs.state_machine.state_machine_arn,
            description="aws stepfunctions redrive-execution: docs/operations.md",
        )
        if auth.user_pool and auth.domain:
            CfnOutput(self, "UserPoolId", value=auth.user_pool.user_pool_id)
            CfnOutput(self, "TokenUrl", value=f"{auth.domain.base_url()}/oauth2/token")
            for tenant, client in auth.clients.items():
                CfnOutput(
                    self,
                    f"TenantClientId{tenant.title().replace('-', '')}",
                    value=client.user_pool_client_id,
                    description=f"App client (and tenant id) of tenant {tenant}",
                )

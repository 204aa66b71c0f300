"""The HTTP API: JWT-authorized routes from definitions.ROUTES onto the API functions."""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw_rest
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import compliance
from infra import definitions as d
from infra.lambda_factory import LOG_RETENTION, LambdaFactory

THROTTLE_RATE_LIMIT = 100  # requests per second, steady state, whole stage
THROTTLE_BURST_LIMIT = 200
CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
# One JSON object per request in the access log group (HTTP API $context variables).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_rest.AccessLogFormat:
        return apigw_rest.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        factory: LambdaFactory,
        bucket: s3.IBucket,
        status_table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        import_queue: sqs.IQueue,
        jwt_issuer: str,
        jwt_audience: Sequence[str],
        cors_origins: Sequence[str],
    ) -> None:
        super().__init__(scope, id)
        self.functions: dict[str, lambda_.Function] = {
            fn.name: factory.create(self, fn)
            for fn in (d.FILES_API, d.IMPORTS_API, d.CATALOG_API, d.PROFILES_API)
        }
        files = self.functions[d.FILES_API.name]
        status_table.grant_read_write_data(files)
        # Presigned PUTs (and multipart parts) for uploads; presigned GETs for error reports.
        bucket.grant_put(files, f"{d.UPLOAD_PREFIX}*")  # s3:Abort* included: DELETE .../upload
        # GET /files/{file_id}/upload lists the parts S3 has of a multipart upload (ListParts);
        # no grant_* covers that action alone, and grant_read would also let it read uploads.
        iam.Grant.add_to_principal(
            grantee=files,
            actions=["s3:ListMultipartUploadParts"],
            resource_arns=[bucket.arn_for_objects(f"{d.UPLOAD_PREFIX}*")],
        )
        bucket.grant_read(files, f"{d.REPORT_PREFIX}*")
        imports = self.functions[d.IMPORTS_API.name]
        status_table.grant_read_write_data(imports)
        import_queue.grant_send_messages(imports)
        # The two POST routes remember Idempotency-Key answers; no other function reads them.
        for fn in (files, imports):
            idempotency_table.grant_read_write_data(fn)
        # Profiles live in the status table, under the tenant's partition (profile_repository).
        profiles = self.functions[d.PROFILES_API.name]
        status_table.grant_read_write_data(profiles)
        # catalog_api serves import types and the OpenAPI document: no data access.
        for fn in (files, imports, profiles):
            compliance.acknowledge_wildcards(
                fn,
                compliance.TABLE_INDEX_GRANT,
                resources=[compliance.arn_finding(status_table, "/index/*")],
            )
        compliance.acknowledge_wildcards(
            files,
            compliance.S3_PREFIX_GRANT.format(prefixes=f"{d.UPLOAD_PREFIX}, {d.REPORT_PREFIX}"),
            actions=[*compliance.S3_READ_ACTIONS, *compliance.S3_PUT_ACTIONS],
            resources=[
                compliance.arn_finding(bucket, f"/{prefix}*")
                for prefix in (d.UPLOAD_PREFIX, d.REPORT_PREFIX)
            ],
        )

        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"{Stack.of(self).stack_name}-api",
            description="Intake: declare files, upload to S3, import",
            create_default_stage=False,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(cors_origins),
                allow_methods=[
                    apigw.CorsHttpMethod.GET,
                    apigw.CorsHttpMethod.POST,
                    apigw.CorsHttpMethod.PUT,
                    apigw.CorsHttpMethod.DELETE,
                ],
                allow_headers=CORS_ALLOWED_HEADERS,
                max_age=Duration.hours(1),
            ),
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        self.stage = self.http_api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(self.access_logs),
            throttle=apigw.ThrottleSettings(
                rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT
            ),
        )
        authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer",
            jwt_issuer=jwt_issuer,
            jwt_audience=list(jwt_audience),
            identity_source=["$request.header.Authorization"],
        )
        integration = {
            name: integrations.HttpLambdaIntegration(f"{name}-integration", fn)
            for name, fn in self.functions.items()
        }
        for route in d.ROUTES:
            added = self.http_api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod(route.method)],
                integration=integration[route.function.name],
                authorizer=authorizer if route.scopes else apigw.HttpNoneAuthorizer(),
                authorization_scopes=list(route.scopes) or None,
            )
            if not route.scopes:
                for public in added:
                    compliance.acknowledge(
                        public,
                        "APIG4",
                        f"{route.method} {route.path} is public on purpose: it serves the "
                        "OpenAPI document or Swagger UI (the API's contract), no tenant data, "
                        "and its function has no data access.",
                    )

    @property
    def url(self) -> str:
        url = self.stage.url
        assert url is not None
        return url

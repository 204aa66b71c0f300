"""The HTTP API: JWT-authorized routes from definitions.ROUTES onto the API functions."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import definitions as d
from infra.lambda_factory import LambdaFactory

THROTTLE_RATE_LIMIT = 100  # requests per second, steady state, whole stage
THROTTLE_BURST_LIMIT = 200
CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]


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
            fn.name: factory.create(self, fn) for fn in (d.FILES_API, d.IMPORTS_API, d.CATALOG_API)
        }
        files = self.functions[d.FILES_API.name]
        status_table.grant_read_write_data(files)
        # Presigned PUTs (and multipart parts) for uploads; presigned GETs for error reports.
        bucket.grant_put(files, f"{d.UPLOAD_PREFIX}*")
        bucket.grant_read(files, f"{d.REPORT_PREFIX}*")
        imports = self.functions[d.IMPORTS_API.name]
        status_table.grant_read_write_data(imports)
        import_queue.grant_send_messages(imports)
        # The two POST routes remember Idempotency-Key answers; no other function reads them.
        for fn in (files, imports):
            idempotency_table.grant_read_write_data(fn)
        # catalog_api serves import types and the OpenAPI document: no data access.

        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"{Stack.of(self).stack_name}-api",
            description="Intake: declare files, upload to S3, import",
            create_default_stage=False,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(cors_origins),
                allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST],
                allow_headers=CORS_ALLOWED_HEADERS,
                max_age=Duration.hours(1),
            ),
        )
        self.stage = self.http_api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
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
            self.http_api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod(route.method)],
                integration=integration[route.function.name],
                authorizer=authorizer if route.scopes else apigw.HttpNoneAuthorizer(),
                authorization_scopes=list(route.scopes) or None,
            )

    @property
    def url(self) -> str:
        url = self.stage.url
        assert url is not None
        return url

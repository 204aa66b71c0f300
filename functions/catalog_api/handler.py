"""GET /import-types, GET /openapi.json and GET /docs (Swagger UI, served inline).

The resolver includes every router so the OpenAPI document describes the whole API; API
Gateway routes only the catalog paths here, and this function has no data permissions.
"""

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.api import catalog, files, imports, profiles
from intake.api.app import DESCRIPTION, SECURITY, SECURITY_SCHEMES, TITLE, VERSION, build_app
from intake.api.app import openapi_json as render_openapi
from intake.observability import logger, metrics, tracer

app = build_app(catalog.router, files.router, imports.router, profiles.router)
app.enable_swagger(
    path="/docs",
    title=TITLE,
    version=VERSION,
    description=DESCRIPTION,
    security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
    security=SECURITY,
)


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    metrics.add_metric(name="OpenApiReads", unit="Count", value=1)
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=render_openapi(app)
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

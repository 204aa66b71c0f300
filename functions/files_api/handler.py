"""POST /files, GET /files, GET /files/{file_id}, GET and DELETE /files/{file_id}/upload."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from intake.api import files
from intake.api.app import build_app
from intake.observability import logger, metrics, tracer

app = build_app(files.router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

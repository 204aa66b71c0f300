"""One way to build an API function's resolver: validation on, errors in the contract's shape."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from intake.api.errors import register_error_handlers

TITLE = "Intake"
VERSION = "1.0.0"
DESCRIPTION = (
    "Declare a file, upload its bytes straight to S3 with the returned block, then validate "
    "or import it and follow its status."
)
SECURITY_SCHEMES = {"bearerAuth": HTTPBearer(bearerFormat="JWT")}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def build_app(*routers: Router) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)
    return app


def openapi_json(app: APIGatewayHttpResolver) -> str:
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
        security=SECURITY,
    )

"""The caller's tenant, from the claims the HTTP API's JWT authorizer verified."""

from __future__ import annotations

import re

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from intake.errors import Forbidden
from intake.settings import get_settings

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def tenant_of(event: APIGatewayProxyEventV2) -> str:
    claims = event.request_context.authorizer.jwt_claim if event.request_context.authorizer else {}
    tenant = str(claims.get(get_settings().tenant_claim) or "")
    if not _TENANT.match(tenant):
        # A verified token without a usable tenant: authenticated, but not allowed anything.
        raise Forbidden(f"the token has no valid {get_settings().tenant_claim!r} claim")
    return tenant

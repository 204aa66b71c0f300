"""The caller's tenant, from the claims the HTTP API's JWT authorizer verified."""

from __future__ import annotations

import re
from typing import cast

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from intake.errors import Forbidden
from intake.observability import logger
from intake.settings import get_settings

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def tenant_of(event: BaseProxyEvent) -> str:
    context = cast(APIGatewayProxyEventV2, event).request_context  # HTTP API, payload 2.0
    claims = context.authorizer.jwt_claim if context.authorizer else {}
    tenant = str(claims.get(get_settings().tenant_claim) or "")
    if not _TENANT.match(tenant):
        # A verified token without a usable tenant: authenticated, but not allowed anything.
        raise Forbidden(f"the token has no valid {get_settings().tenant_claim!r} claim")
    logger.thread_safe_append_keys(tenant=tenant)  # on every line of the request from here on
    return tenant

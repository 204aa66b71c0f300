"""`Idempotency-Key` on the POST routes, with Powertools idempotency over the idempotency table.

- The key is scoped: the stored record's id is a hash of the route, the tenant and the key, so
  two tenants (or the two routes) using the same key never meet.
- Within KEY_TTL_SECONDS the same key with the same request (compared as parsed: whitespace,
  key order and spelled-out defaults do not matter) answers what the first request answered.
- The same key with another request: 409 `idempotency_key_reused`. While the first request
  with the key is still running: 409 `idempotency_key_in_progress` (retry after it answers).
- Only successful answers are remembered: Powertools deletes the record when the route raises,
  so a request that failed (404, 409 illegal_state, ...) may be retried with the same key.
- Without the header a route behaves as if this module did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import (
    PydanticSerializer,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from intake.dal.idempotency_store import persistence_layer
from intake.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, Unavailable
from intake.observability import logger

KEY_HEADER = "Idempotency-Key"
KEY_TTL_SECONDS = 24 * 3600
KEY_MAX_LENGTH = 255
# UUIDs, ULIDs, hex and base64 digests, and readable ids like "order-42:v2" all fit.
KEY_PATTERN = r"^[A-Za-z0-9._:~+/=-]+$"
_KEY_PREFIX = "intake-api"  # stored ids are "intake-api#<sha256 of route, tenant, key>"

IDEMPOTENCY_KEY = Header(
    alias=KEY_HEADER,
    min_length=1,
    max_length=KEY_MAX_LENGTH,
    pattern=KEY_PATTERN,
    description=(
        "Optional. Retrying with the same key and the same body within 24 hours answers what "
        "the first request answered, without doing it again. The same key with another body "
        "is a 409 `idempotency_key_reused`; while the first request is still running, a 409 "
        "`idempotency_key_in_progress`. Keys are scoped to the tenant and the route; only "
        "successful answers are remembered."
    ),
)

M = TypeVar("M", bound=BaseModel)


def once(
    *,
    route: str,
    tenant: str,
    key: str | None,
    request: dict[str, Any],
    model: type[M],
    run: Callable[[], M],
    context: LambdaContext | None,
) -> tuple[M, bool]:
    """`run()`'s answer; with a key, the answer the first request with that key got.

    The flag is True when the answer is a replay of an earlier one.
    """
    if key is None:
        return run(), False
    replayed = False

    def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
        nonlocal replayed
        replayed = True
        return response

    # Every call's config sets the same key, validation and expiry (the persistence layer takes
    # those from the first config it sees); only the invocation's context and the hook differ.
    # The context bounds an in-progress record by the invocation's remaining time, so a request
    # killed by a timeout does not hold its key for 24 hours.
    config = IdempotencyConfig(
        event_key_jmespath="[route, tenant, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEY_TTL_SECONDS,
        hash_function="sha256",
        lambda_context=context,
        response_hook=_replayed,
    )

    def _run(*, payload: dict[str, Any]) -> M:
        return run()

    idempotent = idempotent_function(
        _run,
        data_keyword_argument="payload",
        persistence_store=persistence_layer(),
        config=config,
        output_serializer=PydanticSerializer(model),
        key_prefix=_KEY_PREFIX,
    )
    payload = {"route": route, "tenant": tenant, "key": key, "request": request}
    try:
        answer: M = idempotent(payload=payload)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"this {KEY_HEADER} was used with a different request",
            details=[_detail("idempotency_key_reused", "use a new key for a new request")],
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInProgress(
            f"the first request with this {KEY_HEADER} has not answered yet",
            details=[_detail("idempotency_key_in_progress", "retry once it has answered")],
        ) from None
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError):
        logger.exception("idempotency store failed")
        raise Unavailable(
            f"requests with an {KEY_HEADER} cannot be served right now; retry"
        ) from None
    if replayed:
        logger.info("idempotent replay", extra={"route": route})
    return answer, replayed


def _detail(code: str, message: str) -> dict[str, str]:
    return {"field": KEY_HEADER.lower(), "code": code, "message": message}

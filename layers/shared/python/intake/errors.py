"""Domain errors. The API maps each to one HTTP status; the worker maps them to terminal states."""

from __future__ import annotations

from typing import Any


class IntakeError(Exception):
    code = "intake_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(IntakeError):
    code = "bad_request"


class NotFound(IntakeError):
    code = "not_found"


class Conflict(IntakeError):
    """The file is not in a state that allows the operation (or another writer won)."""

    code = "illegal_state"


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key came back with a request other than the one it was first used with."""

    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(Conflict):
    """The first request with this Idempotency-Key has not answered yet."""

    code = "idempotency_key_in_progress"


class PayloadTooLarge(IntakeError):
    code = "too_large"


class UnsupportedMediaType(IntakeError):
    code = "unsupported_media_type"


class InvalidFields(IntakeError):
    code = "validation_error"


class Unavailable(IntakeError):
    """A dependency refused the request; nothing was changed and the client may retry."""

    code = "unavailable"


class Forbidden(IntakeError):
    """A verified token that may not do this (e.g. no usable tenant claim). There is no
    Unauthorized: API Gateway's JWT authorizer answers every 401 before a function runs."""

    code = "forbidden"


class RetryLater(Exception):
    """Another delivery holds a live lease on this run; let SQS deliver the message again.

    Not an IntakeError: no API answer or terminal state comes of it, only a redelivery."""

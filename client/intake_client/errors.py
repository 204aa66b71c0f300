"""What the client raises."""

from __future__ import annotations

from typing import Any


class IntakeError(Exception):
    """Base class of everything the client raises on purpose."""


class IntakeApiError(IntakeError):
    """The API (or the gateway in front of it) refused a request.

    `code` is the Intake error code from {"error": {"code", "message", "details"}}. API
    Gateway's own answers ({"message": "Unauthorized"} and the like, which the HTTP API sends
    before the function runs) are mapped to the same codes by status.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.request_id = request_id


class IntakeUploadError(IntakeApiError):
    """S3 refused the upload (code and message from S3's XML error)."""


class IntakeTimeout(IntakeError):
    """wait_for gave up; `file` is the last state seen."""

    def __init__(self, message: str, file: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.file = file

"""A small Python client for the Intake HTTP API (and the `intake` command)."""

from intake_client.client import IntakeClient, file_facts, media_type_for
from intake_client.errors import IntakeApiError, IntakeError, IntakeTimeout, IntakeUploadError

__all__ = [
    "IntakeApiError",
    "IntakeClient",
    "IntakeError",
    "IntakeTimeout",
    "IntakeUploadError",
    "file_facts",
    "media_type_for",
]

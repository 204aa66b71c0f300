"""Messages on the import queue besides S3's own notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from intake.models.domain import OnInvalid


class ImportMessage(BaseModel):
    kind: Literal["intake.import"] = "intake.import"
    tenant: str
    file_id: str
    run: int  # the run this message starts; a stale redelivery of an older run is dropped
    check_only: bool
    on_invalid: OnInvalid

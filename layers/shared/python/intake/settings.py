"""The functions' environment as one pydantic model behind a cached getter."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    bucket_name: str = Field(alias="BUCKET_NAME")
    status_table: str = Field(alias="STATUS_TABLE")
    records_table: str = Field(alias="RECORDS_TABLE")
    # Idempotency-Key records of POST /files and POST /files/{file_id}/import (the API only).
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    import_queue_url: str = Field(alias="IMPORT_QUEUE_URL")
    tenant_claim: str = Field("tenant", alias="TENANT_CLAIM")
    upload_url_ttl_seconds: int = Field(
        900, alias="UPLOAD_URL_TTL_SECONDS", ge=60, le=7 * 24 * 3600
    )
    report_url_ttl_seconds: int = Field(
        900, alias="REPORT_URL_TTL_SECONDS", ge=60, le=7 * 24 * 3600
    )
    # Completion events ("Intake File Finished") go to this EventBridge bus.
    event_bus_name: str = Field("default", alias="EVENT_BUS_NAME")
    # Declared sizes above this get a presigned multipart upload, resumable part by part
    # (docs/decisions.md: why 64 MiB). S3 caps a single PUT at 5 GiB, so no higher.
    multipart_threshold_bytes: int = Field(
        64 * 1024**2, alias="MULTIPART_THRESHOLD_BYTES", ge=5 * 1024**2, le=5 * 1024**3
    )
    # Smallest part size (S3's minimum is 5 MiB, its maximum 5 GiB); parts grow so there are
    # at most 10,000. 16 MiB: a file just over the threshold has 4 parts for the client's 4
    # parallel senders, and a resumed upload repeats at most 16 MiB per part in flight.
    multipart_part_bytes: int = Field(
        16 * 1024**2, alias="MULTIPART_PART_BYTES", ge=5 * 1024**2, le=5 * 1024**3
    )
    # Sharded runs (docs/design "Large files"): a records file larger than this runs on the
    # sharded-runs state machine, cut into shards of about SHARD_SIZE_BYTES; smaller files
    # (and every file while SHARDED_RUNS_STATE_MACHINE_ARN is unset) run in one invocation.
    # Small values let the local stack shard small files. 32 MiB both: a file larger than one
    # shard is sharded (docs/decisions.md, "Sharded runs: the sizes").
    shard_threshold_bytes: int = Field(32 * 1024**2, alias="SHARD_THRESHOLD_BYTES", ge=1)
    shard_size_bytes: int = Field(32 * 1024**2, alias="SHARD_SIZE_BYTES", ge=64 * 1024)
    sharded_runs_state_machine_arn: str = Field("", alias="SHARDED_RUNS_STATE_MACHINE_ARN")
    # How long a worker owns a PROCESSING file before another delivery may take it over.
    processing_lease_seconds: int = Field(960, alias="PROCESSING_LEASE_SECONDS", ge=10)
    # The queue's maxReceiveCount: the worker ends a run FAILED on its last delivery.
    max_receive_count: int = Field(5, alias="IMPORT_QUEUE_MAX_RECEIVES", ge=1)
    # The queue's visibility timeout: a failed delivery comes back within this long, so the
    # run sweep leaves a run released after an error to SQS for that long.
    queue_visibility_seconds: int = Field(5400, alias="IMPORT_QUEUE_VISIBILITY_SECONDS", ge=0)
    # The run sweep (docs/decisions.md): a QUEUED run whose message nobody has picked up for
    # this long is sent again, and after sending a run again the sweep waits this long before
    # it looks at that run again. Longer than the queue-age alarm's 30 minutes, so a backlog
    # alarms before the sweep adds to it.
    queued_run_grace_seconds: int = Field(3600, alias="QUEUED_RUN_GRACE_SECONDS", ge=1)
    # A PROCESSING run found past its lease after this many requeues ends FAILED.
    sweep_max_requeues: int = Field(3, alias="SWEEP_MAX_REQUEUES", ge=0)
    # Status items of finished files expire (DynamoDB TTL) after this many days; 0 keeps them.
    status_retention_days: int = Field(90, alias="STATUS_RETENTION_DAYS", ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))

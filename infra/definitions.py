"""Resource definitions shared by the CDK stack, the local stack and the test fixtures.

Plain Python with no CDK import, so the local stack and the tests build exactly the
resources the stack declares without synthesizing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from intake.keys import DROP_PREFIX, RECORD_PREFIX, REPORT_PREFIX, STAGING_PREFIX, UPLOAD_PREFIX
from intake.models.db import ACTIVE_RUN_PROJECTION, ACTIVE_RUNS_INDEX, ACTIVE_STATUS, STALE_AT

__all__ = ["DROP_PREFIX", "RECORD_PREFIX", "REPORT_PREFIX", "STAGING_PREFIX", "UPLOAD_PREFIX"]

# --- Lambda functions --------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionDef:
    name: str  # folder under functions/
    description: str
    timeout_seconds: int = 29
    memory_mb: int = 512
    ephemeral_storage_mb: int = 512  # /tmp; Lambda's default


FILES_API = FunctionDef("files_api", "Declare files, read and list their status")
IMPORTS_API = FunctionDef("imports_api", "Queue an import or a validation of an uploaded file")
CATALOG_API = FunctionDef("catalog_api", "Import types, OpenAPI document and Swagger UI")
PROFILES_API = FunctionDef("profiles_api", "Save, read, list and delete mapping profiles")
IMPORT_WORKER = FunctionDef(
    "import_worker",
    "Verify uploads, register dropped files and run imports",
    timeout_seconds=900,
    memory_mb=1024,
    # Duplicate-key detection spills 8 bytes a row to /tmp past 4M rows (ingest/duplicates.py):
    # one 15-minute run reads at most ~225M rows, 1.8 GB of hashes; plus the error report's
    # spool. The default 512 MiB would end a run of more than ~64M rows with ENOSPC.
    ephemeral_storage_mb=3072,
)
RUN_SWEEP = FunctionDef(
    "run_sweep",
    "Requeue or fail import runs stuck in QUEUED or PROCESSING",
    timeout_seconds=120,
    memory_mb=256,
)
# Sharded runs (docs/design "Large files"): the steps the sharded-runs state machine invokes.
# Each reads or writes at most one shard's records or one run's reports; 900 s like the worker.
SHARD_PLAN = FunctionDef(
    "shard_plan",
    "Cut a large file into byte-range shards at record boundaries",
    timeout_seconds=900,
    memory_mb=1024,
)
SHARD_RUN = FunctionDef(
    "shard_run",
    "Validate, and in a writing phase write, one shard of a sharded run",
    timeout_seconds=900,
    memory_mb=1024,
    ephemeral_storage_mb=3072,  # the shard's error-report spool and key hashes, as the worker
)
SHARD_FINISH = FunctionDef(
    "shard_finish",
    "Sum a sharded run's shard reports and end the run or start its next phase",
    timeout_seconds=900,
    memory_mb=1024,
)
SHARD_FUNCTIONS = (SHARD_PLAN, SHARD_RUN, SHARD_FINISH)
# How many shards run at once (the Distributed Map's MaxConcurrency) follows from the write
# rate the records table is given (context `recordsWritesPerSecond`, infra/config.py): each
# shard's sink keeps one 25-item BatchWriteItem in flight, about 1,000 items/s at ~25 ms a
# batch in the same Region (an estimate: moto's latency says nothing of DynamoDB's). A new
# on-demand table takes about 4,000 writes/s until it is warmed; a rate above that is set as
# the records table's warm throughput. DynamoDB's default table quota is 40,000 write units/s.
SHARD_WRITES_PER_SECOND = 1000
NEW_TABLE_WRITES_PER_SECOND = 4000
TABLE_MAX_WRITES_PER_SECOND = 40000


def shard_max_concurrency(records_writes_per_second: int) -> int:
    """The shards the records table's write rate keeps busy without throttling (at least 1)."""
    return max(1, records_writes_per_second // SHARD_WRITES_PER_SECOND)


# With the default rate (a new table's): 4 shards (docs/benchmarks.md, "A 10 GiB file in AWS").
SHARD_MAX_CONCURRENCY = shard_max_concurrency(NEW_TABLE_WRITES_PER_SECOND)

FUNCTIONS = (FILES_API, IMPORTS_API, CATALOG_API, PROFILES_API, IMPORT_WORKER, RUN_SWEEP)

# The run sweep's EventBridge schedule. Five minutes: a run past its 16-minute lease is
# requeued within about 20 minutes of its worker dying, not after the 90-minute visibility
# timeout, and an idle sweep costs one query of an almost empty index.
RUN_SWEEP_INTERVAL_MINUTES = 5

# --- HTTP routes --------------------------------------------------------------------------

SCOPE_READ = "intake/read"
SCOPE_WRITE = "intake/write"


@dataclass(frozen=True)
class RouteDef:
    method: str
    path: str  # API Gateway syntax: /files/{file_id}
    function: FunctionDef
    scopes: tuple[str, ...] = ()  # empty: no authorizer (public documentation routes)


ROUTES: tuple[RouteDef, ...] = (
    RouteDef("POST", "/files", FILES_API, (SCOPE_WRITE,)),
    RouteDef("GET", "/files", FILES_API, (SCOPE_READ,)),
    RouteDef("GET", "/files/{file_id}", FILES_API, (SCOPE_READ,)),
    # Write scope for both: GET signs upload URLs, which write to the bucket.
    RouteDef("GET", "/files/{file_id}/upload", FILES_API, (SCOPE_WRITE,)),
    RouteDef("DELETE", "/files/{file_id}/upload", FILES_API, (SCOPE_WRITE,)),
    RouteDef("POST", "/files/{file_id}/import", IMPORTS_API, (SCOPE_WRITE,)),
    RouteDef("GET", "/import-types", CATALOG_API, (SCOPE_READ,)),
    RouteDef("PUT", "/profiles/{name}", PROFILES_API, (SCOPE_WRITE,)),
    RouteDef("GET", "/profiles/{name}", PROFILES_API, (SCOPE_READ,)),
    RouteDef("DELETE", "/profiles/{name}", PROFILES_API, (SCOPE_WRITE,)),
    RouteDef("GET", "/profiles", PROFILES_API, (SCOPE_READ,)),
    RouteDef("GET", "/openapi.json", CATALOG_API),
    RouteDef("GET", "/docs", CATALOG_API),
)
# Each API path also routes the methods it does not have, behind the authorizer, to the
# catalog function: they are answered 405 with the path's methods in Allow, as HTTP asks,
# where API Gateway alone would answer 404. Named methods, never ANY: an ANY route behind the
# authorizer would also take the browsers' CORS preflight (OPTIONS, which carries no token),
# which API Gateway answers itself only while no route matches it.
METHODS_ANSWERED_405 = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTES += tuple(
    RouteDef(method, path, CATALOG_API, (SCOPE_READ, SCOPE_WRITE))
    for path in dict.fromkeys(route.path for route in ROUTES if route.scopes)
    for method in METHODS_ANSWERED_405
    if not any(r.path == path and r.method == method for r in ROUTES)
)

# --- Storage ------------------------------------------------------------------------------

# S3 notifications into the import queue: one per prefix the worker reacts to.
NOTIFIED_PREFIXES = (UPLOAD_PREFIX, DROP_PREFIX)
# Versioned, so a drop overwritten by a later one is still there to import or recover.
BUCKET_VERSIONED = True
NONCURRENT_VERSION_EXPIRY_DAYS = 7
# Incomplete multipart uploads and stale error reports are cleaned up by lifecycle rules.
ABORT_INCOMPLETE_MULTIPART_DAYS = 1
REPORT_EXPIRY_DAYS = 30
# What a sharded run stages (staging/: plain copies of a gzip or a ZIP's members, key hashes and
# errors) is read until the run ends, or until its execution is redriven: Step Functions
# redrives an execution for 14 days after it stopped, and expiry counts from each object's
# writing, so this covers a run that failed up to a week after it started.
STAGING_EXPIRY_DAYS = 21
# S3 server access logs of the bucket go to a separate bucket under this prefix (AWS only).
ACCESS_LOG_PREFIX = "uploads-bucket/"
ACCESS_LOG_EXPIRY_DAYS = 365

CORS_ALLOWED_METHODS = ("PUT", "POST", "GET", "HEAD")
CORS_ALLOWED_HEADERS = ("*",)
CORS_EXPOSED_HEADERS = ("ETag", "x-amz-checksum-sha256", "x-amz-version-id")


@dataclass(frozen=True)
class IndexDef:
    """A global secondary index with string keys, projecting its keys and `projected`."""

    name: str
    partition_key: str
    sort_key: str
    projected: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDef:
    logical_name: str
    partition_key: str
    sort_key: str | None = None  # None: a partition key alone
    ttl_attribute: str | None = None
    indexes: tuple[IndexDef, ...] = ()


# Runs in QUEUED or PROCESSING across tenants, for the run sweep (a sparse index: see
# intake.models.db). Its items are few, so its single "QUEUED"/"PROCESSING" partitions stay small.
ACTIVE_RUNS_INDEX_DEF = IndexDef(
    ACTIVE_RUNS_INDEX, ACTIVE_STATUS, STALE_AT, projected=ACTIVE_RUN_PROJECTION
)
STATUS_TABLE = TableDef(
    "StatusTable", "pk", "sk", ttl_attribute="ttl", indexes=(ACTIVE_RUNS_INDEX_DEF,)
)
RECORDS_TABLE = TableDef("RecordsTable", "pk", "sk")
# Idempotency-Key records of the API (Powertools idempotency): its DynamoDBPersistenceLayer's
# default shape, a string `id` and the expiry in epoch seconds under `expiration`.
IDEMPOTENCY_TABLE = TableDef("IdempotencyTable", "id", ttl_attribute="expiration")
TABLES = (STATUS_TABLE, RECORDS_TABLE, IDEMPOTENCY_TABLE)

# --- Events ---------------------------------------------------------------------------

# The worker publishes "Intake File Finished" (source "intake") here at every terminal state.
EVENT_BUS_NAME = "default"

# --- Queues -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDef:
    logical_name: str
    visibility_timeout_seconds: int
    max_receive_count: int
    batch_size: int = 10
    max_batching_window_seconds: int = 1
    dlq_retention_days: int = 14
    extra: dict[str, str] = field(default_factory=dict)


IMPORT_QUEUE = QueueDef(
    "ImportQueue",
    # AWS guidance: visibility timeout at least six times the consumer's timeout.
    visibility_timeout_seconds=6 * IMPORT_WORKER.timeout_seconds,
    max_receive_count=5,
)

"""Domain models: what a file is and what happened to it, independent of HTTP and DynamoDB."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

from intake.models.mapping import CsvDelimiter, Mapping, dump_mapping


class FileStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    UPLOADED = "UPLOADED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    VALIDATED = "VALIDATED"
    FAILED = "FAILED"


# Every state a file may move to, and the states it may come from. A run (QUEUED ->
# PROCESSING -> terminal) may start again from a finished run: VALIDATED files are imported
# for real, FAILED files re-run (e.g. with on_invalid=skip), SUCCEEDED files re-imported
# (natural-key upserts make that a no-op on the data).
TRANSITIONS: dict[FileStatus, frozenset[FileStatus]] = {
    FileStatus.UPLOADED: frozenset({FileStatus.PENDING_UPLOAD}),
    FileStatus.REJECTED: frozenset({FileStatus.PENDING_UPLOAD}),
    FileStatus.EXPIRED: frozenset({FileStatus.PENDING_UPLOAD}),
    FileStatus.QUEUED: frozenset(
        {FileStatus.UPLOADED, FileStatus.VALIDATED, FileStatus.FAILED, FileStatus.SUCCEEDED}
    ),
    # FAILED -> PROCESSING: only a sharded run that failed redrivably, when its execution is
    # redriven (dal/file_repository.hold_sharded_run); every other run ends for good.
    FileStatus.PROCESSING: frozenset({FileStatus.QUEUED, FileStatus.FAILED}),
    FileStatus.SUCCEEDED: frozenset({FileStatus.PROCESSING}),
    FileStatus.VALIDATED: frozenset({FileStatus.PROCESSING}),
    FileStatus.FAILED: frozenset({FileStatus.PROCESSING}),
}
TERMINAL = frozenset(
    {
        FileStatus.REJECTED,
        FileStatus.EXPIRED,
        FileStatus.SUCCEEDED,
        FileStatus.VALIDATED,
        FileStatus.FAILED,
    }
)

OnInvalid = Literal["fail", "skip"]
Origin = Literal["api", "drop"]


def absent(value: Any) -> bool:
    """For `exclude_if`: a field left out of the answer (and the stored item) when unset."""
    return value is None


class RowError(BaseModel):
    """One problem, located: physical line (header = line 1), column, field, stable code."""

    model_config = ConfigDict(frozen=True)

    line: int | None = None
    column: int | None = None
    field: str | None = None
    code: str
    message: str
    file: str | None = None  # member name inside an archive
    # Spreadsheets: the sheet, and the column as Excel names it (`line` is the sheet's row).
    sheet: str | None = Field(default=None, exclude_if=absent)
    column_letter: str | None = Field(default=None, exclude_if=absent)


class ShardProgress(BaseModel):
    done: int = Field(0, description="Shards of the current pass that have reported")
    total: int = Field(0, description="Shards the file was cut into")


class Progress(BaseModel):
    done: int = 0
    total: int = 0
    unit: Literal["bytes", "rows"] = "bytes"
    # Sharded runs: the current pass's shards (a run with on_invalid=fail makes two passes,
    # validate then write; progress starts again at 0 for the second, as a small file's does).
    shards: ShardProgress | None = Field(default=None, exclude_if=absent)


class SourceColumn(BaseModel):
    """A column of the partner's file: its position (1-based; none for a JSON key) and its
    header as written."""

    column: int | None = Field(default=None, exclude_if=absent)
    header: str
    file: str | None = Field(default=None, exclude_if=absent)  # archive member


class MappedColumn(SourceColumn):
    field: str


class ColumnUsage(BaseModel):
    """Which source column fed which field, and which columns nothing used (nothing silent)."""

    mapped: list[MappedColumn] = Field(default_factory=list)
    unused: list[SourceColumn] = Field(default_factory=list)


class ImportResult(BaseModel):
    rows_total: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    rows_written: int = 0
    errors_truncated: bool = False
    warnings: int = Field(
        default=0,
        description="How many warnings the run found: findings a source system accepted (e.g. "
        "a session outside its event's window), located like errors (the file's `warnings`, "
        "the error report), never failing the file",
    )
    # Bundle types only: left out, not null, for other types (exclude_if rather than a
    # serializer keeps the fields in the OpenAPI document).
    entities: dict[str, int] | None = Field(
        default=None,
        exclude_if=absent,
        description='Bundle types: records written per entity (`{"event": 1, "sessions": 40}`)',
    )
    created: dict[str, str] | None = Field(
        default=None,
        exclude_if=absent,
        description="Bundle types: the root record the import created, its entity and new id "
        '(`{"event": "<new id>"}`); every import of a bundle creates new records',
    )
    skipped: list[str] | None = Field(
        default=None,
        exclude_if=absent,
        description="Bundle types: archive entries or document parts never read (media folders "
        "once each, an exporter's own files such as config.json, parts never stored), so what "
        "was left aside is seen, not silent",
    )
    left_out: dict[str, int] | None = Field(
        default=None,
        exclude_if=absent,
        description="Bundle types run with on_invalid=skip: records left out per entity, each "
        "one an error (with the references to it dropped as warnings)",
    )
    # Row types read from a header (CSV, Excel): what each column was used for.
    columns: ColumnUsage | None = Field(default=None, exclude_if=absent)
    shards: int | None = Field(
        default=None,
        exclude_if=absent,
        description="Sharded runs (files over the shard threshold): how many byte-range shards "
        "the file was read in",
    )
    # Text files: the encoding the rows were read with (a byte-order mark, or UTF-8 bytes,
    # win over a declared single-byte encoding: docs/decisions.md).
    encoding: str | None = Field(default=None, exclude_if=absent)


# A mapping as stored and answered: the parts that are set, nothing else (what PUT
# /profiles/{name} takes as is). A lambda, not dump_mapping itself: a serializer with no return
# annotation keeps the Mapping schema in the OpenAPI document.
SetMapping = Annotated[Mapping, PlainSerializer(lambda mapping: dump_mapping(mapping))]  # noqa: PLW0108


class Suggestion(BaseModel):
    """One import type as a fit for an analysed file (logic/analysis.py)."""

    import_type: str
    score: float = Field(ge=0, le=1, description="How well the file fits the type, 0 to 1")
    mapping: SetMapping = Field(
        description="What to import the file with (or save as a profile) beyond the type's own "
        "names and aliases: columns recognised by their values, formats, encoding, delimiter, "
        "sheet"
    )
    missing: list[str] = Field(
        default_factory=list, description="Required fields no column feeds under this mapping"
    )
    columns: ColumnUsage = Field(description="What each column would feed, and the unused ones")
    rows_valid: int = Field(default=0, description="Sampled rows valid under this mapping")
    rows_invalid: int = Field(default=0, description="Sampled rows invalid under this mapping")
    notes: list[str] = Field(
        default_factory=list,
        description="How the mapping was inferred where the header said nothing, and guesses "
        "to check (e.g. an ambiguous date format)",
    )


class Analysis(BaseModel):
    """What a file declared without an import type turned out to hold, from a bounded sample of
    its start, and the import types it fits best first."""

    format: str = Field(description="The media type read")
    encoding: str | None = Field(
        default=None, exclude_if=absent, description="Text: the encoding, as a mapping names it"
    )
    bom: bool | None = Field(
        default=None, exclude_if=absent, description="Text: whether a byte-order mark starts it"
    )
    delimiter: CsvDelimiter | None = Field(default=None, exclude_if=absent)
    sheet: str | None = Field(
        default=None, exclude_if=absent, description="Excel: the sheet analysed"
    )
    sheets: list[str] | None = Field(
        default=None, exclude_if=absent, description="Excel: every sheet, in order"
    )
    member: str | None = Field(
        default=None, exclude_if=absent, description="ZIP: the member analysed"
    )
    header: list[str] = Field(
        default_factory=list, description="Column names as written (JSON: keys seen)"
    )
    columns_truncated: bool = Field(
        default=False,
        description="More columns than `header` (and each suggestion's `columns`) list: the "
        "first 100, or 20 when long names would make the analysis large",
    )
    rows_sampled: int = 0
    rows_estimated: int | None = Field(
        default=None,
        description="Records in the whole file: exact when the sample is the whole file, else "
        "from the sample's bytes per record and the file's size",
    )
    suggestions: list[Suggestion] = Field(
        default_factory=list, description="Row import types, best fit first"
    )
    error: RowError | None = Field(
        default=None, exclude_if=absent, description="What could not be read, if anything"
    )


class FileRecord(BaseModel):
    """A declared (or dropped) file and its latest run."""

    tenant: str
    file_id: str
    name: str
    media_type: str
    size: int
    # None for a file declared without one: it is analysed after upload (`analysis`) and gets
    # its type from the import request that runs it.
    import_type: str | None = None
    status: FileStatus
    created_at: datetime
    updated_at: datetime
    object_key: str
    # The S3 version the upload check verified (versioned bucket): runs read exactly these
    # bytes, even if the key is written again while its upload URL is still valid.
    object_version: str | None = None
    origin: Origin = "api"
    sha256: str | None = None  # declared (hex), then the verified digest of the bytes
    # An earlier SUCCEEDED file of the same tenant and import type with the same bytes.
    duplicate_of: str | None = None
    folder: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    auto_import: bool = False
    check_only: bool = False
    on_invalid: OnInvalid = "fail"
    csv_delimiter: CsvDelimiter | None = None
    # How the file maps onto its import type: given inline, or copied from the saved profile
    # named in `profile` when the declaration, import request or drop named it.
    mapping: Mapping | None = None
    profile: str | None = None
    # Set once a run that writes records was queued: from then on the type is the file's for
    # good (its records are that type's); until then an import request may name another.
    import_type_fixed: bool = False
    analysis: Analysis | None = None
    upload_expires_at: datetime | None = None
    # A multipart upload's S3 UploadId and part size, kept so GET /files/{file_id}/upload can
    # list the parts S3 has and re-sign the rest, and DELETE can abort it. None for a single PUT.
    upload_id: str | None = None
    part_size: int | None = None
    reason: str | None = None  # why REJECTED or FAILED, in one sentence
    progress: Progress | None = None
    result: ImportResult | None = None
    errors: list[RowError] = Field(default_factory=list)
    warnings: list[RowError] = Field(default_factory=list)
    error_report_key: str | None = None
    run: int = 0  # how many runs were queued
    lease_until: datetime | None = None
    # A sharded run: the name of the state machine execution that runs it (set by the worker
    # when it hands the run over), and whether a FAILED run may go on when it is redriven.
    execution: str | None = None
    redrivable: bool = False

    @property
    def run_type(self) -> str:
        """The import type a run of the file uses: no run is queued without one
        (logic/run_requests.py), so a file without one here is a bug, not bad input."""
        if self.import_type is None:
            raise ValueError(f"file {self.file_id} has no import type: it cannot run")
        return self.import_type


# validate, write and single read rows as a one-invocation run's passes do; locate (the later
# rows of repeated keys) and keep (the first row of each put back, on_invalid=skip) run only
# when the shards' keys repeat (logic/shard_runs.py).
ShardPhase = Literal["validate", "write", "single", "locate", "keep"]


class ShardReport(BaseModel):
    """What one shard of a sharded run found in one phase (logic/shard_runs.py): its counts,
    its first errors (at the file's lines, not the shard's) and how many there were. The
    finalize step sums a run's reports; the status table keeps one per shard and phase."""

    index: int
    phase: ShardPhase
    rows_total: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    rows_written: int = 0
    errors: list[RowError] = Field(default_factory=list)  # the first ones, bounded
    errors_more: int = 0  # the next ones listed, up to the run's cap, staged for the finalize
    errors_count: int = 0  # every error the shard found, listed or not
    file_error: RowError | None = None  # the shard could not be read to its end
    # Every shard reads the file's header: each sees the same columns and encoding (a ZIP
    # member's shards, the member's).
    columns: ColumnUsage | None = None
    encoding: str | None = None
    member: str | None = None  # the ZIP member the shard is of


class ActiveRun(BaseModel):
    """A run in QUEUED or PROCESSING as the sweep sees it (the status table's active-runs index)."""

    tenant: str
    file_id: str
    status: FileStatus
    run: int
    check_only: bool = False
    on_invalid: OnInvalid = "fail"
    lease_until: datetime | None = None
    stale_at: datetime  # overdue from then on: the lease's end, or the queued message's grace
    requeues: int = 0  # how often the sweep sent this run's message again

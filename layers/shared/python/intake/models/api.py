"""HTTP request and response bodies (the contract in design.md), mapped from the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from intake.models.domain import (
    CsvDelimiter,
    FileRecord,
    FileStatus,
    ImportResult,
    OnInvalid,
    Progress,
    RowError,
)

_Name = Field(min_length=1, max_length=255)
_Label = Field(default=None, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


class DeclareFileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f/\\]+$")
    media_type: str = Field(min_length=3, max_length=127)
    size: int = Field(ge=1, description="Exact size of the file in bytes")
    import_type: str = Field(min_length=1, max_length=64)
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the bytes"
    )
    folder: str | None = _Label
    category: str | None = _Label
    tags: list[str] = Field(default_factory=list, max_length=20)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)
    auto_import: bool = False
    check_only: bool = False
    on_invalid: OnInvalid = "fail"
    csv_delimiter: CsvDelimiter | None = Field(
        default=None, description="CSV only; sniffed from the header line when not given"
    )


class UploadPart(BaseModel):
    part_number: int
    url: str
    headers: dict[str, str]


class UploadBlock(BaseModel):
    """PUT: send the bytes to `url` with `headers`. MULTIPART (over the multipart threshold):
    PUT each slice of `part_size` bytes to its part's url with its headers, keep each answer's
    ETag, then POST the CompleteMultipartUpload XML to `complete_url`."""

    method: Literal["PUT", "MULTIPART"]
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    part_size: int | None = None
    parts: list[UploadPart] | None = None
    complete_url: str | None = None
    expires_at: datetime

    @model_serializer(mode="wrap")
    def _only_the_fields_of_its_method(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class DeclareFileResponse(BaseModel):
    file_id: str
    status: FileStatus
    upload: UploadBlock


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_only: bool = False
    on_invalid: OnInvalid = "fail"


class ImportAccepted(BaseModel):
    file_id: str
    status: FileStatus
    check_only: bool
    on_invalid: OnInvalid


class FileView(BaseModel):
    file_id: str
    name: str
    media_type: str
    size: int
    import_type: str
    status: FileStatus
    created_at: datetime
    updated_at: datetime
    origin: str
    folder: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    check_only: bool
    on_invalid: OnInvalid
    csv_delimiter: CsvDelimiter | None = None
    reason: str | None = None
    progress: Progress | None = None
    result: ImportResult | None = None
    errors: list[RowError] = Field(default_factory=list)
    error_report_url: str | None = None
    duplicate_of: str | None = Field(
        default=None,
        description="An earlier SUCCEEDED file of this tenant and import type with the same "
        "bytes (SHA-256). The file is imported all the same: natural keys make it an upsert.",
    )

    @classmethod
    def from_domain(cls, record: FileRecord, error_report_url: str | None = None) -> FileView:
        return cls(
            file_id=record.file_id,
            name=record.name,
            media_type=record.media_type,
            size=record.size,
            import_type=record.import_type,
            status=record.status,
            created_at=record.created_at,
            updated_at=record.updated_at,
            origin=record.origin,
            folder=record.folder,
            category=record.category,
            tags=record.tags,
            metadata=record.metadata,
            check_only=record.check_only,
            on_invalid=record.on_invalid,
            csv_delimiter=record.csv_delimiter,
            reason=record.reason,
            progress=record.progress,
            result=record.result,
            errors=record.errors,
            error_report_url=error_report_url,
            duplicate_of=record.duplicate_of,
        )


class FileList(BaseModel):
    items: list[FileView]
    next_cursor: str | None = None


class ImportTypeView(BaseModel):
    name: str
    version: str
    description: str
    media_types: list[str]
    max_size: int
    natural_key: str
    json_schema: dict[str, Any]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    error: ErrorBody

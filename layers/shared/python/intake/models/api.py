"""HTTP request and response bodies (the contract in docs/http-contract.md), mapped from the
domain.

Request models carry every rule the API enforces on a field, so the OpenAPI document states
them: lengths, patterns, enums, limits. Response models are deliberately plain: a file
registered from a dropped object (whose key S3 took as it was) must still read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    RootModel,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from intake.import_types import all_import_types
from intake.ingest import media
from intake.models.domain import (
    Analysis,
    CsvDelimiter,
    FileRecord,
    FileStatus,
    ImportResult,
    OnInvalid,
    Progress,
    RowError,
    absent,
)
from intake.models.mapping import Mapping, ProfileName, dump_mapping
from intake.models.profile import Profile
from intake.models.text import SAFE_TEXT, Safe, keys_matching

# S3 user-metadata style keys, lower case only (S3 lower-cases them; we refuse rather than
# change what the client sent). Values are text like any other field.
METADATA_KEY = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# An import type's name as the registry spells them; a media type `type/subtype` with optional
# `; parameters` in printable ASCII (parameters are dropped: `Text/CSV; charset=utf-8` is
# text/csv).
TYPE_NAME = r"^[a-z][a-z0-9_]{0,63}$"
# What GET /files returns as next_cursor: unpadded base64url.
CURSOR = r"^[A-Za-z0-9_-]+={0,2}$"
MEDIA_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*( *;[ -~]*)?$"
MAX_TAGS = 20
MAX_METADATA_ENTRIES = 20
# S3's largest object; each import type has its own, lower limit (413 above it).
MAX_DECLARED_SIZE = 5 * 1024**4


def _integral(value: Any) -> Any:
    """JSON Schema's integer includes 1024.0; strict validation still refuses true and "1024"."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


ByteCount = Annotated[int, BeforeValidator(_integral)]

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f-\x9f/\\]+$",
        description="The file's name; no `/` or `\\`",
    ),
    Safe,
]
Label = Annotated[str, Field(min_length=1, max_length=128, pattern=SAFE_TEXT), Safe]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=SAFE_TEXT), Safe]
MetadataKey = Annotated[str, Field(min_length=1, max_length=64, pattern=METADATA_KEY), Safe]
MetadataValue = Annotated[str, Field(max_length=256, pattern=SAFE_TEXT), Safe]
MediaType = Annotated[
    str,
    Field(
        min_length=3,
        max_length=127,
        pattern=MEDIA_TYPE,
        description="A media type the import type takes; parameters are ignored",
    ),
    Safe,
]
ImportTypeName = Annotated[str, Field(min_length=1, max_length=64, pattern=TYPE_NAME), Safe]


_metadata_schema = keys_matching(METADATA_KEY)


# The document names the registered import types; the registry refuses any other (422).
_REGISTERED_TYPES: list[JsonValue] = [name for name in sorted(t.name for t in all_import_types())]
# A registered type's name (the enum sits on the string, so that null stays allowed where the
# field is optional).
RegisteredType = Annotated[ImportTypeName, Field(json_schema_extra={"enum": _REGISTERED_TYPES})]
# The types a mapping applies to (row types); a profile of any other type is refused (422).
_MAPPED_TYPES: list[JsonValue] = [
    n for n in sorted(t.name for t in all_import_types() if t.takes_mapping)
]

# A mapping as answered: the parts the client set, nothing else (the stored form). A lambda,
# not dump_mapping itself: a serializer with no return annotation keeps the Mapping schema in
# the OpenAPI document (dump_mapping's dict[str, Any] would make it a bare object).
AnsweredMapping = Annotated[Mapping, PlainSerializer(lambda mapping: dump_mapping(mapping))]  # noqa: PLW0108

MAPPING_DESCRIPTION = (
    "How the file's columns map onto the import type's fields (row types only), checked "
    "against the type: an entry that does not fit it is a 422 naming the entry. Its "
    "`delimiter` wins over `csv_delimiter`. Not together with `profile`."
)
PROFILE_DESCRIPTION = (
    "The name of a saved profile (PUT /profiles/{name}) of the same import type: its mapping "
    "is copied onto the file, so later edits of the profile do not change this file. An "
    "unknown name is a 422 `unknown_profile`. Not together with `mapping`."
)
# Both at once (a mapping object and a profile name; null is as good as left out): JSON Schema
# states it, and the model refuses it naming `profile`.
_MAPPING_OR_PROFILE: dict[str, JsonValue] = {
    "not": {
        "required": ["mapping", "profile"],
        "properties": {"mapping": {"type": "object"}, "profile": {"type": "string"}},
    }
}


# A declaration without an import type is analysed after upload; what needs a type (an
# auto_import, a mapping, a profile) is refused without one (422 `import_type_required`).
# JSON Schema states it: either a type, or none of those.
_TYPE_OR_ANALYSIS: dict[str, JsonValue] = {
    "anyOf": [
        {"required": ["import_type"], "properties": {"import_type": {"type": "string"}}},
        {
            "properties": {
                "auto_import": {"const": False},
                "mapping": {"type": "null"},
                "profile": {"type": "null"},
            }
        },
    ]
}
IMPORT_TYPE_DESCRIPTION = (
    "The import type. Left out (or null), the file is analysed after upload (`analysis` on "
    "the file: format, header and the types it fits, with a mapping for each) and its import "
    "request names the type; `auto_import`, `mapping` and `profile` then need a type (422 "
    "`import_type_required`), and the media type must be one some type takes (415), the size "
    "within the largest such type's limit (413)."
)


def _not_with_mapping(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and info.data.get("mapping") is not None:
        raise PydanticCustomError("mapping_and_profile", "give a mapping or a profile, not both")
    return value


class DeclareFileRequest(BaseModel):
    # Strict: JSON types as the document states them (no "1024" for a size, no 0 for false).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "contacts.csv",
                    "media_type": media.CSV,
                    "size": 1024,
                    "import_type": "contacts",
                    "tags": ["crm"],
                    "metadata": {"source": "crm-export"},
                }
            ],
            **_MAPPING_OR_PROFILE,
            **_TYPE_OR_ANALYSIS,
        },
    )

    name: Name
    media_type: MediaType
    size: ByteCount = Field(
        ge=1, le=MAX_DECLARED_SIZE, description="Exact size of the file in bytes"
    )
    import_type: RegisteredType | None = Field(default=None, description=IMPORT_TYPE_DESCRIPTION)
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the bytes"
    )
    folder: Label | None = None
    category: Label | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict,
        max_length=MAX_METADATA_ENTRIES,
        json_schema_extra=_metadata_schema,
    )
    auto_import: bool = False
    check_only: bool = False
    on_invalid: OnInvalid = "fail"
    csv_delimiter: CsvDelimiter | None = Field(
        default=None,
        description="CSV only; sniffed from the header line when not given. "
        "A mapping's `delimiter` wins over it.",
    )
    mapping: Mapping | None = Field(default=None, description=MAPPING_DESCRIPTION)
    profile: ProfileName | None = Field(default=None, description=PROFILE_DESCRIPTION)

    _check_profile = field_validator("profile")(_not_with_mapping)


class UploadPart(BaseModel):
    part_number: int
    url: str
    headers: dict[str, str]


class UploadedPart(BaseModel):
    part_number: int
    etag: str
    size: int


class UploadBlock(BaseModel):
    """PUT: send the bytes to `url` with `headers`. MULTIPART (over the multipart threshold):
    PUT each slice of `part_size` bytes (part n starts at byte (n - 1) * part_size) to its
    part's url with its headers, keep each answer's ETag, then POST the
    CompleteMultipartUpload XML with every part's ETag to `complete_url`. The other method's
    fields are left out. GET /files/{file_id}/upload answers `parts` for the parts S3 does not
    have yet and `uploaded` for those it has (MULTIPART only)."""

    method: Literal["PUT", "MULTIPART"]
    url: str | None = Field(default=None, exclude_if=absent)
    headers: dict[str, str] = Field(default_factory=dict)
    part_size: int | None = Field(default=None, exclude_if=absent)
    parts: list[UploadPart] | None = Field(default=None, exclude_if=absent)
    complete_url: str | None = Field(default=None, exclude_if=absent)
    uploaded: list[UploadedPart] | None = Field(default=None, exclude_if=absent)
    expires_at: datetime


class DeclareFileResponse(BaseModel):
    file_id: str
    status: FileStatus
    upload: UploadBlock


class UploadAgainResponse(BaseModel):
    """GET /files/{file_id}/upload: the upload block of a file still PENDING_UPLOAD, signed
    afresh, to resume an interrupted upload."""

    file_id: str
    status: FileStatus
    upload: UploadBlock


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_MAPPING_OR_PROFILE)

    check_only: bool = Field(
        default=False,
        description="Validate only, write nothing (-> VALIDATED or FAILED). Each request says "
        "it for itself: left out, the run imports, also after a validate-only run.",
    )
    on_invalid: OnInvalid | None = Field(
        default=None,
        description="`fail`: write nothing if any record is invalid; `skip`: write the valid "
        "ones. Left out (or null), the run keeps the file's own (declared, or named by its "
        "last import request); named, it replaces the file's for this run and later ones.",
    )
    import_type: RegisteredType | None = Field(
        default=None,
        description="The type to import the file as. Required for a file declared without one "
        "(422 `import_type_required`); checked like a declaration's against the file's media "
        "type (415) and size (413). Another type than the file's is taken until a run that "
        "writes records has been queued; after that it is a 409 `import_type_fixed`.",
    )
    mapping: Mapping | None = Field(
        default=None,
        description="Replaces the file's mapping for this run and later ones (e.g. to re-run "
        "a FAILED file with a corrected mapping, with no new upload). " + MAPPING_DESCRIPTION,
    )
    profile: ProfileName | None = Field(
        default=None,
        description="Replaces the file's mapping with this saved profile's, for this run and "
        "later ones. " + PROFILE_DESCRIPTION,
    )

    _check_profile = field_validator("profile")(_not_with_mapping)


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
    import_type: str | None = Field(
        description="Null for a file declared without one until an import request names it"
    )
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
    auto_import: bool = Field(
        default=False,
        description="Declared: a run starts as soon as the upload checks out (otherwise an "
        "import request starts it)",
    )
    csv_delimiter: CsvDelimiter | None = None
    mapping: AnsweredMapping | None = Field(
        default=None,
        exclude_if=absent,
        description="The mapping the file's runs use: given inline, or copied from `profile`",
    )
    profile: str | None = Field(
        default=None, exclude_if=absent, description="The saved profile `mapping` came from"
    )
    reason: str | None = None
    progress: Progress | None = None
    result: ImportResult | None = None
    errors: list[RowError] = Field(default_factory=list)
    warnings: list[RowError] = Field(
        default_factory=list,
        description="The first warnings (result.warnings counts them all): findings the "
        "source system accepted, located like errors, never failing the file",
    )
    error_report_url: str | None = None
    duplicate_of: str | None = Field(
        default=None,
        description="An earlier SUCCEEDED file of this tenant and import type with the same "
        "bytes (SHA-256). The file is imported all the same: for a row type natural keys make "
        "it an upsert; for a bundle type each import creates new records with new ids (a "
        "re-import is a new event, not an update of the first).",
    )
    analysis: Analysis | None = Field(
        default=None,
        exclude_if=absent,
        description="A file declared without an import type, once UPLOADED: what it holds and "
        "the row types it fits, best first, each with the mapping to import it with",
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
            auto_import=record.auto_import,
            csv_delimiter=record.csv_delimiter,
            mapping=record.mapping,
            profile=record.profile,
            reason=record.reason,
            progress=record.progress,
            result=record.result,
            errors=record.errors,
            warnings=record.warnings,
            error_report_url=error_report_url,
            duplicate_of=record.duplicate_of,
            analysis=record.analysis,
        )


class FileList(BaseModel):
    items: list[FileView]
    next_cursor: str | None = None


class ProfileRequest(BaseModel):
    """PUT /profiles/{name}: the whole profile (a PUT creates or replaces it)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "import_type": "contacts",
                    "mapping": {
                        "columns": {"Customer Id": "external_id"},
                        "formats": {"signed_up": {"date": "%d.%m.%Y"}},
                        "delimiter": ";",
                    },
                    "default": True,
                }
            ]
        },
    )

    import_type: ImportTypeName = Field(
        json_schema_extra={"enum": _MAPPED_TYPES},
        description="A row type (a mapping applies to those only)",
    )
    mapping: Mapping = Field(
        description="Checked against the import type: an entry that does not fit it is a 422 "
        "naming the entry"
    )
    default: bool = Field(
        default=False,
        description="Make this the tenant's default profile for the import type (drops with "
        "no profile in their path use it), replacing any other. False, or left out, removes "
        "it as the default if it was.",
    )


class ProfileView(BaseModel):
    name: str
    import_type: str
    mapping: AnsweredMapping
    default: bool = Field(description="The tenant's default profile for the import type")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, profile: Profile) -> ProfileView:
        return cls(
            name=profile.name,
            import_type=profile.import_type,
            mapping=profile.mapping,
            default=profile.default,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )


class ProfileList(BaseModel):
    items: list[ProfileView]
    next_cursor: str | None = None


class ImportTypeView(BaseModel):
    name: str
    version: str
    description: str
    media_types: list[str]
    max_size: int
    natural_key: str
    json_schema: dict[str, Any]
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Row types: other header names each field is found under (matched "
        "ignoring case, spaces, underscores and hyphens); a mapping's `columns` names any "
        "other. Bundle types: the keys are `<entity>.<field>` and the names are the dialect "
        "names that entity's records may carry the field under (`sessions.starts_at`: "
        "`start_time`)",
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    """Every error the functions answer."""

    error: ErrorBody


class GatewayMessage(BaseModel):
    """API Gateway's own answers (401, 403 from the JWT authorizer; 404 for no route; 413 for
    a body over its limit), which never reach a function."""

    message: str


class ErrorOrGatewayMessage(RootModel[ErrorEnvelope | GatewayMessage]):
    """A status both a function and API Gateway give: 403 (the function: the token names no
    usable tenant; the authorizer: it lacks the route's scope) and 413 (the function's limits;
    the gateway's 10 MB)."""

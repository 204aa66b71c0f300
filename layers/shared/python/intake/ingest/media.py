"""Media types and file extensions: the one place that says which files Intake reads.

Everything else (declarations, drops, archive members, sniffing, reader dispatch, import
types) names media types through these constants and asks these functions, so a new format
is added here once.
"""

from __future__ import annotations

from collections.abc import Iterable

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/x-ndjson"
ZIP = "application/zip"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a dropped file of no type Intake knows is recorded as (it is rejected).
UNKNOWN = "application/octet-stream"

# Text formats of rows: read as a stream, and also gzip-compressed (detected by magic bytes,
# so `contacts.csv.gz` is a CSV). A ZIP or an .xlsx is itself compressed: never gzipped again.
ROW_TEXT_TYPES = frozenset({CSV, JSON, JSONL})
# Rows in a sheet of a workbook (a header row, then rows of cells).
SPREADSHEET_TYPES = frozenset({XLSX})
# Media types whose content is a ZIP container.
ZIP_CONTAINERS = frozenset({ZIP, XLSX})

# What a file name's extension says it holds (compared in lower case).
EXTENSIONS: dict[str, str] = {
    ".csv": CSV,
    ".tsv": CSV,  # tab-separated: a CSV whose delimiter is sniffed (or declared) as a tab
    ".json": JSON,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".zip": ZIP,
    ".xlsx": XLSX,
}
GZIP_SUFFIX = ".gz"

# Content types other tools give these files (Windows and older browsers send the x- forms
# for ZIP files). `application/vnd.ms-excel` is deliberately NOT an alias of XLSX: it is the
# type of the old binary .xls, and Windows browsers with Excel installed send it for .csv
# files too, so it says nothing reliable about the bytes; such a file is typed by its name.
ALIASES: dict[str, str] = {
    "application/x-zip-compressed": ZIP,
    "application/x-zip": ZIP,
}
# What tools label a .gz file with. It says nothing about what is inside, and gzip is found by
# its magic bytes anyway: a declaration names the content's type (`a.json.gz` is JSON).
GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})

# How messages name each type.
LABELS: dict[str, str] = {
    CSV: "CSV",
    JSON: "JSON",
    JSONL: "JSON Lines",
    ZIP: "a ZIP archive",
    XLSX: "an Excel workbook (.xlsx)",
}

KNOWN = frozenset(EXTENSIONS.values())


def normalise(value: str) -> str:
    """`Text/CSV; charset=utf-8` -> `text/csv` (parameters are not part of the type), and
    another tool's name for a type we read -> ours (`application/x-zip-compressed` -> ZIP)."""
    bare = value.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare)


def not_taken(media_type: str, accepted: Iterable[str], name: str = "") -> str:
    """Why a media type is refused (a 415's detail): what is accepted, and for a gzip type
    what to declare instead (the content's type, from the name's extension when it says)."""
    message = f"accepted: {', '.join(accepted)}"
    if media_type in GZIP_TYPES:
        inner = media_type_for_name(name)
        example = f"here {inner}" if inner else f"e.g. {JSON}"
        message += (
            f"; for a gzipped file declare the media type of the content ({example}): "
            "gzip is detected by its bytes"
        )
    return message


def media_type_for_name(name: str) -> str | None:
    """The media type a file name's extension says, or None. A `.gz` suffix is dropped for
    text row types only (`a.csv.gz` is CSV; `a.zip.gz` and `a.xlsx.gz` are nothing we read)."""
    lowered = name.lower()
    media_type = _by_extension(lowered)
    if media_type is None and lowered.endswith(GZIP_SUFFIX):
        inner = _by_extension(lowered.removesuffix(GZIP_SUFFIX))
        if inner in ROW_TEXT_TYPES:
            return inner
    return media_type


def media_type_for_content_type(content_type: str | None) -> str | None:
    """The media type a Content-Type header names, aliases resolved; None if not one we read."""
    if not content_type:
        return None
    declared = normalise(content_type)
    return declared if declared in KNOWN else None


def media_type_of(name: str, content_type: str | None) -> str | None:
    """A dropped object's media type: its name's extension first (tools label the same file
    differently; the name is what the partner chose), else the Content-Type it was stored with."""
    return media_type_for_name(name) or media_type_for_content_type(content_type)


def member_media_type(name: str) -> str | None:
    """The media type of a member of a records archive, by its extension: text row types
    only. A workbook or a gzip inside a ZIP is a nested archive, which archives refuse."""
    media_type = _by_extension(name.lower())
    return media_type if media_type in ROW_TEXT_TYPES else None


def member_extensions() -> list[str]:
    """The extensions `member_media_type` knows, for messages (`.csv, .json, ...`)."""
    return [ext for ext, media_type in EXTENSIONS.items() if media_type in ROW_TEXT_TYPES]


def label(media_type: str) -> str:
    return LABELS.get(media_type, media_type)


def _by_extension(lowered: str) -> str | None:
    for extension, media_type in EXTENSIONS.items():
        if lowered.endswith(extension):
            return media_type
    return None

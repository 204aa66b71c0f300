"""A mapping: how one partner's file maps onto an import type (design.md, "Partner files").

The same model is sent inline (a declaration, an import request), saved as a tenant's profile,
and stored on the file for its runs. It says only what the file looks like; whether its
fields and formats fit an import type is checked against that type
(`intake.import_types.mapping.check_mapping`), which names the offending entry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from intake.models.text import SAFE_TEXT, Safe, keys_matching

# A source header as the partner's file spells it (any printable text).
Header = Annotated[str, Field(min_length=1, max_length=256, pattern=SAFE_TEXT), Safe]
# A field of an import type (`external_id`, `signed_up`).
FIELD_NAME = r"^[a-z][a-z0-9_]{0,63}$"
FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=FIELD_NAME), Safe]
# A saved profile's name; also a path segment of drop keys (drop/<tenant>/<type>/<profile>/...).
PROFILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ProfileName = Annotated[str, Field(min_length=1, max_length=64, pattern=PROFILE_NAME), Safe]
SheetName = Annotated[str, Field(min_length=1, max_length=31, pattern=SAFE_TEXT), Safe]
Word = Annotated[str, Field(min_length=1, max_length=32, pattern=SAFE_TEXT), Safe]

CsvDelimiter = Literal[",", ";", "\t", "|"]

# Text encodings a mapping may declare (Python codec names as partners' tools label them).
# UTF-8 (with or without a BOM) and UTF-16 with a BOM are read without being declared.
Encoding = Literal[
    "utf-8",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "iso-8859-1",
    "iso-8859-2",
    "iso-8859-15",
    "mac-roman",
    "cp850",
]
MAX_COLUMNS = 500
MAX_WORDS = 20


def _strptime_pattern(value: str) -> str:
    """A date format must hold a directive and read back what it writes (`%d.%m.%Y`)."""
    sample = date(2001, 2, 3)
    try:
        written = sample.strftime(value)
        ok = "%" in value and datetime.strptime(written, value).date() == sample
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            "must be strptime directives that name a whole date, e.g. %d.%m.%Y or %m/%d/%Y"
        )
    return value


DateFormat = Annotated[
    str,
    Field(min_length=2, max_length=64, pattern=SAFE_TEXT, examples=["%d.%m.%Y"]),
    Safe,
    AfterValidator(_strptime_pattern),
]


class FieldFormat(BaseModel):
    """How one field's cells are written. `date` for date fields; `decimal` (and `thousands`)
    for number fields; `true`/`false` for yes/no fields, replacing the default words."""

    model_config = ConfigDict(extra="forbid", strict=True)

    date: DateFormat | None = Field(
        default=None, description="strptime directives, e.g. `%d.%m.%Y`"
    )
    decimal: Literal[".", ","] | None = Field(default=None, description="decimal separator")
    thousands: Literal[".", ",", " ", "'", "\u00a0"] | None = Field(
        default=None, description="thousands separator, dropped before reading the number"
    )
    true: list[Word] | None = Field(default=None, max_length=MAX_WORDS)
    false: list[Word] | None = Field(default=None, max_length=MAX_WORDS)


class Mapping(BaseModel):
    """`columns`: source header -> field (headers the import type's names and aliases already
    match need no entry). `ignore`: headers to leave out without listing them as unused.
    `formats`: per field. `encoding`, `delimiter` (CSV) and `sheet` (Excel) say how to read."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "columns": {"Kundennummer": "external_id", "E-Mail": "email"},
                    "ignore": ["Index"],
                    "formats": {"signed_up": {"date": "%d.%m.%Y"}},
                    "encoding": "windows-1252",
                    "delimiter": ";",
                }
            ]
        },
    )

    columns: dict[Header, FieldName] = Field(
        default_factory=dict, max_length=MAX_COLUMNS, json_schema_extra=keys_matching(SAFE_TEXT)
    )
    ignore: list[Header] = Field(default_factory=list, max_length=MAX_COLUMNS)
    formats: dict[FieldName, FieldFormat] = Field(
        default_factory=dict, max_length=MAX_COLUMNS, json_schema_extra=keys_matching(FIELD_NAME)
    )
    encoding: Encoding | None = None
    delimiter: CsvDelimiter | None = None
    sheet: SheetName | None = Field(default=None, description="Excel: the sheet to read")

    def is_empty(self) -> bool:
        return self == Mapping()


def dump_mapping(mapping: Mapping) -> dict[str, Any]:
    """The stored and answered form: unset parts left out."""
    return mapping.model_dump(mode="json", exclude_defaults=True)

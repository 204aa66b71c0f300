"""The ImportType contract and the mapping of pydantic errors to stable, located codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from pydantic import TypeAdapter, ValidationError

from intake.models.domain import RowError

# pydantic error type -> our stable code (per-field overrides come from the import type).
_GENERIC_CODES = {
    "missing": "required",
    "string_too_short": "required",
    "string_too_long": "too_long",
    "string_pattern_mismatch": "invalid_format",
    "string_type": "invalid_type",
    "date_from_datetime_parsing": "invalid_date",
    "date_from_datetime_inexact": "invalid_date",
    "date_parsing": "invalid_date",
    "date_type": "invalid_date",
    "int_parsing": "invalid_number",
    "int_type": "invalid_number",
    "bool_parsing": "invalid_boolean",
    "list_type": "invalid_type",
    "dict_type": "invalid_type",
}
_MESSAGES = {
    "required": "{field} is required and must not be empty",
    "too_long": "{field} is too long",
    "invalid_type": "{field} has the wrong type",
    "invalid_date": "{field} must be an ISO date (YYYY-MM-DD)",
    "invalid_number": "{field} must be a whole number",
}


@dataclass(frozen=True)
class RecordCheck:
    """The outcome of validating one record: the clean record or its located errors."""

    record: dict[str, Any] | None
    errors: list[RowError]


@dataclass(frozen=True)
class ImportType:
    name: str
    version: str
    description: str
    media_types: tuple[str, ...]
    max_size: int
    natural_key: str
    adapter: TypeAdapter[Any]
    required_fields: tuple[str, ...]
    # Errors recorded per run (inline and in the report) before collection stops.
    max_errors: int = 10_000
    # (field, pydantic error type) -> (code, message); field-only keys use type "*".
    field_codes: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema()

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.json_schema.get("properties", {}))

    def check(
        self, raw: dict[str, Any], *, line: int | None, file: str | None = None
    ) -> RecordCheck:
        """Validate one raw record; every error carries the record's line and the field."""
        try:
            return RecordCheck(self.adapter.validate_python(raw), [])
        except ValidationError as exc:
            return RecordCheck(None, self.located_errors(exc, line=line, file=file))

    def located_errors(
        self, exc: ValidationError, *, line: int | None, file: str | None = None
    ) -> list[RowError]:
        out = []
        for err in exc.errors(include_url=False, include_input=False):
            path = ".".join(str(p) for p in err["loc"]) or None
            top = str(err["loc"][0]) if err["loc"] else ""
            code, message = self._code_for(top, err["type"], err["msg"])
            out.append(
                RowError(
                    line=line,
                    field=path,
                    code=code,
                    message=message.format(field=path or "record"),
                    file=file,
                )
            )
        return out

    def _code_for(self, field_name: str, err_type: str, msg: str) -> tuple[str, str]:
        override = self.field_codes.get((field_name, err_type)) or self.field_codes.get(
            (field_name, "*")
        )
        if override and err_type not in ("missing", "string_too_short"):
            return override
        code = _GENERIC_CODES.get(err_type, "invalid_value")
        return code, _MESSAGES.get(code, "{field}: " + msg)

    def to_sink_item(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as stored: dates as ISO text, absent optional fields left out."""
        return {
            k: (v.isoformat() if type(v) is date else v) for k, v in record.items() if v is not None
        }

    def key_of(self, record: Mapping[str, Any]) -> str:
        return str(record[self.natural_key])

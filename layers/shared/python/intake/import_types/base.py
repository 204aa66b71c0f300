"""The ImportType contract and the mapping of pydantic errors to stable, located codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict, get_type_hints

from intake.import_types.formats import FORMAT_ERRORS, coercers
from intake.import_types.mapping import FieldKind, field_kinds, normalise_header
from intake.models.domain import RowError
from intake.models.mapping import FieldFormat

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
class RecordShape:
    """The per-record functions the engine calls, bound once per file (or per header)."""

    validate: Callable[[Any], Any]
    locate: Callable[..., list[RowError]]
    key_of: Callable[[Any], str]
    to_item: Callable[[Any], dict[str, Any]]


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
    # The TypedDict behind `adapter`, when rows (CSV) may be validated positionally.
    record_type: Any = None
    # Other names partners' exports give a field (matched ignoring case, spaces, _ and -).
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def takes_mapping(self) -> bool:
        """Row types read a header a mapping can map; bundle types have their own layout."""
        return True

    @cached_property
    def field_kinds(self) -> dict[str, FieldKind]:
        return field_kinds(self.record_type)

    @cached_property
    def header_index(self) -> dict[str, str]:
        """Normalised field name or alias -> field."""
        index: dict[str, str] = {}
        for name in self.fields:
            index.setdefault(normalise_header(name), name)
        for name, names in self.aliases.items():
            for alias in names:
                index.setdefault(normalise_header(alias), name)
        return index

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema()

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.json_schema.get("properties", {}))

    def shape_for(
        self,
        columns: tuple[str | None, ...] | None,
        formats: Mapping[str, FieldFormat] | None = None,
        *,
        typed_cells: bool = False,
    ) -> RecordShape:
        """How to validate, locate, key and store records: dicts (columns None), or rows of
        cells where `columns[i]` is the field cell i feeds (None: unused), validated
        positionally with no dict per row. `formats` are the mapping's, per field.
        `typed_cells`: a spreadsheet's cells (a date-time cell in a date field is its date)."""
        if columns is None or self.record_type is None:
            return self._dict_shape(columns, formats or {})
        return _row_shape(self, columns, formats or {}, typed_cells=typed_cells)

    def _dict_shape(
        self, columns: tuple[str | None, ...] | None, formats: Mapping[str, FieldFormat]
    ) -> RecordShape:
        validate = self._dict_validator(formats)
        if columns is None:
            return RecordShape(validate, self.located_errors, self.key_of, self.to_sink_item)
        # A type without a positional form: rows become dicts (empty cells left out).
        used = [(i, c) for i, c in enumerate(columns) if c is not None]

        def as_dict(row: list[str]) -> Any:
            return validate({c: row[i] for i, c in used if row[i]})

        return RecordShape(as_dict, self.located_errors, self.key_of, self.to_sink_item)

    def _dict_validator(self, formats: Mapping[str, FieldFormat]) -> Callable[[Any], Any]:
        """The record validator; with formats, one over the same fields with each formatted
        field's before-validator in front of its type (built once per distinct formats)."""
        coerce = coercers(self.field_kinds, formats)
        if not coerce or self.record_type is None:
            return self.adapter.validator.validate_python
        cache_key = (self.name, "dict", _formats_key(formats))
        if cache_key not in _VALIDATORS:
            hints = get_type_hints(self.record_type, include_extras=True)
            fields = {
                name: _with_before(hint, coerce[name]) if name in coerce else hint
                for name, hint in hints.items()
            }
            mapped: Any = TypedDict(f"{self.record_type.__name__}Mapped", fields)  # type: ignore[misc]
            mapped.__pydantic_config__ = getattr(self.record_type, "__pydantic_config__", None)  # type: ignore[attr-defined]
            _remember(cache_key, TypeAdapter(mapped).validator.validate_python)
        return _VALIDATORS[cache_key]

    def check(
        self, raw: dict[str, Any], *, line: int | None, file: str | None = None
    ) -> RecordCheck:
        """Validate one raw record; every error carries the record's line and the field."""
        try:
            return RecordCheck(self.adapter.validate_python(raw), [])
        except ValidationError as exc:
            return RecordCheck(None, self.located_errors(exc, line=line, file=file))

    def located_errors(
        self,
        exc: ValidationError,
        *,
        line: int | None,
        file: str | None = None,
        columns: tuple[str | None, ...] | None = None,
    ) -> list[RowError]:
        """One RowError per failing field. With `columns` (the field each cell feeds),
        locations are cell positions: the error names the field and the column."""
        # Inputs are read only to tell a null from a wrong type; no message ever echoes one.
        problems = exc.errors(include_url=False)
        failing = {p["loc"][:1] for p in problems if p["type"] not in _BRANCH_NOISE}
        out = []
        for err in problems:
            loc = err["loc"]
            # "" (and blank text) is accepted for optional cells by extra union branches:
            # their errors are noise when the field's own branch says what is wrong.
            if err["type"] in _BRANCH_NOISE and loc[:1] in failing:
                continue
            column = None
            if columns is not None and loc and isinstance(loc[0], int):
                column = loc[0] + 1
                loc = (columns[loc[0]] or f"column {column}", *loc[1:])
            kept = loc[:1] + tuple(p for p in loc[1:] if not _is_union_tag(p))
            path = ".".join(str(p) for p in kept) or None
            top = str(loc[0]) if loc else ""
            err_type = err["type"]
            if err.get("input", "") is None and err_type.endswith("_type"):
                err_type = "missing"  # JSON null in a required field: it is not there
            code, message = self._code_for(top, err_type, err["msg"])
            out.append(
                RowError(
                    line=line,
                    column=column,
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
        if err_type in FORMAT_ERRORS:  # a mapping's format: its message says what it expects
            return FORMAT_ERRORS[err_type], "{field} " + msg
        code = _GENERIC_CODES.get(err_type, "invalid_value")
        return code, _MESSAGES.get(code, "{field}: " + msg)

    def to_sink_item(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as stored: dates as ISO text, absent optional fields left out."""
        return {
            k: (v.isoformat() if type(v) is date else v)
            for k, v in record.items()
            if v is not None and v != ""
        }

    def key_of(self, record: Mapping[str, Any]) -> str:
        return str(record[self.natural_key])


def _is_union_tag(part: Any) -> bool:
    # pydantic names union branches in error locations, e.g. "literal['']", "constrained-str".
    return isinstance(part, str) and ("[" in part or "-" in part or part in _BRANCH_NAMES)


_BRANCH_NOISE = frozenset({"literal_error", "not_blank"})
_BRANCH_NAMES = frozenset({"str", "date", "int", "float", "bool", "none", "datetime"})
_VALIDATORS: dict[tuple[str, ...], Callable[[Any], Any]] = {}
_ROW_SHAPES: dict[tuple[Any, ...], RecordShape] = {}
_EMPTY_CELL = Literal[""]


def _blank(value: str) -> str:
    """The last branch of an optional cell: whitespace only is as empty as "" (absent)."""
    if value.strip():
        raise PydanticCustomError("not_blank", "not blank")
    return ""


# Tried only after "" and the field's own type failed: no cost on the common path.
_BLANK_CELL = Annotated[str, AfterValidator(_blank)]
_CACHE_LIMIT = 256


def _formats_key(formats: Mapping[str, FieldFormat]) -> str:
    return json.dumps(
        {k: v.model_dump(mode="json", exclude_none=True) for k, v in formats.items()},
        sort_keys=True,
    )


def _remember(key: tuple[str, ...], validator: Callable[[Any], Any]) -> None:
    if len(_VALIDATORS) >= _CACHE_LIMIT:
        _VALIDATORS.clear()
    _VALIDATORS[key] = validator


def _date_part(value: Any) -> Any:
    """A spreadsheet's date-time cell in a date field (a CRM's "created" timestamp) is its
    date; Excel has no date-only type, only a number format."""
    return value.date() if type(value) is datetime else value


def _with_before(hint: Any, coerce: Callable[[Any], Any]) -> Any:
    """`hint` with `coerce` in front of its type, keeping NotRequired/Required outermost."""
    origin = get_origin(hint)
    if origin is NotRequired:
        return NotRequired[Annotated[get_args(hint)[0], BeforeValidator(coerce)]]
    if origin is Required:
        return Required[Annotated[get_args(hint)[0], BeforeValidator(coerce)]]
    return Annotated[hint, BeforeValidator(coerce)]


def _row_shape(
    import_type: ImportType,
    columns: tuple[str | None, ...],
    formats: Mapping[str, FieldFormat],
    *,
    typed_cells: bool = False,
) -> RecordShape:
    """A tuple validator in header order: each mapped column gets its field's type (optional
    fields also take "" for an empty cell; a format puts its reader in front), unused columns
    pass through untouched."""
    cache_key = (import_type.name, columns, _formats_key(formats) if formats else "", typed_cells)
    if cache_key in _ROW_SHAPES:
        return _ROW_SHAPES[cache_key]
    # From the resolved hints: __required_keys__ is unreliable under postponed annotations.
    hints = get_type_hints(import_type.record_type, include_extras=True)
    coerce = coercers(import_type.field_kinds, formats)
    cells: list[Any] = []
    for column in columns:
        hint = hints.get(column) if column is not None else None
        if hint is None or column is None:
            cells.append(Any)
            continue
        if get_origin(hint) is NotRequired:
            hint = Annotated[
                _EMPTY_CELL | get_args(hint)[0] | _BLANK_CELL, Field(union_mode="left_to_right")
            ]
        elif get_origin(hint) is Required:
            hint = get_args(hint)[0]
        if column in coerce:
            hint = Annotated[hint, BeforeValidator(coerce[column])]
        if typed_cells and import_type.field_kinds.get(column) == "date":
            hint = Annotated[hint, BeforeValidator(_date_part)]
        cells.append(hint)
    validator = TypeAdapter(tuple[tuple(cells)]).validator.validate_python  # type: ignore[misc,arg-type]
    known = [(i, c) for i, c in enumerate(columns) if c is not None and c in hints]
    key_index = columns.index(import_type.natural_key)

    def locate(
        exc: ValidationError, *, line: int | None, file: str | None = None
    ) -> list[RowError]:
        return import_type.located_errors(exc, line=line, file=file, columns=columns)

    def to_item(row: tuple[Any, ...]) -> dict[str, Any]:
        item = {}
        for i, c in known:
            v = row[i]
            if v is not None and v != "":
                item[c] = v.isoformat() if type(v) is date else v
        return item

    def key_of(row: tuple[Any, ...]) -> str:
        return str(row[key_index])

    shape = RecordShape(validator, locate, key_of, to_item)
    if len(_ROW_SHAPES) >= _CACHE_LIMIT:
        _ROW_SHAPES.clear()
    _ROW_SHAPES[cache_key] = shape
    return shape

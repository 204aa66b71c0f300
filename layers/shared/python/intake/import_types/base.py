"""The ImportType contract and the mapping of pydantic errors to stable, located codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import get_type_hints

from intake.import_types.mapping import FieldKind, field_kinds, normalise_header
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

    def shape_for(self, columns: tuple[str, ...] | None) -> RecordShape:
        """How to validate, locate, key and store records: dicts (columns None), or rows of
        cells in `columns` order (CSV), validated positionally with no dict per row."""
        if columns is None or self.record_type is None:
            return self._dict_shape(columns)
        return self._row_shape(columns)

    @cached_property
    def _dict_shape_cache(self) -> RecordShape:
        return RecordShape(
            validate=self.adapter.validator.validate_python,
            locate=self.located_errors,
            key_of=self.key_of,
            to_item=self.to_sink_item,
        )

    def _dict_shape(self, columns: tuple[str, ...] | None) -> RecordShape:
        if columns is None:
            return self._dict_shape_cache
        # A type without a positional form: rows become dicts (empty cells left out).
        validate = self._dict_shape_cache.validate

        def as_dict(row: list[str]) -> Any:
            return validate({c: v for c, v in zip(columns, row, strict=True) if v})

        return RecordShape(as_dict, self.located_errors, self.key_of, self.to_sink_item)

    def _row_shape(self, columns: tuple[str, ...]) -> RecordShape:
        return _row_shape(self, columns)

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
        columns: tuple[str, ...] | None = None,
    ) -> list[RowError]:
        """One RowError per failing field. With `columns`, locations are cell positions."""
        problems = exc.errors(include_url=False, include_input=False)
        failing = {p["loc"][:1] for p in problems if p["type"] != "literal_error"}
        out = []
        for err in problems:
            loc = err["loc"]
            # "" is accepted for optional cells by a Literal[""] branch: its error is noise
            # when the other branch says what is wrong.
            if err["type"] == "literal_error" and loc[:1] in failing:
                continue
            if columns is not None and loc and isinstance(loc[0], int):
                loc = (columns[loc[0]], *loc[1:])
            kept = loc[:1] + tuple(p for p in loc[1:] if not _is_union_tag(p))
            path = ".".join(str(p) for p in kept) or None
            top = str(loc[0]) if loc else ""
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
            k: (v.isoformat() if type(v) is date else v)
            for k, v in record.items()
            if v is not None and v != ""
        }

    def key_of(self, record: Mapping[str, Any]) -> str:
        return str(record[self.natural_key])


def _is_union_tag(part: Any) -> bool:
    # pydantic names union branches in error locations, e.g. "literal['']", "constrained-str".
    return isinstance(part, str) and ("[" in part or "-" in part or part in _BRANCH_NAMES)


_BRANCH_NAMES = frozenset({"str", "date", "int", "float", "bool", "none", "datetime"})
_ROW_SHAPES: dict[tuple[str, tuple[str, ...]], RecordShape] = {}
_EMPTY_CELL = Literal[""]


def _row_shape(import_type: ImportType, columns: tuple[str, ...]) -> RecordShape:
    """A tuple validator in header order: each known column gets its field's type (optional
    fields also take "" for an empty cell), unknown columns pass through untouched."""
    cache_key = (import_type.name, columns)
    if cache_key in _ROW_SHAPES:
        return _ROW_SHAPES[cache_key]
    # From the resolved hints: __required_keys__ is unreliable under postponed annotations.
    hints = get_type_hints(import_type.record_type, include_extras=True)
    cells: list[Any] = []
    for column in columns:
        hint = hints.get(column)
        if hint is None:
            cells.append(Any)
            continue
        if get_origin(hint) is NotRequired:
            hint = Annotated[_EMPTY_CELL | get_args(hint)[0], Field(union_mode="left_to_right")]
        elif get_origin(hint) is Required:
            hint = get_args(hint)[0]
        cells.append(hint)
    validator = TypeAdapter(tuple[tuple(cells)]).validator.validate_python  # type: ignore[misc,arg-type]
    known = [(i, c) for i, c in enumerate(columns) if c in hints]
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
    if len(_ROW_SHAPES) < 256:
        _ROW_SHAPES[cache_key] = shape
    return shape

"""From a partner's header to an import type's fields (design.md, "Partner files").

`resolve_columns` decides, once per header, which column feeds which field: the mapping's
`columns` first, then the type's field names and aliases, compared ignoring case, spaces,
underscores and hyphens. Every column nothing uses is listed; a required field no column
feeds is one located error naming the closest headers. `check_mapping` refuses a mapping that
cannot fit the type (unknown fields, a date format on a text field), naming the entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NotRequired, Required, Union, get_args, get_origin

from typing_extensions import get_type_hints

from intake.errors import InvalidFields
from intake.models.domain import ColumnUsage, MappedColumn, RowError, SourceColumn
from intake.models.mapping import Mapping

if TYPE_CHECKING:
    from intake.import_types.base import ImportType

FieldKind = Literal["text", "date", "number", "boolean", "other"]
_SEPARATORS = re.compile(r"[\s_\-]+")
# A mapping's `columns` key `#<n>` names the n-th column (1-based), for a header the file
# repeats; a header really spelled `#5` still matches by name first.
_POSITION = re.compile(r"^#(\d{1,5})$")


def normalise_header(name: str) -> str:
    """`Customer Id`, `customer_id`, `CUSTOMER-ID` and `CustomerId` all read `customerid`."""
    return _SEPARATORS.sub("", name).casefold()


def field_kinds(record_type: Any) -> dict[str, FieldKind]:
    """Each field of a record TypedDict and the kind of value it holds (what formats fit it)."""
    if record_type is None:
        return {}
    return {name: _kind(hint) for name, hint in get_type_hints(record_type).items()}


def _kind(hint: Any) -> FieldKind:
    origin = get_origin(hint)
    if origin in (NotRequired, Required):
        return _kind(get_args(hint)[0])
    if origin is Union or str(origin) == "<class 'types.UnionType'>":
        kinds = {_kind(a) for a in get_args(hint) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "other"
    if hint is bool:
        return "boolean"
    if hint in (date, datetime):
        return "date"
    if hint in (int, float, Decimal):
        return "number"
    if hint is str or (origin is Literal and all(isinstance(a, str) for a in get_args(hint))):
        return "text"
    return "other"


# Which format keys fit which kind of field.
_FORMAT_KINDS: dict[str, FieldKind] = {
    "date": "date",
    "decimal": "number",
    "thousands": "number",
    "true": "boolean",
    "false": "boolean",
}


def check_mapping(import_type: ImportType, mapping: Mapping, *, prefix: str = "mapping") -> None:
    """Refuse (422, naming each offending entry) a mapping that cannot fit `import_type`."""
    details: list[dict[str, str]] = []
    fields = import_type.fields
    if not import_type.takes_mapping:
        details.append(
            {
                "field": prefix,
                "code": "mapping_not_supported",
                "message": f"{import_type.name} files are read by their own layout; "
                "a mapping applies to row types",
            }
        )
        raise InvalidFields(f"{import_type.name} takes no mapping", details=details)
    known = ", ".join(fields)
    targets: dict[str, str] = {}
    for header, target in mapping.columns.items():
        where = f"{prefix}.columns.{header}"
        if target not in fields:
            details.append({"field": where, "code": "unknown_field", "message": f"fields: {known}"})
        elif target in targets:
            details.append(
                {
                    "field": where,
                    "code": "duplicate_target",
                    "message": f"{targets[target]!r} already maps to {target}",
                }
            )
        else:
            targets[target] = header
    for header in mapping.ignore:
        if header in mapping.columns:
            details.append(
                {
                    "field": f"{prefix}.ignore",
                    "code": "ignored_and_mapped",
                    "message": f"{header!r} is both mapped and ignored",
                }
            )
    kinds = import_type.field_kinds
    for name, fmt in mapping.formats.items():
        where = f"{prefix}.formats.{name}"
        if name not in fields:
            details.append({"field": where, "code": "unknown_field", "message": f"fields: {known}"})
            continue
        for key in fmt.model_fields_set:
            if getattr(fmt, key) is not None and _FORMAT_KINDS[key] != kinds.get(name):
                details.append(
                    {
                        "field": f"{where}.{key}",
                        "code": "format_does_not_fit",
                        "message": f"{name} holds {kinds.get(name, 'other')} values; "
                        f"{key!r} is for {_FORMAT_KINDS[key]} fields",
                    }
                )
    if details:
        raise InvalidFields("the mapping does not fit the import type", details=details)


@dataclass(frozen=True)
class ColumnPlan:
    """What each column of one header feeds: `fields[i]` is a field name, or None (unused)."""

    header: tuple[str, ...]
    fields: tuple[str | None, ...]
    usage: ColumnUsage
    # One per required field no column feeds (the file cannot be read further).
    errors: tuple[RowError, ...] = ()


def resolve_columns(
    import_type: ImportType,
    header: Sequence[str],
    mapping: Mapping | None = None,
    *,
    line: int = 1,
    file: str | None = None,
    sheet: str | None = None,
) -> ColumnPlan:
    """Decide which column feeds which field. An empty or repeated header is an unused column
    unless the mapping names it (a repeated header the mapping names is ambiguous: an error)."""
    mapping = mapping or Mapping()
    stripped = [h.strip() for h in header]
    fields: list[str | None] = [None] * len(stripped)
    taken: dict[str, int] = {}  # field -> column index
    errors: list[RowError] = []
    counts: dict[str, int] = {}
    for h in stripped:
        counts[h] = counts.get(h, 0) + 1

    # 1. the mapping's columns, by exact header, then by normalised header
    exact = {h: i for i, h in reversed(list(enumerate(stripped)))}
    normalised: dict[str, int] = {}
    for i, h in enumerate(stripped):
        if h:
            normalised.setdefault(normalise_header(h), i)
    absent: dict[str, str] = {}  # field -> the mapping's header the file does not have
    for given, target in mapping.columns.items():
        source = given.strip()
        found = exact.get(source)
        if found is None:
            found = normalised.get(normalise_header(source))
        position = _POSITION.match(source)
        if found is None and position and 0 < int(position[1]) <= len(stripped):
            at = int(position[1]) - 1  # "#5": the fifth column, whatever its header
            if target not in taken and fields[at] is None:
                fields[at] = target
                taken[target] = at
            continue
        if found is None:
            # A profile may name columns only some exports have; the field then stays unfed
            # rather than fall back to an alias (a renamed key column must not quietly give
            # way to `ID`): an optional field is absent, a required one is missing_column.
            absent.setdefault(target, given)
            continue
        i = found
        if counts.get(stripped[i], 0) > 1:
            errors.append(
                RowError(
                    line=line,
                    column=i + 1,
                    field=target,
                    code="ambiguous_column",
                    message=f"{stripped[i]!r} names {counts[stripped[i]]} columns; "
                    f"the mapping cannot tell which one is {target}: name it by position, "
                    f"e.g. {{{_columns_of(stripped, stripped[i], target)}}}",
                    file=file,
                    sheet=sheet,
                )
            )
            continue
        if target not in taken:
            fields[i] = target
            taken[target] = i

    # 2. names and aliases, for columns the mapping neither used nor ignored
    ignored = {normalise_header(h) for h in mapping.ignore}
    aliases = import_type.header_index
    for i, h in enumerate(stripped):
        if fields[i] is not None or not h or counts[h] > 1:
            continue
        key = normalise_header(h)
        if key in ignored:
            continue
        alias_of = aliases.get(key)
        if alias_of is not None and alias_of not in taken and alias_of not in absent:
            fields[i] = alias_of
            taken[alias_of] = i

    # 3. required fields nothing feeds: one error each, naming the closest headers
    unused_headers = [h for i, h in enumerate(stripped) if fields[i] is None and h]
    for name in import_type.required_fields:
        if name in taken or any(e.field == name for e in errors):
            continue
        errors.append(
            RowError(
                line=line,
                field=name,
                code="missing_column",
                message=_missing_message(import_type, name, unused_headers, absent.get(name)),
                file=file,
                sheet=sheet,
            )
        )

    mapped = [
        MappedColumn(column=i + 1, header=header[i], field=f, file=file)
        for i, f in enumerate(fields)
        if f is not None
    ]
    unused = [
        SourceColumn(column=i + 1, header=header[i], file=file)
        for i, f in enumerate(fields)
        if f is None and not (stripped[i] and normalise_header(stripped[i]) in ignored)
    ]
    return ColumnPlan(
        header=tuple(stripped),
        fields=tuple(fields),
        usage=ColumnUsage(mapped=mapped, unused=unused),
        errors=tuple(errors),
    )


def _columns_of(header: list[str], name: str, target: str) -> str:
    positions = [f"#{i + 1}" for i, h in enumerate(header) if h == name]
    return f'"columns": {{"{positions[0]}": "{target}"}}' if positions else ""


def _missing_message(
    import_type: ImportType, name: str, candidates: list[str], mapped: str | None = None
) -> str:
    names = [name, *import_type.aliases.get(name, ()), *([mapped] if mapped else [])]
    wanted = {normalise_header(n) for n in names}
    scored: dict[str, float] = {}
    for header in candidates:
        key = normalise_header(header)
        best = max(difflib.SequenceMatcher(None, key, w).ratio() for w in wanted)
        if best >= 0.4 or any(w in key or key in w for w in wanted if key):
            scored[header] = best
    closest = sorted(scored, key=lambda h: -scored[h])[:3]
    message = f"no column maps to {name}"
    if mapped:
        message += f" (the mapping takes it from {mapped!r}, which the file has no column for)"
    if closest:
        message += "; closest headers: " + ", ".join(repr(h) for h in closest)
    return message + f'. Map one with "mapping": {{"columns": {{"<header>": "{name}"}}}}'

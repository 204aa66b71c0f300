"""A mapping's per-field formats as pydantic before-validators (design.md, "Partner files").

Each one turns a cell as the partner wrote it into what the field's own type reads: a date
written `31.12.2024` under `{"date": "%d.%m.%Y"}` becomes a date; `1.234,5` under
`{"decimal": ",", "thousands": "."}` becomes `1234.5`; `ja` under `{"true": ["ja"]}` becomes
True. Anything else (an empty cell, a value that is already typed, as Excel date cells are)
passes through untouched for the field's own rules. A value the format cannot read is a
located error with the field's usual code (invalid_date, invalid_number, invalid_boolean).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic_core import PydanticCustomError

from intake.import_types.mapping import FieldKind
from intake.models.mapping import FieldFormat

Coerce = Callable[[Any], Any]

# pydantic error types these validators raise -> our codes. Their messages are ours, so the
# located error keeps them (prefixed by the field) instead of a generic one.
FORMAT_ERRORS = {
    "date_format": "invalid_date",
    "number_format": "invalid_number",
    "boolean_words": "invalid_boolean",
}
# What a yes/no field takes without a declared format (pydantic's own lax set, spelled out so
# that declared words extend it rather than replace it).
DEFAULT_TRUE = ("true", "yes", "y", "1", "on", "t")
DEFAULT_FALSE = ("false", "no", "n", "0", "off", "f")


def coercers(
    kinds: Mapping[str, FieldKind], formats: Mapping[str, FieldFormat]
) -> dict[str, Coerce]:
    """field -> its before-validator, for the fields whose format needs one."""
    out: dict[str, Coerce] = {}
    for name, fmt in formats.items():
        kind = kinds.get(name)
        if kind == "date" and fmt.date:
            out[name] = _date(fmt.date)
        elif kind == "number" and (fmt.decimal or fmt.thousands):
            out[name] = _number(fmt.decimal or ".", fmt.thousands)
        elif kind == "boolean" and (fmt.true or fmt.false):
            out[name] = _boolean(fmt.true or (), fmt.false or ())
    return out


def _date(pattern: str) -> Coerce:
    example = date(2024, 12, 31).strftime(pattern)
    read = _day_month_year(pattern) or (lambda text: datetime.strptime(text, pattern).date())

    def parse(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            return read(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "date_format",
                "must be a real date written like {example} ({pattern})",
                {"example": example, "pattern": pattern},
            ) from None

    return parse


# strptime's own patterns for the directives partners' dates use: %d and %m take one or two
# digits, %Y four, %y two (69-99 -> 19xx, 00-68 -> 20xx, as strptime reads them).
_DIRECTIVES = {"d": r"(?P<d>\d{1,2})", "m": r"(?P<m>\d{1,2})", "Y": r"(?P<Y>\d{4})",
               "y": r"(?P<y>\d{2})"}  # fmt: skip


def _day_month_year(pattern: str) -> Callable[[str], date] | None:
    """The same reading as strptime for a pattern of %d, %m, %Y or %y and punctuation, at a
    fifth of its cost (strptime was a third of a mapped row's cost: docs/benchmarks.md, P4);
    None for any other pattern, which strptime reads."""
    parts = re.split(r"(%.)", pattern)
    regex = []
    for part in parts:
        if part.startswith("%") and len(part) == 2:
            directive = part[1]
            if directive == "%":
                regex.append("%")
            elif directive in _DIRECTIVES and f"(?P<{directive}>" not in "".join(regex):
                regex.append(_DIRECTIVES[directive])
            else:
                return None
        elif any(c.isalnum() or c.isspace() for c in part):
            return None  # words and spaces: strptime's matching rules, not ours
        else:
            regex.append(re.escape(part))
    compiled = re.compile("".join(regex))
    if not {"d", "m"} <= set(compiled.groupindex) or not {"Y", "y"} & set(compiled.groupindex):
        return None

    def read(text: str) -> date:
        found = compiled.fullmatch(text)
        if found is None:
            raise ValueError(text)
        groups = found.groupdict()
        if groups.get("Y") is not None:
            year = int(groups["Y"])
        else:
            short = int(groups["y"])
            year = short + (1900 if short >= 69 else 2000)
        return date(year, int(groups["m"]), int(groups["d"]))

    return read


def _number(decimal: str, thousands: str | None) -> Coerce:
    other = "." if decimal == "," else ","
    grouped = (
        re.compile(
            rf"^[+-]?\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})*(?:{re.escape(decimal)}\d+)?$"
        )
        if thousands
        else None
    )

    def parse(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        text = value.strip()
        if grouped is not None and thousands in text:  # type: ignore[operator]
            if not grouped.match(text):  # `12.5` is no German number: groups are 3 digits
                raise _not_a_number(decimal)
            text = text.replace(thousands, "")  # type: ignore[arg-type]
        if other in text and other != thousands:
            raise _not_a_number(decimal)
        return text.replace(decimal, ".")

    return parse


def _not_a_number(decimal: str) -> PydanticCustomError:
    return PydanticCustomError(
        "number_format",
        "must be a number written with '{decimal}' as the decimal separator",
        {"decimal": decimal},
    )


def _boolean(true: tuple[str, ...] | list[str], false: tuple[str, ...] | list[str]) -> Coerce:
    words = {w.casefold(): True for w in (*DEFAULT_TRUE, *true)}
    words.update({w.casefold(): False for w in (*DEFAULT_FALSE, *false)})
    listed = ", ".join([*true, *false])

    def parse(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            return words[value.strip().casefold()]
        except KeyError:
            raise PydanticCustomError(
                "boolean_words",
                "must be yes/no, true/false, 1/0 or one of: {listed}",
                {"listed": listed},
            ) from None

    return parse

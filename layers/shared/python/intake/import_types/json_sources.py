"""JSON sources of bundle records, located: each record with the line (and column) where it
starts, so every error and warning points into the file as its user sees it."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from intake.models.domain import RowError


@dataclass(frozen=True)
class Located:
    """A record as the source holds it, with where it starts (line, and column when known)."""

    line: int
    column: int | None
    value: Any


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Numbers as exact decimals: what the records table stores, and no float is ever rounded.
_DECODER = json.JSONDecoder(parse_float=Decimal)
# Raw line breaks and tabs inside strings (an export that pasted a biography as it was):
# json's own non-strict mode reads them as the characters they are.
_LENIENT = json.JSONDecoder(parse_float=Decimal, strict=False)
_CONTROL = "Invalid control character"


def parse_json_member(
    name: str, data: bytes, *, array: bool, warnings: list[RowError] | None = None
) -> tuple[list[tuple[int, Any]], RowError | None]:
    """A whole JSON member as (line, value) pairs: each element of a top-level array with the
    physical line it starts on, or the one top-level object. Syntax errors come back located
    (line and column from json.JSONDecodeError), with no pairs.

    Three slips of hand-edited exports are read, each with a warning in `warnings`: a comma
    after an array's last element, a missing comma between two elements (`}` then `{`), and
    a raw line break or tab inside a string. None has another reading; anything else is
    invalid_json."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], RowError(
            line=data.count(b"\n", 0, exc.start) + 1,
            column=exc.start - data.rfind(b"\n", 0, exc.start),
            code="invalid_encoding",
            message=f"{name} is not valid UTF-8",
            file=name,
        )
    start = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
    first_line = text.count("\n", 0, start) + 1
    if array and text[start : start + 1] == "[":
        try:
            elements, slips = _array_elements(text, start, first_line)
        except json.JSONDecodeError as exc:
            return [], _syntax_error(name, exc)
        except RecursionError:
            return [], RowError(
                line=first_line, code="invalid_json", message="nested too deeply", file=name
            )
        for line, column, code, message in slips:
            if warnings is not None:
                warnings.append(
                    RowError(line=line, column=column, code=code, message=message, file=name)
                )
        return elements, None
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return [], _syntax_error(name, exc)
    except RecursionError:
        return [], RowError(
            line=first_line, code="invalid_json", message="nested too deeply", file=name
        )
    if array:  # valid JSON, but not an array
        return [], RowError(
            line=first_line,
            code="not_an_array",
            message=f"{name} must hold a JSON array",
            file=name,
        )
    if not isinstance(value, dict):
        return [], RowError(
            line=first_line,
            code="not_an_object",
            message=f"{name} must hold a JSON object",
            file=name,
        )
    return [(first_line, value)], None


# What json's messages mean for someone fixing an export by hand.
_HINTS = {
    "Expecting value": "a value is missing here (a comma with nothing after it, or text that "
    "is not JSON, such as curly quotes “ ”)",
    "Expecting ',' delimiter": "a comma is missing between two values",
    "Expecting ':' delimiter": "a colon is missing after a key",
    "Expecting property name enclosed in double quotes": "a key must be in straight double "
    "quotes (or a comma before } has nothing after it)",
    "Unterminated string starting at": "a string is not closed",
    "Invalid control character at": "a string is not closed before the line ends",
    "Extra data": "there is more after the end of the JSON value",
}


def _syntax_error(name: str, exc: json.JSONDecodeError) -> RowError:
    hint = _HINTS.get(exc.msg, exc.msg)
    return RowError(
        line=exc.lineno,
        column=exc.colno,
        code="invalid_json",
        message=f"{name} is not valid JSON at line {exc.lineno}, column {exc.colno}: {hint}",
        file=name,
    )


_Slip = tuple[int, int, str, str]  # line, column, code, message


def _array_elements(text: str, start: int, line: int) -> tuple[list[tuple[int, Any]], list[_Slip]]:
    """Decode a top-level array (text[start] is "[") element by element, noting where each
    starts, and the slips read past. A real syntax error raises json.JSONDecodeError at its
    own place in the text."""
    out: list[tuple[int, Any]] = []
    slips: list[_Slip] = []
    last = start
    at = _WHITESPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    if text[at : at + 1] == "]":
        closed = at + 1
    else:
        while True:
            line += text.count("\n", last, at)
            last = at
            try:
                value, at = _DECODER.raw_decode(text, at)
            except json.JSONDecodeError as exc:
                if not exc.msg.startswith(_CONTROL):
                    raise
                value, at = _LENIENT.raw_decode(text, at)
                slips.append(
                    (exc.lineno, exc.colno, "control_character",
                     "a line break or tab inside a string is read as part of the text")
                )  # fmt: skip
            out.append((line, value))
            at = _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]
            following = text[at : at + 1]
            if following == ",":
                comma = at
                at = _WHITESPACE.match(text, at + 1).end()  # type: ignore[union-attr]
                if text[at : at + 1] == "]":
                    slips.append(
                        (*_line_column(text, comma), "trailing_comma",
                         "a comma after the last element is read as the end of the array")
                    )  # fmt: skip
                    closed = at + 1
                    break
                continue
            if following == "]":
                closed = at + 1
                break
            if following in ("{", "[") and isinstance(value, dict | list):
                slips.append(
                    (*_line_column(text, at), "missing_comma",
                     "two elements without a comma between them are read as two elements")
                )  # fmt: skip
                continue
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
    rest = _WHITESPACE.match(text, closed).end()  # type: ignore[union-attr]
    if rest < len(text):
        raise json.JSONDecodeError("Extra data", text, rest)
    return out, slips


def _line_column(text: str, at: int) -> tuple[int, int]:
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


def locate_document(
    name: str, data: bytes, sections: dict[str, bool]
) -> tuple[dict[str, list[Located] | RowError | Any], RowError | None]:
    """The document's top-level sections; each of `sections` (name -> whether it is one
    object rather than an array) as its records with the line and column each starts on (a
    Sequent export is often one long line), other sections as their values. A section of the
    wrong shape comes back as its RowError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, RowError(
            line=data.count(b"\n", 0, exc.start) + 1,
            code="invalid_encoding",
            message=f"{name} is not valid UTF-8",
            file=name,
        )
    try:
        whole = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return {}, _syntax_error(name, exc)
    except RecursionError:
        return {}, RowError(line=1, code="invalid_json", message="nested too deeply", file=name)
    if not isinstance(whole, dict):
        return {}, RowError(
            line=1, code="not_an_object", message=f"{name} must hold a JSON object", file=name
        )
    positions = _element_offsets(text, {s for s, single in sections.items() if not single})
    starts = _line_starts(text)
    out: dict[str, Any] = dict(whole)
    for section, single in sections.items():
        value = whole.get(section)
        if section not in whole:
            continue
        offsets = positions.get(section, [])
        if single:
            offsets = [positions.get(f"{section}:", [0])[0]]
            value = [value]
        elif not isinstance(value, list) or len(offsets) != len(value):
            line, column = _where(starts, positions.get(f"{section}:", [0])[0])
            out[section] = RowError(
                line=line,
                column=column,
                field=section,
                code="not_an_array",
                message=f"{section} must be a JSON array",
                file=name,
            )
            continue
        out[section] = [
            Located(*_where(starts, offset), item)
            for offset, item in zip(offsets, value, strict=True)
        ]
    return out, None


_WS = " \t\n\r"


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WS:
        at += 1
    return at


def _element_offsets(text: str, arrays: set[str]) -> dict[str, list[int]]:
    """Where each top-level value starts (`section:`) and, for `arrays`, where each element
    starts. The document is already known to be valid JSON: this only walks it."""
    out: dict[str, list[int]] = {}
    at = _skip(text, 0) + 1  # past "{"
    while True:
        at = _skip(text, at)
        if text[at] == "}":
            return out
        key, at = _DECODER.raw_decode(text, at)
        at = _skip(text, _skip(text, at) + 1)  # past ":"
        out[f"{key}:"] = [at]
        if key in arrays and text[at] == "[":
            elements: list[int] = []
            at = _skip(text, at + 1)
            while text[at] != "]":
                elements.append(at)
                _, at = _DECODER.raw_decode(text, at)
                at = _skip(text, at)
                if text[at] == ",":
                    at = _skip(text, at + 1)
            out[key] = elements
            at += 1
        else:
            _, at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at += 1


def _line_starts(text: str) -> list[int]:
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _where(starts: list[int], offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of a character offset."""
    line = bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1

"""Bundle import types: one archive of related members, validated as a whole, then written
entity by entity in dependency order with new ids (see logic/bundles.py for the run)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from intake.import_types.base import ImportType
from intake.models.domain import RowError

# (entity, source id) -> the entity's new id for this run.
NewId = Callable[[str, str], str]


@dataclass(frozen=True)
class Member:
    """A bundle member: its name in the archive, its bytes read on demand."""

    name: str
    read: Callable[[], bytes]


@dataclass
class BundleCheck:
    """Everything found wrong with a bundle, and its validated records by entity."""

    errors: list[RowError] = field(default_factory=list)
    records_total: int = 0
    records_invalid: int = 0
    # The first problem with a member as a whole (unreadable, not JSON, wrong shape).
    member_error: RowError | None = None
    valid: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Write:
    """The records of one entity, keyed by their new ids, in the order they must be written."""

    entity: str
    items: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class BundleImportType(ImportType):
    """An ImportType whose file is an archive of named members rather than a stream of rows.

    `members` are the member names a bundle must hold, in dependency order; subclasses say
    how to check them and what to write.
    """

    members: tuple[str, ...] = ()
    # Members read when present, not required (also in dependency order).
    optional_members: tuple[str, ...] = ()
    # Entries in the whole archive (skipped ones included) when the type skips some: bounds the
    # central directory, while `max_members` of the archive limits bounds what is read.
    max_entries: int | None = None
    # Never read, listed in the result as skipped: folders (at any depth) and file names.
    skipped_folders: frozenset[str] = frozenset()
    skipped_files: frozenset[str] = frozenset()

    @property
    def takes_mapping(self) -> bool:
        return False

    def member_for(self, path: str) -> str | None:
        """The member an archive entry is (its path below any top folder), or None."""
        return path if path in (*self.members, *self.optional_members) else None

    def skips(self, name: str) -> bool:
        """Entries the type never reads (media, an exporter's own files): set aside and listed
        in the result, never an error. `name` is the full path in the archive."""
        return self.skipped_as(name) is not None

    def skipped_as(self, name: str) -> str | None:
        """How a skipped entry is listed: its skipped folder (`ev/images/`, once for all its
        photos) or its own name; None when the entry is not skipped."""
        parts = name.split("/")
        for depth, part in enumerate(parts[:-1], start=1):
            if part in self.skipped_folders:
                return "/".join(parts[:depth]) + "/"
        return name if parts[-1] in self.skipped_files else None

    def check_bundle(self, members: Mapping[str, Member]) -> BundleCheck:
        """Validate every member present (missing ones are reported by the caller)."""
        raise NotImplementedError

    def plan(self, check: BundleCheck, new_id: NewId) -> list[Write]:
        """The writes of a bundle that passed check_bundle, references remapped to new ids."""
        raise NotImplementedError

    def collection(self, entity: str) -> str:
        """Where an entity's records go in the sink: `event`, `event.tracks`, ..."""
        return self.name if entity == self.name else f"{self.name}.{entity}"


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def parse_json_member(
    name: str, data: bytes, *, array: bool
) -> tuple[list[tuple[int, Any]], RowError | None]:
    """A whole JSON member as (line, value) pairs: each element of a top-level array with the
    physical line it starts on, or the one top-level object. Syntax errors come back located
    (line and column from json.JSONDecodeError), with no pairs."""
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
    if array:
        elements = _array_elements(text, start, first_line)
        if elements is not None:
            return elements, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], RowError(
            line=exc.lineno, column=exc.colno, code="invalid_json", message=exc.msg, file=name
        )
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


def _array_elements(text: str, start: int, line: int) -> list[tuple[int, Any]] | None:
    """Decode a top-level array element by element, noting where each starts; None when the
    text is not a well-formed array (json.loads then says exactly where and why)."""
    if text[start : start + 1] != "[":
        return None
    out: list[tuple[int, Any]] = []
    last = start
    at = _WHITESPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    try:
        if text[at : at + 1] == "]":
            closed = at + 1
        else:
            while True:
                line += text.count("\n", last, at)
                last = at
                value, at = _DECODER.raw_decode(text, at)
                out.append((line, value))
                at = _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]
                if text[at : at + 1] == ",":
                    at = _WHITESPACE.match(text, at + 1).end()  # type: ignore[union-attr]
                    continue
                if text[at : at + 1] != "]":
                    return None
                closed = at + 1
                break
    except (json.JSONDecodeError, RecursionError):
        return None
    if text[_WHITESPACE.match(text, closed).end() :]:  # type: ignore[union-attr]
        return None  # trailing data
    return out

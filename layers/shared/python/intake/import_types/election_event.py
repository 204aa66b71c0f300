"""The `election_event` bundle: Sequent's election-event export, one JSON document (or a ZIP
holding one) with `election_event`, `elections`, `contests`, `candidates`, `areas` and
`area_contests`, checked as a whole and imported in dependency order with new ids.

The entities, their keys, references and order are data (ENTITIES below): the checks, the
tree rule and the remapping are generic, so another document-shaped bundle is a page of
declarations. `keycloak_event_realm` (identity-provider configuration) and every other section
Intake does not import are never stored; the result lists them as skipped.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.bundle import (
    BundleCheck,
    BundleImportType,
    Entity,
    Located,
    Member,
    Ref,
    Seen,
)
from intake.ingest import media
from intake.models.domain import RowError

# Sequent's records carry many more fields (annotations, presentation, timestamps...): they are
# kept as they are (extra="allow"); only what references and keys need is checked.
_CONFIG = ConfigDict(extra="allow")

Uuid = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
    ),
]


class ElectionEvent(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid


class Election(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid
    election_event_id: NotRequired[Uuid]


class Contest(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid
    election_id: Uuid
    election_event_id: NotRequired[Uuid]


class Candidate(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid
    contest_id: Uuid
    election_event_id: NotRequired[Uuid]


class Area(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid
    parent_id: NotRequired[Uuid | None]
    election_event_id: NotRequired[Uuid]


class AreaContest(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Uuid
    area_id: Uuid
    contest_id: Uuid


class ElectionEventDocument(TypedDict):
    """What the catalog shows: the document's sections Intake imports."""

    election_event: ElectionEvent
    elections: list[Election]
    contests: list[Contest]
    candidates: list[Candidate]
    areas: list[Area]
    area_contests: list[AreaContest]


_EVENT_REF = Ref("election_event_id", "election_event")


def _entity(section: str, model: Any, required: tuple[str, ...], *refs: Ref, **kw: Any) -> Entity:
    """A section's entity; its id and references must be UUIDs."""
    codes = {
        (name, "*"): ("invalid_uuid", "{field} must be a UUID")
        for name in ("id", *(ref.field for ref in refs))
    }
    return Entity(section, model, required, refs, field_codes=codes, **kw)


# In dependency order: what a later section refers to comes first.
ENTITIES: tuple[Entity, ...] = (
    _entity("election_event", ElectionEvent, ("id",), single=True),
    _entity("elections", Election, ("id",), _EVENT_REF),
    _entity(
        "contests", Contest, ("id", "election_id"), _EVENT_REF, Ref("election_id", "elections")
    ),
    _entity(
        "candidates", Candidate, ("id", "contest_id"), _EVENT_REF, Ref("contest_id", "contests")
    ),
    _entity("areas", Area, ("id",), _EVENT_REF, Ref("parent_id", "areas"), tree="parent_id"),
    _entity(
        "area_contests",
        AreaContest,
        ("id", "area_id", "contest_id"),
        Ref("area_id", "areas"),
        Ref("contest_id", "contests"),
    ),
)
# Sections of the export that are not election data and are never stored (listed as skipped).
# `tenant_id` is Sequent's tenant, not a section: Intake's tenant is the uploader's.
NOT_SECTIONS = frozenset({"tenant_id"})
# The document's member name, as the catalog shows it (any one .json in a ZIP is read).
DOCUMENT = "election_event.json"


@dataclass(frozen=True)
class ElectionEventType(BundleImportType):
    """A bundle read from one JSON document: its sections are the entities' sources."""

    def sources(
        self, members: Mapping[str, Member], check: BundleCheck, seen: Seen
    ) -> dict[str, list[Located]]:
        if not members:  # the caller reports the missing document
            return {}
        [member] = members.values()
        sections, error = locate_document(member.name, member.read(), self.entities)
        if error is not None:
            check.errors.append(error)
            check.member_error = error
            return {}
        known = {e.name for e in self.entities}
        check.skipped = sorted(k for k in sections if k not in known and k not in NOT_SECTIONS)
        out: dict[str, list[Located]] = {}
        for entity in self.entities:
            seen.files[entity.name] = member.name
            records = sections.get(entity.name)
            if records is None:
                records = RowError(
                    line=1,
                    field=entity.name,
                    code="missing_section",
                    message=f"the document has no {entity.name}",
                    file=member.name,
                )
            if isinstance(records, RowError):
                check.errors.append(records)
                check.member_error = check.member_error or records
                continue
            out[entity.name] = records
        return out


def locate_document(
    name: str, data: bytes, entities: tuple[Entity, ...]
) -> tuple[dict[str, list[Located] | RowError | Any], RowError | None]:
    """The document's top-level sections; each array section of an entity as its elements
    with the line and column each starts on (a Sequent export is often one long line), other
    sections as their values. A section of the wrong shape comes back as its RowError."""
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
        return {}, RowError(
            line=exc.lineno, column=exc.colno, code="invalid_json", message=exc.msg, file=name
        )
    except RecursionError:
        return {}, RowError(line=1, code="invalid_json", message="nested too deeply", file=name)
    if not isinstance(whole, dict):
        return {}, RowError(
            line=1, code="not_an_object", message=f"{name} must hold a JSON object", file=name
        )
    positions = _element_offsets(text, {e.name for e in entities if not e.single})
    starts = _line_starts(text)
    out: dict[str, Any] = dict(whole)
    for entity in entities:
        value = whole.get(entity.name)
        if entity.name not in whole:
            out.pop(entity.name, None)
            continue
        offsets = positions.get(entity.name, [])
        if entity.single:
            offsets = [positions.get(f"{entity.name}:", [0])[0]]
            value = [value]
        elif not isinstance(value, list) or len(offsets) != len(value):
            line, column = _where(starts, positions.get(f"{entity.name}:", [0])[0])
            out[entity.name] = RowError(
                line=line,
                column=column,
                field=entity.name,
                code="not_an_array",
                message=f"{entity.name} must be a JSON array",
                file=name,
            )
            continue
        out[entity.name] = [
            Located(*_where(starts, offset), item)
            for offset, item in zip(offsets, value, strict=True)
        ]
    return out, None


_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


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


MiB = 1024 * 1024

ELECTION_EVENT = ElectionEventType(
    name="election_event",
    version="1",
    description=(
        "Sequent's election-event export: one JSON document (or a ZIP holding one) with "
        "election_event, elections, contests, candidates, areas and area_contests, imported "
        "as a new election event with new ids; keycloak_event_realm is never stored"
    ),
    media_types=(media.JSON, media.ZIP),
    max_size=100 * MiB,
    natural_key="id",
    adapter=TypeAdapter(ElectionEventDocument),
    required_fields=tuple(e.name for e in ENTITIES),
    members=(DOCUMENT,),
    entities=ENTITIES,
    document=True,
    dropped_fields=NOT_SECTIONS,
)

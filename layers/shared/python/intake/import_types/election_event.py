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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.base import ImportType
from intake.import_types.bundle import BundleCheck, BundleImportType, Member, NewId, Write
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


@dataclass(frozen=True)
class Ref:
    """A flat `*_id` field naming a record of `target` (an entity of the same document)."""

    field: str
    target: str


@dataclass(frozen=True)
class Entity:
    """One section of the document: its records' model, required fields and references.
    `single`: the section is one object, not an array. `tree`: a reference to the same entity
    that must form a forest (no cycles); parents are written before their children."""

    section: str
    model: Any
    required: tuple[str, ...]
    refs: tuple[Ref, ...] = ()
    single: bool = False
    tree: str | None = None
    record_type: ImportType = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "record_type",
            ImportType(
                name=f"election_event.{self.section}",
                version="1",
                description=f"{self.section} of an election event",
                media_types=(media.JSON,),
                max_size=0,
                natural_key="id",
                adapter=TypeAdapter(self.model),
                required_fields=self.required,
                field_codes={
                    (name, "*"): ("invalid_uuid", "{field} must be a UUID")
                    for name in ("id", *(ref.field for ref in self.refs))
                },
            ),
        )


_EVENT_REF = Ref("election_event_id", "election_event")

# In dependency order: what a later section refers to comes first.
ENTITIES: tuple[Entity, ...] = (
    Entity("election_event", ElectionEvent, ("id",), single=True),
    Entity("elections", Election, ("id",), (_EVENT_REF,)),
    Entity(
        "contests", Contest, ("id", "election_id"), (_EVENT_REF, Ref("election_id", "elections"))
    ),
    Entity(
        "candidates", Candidate, ("id", "contest_id"), (_EVENT_REF, Ref("contest_id", "contests"))
    ),
    Entity("areas", Area, ("id",), (_EVENT_REF, Ref("parent_id", "areas")), tree="parent_id"),
    Entity(
        "area_contests",
        AreaContest,
        ("id", "area_id", "contest_id"),
        (Ref("area_id", "areas"), Ref("contest_id", "contests")),
    ),
)
# Sections of the export that are not election data and are never stored (listed as skipped).
# `tenant_id` is Sequent's tenant, not a section: Intake's tenant is the uploader's.
NOT_SECTIONS = frozenset({"tenant_id"})
# The one member name an archive is read as holding (logic/document_bundles.py finds the .json).
DOCUMENT = "election_event.json"


@dataclass
class DocumentCheck(BundleCheck):
    """A BundleCheck that also says which top-level sections were skipped (never stored)."""

    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Located:
    line: int
    column: int
    value: Any


@dataclass(frozen=True)
class ElectionEventType(BundleImportType):
    """A bundle read from one JSON document: its sections are the members."""

    entities: tuple[Entity, ...] = ()

    def check_bundle(self, members: Mapping[str, Member]) -> DocumentCheck:
        check = DocumentCheck()
        if not members:  # the caller reports the missing document
            return check
        [member] = members.values()
        sections, error = locate_document(member.name, member.read(), self.entities)
        if error is not None:
            check.errors.append(error)
            check.member_error = error
            return check
        known = {e.section for e in self.entities}
        check.skipped = sorted(k for k in sections if k not in known and k not in NOT_SECTIONS)
        ids: dict[str, set[str]] = {}
        for entity in self.entities:
            records = sections.get(entity.section)
            if records is None:
                check.errors.append(
                    RowError(
                        line=1,
                        field=entity.section,
                        code="missing_section",
                        message=f"the document has no {entity.section}",
                        file=member.name,
                    )
                )
                check.member_error = check.member_error or check.errors[-1]
                continue
            if isinstance(records, RowError):
                check.errors.append(records)
                check.member_error = check.member_error or records
                continue
            check.valid[entity.section] = _check_entity(check, entity, records, ids, member.name)
        return check

    def plan(self, check: BundleCheck, new_id: NewId) -> list[Write]:
        new_ids = {
            e.section: {r["id"]: new_id(e.section, r["id"]) for r in check.valid[e.section]}
            for e in self.entities
        }
        [root] = self.entities[:1]
        root_id = next(iter(new_ids[root.section].values()))
        writes = []
        for entity in self.entities:
            records = check.valid[entity.section]
            if entity.tree is not None:
                records = _parents_first(records, entity.tree)
            items = []
            for record in records:
                new = new_ids[entity.section][record["id"]]
                body = {k: v for k, v in record.items() if k not in NOT_SECTIONS}
                for ref in entity.refs:
                    if record.get(ref.field) is not None:
                        body[ref.field] = new_ids[ref.target][record[ref.field]]
                items.append(
                    (
                        new,
                        {
                            **body,
                            "id": new,
                            "source_id": record["id"],
                            f"{root.section}_id": root_id,
                        },
                    )
                )
            writes.append(Write(entity.section, items))
        return writes


def locate_document(
    name: str, data: bytes, entities: tuple[Entity, ...]
) -> tuple[dict[str, list[_Located] | RowError | Any], RowError | None]:
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
    positions = _element_offsets(text, {e.section for e in entities if not e.single})
    starts = _line_starts(text)
    out: dict[str, Any] = dict(whole)
    for entity in entities:
        value = whole.get(entity.section)
        if entity.section not in whole:
            out.pop(entity.section, None)
            continue
        offsets = positions.get(entity.section, [])
        if entity.single:
            offsets = [positions.get(f"{entity.section}:", [0])[0]]
            value = [value]
        elif not isinstance(value, list) or len(offsets) != len(value):
            line, column = _where(starts, positions.get(f"{entity.section}:", [0])[0])
            out[entity.section] = RowError(
                line=line,
                column=column,
                field=entity.section,
                code="not_an_array",
                message=f"{entity.section} must be a JSON array",
                file=name,
            )
            continue
        out[entity.section] = [
            _Located(*_where(starts, offset), item)
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


def _check_entity(
    check: BundleCheck,
    entity: Entity,
    records: list[_Located],
    ids: dict[str, set[str]],
    file: str,
) -> list[dict[str, Any]]:
    """Validate one section's records: shape, duplicate ids, references (the section's own
    ids included, for trees), cycles. Raw values are used for references so a record invalid
    for another reason still has its references reported."""
    first: dict[str, _Located] = {}
    errors_of: dict[int, list[RowError]] = {}
    checked: list[tuple[_Located, dict[str, Any] | None]] = []
    for located in records:
        check.records_total += 1
        errors = errors_of.setdefault(id(located), [])
        raw = located.value
        if not isinstance(raw, dict):
            errors.append(
                _error(located, None, "not_an_object", "a record must be an object", file)
            )
            checked.append((located, None))
            continue
        outcome = entity.record_type.check(raw, line=located.line, file=file)
        errors += [e.model_copy(update={"column": located.column}) for e in outcome.errors]
        source_id = _ref(raw.get("id"))
        if source_id is not None and source_id in first:
            errors.append(
                _error(
                    located,
                    "id",
                    "duplicate_id",
                    f"id {source_id!r} is already used at line {first[source_id].line}",
                    file,
                )
            )
        elif source_id is not None:
            first[source_id] = located
        checked.append((located, outcome.record))
    ids[entity.section] = set(first)
    for located, _ in checked:
        raw = located.value
        if not isinstance(raw, dict):
            continue
        for ref in entity.refs:
            value = _ref(raw.get(ref.field))
            if value is not None and ref.target in ids and value not in ids[ref.target]:
                errors_of[id(located)].append(
                    _error(
                        located,
                        ref.field,
                        "dangling_reference",
                        f"{value!r} is not an id in {ref.target}",
                        file,
                    )
                )
    if entity.tree is not None:
        for source_id in _in_cycles(
            {i: _ref(loc.value.get(entity.tree)) for i, loc in first.items()}
        ):
            located = first[source_id]
            errors_of[id(located)].append(
                _error(
                    located,
                    entity.tree,
                    "reference_cycle",
                    f"{entity.section} {source_id!r} is its own ancestor through {entity.tree}",
                    file,
                )
            )
    valid = []
    for located, record in checked:
        errors = errors_of[id(located)]
        if errors:
            check.records_invalid += 1
            check.errors.extend(errors)
        elif record is not None:
            valid.append(record)
    return valid


def _in_cycles(parent: dict[str, str | None]) -> list[str]:
    """The ids that are their own ancestor (each node walks up at most len(parent) steps)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cyclic: set[str] = set()
    for start in parent:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parent and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node is not None and state.get(node) == 1:  # closed a loop on this path
            cyclic.update(path[path.index(node) :])
        for n in path:
            state[n] = 2
    return [i for i in parent if i in cyclic]


def _parents_first(records: list[dict[str, Any]], tree: str) -> list[dict[str, Any]]:
    """Records ordered so a parent comes before its children (depth, then document order)."""
    by_id = {r["id"]: r for r in records}

    def depth(record: dict[str, Any]) -> int:
        n = 0
        while (parent := record.get(tree)) is not None and parent in by_id:
            record, n = by_id[parent], n + 1
        return n

    return sorted(records, key=depth)


def _ref(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _error(located: _Located, field: str | None, code: str, message: str, file: str) -> RowError:
    return RowError(
        line=located.line, column=located.column, field=field, code=code, message=message, file=file
    )


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
    required_fields=tuple(e.section for e in ENTITIES),
    members=(DOCUMENT,),
    entities=ENTITIES,
)

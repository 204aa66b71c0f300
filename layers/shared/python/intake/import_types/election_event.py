"""The `election_event` bundle: Sequent's election-event export, one JSON document (or a ZIP
holding one) with `election_event`, `elections`, `contests`, `candidates`, `areas` and
`area_contests`, checked as a whole and imported in dependency order with new ids.

The entities, their keys, references and order are data (ENTITIES below): the checks, the
tree rule and the remapping are generic, so another document-shaped bundle is a page of
declarations. `keycloak_event_realm` (identity-provider configuration) and every other section
Intake does not import are never stored; the result lists them as skipped.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.bundle import (
    BundleImportType,
    Entity,
    Ref,
)
from intake.ingest import media

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


MiB = 1024 * 1024

ELECTION_EVENT = BundleImportType(
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

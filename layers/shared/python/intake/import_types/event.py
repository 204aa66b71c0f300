"""The `event` bundle: an Open Event export (FOSSASIA's Open Event systems) as they write it,
checked as a whole and imported in dependency order with new ids.

What real exports vary in is declared here as data: member names (`sessions` or
`sessions.json`, in a top folder or not), field names (dasherized `starts-at`, snake_case
`start_time`, ours `starts_at`: ALIASES), references (nested `track: {id}` or flat `track_id`:
REFERENCES), and what is never read (media folders, the exporter's own files: SKIPPED_*).
Empty strings are absent values: exports write "" for every optional field left blank."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NotRequired
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from intake.import_types.base import ImportType
from intake.import_types.bundle import (
    BundleCheck,
    BundleImportType,
    Member,
    NewId,
    Write,
    parse_json_member,
)
from intake.import_types.contacts import EMAIL_PATTERN
from intake.ingest import media
from intake.models.domain import RowError


def _iana_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("unknown time zone") from None
    return name


# Open Event files often carry numeric ids and many more fields: ids become text, extras are
# ignored (and not stored).
_CONFIG = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]
Color = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^#[0-9A-Fa-f]{6}$")]
Timezone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_iana_zone),
]


class Event(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: Timezone


class Track(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    color: NotRequired[Color | None]


class Speaker(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    email: NotRequired[Email | None]
    organisation: NotRequired[Name | None]


class Microlocation(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    floor: NotRequired[int | None]
    room: NotRequired[Name | None]


class SessionType(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    length: NotRequired[Annotated[str, StringConstraints(max_length=20)] | None]


class Sponsor(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    name: Name
    url: NotRequired[Annotated[str, StringConstraints(max_length=2000)] | None]
    level: NotRequired[int | None]
    type: NotRequired[Name | None]


class Session(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    title: Title
    track_id: NotRequired[Id | None]
    speaker_ids: NotRequired[Annotated[list[Id], Field(max_length=100)]]
    microlocation_id: NotRequired[Id | None]
    session_type_id: NotRequired[Id | None]
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class EventBundle(TypedDict):
    """What the catalog shows: one key per member, each member's JSON content."""

    event: Event
    tracks: list[Track]
    microlocations: NotRequired[list[Microlocation]]
    session_types: NotRequired[list[SessionType]]
    speakers: list[Speaker]
    sponsors: NotRequired[list[Sponsor]]
    sessions: list[Session]


_TIME_CODE = (
    "invalid_datetime",
    "{field} must be an ISO 8601 date-time with a UTC offset, e.g. 2026-05-04T09:00:00+02:00",
)
_CODES = {
    ("starts_at", "*"): _TIME_CODE,
    ("ends_at", "*"): _TIME_CODE,
    ("timezone", "*"): (
        "invalid_timezone",
        "timezone must be an IANA time zone name such as Europe/Paris",
    ),
    ("color", "*"): ("invalid_color", "color must be #RRGGBB, e.g. #1E90FF"),
    ("email", "*"): ("invalid_email", "email is not a valid e-mail address"),
}


def _record_type(entity: str, model: Any, required: tuple[str, ...]) -> ImportType:
    """Each member's records are checked (and stored) like an import type's rows."""
    return ImportType(
        name="event" if entity == "event" else f"event.{entity}",
        version="1",
        description=f"{entity} of an event bundle",
        media_types=(media.JSON,),
        max_size=0,
        natural_key="id",
        adapter=TypeAdapter(model),
        required_fields=required,
        field_codes=_CODES,
    )


# entity -> (member, record type); in dependency order: what a later member refers to comes first.
ENTITIES: dict[str, tuple[str, ImportType]] = {
    "event": (
        "event.json",
        _record_type("event", Event, ("id", "name", "starts_at", "ends_at", "timezone")),
    ),
    "tracks": ("tracks.json", _record_type("tracks", Track, ("id", "name"))),
    "microlocations": (
        "microlocations.json",
        _record_type("microlocations", Microlocation, ("id", "name")),
    ),
    "session_types": (
        "session_types.json",
        _record_type("session_types", SessionType, ("id", "name")),
    ),
    "speakers": ("speakers.json", _record_type("speakers", Speaker, ("id", "name"))),
    "sponsors": ("sponsors.json", _record_type("sponsors", Sponsor, ("id", "name"))),
    "sessions": (
        "sessions.json",
        _record_type("sessions", Session, ("id", "title", "starts_at", "ends_at")),
    ),
}
# Every export has these; the others are read when present (older exports lack them).
REQUIRED = ("event", "tracks", "speakers", "sessions")

# Dialects: a source name (dashes read as underscores, so `starts-at` is `starts_at`) -> our
# field. Names not listed are taken as they are (extras are then ignored by the models).
ALIASES: dict[str, dict[str, str]] = {
    "event": {"start_time": "starts_at", "end_time": "ends_at"},
    "sessions": {"start_time": "starts_at", "end_time": "ends_at"},
    "speakers": {"organization": "organisation"},
    "sponsors": {"sponsor_type": "type"},  # the older server export's name
}

# References: field -> (target entity, the nested name exports use, many). Nested objects
# (`track: {id, name, ...}`, `speakers: [{id, ...}]`) and flat ids (`track_id`) both resolve.
REFERENCES: dict[str, dict[str, tuple[str, str, bool]]] = {
    "sessions": {
        "track_id": ("tracks", "track", False),
        "speaker_ids": ("speakers", "speakers", True),
        "microlocation_id": ("microlocations", "microlocation", False),
        "session_type_id": ("session_types", "session_type", False),
    },
}

# Never read; listed in the result as skipped. Folders at any depth; file names as written.
SKIPPED_FOLDERS = frozenset(
    {"images", "audio", "audios", "videos", "slides", "__MACOSX", ".comments"}
)  # `audios/`: where the server export writes session audio
SKIPPED_FILES = frozenset(
    {
        "forms", "forms.json", "meta", "meta.json", "config.json",
        # the event's own social links again (event.social_links holds them)
        "social_links", "social_links.json",
        ".DS_Store", "Thumbs.db", ".comments",
    }
)  # fmt: skip
# Entries an export may hold in all (its photos included): bounds the central directory read.
MAX_ENTRIES = 5_000


def normalise(entity: str, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A record in our field names, and the source name of each field (errors name the field
    as the file spells it). Empty strings are dropped: absent, as the export meant them."""
    aliases = ALIASES.get(entity, {})
    out: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key, value in raw.items():
        name = key.strip().replace("-", "_")
        name = aliases.get(name, name)
        if isinstance(value, str) and not value.strip():
            continue
        if name in out and key != name:
            continue  # two spellings of one field: ours wins, else the first
        out[name], source[name] = value, key
    for field, (_, nested, many) in REFERENCES.get(entity, {}).items():
        if nested == field or nested not in out or field in out:
            continue
        value = out.pop(nested)
        source[field] = source.pop(nested)
        out[field] = _ref_ids(value) if many else _ref_id(value)
    return out, source


def _ref_id(value: Any) -> Any:
    """`{id: 3, name: ...}` -> 3; a bare id as it is; an object without id stays (and fails)."""
    return value.get("id", value) if isinstance(value, dict) else value


def _ref_ids(value: Any) -> Any:
    return [_ref_id(v) for v in value] if isinstance(value, list) else value


def _source_field(error: RowError, source: dict[str, str]) -> RowError:
    """The error under the field name the file uses (`start_time`, `speakers.0`)."""
    if error.field is None:
        return error
    head, dot, rest = error.field.partition(".")
    if head not in source or source[head] == head:
        return error
    return error.model_copy(update={"field": source[head] + dot + rest})


_TIME = TypeAdapter(AwareDatetime)


@dataclass
class _Seen:
    """What later members are checked against."""

    ids: dict[str, set[str]]  # entity -> source ids present (valid or not), for references
    files: dict[str, str]  # entity -> its member's name in the archive, for messages
    event: dict[str, Any] | None = None  # the validated event, for the time span


class EventBundleType(BundleImportType):
    def check_bundle(self, members: Mapping[str, Member]) -> BundleCheck:
        check = BundleCheck()
        seen = _Seen(ids={}, files={})
        for entity, (member_name, record_type) in ENTITIES.items():
            member = members.get(member_name)
            if member is None:
                continue  # the caller reports missing (required) members
            seen.files[entity] = member.name
            rows, error = parse_json_member(member.name, member.read(), array=entity != "event")
            if error is not None:
                check.errors.append(error)
                check.member_error = check.member_error or error
                continue
            check.valid[entity] = self._check_records(
                check, entity, member.name, record_type, rows, seen
            )
        return check

    def _check_records(
        self,
        check: BundleCheck,
        entity: str,
        file: str,
        record_type: ImportType,
        rows: list[tuple[int, Any]],
        seen: _Seen,
    ) -> list[dict[str, Any]]:
        valid = []
        first_line: dict[str, int] = {}
        for line, raw in rows:
            check.records_total += 1
            if not isinstance(raw, dict):
                errors = [_error(line, None, "not_an_object", "a record must be an object", file)]
                record = None
            else:
                fields, source = normalise(entity, raw)
                outcome = record_type.check(fields, line=line, file=file)
                record, errors = outcome.record, list(outcome.errors)
                source_id = _ref(fields.get("id"))
                if source_id is not None and source_id in first_line:
                    errors.append(
                        _error(
                            line,
                            "id",
                            "duplicate_id",
                            f"id {source_id!r} is already used at line {first_line[source_id]}",
                            file,
                        )
                    )
                elif source_id is not None:
                    first_line[source_id] = line
                errors += _cross_checks(entity, fields, record, line, file, seen)
                errors = [_source_field(e, source) for e in errors]
            if errors:
                check.records_invalid += 1
                check.errors.extend(errors)
            elif record is not None:
                valid.append(record)
        seen.ids[entity] = set(first_line)
        if entity == "event" and valid:
            seen.event = valid[0]
        return valid

    def member_for(self, path: str) -> str | None:
        """`sessions`, `sessions.json` (and `session-types` for `session_types`) are one member."""
        stem = path.removesuffix(".json").replace("-", "_")
        entry = ENTITIES.get(stem)
        return entry[0] if entry is not None else None

    def plan(self, check: BundleCheck, new_id: NewId) -> list[Write]:
        [event] = check.valid["event"]
        event_id = new_id("event", event["id"])
        new_ids = {
            entity: {r["id"]: new_id(entity, r["id"]) for r in check.valid.get(entity, [])}
            for entity in ENTITIES
            if entity != "event"
        }

        def item(entity: str, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            new = event_id if entity == "event" else new_ids[entity][record["id"]]
            refs: dict[str, Any] = {}
            for field, (target, _, many) in REFERENCES.get(entity, {}).items():
                if many:
                    refs[field] = [new_ids[target][i] for i in record.get(field, [])]
                elif record.get(field) is not None:
                    refs[field] = new_ids[target][record[field]]
            body = _stored({**record, **refs})
            return new, {**body, "id": new, "source_id": record["id"], "event_id": event_id}

        return [Write("event", [item("event", event)])] + [
            Write(entity, [item(entity, r) for r in check.valid.get(entity, [])])
            for entity in ENTITIES
            if entity != "event" and (entity in REQUIRED or check.valid.get(entity))
        ]


def _cross_checks(
    entity: str,
    raw: dict[str, Any],
    record: dict[str, Any] | None,
    line: int,
    file: str,
    seen: _Seen,
) -> list[RowError]:
    """Rules across fields and members. Raw values are used where the record as a whole is
    invalid, so one run reports every problem, not one per attempt."""
    errors: list[RowError] = []
    starts, ends = _time(raw, "starts_at"), _time(raw, "ends_at")
    if entity in ("event", "sessions") and starts and ends and ends <= starts:
        errors.append(
            _error(line, "ends_at", "ends_before_start", "ends_at must be after starts_at", file)
        )
    for field, (target, _, many) in REFERENCES.get(entity, {}).items():
        # A target member that is absent (optional) or unreadable: nothing to check against.
        ids = seen.ids.get(target)
        value = raw.get(field)
        if ids is None or value is None:
            continue
        target_file = seen.files.get(target, ENTITIES[target][0])
        pairs = enumerate(value) if many and isinstance(value, list) else [(None, value)]
        for i, item in pairs:
            ref = _ref(item)
            if ref is not None and ref not in ids:
                at = field if i is None else f"{field}.{i}"
                errors.append(_dangling(line, at, ref, target_file, file))
    if entity != "sessions":
        return errors
    event = seen.event
    if event is not None:
        if starts and starts < event["starts_at"]:
            errors.append(
                _error(
                    line,
                    "starts_at",
                    "outside_event",
                    f"the session starts before the event ({event['starts_at'].isoformat()})",
                    file,
                )
            )
        if ends and ends > event["ends_at"]:
            errors.append(
                _error(
                    line,
                    "ends_at",
                    "outside_event",
                    f"the session ends after the event ({event['ends_at'].isoformat()})",
                    file,
                )
            )
    return errors


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    """As the sink stores it: date-times as ISO 8601 text with their offset, no empty values."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in record.items()
        if v is not None
    }


def _ref(value: Any) -> str | None:
    """An id as the record gives it (numbers become text, as validation makes them)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _time(raw: dict[str, Any], key: str) -> datetime | None:
    try:
        return _TIME.validate_python(raw.get(key))
    except ValidationError:
        return None


def _dangling(line: int, field: str, ref: str, target: str, file: str) -> RowError:
    return _error(line, field, "dangling_reference", f"{ref!r} is not an id in {target}", file)


def _error(line: int, field: str | None, code: str, message: str, file: str) -> RowError:
    return RowError(line=line, field=field, code=code, message=message, file=file)


MiB = 1024 * 1024

EVENT = EventBundleType(
    name="event",
    version="1",
    description=(
        "An Open Event export: a ZIP of event, tracks, speakers and sessions (with or without "
        ".json; microlocations, session_types and sponsors when present), imported as a new "
        "event with new ids; media folders and the exporter's own files are skipped"
    ),
    media_types=(media.ZIP,),
    max_size=100 * MiB,
    natural_key="id",
    adapter=TypeAdapter(EventBundle),
    required_fields=("event", "tracks", "speakers", "sessions"),
    members=tuple(ENTITIES[entity][0] for entity in REQUIRED),
    optional_members=tuple(m for e, (m, _) in ENTITIES.items() if e not in REQUIRED),
    max_entries=MAX_ENTRIES,
    skipped_folders=SKIPPED_FOLDERS,
    skipped_files=SKIPPED_FILES,
)

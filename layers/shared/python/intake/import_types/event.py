"""The `event` bundle (Open Event style): a ZIP of event.json, tracks.json, speakers.json and
sessions.json, checked as a whole and imported in that order with new ids."""

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


class Session(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]

    id: Id
    title: Title
    track_id: NotRequired[Id | None]
    speaker_ids: NotRequired[Annotated[list[Id], Field(max_length=100)]]
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class EventBundle(TypedDict):
    """What the catalog shows: one key per member, each member's JSON content."""

    event: Event
    tracks: list[Track]
    speakers: list[Speaker]
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
    "speakers": ("speakers.json", _record_type("speakers", Speaker, ("id", "name"))),
    "sessions": (
        "sessions.json",
        _record_type("sessions", Session, ("id", "title", "starts_at", "ends_at")),
    ),
}
_TIME = TypeAdapter(AwareDatetime)


@dataclass
class _Seen:
    """What later members are checked against."""

    ids: dict[str, set[str]]  # entity -> source ids present (valid or not), for references
    event: dict[str, Any] | None = None  # the validated event, for the time span


class EventBundleType(BundleImportType):
    def check_bundle(self, members: Mapping[str, Member]) -> BundleCheck:
        check = BundleCheck()
        seen = _Seen(ids={})
        for entity, (member_name, record_type) in ENTITIES.items():
            member = members.get(member_name)
            if member is None:
                continue  # the caller reports missing members
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
                outcome = record_type.check(raw, line=line, file=file)
                record, errors = outcome.record, list(outcome.errors)
                source_id = _ref(raw.get("id"))
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
                errors += _cross_checks(entity, raw, record, line, file, seen)
            if errors:
                check.records_invalid += 1
                check.errors.extend(errors)
            elif record is not None:
                valid.append(record)
        seen.ids[entity] = set(first_line)
        if entity == "event" and valid:
            seen.event = valid[0]
        return valid

    def plan(self, check: BundleCheck, new_id: NewId) -> list[Write]:
        [event] = check.valid["event"]
        event_id = new_id("event", event["id"])
        new_ids = {
            entity: {r["id"]: new_id(entity, r["id"]) for r in check.valid[entity]}
            for entity in ("tracks", "speakers", "sessions")
        }

        def item(entity: str, record: dict[str, Any], **refs: Any) -> tuple[str, dict[str, Any]]:
            new = event_id if entity == "event" else new_ids[entity][record["id"]]
            body = _stored({**record, **refs})
            return new, {**body, "id": new, "source_id": record["id"], "event_id": event_id}

        sessions = [
            item(
                "sessions",
                s,
                track_id=new_ids["tracks"].get(s.get("track_id")),  # type: ignore[arg-type]
                speaker_ids=[new_ids["speakers"][i] for i in s.get("speaker_ids", [])],
            )
            for s in check.valid["sessions"]
        ]
        return [
            Write("event", [item("event", event)]),
            Write("tracks", [item("tracks", t) for t in check.valid["tracks"]]),
            Write("speakers", [item("speakers", s) for s in check.valid["speakers"]]),
            Write("sessions", sessions),
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
    if entity != "sessions":
        return errors
    track_id = _ref(raw.get("track_id"))
    tracks = seen.ids.get("tracks")
    if track_id is not None and tracks is not None and track_id not in tracks:
        errors.append(_dangling(line, "track_id", track_id, "tracks.json", file))
    speakers = seen.ids.get("speakers")
    speaker_ids = raw.get("speaker_ids")
    if speakers is not None and isinstance(speaker_ids, list):
        for i, value in enumerate(speaker_ids):
            ref = _ref(value)
            if ref is not None and ref not in speakers:
                errors.append(_dangling(line, f"speaker_ids.{i}", ref, "speakers.json", file))
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
        "An event bundle (Open Event style): a ZIP of event.json, tracks.json, speakers.json "
        "and sessions.json, imported as a new event with new ids"
    ),
    media_types=(media.ZIP,),
    max_size=100 * MiB,
    natural_key="id",
    adapter=TypeAdapter(EventBundle),
    required_fields=("event", "tracks", "speakers", "sessions"),
    members=tuple(member for member, _ in ENTITIES.values()),
)

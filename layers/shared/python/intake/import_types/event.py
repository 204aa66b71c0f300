"""The `event` bundle: an Open Event export (FOSSASIA's Open Event systems) as they write it,
checked as a whole and imported in dependency order with new ids.

What real exports vary in is declared here as data (ENTITIES): member names (`sessions` or
`sessions.json`, in a top folder or not), field names (dasherized `starts-at`, snake_case
`start_time`, ours `starts_at`), references (nested `track: {id}` or flat `track_id`), and what
is never read (media folders, the exporter's own files: SKIPPED_*). Empty strings are absent
values: exports write "" for every optional field left blank.

The real-data policy for times is this type's two hooks (docs/import-types.md): naive
date-times are read in the event's time zone, legacy zone spellings (`US / Pacific`) are
normalised with a warning, 00:00-00:00 placeholder sessions are unscheduled, and sessions
outside the event's window are warnings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from functools import cache
from typing import Annotated, Any, NotRequired
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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

from intake.import_types.bundle import (
    BundleImportType,
    Entity,
    Finding,
    Ref,
    Seen,
)
from intake.import_types.contacts import EMAIL_PATTERN
from intake.ingest import media


def _iana_zone(name: str) -> str:
    if not _is_zone(name):
        raise ValueError("unknown time zone")
    return name


# Open Event files carry many more fields than the ones checked here (abstracts, photos,
# social links, copyright...): they are kept and stored as the export wrote them (names with
# dashes as underscores), except the back-references listed as `ignored`. Ids become text.
_CONFIG = ConfigDict(extra="allow", coerce_numbers_to_str=True)

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
    # Absent: an unscheduled session (exports write 00:00-00:00 placeholders for them).
    starts_at: NotRequired[AwareDatetime]
    ends_at: NotRequired[AwareDatetime]


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
    "{field} must be an ISO 8601 date-time, e.g. 2026-05-04T09:00:00+02:00 (without an "
    "offset it is read in the event's time zone)",
)
_NAIVE_CODE = (
    "naive_datetime",
    "{field} has no UTC offset, and the event has no valid time zone to read it in",
)
_CODES = {
    ("starts_at", "timezone_aware"): _NAIVE_CODE,
    ("ends_at", "timezone_aware"): _NAIVE_CODE,
    ("starts_at", "*"): _TIME_CODE,
    ("ends_at", "*"): _TIME_CODE,
    ("timezone", "*"): (
        "invalid_timezone",
        "timezone must be an IANA time zone name such as Europe/Paris",
    ),
    ("color", "*"): ("invalid_color", "color must be #RRGGBB, e.g. #1E90FF"),
    ("email", "*"): ("invalid_email", "email is not a valid e-mail address"),
}

# Dialects: a source name (dashes read as underscores, so `starts-at` is `starts_at`) -> our
# field. Names not listed are taken as they are (extras are then ignored by the models).
_TIMES = {"start_time": "starts_at", "end_time": "ends_at"}
# Exports repeat each session under its track, speakers, room and type, with the export's own
# ids: the sessions' references say the same, remapped, so these are never stored.
_BACK_REFERENCES = frozenset({"sessions"})


# In dependency order: what a later entity refers to comes first. Members are named after
# the entity (`sessions`, `sessions.json`; `session-types` for session_types).
def _entity(name: str, model: Any, required: tuple[str, ...], **kw: Any) -> Entity:
    """An entity read from the member named after it (`sessions.json`, also `sessions`),
    with the type's error codes."""
    return Entity(name, model, required, source=f"{name}.json", field_codes=_CODES, **kw)


ENTITIES: tuple[Entity, ...] = (
    _entity(
        "event",
        Event,
        ("id", "name", "starts_at", "ends_at", "timezone"),
        aliases=_TIMES,
        single=True,
    ),
    _entity("tracks", Track, ("id", "name"), ignored=_BACK_REFERENCES),
    _entity(
        "microlocations", Microlocation, ("id", "name"), optional=True, ignored=_BACK_REFERENCES
    ),
    _entity("session_types", SessionType, ("id", "name"), optional=True, ignored=_BACK_REFERENCES),
    _entity(
        "speakers",
        Speaker,
        ("id", "name"),
        aliases={"organization": "organisation"},
        ignored=_BACK_REFERENCES,
    ),
    _entity(
        "sponsors",
        Sponsor,
        ("id", "name"),
        aliases={"sponsor_type": "type"},  # the older server export's name
        optional=True,
    ),
    _entity(
        "sessions",
        Session,
        ("id", "title"),
        refs=(
            Ref("track_id", "tracks", nested="track"),
            Ref("speaker_ids", "speakers", nested="speakers", many=True),
            Ref("microlocation_id", "microlocations", nested="microlocation"),
            Ref("session_type_id", "session_types", nested="session_type"),
        ),
        # MozillaAllHands16 names a session's title `name`
        aliases={**_TIMES, "name": "title"},
    ),
)

# Never read; listed in the result as skipped. Folders at any depth; file names as written.
SKIPPED_FOLDERS = frozenset(
    {"images", "img", "audio", "audios", "videos", "slides", "__MACOSX", ".comments"}
)  # `audios/`: where the server export writes session audio; `img/`: FOSSASIA15's site images
SKIPPED_FILES = frozenset(
    {
        "forms", "forms.json", "meta", "meta.json", "config.json",
        # the event's own social links again (event.social_links holds them), and an older
        # copy of the event itself (FOSSASIA15 has both `event` and `events`)
        "social_links", "social_links.json", "events", "events.json",
        ".DS_Store", "Thumbs.db", ".comments", "._*",  # macOS AppleDouble files
        # an archive inside the export (FOSSASIA11 holds a copy of itself): never opened
        "*.zip",
    }
)  # fmt: skip
# Entries an export may hold in all (its photos included): bounds the central directory read.
MAX_ENTRIES = 5_000

_DATETIME = TypeAdapter(datetime)
_TIME = TypeAdapter(AwareDatetime)
_MIDNIGHT = time(0, 0)


class EventBundleType(BundleImportType):
    """The real-data policy (docs/import-types.md) is `prepare` and `cross_check`."""

    def prepare(self, entity: str, fields: dict[str, Any], seen: Seen) -> list[Finding]:
        """Time zones as exports spell them, naive date-times in the event's zone, and
        00:00-00:00 placeholders as unscheduled sessions."""
        findings: list[Finding] = []
        if entity == "event":
            zone, finding = _zone(fields.get("timezone"))
            if finding is not None:
                fields["timezone"] = zone
                findings.append(finding)
        elif entity == "sessions" and seen.root is not None:
            zone = seen.root["timezone"]
        else:
            zone = None
        if entity not in ("event", "sessions"):
            return findings
        for key in ("starts_at", "ends_at"):
            if key in fields:
                fields[key] = _in_zone(fields[key], zone)
                if (finding := _clock_change(fields[key], key)) is not None:
                    fields[key] = fields[key].astimezone(UTC).astimezone(fields[key].tzinfo)
                    findings.append(finding)
        starts, ends = fields.get("starts_at"), fields.get("ends_at")
        if (
            entity == "sessions"
            and isinstance(starts, datetime)
            and starts == ends
            and starts.timetz().replace(tzinfo=None) == _MIDNIGHT
        ):
            del fields["starts_at"], fields["ends_at"]
            findings.append(
                Finding(
                    "starts_at",
                    "unscheduled",
                    "00:00-00:00 is a placeholder: the session is imported without a time",
                    warning=True,
                )
            )
        return findings

    def cross_check(
        self, entity: str, fields: dict[str, Any], record: dict[str, Any] | None, seen: Seen
    ) -> list[Finding]:
        if entity not in ("event", "sessions"):
            return []
        findings: list[Finding] = []
        starts, ends = _time(fields, "starts_at"), _time(fields, "ends_at")
        if starts and ends and ends <= starts:
            findings.append(
                Finding("ends_at", "ends_before_start", "ends_at must be after starts_at")
            )
        if entity == "sessions":
            for key, present in (("ends_at", starts), ("starts_at", ends)):
                if present and key not in fields:
                    findings.append(
                        Finding(key, "required", f"{key} is required when a time is given")
                    )
        event = seen.root
        if entity != "sessions" or event is None:
            return findings
        if starts and starts < event["starts_at"]:
            findings.append(
                Finding(
                    "starts_at",
                    "outside_event",
                    f"the session starts before the event ({event['starts_at'].isoformat()})",
                    warning=True,
                )
            )
        if ends and ends > event["ends_at"]:
            findings.append(
                Finding(
                    "ends_at",
                    "outside_event",
                    f"the session ends after the event ({event['ends_at'].isoformat()})",
                    warning=True,
                )
            )
        return findings


_OFFSET = re.compile(r"(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?::?00)?", re.IGNORECASE)


def _zone(value: Any) -> tuple[Any, Finding | None]:
    """A time zone as written, or its IANA spelling when the export wrote a legacy one that
    names exactly one zone, with a warning: `US / Pacific`, `america/new york`, and a fixed
    offset of whole hours (`UTC+07:00` is Etc/GMT-7: IANA's Etc signs are inverted)."""
    if not isinstance(value, str) or _is_zone(value.strip()):
        return value, None
    spelled = _iana_spellings().get(_spelling(value))
    offset = _OFFSET.fullmatch(value.strip())
    if spelled is None and offset is not None and int(offset[2]) <= 14:
        hours = int(offset[2])
        spelled = "Etc/GMT" if hours == 0 else f"Etc/GMT{'-' if offset[1] == '+' else '+'}{hours}"
    if spelled is None:
        return value, None
    return spelled, Finding(
        "timezone",
        "timezone_normalised",
        f"{value!r} is read as the IANA time zone {spelled}",
        warning=True,
    )


def _spelling(name: str) -> str:
    return re.sub(r"[\s_]+", "_", re.sub(r"\s*/\s*", "/", name.strip())).casefold()


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@cache
def _iana_spellings() -> dict[str, str]:
    """Each IANA name by its loose spelling; spellings two names share are left out. Built
    on first use (listing the zones takes ~18 ms): only an export with a legacy spelling
    needs it, not every cold start."""
    by_spelling: dict[str, list[str]] = {}
    for name in available_timezones():
        by_spelling.setdefault(_spelling(name), []).append(name)
    return {k: v[0] for k, v in by_spelling.items() if len(v) == 1}


def _in_zone(value: Any, zone: Any) -> Any:
    """A naive date-time (text or value) read in `zone`; anything else as it is (the model
    then says what is wrong with it)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.strip()  # exports leave a space after a time now and then
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        return value
    if parsed.tzinfo is not None:
        return parsed
    if not isinstance(zone, str) or not _is_zone(zone):
        return parsed  # nothing to read it in: the model says so (naive_datetime)
    return parsed.replace(tzinfo=ZoneInfo(zone))


def _clock_change(value: Any, key: str) -> Finding | None:
    """A naive time read in a zone at a clock change: one that does not exist (the hour
    skipped in spring) is read as the instant it would be had the clock not changed, and one
    that exists twice (the hour repeated in autumn) as its first occurrence; either with a
    warning, since the export cannot say which was meant."""
    if not isinstance(value, datetime) or not isinstance(value.tzinfo, ZoneInfo):
        return None
    wall = value.replace(tzinfo=None)
    if value.astimezone(UTC).astimezone(value.tzinfo).replace(tzinfo=None) != wall:
        return Finding(
            key,
            "nonexistent_time",
            f"{wall.isoformat()} does not exist in {value.tzinfo.key} (the clocks skip it): "
            "read as the same instant in the new offset",
            warning=True,
        )
    if value.replace(fold=1).utcoffset() != value.utcoffset():
        return Finding(
            key,
            "ambiguous_time",
            f"{wall.isoformat()} happens twice in {value.tzinfo.key} (the clocks go back): "
            "read as the first",
            warning=True,
        )
    return None


def _time(fields: dict[str, Any], key: str) -> datetime | None:
    try:
        return _TIME.validate_python(fields.get(key))
    except ValidationError:
        return None


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
    required_fields=tuple(e.name for e in ENTITIES if not e.optional),
    entities=ENTITIES,
    members=tuple(e.where for e in ENTITIES if not e.optional),
    optional_members=tuple(e.where for e in ENTITIES if e.optional),
    max_entries=MAX_ENTRIES,
    skipped_folders=SKIPPED_FOLDERS,
    skipped_files=SKIPPED_FILES,
    dashes_are_underscores=True,
    blank_is_absent=True,
)

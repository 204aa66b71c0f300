"""Bundle import types: related entities in one archive or document, declared as data
(entities, keys, references, order, dialect aliases: `Entity`, `Ref`) and checked by one
engine (`check_entities`), then written entity by entity in dependency order with new ids
(logic/bundles.py runs it).

Where records come from is the engine's too (`sources`: JSON members of a ZIP named after
their entities, or the sections of one JSON document, each record located); a type adds only
rules of its own, through two hooks (`prepare`, `cross_check`: the `event` type's time
policy). Everything else is shared: name normalisation, nested references, duplicate ids,
dangling references, trees without cycles, values the records table cannot hold, warnings,
and on_invalid=skip (records left out, references to them dropped, each reported).
docs/import-types.md shows how to declare one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any

from pydantic import TypeAdapter

from intake.import_types.base import ImportType
from intake.import_types.json_sources import Located, locate_document, parse_json_member
from intake.ingest import media
from intake.models.domain import RowError
from intake.models.storable import unstorable

# (entity, source id) -> the entity's new id for this run.
NewId = Callable[[str, str], str]


@dataclass(frozen=True)
class Member:
    """A bundle member: its name in the archive, its bytes read on demand."""

    name: str
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Ref:
    """A field naming records of another entity (or of its own, for a tree) by their ids.

    `nested`: the name exports use for the referenced object(s) themselves (`track: {id, ...}`,
    `speakers: [{id, ...}]`), read as the ids they hold. `many`: a list of ids. A reference is
    required when its field is one of the entity's required fields."""

    field: str
    target: str
    nested: str | None = None
    many: bool = False


@dataclass(frozen=True)
class Entity:
    """One kind of record in a bundle: its pydantic model (a TypedDict), required fields,
    references and dialect aliases (a source name, dashes read as underscores when the type
    says so -> ours). `single`: one object, not an array (the root). `tree`: a reference to the
    same entity that must form a forest; parents are written before their children. `source`:
    where the records are (the member or section name), the entity's name by default.
    `optional`: a bundle may lack it."""

    name: str
    model: Any
    required: tuple[str, ...]
    refs: tuple[Ref, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    single: bool = False
    tree: str | None = None
    source: str | None = None
    optional: bool = False
    field_codes: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # Fields never read nor stored (as the file spells them, after dashes): e.g. the
    # back-references exports repeat with the source's old ids (`tracks[].sessions`).
    ignored: frozenset[str] = frozenset()

    @property
    def where(self) -> str:
        return self.source or self.name

    @cached_property
    def record_type(self) -> ImportType:
        """Each entity's records are checked like an import type's rows."""
        return ImportType(
            name=self.name,
            version="1",
            description=self.name,
            media_types=(media.JSON,),
            max_size=0,
            natural_key="id",
            adapter=TypeAdapter(self.model),
            required_fields=self.required,
            field_codes=self.field_codes,
        )


@dataclass(frozen=True)
class Finding:
    """What a type's own rule found on a record; the engine locates it."""

    field: str | None
    code: str
    message: str
    warning: bool = False


@dataclass
class Seen:
    """What later entities are checked against: ids present (valid or not) with the line each
    first appears on, where each entity was read from, and the validated root record."""

    ids: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # the file errors name
    root: dict[str, Any] | None = None
    # How messages name an entity's source: its member, or its section of a document.
    names: dict[str, str] = field(default_factory=dict)

    def name(self, entity: str) -> str:
        return self.names.get(entity) or self.files.get(entity) or entity


@dataclass
class BundleCheck:
    """Everything found wrong with a bundle, and its validated records by entity."""

    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    records_total: int = 0
    records_invalid: int = 0
    # The first problem with a member as a whole (unreadable, not JSON, wrong shape).
    member_error: RowError | None = None
    valid: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Records left out by entity (on_invalid=skip: each one is also an error).
    left_out: dict[str, int] = field(default_factory=dict)
    # What the source held that is never read or stored (sections, members), for the result.
    skipped: list[str] = field(default_factory=list)
    # Whether the root record is valid: without it nothing can be written.
    has_root: bool = False


@dataclass(frozen=True)
class Write:
    """The records of one entity, keyed by their new ids, in the order they must be written."""

    entity: str
    items: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class BundleImportType(ImportType):
    """An ImportType whose file holds related entities rather than a stream of rows.

    `entities` in dependency order (what a later one refers to comes first; the first is the
    root, one object). `members` are the archive members a bundle must hold, in the same order.
    """

    entities: tuple[Entity, ...] = ()
    # A document type reads one JSON document (uploaded as it is, gzipped, or alone in a ZIP,
    # named as its exporter chose) and its sections; otherwise the bundle is a ZIP of members.
    document: bool = False
    members: tuple[str, ...] = ()
    # Members read when present, not required (also in dependency order).
    optional_members: tuple[str, ...] = ()
    # Entries in the whole archive (skipped ones included) when the type skips some: bounds the
    # central directory, while `max_members` of the archive limits bounds what is read.
    max_entries: int | None = None
    # Never read, listed in the result as skipped: folders (at any depth) and file names
    # (shell patterns, any case: `*.zip`).
    skipped_folders: frozenset[str] = frozenset()
    skipped_files: frozenset[str] = frozenset()
    # Dialects: `starts-at` is `starts_at`; "" and null are absent values (exports write ""
    # for every optional field left blank).
    dashes_are_underscores: bool = False
    blank_is_absent: bool = False
    # Fields of the source's records that are never stored (e.g. the exporter's own tenant).
    dropped_fields: frozenset[str] = frozenset()

    @property
    def takes_mapping(self) -> bool:
        return False

    @property
    def root(self) -> Entity:
        return self.entities[0]

    def __post_init__(self) -> None:
        """Declarations that cannot work fail at import, not on a partner's file."""
        seen: set[str] = set()
        for entity in self.entities:
            # (the model's own __required_keys__ is unreliable under postponed annotations)
            keys = entity.record_type.json_schema.get("required", [])
            if set(entity.required) != set(keys):
                raise ValueError(f"{self.name}.{entity.name}: required must be the model's")
            for ref in entity.refs:
                if ref.target not in seen and ref.target != entity.name:
                    raise ValueError(f"{self.name}.{entity.name}.{ref.field}: refers ahead")
            if entity.tree is not None and not any(
                ref.field == entity.tree and ref.target == entity.name for ref in entity.refs
            ):
                raise ValueError(f"{self.name}.{entity.name}: tree needs a Ref to itself")
            seen.add(entity.name)
        if self.entities and not self.root.single:
            raise ValueError(f"{self.name}: the first entity is the root, one object")
        if not self.aliases:  # the catalog lists each entity's dialect names
            aliases: dict[str, tuple[str, ...]] = {}
            for entity in self.entities:
                for source, ours in entity.aliases.items():
                    key = f"{entity.name}.{ours}"
                    aliases[key] = (*aliases.get(key, ()), source)
            object.__setattr__(self, "aliases", aliases)

    def member_for(self, path: str) -> str | None:
        """The member an archive entry is (its path below any top folder), or None: a member
        declared by name, or one named after an entity with or without `.json`, dashes read
        as underscores (`sessions`, `session-types.json`)."""
        if path in (*self.members, *self.optional_members):
            return path
        lowered = path.lower()
        stem = lowered[:-5] if lowered.endswith(".json") else lowered
        stem = stem.replace("-", "_")
        entity = next((e for e in self.entities if e.name == stem), None)
        return entity.where if entity is not None else None

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
        last = parts[-1].lower()
        return name if any(fnmatchcase(last, p.lower()) for p in self.skipped_files) else None

    def collection(self, entity: str) -> str:
        """Where an entity's records go in the sink: `event`, `event.tracks`, ..."""
        return self.name if entity == self.name else f"{self.name}.{entity}"

    # --- what a type says ----------------------------------------------------------------

    def sources(
        self, members: Mapping[str, Member], check: BundleCheck, seen: Seen
    ) -> dict[str, list[Located]]:
        """Each entity's records, located: from the member named after it (`entity.where`),
        or, for a document type, from the section of that name. Problems with a source as a
        whole go to `check` (errors, member_error); what a document holds besides its
        sections is listed as skipped. A type overrides this only for another layout."""
        if self.document:
            return self._sections(members, check, seen)
        out: dict[str, list[Located]] = {}
        for entity in self.entities:
            member = members.get(entity.where)
            if member is None:
                continue  # the caller reports missing (required) members
            seen.files[entity.name] = member.name
            rows, error = parse_json_member(
                member.name, member.read(), array=not entity.single, warnings=check.warnings
            )
            if error is not None:
                _member_error(check, error)
                continue
            out[entity.name] = [Located(line, None, value) for line, value in rows]
        return out

    def _sections(
        self, members: Mapping[str, Member], check: BundleCheck, seen: Seen
    ) -> dict[str, list[Located]]:
        if not members:  # the caller reports the missing document
            return {}
        [member] = members.values()
        shapes = {e.where: e.single for e in self.entities}
        sections, error = locate_document(member.name, member.read(), shapes)
        if error is not None:
            _member_error(check, error)
            return {}
        check.skipped = sorted(
            k for k in sections if k not in shapes and k not in self.dropped_fields
        )
        out: dict[str, list[Located]] = {}
        for entity in self.entities:
            records = sections.get(entity.where)
            if records is None and entity.optional:
                continue
            seen.files[entity.name] = member.name
            seen.names[entity.name] = entity.where
            if records is None:
                records = RowError(
                    line=1,
                    field=entity.where,
                    code="missing_section",
                    message=f"the document has no {entity.where}",
                    file=member.name,
                )
            if isinstance(records, RowError):
                _member_error(check, records)
                continue
            out[entity.name] = records
        return out

    def prepare(self, entity: str, fields: dict[str, Any], seen: Seen) -> list[Finding]:
        """A type's reading of a record before validation (it may change `fields`)."""
        return []

    def cross_check(
        self, entity: str, fields: dict[str, Any], record: dict[str, Any] | None, seen: Seen
    ) -> list[Finding]:
        """A type's rules across fields or entities. `record` is None when the record is
        invalid: rules then read the raw `fields`, so one run reports every problem."""
        return []

    # --- what every bundle type does ------------------------------------------------------

    def check_bundle(self, members: Mapping[str, Member], *, skip: bool = False) -> BundleCheck:
        """Validate every entity present (missing members are reported by the caller). With
        `skip`, invalid records are left out and references to them dropped, each reported."""
        check = BundleCheck()
        seen = Seen()
        sources = self.sources(members, check, seen)
        check_entities(self, sources, check, seen, skip=skip)
        return check

    def plan(self, check: BundleCheck, new_id: NewId) -> list[Write]:
        """The writes of a checked bundle, references remapped to new ids: every entity in
        order (the required ones even when empty, so the result counts them)."""
        new_ids = {
            e.name: {r["id"]: new_id(e.name, r["id"]) for r in check.valid.get(e.name, [])}
            for e in self.entities
        }
        [root] = check.valid[self.root.name]
        root_id = new_ids[self.root.name][root["id"]]
        writes = []
        for entity in self.entities:
            records = check.valid.get(entity.name)
            if records is None and entity.optional:
                continue
            records = records or []
            if entity.tree is not None:
                records = _parents_first(records, entity.tree)
            items = []
            for record in records:
                new = new_ids[entity.name][record["id"]]
                body = {k: v for k, v in record.items() if k not in self.dropped_fields}
                for ref in entity.refs:
                    value = record.get(ref.field)
                    if ref.many:
                        body[ref.field] = [new_ids[ref.target][i] for i in value or ()]
                    elif value is not None and not ref.many:
                        body[ref.field] = new_ids[ref.target][value]
                stored = {
                    **_stored(body),
                    "id": new,
                    "source_id": record["id"],
                    f"{self.root.name}_id": root_id,
                }
                items.append((new, stored))
            writes.append(Write(entity.name, items))
        return writes


def _member_error(check: BundleCheck, error: RowError) -> None:
    check.errors.append(error)
    check.member_error = check.member_error or error


# --- the engine -----------------------------------------------------------------------------


@dataclass
class _Checked:
    located: Located
    fields: dict[str, Any] | None
    source: dict[str, str]
    record: dict[str, Any] | None
    errors: list[RowError]


def check_entities(
    bundle: BundleImportType,
    sources: Mapping[str, list[Located]],
    check: BundleCheck,
    seen: Seen,
    *,
    skip: bool,
) -> None:
    """Check every entity in dependency order: each record's fields, ids, references and the
    type's own rules; then, with `skip`, leave out what is invalid and everything that cannot
    stand without it."""
    valid: dict[str, list[_Checked]] = {}
    absent = {e.name for e in bundle.entities if e.optional and e.name not in seen.files}
    for entity in bundle.entities:
        records = sources.get(entity.name)
        if records is None:
            continue
        file = seen.files.get(entity.name, entity.where)
        checked = [_check_record(bundle, entity, located, file, check, seen) for located in records]
        _check_ids(entity, checked, file, seen)
        _check_refs(entity, checked, file, seen, absent=absent, root=bundle.root.name, skip=skip)
        if entity.tree is not None:
            _check_tree(entity, checked, file, seen)
        valid[entity.name] = []
        for item in checked:
            check.records_total += 1
            if item.errors:
                check.errors.extend(item.errors)
            elif item.record is not None:
                valid[entity.name].append(item)
        if entity is bundle.root and valid[entity.name]:
            seen.root = valid[entity.name][0].record
        check.left_out[entity.name] = len(checked) - len(valid[entity.name])
    if skip and seen.root is not None and check.member_error is None:
        _leave_out(bundle, valid, check, seen)  # else the run fails: nothing is left out
    # In the order a reader meets them: by source, then line (what _leave_out found last).
    order = {file: i for i, file in enumerate(dict.fromkeys(seen.files.values()))}
    for findings in (check.errors, check.warnings):
        findings.sort(key=lambda e: (order.get(e.file or "", -1), e.line or 0))
    check.valid = {name: [i.record for i in items if i.record] for name, items in valid.items()}
    check.has_root = bool(check.valid.get(bundle.root.name))
    check.records_invalid = sum(check.left_out.values())


def _check_record(
    bundle: BundleImportType,
    entity: Entity,
    located: Located,
    file: str,
    check: BundleCheck,
    seen: Seen,
) -> _Checked:
    raw = located.value
    if not isinstance(raw, dict):
        finding = Finding(None, "not_an_object", f"a record of {entity.where} must be an object")
        error = _locate(located, file, finding)
        return _Checked(located, None, {}, None, [error])
    fields, source = normalise(bundle, entity, raw)
    findings = bundle.prepare(entity.name, fields, seen)
    outcome = entity.record_type.check(fields, line=located.line, file=file)
    errors = [e.model_copy(update={"column": located.column}) for e in outcome.errors]
    findings += bundle.cross_check(entity.name, fields, outcome.record, seen)
    if outcome.record is not None and (problem := unstorable(outcome.record)) is not None:
        at, why = problem
        findings.append(Finding(at or None, "unstorable_value", f"{at or 'the record'} {why}"))
    for finding in findings:
        target = check.warnings if finding.warning else errors
        target.append(_locate(located, file, finding))
    errors = [_source_field(e, source) for e in errors]
    return _Checked(located, fields, source, outcome.record, errors)


def _check_ids(entity: Entity, checked: list[_Checked], file: str, seen: Seen) -> None:
    first: dict[str, int] = {}
    for item in checked:
        source_id = ref_value(item.fields.get("id")) if item.fields else None
        if source_id is None:
            continue
        if source_id in first:
            item.errors.append(
                _locate(
                    item.located,
                    file,
                    Finding(
                        "id",
                        "duplicate_id",
                        f"id {source_id!r} is already used at line {first[source_id]}",
                    ),
                )
            )
        else:
            first[source_id] = item.located.line
    seen.ids[entity.name] = first


def _check_refs(
    entity: Entity,
    checked: list[_Checked],
    file: str,
    seen: Seen,
    *,
    absent: set[str],
    root: str,
    skip: bool,
) -> None:
    """Every reference names an id the bundle holds (`absent`: optional entities the bundle
    does not have, so none). With `skip`, an optional reference that does not is dropped
    later (`_leave_out`), not an error of its record."""
    for item in checked:
        if item.fields is None:
            continue
        for ref in entity.refs:
            if ref.target not in seen.ids and ref.target not in absent:
                continue  # the target is missing or unreadable: that is its error
            if ref.target == root and seen.root is None:
                continue  # the root is invalid: its own errors say why
            ids = seen.ids.get(ref.target, {})
            for at, value in _ref_items(ref, item.fields.get(ref.field)):
                if value in ids or (skip and ref.field not in entity.required):
                    continue
                item.errors.append(
                    _source_field(
                        _locate(
                            item.located,
                            file,
                            Finding(at, "dangling_reference", _not_there(value, ref, seen)),
                        ),
                        item.source,
                    )
                )


def _not_there(value: str, ref: Ref, seen: Seen) -> str:
    if ref.target not in seen.files:  # an optional entity the bundle does not have
        return f"{value!r} names one of {ref.target}, but the bundle has no {ref.target}"
    return f"{value!r} is not an id in {seen.name(ref.target)}"


def _check_tree(entity: Entity, checked: list[_Checked], file: str, seen: Seen) -> None:
    assert entity.tree is not None
    by_id = {
        ref_value(item.fields.get("id")): item
        for item in checked
        if item.fields is not None and ref_value(item.fields.get("id")) is not None
    }
    parents = {
        i: ref_value(item.fields.get(entity.tree)) for i, item in by_id.items() if item.fields
    }
    for source_id in _in_cycles(parents):  # type: ignore[arg-type]
        item = by_id[source_id]
        item.errors.append(
            _locate(
                item.located,
                file,
                Finding(
                    entity.tree,
                    "reference_cycle",
                    f"{entity.name} {source_id!r} is its own ancestor through {entity.tree}",
                ),
            )
        )


def _leave_out(
    bundle: BundleImportType,
    valid: dict[str, list[_Checked]],
    check: BundleCheck,
    seen: Seen,
) -> None:
    """on_invalid=skip: a record whose required reference names a record that is not written
    (left out, or not in the bundle at all) is left out too; an optional reference to one is
    dropped from its record. Each is reported: the record left out as an error, the reference
    dropped as a warning. In dependency order, and over a tree until nothing changes."""
    # What is written, by entity (an entity the bundle lacks: nothing).
    kept: dict[str, set[str]] = {e.name: set() for e in bundle.entities}
    for entity in bundle.entities:
        if entity.name not in valid:
            continue
        file = seen.files.get(entity.name, entity.where)
        items = valid[entity.name]
        kept[entity.name] = {item.record["id"] for item in items if item.record}
        changed = True
        while changed:
            changed = False
            survivors = []
            for item in items:
                assert item.record is not None
                problem = _unwritable(entity, item.record, kept, seen)
                if problem is None:
                    survivors.append(item)
                    continue
                check.errors.append(
                    _source_field(_locate(item.located, file, problem), item.source)
                )
                kept[entity.name].discard(item.record["id"])
                check.left_out[entity.name] += 1
                changed = True
            items = survivors
        for item in items:
            for ref in entity.refs:
                _drop_unwritten(ref, item, kept, seen, file, check)
        valid[entity.name] = items


def _unwritable(
    entity: Entity, record: dict[str, Any], kept: dict[str, set[str]], seen: Seen
) -> Finding | None:
    for ref in entity.refs:
        if ref.field not in entity.required:
            continue
        for at, value in _ref_items(ref, record.get(ref.field)):
            if value not in kept[ref.target]:
                target = seen.name(ref.target)
                line = seen.ids.get(ref.target, {}).get(value)
                where = f"{value!r} at line {line} of {target}" if line else f"{value!r}"
                return Finding(
                    at, "reference_left_out", f"{where} is left out, so this record is too"
                )
    return None


def _drop_unwritten(
    ref: Ref,
    item: _Checked,
    kept: dict[str, set[str]],
    seen: Seen,
    file: str,
    check: BundleCheck,
) -> None:
    assert item.record is not None
    value = item.record.get(ref.field)
    dropped = [(at, v) for at, v in _ref_items(ref, value) if v not in kept[ref.target]]
    for at, v in dropped:
        line = seen.ids.get(ref.target, {}).get(v)
        why = (
            f"{v!r} is left out (line {line} of {seen.name(ref.target)})"
            if line
            else _not_there(v, ref, seen)
        )
        finding = Finding(at, "reference_dropped", f"{why}: the reference is dropped")
        check.warnings.append(_source_field(_locate(item.located, file, finding), item.source))
    if dropped and ref.many:
        item.record[ref.field] = [v for v in value or () if str(v) in kept[ref.target]]
    elif dropped:
        item.record[ref.field] = None


def _ref_items(ref: Ref, value: Any) -> Iterable[tuple[str, str]]:
    """(field as errors name it, id) for each id a reference holds."""
    if ref.many:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if (v := ref_value(item)) is not None:
                    yield f"{ref.field}.{i}", v
        return
    if (v := ref_value(value)) is not None:
        yield ref.field, v


def normalise(
    bundle: BundleImportType, entity: Entity, raw: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A record in our field names, and the source name of each field (errors name the field
    as the file spells it). Nested references become the ids they hold."""
    out: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key, value in raw.items():
        name = key.strip().replace("-", "_") if bundle.dashes_are_underscores else key
        name = entity.aliases.get(name, name)
        if name in entity.ignored:
            continue
        if bundle.blank_is_absent and (
            value is None or (isinstance(value, str) and not value.strip())
        ):
            continue
        if name in out and key != name:
            continue  # two spellings of one field: ours wins, else the first
        out[name], source[name] = value, key
    for ref in entity.refs:
        nested = ref.nested
        if nested is None or nested == ref.field or nested not in out or ref.field in out:
            continue
        value = out.pop(nested)
        source[ref.field] = source.pop(nested)
        out[ref.field] = _ref_ids(value) if ref.many else _ref_id(value)
    return out, source


def _ref_id(value: Any) -> Any:
    """`{id: 3, name: ...}` -> 3; a bare id as it is; `{}` is no reference (exports write it
    for "none"); an object without id otherwise stays (and fails)."""
    if not isinstance(value, dict):
        return value
    if value == {} or ("id" in value and value["id"] in (None, "")):
        return None  # `{}`, or an object whose id is null: no reference
    return value.get("id", value)


def _ref_ids(value: Any) -> Any:
    """A list of nested objects or ids; null is none (FBF817 writes `"speakers": null`), and so
    is an object in it whose id is null (FOSSASIA15's placeholder speakers)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return value
    return [ref for ref in map(_ref_id, value) if ref is not None]


def ref_value(value: Any) -> str | None:
    """An id as a record gives it (numbers become text, as validation makes them)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _source_field(error: RowError, source: dict[str, str]) -> RowError:
    """The error under the field name the file uses (`start_time`, `speakers.0`)."""
    if error.field is None:
        return error
    head, dot, rest = error.field.partition(".")
    if head not in source or source[head] == head:
        return error
    return error.model_copy(update={"field": source[head] + dot + rest})


def _locate(located: Located, file: str, finding: Finding) -> RowError:
    return RowError(
        line=located.line,
        column=located.column,
        field=finding.field,
        code=finding.code,
        message=finding.message,
        file=file,
    )


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
    """Records ordered so a parent comes before its children (depth, then source order)."""
    by_id = {r["id"]: r for r in records}

    def depth(record: dict[str, Any]) -> int:
        n = 0
        while (parent := record.get(tree)) is not None and parent in by_id:
            record, n = by_id[parent], n + 1
        return n

    return sorted(records, key=depth)


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    """As the sink stores it: date-times as ISO 8601 text with their offset, no empty values."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in record.items()
        if v is not None
    }

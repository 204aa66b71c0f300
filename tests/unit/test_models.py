"""Models: the status-table mapping, fixed-width timestamps, state transitions, API bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import ValidationError

from intake.models.api import DeclareFileRequest
from intake.models.db import file_key, from_item, iso, to_item
from intake.models.domain import (
    TERMINAL,
    TRANSITIONS,
    FileRecord,
    FileStatus,
    ImportResult,
    Progress,
    RowError,
)

CREATED = datetime(2024, 5, 1, 9, 30, 0, 0, tzinfo=UTC)


def full_record() -> FileRecord:
    return FileRecord(
        tenant="acme",
        file_id="018f2a3b4c5d0123456789abcdef",
        name="people.csv",
        media_type="text/csv",
        size=1234,
        import_type="contacts",
        status=FileStatus.FAILED,
        created_at=CREATED,
        updated_at=CREATED + timedelta(minutes=3, microseconds=17),
        object_key="uploads/acme/018f2a3b4c5d0123456789abcdef",
        origin="drop",
        sha256="ab" * 32,
        folder="crm",
        category="weekly",
        tags=["b2b", "eu"],
        metadata={"source": "salesforce", "batch": "7"},
        auto_import=True,
        check_only=True,
        on_invalid="skip",
        upload_expires_at=CREATED + timedelta(minutes=15),
        reason="2 of 3 rows are invalid",
        progress=Progress(done=1000, total=1234),
        result=ImportResult(
            rows_total=3, rows_valid=1, rows_invalid=2, rows_written=1, errors_truncated=True
        ),
        errors=[
            RowError(line=3, column=2, field="email", code="invalid_email", message="bad"),
            RowError(code="not_an_object", message="record 2: a record must be an object"),
            RowError(file="tracks.json", line=1, code="invalid_json", message="broken"),
        ],
        error_report_key="reports/acme/018f2a3b4c5d0123456789abcdef/run-2-errors.csv",
        run=2,
        lease_until=CREATED + timedelta(minutes=16),
    )


def through_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """What DynamoDB stores and gives back (numbers come back as Decimal; floats refused)."""
    wire = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    return {k: TypeDeserializer().deserialize(v) for k, v in wire.items()}


def test_full_record_survives_a_round_trip_through_dynamodb() -> None:
    record = full_record()

    assert from_item(through_dynamodb(to_item(record))) == record


def test_minimal_record_survives_a_round_trip_and_keeps_defaults() -> None:
    record = FileRecord(
        tenant="acme",
        file_id="f-1",
        name="p.jsonl",
        media_type="application/x-ndjson",
        size=1,
        import_type="contacts",
        status=FileStatus.PENDING_UPLOAD,
        created_at=CREATED,
        updated_at=CREATED,
        object_key="uploads/acme/f-1",
    )

    item = to_item(record)

    assert "reason" not in item and "progress" not in item and "result" not in item
    assert from_item(through_dynamodb(item)) == record


def test_item_is_keyed_by_tenant_and_file_with_iso_times() -> None:
    item = to_item(full_record())

    assert {k: item[k] for k in ("pk", "sk")} == file_key("acme", "018f2a3b4c5d0123456789abcdef")
    assert item["pk"] == "TENANT#acme"
    assert item["sk"] == "FILE#018f2a3b4c5d0123456789abcdef"
    assert item["created_at"] == "2024-05-01T09:30:00.000000Z"
    assert item["updated_at"] == "2024-05-01T09:33:00.000017Z"
    assert item["status"] == "FAILED"
    assert item["result"]["rows_invalid"] == 2


def test_from_item_ignores_the_ttl_attribute() -> None:
    item = through_dynamodb({**to_item(full_record()), "ttl": 1_800_000_000})

    assert from_item(item) == full_record()


def test_iso_is_fixed_width_utc() -> None:
    assert iso(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05.000000Z"
    assert (
        iso(datetime(2024, 1, 2, 4, 4, 5, 120, tzinfo=timezone(timedelta(hours=1))))
        == "2024-01-02T03:04:05.000120Z"
    )


def test_iso_text_order_is_time_order() -> None:
    base = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    oslo = timezone(timedelta(hours=2))
    instants = [
        base + timedelta(microseconds=5),
        base,
        base + timedelta(seconds=1),
        base + timedelta(microseconds=999_999),
        datetime(2024, 1, 1, 13, 30, tzinfo=oslo),  # 11:30 UTC: earliest
        base + timedelta(days=300),
    ]

    assert sorted(instants, key=iso) == sorted(instants)
    assert iso(base) < iso(base + timedelta(microseconds=5))
    assert len({len(iso(t)) for t in instants}) == 1


# --- state machine ------------------------------------------------------------------------


def test_only_a_new_run_or_a_redrive_leaves_a_terminal_state() -> None:
    # A redriven sharded run takes its FAILED run up again (dal.file_repository
    # .hold_sharded_run, only for a run its stopped execution failed); nothing else goes back.
    leaving = {FileStatus.QUEUED: TERMINAL, FileStatus.PROCESSING: {FileStatus.FAILED}}
    for target, sources in TRANSITIONS.items():
        terminal = sources & TERMINAL
        assert terminal <= leaving.get(target, set()), f"{target} is entered from {terminal}"


def test_rejected_and_expired_files_are_dead_ends() -> None:
    for sources in TRANSITIONS.values():
        assert FileStatus.REJECTED not in sources
        assert FileStatus.EXPIRED not in sources


def test_nothing_goes_back_to_pending_upload() -> None:
    assert FileStatus.PENDING_UPLOAD not in TRANSITIONS


def test_finished_runs_may_be_queued_again() -> None:
    assert TRANSITIONS[FileStatus.QUEUED] == {
        FileStatus.UPLOADED,
        FileStatus.VALIDATED,
        FileStatus.FAILED,
        FileStatus.SUCCEEDED,
    }


@pytest.mark.parametrize(
    ("target", "sources"),
    [
        (FileStatus.UPLOADED, {FileStatus.PENDING_UPLOAD}),
        (FileStatus.REJECTED, {FileStatus.PENDING_UPLOAD}),
        (FileStatus.EXPIRED, {FileStatus.PENDING_UPLOAD}),
        (FileStatus.PROCESSING, {FileStatus.QUEUED, FileStatus.FAILED}),  # FAILED: a redrive
        (FileStatus.SUCCEEDED, {FileStatus.PROCESSING}),
        (FileStatus.VALIDATED, {FileStatus.PROCESSING}),
        (FileStatus.FAILED, {FileStatus.PROCESSING}),
    ],
)
def test_no_state_is_skipped(target: FileStatus, sources: set[FileStatus]) -> None:
    assert TRANSITIONS[target] == sources


# --- DeclareFileRequest -------------------------------------------------------------------

DECLARE = {"name": "people.csv", "media_type": "text/csv", "size": 10, "import_type": "contacts"}


def declare(**changes: Any) -> DeclareFileRequest:
    return DeclareFileRequest.model_validate({**DECLARE, **changes})


def rejected(**changes: Any) -> list[tuple[str, ...]]:
    with pytest.raises(ValidationError) as caught:
        declare(**changes)
    return [tuple(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_minimal_declaration_has_defaults() -> None:
    request = declare()

    assert request.sha256 is None
    assert request.tags == []
    assert request.metadata == {}
    assert (request.auto_import, request.check_only, request.on_invalid) == (False, False, "fail")


def test_extra_fields_are_forbidden() -> None:
    assert rejected(owner="me") == [("owner",)]


@pytest.mark.parametrize("sha256", ["ab" * 32, "AB" * 32, "0123456789abcdef" * 4])
def test_sha256_of_64_hex_digits_is_accepted(sha256: str) -> None:
    assert declare(sha256=sha256).sha256 == sha256


@pytest.mark.parametrize(
    "sha256", ["ab" * 31 + "a", "ab" * 32 + "a", "g" * 64, "", "ab" * 31 + " a"]
)
def test_sha256_otherwise_is_rejected(sha256: str) -> None:
    assert rejected(sha256=sha256) == [("sha256",)]


def test_size_must_be_at_least_one_byte() -> None:
    assert declare(size=1).size == 1
    assert rejected(size=0) == [("size",)]
    assert rejected(size=-5) == [("size",)]


@pytest.mark.parametrize("name", ["a/b.csv", "..\\evil.csv", "line\nbreak.csv", "nul\x00.csv",
                                  "tab\t.csv", "", "x" * 256])  # fmt: skip
def test_bad_names_are_rejected(name: str) -> None:
    assert rejected(name=name) == [("name",)]


@pytest.mark.parametrize("name", ["people.csv", "my file (1).csv", "Zürich 2024.jsonl", "x" * 255])
def test_ordinary_names_are_accepted(name: str) -> None:
    assert declare(name=name).name == name


def test_at_most_20_tags() -> None:
    tags = [f"t{n}" for n in range(20)]

    assert declare(tags=tags).tags == tags
    assert rejected(tags=[*tags, "t20"]) == [("tags",)]

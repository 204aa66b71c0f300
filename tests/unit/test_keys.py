"""Object key layout: parsing upload and drop keys, decoding keys from S3 events."""

from __future__ import annotations

import pytest

from intake.keys import (
    decode_event_key,
    parse_drop_key,
    parse_upload_key,
    report_key,
    upload_key,
)


def test_upload_key_round_trips() -> None:
    key = upload_key("acme", "018f2a3b4c5d0123456789abcdef")

    assert key == "uploads/acme/018f2a3b4c5d0123456789abcdef"
    assert parse_upload_key(key) == ("acme", "018f2a3b4c5d0123456789abcdef")


@pytest.mark.parametrize(
    "key",
    [
        "uploads/acme",
        "uploads/acme/",
        "uploads//f-1",
        "uploads/acme/f-1/extra",
        "upload/acme/f-1",
        "drop/acme/f-1",
        "reports/acme/f-1",
        "/uploads/acme/f-1",
        "",
    ],
)
def test_other_shapes_are_not_upload_keys(key: str) -> None:
    assert parse_upload_key(key) is None


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("drop/acme/contacts/people.csv", ("acme", "contacts", "people.csv")),
        ("drop/acme/contacts/2024/05/people.csv.gz", ("acme", "contacts", "2024/05/people.csv.gz")),
        ("drop/acme/contacts/my file(1).csv", ("acme", "contacts", "my file(1).csv")),
    ],
)
def test_drop_keys_give_tenant_type_and_name(key: str, parsed: tuple[str, str, str]) -> None:
    assert parse_drop_key(key) == parsed


@pytest.mark.parametrize(
    "key",
    [
        "drop/acme/contacts",
        "drop/acme/contacts/",  # a "folder" placeholder object
        "drop/acme//people.csv",
        "drop//contacts/people.csv",
        "uploads/acme/contacts/people.csv",
        "dropped/acme/contacts/people.csv",
        "",
    ],
)
def test_other_shapes_are_not_drop_keys(key: str) -> None:
    assert parse_drop_key(key) is None


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("drop/acme/contacts/my+file%281%29.csv", "drop/acme/contacts/my file(1).csv"),
        ("drop/acme/contacts/a%2Bb.csv", "drop/acme/contacts/a+b.csv"),
        ("drop/acme/contacts/Z%C3%BCrich.csv", "drop/acme/contacts/Zürich.csv"),
        ("uploads/acme/f-1", "uploads/acme/f-1"),
    ],
)
def test_decode_event_key(raw: str, decoded: str) -> None:
    assert decode_event_key(raw) == decoded


def test_report_key_names_the_run() -> None:
    assert report_key("acme", "f-1", 3) == "reports/acme/f-1/run-3-errors.csv"


@pytest.mark.parametrize(
    ("key", "segment", "rest"),
    [
        # The first folder may name a profile (the status table says whether it does)
        ("drop/acme/contacts/eu-crm/june.csv", "eu-crm", "june.csv"),
        ("drop/acme/contacts/eu-crm/2024/06/june.csv", "eu-crm", "2024/06/june.csv"),
        ("drop/acme/contacts/EU_crm.v2/june.csv", "EU_crm.v2", "june.csv"),
        # No folder: nothing could name a profile
        ("drop/acme/contacts/june.csv", None, "june.csv"),
        # A folder no profile can be named (a space, a leading dot, over 64 characters)
        ("drop/acme/contacts/june 2026/june.csv", None, "june 2026/june.csv"),
        ("drop/acme/contacts/.hidden/june.csv", None, ".hidden/june.csv"),
        ("drop/acme/contacts/" + "p" * 65 + "/june.csv", None, "p" * 65 + "/june.csv"),
    ],
)
def test_a_drop_keys_first_folder_may_name_a_profile(
    key: str, segment: str | None, rest: str
) -> None:
    parsed = parse_drop_key(key)
    assert parsed is not None
    assert parsed.profile_segment == segment
    assert parsed.name_after_profile == rest

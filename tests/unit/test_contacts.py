"""The contacts import type: every rule, each error located by line and field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from intake.errors import InvalidFields
from intake.import_types import ImportType, get_import_type
from intake.models.domain import RowError

_ABSENT = object()  # a field left out of the record altogether
VALID = {"external_id": "c-1", "email": "ann@example.com", "first_name": "Ann"}

REQUIRED = {
    "external_id": "external_id is required and must not be empty",
    "email": "email is required and must not be empty",
    "first_name": "first_name is required and must not be empty",
}
INVALID_EMAIL = "email is not a valid e-mail address"
INVALID_COUNTRY = "country must be an ISO 3166-1 code (DE, DEU) or an English country name"
INVALID_DATE = "signed_up must be an ISO date (YYYY-MM-DD)"


@pytest.fixture(scope="module")
def contacts() -> ImportType:
    return get_import_type("contacts")


def errors_of(contacts: ImportType, **changes: Any) -> list[RowError]:
    raw = {**VALID, **changes}
    raw = {k: v for k, v in raw.items() if v is not _ABSENT}
    outcome = contacts.check(raw, line=12)
    assert (outcome.record is None) == bool(outcome.errors)
    return outcome.errors


def test_minimal_valid_contact(contacts: ImportType) -> None:
    outcome = contacts.check(dict(VALID), line=2)

    assert outcome.errors == []
    assert outcome.record == VALID


def test_full_contact_is_cleaned(contacts: ImportType) -> None:
    raw = {
        "external_id": " c-1 ",
        "email": "  ann.lee+news@mail.example.co.uk ",
        "first_name": " Ann ",
        "last_name": "Lee",
        "country": "NO",
        "signed_up": "2024-02-29",
    }

    outcome = contacts.check(raw, line=2)

    assert outcome.errors == []
    assert outcome.record == {
        "external_id": "c-1",
        "email": "ann.lee+news@mail.example.co.uk",
        "first_name": "Ann",
        "last_name": "Lee",
        "country": "NO",
        "signed_up": date(2024, 2, 29),
    }


def test_unknown_fields_are_ignored(contacts: ImportType) -> None:
    outcome = contacts.check({**VALID, "favourite_colour": "teal", "age": 41}, line=2)

    assert outcome.errors == []
    assert outcome.record == VALID


@pytest.mark.parametrize("field", ["external_id", "email", "first_name"])
@pytest.mark.parametrize("value", [_ABSENT, "", "   ", "\t"])
def test_required_fields_must_be_present_and_not_blank(
    contacts: ImportType, field: str, value: object
) -> None:
    assert errors_of(contacts, **{field: value}) == [
        RowError(line=12, field=field, code="required", message=REQUIRED[field])
    ]


@pytest.mark.parametrize(
    "email",
    ["ann", "ann@", "@example.com", "ann@example", "ann@@example.com", "ann @example.com",
     "ann@-example.com", "ann@example..com"],
)  # fmt: skip
def test_malformed_email_is_invalid_email(contacts: ImportType, email: str) -> None:
    assert errors_of(contacts, email=email) == [
        RowError(line=12, field="email", code="invalid_email", message=INVALID_EMAIL)
    ]


@pytest.mark.parametrize("email", ["a@b.co", "first.last@sub.example.org", "x_y-z+tag@ex-ample.io"])
def test_well_formed_email_is_accepted(contacts: ImportType, email: str) -> None:
    assert errors_of(contacts, email=email) == []


def test_last_name_is_optional(contacts: ImportType) -> None:
    assert errors_of(contacts, last_name=None) == []
    assert contacts.check(dict(VALID), line=2).record == VALID


@pytest.mark.parametrize("country", ["NO", "US", None])
def test_country_accepts_two_upper_case_letters_or_nothing(
    contacts: ImportType, country: str | None
) -> None:
    assert errors_of(contacts, country=country) == []


@pytest.mark.parametrize(
    ("country", "stored"),
    [
        ("no", "NO"),
        ("Us", "US"),
        ("USA", "US"),
        ("deu", "DE"),
        (" NO", "NO"),
        ("Norway", "NO"),
        ("Germany", "DE"),
        ("Slovakia (Slovak Republic)", "SK"),
        ("Swaziland", "SZ"),
        ("Cote d'Ivoire", "CI"),
        ("Viet Nam", "VN"),
        ("Bolivia, Plurinational State of", "BO"),
        ("Holy See (Vatican City State)", "VA"),
    ],
)
def test_country_takes_codes_and_english_names_and_stores_alpha2(
    contacts: ImportType, country: str, stored: str
) -> None:
    checked = contacts.check({**VALID, "country": country}, line=2)
    assert checked.errors == []
    assert checked.record is not None and checked.record["country"] == stored


@pytest.mark.parametrize("country", ["N", "N0", "Atlantis", "Korea", "XX", "Europe"])
def test_country_otherwise_is_invalid_country(contacts: ImportType, country: str) -> None:
    assert errors_of(contacts, country=country) == [
        RowError(line=12, field="country", code="invalid_country", message=INVALID_COUNTRY)
    ]


@pytest.mark.parametrize("signed_up", ["2024-02-30", "05/01/2024", "2023-02-29", "2024-13-01",
                                       "yesterday", "2024-1-5"])  # fmt: skip
def test_signed_up_must_be_a_real_iso_date(contacts: ImportType, signed_up: str) -> None:
    assert errors_of(contacts, signed_up=signed_up) == [
        RowError(line=12, field="signed_up", code="invalid_date", message=INVALID_DATE)
    ]


def test_signed_up_is_optional_and_parsed(contacts: ImportType) -> None:
    assert errors_of(contacts, signed_up=None) == []
    record = contacts.check({**VALID, "signed_up": "2024-05-01"}, line=2).record
    assert record is not None
    assert record["signed_up"] == date(2024, 5, 1)


def test_every_problem_in_a_record_is_reported_with_line_and_field(contacts: ImportType) -> None:
    raw = {"external_id": "", "email": "nope", "country": "Atlantis", "signed_up": "05/01/2024"}

    errors = contacts.check(raw, line=40).errors

    assert errors == [
        RowError(line=40, field="external_id", code="required", message=REQUIRED["external_id"]),
        RowError(line=40, field="email", code="invalid_email", message=INVALID_EMAIL),
        RowError(line=40, field="first_name", code="required", message=REQUIRED["first_name"]),
        RowError(line=40, field="country", code="invalid_country", message=INVALID_COUNTRY),
        RowError(line=40, field="signed_up", code="invalid_date", message=INVALID_DATE),
    ]


def test_errors_of_a_json_array_record_have_no_line(contacts: ImportType) -> None:
    assert contacts.check({**VALID, "email": "x"}, line=None).errors == [
        RowError(line=None, field="email", code="invalid_email", message=INVALID_EMAIL)
    ]


def test_to_sink_item_renders_dates_as_iso_text_and_drops_none(contacts: ImportType) -> None:
    record = contacts.check(
        {**VALID, "last_name": None, "country": "SE", "signed_up": "2024-01-05"}, line=2
    ).record
    assert record is not None

    assert contacts.to_sink_item(record) == {**VALID, "country": "SE", "signed_up": "2024-01-05"}


def test_natural_key_is_the_external_id(contacts: ImportType) -> None:
    assert contacts.natural_key == "external_id"
    assert contacts.key_of({**VALID, "external_id": "c-42"}) == "c-42"


def test_json_schema_lists_the_fields_and_three_required(contacts: ImportType) -> None:
    schema = contacts.json_schema

    assert list(schema["properties"]) == [
        "external_id",
        "email",
        "first_name",
        "last_name",
        "country",
        "signed_up",
        "company",
        "city",
        "phone",
        "opt_in",
    ]
    assert schema["required"] == ["external_id", "email", "first_name"]
    assert contacts.required_fields == ("external_id", "email", "first_name")


def test_contacts_takes_csv_json_json_lines_xlsx_and_zip(contacts: ImportType) -> None:
    assert set(contacts.media_types) == {
        "text/csv",
        "application/json",
        "application/x-ndjson",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/zip",
    }


def test_blank_optional_cells_are_absent_and_a_bad_one_names_only_its_own_error(
    contacts: ImportType,
) -> None:
    shape = contacts.shape_for(("external_id", "email", "first_name", "country", "city"))

    assert shape.to_item(shape.validate(["c-1", "a@x.io", "Ann", " ", "\t"])) == {
        "external_id": "c-1",
        "email": "a@x.io",
        "first_name": "Ann",
    }
    with pytest.raises(ValidationError) as caught:
        shape.validate(["c-1", "a@x.io", "Ann", "Atlantis", " "])
    assert [(e.column, e.code) for e in shape.locate(caught.value, line=2)] == [
        (4, "invalid_country")
    ]


def test_unknown_import_type_is_invalid_fields() -> None:
    with pytest.raises(InvalidFields) as caught:
        get_import_type("invoices")

    assert caught.value.code == "validation_error"
    [detail] = caught.value.details
    assert detail["field"] == "import_type"
    assert detail["code"] == "unknown_import_type"
    assert "contacts" in detail["message"]


def test_rows_validate_positionally_in_any_column_order(contacts: ImportType) -> None:
    # Given a header in its own order, with a column the type does not know
    shape = contacts.shape_for(("country", "notes", "email", "external_id", "first_name"))

    record = shape.validate(["SE", "call back", "a@x.io", "c-9", "Ann"])

    assert shape.key_of(record) == "c-9"
    assert shape.to_item(record) == {
        "country": "SE",
        "email": "a@x.io",
        "external_id": "c-9",
        "first_name": "Ann",
    }


def test_empty_cells_are_absent_for_optional_fields_and_missing_for_required(
    contacts: ImportType,
) -> None:
    shape = contacts.shape_for(("external_id", "email", "first_name", "country", "signed_up"))

    assert shape.to_item(shape.validate(["c-1", "a@x.io", "Ann", "", ""])) == {
        "external_id": "c-1",
        "email": "a@x.io",
        "first_name": "Ann",
    }
    with pytest.raises(ValidationError) as caught:
        shape.validate(["c-1", "", "Ann", "Atlantis", "2024-02-30"])
    assert shape.locate(caught.value, line=7) == [
        RowError(
            line=7,
            column=2,
            field="email",
            code="required",
            message="email is required and must not be empty",
        ),
        RowError(
            line=7,
            column=4,
            field="country",
            code="invalid_country",
            message="country must be an ISO 3166-1 code (DE, DEU) or an English country name",
        ),
        RowError(
            line=7,
            column=5,
            field="signed_up",
            code="invalid_date",
            message="signed_up must be an ISO date (YYYY-MM-DD)",
        ),
    ]


def test_row_shapes_render_dates_as_iso_text(contacts: ImportType) -> None:
    shape = contacts.shape_for(("external_id", "email", "first_name", "signed_up"))

    item = shape.to_item(shape.validate(["c-1", "a@x.io", "Ann", "2024-05-01"]))

    assert item["signed_up"] == "2024-05-01"


def test_a_json_null_in_a_required_field_is_required_not_a_wrong_type(
    contacts: ImportType,
) -> None:
    errors = contacts.check({**VALID, "email": None, "first_name": None}, line=3).errors

    assert [(e.field, e.code) for e in errors] == [
        ("email", "required"),
        ("first_name", "required"),
    ]

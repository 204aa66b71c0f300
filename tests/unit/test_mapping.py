"""From a partner's header to an import type's fields (import_types/mapping.py)."""

from __future__ import annotations

import pytest

from intake.errors import InvalidFields
from intake.import_types import ImportType, get_import_type
from intake.import_types.mapping import check_mapping, normalise_header, resolve_columns
from intake.models.mapping import Mapping

CUSTOMERS = (
    "Index",
    "Customer Id",
    "First Name",
    "Last Name",
    "Company",
    "City",
    "Country",
    "Phone 1",
    "Phone 2",
    "Email",
    "Subscription Date",
    "Website",
)


@pytest.fixture
def contacts() -> ImportType:
    return get_import_type("contacts")


def mapping(**fields: object) -> Mapping:
    return Mapping.model_validate(fields)


@pytest.mark.parametrize(
    "header", ["Customer Id", "customer_id", "CUSTOMER-ID", "CustomerId", " customer  id "]
)
def test_headers_match_ignoring_case_spaces_underscores_and_hyphens(header: str) -> None:
    assert normalise_header(header) == "customerid"


def test_a_crm_export_maps_by_aliases_alone_and_lists_what_nothing_uses(
    contacts: ImportType,
) -> None:
    plan = resolve_columns(contacts, CUSTOMERS)

    assert plan.errors == ()
    assert {c.header: c.field for c in plan.usage.mapped} == {
        "Customer Id": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company": "company",
        "City": "city",
        "Country": "country",
        "Phone 1": "phone",
        "Email": "email",
        "Subscription Date": "signed_up",
    }
    assert [(c.column, c.header) for c in plan.usage.unused] == [
        (1, "Index"),
        (9, "Phone 2"),
        (12, "Website"),
    ]


def test_a_people_export_maps_user_id(contacts: ImportType) -> None:
    header = ("Index", "User Id", "First Name", "Last Name", "Sex", "Email", "Phone",
              "Date of birth", "Job Title")  # fmt: skip
    plan = resolve_columns(contacts, header)

    assert plan.fields[1] == "external_id" and plan.errors == ()


def test_the_mapping_comes_first_and_ignore_keeps_a_column_off_the_unused_list(
    contacts: ImportType,
) -> None:
    plan = resolve_columns(
        contacts,
        CUSTOMERS,
        mapping(columns={"Index": "external_id", "Phone 2": "phone"}, ignore=["website"]),
    )

    fields = dict(zip(CUSTOMERS, plan.fields, strict=True))
    assert fields["Index"] == "external_id"
    assert fields["Customer Id"] is None  # the field is taken: this column is unused
    assert fields["Phone 2"] == "phone" and fields["Phone 1"] is None
    assert [c.header for c in plan.usage.unused] == ["Customer Id", "Phone 1"]


def test_empty_and_repeated_headers_are_unused_columns_not_errors(contacts: ImportType) -> None:
    header = ("", "Unnamed: 0", "id", "email", "first_name", "Phone", "Phone")
    plan = resolve_columns(contacts, header)

    assert plan.errors == ()
    assert plan.fields == (None, None, "external_id", "email", "first_name", None, None)
    assert [(c.column, c.header) for c in plan.usage.unused] == [
        (1, ""),
        (2, "Unnamed: 0"),
        (6, "Phone"),
        (7, "Phone"),
    ]


def test_a_repeated_header_the_mapping_needs_is_ambiguous(contacts: ImportType) -> None:
    header = ("id", "Mail", "Mail", "first_name")
    plan = resolve_columns(contacts, header, mapping(columns={"Mail": "email"}))

    assert [(e.column, e.field, e.code) for e in plan.errors] == [(2, "email", "ambiguous_column")]


def test_each_required_field_no_column_feeds_is_one_error_naming_the_closest_headers(
    contacts: ImportType,
) -> None:
    header = ("Kunden Nr", "E-Mail-Adresse", "Vorname", "Cust. ID")
    plan = resolve_columns(contacts, header)

    assert [(e.line, e.field, e.code) for e in plan.errors] == [
        (1, "external_id", "missing_column"),
        (1, "email", "missing_column"),
        (1, "first_name", "missing_column"),
    ]
    external_id, email, _ = plan.errors
    assert "closest headers: 'Cust. ID'" in external_id.message
    assert "'E-Mail-Adresse'" in email.message
    assert '"mapping": {"columns": {"<header>": "external_id"}}' in external_id.message


def test_check_mapping_names_every_entry_that_does_not_fit(contacts: ImportType) -> None:
    bad = mapping(
        columns={"A": "nope", "B": "email", "C": "email"},
        ignore=["B"],
        formats={"email": {"date": "%d.%m.%Y"}, "opt_in": {"decimal": ","}, "x": {}},
    )

    with pytest.raises(InvalidFields) as caught:
        check_mapping(contacts, bad)

    assert [(d["field"], d["code"]) for d in caught.value.details] == [
        ("mapping.columns.A", "unknown_field"),
        ("mapping.columns.C", "duplicate_target"),
        ("mapping.ignore", "ignored_and_mapped"),
        ("mapping.formats.email.date", "format_does_not_fit"),
        ("mapping.formats.opt_in.decimal", "format_does_not_fit"),
        ("mapping.formats.x", "unknown_field"),
    ]


def test_a_fitting_mapping_passes(contacts: ImportType) -> None:
    check_mapping(
        contacts,
        mapping(
            columns={"Kundennummer": "external_id"},
            formats={"signed_up": {"date": "%d.%m.%Y"}, "opt_in": {"true": ["ja"]}},
        ),
    )


def test_bundle_types_take_no_mapping() -> None:
    with pytest.raises(InvalidFields) as caught:
        check_mapping(get_import_type("event"), mapping(columns={"a": "b"}))

    assert caught.value.details[0]["code"] == "mapping_not_supported"


@pytest.mark.parametrize("pattern", ["%d", "dd.mm.yyyy", "%Y-%m", "%H:%M"])
def test_a_date_format_must_name_a_whole_date(pattern: str) -> None:
    with pytest.raises(ValueError, match="strptime directives"):
        mapping(formats={"signed_up": {"date": pattern}})


def test_a_field_the_mapping_takes_from_an_absent_header_does_not_fall_back_to_an_alias(
    contacts: ImportType,
) -> None:
    # The partner renamed the key column the profile names; `ID` must not quietly become it.
    header = ("ID", "Kunden-Nr", "E-Mail", "First Name", "Telephone")
    plan = resolve_columns(
        contacts, header, mapping(columns={"Kundennummer": "external_id", "Tel": "phone"})
    )

    assert plan.fields[0] is None and plan.fields[4] is None  # ID, Telephone: no fallback
    assert [(e.field, e.code) for e in plan.errors] == [("external_id", "missing_column")]
    message = plan.errors[0].message
    assert "the mapping takes it from 'Kundennummer', which the file has no column for" in message
    assert "'Kunden-Nr'" in message  # the closest header


def test_a_repeated_header_is_named_by_position_as_the_ambiguity_error_says(
    contacts: ImportType,
) -> None:
    header = ("ID", "Email", "First Name", "Email")
    asked = resolve_columns(contacts, header, mapping(columns={"Email": "email"}))
    assert '"columns": {"#2": "email"}' in asked.errors[0].message

    plan = resolve_columns(contacts, header, mapping(columns={"#4": "email"}))

    assert plan.errors == ()
    assert plan.fields == ("external_id", None, "first_name", "email")
    assert [(c.column, c.header) for c in plan.usage.unused] == [(2, "Email")]

"""The `contacts` import type: one person per row, keyed by the partner's external_id."""

from __future__ import annotations

from datetime import date
from typing import Annotated, NotRequired

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.base import ImportType
from intake.import_types.countries import ALPHA2_CODES, to_alpha2
from intake.ingest import media

# The WHATWG (HTML "valid e-mail address") pattern: what browsers accept in <input type=email>.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Alpha-2, alpha-3 or an English name in any case; stored as alpha-2 (countries.py).
# An alpha-2 code as it is (the common case) is checked in pydantic-core against ISO's codes,
# with no Python call; anything else goes through the lookup.
Country = Annotated[
    ALPHA2_CODES
    | Annotated[str, BeforeValidator(to_alpha2), StringConstraints(pattern=r"^[A-Z]{2}$")],
    Field(union_mode="left_to_right"),
]


class Contact(TypedDict):
    # JSON partners often send numeric ids: 42 is taken as "42".
    __pydantic_config__ = ConfigDict(extra="ignore", coerce_numbers_to_str=True)  # type: ignore[misc]

    external_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)
    ]
    email: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=254, pattern=EMAIL_PATTERN
        ),
    ]
    first_name: Text
    last_name: NotRequired[Text | None]
    country: NotRequired[Country | None]
    signed_up: NotRequired[date | None]
    company: NotRequired[Text | None]
    city: NotRequired[Text | None]
    phone: NotRequired[
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None
    ]
    opt_in: NotRequired[bool | None]


# What CRM and spreadsheet exports call each field (Salesforce, HubSpot, Mailchimp, Excel and
# generated sample exports); matched ignoring case, spaces, underscores and hyphens.
CONTACT_ALIASES = {
    "external_id": (
        "id",
        "customer id",
        "customer number",
        "user id",
        "contact id",
        "client id",
        "member id",
        "record id",
        "account id",
    ),
    "email": ("e-mail", "email address", "e-mail address", "mail", "email 1", "primary email"),
    "first_name": ("first", "given name", "forename", "firstname"),
    "last_name": ("last", "surname", "family name", "lastname"),
    "country": ("country code", "country name", "country/region", "nation"),
    "signed_up": (
        "subscription date",
        "signup date",
        "sign up date",
        "signed up at",
        "created",
        "created at",
        "created date",
        "date added",
        "member since",
    ),
    "company": ("company name", "organisation", "organization", "account name", "employer"),
    "city": ("town", "locality"),
    "phone": ("phone 1", "phone number", "telephone", "mobile", "mobile phone", "tel"),
    "opt_in": ("email opt in", "subscribed", "newsletter", "marketing consent", "opted in"),
}


CONTACTS = ImportType(
    name="contacts",
    version="1",
    description="People, one per record, upserted by external_id",
    media_types=(media.CSV, media.JSON, media.JSONL, media.ZIP, media.XLSX),
    max_size=10 * 1024**3,
    natural_key="external_id",
    adapter=TypeAdapter(Contact),
    required_fields=("external_id", "email", "first_name"),
    record_type=Contact,
    aliases=CONTACT_ALIASES,
    field_codes={
        ("email", "*"): ("invalid_email", "email is not a valid e-mail address"),
        ("country", "*"): (
            "invalid_country",
            "country must be an ISO 3166-1 code (DE, DEU) or an English country name",
        ),
    },
)

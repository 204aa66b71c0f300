"""The `contacts` import type: one person per row, keyed by the partner's external_id."""

from __future__ import annotations

from datetime import date
from typing import Annotated, NotRequired

from pydantic import ConfigDict, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.base import ImportType

# The WHATWG (HTML "valid e-mail address") pattern: what browsers accept in <input type=email>.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


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
    country: NotRequired[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None]
    signed_up: NotRequired[date | None]


CONTACTS = ImportType(
    name="contacts",
    version="1",
    description="People, one per record, upserted by external_id",
    media_types=("text/csv", "application/json", "application/x-ndjson", "application/zip"),
    max_size=10 * 1024**3,
    natural_key="external_id",
    adapter=TypeAdapter(Contact),
    required_fields=("external_id", "email", "first_name"),
    record_type=Contact,
    field_codes={
        ("email", "*"): ("invalid_email", "email is not a valid e-mail address"),
        ("country", "*"): (
            "invalid_country",
            "country must be two upper-case letters (ISO 3166-1)",
        ),
    },
)

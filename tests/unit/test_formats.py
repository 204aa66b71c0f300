"""A mapping's formats: dates, decimal commas and yes/no words, per field, in a real run."""

from __future__ import annotations

import io
from datetime import date
from typing import NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from intake.import_types.base import ImportType
from intake.ingest.csv_reader import read_csv
from intake.ingest.error_report import ErrorCollector
from intake.logic.engine import validate_records
from intake.models.mapping import Mapping


class Order(TypedDict):
    order_id: str
    amount: float
    paid: NotRequired[bool | None]
    ordered_on: NotRequired[date | None]


ORDERS = ImportType(
    name="orders_test",
    version="1",
    description="a type with number, yes/no and date fields",
    media_types=("text/csv",),
    max_size=1024,
    natural_key="order_id",
    adapter=TypeAdapter(Order),
    required_fields=("order_id", "amount"),
    record_type=Order,
    aliases={
        "order_id": ("Bestellnummer",),
        "amount": ("Betrag",),
        "paid": ("Bezahlt",),
        "ordered_on": ("Datum",),
    },
)
GERMAN = Mapping.model_validate(
    {
        "delimiter": ";",
        "formats": {
            "amount": {"decimal": ",", "thousands": "."},
            "paid": {"true": ["ja"], "false": ["nein"]},
            "ordered_on": {"date": "%d.%m.%Y"},
        },
    }
)


class Sink:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, object]] = {}

    def put(self, key: str, item: dict[str, object]) -> None:
        self.items[key] = item

    def flush(self) -> int:
        return len(self.items)


def run(data: str, mapping: Mapping) -> tuple[Sink, list[tuple[int | None, str | None, str]]]:
    sink = Sink()
    errors = ErrorCollector(max_errors=100)
    events = read_csv(io.BytesIO(data.encode()), delimiter=mapping.delimiter)
    validate_records(events, ORDERS, errors, sink=sink, mapping=mapping)  # type: ignore[arg-type]
    found = [(e.line, e.field, e.code) for e in errors.inline]
    errors.close()
    return sink, found


def test_decimal_commas_words_and_day_first_dates_are_read_as_declared() -> None:
    data = (
        "Bestellnummer;Betrag;Bezahlt;Datum\n"
        "A-1;1.234,50;ja;31.12.2024\n"
        "A-2;7;NEIN;\n"
        "A-3;0,5;yes;01.02.2023\n"
    )
    sink, errors = run(data, GERMAN)

    assert errors == []
    assert sink.items == {
        "A-1": {"order_id": "A-1", "amount": 1234.5, "paid": True, "ordered_on": "2024-12-31"},
        "A-2": {"order_id": "A-2", "amount": 7.0, "paid": False},
        "A-3": {"order_id": "A-3", "amount": 0.5, "paid": True, "ordered_on": "2023-02-01"},
    }


def test_values_the_format_cannot_read_are_located_with_the_fields_usual_code() -> None:
    data = (
        "Bestellnummer;Betrag;Bezahlt;Datum\n"
        "A-1;12.5;vielleicht;31.02.2024\n"  # a point where a comma is declared
        "A-2;1,5;ja;2024-12-31\n"  # an ISO date where day-first is declared
    )
    sink, errors = run(data, GERMAN)

    assert sink.items == {}
    assert errors == [
        (2, "amount", "invalid_number"),
        (2, "paid", "invalid_boolean"),
        (2, "ordered_on", "invalid_date"),
        (3, "ordered_on", "invalid_date"),
    ]


def test_without_formats_numbers_take_points_and_dates_iso() -> None:
    plain = Mapping.model_validate({"delimiter": ";"})
    sink, errors = run("order_id;amount;paid;ordered_on\nA-1;2.5;no;2024-01-31\n", plain)

    assert errors == []
    assert sink.items["A-1"] == {
        "order_id": "A-1",
        "amount": 2.5,
        "paid": False,
        "ordered_on": "2024-01-31",
    }


def test_a_format_message_says_what_it_expected() -> None:
    errors = ErrorCollector(max_errors=10)
    events = read_csv(io.BytesIO(b"order_id;amount;ordered_on\nA;1;2024-12-31\n"), delimiter=";")
    validate_records(events, ORDERS, errors, mapping=GERMAN)

    assert errors.inline[0].message == (
        "ordered_on must be a real date written like 31.12.2024 (%d.%m.%Y)"
    )
    errors.close()


def test_day_month_year_patterns_read_exactly_as_strptime_does() -> None:
    from datetime import datetime

    from intake.import_types.formats import _day_month_year

    samples = ["14.03.2021", "4.3.2021", "31.02.2021", "14.03.21", "2021.03.14", "14/03/2021",
               "14.3.2021x", "", "1.1.0001", "99.1.2021", "01.13.2020", "29.02.2024",
               "29.02.2023", "14-03-2021", "7.07.1969"]  # fmt: skip
    for pattern in ("%d.%m.%Y", "%m/%d/%Y", "%d-%m-%y", "%Y.%m.%d", "%d/%m/%y", "%d.%m.%Y"):
        fast = _day_month_year(pattern)
        assert fast is not None, pattern
        for text in samples + [s.replace(".", "/") for s in samples]:
            try:
                expected = datetime.strptime(text, pattern).date()
            except ValueError:
                expected = None
            try:
                got = fast(text)
            except ValueError:
                got = None
            assert got == expected, (pattern, text)


def test_other_patterns_are_left_to_strptime() -> None:
    from intake.import_types.formats import _day_month_year

    for pattern in ("%d %B %Y", "%Y-%j", "%b %d, %Y", "%d.%m.%Y %H:%M"):
        assert _day_month_year(pattern) is None

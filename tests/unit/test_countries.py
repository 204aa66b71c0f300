"""Countries as partners' exports write them -> ISO 3166-1 alpha-2 (import_types/countries.py)."""

from __future__ import annotations

import pytest

from intake.import_types.countries import alpha2


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("GERMANY", "DE"),
        ("Viet Nam", "VN"),
        ("Vietnam", "VN"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        # spreadsheet generators' qualified names, tried whole and by part
        ("Slovakia (Slovak Republic)", "SK"),
        ("Holy See (Vatican City State)", "VA"),
        ("Cocos (Keeling) Islands", "CC"),
        # ISO's qualified names by their short form
        ("Micronesia", "FM"),
        ("Saint Helena", "SH"),
        ("Saint Martin", "MF"),
        ("Pitcairn Islands", "PN"),
        ("Svalbard & Jan Mayen Islands", "SJ"),
        # names ISO used before a rename
        ("Swaziland", "SZ"),
        ("Turkey", "TR"),
        ("Libyan Arab Jamahiriya", "LY"),
        ("United States Virgin Islands", "VI"),
        # ISO's own short name wins over the short form of another's qualified name
        ("Congo", "CG"),
    ],
)
def test_codes_and_english_names_map_to_alpha2(written: str, code: str) -> None:
    assert alpha2(written) == code


@pytest.mark.parametrize(
    "written",
    [
        "Korea",  # two countries: refused, not guessed
        "Netherlands Antilles",  # dissolved in 2010; its parts have codes of their own
        "Atlantis",
        "Europe",
        "D",
        "",
    ],
)
def test_names_that_fit_no_single_country_are_refused(written: str) -> None:
    assert alpha2(written) is None

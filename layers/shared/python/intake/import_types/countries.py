"""Countries as partners write them -> ISO 3166-1 alpha-2, from pycountry's ISO data.

Taken: alpha-2 and alpha-3 codes in any case, and the English short, common and official names
pycountry carries (Germany, Viet Nam, "Bolivia, Plurinational State of"), compared ignoring
case, accents and punctuation. A name with a qualifier in parentheses, as spreadsheet
generators write them ("Slovakia (Slovak Republic)"), is tried whole, then by each part.
A name that fits more than one country ("Korea") is refused, not guessed.

pycountry keeps only current names. FORMER_NAMES adds the English names ISO 3166 itself used
before a country was renamed (Swaziland became Eswatini in 2018), and the short names exports
use where ISO's is long (Russia): a supplement of a few entries, each checked against pycountry
when the index is built, not a country table of our own.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any, Literal

import pycountry
from pydantic_core import PydanticCustomError

FORMER_NAMES = {
    "Swaziland": "SZ",  # Eswatini since 2018
    "Turkey": "TR",  # Türkiye since 2022
    "Macedonia": "MK",  # North Macedonia since 2019
    "Libyan Arab Jamahiriya": "LY",  # Libya since 2011
    "Palestinian Territory": "PS",  # Palestine, State of, since 2013
    "Burma": "MM",  # Myanmar since 1989
    "Zaire": "CD",  # Congo, The Democratic Republic of the, since 1997
    "Holy See": "VA",
    "Vatican City": "VA",
    "Russia": "RU",  # ISO: Russian Federation
    "Brunei": "BN",  # ISO: Brunei Darussalam
    "UK": "GB",
    "Great Britain": "GB",
    "USA": "US",
    "Cape Verde": "CV",  # Cabo Verde since 2013
    "East Timor": "TL",
    "Ivory Coast": "CI",
    "United States Virgin Islands": "VI",  # ISO: Virgin Islands, U.S.
}
# Every current alpha-2 code, as a Literal: pydantic-core checks a value against it in Rust.
ALPHA2_CODES: Any = Literal[tuple(sorted(c.alpha_2 for c in pycountry.countries))]  # type: ignore[valid-type]
_PUNCTUATION = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_PARTS = re.compile(r"^(.*?)\s*\((.*)\)\s*$")


def _fold(text: str) -> str:
    """`Côte d'Ivoire`, `cote d ivoire` and `COTE D'IVOIRE` fold to the same key."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).replace("&", " and ")
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", plain)).strip().casefold()


_NAMES = ("name", "common_name", "official_name")


@cache
def _indexes() -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Folded names and codes -> alpha-2 (None where a name fits more than one country):
    ISO's own spellings, then the short forms of qualified ones ("Micronesia" from
    "Micronesia, Federated States of"; "Saint Martin" from "Saint Martin (French part)"),
    tried only when no own spelling matches, so that "Congo" stays ISO's Congo (CG)."""
    exact: dict[str, str | None] = {}
    short: dict[str, str | None] = {}

    def add(index: dict[str, str | None], name: str | None, code: str) -> None:
        if name:
            key = _fold(name)
            index[key] = code if index.get(key, code) == code else None

    for country in pycountry.countries:
        code = country.alpha_2
        for attribute in ("alpha_2", "alpha_3", *_NAMES):
            add(exact, getattr(country, attribute, None), code)
        for attribute in _NAMES:
            name = getattr(country, attribute, None) or ""
            add(short, name.split(",")[0] if "," in name else None, code)
            add(short, name.split("(")[0] if "(" in name else None, code)
    for name, code in FORMER_NAMES.items():
        assert pycountry.countries.get(alpha_2=code) is not None, code
        add(exact, name, code)
    return exact, short


@lru_cache(maxsize=4096)
def alpha2(text: str) -> str | None:
    """The alpha-2 code `text` names, or None if it names no country (or more than one)."""
    candidates = [text]
    parts = _PARTS.match(text)
    if parts:
        candidates += [parts.group(1), parts.group(2)]
    keys = [_fold(c) for c in candidates]
    # "Pitcairn Islands", "Svalbard & Jan Mayen Islands": ISO leaves the "Islands" out.
    keys += [k.removesuffix(" islands") for k in keys if k.endswith(" islands")]
    for index in _indexes():
        for key in keys:
            if key in index:
                return index[key]
    return None


def to_alpha2(value: Any) -> Any:
    """A pydantic before-validator: any spelling of a country becomes its alpha-2 code; empty
    text is left for the field's own rule (absent when optional)."""
    if not isinstance(value, str) or not value.strip():
        return value
    code = alpha2(value.strip())
    if code is None:
        raise PydanticCustomError(
            "invalid_country",
            "country is not an ISO 3166-1 code or an English country name",
        )
    return code

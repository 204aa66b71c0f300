"""Deterministic, realistic `contacts` CSV: 6 columns, a few percent invalid rows (P1-P3); an
EU partner's export of the same kind of rows, and its native twin (P4).

Rows are produced in blocks and written straight to a file (or returned for small sizes), so a
1 GB file never exists in memory.
"""

from __future__ import annotations

import csv
import functools
import os
import random
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

HEADER = b"external_id,email,first_name,last_name,country,signed_up\n"
GENERATOR_VERSION = 2  # bump when the rows change: cached files are named after it


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Ada Alan Grace Maria Jose Wei Aiko Olu Fatima Liam Noah Emma Mia Lucas Sofia Hugo Ines "
    "Yara Omar Lena Ivan Anna Paul Zoe Kenji Priya Raj Elena Mateo Chloe Nils Ayla"
)
_LAST = _words(
    "Lovelace Turing Hopper Garcia Silva Zhang Tanaka Okafor Khan Smith Jones Muller Rossi "
    "Dubois Novak Kowalski Jensen Costa Moreau Fischer Ivanova Sato Patel Haddad Lindqvist "
    "Nguyen Kim Lopez Schmidt Bauer OBrien"
)
_DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.co.uk")
POOL = 10_007  # a prime: row n takes entry (n * 7919) % POOL
_COUNTRIES = ("GB", "US", "DE", "FR", "ES", "IT", "NL", "SE", "JP", "BR", "IN", "CA")


def _templates(invalid_rate: float, seed: int) -> list[tuple[str, str]]:
    """A pool of row shapes: (email local part, the rest after the id in the address).

    A row is `c-<n>,<local><n><rest>`: the id and the e-mail stay unique per row while the
    expensive random choices are made once per pool entry, not once per row.
    """
    rnd = random.Random(seed)
    choice, rand, randint = rnd.choice, rnd.random, rnd.randint
    pool = []
    for i in range(POOL):
        first, last = choice(_FIRST), choice(_LAST)
        local, domain = f"{first.lower()}.{last.lower()}", choice(_DOMAINS)
        country = choice(_COUNTRIES) if rand() < 0.9 else ""
        signed = f"20{randint(15, 25):02d}-{randint(1, 12):02d}-{randint(1, 28):02d}"
        if rand() < 0.2:
            signed = ""
        last_name = last if rand() < 0.95 else ""
        at = "@"
        if rand() < invalid_rate:
            kind = i % 5
            if kind == 0:
                at = " at "  # invalid_email
            elif kind == 1:
                country = "Atlantis"  # invalid_country ("usa" is US now)
            elif kind == 2:
                signed = "31/12/2023"  # invalid_date
            elif kind == 3:
                first = ""  # required
            else:
                pool.append((local, f"@{domain},{first}\n"))  # wrong_column_count
                continue
        pool.append((local, f"{at}{domain},{first},{last_name},{country},{signed}\n"))
    return pool


def rows(
    count: int,
    *,
    invalid_rate: float = 0.03,
    start: int = 0,
    seed: int = 7,
    repeat_every: int = 0,
) -> Iterator[str]:
    """`count` data rows (no header) from row number `start`, each ending in a newline.

    With `repeat_every` k, row n repeats the external_id of row n - k/2 when n % k == k - 1
    (its e-mail stays its own): a partner export's duplicated customer ids, one in k rows.
    """
    pool = _pool(invalid_rate, seed)
    for n in range(start, start + count):
        local, rest = pool[pool_index(n)]
        key = n - repeat_every // 2 if repeat_every and n % repeat_every == repeat_every - 1 else n
        yield f"c-{key:09d},{local}{n}{rest}"


def repeated_rows(count: int, repeat_every: int) -> Iterator[tuple[int, int]]:
    """(row, the earlier row whose external_id it repeats) for the first `count` rows."""
    if repeat_every:
        for n in range(repeat_every - 1, count, repeat_every):
            yield n, n - repeat_every // 2


def pool_index(n: int) -> int:
    """The pool entry row n is made from: rows n and m are alike but for their ids and e-mail
    addresses when their pool entries are the same (so are valid or not alike)."""
    return (n * 7919) % POOL


@functools.cache
def _pool(invalid_rate: float, seed: int) -> list[tuple[str, str]]:
    return _templates(invalid_rate, seed)


def csv_bytes(count: int, *, invalid_rate: float = 0.03) -> bytes:
    """A whole (small) file in memory: header plus `count` rows."""
    return HEADER + "".join(rows(count, invalid_rate=invalid_rate)).encode()


def write_file(
    path: Path, size: int, *, invalid_rate: float = 0.03, repeat_every: int = 0, block: int = 50_000
) -> int:
    """Write a file of about `size` bytes (whole rows); return the row count. Streams blocks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    written = len(HEADER)
    count = 0
    with tmp.open("wb") as out:
        out.write(HEADER)
        while written < size:
            chunk = "".join(
                rows(block, invalid_rate=invalid_rate, start=count, repeat_every=repeat_every)
            ).encode()
            last = written + len(chunk) >= size
            if last:  # trim to whole rows under the size
                chunk = chunk[: chunk.rfind(b"\n", 0, size - written) + 1]
            out.write(chunk)
            written += len(chunk)
            count += chunk.count(b"\n")
            if last:
                break
    os.replace(tmp, path)
    return count


def cached_file(
    directory: Path, size: int, *, invalid_rate: float = 0.03, repeat_every: int = 0
) -> tuple[Path, int]:
    """The generated file for `size`, made once and reused (bench-data/ is gitignored)."""
    repeats = f"-r{repeat_every}" if repeat_every else ""
    name = f"contacts-{size}-v{GENERATOR_VERSION}-{int(invalid_rate * 1000)}{repeats}.csv"
    path = directory / name
    meta = path.with_suffix(".rows")
    if path.is_file() and meta.is_file():
        return path, int(meta.read_text())
    count = write_file(path, size, invalid_rate=invalid_rate, repeat_every=repeat_every)
    meta.write_text(str(count))
    return path, count


# ---------------------------------------------------------------------------------------------
# P4: an EU partner's customers export, as a German-locale Excel saves "CSV" (the shape of the
# public customers-100 sample re-exported; tests/fixtures/partner/ has 50-row examples).
# Semicolons, CRLF, Windows-1252 with accented names, DD.MM.YYYY dates, English country names,
# 12 columns of which contacts uses 9 (Index, Phone 2 and Website are unused). The same rows
# are also written the way Intake's own format has them ("native": UTF-8, commas, field names,
# ISO dates, alpha-2 codes, only the 9 columns), so the mapping's own cost can be isolated.

EU_HEADER = (
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
EU_UNUSED = ("Index", "Phone 2", "Website")
NATIVE_HEADER = (
    "external_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "city",
    "country",
    "phone",
    "signed_up",
)
# What a user sends for such a file: every header is a contacts name or alias already.
EU_MAPPING = {
    "delimiter": ";",
    "encoding": "windows-1252",
    "formats": {"signed_up": {"date": "%d.%m.%Y"}},
}
EU_ENCODING = "windows-1252"

# Names and cities with a letter outside ASCII are picked one time in ten each, so that about
# one row in three holds one (a German or Nordic customer base has that share or more).
# All are Windows-1252 letters; Š, Ž and œ sit in its 0x80-0x9F block, where it differs from
# ISO-8859-1.
_ACCENTED_SHARE = 0.1
_EU_FIRST = (
    _words(
        "Anna Lukas Marie Jonas Sophie Felix Emma Paul Lena Leon Julia Max Clara Noah Mia Elias "
        "Thomas Sarah Jan Laura Pieter Sanne Luca Giulia Marco Chiara Pablo Lucia Carlos Elena "
        "Hugo Camille Louis Ines Lars Ingrid Erik Karin Piotr Katarzyna Tomas Eva"
    ),
    _words(
        "Jürgen Søren José Françoise Åsa Inês Zoë Björn Chloé Jérôme Mónica Dóra Ágnes Šimon "
        "Žofia Renée Raphaël Thérèse Sinéad Håkon Jörg Begoña Joël Anaïs"
    ),
)
_EU_LAST = (
    _words(
        "Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Dupont Martin "
        "Bernard Rossi Russo Bianchi Ricci Jansen Visser Nowak Novak Horvat Kowalski Lindberg "
        "Nielsen Hansen Murphy Kelly Smith Brown Walsh Moreau Laurent Bauer Koch Richter Klein"
    ),
    _words(
        "Müller Strauß Kjærgaard Peña Lefèvre Öberg Gonçalves Núñez Sørensen Jørgensen Gómez "
        "Pérez Rodríguez Müllner Böhm Köhler Günther Lütke Ørsted Šustr Žáková Cœur Brückner"
    ),
)
_EU_CITIES = (
    _words(
        "Berlin Hamburg Frankfurt Stuttgart Leipzig Wien Graz Basel Paris Lyon Madrid Lisboa "
        "Coimbra Milano Roma Torino Bratislava Praha Brno Ljubljana Zagreb Dublin Cork London "
        "Leeds Amsterdam Utrecht Antwerpen Oslo Helsinki Hanoi"
    ),
    _words(
        "München Köln Düsseldorf Zürich Genève Besançon Nîmes Málaga Cádiz Córdoba Malmö Århus "
        "Göteborg Kraków Liège Tromsø"
    ),
)
_EU_LEGAL = ("GmbH", "AG", "KG", "S.A.", "S.L.", "SARL", "B.V.", "AB", "ApS", "Ltd", "S.p.A.")
# English names as exports write them, weighted like an EU customer base, with the spellings
# the issue names ("Slovakia (Slovak Republic)", "Viet Nam") and a tail of old ISO names.
_EU_COUNTRIES: tuple[tuple[str, str, int], ...] = (
    ("Germany", "DE", 240),
    ("France", "FR", 100),
    ("Austria", "AT", 60),
    ("Switzerland", "CH", 60),
    ("Netherlands", "NL", 50),
    ("Italy", "IT", 50),
    ("Spain", "ES", 50),
    ("Belgium", "BE", 40),
    ("United Kingdom", "GB", 40),
    ("Sweden", "SE", 30),
    ("Poland", "PL", 30),
    ("United States of America", "US", 30),
    ("Denmark", "DK", 20),
    ("Norway", "NO", 20),
    ("Portugal", "PT", 20),
    ("Czech Republic", "CZ", 20),
    ("Ireland", "IE", 20),
    ("Finland", "FI", 10),
    ("Hungary", "HU", 10),
    ("Slovakia (Slovak Republic)", "SK", 10),
    ("Slovenia", "SI", 10),
    ("Croatia", "HR", 10),
    ("Greece", "GR", 10),
    ("Turkey", "TR", 10),
    ("Viet Nam", "VN", 10),
    ("Russian Federation", "RU", 5),
    ("Bosnia and Herzegovina", "BA", 5),
    ("Macedonia", "MK", 3),
    ("Cote d'Ivoire", "CI", 2),
    ("Lao People's Democratic Republic", "LA", 2),
    ("Libyan Arab Jamahiriya", "LY", 2),
    ("Holy See (Vatican City State)", "VA", 1),
    ("Swaziland", "SZ", 1),
)


def _native_cell(text: str) -> str:
    """A cell of the native (comma) form, quoted as csv.writer would."""
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _eu_cell(text: str) -> str:
    """A cell of the EU (semicolon) form, quoted as Excel does: only where needed."""
    if any(c in text for c in ';"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _eu_templates(invalid_rate: float, seed: int) -> list[tuple[str, str, str, str, str, str]]:
    """A pool of row shapes: (EU head, EU tail, native head, native tail, id prefix, local).

    Row n is `<n+1>;<prefix><n hex>;<EU head><local><n><EU tail>` in the EU form, and
    `<prefix><n hex>,<local><n><native head><native tail>` natively, so ids and e-mails stay
    unique per row and the random choices are made once per pool entry.
    """
    rnd = random.Random(seed)
    choice, rand, randint = rnd.choice, rnd.random, rnd.randint
    names = [c[0] for c in _EU_COUNTRIES]
    weights = [c[2] for c in _EU_COUNTRIES]
    codes = {c[0]: c[1] for c in _EU_COUNTRIES}

    def pick(words: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        return choice(words[1] if rand() < _ACCENTED_SHARE else words[0])

    def phone() -> str:
        digits = "".join(choice("0123456789") for _ in range(randint(7, 9)))
        return choice((f"+49 {digits[:3]} {digits[3:]}", f"0{digits}", f"+33 {digits}", digits))

    pool = []
    for i in range(POOL):
        first, last, other = pick(_EU_FIRST), pick(_EU_LAST), pick(_EU_LAST)
        company = choice(
            (
                f"{last} {choice(_EU_LEGAL)}",
                f"{last} {choice(_EU_LEGAL)}",
                f"{last} & {other} {choice(_EU_LEGAL)}",
                f"{last}, {other} and Partners",
            )
        )
        if rand() < 0.01:
            company = f'Café "{other}" {choice(_EU_LEGAL)}'  # quoted by Excel, quotes doubled
        city = pick(_EU_CITIES)
        phone1, phone2 = phone(), phone()
        country = rnd.choices(names, weights)[0]
        alpha2 = codes[country]
        if rand() < 0.03:
            country = alpha2 = ""
        day = _date_of(rnd)
        eu_date, iso_date = day.strftime("%d.%m.%Y"), day.isoformat()
        if rand() < 0.05:
            eu_date = iso_date = ""
        local = _ascii(f"{first}.{last}").lower()
        domain = f"{_ascii(other).lower()}.{choice(('de', 'fr', 'com', 'eu', 'at', 'ch'))}"
        website = f"https://www.{domain}/"
        at = "@"
        wide = True
        if rand() < invalid_rate:
            kind = i % 5
            if kind == 0:
                at = ".at."  # invalid_email
            elif kind == 1:
                country, alpha2 = "Atlantis", "XX"  # invalid_country
            elif kind == 2:
                eu_date, iso_date = "31.02.2021", "2021-02-31"  # invalid_date
            elif kind == 3:
                first = ""  # required
            else:
                wide = False  # a row that lost its last cell: wrong_column_count
        eu_head = ";".join(
            _eu_cell(c) for c in (first, last, company, city, country, phone1, phone2)
        )
        eu_tail = f"{at}{domain};{eu_date}" + (f";{website}\r\n" if wide else "\r\n")
        native_head = "," + ",".join(
            _native_cell(c) for c in (first, last, company, city, alpha2, phone1)
        )
        native_tail = f",{iso_date}\n" if wide else "\n"
        prefix = "".join(choice("0123456789abcdefABCDEF") for _ in range(6))
        entry = (eu_head + ";", eu_tail, f"{at}{domain}{native_head}", native_tail, prefix, local)
        "".join(entry).encode(EU_ENCODING)  # every name must be writable in Windows-1252
        pool.append(entry)
    return pool


def _date_of(rnd: random.Random) -> date:
    """A signup day between 2015 and 2025."""
    return date(2015, 1, 1) + timedelta(days=rnd.randint(0, 3986))


def _ascii(text: str) -> str:
    """`Jürgen.Strauß` -> `Jurgen.Strauss`: e-mail addresses stay ASCII, as CRMs make them."""
    plain = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o"))
    plain = plain.replace("Ø", "O").replace("æ", "ae").replace("œ", "oe")
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c == "."))


@functools.cache
def _eu_pool(invalid_rate: float, seed: int) -> list[tuple[str, str, str, str, str, str]]:
    return _eu_templates(invalid_rate, seed)


def eu_rows(count: int, *, invalid_rate: float = 0.03, seed: int = 11) -> Iterator[str]:
    """`count` data rows of the EU export (no header), each ending in CRLF."""
    pool = _eu_pool(invalid_rate, seed)
    for n in range(count):
        head, tail, _nh, _nt, prefix, local = pool[(n * 7919) % POOL]
        yield f"{n + 1};{prefix}{n:09x};{head}{local}{n}{tail}"


def eu_csv_bytes(count: int, *, invalid_rate: float = 0.03) -> bytes:
    """The EU export in memory: header plus `count` rows, Windows-1252."""
    text = ";".join(EU_HEADER) + "\r\n" + "".join(eu_rows(count, invalid_rate=invalid_rate))
    return text.encode(EU_ENCODING)


def native_csv_bytes(count: int, *, invalid_rate: float = 0.03, seed: int = 11) -> bytes:
    """The same rows as Intake's own format has them: UTF-8, commas, field names, ISO dates,
    alpha-2 codes, the 9 used columns only."""
    pool = _eu_pool(invalid_rate, seed)
    out = [",".join(NATIVE_HEADER) + "\n"]
    for n in range(count):
        _h, _t, head, tail, prefix, local = pool[(n * 7919) % POOL]
        out.append(f"{prefix}{n:09x},{local}{n}{head}{tail}")
    return "".join(out).encode()


def eu_cells(count: int, *, invalid_rate: float = 0.03) -> Iterator[list[Any]]:
    """The EU export's rows as a workbook holds them (for the .xlsx copy): the CSV's cells,
    with the index a number and valid subscription dates as date cells, as Excel keeps them."""
    reader = csv.reader(eu_rows(count, invalid_rate=invalid_rate), delimiter=";")
    for row in reader:
        cells: list[Any] = list(row)
        cells[0] = int(cells[0])
        if len(cells) > 10 and cells[10]:
            try:
                cells[10] = datetime.strptime(cells[10], "%d.%m.%Y")
            except ValueError:
                pass  # 31.02.2021 stays the text a user typed
        yield cells

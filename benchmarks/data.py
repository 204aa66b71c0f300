"""Deterministic, realistic `contacts` CSV: 6 columns, a few percent invalid rows.

Rows are produced in blocks and written straight to a file (or returned for small sizes), so a
1 GB file never exists in memory.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path

HEADER = b"external_id,email,first_name,last_name,country,signed_up\n"
GENERATOR_VERSION = 1  # bump when the rows change: cached files are named after it


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
                country = "usa"  # invalid_country
            elif kind == 2:
                signed = "31/12/2023"  # invalid_date
            elif kind == 3:
                first = ""  # required
            else:
                pool.append((local, f"@{domain},{first}\n"))  # wrong_column_count
                continue
        pool.append((local, f"{at}{domain},{first},{last_name},{country},{signed}\n"))
    return pool


def rows(count: int, *, invalid_rate: float = 0.03, start: int = 0, seed: int = 7) -> Iterator[str]:
    """`count` data rows (no header) from row number `start`, each ending in a newline."""
    pool = _pool(invalid_rate, seed)
    for n in range(start, start + count):
        local, rest = pool[(n * 7919) % POOL]
        yield f"c-{n:09d},{local}{n}{rest}"


@functools.cache
def _pool(invalid_rate: float, seed: int) -> list[tuple[str, str]]:
    return _templates(invalid_rate, seed)


def csv_bytes(count: int, *, invalid_rate: float = 0.03) -> bytes:
    """A whole (small) file in memory: header plus `count` rows."""
    return HEADER + "".join(rows(count, invalid_rate=invalid_rate)).encode()


def write_file(path: Path, size: int, *, invalid_rate: float = 0.03, block: int = 50_000) -> int:
    """Write a file of about `size` bytes (whole rows); return the row count. Streams blocks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    written = len(HEADER)
    count = 0
    with tmp.open("wb") as out:
        out.write(HEADER)
        while written < size:
            chunk = "".join(rows(block, invalid_rate=invalid_rate, start=count)).encode()
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


def cached_file(directory: Path, size: int, *, invalid_rate: float = 0.03) -> tuple[Path, int]:
    """The generated file for `size`, made once and reused (bench-data/ is gitignored)."""
    name = f"contacts-{size}-v{GENERATOR_VERSION}-{int(invalid_rate * 1000)}.csv"
    path = directory / name
    meta = path.with_suffix(".rows")
    if path.is_file() and meta.is_file():
        return path, int(meta.read_text())
    count = write_file(path, size, invalid_rate=invalid_rate)
    meta.write_text(str(count))
    return path, count

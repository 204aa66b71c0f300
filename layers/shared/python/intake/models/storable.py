"""What a record may hold to be stored: the records table's (DynamoDB's) limits on values.

Record types bound every field, so only free-form records (bundle types keep fields they do
not know) can reach these. A value past them would be refused by DynamoDB mid-write, after
other records of the run were written; checked with the record instead, it is an error
located like any other."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DEPTH = 32  # nested maps and lists
MAX_DIGITS = 38  # significant digits of a number
MIN_EXPONENT, MAX_EXPONENT = -130, 125  # of a number's most significant digit


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """(where, why) for the first value the records table cannot hold, or None."""
    return _check(value, path, 0)


def _check(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, int | float | Decimal):
        return _number(value, path)
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return path, f"is nested more than {MAX_DEPTH} levels deep"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                if not key:
                    return path, "has an empty key"
                if (problem := _text(key, path)) is not None:
                    return problem
            at = f"{path}.{key}" if path else str(key)
            if (problem := _check(item, at, depth + 1)) is not None:
                return problem
        return None
    return None  # dates and the like are stored as text


def _text(value: str, path: str) -> tuple[str, str] | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return path, "holds an unpaired surrogate (\\ud800-\\udfff), which is not text"
    return None


def _number(value: int | float | Decimal, path: str) -> tuple[str, str] | None:
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        return path, "is not a number"
    if not number.is_finite():
        return path, "is NaN or Infinity, which JSON does not have"
    if number.is_zero():
        return None
    # (not normalize(): it rounds to the context's 28 digits)
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))
    if digits > MAX_DIGITS:
        return path, f"has {digits} significant digits; at most {MAX_DIGITS} can be stored"
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return (
            path,
            f"is out of the range that can be stored (1E{MIN_EXPONENT} to 1E{MAX_EXPONENT})",
        )
    return None

"""Log calls cannot raise on their field names, at any level (intake.observability)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from intake.observability import RESERVED_LOG_KEYS, logger, safe_extra
from tests.conftest import LogLines

# Names a log call takes as its own parameters: as keywords they are not fields at all.
LOG_CALL_PARAMETERS = {"msg", "exc_info", "stack_info"}


@pytest.fixture
def debug_lines(log_lines: LogLines) -> Iterator[LogLines]:
    """Every line the service logger writes, at DEBUG, parsed."""
    previous = logger.log_level
    logger.setLevel(logging.DEBUG)
    yield log_lines
    logger.setLevel(previous)


def test_the_reserved_names_include_the_one_that_broke_bundle_imports() -> None:
    assert {"created", "name", "module", "msg", "args", "levelname", "process"} <= RESERVED_LOG_KEYS


@pytest.mark.parametrize("key", sorted(RESERVED_LOG_KEYS))
def test_every_reserved_name_is_logged_renamed_instead_of_raising(
    key: str, debug_lines: LogLines
) -> None:
    logger.debug("as extra", extra={key: "value", "file_id": "f-1"})
    if key not in LOG_CALL_PARAMETERS:
        fields: dict[str, Any] = {key: "value"}
        logger.info("as keyword", **fields)
    lines = debug_lines()
    assert lines[0][f"{key}_"] == "value" and lines[0]["file_id"] == "f-1"
    assert all(line[f"{key}_"] == "value" for line in lines)


def test_ordinary_fields_pass_unchanged() -> None:
    fields = {"file_id": "f-1", "status": "SUCCEEDED"}
    assert safe_extra(fields) is fields
    assert safe_extra({"created": 1, "status": "x"}) == {"created_": 1, "status": "x"}

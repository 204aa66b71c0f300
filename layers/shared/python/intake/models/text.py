"""Text hygiene for every text field a client sends (docs/http-contract.md, "Text fields").

No C0/C1 control characters and no lone surrogates: they break logs, CSV reports and
terminals, and DynamoDB refuses invalid UTF-16 outright. The pattern states the
control-character rule in the OpenAPI document; JSON Schema has no way to say "no lone
surrogates", so `Safe` checks both, before any other rule, with one clear code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

SAFE_TEXT = r"^[^\x00-\x1f\x7f-\x9f]*$"
UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def refuse_unsafe_text(value: Any) -> Any:
    if isinstance(value, str) and UNSAFE_TEXT.search(value):
        raise PydanticCustomError(
            "invalid_text", "must not contain control characters or lone surrogates"
        )
    return value


# The check wraps the field's own rules, so it runs first: one clear code for unsafe text.
# (Listed after Field in Annotated: the other order drops the pattern from the JSON schema.)
Safe = BeforeValidator(refuse_unsafe_text)


def keys_matching(pattern: str) -> Callable[[dict[str, Any]], None]:
    """For `json_schema_extra` on a dict field whose keys have a pattern: pydantic states it as
    `patternProperties`, which lets any other key through as an additional property. Say it
    with `propertyNames` instead."""

    def fix(schema: dict[str, Any]) -> None:
        patterned = schema.pop("patternProperties", None)
        if patterned:
            (schema["additionalProperties"],) = patterned.values()
        schema.setdefault("propertyNames", {})["pattern"] = pattern

    return fix

"""Input hygiene of the request models, and what their JSON Schema tells clients and fuzzers.

The rules are docs/http-contract.md's "Text fields" and "Declarations": no control characters
or lone surrogates in any text; metadata keys S3 user-metadata style in lower case; bounded
tags, metadata, names; JSON types as the schema states them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from intake.import_types import all_import_types
from intake.models.api import (
    MAX_METADATA_ENTRIES,
    MAX_TAGS,
    DeclareFileRequest,
    ImportRequest,
)

VALID: dict[str, Any] = {
    "name": "contacts.csv",
    "media_type": "text/csv",
    "size": 1024,
    "import_type": "contacts",
}
HOSTILE_TEXT = {
    "nul": "a\x00b",
    "newline": "a\nb",
    "tab": "a\tb",
    "escape": "a\x1b[31mb",
    "delete": "a\x7fb",
    "c1-next-line": "a\x85b",
    "lone-high-surrogate": "a\udbccb",
    "lone-low-surrogate": "\udc00",
}


def problems(change: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as refused:
        DeclareFileRequest.model_validate({**VALID, **change})
    return [dict(problem) for problem in refused.value.errors()]


def fields(change: dict[str, Any]) -> set[str]:
    return {str(p["loc"][0]) for p in problems(change)}


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
@pytest.mark.parametrize(
    ("field", "place"),
    [
        ("name", lambda t: {"name": f"x{t}.csv"}),
        ("media_type", lambda t: {"media_type": f"text/csv; charset={t}"}),
        ("import_type", lambda t: {"import_type": f"contacts{t}"}),
        ("folder", lambda t: {"folder": t}),
        ("category", lambda t: {"category": t}),
        ("tags", lambda t: {"tags": ["ok", t]}),
        ("metadata", lambda t: {"metadata": {"source": t}}),
        ("metadata", lambda t: {"metadata": {f"k{t}": "v"}}),
    ],
)
def test_every_text_field_refuses_control_characters_and_lone_surrogates(
    field: str, place: Any, text: str
) -> None:
    found = problems(place(text))
    assert {str(p["loc"][0]) for p in found} == {field}
    assert [p["type"] for p in found] == ["invalid_text"], found


def test_the_text_rule_has_one_code_and_a_message_that_does_not_echo_the_input() -> None:
    (problem,) = problems({"folder": "evil\x1b[2J"})
    assert problem["type"] == "invalid_text"
    assert "\x1b" not in problem["msg"]
    assert "control characters" in problem["msg"]


@pytest.mark.parametrize(
    "text", ["Käse & Brot.csv", "契約.csv", "emoji 😀.csv", "a" * 255, "é\u200bx"]
)
def test_other_unicode_is_welcome(text: str) -> None:
    declared = DeclareFileRequest.model_validate(
        {**VALID, "name": text, "tags": [text[:64]], "metadata": {"note": text[:256]}}
    )
    assert declared.name == text


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.csv", "a\\b.csv", "", "a" * 256])
def test_names_are_one_bounded_path_segment(name: str) -> None:
    assert fields({"name": name}) == {"name"}


@pytest.mark.parametrize("key", ["source", "crm.id", "a-b_c", "0", "k" * 64])
def test_metadata_keys_in_s3_user_metadata_style(key: str) -> None:
    assert DeclareFileRequest.model_validate({**VALID, "metadata": {key: "v"}}).metadata == {
        key: "v"
    }


@pytest.mark.parametrize(
    "key",
    # "S" is a DynamoDB type tag: moto once stored such a map wrongly and every later read of
    # the tenant's files failed. Upper case is refused outright (S3 would lower-case it).
    ["S", "Source", "", "-x", ".x", "_x", "k" * 65, "a b", "ключ", "a:b", "a/b"],
)
def test_other_metadata_keys_are_refused(key: str) -> None:
    assert fields({"metadata": {key: "v"}}) == {"metadata"}


def test_metadata_is_bounded_in_entries_and_value_length() -> None:
    most = {f"k{i}": "v" * 256 for i in range(MAX_METADATA_ENTRIES)}
    assert DeclareFileRequest.model_validate({**VALID, "metadata": most}).metadata == most
    assert fields({"metadata": {**most, "one-more": "v"}}) == {"metadata"}
    assert fields({"metadata": {"k": "v" * 257}}) == {"metadata"}
    assert fields({"metadata": {"k": 1}}) == {"metadata"}


def test_tags_are_bounded_in_count_and_length() -> None:
    most = [f"tag{i}" for i in range(MAX_TAGS)]
    assert DeclareFileRequest.model_validate({**VALID, "tags": most}).tags == most
    assert fields({"tags": [*most, "one-more"]}) == {"tags"}
    assert fields({"tags": ["t" * 65]}) == {"tags"}
    assert fields({"tags": [""]}) == {"tags"}


@pytest.mark.parametrize("media_type", ["text/csv", "Text/CSV; charset=utf-8", "a/b+json"])
def test_media_types_with_parameters_are_taken(media_type: str) -> None:
    assert DeclareFileRequest.model_validate({**VALID, "media_type": media_type})


@pytest.mark.parametrize("media_type", ["csv", "text/", "/csv", "text/csv\n", "téxt/csv"])
def test_anything_else_as_a_media_type_is_refused(media_type: str) -> None:
    assert fields({"media_type": media_type}) == {"media_type"}


@pytest.mark.parametrize(
    ("size", "accepted"),
    [(1024, 1024), (1024.0, 1024), (True, None), ("1024", None), (1.5, None), (0, None)],
)
def test_size_is_a_json_integer(size: Any, accepted: int | None) -> None:
    if accepted is None:
        assert fields({"size": size}) == {"size"}
    else:
        assert DeclareFileRequest.model_validate({**VALID, "size": size}).size == accepted


@pytest.mark.parametrize("flag", [0, 1, "true", None])
def test_flags_are_json_booleans(flag: Any) -> None:
    assert fields({"check_only": flag}) == {"check_only"}
    with pytest.raises(ValidationError):
        ImportRequest.model_validate({"check_only": flag})


def test_the_schema_states_the_rules() -> None:
    schema = DeclareFileRequest.model_json_schema()
    properties = schema["properties"]
    assert schema["additionalProperties"] is False
    # Optional (a file declared without one is analysed), a registered name when given
    named, null = properties["import_type"]["anyOf"]
    assert named["enum"] == sorted(t.name for t in all_import_types())
    assert null == {"type": "null"}
    assert properties["size"]["maximum"] == 5 * 1024**4
    metadata = properties["metadata"]
    # Every key must match: no patternProperties, which would let other keys pass as extras.
    assert "patternProperties" not in metadata
    assert metadata["propertyNames"]["pattern"] == "^[a-z0-9][a-z0-9_.-]{0,63}$"
    assert metadata["maxProperties"] == MAX_METADATA_ENTRIES
    assert metadata["additionalProperties"]["maxLength"] == 256
    assert properties["tags"]["maxItems"] == MAX_TAGS
    for text_schema in (
        properties["name"],
        metadata["additionalProperties"],
        properties["tags"]["items"],
        properties["folder"]["anyOf"][0],
    ):
        pattern = re.compile(text_schema["pattern"])
        assert pattern.search("plain text")
        assert not pattern.search("bad\x01text")
    assert schema["examples"] and DeclareFileRequest.model_validate(schema["examples"][0])

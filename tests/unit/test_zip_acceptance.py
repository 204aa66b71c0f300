"""ZIP uploads and drops: content sniffing and media types by name or content type."""

from __future__ import annotations

import gzip

import pytest

from intake.dal.object_store import ObjectFacts
from intake.ingest.sniff import content_mismatch
from intake.logic.uploads import _media_type_of
from tests.unit.test_archive import make_zip


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (make_zip([("a.csv", b"x\n")]), None),
        (make_zip([]), None),  # an empty archive is still a ZIP (the run then fails)
        (b"external_id,email\n", "the content is not a ZIP archive"),
        (gzip.compress(make_zip([("a.csv", b"x\n")])), "the content is not a ZIP archive"),
    ],
)
def test_declared_zip_content(head: bytes, reason: str | None) -> None:
    assert content_mismatch(head, "application/zip") == reason


def test_a_zip_declared_as_csv_is_still_refused() -> None:
    assert content_mismatch(make_zip([("a.csv", b"x\n")]), "text/csv") is not None


def facts(content_type: str | None) -> ObjectFacts:
    return ObjectFacts(
        size=1, content_type=content_type, etag="e", version_id=None, sha256_b64=None
    )


@pytest.mark.parametrize(
    ("name", "content_type", "media_type"),
    [
        ("bundle.zip", None, "application/zip"),
        ("BUNDLE.ZIP", "binary/octet-stream", "application/zip"),
        ("bundle", "application/x-zip-compressed", "application/zip"),
        ("bundle", "application/zip", "application/zip"),
        ("bundle", "application/octet-stream", None),
    ],
)
def test_dropped_zip_media_type(
    name: str, content_type: str | None, media_type: str | None
) -> None:
    assert _media_type_of(name, facts(content_type)) == media_type

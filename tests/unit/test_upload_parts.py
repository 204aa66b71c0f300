"""Part planning for multipart uploads, and what a re-signed part URL signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from infra import definitions as d
from intake.logic.files import (
    MAX_PARTS,
    MIN_PART_BYTES,
    MULTIPART_RESUME,
    part_size_for,
    plan_parts,
)

MIB = 1024**2
GIB = 1024**3


def test_parts_cover_the_file_once_with_only_the_last_one_short():
    parts = plan_parts(30 * MIB + 7, 5 * MIB)
    assert [p.number for p in parts] == [1, 2, 3, 4, 5, 6, 7]
    assert [p.offset for p in parts] == [n * 5 * MIB for n in range(7)]
    assert [p.length for p in parts] == [5 * MIB] * 6 + [7]
    assert sum(p.length for p in parts) == 30 * MIB + 7


def test_a_size_that_is_a_multiple_of_the_part_size_has_no_empty_last_part():
    parts = plan_parts(30 * MIB, 5 * MIB)
    assert len(parts) == 6
    assert parts[-1].length == 5 * MIB


def test_parts_under_s3s_minimum_are_refused():
    with pytest.raises(ValueError, match="minimum"):
        plan_parts(20 * MIB, MIN_PART_BYTES - 1)


def test_more_than_10000_parts_are_refused():
    with pytest.raises(ValueError, match="10000"):
        plan_parts(MAX_PARTS * 5 * MIB + 1, 5 * MIB)


@pytest.mark.parametrize("size", [64 * MIB + 1, 10 * GIB, 100 * GIB, 5 * 1024 * GIB])
def test_part_size_grows_to_keep_within_10000_parts(size):
    part_size = part_size_for(size, 16 * MIB)
    parts = plan_parts(size, part_size)
    assert len(parts) <= MAX_PARTS
    assert part_size >= 16 * MIB
    assert part_size % MIB == 0
    assert sum(p.length for p in parts) == size


def test_a_10_gib_file_has_640_parts_of_16_mib():
    assert part_size_for(10 * GIB, 16 * MIB) == 16 * MIB
    assert len(plan_parts(10 * GIB, 16 * MIB)) == 640


def test_resume_window_is_the_buckets_abort_rule():
    # A multipart file waits for its parts as long as the lifecycle rule keeps them.
    assert timedelta(days=d.ABORT_INCOMPLETE_MULTIPART_DAYS) == MULTIPART_RESUME


def test_resigned_part_urls_sign_their_part_number_length_and_expiry(aws, monkeypatch):
    from intake.dal import object_store
    from intake.settings import get_settings

    monkeypatch.setenv("UPLOAD_URL_TTL_SECONDS", "600")
    get_settings.cache_clear()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    upload_id = object_store.start_multipart("uploads/acme/x", media_type="text/csv")

    signed = object_store.presign_parts(
        "uploads/acme/x", upload_id=upload_id, parts=[(2, 5 * MIB), (3, 123)], now=now
    )

    assert [(n, h) for n, _, h in signed.parts] == [
        (2, {"Content-Length": str(5 * MIB)}),
        (3, {"Content-Length": "123"}),
    ]
    for number, url, _ in signed.parts:
        query = parse_qs(urlsplit(url).query)
        assert query["partNumber"] == [str(number)]
        assert query["uploadId"] == [upload_id]
        assert query["X-Amz-Expires"] == ["600"]
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert parse_qs(urlsplit(signed.complete_url).query)["uploadId"] == [upload_id]
    assert signed.expires_at == now + timedelta(seconds=600)

"""The sharded-runs map's items (logic/run_steps._items): within the execution's 256 KiB state
whatever the archive's member names, and joined only past the cap on shards."""

from __future__ import annotations

import json

from intake.ingest.shards import Shard
from intake.logic.run_steps import MAX_SHARDS, StagedObject, _items, _Part

STATE_LIMIT = 256 * 1024


def _part(n: int, shards: int, name_length: int = 30) -> _Part:
    size = 32 * 1024**2
    key = f"staging/acme/{'f' * 28}/run-1/member-{n:04d}"
    return _Part(
        object=StagedObject(key=key, version_id="v" * 32),
        shards=[
            Shard(index=i, start=i * size, end=(i + 1) * size, first_line=1 + i * 480_000,
                  head_end=64, head_lines=1, delimiter=";")
            for i in range(shards)
        ],
        member=f"export/{'x' * name_length}-{n}.csv",
    )  # fmt: skip


def test_many_members_with_long_names_stay_within_the_state_limit() -> None:
    parts = [_part(n, 1, name_length=4000) for n in range(1, 901)] + [_part(901, 640)]
    items = _items(parts)
    assert len(items) <= MAX_SHARDS
    assert len(json.dumps({"shards": items, "phase": "validate"}).encode()) < STATE_LIMIT
    assert {item["part"] for item in items} == set(range(1, 902))  # every member keeps one


def test_under_the_cap_no_shard_is_joined() -> None:
    parts = [_part(1, 500)] + [_part(n, 1) for n in range(2, 402)]
    items = _items(parts)
    assert len(items) == 900
    assert [i["end"] - i["start"] for i in items if i["part"] == 1] == [32 * 1024**2] * 500

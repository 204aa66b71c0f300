"""Duplicate natural keys within one file: pass 1 finds repeated hashes, pass 2 locates rows.

What a user sees: a later row with a key already seen is a `duplicate_key` error naming the line
(and archive member) where the key first appeared; never a false duplicate; the same answer
whether the keys fit in memory or were spilled to /tmp.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from intake.ingest.duplicates import (
    DUMP_BITS,
    DUPLICATE_KEY,
    HashDump,
    KeyTracker,
    Occurrence,
    RepeatedKeys,
    duplicate_key_error,
    repeated_across,
    stable_hash,
)

Row = tuple[str, int, str | None]  # key, line, member


def run_two_passes(rows: Iterable[Row], **tracker_args: object) -> tuple[RepeatedKeys, list[str]]:
    """What the engine does: pass 1 adds every key; pass 2 (only when something repeats)
    checks every row. Returns the repeated keys and the errors' text, one per later row."""
    rows = list(rows)
    with KeyTracker(**tracker_args) as tracker:  # type: ignore[arg-type]
        for key, _line, _member in rows:
            tracker.add(key)
        repeated = tracker.repeated()
    found = []
    if repeated:
        locator = repeated.locator()
        for key, line, member in rows:
            first = locator.check(key, line, member)
            if first is not None:
                error = duplicate_key_error(
                    field="external_id", line=line, member=member, first=first
                )
                found.append(f"{error.file or ''}:{error.line}: {error.message}")
    return repeated, found


def numbered(keys: Iterable[str], member: str | None = None, first_line: int = 2) -> list[Row]:
    return [(key, line, member) for line, key in enumerate(keys, start=first_line)]


def shuffled_keys(distinct: int, repeats: dict[int, int], seed: int = 7) -> list[str]:
    """`distinct` keys in a fixed random order, key i appearing repeats.get(i, 1) times."""
    keys = [f"C-{i:06d}" for i in range(distinct) for _ in range(repeats.get(i, 1))]
    random.Random(seed).shuffle(keys)
    return keys


def test_a_file_without_repeated_keys_needs_no_second_pass() -> None:
    repeated, errors = run_two_passes(numbered(f"C-{i:06d}" for i in range(5000)))

    assert not repeated
    assert (len(repeated), repeated.total, repeated.extra_rows) == (0, 0, 0)
    assert errors == []


def test_each_later_row_names_the_line_where_its_key_first_appeared() -> None:
    # Given: lines 2..7, C-1 on lines 2, 5 and 7, C-2 on lines 3 and 6
    rows = numbered(["C-1", "C-2", "C-3", "C-1", "C-2", "C-1"])

    repeated, errors = run_two_passes(rows)

    assert (len(repeated), repeated.total, repeated.extra_rows) == (2, 2, 3)
    assert "C-1" in repeated and "C-2" in repeated and "C-3" not in repeated
    assert errors == [
        ":5: external_id repeats the value first seen on line 2",
        ":6: external_id repeats the value first seen on line 3",
        ":7: external_id repeats the value first seen on line 2",
    ]


def test_the_error_is_a_located_duplicate_key_on_the_later_row() -> None:
    error = duplicate_key_error(
        field="external_id", line=9, member="b.csv", first=Occurrence(4, "a.csv")
    )

    assert (error.line, error.field, error.code, error.file) == (
        9,
        "external_id",
        DUPLICATE_KEY,
        "b.csv",
    )
    assert error.message == "external_id repeats the value first seen on line 4 of a.csv"


def test_a_key_repeated_on_every_row_is_reported_on_every_later_row() -> None:
    rows = numbered(["C-7"] * 1000)

    repeated, errors = run_two_passes(rows, max_in_memory=64)

    assert (len(repeated), repeated.total, repeated.extra_rows) == (1, 1, 999)
    assert len(errors) == 999
    assert set(e.split(": ", 1)[1] for e in errors) == {
        "external_id repeats the value first seen on line 2"
    }


def test_spilling_to_disk_gives_the_same_answer_as_memory() -> None:
    keys = shuffled_keys(20_000, {5: 2, 17: 3, 19_999: 2, 12_345: 4})
    rows = numbered(keys)

    in_memory, errors_in_memory = run_two_passes(rows)
    with KeyTracker(max_in_memory=997) as tracker:
        for key in keys:
            tracker.add(key)
        spilled = tracker.repeated()
        spills = tracker.spills
    _, errors_spilled = run_two_passes(rows, max_in_memory=997)

    assert spills == len(keys) // 997  # several runs on disk, the rest checked in memory
    assert spilled.hashes == in_memory.hashes
    assert (spilled.total, spilled.extra_rows) == (in_memory.total, in_memory.extra_rows) == (4, 7)
    assert errors_spilled == errors_in_memory
    assert len(errors_in_memory) == 7


def test_a_partition_with_too_many_distinct_keys_is_split_and_gives_the_same_answer() -> None:
    # A hash whose top 20 bits are 0 puts every key in one top partition (and 16 below it):
    # with max_distinct=3,000 that partition must be split once to be checked.
    def narrow(key: str) -> int:
        return stable_hash(key) >> 20

    keys = shuffled_keys(30_000, {3: 2, 29_998: 5})
    rows = numbered(keys)

    plain, plain_errors = run_two_passes(rows, hash_key=narrow)
    split, split_errors = run_two_passes(
        rows, hash_key=narrow, max_in_memory=5000, max_distinct=3000
    )
    with KeyTracker(hash_key=narrow, max_in_memory=5000, max_distinct=3000) as tracker:
        for key in keys:
            tracker.add(key)
        tracker.repeated()
    assert tracker.splits == 1

    assert split.hashes == plain.hashes
    assert (split.total, split.extra_rows) == (plain.total, plain.extra_rows) == (2, 5)
    assert split_errors == plain_errors
    assert len(split_errors) == 5


def test_splitting_stops_at_the_last_bits_and_stays_exact() -> None:
    # Only the low 8 bits vary: every level splits again until no bits are left to split by.
    keys = shuffled_keys(2000, {10: 3})

    def low_bits(key: str) -> int:
        return stable_hash(key) & 0xFF

    repeated, errors = run_two_passes(numbered(keys), hash_key=low_bits, max_distinct=10)
    with KeyTracker(hash_key=low_bits, max_distinct=10) as tracker:
        for key in keys:
            tracker.add(key)
        tracker.repeated()
    # Partition 0 of levels 0-3 (bits 52-63 ... 16-27) holds all 256 values: 4 splits; level 4
    # (bits 4-15) has 16 partitions of 16 values: 16 splits; level 5 (bits 0-3) is the last.
    assert tracker.splits == 4 + 16

    assert repeated.total == 256  # every low-8-bit value repeats in hash
    assert len(errors) == 2  # but only C-000010 repeats


def test_hash_collisions_never_report_a_false_duplicate() -> None:
    # Every key hashes to the same value: pass 1 sees one hash everywhere, pass 2 compares keys.
    rows = numbered(["A-1", "B-2", "C-3", "B-2", "D-4"])

    repeated, errors = run_two_passes(rows, hash_key=lambda key: 42, max_in_memory=2)

    assert repeated.total == 1 and repeated.extra_rows == 4  # in hash, everything repeats
    assert errors == [":5: external_id repeats the value first seen on line 3"]


def test_colliding_keys_are_each_first_once() -> None:
    repeated, errors = run_two_passes(
        numbered(["A", "B", "C"]), hash_key=lambda key: 1 << 63, max_distinct=1
    )

    assert repeated and errors == []


def test_a_key_first_seen_in_another_archive_member_names_that_member() -> None:
    rows = (
        numbered(["C-1", "C-2"], member="january.csv")
        + numbered(["C-3", "C-2"], member="february.csv")
        + numbered(["C-3"], member="february.csv", first_line=10)
    )

    _, errors = run_two_passes(rows)

    assert errors == [
        "february.csv:3: external_id repeats the value first seen on line 3 of january.csv",
        "february.csv:10: external_id repeats the value first seen on line 2",
    ]


@pytest.mark.parametrize(
    "how",
    [{}, {"max_in_memory": 4, "max_distinct": 1}],
    ids=["one set in memory", "partitions spilled"],
)
def test_past_max_repeated_the_smallest_hashes_are_kept_and_the_rest_counted(
    how: dict[str, int],
) -> None:
    # Given: 10 keys each twice, 1 key five times
    keys = [f"K-{i}" for i in range(10)] * 2 + ["K-X"] * 5
    rows = numbered(keys)

    repeated, errors = run_two_passes(rows, max_repeated=3, **how)

    assert repeated.truncated
    assert (len(repeated), repeated.total, repeated.extra_rows) == (3, 11, 14)
    every = sorted(stable_hash(k) for k in set(keys))
    assert repeated.hashes == frozenset(every[:3])
    assert len(errors) == repeated.extra_rows - repeated.unlocated_rows
    kept_rows = sum(keys.count(k) - 1 for k in set(keys) if stable_hash(k) in repeated.hashes)
    assert len(errors) == kept_rows


def test_nothing_kept_still_counts_every_repeat() -> None:
    repeated, errors = run_two_passes(numbered(["A", "A", "B", "B", "B"]), max_repeated=0)

    assert not repeated and repeated.truncated
    assert (repeated.total, repeated.extra_rows, repeated.unlocated_rows) == (2, 3, 3)
    assert errors == []


def test_the_locator_knows_the_first_occurrence_to_restore() -> None:
    # With on_invalid=skip pass 1 wrote C-1 from line 4 over line 2's: pass 2 puts line 2 back.
    with KeyTracker() as tracker:
        for key in ("C-1", "C-2", "C-1"):
            tracker.add(key)
        locator = tracker.repeated().locator()

    restore = []
    for line, key in enumerate(("C-1", "C-2", "C-1"), start=2):
        if locator.check(key, line) is None and key in locator:
            restore.append((key, line))

    assert restore == [("C-1", 2)]
    assert locator.located == 1 and locator.remembered == 1


@pytest.fixture
def spill_files(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every spill file a tracker opens, to see when it gives the /tmp space back."""
    opened: list[Any] = []
    real = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> Any:
        file = real(*args, **kwargs)
        opened.append(file)
        return file

    monkeypatch.setattr("intake.ingest.duplicates.tempfile.TemporaryFile", recording)
    return opened


def test_the_spill_file_holds_tmp_space_only_until_close(
    tmp_path: Path, spill_files: list[Any]
) -> None:
    tracker = KeyTracker(max_in_memory=100, temp_dir=str(tmp_path))
    for i in range(1000):
        tracker.add(f"C-{i}")

    # Unlinked from the start (nothing left behind if the process dies), held open meanwhile.
    assert list(tmp_path.iterdir()) == []
    assert len(spill_files) == 1 and not spill_files[0].closed

    tracker.close()

    assert spill_files[0].closed


def test_checking_gives_back_the_tmp_space_at_once(tmp_path: Path, spill_files: list[Any]) -> None:
    with KeyTracker(max_in_memory=100, temp_dir=str(tmp_path)) as tracker:
        for i in range(1000):
            tracker.add(f"C-{i % 600}")
        repeated = tracker.repeated()

        assert spill_files and all(f.closed for f in spill_files)
        assert repeated.total == 400
        with pytest.raises(RuntimeError):
            tracker.add("C-1")


def test_a_closed_tracker_refuses_to_answer_rather_than_say_nothing_repeats() -> None:
    tracker = KeyTracker()
    tracker.add("C-1")
    tracker.add("C-1")
    tracker.close()

    with pytest.raises(RuntimeError):
        tracker.repeated()


def test_the_key_hash_is_the_same_in_another_process() -> None:
    # Shards of one file are checked in different Lambdas: the hash must not be salted per
    # process like hash(). A child with another PYTHONHASHSEED agrees with this process.
    keys = ["C-000123", "Ünïcødé-ключ", ""]
    code = (
        "from intake.ingest.duplicates import stable_hash; "
        f"print([stable_hash(k) for k in {keys!r}])"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )

    assert child.stdout.strip() == str([stable_hash(k) for k in keys])
    assert all(0 <= stable_hash(k) < 2**64 for k in keys)
    assert stable_hash("C-000123") != stable_hash("C-000124")


def test_memory_stays_bounded_while_keys_spill() -> None:
    # 120k keys through a tracker holding 8k hashes (64 KB): held in memory they would be
    # 1 MB, and one set of them ~12 MB. Memory follows the bound, not the rows.
    keys = (f"C-{i:07d}" for i in range(120_000))
    tracemalloc.start()
    try:
        with KeyTracker(max_in_memory=8_000) as tracker:
            for key in keys:
                tracker.add(key)
            tracker.add("C-0000042")
            repeated = tracker.repeated()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert tracker.spills == 15
    assert (repeated.total, repeated.extra_rows) == (1, 1)
    assert peak < 3_000_000  # ~1.8 MB: the buffer, 4,096 partitions, the spill index


# --- shards: each dumps its hashes, one check over all the dumps ---------------------------


def dumped(parts: list[list[str]], **tracker_args: Any) -> list[HashDump]:
    """Each part's keys through its own tracker and dump, read back by byte ranges."""
    dumps = []
    for keys in parts:
        with KeyTracker(partition_bits=DUMP_BITS, **tracker_args) as tracker:
            for key in keys:
                tracker.add(key)
            data = io.BytesIO()
            assert tracker.dump(data) == len(keys)
        dumps.append(HashDump(partial(slice_of, data.getvalue())))
    return dumps


def slice_of(data: bytes, start: int, end: int) -> bytes:
    return data[start:end]


def one_tracker(keys: list[str], **tracker_args: Any) -> RepeatedKeys:
    with KeyTracker(**tracker_args) as tracker:
        for key in keys:
            tracker.add(key)
        return tracker.repeated()


def cut(keys: list[str], parts: int) -> list[list[str]]:
    size = -(-len(keys) // parts)
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def same(a: RepeatedKeys, b: RepeatedKeys) -> bool:
    return (a.hashes, a.total, a.extra_rows, a.unlocated_rows) == (
        b.hashes,
        b.total,
        b.extra_rows,
        b.unlocated_rows,
    )


def test_shards_dumps_checked_together_find_what_one_tracker_finds() -> None:
    # Keys repeated inside one part, across parts, and on many rows
    keys = shuffled_keys(20_000, {5: 2, 17: 3, 19_999: 2, 12_345: 40})

    across = repeated_across(dumped(cut(keys, 7)))

    assert same(across, one_tracker(keys))
    assert (across.total, across.extra_rows) == (4, 43)


def test_dumps_that_spilled_and_groups_that_split_give_the_same_answer() -> None:
    keys = shuffled_keys(30_000, {3: 2, 29_998: 5, 100: 3})
    dumps = dumped(cut(keys, 5), max_in_memory=997)  # each part spills before it dumps

    # 30,000 distinct hashes over 16 groups: ~1,900 a group, over max_distinct=500
    across = repeated_across(dumps, max_in_memory=700, max_distinct=500)

    assert same(across, one_tracker(keys))


def test_past_max_repeated_the_dumps_keep_the_same_smallest_hashes() -> None:
    keys = [f"K-{i}" for i in range(40)] * 2 + ["K-X"] * 5

    across = repeated_across(dumped(cut(keys, 6)), max_repeated=7)

    assert across.truncated
    assert same(across, one_tracker(keys, max_repeated=7))
    assert same(RepeatedKeys.from_bytes(across.to_bytes()), across)


def test_no_repeats_across_dumps_is_empty() -> None:
    across = repeated_across(dumped([["a", "b"], [], ["c"]]))

    assert not across and across.total == 0

"""Repeated natural keys within one file: exact, in bounded memory, for any number of rows.

A run sees each key once per read, in order, and cannot hold 150 million keys (a 10 GiB CSV) in
a Lambda. So it makes two passes, the second only when the first finds something:

Pass 1, during the normal validation pass: `KeyTracker.add(key)` for every valid record. The key
is hashed to 64 bits with a stable hash (BLAKE2b, 8-byte digest: the same in every process, so
shards of one file validated in different Lambdas agree; Python's `hash()` is salted per
process) and appended to one of 4,096 `array('Q')` partitions chosen by the hash's top 12 bits.
When `max_in_memory` hashes are held, every partition is appended to one spill file in /tmp and
memory starts again. `repeated()` then checks each partition on its own, reading its segments
back one at a time, with C-speed set operations: a set of the partition's distinct hashes, and
the hashes met twice. No sort, no k-way merge in Python. A partition with more than
`max_distinct` distinct hashes (about 2 billion distinct keys before it can happen at the
defaults) is split again by the next 12 bits, so the check stays bounded for any size; heavy
repetition of one key costs nothing, since memory follows distinct hashes, not rows.

Pass 2, only when some hash repeats (a file without duplicates is read once, as today): the
caller reads the file again and asks `locator.check(key, line, member)` for every valid record.
Rows whose hash did not repeat are passed over after one hash and one set lookup; the others are
compared by their exact key, so a hash collision never reports a duplicate. The first occurrence
of each key is remembered; a later one gets back the first's line and member.

Bounds, at the defaults (max_in_memory=4M, max_distinct=512k, max_repeated=100k):
- Pass 1 memory: max_in_memory x 8 bytes (32 MiB), plus arrays' growth slack (about 1/8) and
  4,096 empty arrays (~0.3 MiB).
- Check memory (end of pass 1): one segment read back (at most max_in_memory x 8 bytes) plus
  a partition's sets, about 100 bytes per distinct hash: <= max_distinct x 100 bytes (~50 MiB).
  For files under ~2 billion distinct keys a partition holds rows / 4,096 distinct hashes
  (150M rows: ~37k, ~4 MiB). Spill index: 32 KiB per spill.
- Temp disk (/tmp): nothing until max_in_memory rows; then 8 bytes per row, all spilled:
  150M rows (a 10 GiB CSV of ~70-byte rows) -> 1.2 GB. Lambda's default ephemeral storage is
  512 MiB, which holds 64M rows; a worker that must take 10 GiB files needs at least 2 GiB of
  /tmp for this (more if other /tmp users, e.g. the error report spool, run alongside).
- Pass 2 memory: the repeated hashes kept (<= max_repeated, ~70 bytes each) and the first
  occurrence of each of their keys (~150 bytes each): <= ~22 MiB.

What is exact, and what is capped: every hash that repeats is counted (`RepeatedKeys.total`) and
every row whose hash repeats an earlier row's is counted (`RepeatedKeys.extra_rows`); these are
exact about hashes and, barring 64-bit collisions (about one in 1,600 files of 150M distinct
keys), about keys. Only the smallest `max_repeated` repeated hashes are kept for pass 2
(`truncated` says when more repeated): their rows are located exactly; rows of the others are
not located, and the caller must say so (see `RepeatedKeys.unlocated_rows`).
"""

from __future__ import annotations

import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from hashlib import blake2b
from itertools import accumulate
from types import TracebackType
from typing import IO, Any

from intake.models.domain import RowError

KeyHash = Callable[[str], int]

DUPLICATE_KEY = "duplicate_key"
DEFAULT_MAX_IN_MEMORY = 4 * 1024 * 1024  # hashes held before a spill: 32 MiB
DEFAULT_MAX_DISTINCT = 512 * 1024  # distinct hashes per partition checked at once: ~50 MiB
DEFAULT_MAX_REPEATED = 100_000  # repeated hashes kept for pass 2

_BITS = 64
PARTITION_BITS = 12  # 4,096 partitions: a 150M-row file checks ~37k distinct hashes at a time
# (KeyTracker._adder spells these 12 bits out in its inlined path.)
_ITEM = array("Q").itemsize  # 8
_TOP_SHIFT = _BITS - PARTITION_BITS


def stable_hash(key: str) -> int:
    """64 bits of BLAKE2b over the key's UTF-8: the same in every process and Python version.

    ~0.4 us a key here, most of it hashlib's object creation (stdlib hashes all cost about
    that for short input). `surrogatepass`: a key that reached this far is never refused here.
    """
    digest = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Occurrence:
    """Where a key first appeared: its line, and the archive member when the file is a ZIP."""

    line: int | None
    member: str | None = None


def duplicate_key_error(
    *, field: str, line: int | None, member: str | None, first: Occurrence
) -> RowError:
    """The error on a later row whose natural key `field` already appeared at `first`."""
    where = f"line {first.line}" if first.line is not None else "an earlier record"
    if first.member is not None and first.member != member:
        where += f" of {first.member}"
    return RowError(
        line=line,
        field=field,
        code=DUPLICATE_KEY,
        message=f"{field} repeats the value first seen on {where}",
        file=member,
    )


class KeyTracker:
    """Pass 1: every valid record's natural key, then the hashes seen more than once.

    One tracker per run (a ZIP's members share one: a key repeated across members is a
    duplicate too). Use it as a context manager, or call `close()`: it removes the spill file.
    """

    def __init__(
        self,
        *,
        max_in_memory: int = DEFAULT_MAX_IN_MEMORY,
        max_distinct: int = DEFAULT_MAX_DISTINCT,
        max_repeated: int = DEFAULT_MAX_REPEATED,
        hash_key: KeyHash = stable_hash,
        temp_dir: str | None = None,
    ) -> None:
        if max_in_memory < 1 or max_distinct < 1 or max_repeated < 0:
            raise ValueError("max_in_memory and max_distinct must be >= 1, max_repeated >= 0")
        self._hash = hash_key
        self._max_repeated = max_repeated
        self._temp_dir = temp_dir
        self._top = _Partitions(
            level=0, max_in_memory=max_in_memory, max_distinct=max_distinct, new_file=self._file
        )
        self._result: RepeatedKeys | None = None
        self.splits = 0  # partitions split again while checking (too many distinct hashes)
        self.add: Callable[[str], None] = self._adder()
        """Count one occurrence of a key (call it for valid records only, in read order)."""

    def _adder(self) -> Callable[[str], None]:
        # The hot path, once per valid row: one closure with everything bound, no method call
        # below it (~0.1 us saved per row against add -> hash -> partition methods).
        top, parts, limit, hash_key = (
            self._top,
            self._top.parts,
            self._top.max_in_memory,
            self._hash,
        )
        room = limit  # hashes until the next spill, counted down in the closure's cell

        if hash_key is stable_hash and sys.byteorder == "little":
            # stable_hash inlined, and its digest appended as it is: on a little-endian machine
            # (x86_64 and arm64 Lambdas) those 8 bytes are the stable_hash value, its top 12
            # bits the last byte and the high half of the one before. ~0.1 us a row less than
            # int.from_bytes + append.

            def add(key: str, _blake2b: Callable[..., Any] = blake2b) -> None:
                nonlocal room
                digest = _blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                parts[digest[7] << 4 | digest[6] >> 4].frombytes(digest)
                room -= 1
                if not room:
                    top.spill()
                    room = limit

            return add

        def add_hashed(key: str) -> None:
            nonlocal room
            value = hash_key(key)
            parts[value >> _TOP_SHIFT].append(value)
            room -= 1
            if not room:
                top.spill()
                room = limit

        return add_hashed

    @property
    def rows(self) -> int:
        """Keys added."""
        return self._top.written + self._top.held

    @property
    def spills(self) -> int:
        """How many times memory was full and went to /tmp (0: everything stayed in memory)."""
        return self._top.spills

    def repeated(self) -> RepeatedKeys:
        """The hashes seen more than once (computed once; no `add` after it)."""
        if self._result is None:
            found = _Found(self._max_repeated)
            self._top.collect(found)
            self.splits = found.splits
            self.close()  # the hashes are no longer needed: free memory and /tmp now
            self._result = RepeatedKeys(
                frozenset(found.kept),
                total=found.total,
                extra_rows=found.extra_rows,
                unlocated_rows=found.unlocated_rows,
                hash_key=self._hash,
            )
        return self._result

    def close(self) -> None:
        """Give back the memory and the /tmp space (the spill file is already unlinked)."""
        self._top.close()
        self.add = _closed

    def __enter__(self) -> KeyTracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _file(self) -> IO[bytes]:
        # Unlinked at once: a run that dies (a Lambda timeout) leaves nothing in a warm
        # container's /tmp for the next invocation to trip over.
        return tempfile.TemporaryFile(prefix="intake-keys-", dir=self._temp_dir)


class RepeatedKeys:
    """The outcome of pass 1: set-like over keys (`key in repeated` hashes the key).

    Empty (falsy) when no key hash repeats: the run needs no second pass.
    """

    def __init__(
        self,
        hashes: frozenset[int],
        *,
        total: int,
        extra_rows: int,
        unlocated_rows: int,
        hash_key: KeyHash = stable_hash,
    ) -> None:
        self.hashes = hashes  # kept for pass 2: the smallest repeated hashes
        self.total = total  # every repeated hash, kept or not
        self.extra_rows = extra_rows  # rows whose hash an earlier row already had
        self.unlocated_rows = unlocated_rows  # of those, rows whose hash was not kept
        self._hash = hash_key

    @property
    def truncated(self) -> bool:
        """More hashes repeated than were kept: pass 2 cannot locate every later row."""
        return self.total > len(self.hashes)

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._hash(key) in self.hashes

    def __repr__(self) -> str:
        return (
            f"RepeatedKeys(kept={len(self.hashes)}, total={self.total}, "
            f"extra_rows={self.extra_rows}, unlocated_rows={self.unlocated_rows})"
        )

    def locator(self) -> KeyLocator:
        return KeyLocator(self.hashes, self._hash)


class KeyLocator:
    """Pass 2: exact keys, first occurrences remembered for the repeated hashes only."""

    def __init__(self, hashes: frozenset[int], hash_key: KeyHash = stable_hash) -> None:
        self._hashes = hashes
        self._hash = hash_key
        self._first: dict[str, Occurrence] = {}
        self.located = 0  # later rows found (each one a duplicate_key error)

    def check(self, key: str, line: int | None, member: str | None = None) -> Occurrence | None:
        """None for a key's first occurrence (or a key that never repeats); for a later
        occurrence, where the first one was. Call it for valid records only, in read order."""
        if self._hash(key) not in self._hashes:
            return None
        first = self._first.get(key)
        if first is None:
            self._first[key] = Occurrence(line, member)
            return None
        self.located += 1
        return first

    def __contains__(self, key: object) -> bool:
        """Whether `key` repeats in hash and has been met in this pass. Right after `check`
        returned None for a row, True means the row is the first occurrence of a key whose
        hash repeats: the row to put again when pass 1 wrote as it went (on_invalid=skip) and
        a later row overwrote it. An exact dict lookup: no second hash."""
        return key in self._first

    @property
    def remembered(self) -> int:
        """Keys remembered: pass 2's memory is bounded by this."""
        return len(self._first)


def _closed(_key: str) -> None:
    raise RuntimeError("the tracker is closed, or its keys were already checked")


class _Found:
    """Repeated hashes in ascending order, keeping the first `limit`; counts all of them."""

    def __init__(self, limit: int) -> None:
        self.kept: list[int] = []
        self.limit = limit
        self.total = 0
        self.extra_rows = 0
        self.unlocated_rows = 0
        self.splits = 0

    def add(self, repeated: set[int], counts: Callable[[], Counter[int]] | None = None) -> None:
        """One partition's repeated hashes (`counts` gives their row counts, only needed when
        some of them are not kept)."""
        self.total += len(repeated)
        room = self.limit - len(self.kept)
        if len(repeated) <= room:
            self.kept.extend(sorted(repeated))
            return
        ordered = sorted(repeated)
        self.kept.extend(ordered[:room])
        if counts is not None:
            per_hash = counts()
            self.unlocated_rows += sum(per_hash[h] - 1 for h in ordered[room:])


class _Partitions:
    """Hashes split by 12 bits (the top 12 at level 0, the next 12 one level down), held in
    memory up to a bound, then appended partition by partition to one unlinked temp file
    (its space returns to /tmp when it is closed, or when the process dies)."""

    def __init__(
        self,
        *,
        level: int,
        max_in_memory: int,
        max_distinct: int,
        new_file: Callable[[], IO[bytes]],
    ) -> None:
        self.level = level
        self.shift = max(_BITS - PARTITION_BITS * (level + 1), 0)
        self.mask = (1 << (_BITS - PARTITION_BITS * level - self.shift)) - 1
        # Replaced in place on a spill: the tracker's add() holds this list.
        self.parts = [array("Q") for _ in range(self.mask + 1)]
        self.max_in_memory = max_in_memory
        self._max_distinct = max_distinct
        self._new_file = new_file
        self._file: IO[bytes] | None = None
        self.written = 0  # hashes in the file
        # Per spill, where each partition's segment starts in the file (in hashes), and one
        # more entry for where the spill ends.
        self._starts: list[array[int]] = []
        self.spills = 0
        self.closed = False
        self._closed_held = 0

    @property
    def held(self) -> int:
        """Hashes in memory."""
        return sum(map(len, self.parts)) if not self.closed else self._closed_held

    def extend(self, values: array[int]) -> None:
        """Add hashes (a split's child: not the hot path)."""
        parts, shift, mask, limit = self.parts, self.shift, self.mask, self.max_in_memory
        room = limit - self.held
        for value in values:
            parts[(value >> shift) & mask].append(value)
            room -= 1
            if not room:
                self.spill()
                room = limit

    def spill(self) -> None:
        """Append every partition to the spill file, and start again in memory."""
        if self._file is None:
            self._file = self._new_file()
        starts = array("Q", accumulate(map(len, self.parts), initial=self.written))
        for part in self.parts:
            if part:
                part.tofile(self._file)
        self._starts.append(starts)
        self.written = starts[-1]
        self.parts[:] = [array("Q") for _ in self.parts]
        self.spills += 1

    def _segments(self, index: int) -> Iterator[array[int]]:
        """The partition's hashes, one spilled segment at a time, then what is in memory."""
        if self._file is not None:
            self._file.flush()
            for starts in self._starts:
                length = starts[index + 1] - starts[index]
                if length:
                    self._file.seek(starts[index] * _ITEM)
                    segment = array("Q")
                    segment.fromfile(self._file, length)
                    yield segment
        if self.parts[index]:
            yield self.parts[index]

    def collect(self, found: _Found) -> None:
        """Every repeated hash, partition by partition in ascending hash order, into `found`."""
        if self.closed:
            raise RuntimeError("the tracker was closed before its keys were checked")
        for index in range(len(self.parts)):
            seen: set[int] = set()
            repeated: set[int] = set()
            rows = 0
            for segment in self._segments(index):
                rows += len(segment)
                new = set(segment)
                if len(new) != len(segment):  # repeats inside this segment
                    repeated.update(h for h, n in Counter(segment).items() if n > 1)
                repeated |= new & seen
                seen |= new
                if len(seen) > self._max_distinct and self.shift > 0:
                    break
            else:
                found.extra_rows += rows - len(seen)
                if repeated:
                    found.add(repeated, partial(self._counts, index, repeated))
                continue
            del seen, repeated  # before the split builds its own
            found.splits += 1
            self._split(index, found)

    def _counts(self, index: int, repeated: set[int]) -> Counter[int]:
        counts: Counter[int] = Counter()
        for segment in self._segments(index):
            counts.update(h for h in segment if h in repeated)
        return counts

    def _split(self, index: int, found: _Found) -> None:
        """Too many distinct hashes in one partition: split it by the next 12 bits, and check
        each part on its own (a child with its own spill file, closed when done)."""
        child = _Partitions(
            level=self.level + 1,
            max_in_memory=self.max_in_memory,
            max_distinct=self._max_distinct,
            new_file=self._new_file,
        )
        try:
            for segment in self._segments(index):
                child.extend(segment)
            child.collect(found)
        finally:
            child.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self.closed:
            self._closed_held = self.held
        self.parts[:] = []
        self._starts = []
        self.closed = True

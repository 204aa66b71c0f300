"""Repeated natural keys within one file: exact, in bounded memory, for any number of rows.

A run sees each key once per read, in order, and cannot hold 150 million keys (a 10 GiB CSV) in
a Lambda. So it makes two passes, the second only when the first finds something:

Pass 1, during the normal validation pass: `KeyTracker.add(key)` for every valid record. The key
is hashed to 64 bits with a stable hash (`stable_hash`: BLAKE2b with an 8-byte digest, the same
in every process, so shards of one file validated in different Lambdas can agree; Python's
`hash()` is salted per process) and appended to one `array('Q')` buffer. When the buffer holds
`max_in_memory` hashes, one tight loop moves them into 4,096 partitions by their top 12 bits,
and the partitions are appended, one segment each, to a single unlinked temp file in /tmp.
`repeated()` then checks each partition on its own, reading its segments back one at a time,
with C-speed set operations (its distinct hashes, and those met twice): no sort and no k-way
merge in Python. A partition with more than `max_distinct` distinct hashes (at the defaults,
not before ~2 billion distinct keys) is split again by the next 12 bits, so the check stays
bounded at any size; one key repeated on every row costs nothing extra, since memory follows
distinct hashes, not rows. A file whose hashes never left the buffer and number at most
`max_distinct` (most files) is checked as one set, with no partitions.

Pass 2, only when some hash repeats (a file without duplicates is read once, as today): the
caller reads the file again and asks `locator.check(key, line, member)` for every valid record.
Rows whose hash did not repeat cost one hash and one set lookup; the others are compared by
their exact key, so a hash collision never reports a duplicate. The first occurrence of each
such key is remembered; a later one gets back the first's line and member.

Bounds, at the defaults (max_in_memory=4Mi hashes, max_distinct=512Ki, max_repeated=100k):
- Pass 1 memory: the buffer, max_in_memory x 8 bytes = 32 MiB (+ up to 1/16 growth slack).
  Moving it into the partitions empties it from its end as they fill: together ~32 MiB.
- Check memory: what is still in memory (<= 32 MiB), one segment read back (one spill's share
  of one partition: ~8 KiB typically, 32 MiB at worst), and one group's sets, ~100-150 bytes
  per distinct hash: <= max_distinct of them (~50-75 MiB), in practice rows / 4,096 (150M
  rows: ~37k, ~5 MiB). The spill index is 32 KiB per spill (150M rows: 36 spills, 1.1 MiB).
- Temp disk (/tmp): nothing until max_in_memory rows; past that, 8 bytes per row: 150M rows
  (a 10 GiB CSV of ~70-byte rows) -> 1.2 GB. Lambda's default ephemeral storage (512 MiB)
  holds ~64M rows; a worker that takes 10 GiB files in one run needs >= 2 GiB of /tmp for this
  alone (plus other /tmp users of the same run, e.g. the error report's spool). The file is
  unlinked when made: its space comes back on close(), or when the process dies.
- Pass 2 memory: the repeated hashes kept (<= max_repeated, ~70 bytes each) and the first
  occurrence of each of their keys (~150 bytes each): <= ~22 MiB.

Shards (a sharded run, logic/shard_runs.py): each shard's tracker, made with
partition_bits=DUMP_BITS, `dump`s its hashes grouped by their top 4 bits behind an offset
header, instead of checking them. `repeated_across` checks every dump together one group at a
time (each dump's share of a group is one read: an S3 ranged GET), and splits a group with more
than `max_distinct` distinct hashes by the next 12 bits into a spill file, as a KeyTracker
splits a partition. It answers exactly what one tracker given all the keys would: the same
repeated hashes, counts and kept (smallest) hashes. Bounds: a shard holds what a tracker
holds, and its dump is 8 bytes a row (+ 144); the check holds one group's set (<= max_distinct
distinct hashes) or the split's buffer (32 MiB), and /tmp holds one group's hashes at most:
150M rows -> 1/16 of 1.2 GB, ~75 MB.

What is exact, and what is capped: every hash that repeats is counted (`RepeatedKeys.total`), and
every row whose hash repeats an earlier row's (`RepeatedKeys.extra_rows`); exact about hashes,
and about keys barring a 64-bit collision (~1 file in 1,600 of 150M distinct keys has one; it
only costs that file a pass 2 that finds nothing). Only the smallest `max_repeated` repeated
hashes are kept for pass 2 (`truncated` says when more repeated): their rows are located
exactly; the others' later rows (`RepeatedKeys.unlocated_rows`) are not, and the caller must
say so.
"""

from __future__ import annotations

import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
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
DUMP_BITS = 4  # a shard's dump: 16 groups, each read by one ranged GET (KeyTracker.dump)
DUMP_GROUPS = 1 << DUMP_BITS
PARTITION_BITS = 12  # 4,096 partitions: a 150M-row file checks ~37k distinct hashes at a time
_ITEM = array("Q").itemsize  # 8
_CHUNK = 1 << 16  # hashes per chunk of the buffer


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
        partition_bits: int = PARTITION_BITS,
    ) -> None:
        if max_in_memory < 1 or max_distinct < 1 or max_repeated < 0:
            raise ValueError("max_in_memory and max_distinct must be >= 1, max_repeated >= 0")
        self._hash = hash_key
        self._max_repeated = max_repeated
        self._max_distinct = max_distinct
        self._temp_dir = temp_dir
        self._top = _Partitions(
            bits=partition_bits,
            max_in_memory=max_in_memory,
            max_distinct=max_distinct,
            new_file=self._file,
        )
        # Hashes in arrival order, up to max_in_memory; the last chunk is being filled.
        self._chunks: list[array[int]] = [array("Q")]
        self._buffered = 0  # hashes in the full chunks
        self._result: RepeatedKeys | None = None
        self.splits = 0  # partitions split again while checking (too many distinct hashes)
        self.add: Callable[[str], None] = self._adder()
        """Count one occurrence of a key (call it for valid records only, in read order)."""

    def _adder(self) -> Callable[[str], None]:
        # The hot path, once per valid row: one closure with everything bound, and one
        # sequential append. Scattering each hash straight into its partition cost ~0.4 us
        # more per row inside the real validation pass (4,096 arrays' tails fight the parser
        # and pydantic for the CPU caches); partitioning a full buffer in one tight loop costs
        # ~0.1 us a hash. The buffer is a list of chunks of at most 64Ki hashes (512 KiB),
        # not one array: freed one by one as they are partitioned, they make room for the
        # partitions, where one 32 MiB array, grown and emptied 36 times for 150M rows, left
        # the allocator holding ~30 MiB more at the peak.
        chunk = self._chunks[-1]
        room = self._room()  # hashes until this chunk is full, counted down in a cell

        if self._hash is stable_hash and sys.byteorder == "little":
            # stable_hash inlined, its digest appended as it is: on a little-endian machine
            # (x86_64 and arm64 Lambdas) those 8 bytes are the stable_hash value.

            def add(key: str, _blake2b: Callable[..., Any] = blake2b) -> None:
                nonlocal room, chunk
                chunk.frombytes(
                    _blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                )
                room -= 1
                if not room:
                    chunk = self._next_chunk()
                    room = self._room()

            return add

        hash_key = self._hash

        def add_hashed(key: str) -> None:
            nonlocal room, chunk
            chunk.append(hash_key(key))
            room -= 1
            if not room:
                chunk = self._next_chunk()
                room = self._room()

        return add_hashed

    def _room(self) -> int:
        return min(_CHUNK, self._top.max_in_memory - self._buffered)

    def _next_chunk(self) -> array[int]:
        """The current chunk is full: start another, after moving the buffer into the
        partitions (and spilling them) when it holds max_in_memory hashes."""
        self._buffered += len(self._chunks[-1])
        if self._buffered >= self._top.max_in_memory:
            self._top.take(self._chunks)
            self._buffered = 0
        self._chunks.append(array("Q"))
        return self._chunks[-1]

    @property
    def rows(self) -> int:
        """Keys added."""
        return self._top.written + self._top.held + sum(map(len, self._chunks))

    @property
    def spills(self) -> int:
        """How many times memory was full and went to /tmp (0: everything stayed in memory)."""
        return self._top.spills

    def repeated(self) -> RepeatedKeys:
        """The hashes seen more than once (computed once; no `add` after it)."""
        if self._result is None:
            if self._top.closed:
                raise RuntimeError("the tracker was closed before its keys were checked")
            found = _Found(self._max_repeated)
            chunks = self._chunks
            if not (self._top.spills or self._top.held) and self.rows <= self._max_distinct:
                # Everything is still in the buffer, and few enough to check at once: no
                # partitions (4,096 of them cost ~20 ms, i.e. 0.07 us a row of a 300k-row file).
                found.check(chunks, None, partial(_counts, chunks))
            else:
                self._top.take(chunks)
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

    def dump(self, out: IO[bytes]) -> int:
        """Instead of `repeated()`: write every hash to `out`, grouped by the top partition
        bits, for `repeated_across` to check together with other trackers' dumps (the shards
        of a sharded run each dump theirs; make the tracker with partition_bits=DUMP_BITS).
        Returns how many hashes were written; no `add` after it.

        The layout: 8-byte little-endian words, the number of groups G, then G + 1 offsets
        (in hashes: group g is hashes [offsets[g], offsets[g + 1])), then the hashes."""
        if self._top.closed:
            raise RuntimeError("the tracker was closed before its keys were dumped")
        self._top.take(self._chunks)
        groups = len(self._top.parts)
        sizes = [self._top.size(g) for g in range(groups)]
        _write_words(out, array("Q", [groups, *accumulate(sizes, initial=0)]))
        for group in range(groups):
            for segment in self._top.segments(group):
                _write_words(out, segment)
        self.close()
        return sum(sizes)

    def close(self) -> None:
        """Give back the memory and the /tmp space (the spill file is already unlinked)."""
        self._top.close()
        self._chunks = []
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


def _write_words(out: IO[bytes], words: array[int]) -> None:
    if sys.byteorder != "little":
        words = array("Q", words)
        words.byteswap()
    words.tofile(out)


def _words(data: bytes) -> array[int]:
    words = array("Q")
    words.frombytes(data)
    if sys.byteorder != "little":
        words.byteswap()
    return words


class HashDump:
    """One `KeyTracker.dump` read back a group at a time. `read(start, end)` returns bytes
    [start, end) of the dump (an S3 ranged GET, or a slice of the bytes already read)."""

    def __init__(self, read: Callable[[int, int], bytes]) -> None:
        self._read = read
        self._offsets: array[int] | None = None

    def _header(self) -> array[int]:
        if self._offsets is None:
            head = _words(self._read(0, (DUMP_GROUPS + 2) * _ITEM))
            if len(head) != DUMP_GROUPS + 2 or head[0] != DUMP_GROUPS:
                raise ValueError(f"not a dump of {DUMP_GROUPS} groups")
            self._offsets = head[1:]
        return self._offsets

    def group(self, index: int) -> array[int]:
        """The hashes of group `index` (one read; empty groups cost none)."""
        offsets = self._header()
        start, end = offsets[index], offsets[index + 1]
        if start == end:
            return array("Q")
        base = (DUMP_GROUPS + 2) * _ITEM
        return _words(self._read(base + start * _ITEM, base + end * _ITEM))


def repeated_across(
    dumps: Sequence[HashDump],
    *,
    max_in_memory: int = DEFAULT_MAX_IN_MEMORY,
    max_distinct: int = DEFAULT_MAX_DISTINCT,
    max_repeated: int = DEFAULT_MAX_REPEATED,
    temp_dir: str | None = None,
) -> RepeatedKeys:
    """The hashes seen more than once over all `dumps` together: what one KeyTracker given
    every dump's keys would answer (the same repeated hashes, the same smallest ones kept).

    One group at a time, each dump's share of it read on its own: a group whose distinct
    hashes fit (max_distinct) is checked as one set; a bigger one is split by the next 12 bits
    into a spill file, as a KeyTracker's partition is. Memory: one group's set, or the split's
    max_in_memory buffer; /tmp: one group's hashes at most (1/16 of all)."""

    def new_file() -> IO[bytes]:
        return tempfile.TemporaryFile(prefix="intake-keys-", dir=temp_dir)

    found = _Found(max_repeated)
    groups = _Dumps(
        dumps, max_in_memory=max_in_memory, max_distinct=max_distinct, new_file=new_file
    )
    try:
        groups.collect(found)
    finally:
        groups.close()
    return RepeatedKeys(
        frozenset(found.kept),
        total=found.total,
        extra_rows=found.extra_rows,
        unlocated_rows=found.unlocated_rows,
    )


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

    def unlocated_error(self, field: str) -> RowError | None:
        """The one error that counts the later rows no `duplicate_key` error locates (more
        keys repeated than were kept), or None when every one is located."""
        if not self.truncated:
            return None
        return RowError(
            field=field,
            code=DUPLICATE_KEY,
            message=f"{self.unlocated_rows} more rows repeat the key of an earlier row; "
            f"only {len(self)} repeated keys are located, and with on_invalid=skip "
            "the others keep their last row's values",
        )

    def to_bytes(self) -> bytes:
        """The hashes kept and the counts, to hand to other processes (stable_hash only)."""
        words = array("Q", [self.total, self.extra_rows, self.unlocated_rows])
        words.extend(sorted(self.hashes))
        if sys.byteorder != "little":
            words.byteswap()
        return words.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> RepeatedKeys:
        words = _words(data)
        total, extra_rows, unlocated_rows = words[:3]
        return cls(
            frozenset(words[3:]), total=total, extra_rows=extra_rows, unlocated_rows=unlocated_rows
        )


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

    def check(
        self,
        segments: Iterable[array[int]],
        max_distinct: int | None,
        counts: Callable[[set[int]], Counter[int]],
    ) -> bool:
        """Take the repeated hashes of one group of hashes (a partition, read a segment at a
        time) with C-speed set operations; False, having taken nothing, past max_distinct
        distinct hashes. `counts` re-reads the group for the row counts of given hashes."""
        seen: set[int] = set()
        repeated: set[int] = set()
        rows = 0
        for segment in segments:
            rows += len(segment)
            new = set(segment)
            if len(new) != len(segment):  # repeats inside this segment
                repeated.update(h for h, n in Counter(segment).items() if n > 1)
            if seen:
                repeated |= new & seen
                seen |= new
            else:
                seen = new  # the first (often the only) segment: no copy
            if max_distinct is not None and len(seen) > max_distinct:
                return False
        self.extra_rows += rows - len(seen)
        if repeated:
            self._keep(repeated, counts)
        return True

    def _keep(self, repeated: set[int], counts: Callable[[set[int]], Counter[int]]) -> None:
        self.total += len(repeated)
        room = self.limit - len(self.kept)
        if len(repeated) <= room:
            self.kept.extend(sorted(repeated))
            return
        ordered = sorted(repeated)
        self.kept.extend(ordered[:room])
        per_hash = counts(set(ordered[room:]))
        self.unlocated_rows += sum(n - 1 for n in per_hash.values())


def _counts(segments: Iterable[array[int]], hashes: set[int]) -> Counter[int]:
    """How many times each of `hashes` occurs."""
    counts: Counter[int] = Counter()
    for segment in segments:
        counts.update(h for h in segment if h in hashes)
    return counts


class _Partitions:
    """Hashes split by 12 bits (the top 12 at the top level, the next 12 one level down; a
    shard's dump by its top 4, DUMP_BITS), held in memory up to a bound, then appended
    partition by partition to one unlinked temp file (its space returns to /tmp when it is
    closed, or when the process dies)."""

    def __init__(
        self,
        *,
        top: int = 0,
        bits: int = PARTITION_BITS,
        max_in_memory: int,
        max_distinct: int,
        new_file: Callable[[], IO[bytes]],
    ) -> None:
        # Split by the `bits` bits below the `top` bits that the partition above split by.
        self.shift = max(_BITS - top - bits, 0)
        self.mask = (1 << (_BITS - top - self.shift)) - 1
        # Emptied (replaced in place) by each spill.
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
        self.held = 0  # hashes in memory
        self.closed = False

    def take(self, chunks: list[array[int]]) -> None:
        """Move every hash of `chunks` into the partitions, freeing each chunk once it is
        moved: the buffer and the partitions together hold about as much as the buffer did."""
        while chunks:
            self.extend(chunks.pop())

    def extend(self, values: array[int]) -> None:
        """Add hashes, spilling each time max_in_memory are held."""
        start = 0
        while start < len(values):
            piece = values[start : start + self.max_in_memory - self.held]
            self._scatter(piece)
            self.held += len(piece)
            start += len(piece)
            if self.held >= self.max_in_memory:
                self.spill()

    def _scatter(self, values: array[int]) -> None:
        # The one per-hash loop after the hot path (~0.1 us a hash): bound appends, one shift.
        appends = [part.append for part in self.parts]
        shift, mask = self.shift, self.mask
        if shift + mask.bit_length() == _BITS:  # the top bits: no mask needed
            for value in values:
                appends[value >> shift](value)
        else:
            for value in values:
                appends[(value >> shift) & mask](value)

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
        self.held = 0
        self.spills += 1

    def size(self, index: int) -> int:
        """How many hashes partition `index` holds, spilled and in memory."""
        return sum(s[index + 1] - s[index] for s in self._starts) + len(self.parts[index])

    def segments(self, index: int) -> Iterator[array[int]]:
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
        limit = self._max_distinct if self.shift > 0 else None  # no bits left: no split
        for index in range(len(self.parts)):
            if not found.check(self.segments(index), limit, partial(self._counts, index)):
                found.splits += 1
                self._split(index, found)

    def _counts(self, index: int, repeated: set[int]) -> Counter[int]:
        return _counts(self.segments(index), repeated)

    def _split(self, index: int, found: _Found) -> None:
        """Too many distinct hashes in one partition: split it by the next 12 bits, and check
        each part on its own (a child with its own spill file, closed when done)."""
        child = _Partitions(
            top=_BITS - self.shift,
            max_in_memory=self.max_in_memory,
            max_distinct=self._max_distinct,
            new_file=self._new_file,
        )
        try:
            for segment in self.segments(index):
                child.extend(segment)
            child.collect(found)
        finally:
            child.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.parts[:] = []
        self._starts = []
        self.closed = True


class _Dumps(_Partitions):
    """Every dump's hashes split by the dumps' groups (their top DUMP_BITS bits): group g is
    the dumps' groups g, read one dump at a time."""

    def __init__(
        self,
        dumps: Sequence[HashDump],
        *,
        max_in_memory: int,
        max_distinct: int,
        new_file: Callable[[], IO[bytes]],
    ) -> None:
        super().__init__(
            bits=DUMP_BITS,
            max_in_memory=max_in_memory,
            max_distinct=max_distinct,
            new_file=new_file,
        )
        self._dumps = dumps

    def segments(self, index: int) -> Iterator[array[int]]:
        for dump in self._dumps:
            segment = dump.group(index)
            if segment:
                yield segment

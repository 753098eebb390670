"""The spool: an append-only log, on disk, of the records no server has accepted yet.

Theory of operation. The spool is a directory of segment files named by a growing number
(``00000000000000000001.seg``, ...) and a ``lock`` file. A segment is an 8-byte magic
(:data:`MAGIC`) followed by records, each a 19-byte header and a payload::

    marker  u16  0xA55A: where a record starts (never found inside UTF-8 JSON)
    length  u32  payload bytes
    crc     u32  CRC-32 of length, kind, seq and payload
    kind    u8   1 = data, 2 = acks
    seq     u64  data: the record's sequence number (0 for acks)
    payload      data: u8 key length, key (the lane, e.g. b"Segment/batch"), the message JSON
                 acks: the u64 sequence numbers of records that reached a final outcome

Rules (all of them live here):

1. Records are only ever appended, and only to the newest segment; a written byte is never
   changed. A data record is *live* until an ack record names its sequence number.
2. Only the oldest segment is ever removed: unlinked once none of its records is live, or,
   while the spool is over half full, *compacted* once at most half of its bytes are live
   (its live records are copied, bytes unchanged, to the newest segment, which is synced
   before the old one is unlinked). An ack record names only records written before it, so
   removing the oldest segment can never bring an acknowledged record back.
3. Recovery reads every segment, keeps each record whose header and CRC check out, resyncs on
   the next marker after damage and reports every damaged region. The live records are then
   rewritten in sequence order into fresh segments, which are synced before the old ones are
   unlinked. A crash at any point leaves a directory that recovery reads the same way: a
   record found twice (same sequence number) counts once. If the rewrite fails (a full
   disk), what it wrote is removed and the old segments are kept as they are, live records
   and all: they are removed, oldest first, as their records are acknowledged.
4. The byte bound counts every segment byte on disk plus what is staged. Data records may
   fill it up to one segment short: that reserve takes the ack records and compaction copies
   written while the spool is full. Admission (block or drop) is the caller's decision,
   asked through :meth:`Spool.has_room`.
5. A failed write (``ENOSPC``) leaves no trace: each segment the job wrote to is cut back
   to its length before the job (a segment the job created is unlinked), and
   :meth:`Spool.failed` stages again what the job held that is still needed (live data
   records, acknowledgments), so the next job writes it to the same segments. Segments with
   no live record are unlinked before a job writes anything: that frees room on a full disk,
   and is safe since a dead oldest segment holds nothing any later record depends on.

Forks. A child process inherits the lock's and the open segment's descriptors; they are
closed in the child at once (the lock stays with the parent, whose descriptor holds it) and
the child's copy of the spool refuses all I/O: only the process that opened a spool touches it.

Threading. Decisions (sequence numbers, which segment, when to rotate, compact or unlink,
the byte count) are made by :meth:`Spool.stage`, :meth:`Spool.ack` and :meth:`Spool.take` in
the caller's thread, the event loop's; the file I/O of the resulting :class:`Job` is done by
:meth:`Spool.write`, meant for a worker thread, one job at a time. This module knows no event
loop: the asyncio side, with group commit, is ``_spooler.py``.
"""

from __future__ import annotations

import os
import struct
import weakref
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ._exceptions import AnalyticsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, one process per spool
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "HEADER",
    "MAGIC",
    "Damage",
    "Job",
    "Record",
    "Recovery",
    "Spool",
    "SpoolError",
    "parse",
]

#: Every segment starts with these bytes; the last one is the format version.
MAGIC = b"AIOSPOL\x01"
#: The record header: marker, length, crc, kind, seq.
HEADER = struct.Struct("<HIIBQ")
_CRC_FIELDS = struct.Struct("<IBQ")  # length, kind, seq: what the CRC covers before the payload
_MARKER = 0xA55A
_HEADER_SIZE = HEADER.size
_pack_header = HEADER.pack
_pack_crc_fields = _CRC_FIELDS.pack
_crc32 = zlib.crc32
_MARKER_BYTES = _MARKER.to_bytes(2, "little")
DATA = 1
ACKS = 2
#: A payload larger than this is damage, not data (messages are at most 32 KiB).
_MAX_PAYLOAD = 16 * 1024 * 1024
_ACKS_PER_RECORD = 65_536
_SUFFIX = ".seg"
_MIN_SEGMENT_BYTES = 64 * 1024
_MAX_SEGMENT_BYTES = 8 * 1024 * 1024
# The OS calls that write, as module globals: one place to see them (and to fail them in tests).
_fdatasync = getattr(os, "fdatasync", os.fsync)
_writev = getattr(os, "writev", None)
_write = os.write
_open = os.open
try:
    _IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX"))
except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
    _IOV_MAX = 16


class SpoolError(AnalyticsError, OSError):
    """The spool directory cannot be used: in use by another process, the disk is full
    (``errno`` is ``ENOSPC``), or another I/O error (``errno`` tells which)."""


class Record(NamedTuple):
    """One live record read back from the spool."""

    seq: int
    key: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class Damage:
    """A region of a segment that could not be read: ``reason`` is ``"corrupt"`` (bad magic,
    marker or CRC) or ``"truncated"`` (the file ends inside a record)."""

    path: str
    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.length} bytes at offset {self.offset} {self.reason}"


@dataclass(slots=True)
class Recovery:
    """What :meth:`Spool.recover` found: the live records in order, and the damage.
    ``kept`` is the error that prevented the rewrite (the old segments were kept as they
    are), or ``None``."""

    records: list[Record]
    damage: list[Damage]
    kept: OSError | None = None

    @property
    def damaged_bytes(self) -> int:
        """Bytes skipped over in damaged regions."""
        return sum(d.length for d in self.damage)


@dataclass(eq=False, slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0  # bytes written or staged, magic included
    disk: int = 0  # bytes written (by the worker thread)
    live: dict[int, int] = field(default_factory=dict)  # seq -> record bytes
    live_bytes: int = 0


@dataclass(slots=True)
class Job:
    """The I/O decided by :meth:`Spool.take`, carried out by :meth:`Spool.write`, in order:
    ``removes`` (dead oldest segments), ``writes`` (chunks per segment), ``copies`` (live
    records of a compacted segment), a sync if ``sync``, then ``unlinks`` (compacted
    segments and the dead ones after them). ``write`` takes off ``removes`` and ``unlinks``
    what it unlinked: the next job retries the rest, or :meth:`Spool.failed` puts it back."""

    writes: list[tuple[_Segment, list[bytes]]]
    copies: list[tuple[_Segment, frozenset[int], _Segment]]
    unlinks: list[_Segment]
    sync: bool
    records: int  #: data records in ``writes``
    removes: list[_Segment] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.writes or self.copies or self.unlinks or self.removes or self.sync)


def parse(buf: bytes, name: str = "") -> tuple[list[tuple[int, int, int, int]], list[Damage]]:
    """Parse a segment: ``(kind, seq, payload start, payload end)`` per good record, and the
    damaged regions. Damage never hides a good record behind it: the scan resyncs on the next
    marker whose record checks out."""
    records: list[tuple[int, int, int, int]] = []
    damage: list[Damage] = []
    size = len(buf)
    pos = len(MAGIC)
    if buf[:pos] != MAGIC:
        if size < pos and MAGIC.startswith(buf):
            if size:
                damage.append(Damage(name, 0, size, "truncated"))
            return records, damage
        pos = _resync(buf, 0)
        damage.append(Damage(name, 0, pos, "corrupt"))
    view = memoryview(buf)
    while pos < size:
        parsed = _record_at(buf, pos, view)
        if parsed is not None:
            records.append(parsed)
            pos = parsed[3]
            continue
        following = _resync(buf, pos + 1)
        reason = "corrupt" if following < size or _header_ok(buf, pos) is False else "truncated"
        damage.append(Damage(name, pos, following - pos, reason))
        pos = following
    return records, damage


def _header_ok(buf: bytes, pos: int) -> bool | None:
    """Whether the header at ``pos`` is plausible (``None``: the file ends inside it)."""
    if len(buf) - pos < HEADER.size:
        return None if _MARKER_BYTES.startswith(buf[pos : pos + 2]) else False
    marker, length, _, kind, _ = HEADER.unpack_from(buf, pos)
    return marker == _MARKER and kind in (DATA, ACKS) and length <= _MAX_PAYLOAD


def _record_at(
    buf: bytes, pos: int, view: memoryview | None = None
) -> tuple[int, int, int, int] | None:
    if len(buf) - pos < HEADER.size:
        return None
    marker, length, crc, kind, seq = HEADER.unpack_from(buf, pos)
    start = pos + HEADER.size
    end = start + length
    if marker != _MARKER or kind not in (DATA, ACKS) or length > _MAX_PAYLOAD or end > len(buf):
        return None
    payload = (view if view is not None else memoryview(buf))[start:end]
    if zlib.crc32(payload, zlib.crc32(_CRC_FIELDS.pack(length, kind, seq))) != crc:
        return None
    return kind, seq, start, end


def _resync(buf: bytes, pos: int) -> int:
    """The offset of the next record that checks out, or the end of ``buf``."""
    while (pos := buf.find(_MARKER_BYTES, pos)) >= 0:
        if _record_at(buf, pos) is not None:
            return pos
        pos += 1
    return len(buf)


def _header(kind: int, seq: int, *parts: bytes) -> bytes:
    length = sum(len(p) for p in parts)
    crc = zlib.crc32(_CRC_FIELDS.pack(length, kind, seq))
    for part in parts:
        crc = zlib.crc32(part, crc)
    return HEADER.pack(_MARKER, length, crc, kind, seq)


def _write_all(fd: int, chunks: list[bytes]) -> int:
    """Write ``chunks`` in order with as few system calls and copies as the OS allows;
    return the bytes written."""
    if _writev is None:  # pragma: no cover - Windows
        chunks = [b"".join(chunks)]
    total = 0
    for i in range(0, len(chunks), _IOV_MAX):
        part = chunks[i : i + _IOV_MAX]
        if _writev is not None:
            written = _writev(fd, part)
        else:  # pragma: no cover - Windows
            written = _write(fd, part[0])
        size = sum(len(c) for c in part)
        if written < size:  # short write: finish it the slow way
            rest = memoryview(b"".join(part))[written:]
            while rest:
                rest = rest[_write(fd, rest) :]
        total += size
    return total


def _unlink(segments: list[_Segment]) -> None:
    """Unlink segments in order, taking each off the list; stop at the first that fails."""
    while segments:
        try:
            segments[0].path.unlink(missing_ok=True)
        except OSError:
            return
        del segments[0]


def _segment_bytes(max_bytes: int) -> int:
    return max(_MIN_SEGMENT_BYTES, min(_MAX_SEGMENT_BYTES, max_bytes // 16))


class Spool:
    """A durable log of records, bounded in bytes. See the module docstring for the rules.

    Usage (the client drives it from the event loop, with the I/O in a worker thread)::

        spool = Spool("spool/", max_bytes=64 * 2**20)
        recovery = spool.recover()          # I/O: lock, read, rewrite; the records to replay
        seq = spool.stage(b"Segment/batch", b'{"type":"track",...}')
        spool.write(spool.take(sync=True))  # I/O: on disk once this returns
        spool.ack([seq])                    # the server accepted it
        spool.write(spool.take(sync=False))
        spool.close()                       # I/O: final sync; an empty spool leaves no segment

    Args:
        path: the directory (created if missing).
        max_bytes: the most bytes of segments the spool may hold.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.segment_bytes = _segment_bytes(max_bytes)
        #: Segment bytes on disk plus staged, the figure the bound applies to.
        self.used_bytes = 0
        #: Staged bytes not yet handed to a job.
        self.staged_bytes = 0
        #: Staged data records not yet handed to a job.
        self.staged_records = 0
        self._segments: list[_Segment] = []
        self._where: dict[int, _Segment] = {}
        self._pending: list[tuple[_Segment, list[bytes]]] = []
        self._acked: list[int] = []
        self._next_seq = 1
        self._next_number = 1
        self._prefixes: dict[bytes, bytes] = {}
        self._last: Job | None = None  # the last job taken: what it could not unlink
        self._sealed: _Segment | None = None  # an old segment kept by recovery: not appended to
        self._fd: int | None = None
        self._fd_segment: _Segment | None = None
        self._lock_fd: int | None = None
        self._forked = False
        self._directory_dirty = False

    def __repr__(self) -> str:
        return (
            f"<Spool {str(self.path)!r} {self.live_records} live records, "
            f"{self.used_bytes}/{self.max_bytes} bytes>"
        )

    @property
    def live_records(self) -> int:
        """Records written or staged and not yet acknowledged."""
        return len(self._where)

    @property
    def segments(self) -> int:
        """How many segment files the spool holds (or is about to create)."""
        return len(self._segments)

    # -- the event loop's side: decisions, no I/O ----------------------------------------

    def record_bytes(self, key: bytes, data: bytes) -> int:
        """The bytes a data record of ``key`` and ``data`` takes on disk."""
        return HEADER.size + 1 + len(key) + len(data)

    def has_room(self, size: int) -> bool:
        """Whether a data record of ``size`` bytes may be staged: data fills at most
        ``max_bytes`` less one segment, which is kept for ack records and compaction."""
        return self.used_bytes + size <= self.max_bytes - self.segment_bytes

    def stage(self, key: bytes, data: bytes) -> int:
        """Stage one data record for the next job; return its sequence number."""
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(key) > 255:
                raise ValueError("a spool key is at most 255 bytes")
            prefix = self._prefixes[key] = bytes((len(key),)) + key
        seq = self._next_seq
        self._next_seq = seq + 1
        length = len(prefix) + len(data)
        crc = _crc32(data, _crc32(prefix, _crc32(_pack_crc_fields(length, DATA, seq))))
        size = _HEADER_SIZE + length
        pending = self._pending
        segment = self._segments[-1] if self._segments else None
        if (  # the common case: more for the segment being staged, with room in it
            pending and pending[-1][0] is segment and segment.size + size <= self.segment_bytes
        ):
            chunks = pending[-1][1]
        else:
            segment, chunks = self._chunks_for(size)
        chunks += (_pack_header(_MARKER, length, crc, DATA, seq), prefix, data)
        segment.size += size
        segment.live[seq] = size
        segment.live_bytes += size
        self._where[seq] = segment
        self.used_bytes += size
        self.staged_bytes += size
        self.staged_records += 1
        return seq

    def ack(self, seqs: Iterable[int]) -> None:
        """Mark records as finished (accepted, or finally rejected): never replayed again."""
        where = self._where
        acked = self._acked
        for seq in seqs:
            segment = where.pop(seq, None)
            if segment is not None:
                segment.live_bytes -= segment.live.pop(seq)
                acked.append(seq)

    def has_work(self) -> bool:
        """Whether :meth:`take` would produce a job that writes something."""
        last = self._last
        return bool(self._pending or self._acked or (last and (last.removes or last.unlinks)))

    def take(self, *, sync: bool) -> Job:
        """Hand over everything staged, plus ack records and segment removal, as one job."""
        acked = self._acked
        if acked:
            self._acked = []
            for i in range(0, len(acked), _ACKS_PER_RECORD):
                some = acked[i : i + _ACKS_PER_RECORD]
                payload = struct.pack(f"<{len(some)}Q", *some)
                header = _header(ACKS, 0, payload)
                size = len(header) + len(payload)
                segment, chunks = self._chunks_for(size)
                chunks += (header, payload)
                segment.size += size
                self.used_bytes += size
        copies: list[tuple[_Segment, frozenset[int], _Segment]] = []
        last, self._last = self._last, None
        removes = last.removes + last.unlinks if last is not None else []
        unlinks: list[_Segment] = []
        segments = self._segments
        while len(segments) > 1:
            head = segments[0]
            if head.live:
                # Copying costs: only under pressure, and only a mostly dead segment.
                if self.used_bytes * 2 <= self.max_bytes or head.live_bytes * 2 > head.size - len(
                    MAGIC
                ):
                    break
                target, chunks = self._chunks_for(head.live_bytes)
                if not chunks:  # the copy goes after what is staged for that segment
                    self._pending.pop()
                copies.append((head, frozenset(head.live), target))
                for seq, size in head.live.items():
                    self._where[seq] = target
                    target.live[seq] = size
                target.live_bytes += head.live_bytes
                target.size += head.live_bytes
                self.used_bytes += head.live_bytes
            del segments[0]
            # A dead segment goes before the writes, unless one before it waits for them (a
            # compacted one, or one this job writes to: unlinked, then written, it would stay).
            if copies or unlinks or any(segment is head for segment, _ in self._pending):
                unlinks.append(head)
            else:
                removes.append(head)
            self.used_bytes -= head.size
        job = Job(
            self._pending,
            copies,
            unlinks,
            sync or bool(copies),
            self.staged_records,
            removes,
        )
        self._pending = []
        self.staged_bytes = self.staged_records = 0
        self._last = job
        return job

    def _chunks_for(self, size: int) -> tuple[_Segment, list[bytes]]:
        """The segment a record of ``size`` bytes goes to (rotating when full), and its list
        of staged chunks."""
        segments = self._segments
        if (
            not segments
            or segments[-1] is self._sealed
            or (segments[-1].size > len(MAGIC) and segments[-1].size + size > self.segment_bytes)
        ):
            number = self._next_number
            self._next_number += 1
            segment = _Segment(number, self.path / f"{number:020d}{_SUFFIX}", len(MAGIC))
            segments.append(segment)
            self.used_bytes += len(MAGIC)
            self._pending.append((segment, [MAGIC]))
        pending = self._pending
        if not pending or pending[-1][0] is not segments[-1]:
            pending.append((segments[-1], []))
        return pending[-1]

    def failed(self, job: Job) -> None:
        """After :meth:`write` raised on ``job``: account for what it did not do (rule 5).

        Its live data records and its acknowledgments are staged again, for the same
        segments, ahead of anything staged since; its data records no longer live (their
        callers took them back) are forgotten, with their acknowledgments. Segments it did
        not unlink are the spool's again: a compaction that did not finish is undone."""
        back = job.removes + job.unlinks  # first: the sizes below count in used_bytes
        job.removes, job.unlinks = [], []
        self._segments[:0] = back
        self.used_bytes += sum(segment.size for segment in back)
        where = self._where
        forgotten: set[int] = set()
        acked: list[int] = []
        restaged: list[tuple[_Segment, list[bytes]]] = []
        for segment, chunks in job.writes:
            new = chunks[0] is MAGIC
            buf = b"".join(chunks) if new else MAGIC + b"".join(chunks)
            records, _ = parse(buf)
            kept: list[bytes] = [MAGIC] if new else []
            dropped = 0
            for kind, seq, start, end in records:
                if kind == DATA and where.get(seq) is segment:
                    kept.append(buf[start - _HEADER_SIZE : end])
                    continue
                dropped += end - start + _HEADER_SIZE
                if kind == DATA:
                    forgotten.add(seq)
                else:
                    acked += struct.unpack_from(f"<{(end - start) // 8}Q", buf, start)
            segment.size -= dropped
            self.used_bytes -= dropped
            self.staged_bytes += sum(len(chunk) for chunk in kept) - new * len(MAGIC)
            self.staged_records += len(kept) - new
            restaged.append((segment, kept))
        # Undo compactions: the records still live go back to their old segment.
        for source, seqs, target in job.copies:
            target.size -= source.live_bytes
            self.used_bytes -= source.live_bytes
            live: dict[int, int] = {}
            for seq in seqs:
                if where.get(seq) is target:
                    live[seq] = size = target.live.pop(seq)
                    target.live_bytes -= size
                    where[seq] = source
            source.live = live
            source.live_bytes = sum(live.values())
        # Ahead of what was staged since (merged when it is for the same segment).
        pending = self._pending
        if restaged and pending and pending[0][0] is restaged[-1][0]:
            restaged[-1][1].extend(pending.pop(0)[1])
        pending[:0] = [entry for entry in restaged if entry[1]]
        if forgotten:
            self._acked = [seq for seq in self._acked if seq not in forgotten]
        self._acked[:0] = [seq for seq in acked if seq not in forgotten]

    # -- the worker thread's side: I/O ---------------------------------------------------

    def write(self, job: Job) -> list[Damage]:
        """Carry out a job; return damage met while copying. Raises ``OSError`` if a write or
        the sync fails, having cut every segment the job wrote to back to its length before
        the job (rule 5): pass the job to :meth:`failed` then. A segment that cannot be
        unlinked is left to the next job."""
        if self._forked:
            raise SpoolError(f"the spool {str(self.path)!r} belongs to the parent process")
        _unlink(job.removes)  # first: room on a full disk
        marks = {segment: segment.disk for segment, _ in job.writes}
        for _, _, target in job.copies:
            marks.setdefault(target, target.disk)
        damage: list[Damage] = []
        try:
            for segment, chunks in job.writes:
                segment.disk += _write_all(self._select(segment), chunks)
            for source, seqs, target in job.copies:
                copied, found = self._copy_from(source.path, seqs)
                damage.extend(found)
                target.disk += _write_all(self._select(target), [copied])
            if job.sync:
                if self._fd is not None:
                    _fdatasync(self._fd)
                if self._directory_dirty:
                    self._directory_dirty = False
                    self._sync_directory()
        except OSError:
            self._cut_back(marks)
            raise
        _unlink(job.unlinks)
        return damage

    def _cut_back(self, marks: dict[_Segment, int]) -> None:
        """Truncate each segment to its mark (unlink it at 0): no torn record, no empty file.
        Best effort: what cannot be cut back stays, and recovery skips it as damage."""
        for segment, mark in marks.items():
            fd = self._fd if self._fd_segment is segment else None
            try:
                if mark == 0:
                    if fd is not None:
                        os.close(fd)
                        self._fd = self._fd_segment = None
                    segment.path.unlink(missing_ok=True)
                elif fd is not None:
                    os.ftruncate(fd, mark)
                else:
                    os.truncate(segment.path, mark)
            except OSError:
                continue
            segment.disk = mark

    def _select(self, segment: _Segment) -> int:
        """Make ``segment`` the open file (creating it); return its descriptor."""
        if self._fd_segment is segment and self._fd is not None:
            return self._fd
        if self._fd is not None:
            _fdatasync(self._fd)  # a rotated-out segment is always complete on disk
            os.close(self._fd)
            self._fd = None
        self._directory_dirty |= not segment.path.exists()
        self._fd = _open(segment.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fd_segment = segment
        return self._fd

    @staticmethod
    def _copy_from(source: Path, seqs: frozenset[int]) -> tuple[bytes, list[Damage]]:
        buf = source.read_bytes()
        records, damage = parse(buf, source.name)
        parts = [
            buf[start - HEADER.size : end]
            for kind, seq, start, end in records
            if kind == DATA and seq in seqs
        ]
        return b"".join(parts), damage

    def _sync_directory(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory handles
            return
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
            pass
        finally:
            os.close(fd)

    def recover(self) -> Recovery:
        """Lock the directory, read every segment and rewrite the live records into fresh
        ones (rule 3); if that fails (a full disk), keep the old segments as they are.
        Raises :class:`SpoolError` if another process holds the spool."""
        if self._forked:
            raise SpoolError(f"the spool {str(self.path)!r} belongs to the parent process")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        files = sorted(self._segment_files())
        # seq -> (file contents, start, end, file index)
        found: dict[int, tuple[bytes, int, int, int]] = {}
        sizes: list[int] = []
        acked: set[int] = set()
        damage: list[Damage] = []
        for index, (_, path) in enumerate(files):
            buf = path.read_bytes()
            sizes.append(len(buf))
            records, bad = parse(buf, path.name)
            damage.extend(bad)
            for kind, seq, start, end in records:
                if kind == DATA:
                    if seq not in found and start < end and start + 1 + buf[start] <= end:
                        found[seq] = (buf, start, end, index)
                else:
                    acked.update(struct.unpack_from(f"<{(end - start) // 8}Q", buf, start))
        # Fresh segments are numbered after every old one, so a crash before the old ones
        # are unlinked leaves the same records in the same order (rule 3).
        self._next_seq = max(max(found, default=0), max(acked, default=0)) + 1
        self._next_number = files[-1][0] + 1 if files else 1
        self._segments, self._where, self._pending, self._acked = [], {}, [], []
        self.used_bytes = 0
        records_out: list[Record] = []
        live = sorted(found.keys() - acked)
        where = self._where
        for seq in live:
            buf, start, end, _ = found[seq]
            raw = buf[start - HEADER.size : end]
            size = len(raw)
            segment, chunks = self._chunks_for(size)
            chunks.append(raw)
            segment.size += size
            segment.live[seq] = size
            segment.live_bytes += size
            where[seq] = segment
            key_end = start + 1 + buf[start]
            records_out.append(Record(seq, buf[start + 1 : key_end], buf[key_end:end]))
        self.used_bytes = sum(segment.size for segment in self._segments)
        if records_out:
            try:
                self.write(self.take(sync=True))
            except OSError as exc:  # what was written is gone (rule 5): keep the old ones
                self._keep(files, sizes, [(seq, found[seq]) for seq in live])
                return Recovery(records_out, damage, exc)
        for _, path in files:
            path.unlink()
        if files:
            self._sync_directory()
        return Recovery(records_out, damage)

    def _keep(
        self,
        files: list[tuple[int, Path]],
        sizes: list[int],
        live: list[tuple[int, tuple[bytes, int, int, int]]],
    ) -> None:
        """Make the old segment files the spool's segments, as recovery found them."""
        segments = [
            _Segment(n, path, size, size) for (n, path), size in zip(files, sizes, strict=True)
        ]
        where = self._where
        for seq, (_, start, end, index) in live:
            segment = segments[index]
            segment.live[seq] = size = end - start + HEADER.size
            segment.live_bytes += size
            where[seq] = segment
        if self._fd is not None:  # new records go to a new segment
            os.close(self._fd)
            self._fd = self._fd_segment = None
        self._segments = segments
        self._sealed = segments[-1] if segments else None
        self._pending, self._acked, self._last = [], [], None
        self.staged_bytes = self.staged_records = 0
        self.used_bytes = sum(sizes)

    def _segment_files(self) -> Iterator[tuple[int, Path]]:
        for path in self.path.iterdir():
            if path.suffix == _SUFFIX and path.stem.isdigit():
                yield int(path.stem), path

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = _open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise SpoolError(
                    f"the spool {str(self.path)!r} is in use by another client or process"
                ) from None
        self._lock_fd = fd
        _open_spools.add(self)

    def _after_fork_in_child(self) -> None:
        """In a forked child: let go of the inherited descriptors without touching the files
        or the lock (closing a descriptor never releases a lock another one holds), and
        refuse all I/O from now on."""
        self._forked = True
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:  # pragma: no cover - already closed
                    pass
        self._fd = self._fd_segment = self._lock_fd = None

    def close(self, job: Job | None = None) -> None:
        """Carry out a last job, sync, and release the directory; a spool left with no live
        record removes its segments, so a clean shutdown leaves no file behind but ``lock``.
        Raises ``OSError`` if the last job fails while records are live; with none, the
        segments are removed all the same (nothing in them is needed any more)."""
        if self._forked:  # the parent's: not ours to write, remove or unlock
            return
        try:
            error: OSError | None = None
            try:
                if job:
                    self.write(job)
                if self._fd is not None:
                    _fdatasync(self._fd)
            except OSError as exc:
                error = exc
            if self._fd is not None:
                os.close(self._fd)
            self._fd = self._fd_segment = None
            if not self._where:
                for segment in self._segments:
                    segment.path.unlink(missing_ok=True)
                if job:
                    for segment in job.removes + job.unlinks:
                        segment.path.unlink(missing_ok=True)
                self._segments = []
                self.used_bytes = 0
            elif error is not None:
                raise error
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            _open_spools.discard(self)


#: Spools holding their lock in this process: a forked child lets go of them.
_open_spools: weakref.WeakSet[Spool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for spool in list(_open_spools):
        spool._after_fork_in_child()
    _open_spools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

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
   record found twice (same sequence number) counts once.
4. The byte bound counts every segment byte on disk plus what is staged. Data records may
   fill it up to one segment short: that reserve takes the ack records and compaction copies
   written while the spool is full. Admission (block or drop) is the caller's decision,
   asked through :meth:`Spool.has_room`.

Threading. Decisions (sequence numbers, which segment, when to rotate, compact or unlink,
the byte count) are made by :meth:`Spool.stage`, :meth:`Spool.ack` and :meth:`Spool.take` in
the caller's thread, the event loop's; the file I/O of the resulting :class:`Job` is done by
:meth:`Spool.write`, meant for a worker thread, one job at a time. This module knows no event
loop: the asyncio side, with group commit, is ``_spooler.py``.
"""

from __future__ import annotations

import os
import struct
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
_fdatasync = getattr(os, "fdatasync", os.fsync)
_writev = getattr(os, "writev", None)
try:
    _IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX"))
except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
    _IOV_MAX = 16


class SpoolError(AnalyticsError, OSError):
    """The spool directory cannot be used: in use by another process, or an I/O error."""


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
    """What :meth:`Spool.recover` found: the live records in order, and the damage."""

    records: list[Record]
    damage: list[Damage]

    @property
    def damaged_bytes(self) -> int:
        """Bytes skipped over in damaged regions."""
        return sum(d.length for d in self.damage)


@dataclass(eq=False, slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0  # bytes written or staged, magic included
    live: dict[int, int] = field(default_factory=dict)  # seq -> record bytes
    live_bytes: int = 0


@dataclass(slots=True)
class Job:
    """The I/O decided by :meth:`Spool.take`, carried out by :meth:`Spool.write`, in order:
    ``writes`` (chunks per segment), ``copies`` (live records of a compacted segment), a sync
    if ``sync``, then ``unlinks``."""

    writes: list[tuple[_Segment, list[bytes]]]
    copies: list[tuple[Path, frozenset[int], _Segment]]
    unlinks: list[Path]
    sync: bool
    records: int  #: data records in ``writes``

    def __bool__(self) -> bool:
        return bool(self.writes or self.copies or self.unlinks or self.sync)


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


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write ``chunks`` in order with as few system calls and copies as the OS allows."""
    if _writev is None:  # pragma: no cover - Windows
        chunks = [b"".join(chunks)]
    for i in range(0, len(chunks), _IOV_MAX):
        part = chunks[i : i + _IOV_MAX]
        if _writev is not None:
            written = _writev(fd, part)
        else:  # pragma: no cover - Windows
            written = os.write(fd, part[0])
        if written < sum(len(c) for c in part):  # short write: finish it the slow way
            rest = memoryview(b"".join(part))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


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
        self._fd: int | None = None
        self._fd_segment: _Segment | None = None
        self._lock_fd: int | None = None
        self._broken = False
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
            pending
            and pending[-1][0] is segment
            and segment.size + size <= self.segment_bytes
            and not self._broken
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
        return bool(self._pending or self._acked)

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
        copies: list[tuple[Path, frozenset[int], _Segment]] = []
        unlinks: list[Path] = []
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
                copies.append((head.path, frozenset(head.live), target))
                for seq, size in head.live.items():
                    self._where[seq] = target
                    target.live[seq] = size
                target.live_bytes += head.live_bytes
                target.size += head.live_bytes
                self.used_bytes += head.live_bytes
            del segments[0]
            unlinks.append(head.path)
            self.used_bytes -= head.size
        job = Job(self._pending, copies, unlinks, sync or bool(copies), self.staged_records)
        self._pending = []
        self.staged_bytes = self.staged_records = 0
        return job

    def _chunks_for(self, size: int) -> tuple[_Segment, list[bytes]]:
        """The segment a record of ``size`` bytes goes to (rotating when full or broken),
        and its list of staged chunks."""
        segments = self._segments
        if (
            not segments
            or self._broken
            or (segments[-1].size > len(MAGIC) and segments[-1].size + size > self.segment_bytes)
        ):
            number = self._next_number
            self._next_number += 1
            segment = _Segment(number, self.path / f"{number:020d}{_SUFFIX}", len(MAGIC))
            segments.append(segment)
            self.used_bytes += len(MAGIC)
            self._pending.append((segment, [MAGIC]))
            self._broken = False
        pending = self._pending
        if not pending or pending[-1][0] is not segments[-1]:
            pending.append((segments[-1], []))
        return pending[-1]

    def failed(self) -> None:
        """After a job failed: start a new segment, since the newest one may end in a partial
        record. (What was written stays readable: recovery skips the damage.)"""
        self._broken = True

    # -- the worker thread's side: I/O ---------------------------------------------------

    def write(self, job: Job) -> list[Damage]:
        """Carry out a job; return damage met while copying. Raises ``OSError``."""
        damage: list[Damage] = []
        for segment, chunks in job.writes:
            _write_all(self._select(segment), chunks)
        for source, seqs, target in job.copies:
            copied, found = self._copy_from(source, seqs)
            damage.extend(found)
            _write_all(self._select(target), [copied])
        if job.sync:
            if self._fd is not None:
                _fdatasync(self._fd)
            if self._directory_dirty:
                self._directory_dirty = False
                self._sync_directory()
        for path in job.unlinks:
            path.unlink(missing_ok=True)
        return damage

    def _select(self, segment: _Segment) -> int:
        """Make ``segment`` the open file (creating it); return its descriptor."""
        if self._fd_segment is segment and self._fd is not None:
            return self._fd
        if self._fd is not None:
            _fdatasync(self._fd)  # a rotated-out segment is always complete on disk
            os.close(self._fd)
            self._fd = None
        self._directory_dirty |= not segment.path.exists()
        self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
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
        ones (rule 3). Raises :class:`SpoolError` if another process holds the spool."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        files = sorted(self._segment_files())
        found: dict[int, tuple[bytes, int, int]] = {}  # seq -> (file contents, start, end)
        acked: set[int] = set()
        damage: list[Damage] = []
        for _, path in files:
            buf = path.read_bytes()
            records, bad = parse(buf, path.name)
            damage.extend(bad)
            for kind, seq, start, end in records:
                if kind == DATA:
                    if seq not in found and start < end and start + 1 + buf[start] <= end:
                        found[seq] = (buf, start, end)
                else:
                    acked.update(struct.unpack_from(f"<{(end - start) // 8}Q", buf, start))
        # Fresh segments are numbered after every old one, so a crash before the old ones
        # are unlinked leaves the same records in the same order (rule 3).
        self._next_seq = max(max(found, default=0), max(acked, default=0)) + 1
        self._next_number = files[-1][0] + 1 if files else 1
        self._segments, self._where, self._pending, self._acked = [], {}, [], []
        self.used_bytes = 0
        records_out: list[Record] = []
        where = self._where
        for seq in sorted(found.keys() - acked):
            buf, start, end = found[seq]
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
            self.write(self.take(sync=True))
        for _, path in files:
            path.unlink()
        if files:
            self._sync_directory()
        return Recovery(records_out, damage)

    def _segment_files(self) -> Iterator[tuple[int, Path]]:
        for path in self.path.iterdir():
            if path.suffix == _SUFFIX and path.stem.isdigit():
                yield int(path.stem), path

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise SpoolError(
                    f"the spool {str(self.path)!r} is in use by another client or process"
                ) from None
        self._lock_fd = fd

    def close(self, job: Job | None = None) -> None:
        """Carry out a last job, sync, and release the directory; a spool left with no live
        record removes its segments, so a clean shutdown leaves no file behind but ``lock``."""
        try:
            if job:
                self.write(job)
            if self._fd is not None:
                _fdatasync(self._fd)
                os.close(self._fd)
            self._fd = self._fd_segment = None
            if not self._where:
                for segment in self._segments:
                    segment.path.unlink(missing_ok=True)
                self._segments = []
                self.used_bytes = 0
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

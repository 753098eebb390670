"""The asyncio side of the spool: admission, group commit and the writer task.

Theory of operation. A caller stages its records on the event loop (a few microseconds, no
I/O) and wakes the writer task. The writer takes everything staged so far as one
:class:`~aioanalytics._spool.Job` and runs it in a worker thread: while that job is written,
new records pile up for the next one, so any number of concurrent callers share one write
and one ``fdatasync`` (group commit). The event loop never waits on the disk.

Durability levels (``spool_durability``):

``"fsync"``
    ``append()`` returns once the job holding its records was written and synced: the
    message survives ``SIGKILL``, a kernel crash and a power cut.
``"interval"``
    ``append()`` returns at once. The writer writes continuously and syncs at most every
    :data:`SYNC_INTERVAL` seconds. ``SIGKILL`` loses only what was staged and not yet
    written: at most :data:`MAX_UNWRITTEN` bytes staged (past that, callers wait for the
    writer) plus the write in progress. A kernel crash or power cut also loses what was
    written in the last :data:`SYNC_INTERVAL` seconds.

Acks are written by the next job without a sync of their own: an ack lost to a crash means
the record is sent again on the next start (at least once), never that it is lost.

A failed write (a full disk: ``ENOSPC``) fails the callers waiting for it with a
:class:`~aioanalytics._spool.SpoolError` that says so; their messages were not accepted. The
spool leaves nothing of the failed write on disk and keeps everything else it needs (see
``_spool.py``, rule 5). Until a write with messages in it succeeds again, every call waits
for its write (with ``"interval"`` too), so each one hears whether the disk took its message;
what is left to write is retried every :data:`RETRY_INTERVAL` seconds at most, or at once
for a new call. Segments with nothing live are removed all the while: that is what frees
the disk as messages are delivered. The first failure is logged at ERROR, the recovery at
WARNING, with the count of failed writes in between.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import anyio

from ._exceptions import ClientClosedError, QueueFull
from ._spool import Recovery, Spool, SpoolError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_UNWRITTEN",
    "MIN_MAX_BYTES",
    "RETRY_INTERVAL",
    "SYNC_INTERVAL",
    "Durability",
    "Spooler",
]

logger = logging.getLogger("aioanalytics")

Durability = Literal["fsync", "interval"]

#: The default bound of a spool on disk.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: The smallest bound accepted: room for many 32 KiB messages and a few segments.
MIN_MAX_BYTES = 1024 * 1024
#: With ``"interval"``, the longest time written records wait for their ``fdatasync``.
SYNC_INTERVAL = 0.2
#: With ``"interval"``, staged bytes beyond which callers wait for the write in progress:
#: this bounds what ``SIGKILL`` can take.
MAX_UNWRITTEN = 256 * 1024
#: After a failed write, the longest wait before what is left (acks, records) is retried
#: when no call asks for a write sooner.
RETRY_INTERVAL = 1.0
_RETRY_FIRST = 0.05
_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class Spooler:
    """Drives a :class:`~aioanalytics._spool.Spool` from the event loop.

    Args:
        path: the spool directory.
        durability: ``"fsync"`` or ``"interval"`` (see the module docstring).
        max_bytes: the spool's bound on disk.
        on_full: ``"block"`` waits for room, ``"drop"`` raises :class:`QueueFull`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability,
        max_bytes: int,
        on_full: Literal["block", "drop"],
    ) -> None:
        self.spool = Spool(path, max_bytes=max_bytes)
        self.durability = durability
        self.on_full = on_full
        self._each = durability == "fsync"
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._commit: asyncio.Future[None] | None = None
        self._commit_seqs: list[int] = []  # what the callers waiting for _commit staged
        self._closing: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsynced = False
        self._last_sync = 0.0
        #: Jobs written, and how many of them were synced: the group-commit ratio is
        #: ``records / syncs``.
        self.jobs = 0
        self.syncs = 0
        self.records = 0
        #: Failed writes, in all; and the error of the last one while no write succeeded since.
        self.failures = 0
        self.failure: SpoolError | None = None
        self._failing_since = 0.0
        self._failed_in_a_row = 0
        self._retry_at = 0.0

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self, closing: asyncio.Future[None]) -> Recovery:
        """Lock and recover the spool (in a worker thread), report damage, start the writer.

        ``closing`` resolves when the client starts closing: callers waiting for room give
        up with :class:`ClientClosedError`.
        """
        try:
            recovery = await anyio.to_thread.run_sync(self.spool.recover)
        except SpoolError:
            raise
        except OSError as exc:
            message = f"cannot open the spool {str(self.spool.path)!r}: {exc}"
            raise (
                SpoolError(message) if exc.errno is None else SpoolError(exc.errno, message)
            ) from exc
        if recovery.kept is not None:
            logger.warning(
                "spool %r: could not rewrite it on open (%s); its %d segment(s) are used as "
                "they are, and removed as their records are delivered",
                str(self.spool.path),
                recovery.kept,
                self.spool.segments,
            )
        for damage in recovery.damage:
            logger.warning("spool damaged: %s; the records around it are kept", damage)
        if recovery.damage:
            logger.warning(
                "spool %r: %d damaged region(s), %d bytes skipped; %d record(s) recovered",
                str(self.spool.path),
                len(recovery.damage),
                recovery.damaged_bytes,
                len(recovery.records),
            )
        self._closing = closing
        loop = asyncio.get_running_loop()
        self._last_sync = loop.time()
        self._writer = loop.create_task(self._run(), name="aioanalytics-spool")
        return recovery

    async def aclose(self) -> None:
        """Write what is left (acks included), sync, and release the directory."""
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            await asyncio.wait({self._writer})
        try:
            await anyio.to_thread.run_sync(self.spool.close, self.spool.take(sync=True))
        except OSError as exc:
            logger.error("closing the spool %r failed: %s", str(self.spool.path), exc)

    # -- intake ---------------------------------------------------------------------------

    async def append(self, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        """Stage ``(key, data)`` records and return their sequence numbers once they are as
        durable as the level promises. Cancelled or failed: the records are taken back."""
        spool = self.spool
        if len(records) == 1:
            size = spool.record_bytes(*records[0])
        else:
            size = sum(spool.record_bytes(key, data) for key, data in records)
        if not spool.has_room(size):
            await self._wait_for_room(size)
        seqs = [spool.stage(key, data) for key, data in records]
        self._wake.set()
        if self._each or self.failure is not None or spool.staged_bytes > MAX_UNWRITTEN:
            commit = self._commit
            if commit is None:
                commit = self._commit = asyncio.get_running_loop().create_future()
            self._commit_seqs += seqs
            try:
                await asyncio.shield(commit)
            except BaseException:
                self.ack(seqs)  # never handed out: must not come back on the next start
                raise
        return seqs

    def ack(self, seqs: Iterable[int], *, wake: bool = True) -> None:
        """These records reached a final outcome: drop them from the spool. ``wake=False``
        leaves writing the acknowledgments to a later call (or the next write)."""
        self.spool.ack(seqs)
        if wake:
            self._wake.set()

    async def _wait_for_room(self, size: int) -> None:
        spool = self.spool
        if self.on_full == "drop":
            raise QueueFull(f"the spool is full ({spool.used_bytes} of {spool.max_bytes} bytes)")
        closing = self._closing
        assert closing is not None
        while not spool.has_room(size):
            if closing.done():
                raise ClientClosedError("the client closed while this call waited for the spool")
            self._room.clear()
            self._wake.set()
            room = asyncio.ensure_future(self._room.wait())
            waiting: set[asyncio.Future[Any]] = {room, closing}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                room.cancel()

    # -- the writer -----------------------------------------------------------------------

    async def _run(self) -> None:
        spool = self.spool
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            due = self._unsynced and now - self._last_sync >= SYNC_INTERVAL
            # After a failure, what is left waits for the retry time, unless a caller waits.
            held = self.failure is not None and self._commit is None and now < self._retry_at
            if (not spool.has_work() and not due) or held:
                if self._stopping:
                    return
                self._wake.clear()
                deadline = self._retry_at if held else self._last_sync + SYNC_INTERVAL
                if held or self._unsynced:
                    try:
                        async with asyncio.timeout_at(deadline):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
                else:
                    await self._wake.wait()
                continue
            commit, self._commit = self._commit, None
            seqs, self._commit_seqs = self._commit_seqs, []
            sync = due or (self._each and (spool.staged_records > 0 or commit is not None))
            job = spool.take(sync=sync)
            try:
                damage = await anyio.to_thread.run_sync(spool.write, job)
            except Exception as exc:  # noqa: BLE001 - waiters must hear of it, not hang
                error = self._failed(exc, loop.time())
                spool.ack(seqs)  # their callers hear of it and take them back
                spool.failed(job)
                if commit is not None:
                    commit.set_exception(error)
                    commit.exception()  # retrieved: only its waiters care
                self._room.set()
                continue
            if self.failure is not None and job.records:  # the disk takes messages again
                self._recovered(loop.time())
            for region in damage:
                logger.warning("spool damaged: %s; the records around it are kept", region)
            self.jobs += 1
            self.records += job.records
            if job.sync:
                self.syncs += 1
                self._last_sync = now
                self._unsynced = False
            elif job.writes or job.copies:
                self._unsynced = True
            if commit is not None:
                commit.set_result(None)
            self._room.set()

    def _failed(self, exc: Exception, now: float) -> SpoolError:
        """Count and log a failed write; the error its callers get."""
        path = str(self.spool.path)
        code = getattr(exc, "errno", None)
        if code in _FULL:
            error = SpoolError(
                code,
                f"the disk is full ({errno.errorcode[code]}: {os.strerror(code)}): the spool "
                f"{path!r} cannot be written; the message was not accepted",
            )
        else:
            message = f"writing the spool {path!r} failed ({exc}); the message was not accepted"
            error = SpoolError(message) if code is None else SpoolError(code, message)
        error.__cause__ = exc
        self.failures += 1
        self._failed_in_a_row += 1
        backoff = _RETRY_FIRST * 2 ** min(self._failed_in_a_row - 1, 8)
        self._retry_at = now + min(RETRY_INTERVAL, backoff)
        if self.failure is None:
            self._failing_since = now
            logger.error(
                "writing the spool %r failed: %s; calls fail until a write succeeds", path, exc
            )
        else:
            logger.debug("writing the spool %r failed again: %s", path, exc)
        self.failure = error
        return error

    def _recovered(self, now: float) -> None:
        logger.warning(
            "the spool %r is written again, after %d failed write(s) over %.1f s",
            str(self.spool.path),
            self._failed_in_a_row,
            now - self._failing_since,
        )
        self.failure = None
        self._failed_in_a_row = 0

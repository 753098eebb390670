"""The spool on a full disk: calls fail clearly while it lasts and succeed again after, with
no restart; acknowledged segments are still removed; no file piles up; a spool left by a
full-disk episode opens.

Two disks: :class:`Disk`, a bound in bytes enforced at the spool's OS calls (every platform,
deterministic), and a real tmpfs of 256 KiB (root only: skipped where it cannot be mounted).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aioanalytics import Analytics, SpoolError, _spool
from aioanalytics._spool import MAGIC, Spool
from aioanalytics._spooler import Spooler
from tests.collector import Collector

KEY = b"Segment/batch"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def data(i: int, size: int = 1000) -> bytes:
    return b'{"messageId":"m%d","pad":"%s"}' % (i, b"x" * size)


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


def sizes(path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in segment_files(path)}


def crash(spool: Spool) -> None:
    """Let go of a spool the way a killed process does: no final write, no cleanup."""
    for fd in (spool._fd, spool._lock_fd):
        if fd is not None:
            os.close(fd)
    spool._fd = spool._lock_fd = None


class Disk:
    """A filesystem of ``capacity`` bytes for the segment files of ``path``, enforced where
    the spool writes: a write that does not fit writes what fits, and the next one fails
    with ``ENOSPC``, as on a real full disk. ``failures`` counts the writes refused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self.failures = 0
        monkeypatch.setattr(_spool, "_writev", self.writev)
        monkeypatch.setattr(_spool, "_write", self.write)

    def used(self) -> int:
        total = 0
        for entry in os.scandir(self.path):
            if entry.name.endswith(".seg"):
                try:
                    total += entry.stat().st_size
                except FileNotFoundError:  # unlinked meanwhile
                    pass
        return total

    def fill(self) -> None:
        """No room left from now on."""
        self.capacity = self.used()

    def writev(self, fd: int, buffers: list[bytes]) -> int:
        return self.write(fd, b"".join(buffers))

    def write(self, fd: int, buf: bytes | memoryview) -> int:
        room = self.capacity - self.used()
        if room <= 0:
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, bytes(buf[:room]))


def fill_spool(spool: Spool, count: int) -> list[int]:
    seqs = [spool.stage(KEY, data(i)) for i in range(count)]
    spool.write(spool.take(sync=True))
    return seqs


# -- the log, no event loop ----------------------------------------------------------------


def test_acknowledged_segments_are_removed_while_writes_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that fails to write still unlinks the segments with nothing live (first: that
    frees the disk), and the acks it could not write are written by the next job."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = fill_spool(spool, 200)  # about 200 KiB: four segments of 64 KiB
    assert len(segment_files(tmp_path)) >= 4
    disk = Disk(monkeypatch, tmp_path, 0)  # every write fails
    spool.ack(seqs[:130])
    spool.stage(KEY, data(1000))
    job = spool.take(sync=True)
    with pytest.raises(OSError) as info:
        spool.write(job)
    assert info.value.errno == errno.ENOSPC
    spool.failed(job)
    assert len(segment_files(tmp_path)) == 2  # the two oldest, dead, are gone
    assert spool.segments == 2
    assert spool.used_bytes == disk.used() + spool.staged_bytes
    assert spool.has_work()
    disk.capacity = 1 << 30  # room again: the retry writes the acks and the record
    spool.write(spool.take(sync=True))
    assert spool.used_bytes == disk.used()
    crash(spool)
    again = Spool(tmp_path, max_bytes=1 << 20)
    recovery = again.recover()
    assert recovery.damage == []
    assert [r.seq for r in recovery.records] == [*seqs[130:], seqs[-1] + 1]


def test_a_failed_write_leaves_no_torn_record_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut short by a full disk is cut back: the segment it appended to is as it
    was, the segment it created is gone; once there is room the same records are written,
    and recovery finds them all, with no damage."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = fill_spool(spool, 40)  # one segment, 41 KiB
    before = sizes(tmp_path)
    disk = Disk(monkeypatch, tmp_path, sum(before.values()) + 30_000)
    more = [spool.stage(KEY, data(i)) for i in range(40, 100)]  # fills it, then a new one
    job = spool.take(sync=False)
    assert len(job.writes) == 2 and job.writes[1][1][0] is MAGIC
    with pytest.raises(OSError, match="No space left"):
        spool.write(job)
    assert disk.failures == 1
    spool.failed(job)
    assert sizes(tmp_path) == before  # cut back, and no new (empty) file
    for _ in range(100):  # many failures, still nothing left behind
        spool.stage(KEY, data(0))
        job = spool.take(sync=False)
        with pytest.raises(OSError):
            spool.write(job)
        spool.failed(job)
    assert sizes(tmp_path) == before
    disk.capacity = 1 << 30
    spool.write(spool.take(sync=True))
    assert spool.used_bytes == disk.used()
    crash(spool)
    recovery = Spool(tmp_path, max_bytes=1 << 20).recover()
    assert recovery.damage == []
    assert [r.seq for r in recovery.records][:100] == seqs + more


def test_a_failed_sync_is_cut_back_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from fdatasync (as network and thin-provisioned filesystems report it) fails
    the job like a failed write: the records are staged again and written by the next one."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = fill_spool(spool, 10)
    real = _spool._fdatasync

    def full(fd: int) -> None:
        raise ENOSPC

    monkeypatch.setattr(_spool, "_fdatasync", full)
    more = [spool.stage(KEY, data(i)) for i in range(10, 20)]
    job = spool.take(sync=True)
    before = sizes(tmp_path)
    with pytest.raises(OSError):
        spool.write(job)
    spool.failed(job)
    assert sizes(tmp_path) == before
    monkeypatch.setattr(_spool, "_fdatasync", real)
    spool.write(spool.take(sync=True))
    crash(spool)
    recovery = Spool(tmp_path, max_bytes=1 << 20).recover()
    assert recovery.damage == [] and [r.seq for r in recovery.records] == seqs + more


def test_a_failed_compaction_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction that cannot write its copy keeps the old segment and its records; once
    they are acknowledged, the segment is removed without any copy."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = fill_spool(spool, 600)  # past half of 1 MiB
    first = segment_files(tmp_path)[0]
    straggler = seqs[1]
    spool.ack(s for s in seqs if s != straggler)
    disk = Disk(monkeypatch, tmp_path, 0)
    job = spool.take(sync=False)
    assert job.copies
    with pytest.raises(OSError):
        spool.write(job)
    spool.failed(job)
    assert first.exists() and spool.live_records == 1
    assert spool.used_bytes == disk.used()  # the dead segments after it are gone
    spool.ack([straggler])
    job = spool.take(sync=False)
    assert not job.copies and job.removes
    with pytest.raises(OSError):  # the ack record still cannot be written...
        spool.write(job)
    spool.failed(job)
    assert not first.exists()  # ...but the segment is gone
    disk.capacity = 1 << 30
    spool.write(spool.take(sync=False))  # the acks are retried
    crash(spool)
    assert Spool(tmp_path, max_bytes=1 << 20).recover().records == []


def test_open_after_a_full_disk_episode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A spool whose acks never reached the disk needs room to be rewritten on open; with
    none, it opens all the same: the old segments are used as they are, every valid record
    is replayed, and they go as their records are acknowledged."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = fill_spool(spool, 200)
    spool.ack(seqs[:100])  # delivered, but the ack records are never written
    crash(spool)
    before = sizes(tmp_path)
    disk = Disk(monkeypatch, tmp_path, sum(before.values()) + 20_000)  # not enough
    spool = Spool(tmp_path, max_bytes=1 << 20)
    recovery = spool.recover()
    assert isinstance(recovery.kept, OSError) and recovery.kept.errno == errno.ENOSPC
    assert [r.seq for r in recovery.records] == seqs  # at least once: the 100 come again
    assert recovery.damage == []
    assert sizes(tmp_path) == before  # what the rewrite wrote is gone
    assert spool.used_bytes == disk.used() and spool.live_records == 200
    spool.ack(seqs[:150])  # delivered again: the old segments go as they empty
    new = spool.stage(KEY, data(200))
    spool.write(spool.take(sync=True))
    after = sizes(tmp_path)
    assert len(after) <= len(before)  # old ones went, one new
    last = max(before)  # an old file is never appended to: the new record has its own
    assert after[last] == before[last] and max(after) > last
    crash(spool)
    recovery = Spool(tmp_path, max_bytes=1 << 20).recover()
    assert [r.seq for r in recovery.records] == [*seqs[150:], new]


@pytest.mark.parametrize("seed", range(12))
def test_random_full_disk_episodes_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Records staged and acknowledged at random, on a disk whose free space comes and goes
    (writes cut short anywhere, syncs failing), with crashes and restarts on a full disk:
    the byte count always matches the disk, no file is empty, a restart replays every live
    record a write took, and once there is room, recovery finds exactly the records still
    live, with no damage."""
    rng = random.Random(seed)
    path = tmp_path / "spool"
    spool = Spool(path, max_bytes=1 << 20)
    spool.recover()
    disk = Disk(monkeypatch, path, 1 << 30)
    real_sync = _spool._fdatasync
    live: set[int] = set()
    durable: set[int] = set()  # live records a successful write took
    failures = compactions = 0
    for _ in range(150):
        if rng.random() < 0.05:  # crash, and open again on a disk with little room
            crash(spool)
            disk.capacity = disk.used() + rng.choice([0, 5_000, 1 << 30])
            spool = Spool(path, max_bytes=1 << 20)
            recovery = spool.recover()
            found = {r.seq for r in recovery.records}
            assert recovery.damage == [] and durable & live <= found
            live, durable = found, set(found)
        for _ in range(rng.randrange(0, 30)):
            size = rng.randrange(10, 3000)
            if spool.has_room(spool.record_bytes(KEY, data(0, size))):
                live.add(spool.stage(KEY, data(rng.randrange(1000), size)))
        done = rng.sample(sorted(live), k=rng.randrange(0, len(live) // (1 + seed % 3) + 1))
        spool.ack(done)
        live.difference_update(done)
        disk.capacity = disk.used() + rng.choice([0, 100, 5_000, 50_000, 1 << 30])
        sync_fails = rng.random() < 0.1

        def sync(fd: int, fails: bool = sync_fails) -> None:
            if fails:
                raise ENOSPC
            real_sync(fd)

        monkeypatch.setattr(_spool, "_fdatasync", sync)
        last = spool._next_seq - 1  # the job takes every record up to this one
        job = spool.take(sync=rng.random() < 0.5)
        compactions += bool(job.copies)
        for _ in range(rng.choice([0, 0, 3])):  # staged while the job is written
            live.add(spool.stage(KEY, data(rng.randrange(1000), rng.randrange(10, 3000))))
        try:
            spool.write(job)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            spool.failed(job)
            failures += 1
        else:
            durable = set(live) - {seq for seq, _ in spool._where.items() if seq > last}
        staged = sum(len(chunk) for _, chunks in spool._pending for chunk in chunks)
        assert spool.used_bytes == disk.used() + staged
        assert all(p.stat().st_size > 0 for p in segment_files(path))
    assert failures > 20
    assert compactions > 0 or seed % 3 != 2  # acknowledging little, the spool compacts
    monkeypatch.setattr(_spool, "_fdatasync", real_sync)
    disk.capacity = 1 << 30
    spool.write(spool.take(sync=True))
    assert spool.used_bytes == disk.used()
    assert set(spool._where) == live
    crash(spool)
    recovery = Spool(path, max_bytes=1 << 20).recover()
    assert recovery.damage == []
    assert [r.seq for r in recovery.records] == sorted(live)


def test_close_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing on a full disk: with nothing live the segments go all the same (the acks that
    cannot be written are not needed); with records live the error is raised and the
    segments stay, for the next start."""
    for live in (False, True):
        path = tmp_path / str(live)
        disk = Disk(monkeypatch, path.parent, 1 << 30)
        spool = Spool(path, max_bytes=1 << 20)
        spool.recover()
        seqs = fill_spool(spool, 100)
        spool.ack(seqs[: 99 if live else 100])
        disk.capacity = 0
        if live:
            with pytest.raises(OSError, match="No space left"):
                spool.close(spool.take(sync=True))
            recovery = Spool(path, max_bytes=1 << 20).recover()
            assert seqs[-1] in {r.seq for r in recovery.records}
        else:
            spool.close(spool.take(sync=True))
            assert segment_files(path) == []


# -- the asyncio driver ----------------------------------------------------------------------


async def open_spooler(path: Path, durability: str = "fsync") -> Spooler:
    spooler = Spooler(path, durability=durability, max_bytes=1 << 20, on_full="block")  # type: ignore[arg-type]
    await spooler.open(asyncio.get_running_loop().create_future())
    return spooler


async def fill_disk(spooler: Spooler) -> list[int]:
    """Append until the disk refuses; the seqs accepted."""
    seqs: list[int] = []
    with pytest.raises(SpoolError) as info:
        while True:
            seqs += await spooler.append([(KEY, data(len(seqs)))])
    assert info.value.errno == errno.ENOSPC
    assert "disk is full" in str(info.value) and "No space left" in str(info.value)
    return seqs


@pytest.mark.anyio
async def test_calls_fail_clearly_while_full_and_succeed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the disk is full every append fails with SpoolError (ENOSPC, "disk is full"),
    logged once at ERROR; no file piles up; once there is room, appends succeed again."""
    disk = Disk(monkeypatch, tmp_path, 100_000)
    spooler = await open_spooler(tmp_path)
    seqs = await fill_disk(spooler)
    files = sizes(tmp_path)
    for i in range(300):
        with pytest.raises(SpoolError, match="disk is full"):
            await spooler.append([(KEY, data(i))])
    assert sizes(tmp_path) == files
    assert spooler.failures == 301 and disk.failures >= 301
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "No space left" in errors[0].getMessage()
    disk.capacity = 1 << 30
    last = await spooler.append([(KEY, data(9999))])
    assert spooler.failure is None
    assert "written again, after 301 failed write(s)" in caplog.text
    await spooler.aclose()
    recovery = Spool(tmp_path, max_bytes=1 << 22).recover()
    assert recovery.damage == [] and [r.seq for r in recovery.records] == seqs + last


@pytest.mark.anyio
async def test_another_io_error_says_what_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error other than a full disk fails the call with its own errno and text."""
    spooler = await open_spooler(tmp_path)

    def broken(fd: int, buffers: list[bytes]) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_spool, "_writev", broken)
    with pytest.raises(SpoolError, match="writing the spool .* failed .*Input/output") as info:
        await spooler.append([(KEY, data(1))])
    assert info.value.errno == errno.EIO and "disk is full" not in str(info.value)
    monkeypatch.undo()
    await spooler.append([(KEY, data(2))])
    await spooler.aclose()


@pytest.mark.anyio
async def test_acknowledged_records_free_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries free a full disk by themselves: once the records of the old segments are
    acknowledged, they are removed even though writing the acks fails, and appends go
    through again."""
    disk = Disk(monkeypatch, tmp_path, 300_000)
    spooler = await open_spooler(tmp_path)
    seqs = await fill_disk(spooler)
    assert len(segment_files(tmp_path)) >= 4
    spooler.ack(seqs)
    with anyio.fail_after(10):
        while True:
            try:
                await spooler.append([(KEY, data(0))])
                break
            except SpoolError:
                await asyncio.sleep(0.01)
    assert len(segment_files(tmp_path)) <= 2 and disk.used() < 100_000
    await spooler.aclose()


@pytest.mark.anyio
async def test_interval_records_are_kept_and_written_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With "interval", a call returns before its write: a record whose write failed is
    written later, once there is room; meanwhile calls wait for their write and fail."""
    disk = Disk(monkeypatch, tmp_path, 0)
    spooler = await open_spooler(tmp_path, "interval")
    (early,) = await spooler.append([(KEY, data(1))])  # returns before the write fails
    for _ in range(1000):  # the writer's first attempt fails
        if spooler.failure is not None:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(SpoolError, match="disk is full"):
        await spooler.append([(KEY, data(2))])
    disk.capacity = 1 << 30
    (late,) = await spooler.append([(KEY, data(3))])  # waits for its write: it succeeds
    assert spooler.failure is None and spooler.spool.staged_records == 0
    crash(spooler.spool)
    assert spooler._writer is not None
    spooler._writer.cancel()
    recovery = Spool(tmp_path, max_bytes=1 << 22).recover()
    assert [r.seq for r in recovery.records] == [early, late]


@pytest.mark.anyio
async def test_open_with_no_room_logs_and_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Spooler.open() on a full disk opens the spool as it is and says so."""
    spool = Spool(tmp_path, max_bytes=1 << 22)
    spool.recover()
    fill_spool(spool, 50)
    crash(spool)
    Disk(monkeypatch, tmp_path, 0)
    spooler = await open_spooler(tmp_path)
    assert "could not rewrite it on open" in caplog.text
    assert spooler.spool.live_records == 50
    await spooler.aclose()


# -- the client ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    """Through the client, over HTTP: while full, track() raises SpoolError, counted in
    stats.spool_errors; once there is room, track() works again on the same client and
    everything accepted is delivered."""
    disk = Disk(monkeypatch, tmp_path, 60_000)
    async with Analytics(
        "key", host=collector.url, spool=tmp_path, flush_interval=0.01, flush_at=500
    ) as analytics:
        accepted = []
        with pytest.raises(SpoolError, match="disk is full"):
            for i in range(10_000):
                accepted.append(
                    await analytics.track(user_id="u", event=f"e{i}", properties={"p": "x" * 900})
                )
        for _ in range(20):
            with pytest.raises(SpoolError):
                await analytics.track(user_id="u", event="refused", properties={"p": "x" * 900})
        assert analytics.stats.spool_errors == 21
        disk.capacity = 1 << 30
        accepted.append(await analytics.track(user_id="u", event="after"))
        with anyio.fail_after(10):
            await asyncio.gather(*accepted)
    events = [m["event"] for m in collector.accepted_messages]
    assert "refused" not in events and events[-1] == "after"
    assert len(events) == len(accepted)
    assert segment_files(tmp_path) == []


# -- a real full filesystem ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted on a fresh directory (needs root, and a mount the sandbox
    allows: skipped otherwise)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs Linux and root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill_filesystem(directory: Path) -> Path:
    """Take every free byte of the filesystem with one file; return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.mark.anyio
async def test_a_real_full_filesystem(small_disk: Path, collector: Collector) -> None:
    """The same on a real filesystem out of space: clear errors while full, no pile of
    files, and the same client goes on once space is freed."""
    spool = small_disk / "spool"
    async with Analytics(
        "key", host=collector.url, spool=spool, flush_interval=0.01, flush_at=500
    ) as analytics:
        accepted = [await analytics.track(user_id="u", event="before")]
        await accepted[0]
        filler = fill_filesystem(small_disk)
        with pytest.raises(SpoolError, match="disk is full") as info:
            for i in range(1000):  # the last page of the segment may take a few more
                accepted.append(await analytics.track(user_id="u", event=f"fits{i}"))
        assert info.value.errno == errno.ENOSPC
        for i in range(200):
            with pytest.raises(SpoolError, match="disk is full"):
                await analytics.track(user_id="u", event=f"refused{i}", properties={"i": i})
        assert analytics.stats.spool_errors == 201
        assert len(segment_files(spool)) <= 2
        assert all(p.stat().st_size > 0 for p in segment_files(spool))
        filler.unlink()
        accepted.append(await analytics.track(user_id="u", event="after"))
        with anyio.fail_after(30):
            await asyncio.gather(*accepted)
    events = [m["event"] for m in collector.accepted_messages]
    assert len(events) == len(accepted) and events[-1] == "after"
    assert not any(e.startswith("refused") for e in events)


def test_a_real_full_filesystem_opens(small_disk: Path) -> None:
    """A spool written until the filesystem refused, its acks never written, opens on that
    full filesystem and replays every record it holds."""
    spool = Spool(small_disk / "spool", max_bytes=1 << 22)
    spool.recover()
    seqs: list[int] = []
    try:
        while True:
            more = [spool.stage(KEY, data(len(seqs) + i)) for i in range(20)]
            spool.write(spool.take(sync=True))
            seqs += more
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    spool.ack(seqs[: len(seqs) // 2])  # their acks cannot be written
    crash(spool)
    filler = fill_filesystem(small_disk)
    again = Spool(small_disk / "spool", max_bytes=1 << 22)
    recovery = again.recover()
    assert [r.seq for r in recovery.records] == seqs
    assert recovery.damage == []
    assert recovery.kept is not None and recovery.kept.errno == errno.ENOSPC
    filler.unlink()
    again.ack(seqs)
    again.close(again.take(sync=True))
    assert segment_files(small_disk / "spool") == []

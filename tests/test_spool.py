"""The spool: the on-disk log alone (no event loop), its asyncio driver, and the client on it."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioanalytics import (
    Analytics,
    ClientClosedError,
    ConfigError,
    DeliveryError,
    MemoryTransport,
    QueueFull,
    Response,
)
from aioanalytics._spool import HEADER, MAGIC, Damage, Spool, SpoolError, parse
from aioanalytics._spooler import SYNC_INTERVAL, Spooler

KEY = b"Segment/batch"


def data(i: int, size: int = 0) -> bytes:
    return json.dumps({"messageId": f"m{i}", "pad": "x" * size}).encode()


def crash(spool: Spool) -> None:
    """Let go of a spool the way a killed process does: no final write, no cleanup."""
    for fd in (spool._fd, spool._lock_fd):
        if fd is not None:
            os.close(fd)
    spool._fd = spool._lock_fd = None


def reopen(path: Path, max_bytes: int = 1 << 20) -> tuple[Spool, list[Any], list[Damage]]:
    spool = Spool(path, max_bytes=max_bytes)
    recovery = spool.recover()
    return spool, recovery.records, recovery.damage


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


# -- the log, no event loop ----------------------------------------------------------------


def test_core_imports_no_event_loop_or_http() -> None:
    """The spool decides and does file I/O; it never imports asyncio, anyio or httpx."""
    source = Path(__file__).parent.parent / "aioanalytics" / "_spool.py"
    tree = ast.parse(source.read_text())
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {"asyncio", "anyio", "httpx"} & {n.split(".")[0] for n in names}


def test_replays_unacked_records_in_order_with_their_bytes(tmp_path: Path) -> None:
    """What was written and not acknowledged comes back in order, key and bytes intact."""
    spool, records, damage = reopen(tmp_path)
    assert records == [] and damage == []
    seqs = [spool.stage(KEY if i % 2 else b"Mixpanel/track", data(i)) for i in range(10)]
    spool.write(spool.take(sync=True))
    spool.ack(seqs[::3])
    spool.write(spool.take(sync=False))
    crash(spool)
    _, records, damage = reopen(tmp_path)
    assert damage == []
    assert [r.seq for r in records] == [s for i, s in enumerate(seqs) if i % 3]
    assert [r.data for r in records] == [data(i) for i in range(10) if i % 3]
    assert records[0].key == KEY and records[1].key == b"Mixpanel/track"


def test_recovery_rewrites_and_a_second_recovery_finds_the_same(tmp_path: Path) -> None:
    """Recovery rewrites the live records; a crash right after changes nothing."""
    spool, _, _ = reopen(tmp_path)
    for i in range(5):
        spool.stage(KEY, data(i))
    spool.write(spool.take(sync=True))
    crash(spool)
    spool, first, _ = reopen(tmp_path)
    crash(spool)
    spool, second, _ = reopen(tmp_path)
    assert first == second and len(first) == 5
    new = spool.stage(KEY, data(99))
    assert new > first[-1].seq  # sequence numbers keep growing across restarts


def test_unwritten_records_are_lost_written_ones_are_not(tmp_path: Path) -> None:
    """Only what a job wrote is on disk: staged records die with the process."""
    spool, _, _ = reopen(tmp_path)
    spool.stage(KEY, data(1))
    spool.write(spool.take(sync=False))  # written, not synced: survives a process crash
    spool.stage(KEY, data(2))  # staged only
    crash(spool)
    _, records, _ = reopen(tmp_path)
    assert [r.data for r in records] == [data(1)]


def test_clean_close_with_nothing_live_leaves_no_segment(tmp_path: Path) -> None:
    """A spool whose records were all acknowledged is emptied on close."""
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i)) for i in range(3)]
    spool.write(spool.take(sync=True))
    spool.ack(seqs)
    spool.close(spool.take(sync=True))
    assert segment_files(tmp_path) == []
    spool, records, _ = reopen(tmp_path)
    assert records == []


def test_close_keeps_live_records(tmp_path: Path) -> None:
    """A spool closed with live records keeps them for the next start."""
    spool, _, _ = reopen(tmp_path)
    spool.stage(KEY, data(1))
    spool.close(spool.take(sync=True))
    _, records, _ = reopen(tmp_path)
    assert [r.data for r in records] == [data(1)]


def test_second_opener_is_refused(tmp_path: Path) -> None:
    """Two spools on one directory would interleave their logs: the second is refused."""
    spool, _, _ = reopen(tmp_path)
    with pytest.raises(SpoolError, match="in use"):
        reopen(tmp_path)
    spool.close()
    other, _, _ = reopen(tmp_path)
    other.close()


def test_a_straggler_is_left_alone_while_there_is_room(tmp_path: Path) -> None:
    """Below half full, nothing is copied: the straggler's segment waits for its ack."""
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i, 1000)) for i in range(200)]
    spool.write(spool.take(sync=True))
    spool.ack(seqs[2:])
    job = spool.take(sync=False)
    assert not job.copies and not job.removes
    spool.write(job)
    spool.ack(seqs[:2])
    job = spool.take(sync=False)
    assert len(job.removes) >= 3 and not job.copies


def test_segments_rotate_and_dead_ones_are_unlinked(tmp_path: Path) -> None:
    """Segments roll over at their size; once every record in the oldest is acknowledged
    it is unlinked, and the byte count drops with it."""
    spool, _, _ = reopen(tmp_path)
    assert spool.segment_bytes == 64 * 1024
    seqs = [spool.stage(KEY, data(i, 1000)) for i in range(200)]  # about 200 KiB
    spool.write(spool.take(sync=True))
    assert len(segment_files(tmp_path)) >= 3
    used = spool.used_bytes
    assert used == sum(p.stat().st_size for p in segment_files(tmp_path))
    spool.ack(seqs[:100])
    spool.write(spool.take(sync=False))
    assert spool.used_bytes < used
    assert spool.used_bytes == sum(p.stat().st_size for p in segment_files(tmp_path))
    crash(spool)
    _, records, _ = reopen(tmp_path)
    assert [r.seq for r in records] == seqs[100:]


def test_a_straggler_does_not_pin_its_segment(tmp_path: Path) -> None:
    """Once the spool is over half full, the oldest segment, acknowledged but for one
    record, is compacted: the record moves to the newest segment and the old files go."""
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i, 1000)) for i in range(600)]  # past half of 1 MiB
    spool.write(spool.take(sync=True))
    first = segment_files(tmp_path)[0]
    straggler = seqs[1]
    spool.ack(s for s in seqs if s != straggler)
    job = spool.take(sync=False)
    assert job.copies and job.sync  # a copy is synced before its source is unlinked
    spool.write(job)
    assert not first.exists()
    assert len(segment_files(tmp_path)) == 1
    assert spool.live_records == 1
    assert spool.used_bytes < 64 * 1024
    crash(spool)
    _, records, _ = reopen(tmp_path)
    assert [r.seq for r in records] == [straggler]


def test_acked_after_compaction_stays_acked(tmp_path: Path) -> None:
    """A record acknowledged after it was moved by compaction is not replayed."""
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i, 1000)) for i in range(600)]
    spool.write(spool.take(sync=True))
    spool.ack(seqs[2:])
    spool.write(spool.take(sync=False))
    spool.ack(seqs[:1])
    spool.write(spool.take(sync=False))
    crash(spool)
    _, records, _ = reopen(tmp_path)
    assert [r.seq for r in records] == [seqs[1]]


def test_byte_bound(tmp_path: Path) -> None:
    """``has_room`` answers against ``max_bytes``, counting every byte staged or on disk."""
    spool, _, _ = reopen(tmp_path, max_bytes=1 << 20)
    size = spool.record_bytes(KEY, data(0, 30_000))
    n = 0
    while spool.has_room(size):
        spool.stage(KEY, data(n, 30_000))
        n += 1
    assert 30 <= n <= 34
    assert spool.used_bytes <= spool.max_bytes
    spool.write(spool.take(sync=True))
    assert sum(p.stat().st_size for p in segment_files(tmp_path)) == spool.used_bytes


# -- damage ---------------------------------------------------------------------------------


def write_records(path: Path, n: int, size: int = 100) -> list[int]:
    spool, _, _ = reopen(path)
    seqs = [spool.stage(KEY, data(i, size)) for i in range(n)]
    spool.write(spool.take(sync=True))
    crash(spool)
    return seqs


def test_a_corrupt_record_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    """A flipped byte inside one record loses that record only; the damage is reported."""
    seqs = write_records(tmp_path, 10)
    (segment,) = segment_files(tmp_path)
    buf = bytearray(segment.read_bytes())
    records, _ = parse(bytes(buf))
    _, _, start, end = records[4]
    buf[(start + end) // 2] ^= 0xFF
    segment.write_bytes(bytes(buf))
    _, recovered, damage = reopen(tmp_path)
    assert [r.seq for r in recovered] == seqs[:4] + seqs[5:]
    assert len(damage) == 1
    assert damage[0].reason == "corrupt"
    assert damage[0].offset == start - HEADER.size
    assert damage[0].length == end - start + HEADER.size
    assert segment.name in str(damage[0])


def test_a_corrupt_header_is_skipped_by_resyncing(tmp_path: Path) -> None:
    """A garbled length field cannot hide the records after it: the scan resyncs."""
    seqs = write_records(tmp_path, 10)
    (segment,) = segment_files(tmp_path)
    buf = bytearray(segment.read_bytes())
    records, _ = parse(bytes(buf))
    _, _, start, _ = records[3]
    buf[start - HEADER.size + 2 : start - HEADER.size + 6] = b"\xff\xff\xff\x00"  # the length
    segment.write_bytes(bytes(buf))
    _, recovered, damage = reopen(tmp_path)
    assert [r.seq for r in recovered] == seqs[:3] + seqs[4:]
    assert [d.reason for d in damage] == ["corrupt"]


def test_a_truncated_tail_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    """A file cut inside its last record (a torn write) keeps every whole record."""
    seqs = write_records(tmp_path, 10)
    (segment,) = segment_files(tmp_path)
    size = segment.stat().st_size
    os.truncate(segment, size - 30)
    _, recovered, damage = reopen(tmp_path)
    assert [r.seq for r in recovered] == seqs[:9]
    assert [(d.reason, d.offset + d.length) for d in damage] == [("truncated", size - 30)]


def test_a_file_of_garbage_and_an_empty_file(tmp_path: Path) -> None:
    """A segment that is not one is reported whole; an empty one (created, never written)
    is not damage."""
    seqs = write_records(tmp_path, 3)
    (tmp_path / "00000000000000000007.seg").write_bytes(b"not a spool segment at all")
    (tmp_path / "00000000000000000008.seg").write_bytes(b"")
    (tmp_path / "00000000000000000009.seg").write_bytes(MAGIC[:5])
    _, recovered, damage = reopen(tmp_path)
    assert [r.seq for r in recovered] == seqs
    assert [(d.path, d.reason) for d in damage] == [
        ("00000000000000000007.seg", "corrupt"),
        ("00000000000000000009.seg", "truncated"),
    ]


def test_damage_is_reported_once(tmp_path: Path) -> None:
    """Recovery rewrites the good records: the damaged file is gone after one report."""
    write_records(tmp_path, 5)
    (segment,) = segment_files(tmp_path)
    os.truncate(segment, segment.stat().st_size - 3)
    spool, _, damage = reopen(tmp_path)
    assert len(damage) == 1
    crash(spool)
    _, recovered, damage = reopen(tmp_path)
    assert damage == [] and len(recovered) == 4


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 4000),
    st.binary(min_size=1, max_size=300),
)
def test_any_overwrite_loses_only_the_records_it_touches(offset: int, garbage: bytes) -> None:
    """Whatever bytes are overwritten, every record not touched is still found."""
    body = bytearray(MAGIC)
    spans = []
    for i in range(30):
        payload = bytes((len(KEY),)) + KEY + data(i, i * 3)
        from aioanalytics._spool import DATA, _header

        start = len(body)
        body += _header(DATA, i + 1, payload) + payload
        spans.append((i + 1, start, len(body)))
    offset = min(offset, len(body) - 1)
    end = min(len(body), offset + len(garbage))
    body[offset:end] = garbage[: end - offset]
    records, damage = parse(bytes(body))
    found = {seq for _, seq, _, _ in records}
    untouched = {seq for seq, s, e in spans if e <= offset or s >= end}
    assert untouched <= found
    if found != {seq for seq, _, _ in spans}:
        assert damage


# -- the asyncio driver ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_group_commit_shares_syncs(tmp_path: Path) -> None:
    """Concurrent callers share writes and syncs: far fewer syncs than records."""
    spooler = Spooler(tmp_path, durability="fsync", max_bytes=1 << 26, on_full="block")
    closing = asyncio.get_running_loop().create_future()
    await spooler.open(closing)
    results = await asyncio.gather(*(spooler.append([(KEY, data(i))]) for i in range(500)))
    assert spooler.records == 500
    assert spooler.syncs <= 50
    assert sorted(s for (s,) in results) == list(range(1, 501))
    await spooler.aclose()
    _, records, _ = reopen(tmp_path)
    assert len(records) == 500


@pytest.mark.anyio
async def test_fsync_append_returns_only_once_synced(tmp_path: Path) -> None:
    """With "fsync", a returned append is written and synced."""
    spooler = Spooler(tmp_path, durability="fsync", max_bytes=1 << 26, on_full="block")
    await spooler.open(asyncio.get_running_loop().create_future())
    await spooler.append([(KEY, data(1))])
    assert spooler.syncs == 1 and spooler.spool.staged_records == 0
    crash(spooler.spool)  # no close: the record is on disk already
    assert spooler._writer is not None
    spooler._writer.cancel()
    _, records, _ = reopen(tmp_path)
    assert [r.data for r in records] == [data(1)]


@pytest.mark.anyio
async def test_interval_append_returns_at_once_and_syncs_soon(tmp_path: Path) -> None:
    """With "interval", append does not wait for the disk; a sync follows within the
    interval."""
    spooler = Spooler(tmp_path, durability="interval", max_bytes=1 << 26, on_full="block")
    await spooler.open(asyncio.get_running_loop().create_future())
    await spooler.append([(KEY, data(1))])
    assert spooler.spool.staged_records == 1  # returned before any write
    await asyncio.sleep(SYNC_INTERVAL * 2)
    assert spooler.syncs >= 1 and spooler.spool.staged_records == 0
    await spooler.aclose()
    _, records, _ = reopen(tmp_path)
    assert len(records) == 1


@pytest.mark.anyio
async def test_full_spool_drops_or_blocks(tmp_path: Path) -> None:
    """At the byte bound, "drop" raises QueueFull at once and "block" waits for acks."""
    loop = asyncio.get_running_loop()
    big = data(0, 30_000)
    for on_full in ("drop", "block"):
        path = tmp_path / on_full
        spooler = Spooler(path, durability="interval", max_bytes=1 << 20, on_full=on_full)
        closing = loop.create_future()
        await spooler.open(closing)
        seqs = []
        while spooler.spool.has_room(spooler.spool.record_bytes(KEY, big)):
            seqs += await spooler.append([(KEY, big)])
        if on_full == "drop":
            with pytest.raises(QueueFull, match="spool is full"):
                await spooler.append([(KEY, big)])
        else:
            waiter = asyncio.ensure_future(spooler.append([(KEY, big)]))
            await asyncio.sleep(0.05)
            assert not waiter.done()
            spooler.ack(seqs[:-1])
            with anyio.fail_after(5):
                await waiter
            # and a caller still waiting when the client closes gets ClientClosedError
            while spooler.spool.has_room(spooler.spool.record_bytes(KEY, big)):
                await spooler.append([(KEY, big)])
            waiter = asyncio.ensure_future(spooler.append([(KEY, big)]))
            await asyncio.sleep(0.01)
            closing.set_result(None)
            with pytest.raises(ClientClosedError):
                await waiter
        assert spooler.spool.used_bytes <= spooler.spool.max_bytes
        await spooler.aclose()


@pytest.mark.anyio
async def test_a_failed_write_fails_its_callers_and_the_spool_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error fails the callers of that commit with SpoolError; what the failed write
    left (a torn record) is cut back, so the next commits go on in the same segment and
    recovery finds every good record and no damage."""
    from aioanalytics import _spool

    real = os.writev
    writes = 0

    def torn_second(fd: int, buffers: list[bytes]) -> int:
        nonlocal writes
        writes += 1
        if writes == 2:
            os.write(fd, b"\x5a\xa5partial")  # a torn record, like a full disk's
            raise OSError(28, "No space left on device")
        return real(fd, buffers)

    monkeypatch.setattr(_spool, "_writev", torn_second)
    spooler = Spooler(tmp_path, durability="fsync", max_bytes=1 << 26, on_full="block")
    await spooler.open(asyncio.get_running_loop().create_future())
    await spooler.append([(KEY, data(1))])  # write 1
    with pytest.raises(SpoolError, match="No space left") as info:
        await spooler.append([(KEY, data(2))])
    assert info.value.errno == 28
    await spooler.append([(KEY, data(3))])
    assert "writing the spool" in caplog.text
    await spooler.aclose()
    assert len(segment_files(tmp_path)) == 1
    _, records, damage = reopen(tmp_path)
    assert [r.data for r in records] == [data(1), data(3)]
    assert damage == []


@pytest.mark.anyio
async def test_cancelled_append_is_taken_back(tmp_path: Path) -> None:
    """A caller cancelled while waiting for its sync never got a Delivery: its record is
    acknowledged away, not replayed."""
    spooler = Spooler(tmp_path, durability="fsync", max_bytes=1 << 26, on_full="block")
    await spooler.open(asyncio.get_running_loop().create_future())
    task = asyncio.ensure_future(spooler.append([(KEY, data(1))]))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await spooler.aclose()
    _, records, _ = reopen(tmp_path)
    assert records == []


# -- the client on a spool -------------------------------------------------------------------


def client(spool: Path, transport: Any = None, **options: Any) -> Analytics:
    options = {
        "backoff_initial": 0.001,
        "backoff_max": 0.01,
        "flush_interval": 0.01,
        "spool": spool,
        **options,
    }
    return Analytics("key", transport=transport or MemoryTransport(), **options)


def flip_a_byte_of_record(path: Path, index: int) -> None:
    (segment,) = segment_files(path)
    buf = bytearray(segment.read_bytes())
    records, _ = parse(bytes(buf))
    end = records[index][3]
    buf[end - 2] ^= 0x01
    segment.write_bytes(bytes(buf))


def ids(transport: MemoryTransport) -> list[str]:
    return [m["messageId"] for m in transport.messages]


@pytest.mark.anyio
async def test_client_options_are_checked(tmp_path: Path) -> None:
    """Bad spool options are ConfigErrors at construction."""
    with pytest.raises(ConfigError, match="spool_durability"):
        client(tmp_path, spool_durability="sometimes")
    with pytest.raises(ConfigError, match="spool_max_bytes"):
        client(tmp_path, spool_max_bytes=1000)


@pytest.mark.anyio
async def test_client_replays_what_shutdown_left_in_order(tmp_path: Path) -> None:
    """Messages cut short by shutdown are sent by the next client on the spool, in their
    order, with their messageIds; delivered ones are not sent again."""
    down = MemoryTransport(handler=lambda request: 503)
    async with client(tmp_path, down, shutdown_timeout=0.1, max_retries=1000) as analytics:
        deliveries = [await analytics.track(user_id="u", event=f"e{i}") for i in range(20)]
    assert all(isinstance(d.exception(), ClientClosedError) for d in deliveries)
    sent = [d.message_id for d in deliveries]
    up = MemoryTransport()
    async with client(tmp_path, up, flush_at=5) as analytics:
        assert analytics.stats.replayed == 20
        await analytics.flush()
        assert analytics.stats.delivered == 20
    assert ids(up) == sent
    again = MemoryTransport()
    async with client(tmp_path, again) as analytics:
        assert analytics.stats.replayed == 0
    assert again.messages == []


@pytest.mark.anyio
async def test_client_acks_delivered_and_rejected(tmp_path: Path) -> None:
    """Delivered and finally rejected messages leave the spool; nothing replays."""

    def answer(request: Any) -> int:
        body = MemoryTransport.decode(request)
        return 400 if any(m["event"] == "bad" for m in body["batch"]) else 200

    async with client(tmp_path, MemoryTransport(handler=answer), flush_at=1) as analytics:
        good = await analytics.track(user_id="u", event="good")
        bad = await analytics.track(user_id="u", event="bad")
        await good
        with pytest.raises(DeliveryError):
            await bad
    assert segment_files(tmp_path) == []
    async with client(tmp_path) as analytics:
        assert analytics.stats.replayed == 0


@pytest.mark.anyio
async def test_client_with_other_destinations_spools_each_record(tmp_path: Path) -> None:
    """Every record of a routed message is spooled and acknowledged on its own."""
    from aioanalytics.destinations.mixpanel import Mixpanel

    transport = MemoryTransport()
    mixpanel = Mixpanel(token="t")
    async with client(tmp_path, transport, destinations=[mixpanel]) as analytics:
        result = await (await analytics.track(user_id="u", event="e"))
        assert set(result.destinations) == {"Segment", "Mixpanel"}
        assert analytics._spool is not None and analytics._spool.spool.live_records == 0
    assert segment_files(tmp_path) == []


@pytest.mark.anyio
async def test_client_reports_damage_and_delivers_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged spool is reported (a warning, and ``stats.spool_damaged``); the good
    records around the damage are delivered."""
    down = MemoryTransport(handler=lambda request: 503)
    async with client(tmp_path, down, shutdown_timeout=0.05, max_retries=1000) as analytics:
        sent = [(await analytics.track(user_id="u", event=f"e{i}")).message_id for i in range(6)]
    flip_a_byte_of_record(tmp_path, 2)
    up = MemoryTransport()
    caplog.set_level(logging.WARNING, logger="aioanalytics")
    async with client(tmp_path, up) as analytics:
        await analytics.flush()
        assert analytics.stats.spool_damaged == 1
        assert analytics.stats.replayed == 5
    assert ids(up) == sent[:2] + sent[3:]
    assert "spool damaged" in caplog.text and "corrupt" in caplog.text


@pytest.mark.anyio
async def test_client_spool_in_use_fails_open(tmp_path: Path) -> None:
    """A second client on a spool in use fails to open, with nothing started."""
    async with client(tmp_path):
        second = client(tmp_path)
        with pytest.raises(SpoolError):
            await second.open()
        await second.aclose()


@pytest.mark.anyio
async def test_client_spool_full_drop(tmp_path: Path) -> None:
    """With on_full="drop", a full spool refuses the call with QueueFull, counted; the
    refused message is not spooled."""
    gate = asyncio.Event()

    class Held(MemoryTransport):
        async def send(self, request: Any) -> Response:
            await gate.wait()
            return await super().send(request)

    transport = Held()
    analytics = client(
        tmp_path, transport, on_full="drop", spool_max_bytes=1 << 20, shutdown_timeout=5
    )
    async with analytics:
        accepted = []
        with pytest.raises(QueueFull, match="spool"):
            for i in range(100):
                accepted.append(
                    await analytics.track(
                        user_id="u", event=f"e{i}", properties={"p": "x" * 30_000}
                    )
                )
        assert analytics.stats.dropped == 1
        gate.set()
        await asyncio.gather(*accepted)
    assert len(transport.messages) == len(accepted)
    assert segment_files(tmp_path) == []


@pytest.mark.anyio
async def test_client_spool_full_blocks_until_acked(tmp_path: Path) -> None:
    """With on_full="block", a call waits for room in the spool and goes through once
    deliveries free it."""
    gate = asyncio.Event()

    class Held(MemoryTransport):
        async def send(self, request: Any) -> Response:
            await gate.wait()
            return await super().send(request)

    transport = Held()
    async with client(tmp_path, transport, spool_max_bytes=1 << 20) as analytics:
        tasks = [
            asyncio.ensure_future(
                analytics.track(user_id="u", event=f"e{i}", properties={"p": "x" * 30_000})
            )
            for i in range(60)
        ]
        await asyncio.sleep(0.1)
        assert 0 < sum(t.done() for t in tasks) < 60
        spool = analytics._spool
        assert spool is not None and spool.spool.used_bytes <= 1 << 20
        gate.set()
        with anyio.fail_after(10):
            deliveries = await asyncio.gather(*tasks)
            await asyncio.gather(*deliveries)
    assert len(transport.messages) == 60


@pytest.mark.anyio
async def test_client_queue_full_drop_takes_the_record_back(tmp_path: Path) -> None:
    """A message spooled and then refused by a full queue is not replayed later."""
    gate = asyncio.Event()

    class Held(MemoryTransport):
        async def send(self, request: Any) -> Response:
            await gate.wait()
            return await super().send(request)

    transport = Held()
    analytics = client(
        tmp_path,
        transport,
        on_full="drop",
        max_queue_size=2,
        flush_at=1,
        max_concurrent_requests=1,
        spool_durability="interval",
    )
    async with analytics:
        accepted = []
        with pytest.raises(QueueFull, match="queue"):
            for i in range(100):
                accepted.append(await analytics.track(user_id="u", event=f"e{i}"))
                await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*accepted)
    assert segment_files(tmp_path) == []
    async with client(tmp_path) as again:
        assert again.stats.replayed == 0


@pytest.mark.skipif(not hasattr(os, "writev"), reason="needs os.writev")
def test_short_writes_are_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write the OS cuts short is completed: every byte lands, in order."""
    from aioanalytics import _spool

    real = os.writev

    def short(fd: int, buffers: list[bytes]) -> int:
        return real(fd, buffers[:1]) if len(buffers) > 1 else real(fd, buffers)

    monkeypatch.setattr(_spool, "_writev", short)
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i)) for i in range(50)]
    spool.write(spool.take(sync=True))
    crash(spool)
    _, records, damage = reopen(tmp_path)
    assert damage == [] and [r.seq for r in records] == seqs


@pytest.mark.anyio
async def test_replay_skips_records_for_missing_destinations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Records spooled for a destination the next client lacks are discarded, with a
    warning; the others are replayed."""
    from aioanalytics.destinations.mixpanel import Mixpanel

    down = MemoryTransport(handler=lambda request: 503)
    async with client(
        tmp_path,
        down,
        destinations=[Mixpanel(token="t")],
        shutdown_timeout=0.05,
        max_retries=1000,
    ) as analytics:
        sent = (await analytics.track(user_id="u", event="e")).message_id
    up = MemoryTransport()
    async with client(tmp_path, up) as analytics:
        await analytics.flush()
        assert analytics.stats.replayed == 1
    assert ids(up) == [sent]
    assert "name destinations this client lacks" in caplog.text
    async with client(tmp_path) as analytics:
        assert analytics.stats.replayed == 0


@pytest.mark.anyio
async def test_send_false_neither_spools_nor_replays(tmp_path: Path) -> None:
    """With send=False nothing is written, and a spool left by another run is kept."""
    down = MemoryTransport(handler=lambda request: 503)
    async with client(tmp_path, down, shutdown_timeout=0.05, max_retries=1000) as analytics:
        await analytics.track(user_id="u", event="kept")
    async with client(tmp_path, send=False) as analytics:
        await analytics.track(user_id="u", event="not sent")
        assert analytics.stats.replayed == 0
    up = MemoryTransport()
    async with client(tmp_path, up) as analytics:
        await analytics.flush()
    assert [m["event"] for m in up.messages] == ["kept"]


def test_a_segment_that_cannot_be_unlinked_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing to unlink a dead segment does not fail the write; the next job unlinks it."""
    spool, _, _ = reopen(tmp_path)
    seqs = [spool.stage(KEY, data(i, 1000)) for i in range(200)]
    spool.write(spool.take(sync=True))
    first = segment_files(tmp_path)[0]
    spool.ack(seqs[:100])
    real = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", refuse)
    job = spool.take(sync=False)
    assert job.removes
    spool.write(job)  # the acks are written all the same
    assert first.exists() and spool.has_work()
    monkeypatch.setattr(Path, "unlink", real)
    spool.write(spool.take(sync=False))
    assert not first.exists()
    assert spool.used_bytes == sum(p.stat().st_size for p in segment_files(tmp_path))
    crash(spool)
    _, records, _ = reopen(tmp_path)
    assert [r.seq for r in records] == seqs[100:]

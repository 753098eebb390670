"""What the client shows the world: the sync facade's calls mirror the async ones, and queued
messages cost the garbage collector nothing."""

from __future__ import annotations

import asyncio
import gc
import inspect
from pathlib import Path

import pytest

from aioanalytics import Analytics, MemoryTransport, sync

CALLS = ("identify", "track", "page", "screen", "group", "alias")


@pytest.mark.parametrize("name", CALLS)
def test_the_sync_calls_take_exactly_the_async_arguments(name: str) -> None:
    ours = inspect.signature(getattr(Analytics, name)).parameters
    theirs = inspect.signature(getattr(sync.Analytics, name)).parameters
    described = [(p.name, p.kind, p.default, p.annotation) for p in ours.values()]
    assert [(p.name, p.kind, p.default, p.annotation) for p in theirs.values()] == described


async def _objects_added_by_10k_calls(client: Analytics) -> int:
    """GC-tracked objects added by 10,000 track() calls (after a warm-up call and flush)."""
    await client.track(user_id="u", event="warm-up")
    await client.flush()
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for i in range(10_000):
            await client.track(user_id=f"u{i % 7}", event="Order", properties={"i": i})
        return len(gc.get_objects()) - before
    finally:
        gc.enable()


def test_queued_messages_add_almost_no_objects_for_the_collector() -> None:
    """Ten thousand track() calls queued (the flusher not yet run) add a handful of tracked
    objects, not one per message: queued messages never reach the old generations."""

    async def main() -> int:
        async with Analytics("key", transport=MemoryTransport(), max_queue_size=20_000) as client:
            added = await _objects_added_by_10k_calls(client)
            assert client.stats.enqueued - client.stats.delivered == 10_000  # all queued
            return added

    assert asyncio.run(main()) <= 100


def test_a_spooled_queue_adds_almost_no_objects_for_the_collector(tmp_path: Path) -> None:
    """The same with a spool: each queued message's sequence number lives beside its bytes,
    not in an object of its own."""

    async def main() -> tuple[int, int]:
        async with Analytics(
            "key",
            transport=MemoryTransport(),
            max_queue_size=20_000,
            spool=tmp_path,
            spool_durability="interval",
        ) as client:
            added = await _objects_added_by_10k_calls(client)
            queued = client.stats.enqueued - client.stats.delivered
            await client.flush()
            assert client.stats.delivered == 10_001
            assert client._spool is not None
            assert client._spool.spool.live_records == 0  # every delivery acknowledged
            return added, queued

    added, queued = asyncio.run(main())
    assert queued >= 5_000  # the spool's writer may let the flusher run now and then
    assert added <= 100

"""The event hub behind /api/stream: fan-out, keep-alive, reset of a slow page, shutdown."""

from __future__ import annotations

import json
from decimal import Decimal

import anyio
import pytest

from aioanalytics._server.stream import BUFFER, BUFFER_BYTES, CHUNK_BYTES, EventHub

pytestmark = pytest.mark.anyio


async def test_published_events_reach_every_subscriber() -> None:
    """Each open stream gets each event as a ``stored`` server-sent event."""
    hub = EventHub()
    first, second = hub.stream(), hub.stream()
    assert await anext(first) == "retry: 1000\n\n"
    assert await anext(second) == "retry: 1000\n\n"
    assert hub.subscribers == 2
    hub.publish([{"id": 1}, {"id": 2}])
    hub.publish([])
    for stream in (first, second):
        chunk = await anext(stream)
        payloads = [json.loads(line[6:]) for line in chunk.splitlines() if line.startswith("data:")]
        assert payloads == [{"id": 1}, {"id": 2}]
    await first.aclose()
    assert hub.subscribers == 1
    await second.aclose()


async def test_idle_streams_get_keepalive_comments() -> None:
    """An idle stream sends a comment line every ``keepalive`` seconds."""
    hub = EventHub(keepalive=0.01)
    stream = hub.stream()
    await anext(stream)
    with anyio.fail_after(2):
        assert await anext(stream) == ": keepalive\n\n"
    await stream.aclose()


async def test_a_subscriber_that_falls_behind_is_reset() -> None:
    """Past the buffer, a page gets one ``reset`` saying how many it missed, then new events."""
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)
    hub.publish([{"id": n} for n in range(BUFFER + 1)])
    hub.publish([{"id": -1}])  # still lagging: dropped too
    assert await anext(stream) == 'event: reset\ndata: {"dropped": 1002}\n\n'
    assert hub.stats["dropped"] == 1002
    assert hub.stats["resets"] == 1
    hub.publish([{"id": "fresh"}])
    assert '"fresh"' in await anext(stream)
    await stream.aclose()


async def test_closing_the_hub_ends_every_stream() -> None:
    """close() ends open streams, so a server shutting down is not held open."""
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)

    async def reader() -> list[str]:
        return [chunk async for chunk in stream]

    async with anyio.create_task_group() as tg:
        results: list[list[str]] = []

        async def run() -> None:
            results.append(await reader())

        tg.start_soon(run)
        await anyio.sleep(0.01)
        hub.close()
    assert results == [[]]
    late = hub.stream()
    assert [chunk async for chunk in late] == ["retry: 1000\n\n"]


async def test_a_subscriber_past_the_byte_budget_is_reset() -> None:
    """Few but large events count by size: past ``BUFFER_BYTES`` the backlog is dropped."""
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)
    big = {"blob": "x" * 30_000}
    count = BUFFER_BYTES // 30_000 + 1
    for n in range(count):
        hub.publish([{"id": n, **big}])
    assert await anext(stream) == f'event: reset\ndata: {{"dropped": {count}}}\n\n'
    await stream.aclose()


async def test_a_backlog_is_handed_out_in_bounded_chunks() -> None:
    """Waiting events leave in chunks of at most ``CHUNK_BYTES``, in order, none lost."""
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)
    hub.publish([{"id": n, "pad": "y" * 500} for n in range(600)])
    ids: list[int] = []
    while len(ids) < 600:
        chunk = await anext(stream)
        assert len(chunk) <= CHUNK_BYTES
        ids += [json.loads(line[6:])["id"] for line in chunk.splitlines() if line[:5] == "data:"]
    assert ids == list(range(600))
    await stream.aclose()


async def test_numbers_past_a_double_or_the_int_limit_are_streamed_as_written() -> None:
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)
    hub.publish([{"big": Decimal("9" * 5000), "huge": Decimal("1E+400"), "int": [10**5000]}])
    chunk = await anext(stream)
    assert '"big":' + "9" * 5000 + ',"huge":1E+400,"int":[1' + "0" * 5000 + "]}" in chunk
    await stream.aclose()

"""The event hub behind /api/stream: fan-out, keep-alive, reset of a slow page, shutdown."""

from __future__ import annotations

import json

import anyio
import pytest

from aioanalytics._server.stream import BUFFER, EventHub

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
    """Past the buffer, a page gets one ``reset`` instead of the backlog, then new events."""
    hub = EventHub()
    stream = hub.stream()
    await anext(stream)
    hub.publish([{"id": n} for n in range(BUFFER + 1)])
    hub.publish([{"id": -1}])  # still lagging: dropped too
    assert await anext(stream) == "event: reset\ndata: {}\n\n"
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

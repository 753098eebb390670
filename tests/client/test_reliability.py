"""Every message ends in one terminal state, whatever the network or the caller does: async
plugins across close, servers that trickle, outages longer than a backoff, clients nobody
closed. Real HTTP to 127.0.0.1 where the network matters."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aioanalytics import (
    Analytics,
    ClientClosedError,
    Delivery,
    DeliveryError,
    MemoryTransport,
    RetryPolicy,
)
from tests.collector import Action, Collector, Request

pytestmark = pytest.mark.anyio

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "flush_interval": 0.01}


def client(collector: Collector, **options: Any) -> Analytics:
    return Analytics("test-key", host=collector.url, **{**FAST, **options})


class Gate:
    """An async plugin that holds each message until ``release()``."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, wire: dict[str, Any]) -> dict[str, Any]:
        self.entered.set()
        await self.open.wait()
        return wire

    def release(self) -> None:
        self.open.set()


# -- an async plugin still running when the client closes ------------------------------


async def test_a_plugin_running_at_close_gets_its_message_delivered(collector: Collector) -> None:
    gate = Gate()
    analytics = client(collector, plugins=[gate], shutdown_timeout=10)
    await analytics.open()
    call = asyncio.ensure_future(analytics.track(user_id="u", event="late"))
    await gate.entered.wait()
    closing = asyncio.ensure_future(analytics.aclose())
    await asyncio.sleep(0.05)
    gate.release()  # the plugin finishes while aclose() waits for it
    delivery = await asyncio.wait_for(call, 10)
    await asyncio.wait_for(closing, 10)
    result = await asyncio.wait_for(delivery, 1)
    assert result.destinations == {"Segment": "delivered"}
    assert collector.accepted_ids == {delivery.message_id}
    stats = analytics.stats
    assert (stats.enqueued, stats.delivered, stats.failed) == (1, 1, 0)


async def test_a_plugin_outliving_the_shutdown_timeout_fails_its_message(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    failures: list[tuple[Exception, list[dict[str, Any]]]] = []
    analytics = client(
        collector,
        plugins=[gate],
        shutdown_timeout=0.1,
        on_error=lambda error, messages: failures.append((error, messages)),
    )
    await analytics.open()
    call = asyncio.ensure_future(analytics.track(user_id="u", event="late"))
    await gate.entered.wait()
    await analytics.aclose()  # gives up on the plugin after shutdown_timeout
    gate.release()
    delivery = await asyncio.wait_for(call, 10)
    assert delivery.done()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(delivery, 1)
    stats = analytics.stats
    assert (stats.enqueued, stats.delivered, stats.failed) == (1, 0, 1)
    assert len(failures) == 1 and failures[0][1][0]["event"] == "late"
    assert "1 message(s) failed" in caplog.text
    assert collector.requests == []


async def test_a_plugin_outliving_close_with_a_spool_returns_a_failed_delivery(
    collector: Collector, tmp_path: Path
) -> None:
    gate = Gate()
    analytics = client(collector, plugins=[gate], shutdown_timeout=0.1, spool=tmp_path)
    await analytics.open()
    call = asyncio.ensure_future(analytics.track(user_id="u", event="late"))
    await gate.entered.wait()
    await analytics.aclose()
    gate.release()
    delivery = await asyncio.wait_for(call, 10)  # the spool is closed: the call must not hang
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(delivery, 1)
    assert analytics.stats.failed == 1


# -- timeout bounds the whole request --------------------------------------------------


@pytest.fixture
async def trickler() -> AsyncIterator[str]:
    """A server that answers 200 with a 10,000-byte body, one byte every 0.2 s."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
            for _ in range(10_000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_timeout_bounds_a_request_whose_answer_trickles(trickler: str) -> None:
    analytics = Analytics("key", host=trickler, timeout=1, max_retries=0, flush_interval=0.01)
    async with analytics:
        delivery = await analytics.track(user_id="u", event="e")
        # Each read gets a byte well within the timeout; only a bound on the whole request
        # ends it. Generous: the request must end in seconds, not in the 33 minutes of body.
        with pytest.raises(DeliveryError) as caught:
            await asyncio.wait_for(delivery, 30)
    assert caught.value.status_code is None
    assert "timeout" in str(caught.value)


# -- backoff: woken by recovery and by close, budgeted by time -------------------------


class Outage:
    """A hook answering 503 with ``Retry-After: 30`` until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False

    def __call__(self, request: Request) -> Action | None:
        return None if self.up else Action(503, retry_after=30)


async def test_recovery_wakes_the_batches_sleeping_in_backoff(collector: Collector) -> None:
    outage = Outage()
    collector.set_hook(outage)
    async with client(collector, flush_at=1, shutdown_timeout=1) as analytics:
        held = [await analytics.track(user_id="u", event=f"held {i}") for i in range(3)]
        await collector.wait_for_requests_async(3)  # each batch now sleeps for 30 s
        outage.up = True
        fresh = await analytics.track(user_id="u", event="fresh")
        # The fresh batch succeeds, which wakes the three sleepers: all four are delivered
        # long before their 30 s are up.
        await asyncio.wait_for(asyncio.gather(fresh, *held), 10)
    assert collector.accepted_ids == {d.message_id for d in (*held, fresh)}


async def test_close_sends_the_batches_sleeping_in_backoff_once_more(
    collector: Collector,
) -> None:
    outage = Outage()
    collector.set_hook(outage)
    analytics = client(collector, flush_at=1, shutdown_timeout=10)
    async with analytics:
        held = [await analytics.track(user_id="u", event=f"held {i}") for i in range(3)]
        await collector.wait_for_requests_async(3)
        outage.up = True  # back, but nothing new is sent to notice it
    for delivery in held:
        assert (await delivery).destinations == {"Segment": "delivered"}
    assert collector.accepted_ids == {d.message_id for d in held}
    assert analytics.stats.failed == 0


def test_the_default_retry_budget_outlasts_an_hour_long_outage() -> None:
    policy = Analytics("key").retry
    assert policy == RetryPolicy()
    for seed in range(100):  # whatever the jitter draws
        rng = random.Random(seed)
        elapsed, retries = 0.0, 0
        while elapsed < 3600:
            assert policy.may_retry(retries, elapsed=elapsed), (seed, retries, elapsed)
            retries += 1
            elapsed += policy.backoff(retries, random=rng.random())
    assert not policy.may_retry(0, elapsed=policy.max_retry_duration)


async def test_the_last_wait_ends_with_the_retry_budget() -> None:
    transport = MemoryTransport(handler=lambda request: 503)
    analytics = Analytics(
        "key",
        transport=transport,
        flush_interval=0.01,
        backoff_initial=30,
        backoff_max=30,
        max_retry_duration=0.3,
    )
    async with analytics:
        delivery = await analytics.track(user_id="u", event="e")
        with pytest.raises(DeliveryError, match="retries exhausted"):
            await asyncio.wait_for(delivery, 10)  # not after a 30 s backoff
    assert len(transport.requests) >= 2  # the wait was cut to the budget, then one more try


# -- a client nobody closed ------------------------------------------------------------


async def _track_and_leave(analytics: Analytics, count: int) -> list[Delivery]:
    await analytics.open()
    return [await analytics.track(user_id="u", event=f"e{i}") for i in range(count)]


def test_a_client_left_open_when_the_loop_stops_fails_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    analytics = Analytics("key", transport=MemoryTransport(), flush_at=10, flush_interval=60)
    with pytest.warns(ResourceWarning, match="never closed"):
        deliveries = asyncio.run(_track_and_leave(analytics, 25))
    # Two batches of ten closed, five messages in an open batch, some still queued: all
    # of them reached a terminal state and were counted.
    assert all(delivery.done() for delivery in deliveries)
    stats = analytics.stats
    assert stats.enqueued == 25 and stats.delivered + stats.failed == 25
    assert any("never closed" in r.message and r.levelno == logging.ERROR for r in caplog.records)


def test_a_client_garbage_collected_while_open_warns(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    analytics = Analytics("key", transport=MemoryTransport(), flush_interval=60)
    loop.run_until_complete(_track_and_leave(analytics, 3))
    loop.close()  # without cancelling the client's tasks
    del analytics  # it and its flusher task hold each other: only the collector frees them
    with pytest.warns(ResourceWarning, match="never closed.*garbage collected"):
        gc.collect()
    (record,) = [r for r in caplog.records if "never closed" in r.message]
    assert record.levelno == logging.ERROR
    assert "3 message(s) in open batches" in record.message


async def test_closed_and_unopened_clients_never_warn() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with Analytics("key", transport=MemoryTransport()) as analytics:
            await analytics.track(user_id="u", event="e")
        unopened = Analytics("key")
        del analytics, unopened
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []

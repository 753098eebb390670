"""Client behaviour over MemoryTransport: lifecycle, queue, futures, hooks, modes."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from datetime import timedelta
from typing import Any

import anyio
import pydantic
import pytest

from aioanalytics import (
    Analytics,
    ClientClosedError,
    ConfigError,
    DeliveryError,
    EventLoopError,
    MemoryTransport,
    QueueFull,
    Response,
    Track,
    TransportError,
    parse_message,
)

pytestmark = pytest.mark.anyio


def client(transport: MemoryTransport | None = None, **options: Any) -> Analytics:
    options = {"backoff_initial": 0.001, "backoff_max": 0.01, "flush_interval": 0.01, **options}
    return Analytics("key", transport=transport or MemoryTransport(), **options)


class Gate:
    """A transport whose requests wait until the test opens the gate."""

    def __init__(self) -> None:
        self.inner = MemoryTransport()
        self.gate = asyncio.Event()
        self.started = 0

    async def send(self, request: Any) -> Response:
        self.started += 1
        await self.gate.wait()
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_flush_returns_when_earlier_messages_are_delivered() -> None:
    transport = MemoryTransport()
    async with client(transport, flush_at=100, flush_interval=60) as analytics:
        deliveries = [await analytics.track(user_id="u", event=f"e{i}") for i in range(5)]
        assert not any(d.done() for d in deliveries)
        await analytics.flush()
        assert all(d.done() for d in deliveries)
        assert len(transport.messages) == 5
        await analytics.flush()  # nothing pending: returns at once


async def test_flush_waits_for_failures_too() -> None:
    transport = MemoryTransport(handler=lambda request: 401)
    async with client(transport) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        await analytics.flush()
        assert isinstance(delivery.exception(), DeliveryError)


async def test_unawaited_failed_delivery_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    transport = MemoryTransport(handler=lambda request: 403)
    errors: list[Any] = []
    loop = asyncio.get_running_loop()
    handler_calls: list[Any] = []
    loop.set_exception_handler(lambda loop, context: handler_calls.append(context))
    try:
        async with client(transport, on_error=lambda e, m: errors.append((e, m))) as analytics:
            await analytics.track(user_id="u", event="ignored")
            await analytics.flush()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert handler_calls == []  # no "exception was never retrieved"
    assert len(errors) == 1 and errors[0][1][0]["event"] == "ignored"
    assert isinstance(errors[0][0], DeliveryError) and errors[0][0].status_code == 403
    assert "1 message(s) failed" in caplog.text
    assert analytics.stats.failed == 1


async def test_on_error_hook_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(error: Exception, messages: list[Any]) -> None:
        raise RuntimeError("hook broke")

    async with client(MemoryTransport(handler=lambda r: 400), on_error=broken) as analytics:
        await analytics.track(user_id="u", event="e")
    assert "the on_error hook raised" in caplog.text


async def test_queue_full_drop_mode_raises_at_once() -> None:
    gate = Gate()
    analytics = client(
        max_queue_size=2, on_full="drop", flush_at=1, max_concurrent_requests=1, transport=None
    )
    analytics._transport = gate
    async with analytics:
        accepted = []
        with pytest.raises(QueueFull):
            for i in range(100):
                accepted.append(await analytics.track(user_id="u", event=f"e{i}"))
                await asyncio.sleep(0)
        assert analytics.stats.dropped == 1
        gate.gate.set()
        await asyncio.gather(*accepted)
    assert analytics.stats.delivered == len(accepted)


async def test_queue_full_block_mode_waits_for_room() -> None:
    gate = Gate()
    analytics = client(max_queue_size=2, flush_at=1, max_concurrent_requests=1)
    analytics._transport = gate
    async with analytics:
        tasks = [
            asyncio.create_task(analytics.track(user_id="u", event=f"e{i}")) for i in range(20)
        ]
        await asyncio.sleep(0.05)
        assert sum(t.done() for t in tasks) < 20  # callers are held back, not refused
        gate.gate.set()
        deliveries = await asyncio.gather(*tasks)
        await asyncio.gather(*deliveries)
    assert analytics.stats.delivered == 20 and analytics.stats.dropped == 0


async def test_cancelled_caller_does_not_lose_its_message() -> None:
    transport = MemoryTransport()
    async with client(transport, flush_interval=0.05) as analytics:
        returned = asyncio.Event()

        async def handler() -> None:
            await analytics.track(user_id="u", event="kept")
            returned.set()
            await asyncio.sleep(10)

        task = asyncio.create_task(handler())
        await returned.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [m["event"] for m in transport.messages] == ["kept"]


async def test_cancelling_an_awaiter_does_not_cancel_the_delivery() -> None:
    gate = Gate()
    analytics = client()
    analytics._transport = gate
    async with analytics:
        delivery = await analytics.track(user_id="u", event="e")
        with anyio.move_on_after(0.05):
            await delivery
        gate.gate.set()
        assert (await delivery).destinations == {"Segment": "delivered"}


async def test_calls_after_close_raise() -> None:
    analytics = client()
    async with analytics:
        pass
    with pytest.raises(ClientClosedError):
        await analytics.track(user_id="u", event="e")
    with pytest.raises(ClientClosedError):
        await analytics.flush()
    await analytics.aclose()  # idempotent


async def test_calls_before_open_raise_and_open_twice_fails() -> None:
    analytics = client()
    with pytest.raises(ClientClosedError, match="async with"):
        await analytics.track(user_id="u", event="e")
    async with analytics:
        with pytest.raises(ClientClosedError, match="opened once"):
            await analytics.open()
    unopened = client()
    await unopened.aclose()


async def test_blocked_caller_at_close_gets_a_clear_error() -> None:
    gate = Gate()
    analytics = client(
        max_queue_size=1, flush_at=1, max_concurrent_requests=1, shutdown_timeout=0.1
    )
    analytics._transport = gate
    await analytics.open()
    deliveries = [await analytics.track(user_id="u", event=f"e{i}") for i in range(3)]
    waiting = asyncio.create_task(analytics.track(user_id="u", event="late"))
    blocked = [asyncio.create_task(analytics.track(user_id="u", event=f"b{i}")) for i in range(8)]
    await asyncio.sleep(0.02)
    await analytics.aclose()
    outcomes = await asyncio.gather(waiting, *blocked, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, ClientClosedError)
        else:
            with pytest.raises(ClientClosedError):
                await outcome
    for delivery in deliveries:
        with pytest.raises(ClientClosedError):
            await delivery
    stats = analytics.stats
    assert stats.delivered == 0
    assert stats.failed == stats.enqueued


async def test_use_from_another_loop_is_a_clear_error() -> None:
    async with client() as analytics:
        errors: list[BaseException] = []

        def other_thread() -> None:
            async def call() -> None:
                await analytics.track(user_id="u", event="e")

            try:
                asyncio.run(call())
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert isinstance(errors[0], EventLoopError)


async def test_send_false_validates_and_counts_without_network() -> None:
    transport = MemoryTransport()
    async with client(transport, send=False) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        assert (await delivery).destinations == {"Segment": "skipped"}
        with pytest.raises(pydantic.ValidationError):
            await analytics.track(user_id="u", event="")
    assert transport.requests == []
    assert analytics.stats.enqueued == 1


async def test_enqueue_a_prebuilt_model() -> None:
    transport = MemoryTransport()
    async with client(transport) as analytics:
        await analytics.enqueue(Track(user_id="u", event="Built", message_id="fixed"))
        await analytics.enqueue(parse_message({"type": "alias", "userId": "u", "previousId": "a"}))
    assert [m["type"] for m in transport.messages] == ["track", "alias"]
    assert transport.messages[0]["messageId"] == "fixed"


async def test_bad_input_raises_at_the_call_and_nothing_is_queued() -> None:
    transport = MemoryTransport()
    async with client(transport) as analytics:
        with pytest.raises(pydantic.ValidationError, match="userId or anonymousId"):
            await analytics.track(event="e")
        with pytest.raises(pydantic.ValidationError, match="properties"):
            await analytics.track(user_id="u", event="e", properties={"b": b"x"})
        with pytest.raises(pydantic.ValidationError, match="group_id"):
            await analytics.group(user_id="u", group_id="")
        with pytest.raises(pydantic.ValidationError, match="userId"):
            await analytics.alias(user_id="", previous_id="p")
    assert transport.requests == []
    assert analytics.stats.enqueued == 0


async def test_retries_run_out() -> None:
    transport = MemoryTransport(handler=lambda r: TransportError("down"))
    async with client(transport, max_retries=3) as analytics:
        with pytest.raises(DeliveryError, match="retries exhausted") as info:
            await (await analytics.track(user_id="u", event="e"))
    assert info.value.attempts == 4
    assert analytics.stats.retried == 3 and analytics.stats.batches == 4


async def test_stats_count_everything() -> None:
    transport = MemoryTransport([500])
    async with client(transport, flush_at=2) as analytics:
        for i in range(4):
            await analytics.track(user_id="u", event=f"e{i}")
    stats = analytics.stats.as_dict()
    assert stats["enqueued"] == 4 and stats["delivered"] == 4
    assert stats["retried"] == 1 and stats["batches"] == 3
    assert stats["bytes_sent"] == sum(len(r.content) for r in transport.requests)


async def test_several_clients_are_independent() -> None:
    a, b = MemoryTransport(), MemoryTransport(handler=lambda r: 401)
    async with (
        client(a) as first,
        Analytics("other", transport=b, host="https://example.test") as second,
    ):
        await (await first.track(user_id="u", event="a"))
        with pytest.raises(DeliveryError):
            await (await second.track(user_id="u", event="b"))
    assert [m["event"] for m in a.messages] == ["a"]
    assert b.requests[0].url == "https://example.test/v1/batch"
    assert first.stats.failed == 0 and second.stats.failed == 1


async def test_flush_at_one_sends_each_message_alone() -> None:
    transport = MemoryTransport()
    async with client(transport, flush_at=1, flush_interval=60) as analytics:
        for i in range(3):
            await (await analytics.track(user_id="u", event=f"e{i}"))
    assert [len(body["batch"]) for body in transport.bodies] == [1, 1, 1]


async def test_debug_logs_each_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aioanalytics")
    async with client(debug=True) as analytics:
        await analytics.track(user_id="u", event="Debugged")
    assert "Debugged" in caplog.text
    assert "-> HTTP 200" in caplog.text


def test_options_are_validated() -> None:
    bad: list[dict[str, Any]] = [
        {"on_full": "wait"},
        {"max_queue_size": 0},
        {"max_concurrent_requests": 0},
        {"max_batch_bytes": 600_000},
        {"flush_at": 3000},
        {"flush_interval": -1},
        {"host": "ftp://x"},
        {"host": "http://analytics.example.com"},
    ]
    for options in bad:
        with pytest.raises(ConfigError):
            Analytics("key", **options)
    with pytest.raises(ConfigError):
        Analytics("")
    with pytest.raises(ConfigError):
        Analytics()
    ok = Analytics(
        "key",
        host="http://analytics.example.com",
        allow_insecure_http=True,
        flush_interval=timedelta(seconds=2),
    )
    assert ok.limits.interval == 2.0
    assert "key" not in repr(ok)


def test_host_errors_name_the_option() -> None:
    """Both ways a host is refused start with ``host``, the option to change (the CLI says
    ``--host`` instead), and the plain-http one names ``allow_insecure_http``."""
    with pytest.raises(ConfigError) as raised:
        Analytics("key", host="ftp://x")
    assert str(raised.value) == "host must be an http(s) URL, got 'ftp://x'"
    with pytest.raises(ConfigError) as raised:
        Analytics("key", host="http://analytics.example.com")
    assert str(raised.value) == (
        "host 'http://analytics.example.com': plain http:// is only allowed to loopback hosts; "
        "pass allow_insecure_http=True to send unencrypted traffic (and the credentials) there"
    )


def test_loopback_http_is_allowed() -> None:
    for host in ("http://127.0.0.1:8000", "http://localhost", "http://[::1]:9"):
        Analytics("key", host=host)


async def test_send_and_debug_switched_on_an_open_client_take_effect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = MemoryTransport()
    async with client(transport) as analytics:
        analytics.send = False
        skipped = await analytics.track(user_id="u1", event="Skipped")
        assert skipped.done() and (await skipped).destinations == {"Segment": "skipped"}
        analytics.send = True
        analytics.debug = True
        with caplog.at_level(logging.DEBUG, logger="aioanalytics"):
            sent = await analytics.track(user_id="u1", event="Sent")
        assert any("Sent" in record.getMessage() for record in caplog.records)
        assert (await sent).destinations == {"Segment": "delivered"}
    assert [m["event"] for m in transport.messages] == ["Sent"]

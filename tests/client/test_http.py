"""The client against a real HTTP server on 127.0.0.1: what goes over the wire and back."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import anyio
import httpx
import pytest

import aioanalytics
from aioanalytics import (
    Analytics,
    ClientClosedError,
    DeliveryError,
    MessageTooLargeError,
)
from tests.collector import Action, Collector, Request

pytestmark = pytest.mark.anyio

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "flush_interval": 0.01}


def client(collector: Collector, **options: Any) -> Analytics:
    return Analytics("test-key", host=collector.url, **{**FAST, **options})


async def test_every_call_type_exact_wire_json(collector: Collector) -> None:
    stamp = "2024-03-15T11:59:30.123Z"
    from datetime import UTC, datetime

    at = datetime(2024, 3, 15, 11, 59, 30, 123000, tzinfo=UTC)
    library = {"name": "aioanalytics", "version": aioanalytics.__version__}
    async with client(collector, flush_at=6) as analytics:
        common = {"timestamp": at}
        await analytics.identify(
            user_id="u1", anonymous_id="a1", traits={"email": "x@y.z"}, message_id="m1", **common
        )
        await analytics.track(
            user_id="u1",
            event="Order Completed",
            properties={"revenue": 9.5},
            context={"ip": "1.2.3.4"},
            integrations={"All": False, "Mixpanel": True},
            message_id="m2",
            **common,
        )
        await analytics.page(
            anonymous_id="a1",
            name="Home",
            category="Docs",
            properties={"path": "/"},
            message_id="m3",
            **common,
        )
        await analytics.screen(user_id="u1", name="Cart", message_id="m4", **common)
        await analytics.group(
            user_id="u1", group_id="g1", traits={"name": "Acme"}, message_id="m5", **common
        )
        await analytics.alias(user_id="u1", previous_id="a1", message_id="m6", **common)
    (request,) = collector.requests
    assert request.path == "/v1/batch"
    body = request.json
    assert set(body) == {"batch", "sentAt"}
    base = {"timestamp": stamp, "context": {"library": library}}
    assert body["batch"] == [
        {
            "userId": "u1",
            "anonymousId": "a1",
            "messageId": "m1",
            **base,
            "type": "identify",
            "traits": {"email": "x@y.z"},
        },
        {
            "userId": "u1",
            "messageId": "m2",
            **base,
            "context": {"library": library, "ip": "1.2.3.4"},
            "integrations": {"All": False, "Mixpanel": True},
            "type": "track",
            "event": "Order Completed",
            "properties": {"revenue": 9.5},
        },
        {
            "anonymousId": "a1",
            "messageId": "m3",
            **base,
            "type": "page",
            "name": "Home",
            "category": "Docs",
            "properties": {"path": "/"},
        },
        {"userId": "u1", "messageId": "m4", **base, "type": "screen", "name": "Cart"},
        {
            "userId": "u1",
            "messageId": "m5",
            **base,
            "type": "group",
            "groupId": "g1",
            "traits": {"name": "Acme"},
        },
        {"userId": "u1", "messageId": "m6", **base, "type": "alias", "previousId": "a1"},
    ]


async def test_headers_auth_gzip_and_sent_at(collector: Collector) -> None:
    async with client(collector) as analytics:
        before = time.time()
        await (await analytics.track(user_id="u", event="e"))
    (request,) = collector.requests
    expected = base64.b64encode(b"test-key:").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["user-agent"] == f"aioanalytics/{aioanalytics.__version__}"
    assert request.raw_size < request.size  # it really was compressed
    from datetime import datetime

    sent_at = datetime.fromisoformat(request.json["sentAt"]).timestamp()
    assert before - 0.01 <= sent_at <= time.time() + 0.01


async def test_gzip_off(collector: Collector) -> None:
    async with client(collector, gzip=False) as analytics:
        await (await analytics.track(user_id="u", event="e"))
    (request,) = collector.requests
    assert "content-encoding" not in request.headers
    assert request.raw_size == request.size


async def test_batches_by_count(collector: Collector) -> None:
    async with client(collector, flush_at=10, flush_interval=60) as analytics:
        for i in range(25):
            await analytics.track(user_id="u", event=f"e{i}")
        await collector.wait_for_async(20)
        await analytics.flush()
    assert [len(r.messages) for r in collector.requests] == [10, 10, 5]


async def test_batches_by_bytes_never_over_500kb(collector: Collector) -> None:
    big = "x" * 30_000
    async with client(collector, flush_at=2500, flush_interval=60) as analytics:
        for i in range(60):
            await analytics.track(user_id="u", event=f"e{i}", properties={"blob": big})
    sizes = [r.size for r in collector.requests]
    assert len(collector.unique_ids) == 60
    assert len(sizes) >= 4
    assert max(sizes) <= 475_000
    assert max(sizes) > 400_000  # batches are filled, not closed early


async def test_max_batch_bytes_is_exact(collector: Collector) -> None:
    async with client(collector, flush_at=2500, max_batch_bytes=40_000) as analytics:
        for i in range(50):
            await analytics.track(user_id="u", event=f"e{i}", properties={"blob": "y" * 3000})
    assert all(r.size <= 40_000 for r in collector.requests)
    assert len(collector.unique_ids) == 50


async def test_batches_by_timer(collector: Collector) -> None:
    async with client(collector, flush_at=100, flush_interval=0.05) as analytics:
        start = time.monotonic()
        delivery = await analytics.track(user_id="u", event="e")
        with anyio.fail_after(5):
            await delivery
        waited = time.monotonic() - start
        assert waited >= 0.05
    assert len(collector.requests) == 1


async def test_message_over_32kb_is_rejected_at_the_call(collector: Collector) -> None:
    async with client(collector) as analytics:
        with pytest.raises(MessageTooLargeError) as info:
            await analytics.track(user_id="u", event="e", properties={"blob": "x" * 33_000})
        assert info.value.limit == 32 * 1024
        assert analytics.stats.rejected == 1
        await analytics.track(user_id="u", event="small")
    assert [m["event"] for m in collector.messages] == ["small"]


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_retries_transient_statuses(collector: Collector, status: int) -> None:
    collector.script(Action(status), Action(status))
    async with client(collector) as analytics:
        result = await (await analytics.track(user_id="u", event="e"))
        assert result.destinations == {"Segment": "delivered"}
        assert analytics.stats.retried == 2
    assert len(collector.requests) == 3
    assert len({r.json["sentAt"] for r in collector.requests}) >= 2  # sentAt per attempt
    assert collector.unique_ids == {result.message_id}


async def test_retry_after_is_honoured(collector: Collector) -> None:
    collector.script(Action(429, retry_after=0.3))
    async with client(collector) as analytics:
        await (await analytics.track(user_id="u", event="e"))
    first, second = collector.requests
    assert second.arrived - first.arrived >= 0.29


async def test_dropped_connections_are_retried_without_loss(collector: Collector) -> None:
    collector.script(Action(drop=True), Action(drop=True, read_body=False))
    async with client(collector) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        await delivery
    assert collector.accepted_ids == {delivery.message_id}
    assert len(collector.requests) >= 2


async def test_timeouts_are_retried(collector: Collector) -> None:
    collector.script(Action(delay=1.0))
    async with client(collector, timeout=0.2) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        with anyio.fail_after(5):
            await delivery
        assert analytics.stats.retried == 1
    assert delivery.message_id in collector.accepted_ids


async def test_connection_refused_is_retried_then_fails(free_tcp_port: int) -> None:
    errors: list[Any] = []
    analytics = Analytics(
        "k",
        host=f"http://127.0.0.1:{free_tcp_port}",
        max_retries=2,
        on_error=lambda exc, msgs: errors.append((exc, msgs)),
        **FAST,
    )
    async with analytics:
        delivery = await analytics.track(user_id="u", event="e")
        with pytest.raises(DeliveryError) as info:
            await delivery
    assert info.value.status_code is None
    assert info.value.attempts == 3
    assert "ConnectError" in str(info.value)
    assert errors[0][1][0]["event"] == "e"


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_no_retry_on_client_errors(collector: Collector, status: int) -> None:
    collector.set_hook(lambda request: Action(status, body={"error": "bad key"}))
    async with client(collector) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        with pytest.raises(DeliveryError) as info:
            await delivery
        assert analytics.stats.failed == 1 and analytics.stats.retried == 0
    assert info.value.status_code == status
    assert info.value.attempts == 1
    assert "bad key" in info.value.body
    assert len(collector.requests) == 1


async def test_413_splits_the_batch(collector: Collector) -> None:
    def hook(request: Request) -> Action | None:
        return Action(413) if len(request.messages) > 2 else None

    collector.set_hook(hook)
    async with client(collector, flush_at=10, flush_interval=60) as analytics:
        deliveries = [await analytics.track(user_id="u", event=f"e{i}") for i in range(10)]
        results = await asyncio.gather(*deliveries)
    assert len(results) == 10
    assert len(collector.accepted_ids) == 10
    assert max(len(r.messages) for r in collector.requests if r.acknowledged) <= 2


async def test_413_on_a_single_message_fails_it(collector: Collector) -> None:
    collector.set_hook(lambda request: Action(413))
    async with client(collector) as analytics:
        with pytest.raises(DeliveryError) as info:
            await (await analytics.track(user_id="u", event="e"))
    assert info.value.status_code == 413


async def test_400_isolates_the_poison_message(collector: Collector) -> None:
    def hook(request: Request) -> Action | None:
        poisoned = any("poison" in (m.get("properties") or {}) for m in request.messages)
        return Action(400, body={"error": "bad"}) if poisoned else None

    collector.set_hook(hook)
    async with client(collector, flush_at=16, flush_interval=60) as analytics:
        deliveries = [
            await analytics.track(
                user_id="u", event=f"e{i}", properties={"poison": 1} if i == 5 else {}
            )
            for i in range(16)
        ]
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        assert analytics.stats.delivered == 15 and analytics.stats.failed == 1
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert failed == [5]
    assert isinstance(outcomes[5], DeliveryError) and outcomes[5].status_code == 400
    assert len(collector.accepted_ids) == 15


async def test_close_waits_for_in_flight_requests(collector: Collector) -> None:
    collector.script(Action(delay=0.3))
    async with client(collector, shutdown_timeout=5) as analytics:
        delivery = await analytics.track(user_id="u", event="e")
        await anyio.sleep(0.1)  # the batch is on the wire, its answer 0.3 s away
        closing = time.monotonic()
    assert (await delivery).destinations == {"Segment": "delivered"}
    (request,) = collector.requests
    assert request.arrived < closing < (request.answered or 0)  # in flight when close began


async def test_close_fails_what_outlives_the_shutdown_timeout(collector: Collector) -> None:
    collector.set_hook(lambda request: Action(delay=5))
    analytics = client(collector, shutdown_timeout=0.2, timeout=10)
    async with analytics:
        delivery = await analytics.track(user_id="u", event="e")
        await anyio.sleep(0.05)
    with pytest.raises(ClientClosedError):
        await delivery
    assert analytics.stats.failed == 1


async def test_own_http_client_is_used_and_left_open(collector: Collector) -> None:
    async with httpx.AsyncClient(headers={"X-Trace": "1"}) as http:
        async with client(collector, http_client=http) as analytics:
            await (await analytics.track(user_id="u", event="e"))
        assert not http.is_closed
    assert collector.requests[0].headers["x-trace"] == "1"


async def test_connections_are_reused(collector: Collector) -> None:
    async with client(collector, max_concurrent_requests=1, flush_at=1) as analytics:
        for i in range(5):
            await (await analytics.track(user_id="u", event=f"e{i}"))
    assert {r.connection for r in collector.requests} == {1}


async def test_fault_mix_loses_nothing(collector: Collector) -> None:
    collector.set_faults(
        [(0.20, Action(500)), (0.10, Action(429, retry_after=0)), (0.05, Action(drop=True))],
        seed=7,
    )
    async with client(collector, flush_at=100, max_retries=20) as analytics:
        deliveries = [
            await analytics.track(user_id=f"u{i % 50}", event="Fault Mix", properties={"i": i})
            for i in range(10_000)
        ]
        with anyio.fail_after(60):
            results = await asyncio.gather(*deliveries, return_exceptions=True)
        stats = analytics.stats
    assert all(not isinstance(r, BaseException) for r in results)
    assert len(collector.accepted_ids) == 10_000
    assert stats.delivered == 10_000 and stats.failed == 0 and stats.retried > 0
    # A repeat is legitimate only where an answer was lost (dropped) or was a failure.
    assert collector.unexpected_duplicates() == set()


async def test_write_key_never_logged(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="aioanalytics")
    collector.script(Action(500))
    async with Analytics("s3cr3t-key", host=collector.url, debug=True, **FAST) as analytics:
        assert "s3cr3t" not in repr(analytics)
        await (await analytics.track(user_id="u", event="e"))
    assert caplog.records
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in json.dumps([r.json for r in collector.requests])


async def test_gzip_body_is_valid_gzip(collector: Collector) -> None:
    async with client(collector, flush_at=2500, flush_interval=60) as analytics:
        for i in range(300):
            await analytics.track(user_id="u", event="e", properties={"i": i, "pad": "p" * 200})
    (request,) = collector.requests
    assert request.size > 32 * 1024  # large enough to be compressed off the event loop
    assert request.headers["content-encoding"] == "gzip"
    assert request.raw_size * 2 < request.size  # what arrived was the compressed body
    assert len(request.json["batch"]) == 300  # and it decoded to every message

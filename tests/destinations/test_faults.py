"""Fault isolation: one destination failing never delays or fails another's deliveries."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from aioanalytics import Analytics, DeliveryError
from aioanalytics.destinations import Destination
from tests.destinations.emulator import Answer, Emulator
from tests.destinations.support import FAST_CLIENT, mixpanel, trakio

pytestmark = pytest.mark.anyio

ONLY_MIXPANEL = {"All": False, "Mixpanel": True}
ONLY_TRAKIO = {"All": False, "Trak.io": True}
ONLY_SEGMENT = {"All": False, "Segment": True}


async def test_mixpanel_500_and_429_do_not_delay_trakio(
    mixpanel_api: Emulator, trakio_api: Emulator
) -> None:
    """While Mixpanel answers 500 and 429 and backs off, Trak.io deliveries complete."""
    mixpanel_api.script("/track", Answer(500), Answer(429, headers={"Retry-After": "0.3"}))
    destinations: list[Destination] = [
        mixpanel(
            mixpanel_api,
            flush_interval=0.01,
            backoff_initial=0.3,
            backoff_max=0.3,
            backoff_jitter=(0.0, 0.0),
        ),
        trakio(trakio_api),
    ]
    async with Analytics(None, destinations=destinations, **FAST_CLIENT) as analytics:
        slow = await analytics.track(user_id="u1", event="A", integrations=ONLY_MIXPANEL)
        fast = [
            await analytics.track(user_id="u1", event=f"B{i}", integrations=ONLY_TRAKIO)
            for i in range(5)
        ]
        started = time.monotonic()
        with anyio.fail_after(0.25):
            results = await asyncio.gather(*fast)
        assert not slow.done()
        assert all(r.destinations == {"Trak.io": "delivered"} for r in results)
        assert (await slow).destinations == {"Mixpanel": "delivered"}
        assert time.monotonic() - started >= 0.5
    assert [request.status for request in mixpanel_api.requests] == [500, 429, 200]


async def test_trakio_dropping_connections_does_not_fail_mixpanel(
    segment_api: Emulator, mixpanel_api: Emulator, trakio_api: Emulator
) -> None:
    """Trak.io dropping every connection fails only Trak.io's deliveries, after its retries."""
    trakio_api.script(None, *[Answer(drop=True)] * 8)
    destinations: list[Destination] = [mixpanel(mixpanel_api), trakio(trakio_api, max_retries=1)]
    async with Analytics(
        "WRITE_KEY", host=segment_api.url, destinations=destinations, **FAST_CLIENT
    ) as analytics:
        both = await analytics.track(user_id="u1", event="Both")
        only_trakio = await analytics.track(user_id="u1", event="T", integrations=ONLY_TRAKIO)
        others = [
            await analytics.track(user_id="u1", event="M", integrations=ONLY_MIXPANEL),
            await analytics.track(user_id="u1", event="S", integrations=ONLY_SEGMENT),
        ]
        with anyio.fail_after(2):
            results = await asyncio.gather(*others)
    assert [r.destinations for r in results] == [
        {"Mixpanel": "delivered"},
        {"Segment": "delivered"},
    ]
    for delivery in (both, only_trakio):
        with pytest.raises(DeliveryError) as failed:
            await delivery
        assert (failed.value.status_code, failed.value.attempts) == (None, 2)
    mixpanel_events = [e["event"] for body in mixpanel_api.bodies("/track") for e in body]
    assert sorted(mixpanel_events) == ["Both", "M"]
    segment_events = [m["event"] for body in segment_api.bodies("/v1/batch") for m in body["batch"]]
    assert sorted(segment_events) == ["Both", "S"]
    assert [r.status for r in trakio_api.requests] == [None] * 4


async def test_a_hanging_destination_does_not_hold_the_others(
    mixpanel_api: Emulator, trakio_api: Emulator
) -> None:
    """Requests Mixpanel never answers in time do not take the connections Trak.io needs."""
    mixpanel_api.script("/track", *[Answer(delay=0.6)] * 4)
    destinations: list[Destination] = [mixpanel(mixpanel_api, batch_size=1), trakio(trakio_api)]
    async with Analytics(
        None, destinations=destinations, max_concurrent_requests=2, **FAST_CLIENT
    ) as analytics:
        for i in range(4):
            await analytics.track(user_id="u1", event=f"M{i}", integrations=ONLY_MIXPANEL)
        await asyncio.sleep(0.1)  # the Mixpanel requests are in flight
        fast = await analytics.track(user_id="u1", event="T", integrations=ONLY_TRAKIO)
        with anyio.fail_after(0.5):
            assert (await fast).destinations == {"Trak.io": "delivered"}


async def test_a_destination_backing_off_does_not_stall_the_queue(
    mixpanel_api: Emulator, trakio_api: Emulator
) -> None:
    """Many Mixpanel batches waiting to retry do not keep other messages from being sent."""
    mixpanel_api.script("/track", *[Answer(503)] * 12)
    destinations: list[Destination] = [
        mixpanel(
            mixpanel_api,
            batch_size=1,
            max_retries=1,
            backoff_initial=0.6,
            backoff_max=0.6,
            backoff_jitter=(0.0, 0.0),
        ),
        trakio(trakio_api),
    ]
    async with Analytics(
        None, destinations=destinations, max_concurrent_requests=1, **FAST_CLIENT
    ) as analytics:
        failing = [
            await analytics.track(user_id="u1", event=f"M{i}", integrations=ONLY_MIXPANEL)
            for i in range(6)
        ]
        fast = await analytics.track(user_id="u1", event="T", integrations=ONLY_TRAKIO)
        with anyio.fail_after(0.5):
            assert (await fast).destinations == {"Trak.io": "delivered"}
    for delivery in failing:
        with pytest.raises(DeliveryError):
            await delivery


async def test_a_destination_far_behind_fails_its_new_records(
    mixpanel_api: Emulator, trakio_api: Emulator
) -> None:
    """Once max_queue_size records wait for one destination, its new ones fail at once."""
    mixpanel_api.script("/track", *[Answer(delay=0.3)] * 3)
    destinations: list[Destination] = [
        mixpanel(mixpanel_api, batch_size=1),
        trakio(trakio_api),
    ]
    async with Analytics(
        None, destinations=destinations, max_queue_size=3, max_concurrent_requests=1, **FAST_CLIENT
    ) as analytics:
        waiting = [
            await analytics.track(user_id="u1", event=f"M{i}", integrations=ONLY_MIXPANEL)
            for i in range(3)
        ]
        late = await analytics.track(user_id="u1", event="M3", integrations=ONLY_MIXPANEL)
        fast = await analytics.track(user_id="u1", event="T", integrations=ONLY_TRAKIO)
        with anyio.fail_after(0.25):
            with pytest.raises(DeliveryError, match="records already waiting"):
                await late
            assert (await fast).destinations == {"Trak.io": "delivered"}
    for delivery in waiting:
        assert (await delivery).destinations == {"Mixpanel": "delivered"}

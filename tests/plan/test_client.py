"""``Analytics(tracking_plan=..., on_violation=...)``: untyped calls checked at the call."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aioanalytics import Analytics, ConfigError, DeliveryResult, MemoryTransport
from aioanalytics import sync as sync_api
from aioanalytics.plan import PlanViolationError, TrackingPlan, parse_plan
from tests.collector import Collector

pytestmark = pytest.mark.anyio

PLAN: dict[str, Any] = {
    "events": {
        "Order Completed": {
            "properties": {
                "order_id": {"type": "string", "required": True},
                "revenue": {"type": "number", "minimum": 0},
            }
        },
        "Signed Up": {},
    },
    "identify": {"traits": {"email": {"type": "string", "format": "email"}}},
    "group": {"traits": {"name": {"type": "string", "required": True}}},
}


def plan() -> TrackingPlan:
    return parse_plan(PLAN)


async def test_conforming_calls_are_delivered_to_a_real_collector(collector: Collector) -> None:
    """Calls that keep to the plan go out as usual, over HTTP, and nothing is counted."""
    async with Analytics(
        "key", host=collector.url, tracking_plan=plan(), flush_interval=0.01
    ) as analytics:
        deliveries = [
            await analytics.track(
                user_id="u1", event="Order Completed", properties={"order_id": "o1", "revenue": 3}
            ),
            await analytics.identify(user_id="u1", traits={"email": "ada@example.com"}),
            await analytics.group(user_id="u1", group_id="g1", traits={"name": "Acme"}),
            await analytics.page(user_id="u1", name="Home", properties={"anything": True}),
        ]
        results = [await delivery for delivery in deliveries]
    assert all(r.destinations == {"Segment": "delivered"} for r in results)
    assert [m["type"] for m in collector.messages] == ["track", "identify", "group", "page"]
    assert analytics.stats.plan_violations == 0


async def test_raise_refuses_the_call_with_every_field_at_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """on_violation="raise" (the default): a typed error at the call, nothing queued,
    counted as a violation and as rejected, logged with the field paths."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport, tracking_plan=plan()) as analytics:
        with (
            caplog.at_level(logging.WARNING, logger="aioanalytics"),
            pytest.raises(PlanViolationError) as caught,
        ):
            await analytics.track(
                user_id="u1", event="Order Completed", properties={"revenue": "39.95"}
            )
        await analytics.flush()
    assert [str(v) for v in caught.value.violations] == [
        "properties.order_id: Field required",
        "properties.revenue: Input should be a valid number (got '39.95')",
    ]
    assert "track 'Order Completed' breaks the tracking plan" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert transport.messages == []
    assert (analytics.stats.plan_violations, analytics.stats.rejected) == (1, 1)
    assert analytics.stats.enqueued == 0
    assert "properties.revenue: Input should be a valid number" in caplog.text
    assert "refused" in caplog.text


async def test_raise_on_an_unplanned_event_names_the_planned_one() -> None:
    """A typo in the event name is caught at the call, with the event it was meant to be."""
    async with Analytics("key", transport=MemoryTransport(), tracking_plan=plan()) as analytics:
        with pytest.raises(PlanViolationError, match='did you mean "Order Completed"'):
            await analytics.track(user_id="u1", event="Order Complete")


async def test_warn_sends_the_message_and_logs_it(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """on_violation="warn": the message is delivered anyway, counted and logged."""
    async with Analytics(
        "key",
        host=collector.url,
        tracking_plan=plan(),
        on_violation="warn",
        flush_interval=0.01,
    ) as analytics:
        with caplog.at_level(logging.WARNING, logger="aioanalytics"):
            delivery = await analytics.identify(user_id="u1", traits={"email": "not-an-email"})
        assert (await delivery).destinations == {"Segment": "delivered"}
    assert [m["traits"] for m in collector.messages] == [{"email": "not-an-email"}]
    assert analytics.stats.plan_violations == 1
    assert analytics.stats.rejected == analytics.stats.dropped == 0
    assert "traits.email: not a valid email address (got 'not-an-email')" in caplog.text
    assert "sent anyway" in caplog.text


async def test_drop_resolves_the_delivery_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """on_violation="drop": nothing is sent; the Delivery says dropped; counted twice."""
    transport = MemoryTransport()
    async with Analytics(
        "key", transport=transport, tracking_plan=plan(), on_violation="drop"
    ) as analytics:
        with caplog.at_level(logging.WARNING, logger="aioanalytics"):
            dropped = await analytics.group(user_id="u1", group_id="g1", traits={})
        kept = await analytics.group(user_id="u1", group_id="g1", traits={"name": "Acme"})
        assert await dropped == DeliveryResult(dropped.message_id, {"*": "dropped"})
        await kept
    assert [m["traits"] for m in transport.messages] == [{"name": "Acme"}]
    assert (analytics.stats.plan_violations, analytics.stats.dropped) == (1, 1)
    assert "traits.name: Field required" in caplog.text


async def test_prebuilt_messages_are_checked_too() -> None:
    """enqueue() of a prebuilt model goes through the same check."""
    from aioanalytics import Track

    async with Analytics("key", transport=MemoryTransport(), tracking_plan=plan()) as analytics:
        with pytest.raises(PlanViolationError):
            await analytics.enqueue(Track(user_id="u1", event="Nope"))


async def test_plan_from_a_path(tmp_path: Path) -> None:
    """tracking_plan may be the path of a plan file."""
    path = tmp_path / "plan.json"
    path.write_text('{"events": {"Signed Up": {}}}')
    async with Analytics("key", transport=MemoryTransport(), tracking_plan=path) as analytics:
        await analytics.track(user_id="u1", event="Signed Up")
        with pytest.raises(PlanViolationError):
            await analytics.track(user_id="u1", event="Signed  Up")


def test_bad_options_are_config_errors() -> None:
    """An unknown on_violation, or a plan of the wrong type, fails at construction."""
    with pytest.raises(ConfigError, match="on_violation must be"):
        Analytics("key", tracking_plan=plan(), on_violation="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tracking_plan must be"):
        Analytics("key", tracking_plan={"events": {}})  # type: ignore[arg-type]


def test_no_plan_costs_nothing() -> None:
    """Without a plan the plan package is never imported, and track() keeps its shortcut."""
    code = (
        "import asyncio, sys\n"
        "from aioanalytics import Analytics, MemoryTransport\n"
        "async def main():\n"
        "    async with Analytics('k', transport=MemoryTransport()) as analytics:\n"
        "        assert analytics._fast\n"
        "        await analytics.track(user_id='u', event='e')\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('aioanalytics.plan')], sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sync_facade_passes_the_options_through() -> None:
    """aioanalytics.sync.Analytics takes the same options and raises in the calling thread."""
    transport = MemoryTransport()
    with sync_api.Analytics("key", transport=transport, tracking_plan=plan()) as analytics:
        with pytest.raises(PlanViolationError, match="properties.revenue"):
            analytics.track(
                user_id="u1", event="Order Completed", properties={"order_id": "o", "revenue": -1}
            )
        analytics.track(user_id="u1", event="Signed Up").result(timeout=10)
        assert analytics.stats.plan_violations == 1
    assert [m["event"] for m in transport.messages] == ["Signed Up"]


async def test_raise_names_the_message_type() -> None:
    """The error for an identify or group names the call, not an event."""
    async with Analytics("key", transport=MemoryTransport(), tracking_plan=plan()) as analytics:
        with pytest.raises(PlanViolationError, match=r"^identify breaks the tracking plan: "):
            await analytics.identify(user_id="u1", traits={"email": 3})

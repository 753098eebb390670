"""The plugin pipeline and destination selection, with every destination on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from aioanalytics import Analytics, DeliveryResult
from tests.destinations.emulator import Emulator
from tests.destinations.support import FAST_CLIENT, mixpanel, mp_event, run, trakio

pytestmark = pytest.mark.anyio

TRACK = ("track", {"user_id": "u1", "event": "Signed Up"})


class Apis:
    """The three emulated APIs, and a client sending to all of them."""

    def __init__(self, segment: Emulator, mixpanel: Emulator, trakio: Emulator) -> None:
        self.segment = segment
        self.mixpanel = mixpanel
        self.trakio = trakio

    async def send(self, *calls: tuple[str, dict[str, Any]], plugins: Any = ()) -> list[Any]:
        return await run(
            [mixpanel(self.mixpanel), trakio(self.trakio)],
            calls,
            write_key="WRITE_KEY",
            host=self.segment.url,
            plugins=plugins,
        )

    def segment_messages(self) -> list[dict[str, Any]]:
        return [m for body in self.segment.bodies("/v1/batch") for m in body["batch"]]

    def mixpanel_events(self) -> list[dict[str, Any]]:
        return [event for body in self.mixpanel.bodies("/track") for event in body]

    def trakio_data(self) -> list[dict[str, Any]]:
        return [body["data"] for body in self.trakio.bodies("/v1/track")]


@pytest.fixture
def apis(segment_api: Emulator, mixpanel_api: Emulator, trakio_api: Emulator) -> Apis:
    """Segment, Mixpanel and Trak.io, emulated."""
    return Apis(segment_api, mixpanel_api, trakio_api)


def add_plan(message: dict[str, Any]) -> dict[str, Any]:
    """Enrichment: add ``plan`` to the properties."""
    return {**message, "properties": {**message.get("properties", {}), "plan": "pro"}}


async def test_every_destination_gets_the_message(apis: Apis) -> None:
    """Segment, Mixpanel and Trak.io each get the call, and the result says so per destination."""
    [result] = await apis.send(TRACK)
    assert result == DeliveryResult(
        "msg-0", {"Segment": "delivered", "Mixpanel": "delivered", "Trak.io": "delivered"}
    )
    assert [m["event"] for m in apis.segment_messages()] == ["Signed Up"]
    assert apis.mixpanel_events() == [mp_event("Signed Up")]
    assert [d["event"] for d in apis.trakio_data()] == ["Signed Up"]


async def test_a_destination_with_nothing_to_send_is_skipped(apis: Apis) -> None:
    """A call a destination maps to nothing (screen for Trak.io) resolves it as skipped."""
    [result] = await apis.send(("screen", {"user_id": "u1", "name": "Home"}))
    assert result == DeliveryResult(
        "msg-0", {"Segment": "delivered", "Mixpanel": "delivered", "Trak.io": "skipped"}
    )
    assert apis.trakio.requests == []


async def test_segment_copy_says_the_sdk_delivered_it(apis: Apis) -> None:
    """The Segment copy carries {"Mixpanel": false, "Trak.io": false} with the caller's keys."""
    await apis.send(("track", {**TRACK[1], "integrations": {"Amplitude": True}}))
    [message] = apis.segment_messages()
    assert message["integrations"] == {"Amplitude": True, "Mixpanel": False, "Trak.io": False}
    assert "integrations" not in apis.mixpanel_events()[0]["properties"]


async def test_sync_enrichment_modifies_every_copy(apis: Apis) -> None:
    """A sync plugin's change reaches every destination."""
    await apis.send(TRACK, plugins=[add_plan])
    assert apis.segment_messages()[0]["properties"] == {"plan": "pro"}
    assert apis.mixpanel_events() == [mp_event("Signed Up", {"plan": "pro"})]
    assert apis.trakio_data()[0]["properties"] == {"plan": "pro"}


async def test_async_plugins_run_in_order(apis: Apis) -> None:
    """Async plugins are awaited, each seeing the previous one's output."""

    async def tag(message: dict[str, Any]) -> dict[str, Any]:
        properties = message["properties"]
        return {**message, "properties": {**properties, "tier": properties["plan"] + "+"}}

    await apis.send(TRACK, plugins=[add_plan, tag])
    assert apis.mixpanel_events() == [mp_event("Signed Up", {"plan": "pro", "tier": "pro+"})]


async def test_a_plugin_drop_is_counted_and_sends_nothing(
    segment_api: Emulator, mixpanel_api: Emulator
) -> None:
    """A plugin returning None drops the message: delivery says dropped; stats count it."""
    seen: list[str] = []

    def drop_bots(message: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(message["messageId"])
        return None if message.get("userId") == "bot" else message

    async with Analytics(
        "WRITE_KEY",
        host=segment_api.url,
        destinations=[mixpanel(mixpanel_api)],
        plugins=[drop_bots],
        **FAST_CLIENT,
    ) as analytics:
        dropped = await analytics.track(user_id="bot", event="Crawled")
        kept = await analytics.track(user_id="u1", event="Signed Up")
    assert (await dropped).destinations == {"*": "dropped"}
    assert (await kept).destinations == {"Segment": "delivered", "Mixpanel": "delivered"}
    assert analytics.stats.dropped == 1
    assert seen == [dropped.message_id, kept.message_id]
    assert [e["event"] for body in mixpanel_api.bodies("/track") for e in body] == ["Signed Up"]
    assert len(segment_api.requests) == 1


async def test_integrations_all_false_selects_only_the_named(apis: Apis) -> None:
    """{"All": false, "Mixpanel": true} sends to Mixpanel alone."""
    [result] = await apis.send(
        ("track", {**TRACK[1], "integrations": {"All": False, "Mixpanel": True}})
    )
    assert result == DeliveryResult("msg-0", {"Mixpanel": "delivered"})
    assert apis.segment.requests == apis.trakio.requests == []
    assert len(apis.mixpanel_events()) == 1


async def test_integrations_false_deselects_one(apis: Apis) -> None:
    """{"Trak.io": false} keeps Trak.io out and everything else in."""
    [result] = await apis.send(("track", {**TRACK[1], "integrations": {"Trak.io": False}}))
    assert result == DeliveryResult("msg-0", {"Segment": "delivered", "Mixpanel": "delivered"})
    assert apis.trakio.requests == []


async def test_integration_names_are_case_sensitive(apis: Apis) -> None:
    """{"mixpanel": false} does not name the Mixpanel destination."""
    [result] = await apis.send(("track", {**TRACK[1], "integrations": {"mixpanel": False}}))
    assert isinstance(result, DeliveryResult)
    assert result.destinations["Mixpanel"] == "delivered"


async def test_plugins_may_choose_destinations(apis: Apis) -> None:
    """Selection happens after the plugins, so a plugin can set integrations."""

    def mixpanel_only(message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "integrations": {"All": False, "Mixpanel": True}}

    [result] = await apis.send(TRACK, plugins=[mixpanel_only])
    assert result == DeliveryResult("msg-0", {"Mixpanel": "delivered"})


async def test_destinations_work_without_a_segment_write_key(mixpanel_api: Emulator) -> None:
    """With no write key, Mixpanel is the only destination."""
    [result] = await run([mixpanel(mixpanel_api)], [TRACK])
    assert result == DeliveryResult("msg-0", {"Mixpanel": "delivered"})

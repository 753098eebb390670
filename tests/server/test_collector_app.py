"""The local collector, driven by the real SDK (and raw HTTP) over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from aioanalytics import DeliveryError, parse_message
from aioanalytics._server import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, Faults

from .conftest import LiveCollector, StartCollector

pytestmark = pytest.mark.anyio

AUTH = ("test-key", "")


def track(message_id: str, **extra: Any) -> dict[str, Any]:
    """A valid wire-format track."""
    return {"type": "track", "userId": "u1", "event": "Clicked", "messageId": message_id, **extra}


async def send_all_types(collector: LiveCollector, **options: Any) -> list[str]:
    """Send one message of each of the six types through the SDK; return their ids."""
    async with collector.sdk(**options) as analytics:
        deliveries = [
            await analytics.identify(user_id="u1", anonymous_id="a1", traits={"plan": "pro"}),
            await analytics.track(user_id="u1", event="Signed Up", properties={"plan": "pro"}),
            await analytics.page(user_id="u1", name="Home", properties={"url": "https://x.y/"}),
            await analytics.screen(anonymous_id="a2", name="Dashboard"),
            await analytics.group(user_id="u1", group_id="g1", traits={"name": "Acme"}),
            await analytics.alias(user_id="u1", previous_id="a1"),
        ]
        await analytics.flush()
        return [(await delivery).message_id for delivery in deliveries]


# -- ingestion ------------------------------------------------------------------------------


async def test_sdk_messages_of_every_type_are_stored(live_collector: LiveCollector) -> None:
    """Every call type sent by the SDK is stored once, as it was sent."""
    ids = await send_all_types(live_collector)
    counts = live_collector.store.counts()
    assert counts.total == 6
    assert counts.by_type == dict.fromkeys(
        ("alias", "group", "identify", "page", "screen", "track"), 1
    )
    events, total = live_collector.store.events(limit=10)
    assert total == 6
    assert [event.message_id for event in events] == ids[::-1]  # newest first
    stored_track = next(event for event in events if event.type == "track")
    assert stored_track.event == "Signed Up"
    assert stored_track.message["properties"] == {"plan": "pro"}
    assert stored_track.message["context"]["library"]["name"] == "aioanalytics"
    assert parse_message(stored_track.message).message_id == stored_track.message_id


@pytest.mark.parametrize("kind", ["identify", "track", "page", "screen", "group", "alias"])
async def test_single_message_endpoints(live_collector: LiveCollector, kind: str) -> None:
    """Each /v1/<type> endpoint takes one message, its type implied by the path."""
    per_type: dict[str, dict[str, Any]] = {
        "identify": {"traits": {"a": 1}},
        "track": {"event": "E"},
        "page": {"name": "Home"},
        "screen": {"name": "Home"},
        "group": {"groupId": "g1"},
        "alias": {"previousId": "a1"},
    }
    fields = per_type[kind]
    body: dict[str, Any] = {
        "userId": "u1",
        "messageId": f"m-{kind}",
        "sentAt": "2024-01-01T00:00:00Z",
    }
    body.update(fields)
    async with live_collector.http() as http:
        response = await http.post(f"/v1/{kind}", json=body, auth=AUTH)
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "stored": 1, "duplicates": 0}
        wrong = await http.post(f"/v1/{kind}", json={**body, "type": "nope"}, auth=AUTH)
        assert wrong.status_code == 400
        assert wrong.json()["error"] == f"type: must be '{kind}' at /v1/{kind}"
    events, _ = live_collector.store.events()
    assert [(e.type, e.message_id) for e in events] == [(kind, f"m-{kind}")]
    assert "sentAt" not in events[0].message


async def test_envelope_context_is_merged_into_items(live_collector: LiveCollector) -> None:
    """A batch's envelope context and integrations reach each item; the item's keys win."""
    body = {
        "batch": [track("m1", context={"ip": "1.2.3.4"}), track("m2")],
        "context": {"ip": "9.9.9.9", "locale": "en-GB"},
        "integrations": {"All": False},
    }
    async with live_collector.http() as http:
        response = await http.post("/v1/batch", json=body, auth=AUTH)
    assert response.status_code == 200
    by_id = {e.message_id: e.message for e in live_collector.store.events()[0]}
    assert by_id["m1"]["context"] == {"ip": "1.2.3.4", "locale": "en-GB"}
    assert by_id["m2"]["context"] == {"ip": "9.9.9.9", "locale": "en-GB"}
    assert by_id["m2"]["integrations"] == {"All": False}


# -- authentication -------------------------------------------------------------------------


async def test_any_key_is_accepted_by_default(live_collector: LiveCollector) -> None:
    """Without --write-key any non-empty key passes, but some key is required."""
    async with live_collector.sdk("whatever-key") as analytics:
        await (await analytics.track(user_id="u1", event="E"))
    async with live_collector.http() as http:
        missing = await http.post("/v1/batch", json={"batch": [track("m9")]})
        empty = await http.post("/v1/batch", json={"batch": [track("m9")]}, auth=("", ""))
        bearer = await http.post(
            "/v1/batch", json={"batch": [track("m9")]}, headers={"Authorization": "Bearer x"}
        )
        garbled = await http.post(
            "/v1/batch", json={"batch": [track("m9")]}, headers={"Authorization": "Basic %%%"}
        )
    for response in (missing, empty, bearer, garbled):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
    assert live_collector.store.counts().total == 1


async def test_only_configured_keys_are_accepted(start_collector: StartCollector) -> None:
    """With write keys configured, another key gets a 401 the SDK does not retry."""
    collector = await start_collector(write_keys=["key-one", "key-two"])
    async with collector.sdk("key-two") as analytics:
        await (await analytics.track(user_id="u1", event="Accepted"))
    async with collector.sdk("wrong-key", max_retries=5) as analytics:
        delivery = await analytics.track(user_id="u1", event="Refused")
        with pytest.raises(DeliveryError) as caught:
            await delivery
    assert caught.value.status_code == 401
    assert caught.value.attempts == 1
    async with collector.http() as http:
        # The body's writeKey is the documented alternative to the header.
        in_body = await http.post("/v1/batch", json={"batch": [track("m2")], "writeKey": "key-one"})
        wrong_body = await http.post("/v1/batch", json={"batch": [track("m3")], "writeKey": "nope"})
    assert in_body.status_code == 200
    assert wrong_body.status_code == 401
    events, _ = collector.store.events()
    assert {e.event for e in events} == {"Accepted", "Clicked"}
    # The key is used to decide and then forgotten: it is in no stored message.
    for event in events:
        assert "key-" not in json.dumps(event.to_json())


async def test_write_key_is_never_shown(start_collector: StartCollector) -> None:
    """No query API answer, export or event stream carries the write key."""
    secret = "sk-live-SECRET-0123456789"
    collector = await start_collector(write_keys=[secret])
    async with collector.sdk(secret) as analytics:
        await (await analytics.track(user_id="u1", event="E"))
    async with collector.http() as http:
        posted = await http.post("/v1/batch", json={"batch": [track("m5")], "writeKey": secret})
        assert posted.status_code == 200
        for path in ("/", "/api/events", "/api/counts", "/api/export", "/api/config"):
            response = await http.get(path)
            assert response.status_code == 200
            assert secret not in response.text
        assert (await http.get("/api/config")).json()["auth"] == {"anyKey": False, "keys": 1}


# -- gzip and size limits -------------------------------------------------------------------


@pytest.mark.parametrize("use_gzip", [True, False])
async def test_sdk_gzip_and_plain_bodies(live_collector: LiveCollector, use_gzip: bool) -> None:
    """The SDK's bodies are stored whether it compresses them or not."""
    await send_all_types(live_collector, gzip=use_gzip)
    assert live_collector.store.counts().total == 6


async def test_gzip_body_and_concatenated_members(live_collector: LiveCollector) -> None:
    """A gzip body is inflated; concatenated gzip members count as one body."""
    body = json.dumps({"batch": [track("g1"), track("g2")]}).encode()
    half = len(body) // 2
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with live_collector.http() as http:
        one = await http.post("/v1/batch", content=gzip.compress(body), headers=headers, auth=AUTH)
        two_members = gzip.compress(body[:half]) + gzip.compress(body[half:])
        two = await http.post("/v1/batch", content=two_members, headers=headers, auth=AUTH)
    assert one.status_code == 200
    assert two.json() == {"success": True, "stored": 0, "duplicates": 2}


async def test_gzip_bomb_is_refused_not_inflated(live_collector: LiveCollector) -> None:
    """A small gzip body that inflates past the batch limit gets a 400."""
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * MAX_BATCH_BYTES) + b"]}")
    assert len(bomb) < MAX_BATCH_BYTES // 10
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with live_collector.http() as http:
        response = await http.post("/v1/batch", content=bomb, headers=headers, auth=AUTH)
        broken = await http.post("/v1/batch", content=b"not gzip", headers=headers, auth=AUTH)
        truncated = await http.post(
            "/v1/batch", content=gzip.compress(b"{}")[:-6], headers=headers, auth=AUTH
        )
        brotli = await http.post(
            "/v1/batch",
            content=b"{}",
            headers={"Content-Encoding": "br", "Content-Type": "application/json"},
            auth=AUTH,
        )
    assert response.status_code == 400
    assert "once decompressed" in response.json()["error"]
    assert broken.status_code == 400
    assert "malformed gzip" in broken.json()["error"]
    assert truncated.status_code == 400
    assert brotli.status_code == 400
    assert "Content-Encoding" in brotli.json()["error"]


async def test_size_limits(live_collector: LiveCollector) -> None:
    """32 KiB per message and 500 KB per batch body, answered with 400 as Segment does."""
    big = "x" * MAX_MESSAGE_BYTES
    async with live_collector.http() as http:
        one_big = await http.post(
            "/v1/batch",
            json={"batch": [track("m1"), track("m2", properties={"b": big})]},
            auth=AUTH,
        )
        single_big = await http.post(
            "/v1/track", json=track("m3", properties={"b": big}), auth=AUTH
        )
        many = [track(f"m{i}", properties={"b": "y" * 20_000}) for i in range(30)]
        too_big_batch = await http.post("/v1/batch", json={"batch": many}, auth=AUTH)

        async def chunks() -> AsyncIterator[bytes]:
            yield json.dumps({"batch": many}).encode()

        chunked = await http.post(
            "/v1/batch",
            content=chunks(),
            headers={"Content-Type": "application/json"},
            auth=AUTH,
        )
        too_many = await http.post(
            "/v1/batch", json={"batch": [track(f"n{i}") for i in range(2501)]}, auth=AUTH
        )
    assert one_big.status_code == 400
    assert one_big.json()["error"].startswith("batch[1]: message is ")
    assert single_big.status_code == 400
    assert too_big_batch.status_code == 400
    assert "payload too large" in too_big_batch.json()["error"]
    assert chunked.status_code == 400  # no Content-Length: refused while reading
    assert too_many.status_code == 400
    assert live_collector.store.counts().total == 0


# -- validation -----------------------------------------------------------------------------


async def test_invalid_message_gets_400_naming_the_field(live_collector: LiveCollector) -> None:
    """A bad message rejects the batch with a 400 whose error names batch[i].field."""
    batch = [track(f"m{i}") for i in range(5)]
    del batch[3]["event"]
    batch[4]["timestamp"] = "yesterday"
    async with live_collector.http() as http:
        response = await http.post("/v1/batch", json={"batch": batch}, auth=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("batch[3].event: ")
    assert body["errors"][1].startswith("batch[4].timestamp: ")
    assert live_collector.store.counts().total == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'{"batch": {}}', "batch: must be a list of messages"),
        (b'{"batch": [7]}', "batch[0]: must be a JSON object"),
        (b'{"batch": [{"userId": "u1"}]}', "batch[0].type: "),
        (b'{"batch": [{"type": "track", "event": "E"}]}', "batch[0]: userId or anonymousId"),
        (b'{"batch": [{"type": "alias", "previousId": "a"}]}', "batch[0]: alias requires userId"),
        (b'{"batch": [{"type": "track", "event": "E", "userId": "u", "x": 1}]}', "batch[0].x: "),
    ],
)
async def test_malformed_bodies_get_400(
    live_collector: LiveCollector, body: bytes, error: str
) -> None:
    """Malformed JSON, a wrong shape or an invalid message is a 400 that says why."""
    async with live_collector.http() as http:
        response = await http.post(
            "/v1/batch", content=body, headers={"Content-Type": "application/json"}, auth=AUTH
        )
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


async def test_content_type_must_be_json(live_collector: LiveCollector) -> None:
    """Segment requires Content-Type: application/json (a charset parameter is fine)."""
    body = json.dumps({"batch": [track("m1")]})
    async with live_collector.http() as http:
        plain = await http.post(
            "/v1/batch", content=body, headers={"Content-Type": "text/plain"}, auth=AUTH
        )
        charset = await http.post(
            "/v1/batch",
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            auth=AUTH,
        )
    assert plain.status_code == 400
    assert charset.status_code == 200


# -- de-duplication -------------------------------------------------------------------------


async def test_duplicates_are_counted_not_stored(live_collector: LiveCollector) -> None:
    """A messageId seen before is not stored again; its duplicates are counted."""
    async with live_collector.http() as http:
        first = await http.post("/v1/batch", json={"batch": [track("d1"), track("d2")]}, auth=AUTH)
        again = await http.post(
            "/v1/batch", json={"batch": [track("d1"), track("d3"), track("d3")]}, auth=AUTH
        )
    assert first.json() == {"success": True, "stored": 2, "duplicates": 0}
    assert again.json() == {"success": True, "stored": 1, "duplicates": 2}
    async with live_collector.sdk() as analytics:
        for _ in range(2):
            await (await analytics.track(user_id="u1", event="E", message_id="d2"))
    counts = live_collector.store.counts()
    assert (counts.total, counts.duplicates) == (3, 4)
    events, _ = live_collector.store.events()
    assert {e.message_id: e.duplicates for e in events} == {"d1": 1, "d2": 2, "d3": 1}


# -- query API ------------------------------------------------------------------------------


async def test_query_api_filters_pages_counts_and_exports(live_collector: LiveCollector) -> None:
    """/api/events filters and pages newest first; /api/counts and /api/export agree."""
    await send_all_types(live_collector)
    async with live_collector.http() as http:
        everything = (await http.get("/api/events")).json()
        tracks = (await http.get("/api/events", params={"type": "track"})).json()
        by_event = (await http.get("/api/events", params={"event": "Signed Up"})).json()
        by_name = (await http.get("/api/events", params={"event": "Dashboard"})).json()
        by_user = (await http.get("/api/events", params={"user": "a2"})).json()
        paged = (await http.get("/api/events", params={"limit": 2, "offset": 1})).json()
        counts = (await http.get("/api/counts")).json()
        export = await http.get("/api/export")
        export_tracks = await http.get("/api/export", params={"type": "track"})
        bad = await http.get("/api/events", params={"limit": "many"})
        negative = await http.get("/api/events", params={"offset": "-1"})
    assert everything["total"] == 6
    ids = [event["id"] for event in everything["events"]]
    assert ids == sorted(ids, reverse=True)
    assert [e["type"] for e in tracks["events"]] == ["track"]
    assert by_event["events"][0]["message"]["properties"] == {"plan": "pro"}
    assert [e["type"] for e in by_name["events"]] == ["screen"]
    assert [e["anonymousId"] for e in by_user["events"]] == ["a2"]
    assert [e["id"] for e in paged["events"]] == ids[1:3]
    assert paged["total"] == 6
    assert counts == {
        "total": 6,
        "duplicates": 0,
        "types": {"alias": 1, "group": 1, "identify": 1, "page": 1, "screen": 1, "track": 1},
        "events": {"Signed Up": 1},
    }
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = export.text.splitlines()
    assert len(lines) == 6
    assert next(parse_message(json.loads(line)).type for line in lines) == "identify"  # oldest
    assert len(export_tracks.text.splitlines()) == 1
    assert bad.status_code == 400
    assert bad.json()["error"] == "limit: must be an integer"
    assert negative.status_code == 400


async def test_event_stream_pushes_new_messages(live_collector: LiveCollector) -> None:
    """/api/stream sends each newly stored message as a server-sent event."""
    async with live_collector.http() as http, http.stream("GET", "/api/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await anext(lines) == "retry: 1000"
        async with live_collector.sdk() as analytics:
            delivery = await analytics.track(user_id="u1", event="Streamed")
            message_id = (await delivery).message_id
        with anyio.fail_after(5):
            async for line in lines:
                if line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    break
    assert data["messageId"] == message_id
    assert data["event"] == "Streamed"


async def test_page_and_assets_are_served(live_collector: LiveCollector) -> None:
    """The debugger page and its script and style ship with the package."""
    async with live_collector.http() as http:
        page = await http.get("/")
        script = await http.get("/static/app.js")
        style = await http.get("/static/app.css")
        config = await http.get("/api/config")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert style.headers["content-type"].startswith("text/css")
    assert config.json()["limits"]["messageBytes"] == MAX_MESSAGE_BYTES


# -- fault injection ------------------------------------------------------------------------


FAULTS = {
    "500": Faults(fail_rate=0.5, fail_status=500),
    "503": Faults(fail_rate=0.5, fail_status=503),
    "429": Faults(fail_rate=0.5, fail_status=429, retry_after=0),
    "drop": Faults(drop_rate=0.4),
    "latency": Faults(latency=0.02),
    "mixed": Faults(fail_rate=0.3, fail_status=429, retry_after=0, drop_rate=0.2, latency=0.005),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_sdk_retries_through_injected_faults(
    start_collector: StartCollector, name: str
) -> None:
    """Whatever the faults, the SDK retries and every message ends up stored exactly once."""
    collector = await start_collector(faults=FAULTS[name], seed=7)
    count = 200
    async with collector.sdk(flush_at=20, max_retries=30) as analytics:
        deliveries = [
            await analytics.track(user_id=f"u{i % 7}", event="Faulty", properties={"i": i})
            for i in range(count)
        ]
        await analytics.flush()
        results = [await delivery for delivery in deliveries]
    counts = collector.store.counts()
    assert counts.total == count
    assert counts.duplicates == 0
    stored = {event.message_id for event in collector.store.events(limit=1000)[0]}
    assert stored == {result.message_id for result in results}
    if name != "latency":
        assert collector.state.ingested["faulted"] > 0
        assert analytics.stats.retried > 0


async def test_injected_failure_statuses_and_retry_after(start_collector: StartCollector) -> None:
    """An injected 429 carries Retry-After; an injected failure stores nothing."""
    limited = await start_collector(faults=Faults(fail_rate=1, fail_status=429, retry_after=2))
    broken = await start_collector(faults=Faults(fail_rate=1, fail_status=503))
    body = {"batch": [track("f1")]}
    async with limited.http() as http:
        response = await http.post("/v1/batch", json=body, auth=AUTH)
        page = await http.get("/api/counts")  # the query API is never faulted
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert page.status_code == 200
    async with broken.http() as http:
        response = await http.post("/v1/batch", json=body, auth=AUTH)
    assert response.status_code == 503
    assert "retry-after" not in response.headers
    assert limited.store.counts().total == broken.store.counts().total == 0


async def test_dropped_request_gets_no_answer(start_collector: StartCollector) -> None:
    """A dropped request's connection closes without a response, and nothing is stored."""
    collector = await start_collector(faults=Faults(drop_rate=1))
    async with collector.http() as http:
        with pytest.raises(httpx.TransportError):
            await http.post("/v1/batch", json={"batch": [track("x1")]}, auth=AUTH)
    assert collector.store.counts().total == 0


async def test_latency_delays_answers(start_collector: StartCollector) -> None:
    """--latency adds its seconds before each /v1 answer."""
    collector = await start_collector(faults=Faults(latency=0.2))
    async with collector.http() as http:
        started = anyio.current_time()
        response = await http.post("/v1/batch", json={"batch": [track("l1")]}, auth=AUTH)
        assert anyio.current_time() - started >= 0.2
    assert response.status_code == 200


def test_fault_settings_are_checked() -> None:
    """Rates outside 0..1, rates over 1 in sum, other statuses and negative times are refused."""
    for bad in (
        {"fail_rate": 1.5},
        {"drop_rate": -0.1},
        {"fail_rate": 0.6, "drop_rate": 0.6},
        {"fail_status": 502},
        {"latency": -1},
        {"retry_after": -1},
    ):
        with pytest.raises(ValueError, match="must"):
            Faults(**bad)
    assert Faults(retry_after=1.5).retry_after_header() == "1.5"
    assert not Faults().enabled


def test_timestamps_default_to_arrival_time() -> None:
    """A message sent without a timestamp is stamped when it arrives, as Segment does."""
    from aioanalytics._server.app import _validate

    before = datetime.now(UTC)
    (event,) = _validate({"batch": [{"type": "track", "userId": "u", "event": "E"}]}, "batch")
    assert event.timestamp is not None
    assert datetime.fromisoformat(event.timestamp) >= before.replace(microsecond=0)
    assert event.message["messageId"] == event.message_id


def test_basic_auth_without_colon_is_accepted() -> None:
    """Segment takes the key base64-encoded with or without the trailing colon."""
    from aioanalytics._server.app import _basic_auth_key

    assert _basic_auth_key("Basic " + base64.b64encode(b"key").decode()) == "key"
    assert _basic_auth_key("basic " + base64.b64encode(b"key:").decode()) == "key"

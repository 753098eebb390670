"""Mixpanel over HTTP: every rule sent through the client to the emulated Mixpanel API."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from aioanalytics import Analytics, DeliveryError, DeliveryResult
from tests.destinations.emulator import Answer, Emulator
from tests.destinations.mixpanel_rules import MIXPANEL_RULES
from tests.destinations.support import (
    FAST_CLIENT,
    MIXPANEL_QUERIES,
    OLD,
    Rule,
    mixpanel,
    mp_event,
    run,
)

pytestmark = pytest.mark.anyio


def _query(path: str, settings: dict[str, Any]) -> dict[str, str]:
    query = dict(MIXPANEL_QUERIES[path])
    account = settings.get("service_account")
    if path == "/import" and account is not None:
        query["project_id"] = account["project_id"]
    return query


def _auth(path: str, settings: dict[str, Any]) -> tuple[str, str] | None:
    if path != "/import":
        return None
    account = settings.get("service_account")
    if account is not None:
        return (account["username"], account["secret"])
    return (settings["api_secret"], "")


@pytest.mark.parametrize("rule", MIXPANEL_RULES, ids=lambda rule: rule.id)
async def test_rule(rule: Rule, mixpanel_api: Emulator) -> None:
    """Each rule's call reaches Mixpanel as exactly the expected requests, one per path."""
    destination = mixpanel(mixpanel_api, **rule.settings)
    plugins = [rule.plugin] if rule.plugin is not None else []
    [result] = await run([destination], [(rule.call, rule.kwargs)], plugins=plugins)
    assert result == DeliveryResult(
        rule.kwargs.get("message_id", "msg-0"),
        {"Mixpanel": "delivered" if rule.expect else "skipped"},
    )
    requests = mixpanel_api.requests
    assert sorted(request.path for request in requests) == sorted(rule.expect)
    settings = dict(rule.settings)
    for request in requests:
        assert (
            request.method,
            request.query,
            request.headers["content-type"],
            request.encoding,
            request.auth,
            request.status,
        ) == (
            "POST",
            _query(request.path, settings),
            "application/json",
            "json",
            _auth(request.path, settings),
            200,
        )
        assert request.body == rule.expect[request.path]


async def test_batches_close_at_batch_size(mixpanel_api: Emulator) -> None:
    """batch_size records make a request; the rest go at the next flush."""
    calls = [("track", {"user_id": "u1", "event": f"E{i}"}) for i in range(3)]
    await run([mixpanel(mixpanel_api, batch_size=2)], calls)
    # The two requests are sent concurrently: compare them in a fixed order.
    assert sorted(mixpanel_api.bodies("/track"), key=len, reverse=True) == [
        [mp_event("E0", message_id="msg-0"), mp_event("E1", message_id="msg-1")],
        [mp_event("E2", message_id="msg-2")],
    ]


async def test_events_and_profile_updates_share_batches(mixpanel_api: Emulator) -> None:
    """Records of several calls for one endpoint travel in one JSON array."""
    calls = [
        ("identify", {"user_id": "u1", "traits": {"plan": "a"}}),
        ("identify", {"user_id": "u2", "traits": {"plan": "b"}}),
    ]
    await run([mixpanel(mixpanel_api, people=True)], calls)
    [body] = mixpanel_api.bodies("/engage")
    assert [(r["$distinct_id"], r["$set"]) for r in body] == [
        ("u1", {"plan": "a"}),
        ("u2", {"plan": "b"}),
    ]


async def test_gzip(mixpanel_api: Emulator) -> None:
    """With gzip on, bodies are gzipped and say so."""
    await run([mixpanel(mixpanel_api, gzip=True)], [("track", {"user_id": "u1", "event": "E"})])
    [request] = mixpanel_api.requests
    assert request.headers["content-encoding"] == "gzip"
    assert request.body == [mp_event("E")]


async def test_status_0_is_rejected_without_retry(mixpanel_api: Emulator) -> None:
    """200 with "status": 0 fails the delivery at once: the answer is final."""
    mixpanel_api.script("/track", Answer(200, {"status": 0, "error": "some data points invalid"}))
    [result] = await run([mixpanel(mixpanel_api)], [("track", {"user_id": "u1", "event": "E"})])
    assert isinstance(result, DeliveryError)
    assert (result.status_code, result.attempts) == (200, 1)
    assert "some data points invalid" in result.body
    assert len(mixpanel_api.requests) == 1


async def test_import_400_is_final(
    mixpanel_api: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """/import's strict 400 is not retried, and its failed records are logged."""
    failed = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [{"index": 0, "field": "properties.time", "message": "too old"}],
        "num_records_imported": 0,
        "status": "Bad Request",
    }
    mixpanel_api.script("/import", Answer(400, failed))
    with caplog.at_level(logging.WARNING):
        [result] = await run(
            [mixpanel(mixpanel_api, api_secret="SECRET")],
            [("track", {"user_id": "u1", "event": "E", "timestamp": OLD})],
        )
    assert isinstance(result, DeliveryError)
    assert (result.status_code, result.attempts) == (400, 1)
    assert "failed_records" in caplog.text
    assert len(mixpanel_api.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_is_final_and_marks_unhealthy(
    status: int, mixpanel_api: Emulator
) -> None:
    """401/403 fail the delivery without retry and set the destination's auth_error."""
    mixpanel_api.script("/engage", Answer(status, {"error": "Invalid project token"}))
    destination = mixpanel(mixpanel_api, people=True)
    [result] = await run([destination], [("identify", {"user_id": "u1"})])
    assert isinstance(result, DeliveryError)
    assert result.status_code == status
    assert destination.auth_error is not None
    assert f"HTTP {status}" in destination.auth_error
    assert len(mixpanel_api.requests) == 1


async def test_413_splits_the_batch(mixpanel_api: Emulator) -> None:
    """413 halves the batch and sends each half; it never resends the batch unchanged."""
    mixpanel_api.script("/track", Answer(413, {"error": "request exceeds max limit"}))
    calls = [("track", {"user_id": "u1", "event": f"E{i}"}) for i in range(3)]
    results = await run([mixpanel(mixpanel_api)], calls)
    assert all(isinstance(result, DeliveryResult) for result in results)
    assert [len(request.records) for request in mixpanel_api.to("/track")] == [3, 2, 1]


async def test_429_backs_off_and_retries(mixpanel_api: Emulator) -> None:
    """429 is retried (honouring Retry-After) until Mixpanel accepts."""
    mixpanel_api.script("/track", Answer(429, {"error": "rate limited"}, {"Retry-After": "0"}))
    [result] = await run([mixpanel(mixpanel_api)], [("track", {"user_id": "u1", "event": "E"})])
    assert isinstance(result, DeliveryResult)
    assert [request.status for request in mixpanel_api.requests] == [429, 200]
    assert mixpanel_api.requests[0].body == mixpanel_api.requests[1].body


async def test_5xx_and_network_errors_retry(mixpanel_api: Emulator) -> None:
    """500, 502, 503, 504 and a dropped connection are all retried."""
    mixpanel_api.script(
        "/track", Answer(500), Answer(502), Answer(503), Answer(504), Answer(drop=True)
    )
    [result] = await run([mixpanel(mixpanel_api)], [("track", {"user_id": "u1", "event": "E"})])
    assert isinstance(result, DeliveryResult)
    assert [request.status for request in mixpanel_api.requests] == [500, 502, 503, 504, None, 200]


async def test_retries_are_bounded(mixpanel_api: Emulator) -> None:
    """After max_retries retries the delivery fails with the last answer."""
    mixpanel_api.script("/track", *[Answer(503)] * 3)
    [result] = await run(
        [mixpanel(mixpanel_api, max_retries=2)], [("track", {"user_id": "u1", "event": "E"})]
    )
    assert isinstance(result, DeliveryError)
    assert (result.status_code, result.attempts) == (503, 3)


async def test_alias_is_sent_at_once(mixpanel_api: Emulator) -> None:
    """An alias leaves immediately, ahead of events still waiting for their batch."""
    destination = mixpanel(mixpanel_api, flush_interval=30)
    async with Analytics(None, destinations=[destination], **FAST_CLIENT) as analytics:
        alias = await analytics.alias(user_id="u1", previous_id="a1")
        track = await analytics.track(user_id="u1", event="E")
        with anyio.fail_after(5):
            await alias
        assert not track.done()
        assert [request.body[0]["event"] for request in mixpanel_api.requests] == ["$create_alias"]
    await track
    assert [request.body[0]["event"] for request in mixpanel_api.requests] == [
        "$create_alias",
        "E",
    ]

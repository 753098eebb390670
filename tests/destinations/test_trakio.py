"""Trak.io over HTTP: every rule sent through the client to the emulated Trak.io API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aioanalytics import DeliveryError, DeliveryResult
from tests.destinations.emulator import Answer, Emulator
from tests.destinations.support import TOKEN, Rule, run, trakio
from tests.destinations.trakio_rules import TRAKIO_RULES

pytestmark = pytest.mark.anyio

TRACK = ("track", {"user_id": "u1", "event": "Signed Up"})


def _key(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("rule", TRAKIO_RULES, ids=lambda rule: rule.id)
async def test_rule(rule: Rule, trakio_api: Emulator) -> None:
    """Each rule's call reaches Trak.io as exactly the expected requests, one record each."""
    [result] = await run([trakio(trakio_api, **rule.settings)], [(rule.call, rule.kwargs)])
    assert result == DeliveryResult("msg-0", {"Trak.io": "delivered" if rule.expect else "skipped"})
    requests = trakio_api.requests
    for request in requests:
        assert (
            request.method,
            request.query,
            request.headers["x-token"],
            request.headers["content-type"],
            request.encoding,
            request.status,
        ) == ("POST", {}, TOKEN, "application/json", "json", 200)
        assert set(request.body) == {"source", "data"}
        assert request.body["source"] == "aioanalytics"
    got: dict[str, list[str]] = {}
    for request in requests:
        got.setdefault(request.path, []).append(_key(request.body["data"]))
    assert {path: sorted(bodies) for path, bodies in got.items()} == {
        path: sorted(map(_key, data)) for path, data in rule.expect.items()
    }


async def test_202_is_success(trakio_api: Emulator) -> None:
    """202 (queued without full validation) counts as delivered."""
    trakio_api.script("/v1/track", Answer(202, {"status": "success"}))
    [result] = await run([trakio(trakio_api)], [TRACK])
    assert result == DeliveryResult("msg-0", {"Trak.io": "delivered"})


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, "MissingParameter"),
        (401, "InvalidToken"),
        (402, "TrialExpired"),
        (404, "RouteNotFound"),
    ],
)
async def test_client_errors_are_final(status: int, exception: str, trakio_api: Emulator) -> None:
    """400, 401, 402 and 404 fail the delivery without a retry, with Trak.io's error body."""
    body = {
        "status": "error",
        "code": status,
        "exception": f"TrakioAPI::Exceptions::{exception}",
        "message": exception,
    }
    trakio_api.script("/v1/track", Answer(status, body))
    [result] = await run([trakio(trakio_api)], [TRACK])
    assert isinstance(result, DeliveryError)
    assert (result.status_code, result.attempts) == (status, 1)
    assert exception in result.body
    assert len(trakio_api.requests) == 1


async def test_server_errors_and_dropped_connections_retry(trakio_api: Emulator) -> None:
    """5xx, 429 (honouring Retry-After) and dropped connections are retried."""
    trakio_api.script(
        "/v1/track",
        Answer(500),
        Answer(drop=True),
        Answer(429, headers={"Retry-After": "0"}),
        Answer(503),
    )
    [result] = await run([trakio(trakio_api, max_retries=4)], [TRACK])
    assert isinstance(result, DeliveryResult)
    assert [request.status for request in trakio_api.requests] == [500, None, 429, 503, 200]


async def test_retries_are_bounded(trakio_api: Emulator) -> None:
    """After max_retries retries (3 by default) the delivery fails."""
    trakio_api.script("/v1/track", *[Answer(drop=True)] * 4)
    [result] = await run([trakio(trakio_api)], [TRACK])
    assert isinstance(result, DeliveryError)
    assert (result.status_code, result.attempts) == (None, 4)


async def test_a_page_is_sent_as_separate_requests(trakio_api: Emulator) -> None:
    """Trak.io has no batch endpoint: each record of a message is its own request."""
    await run(
        [trakio(trakio_api)],
        [("page", {"user_id": "u1", "name": "Pricing", "category": "Docs"})],
    )
    assert len(trakio_api.to("/v1/track")) == 3
    assert all(isinstance(request.body["data"], dict) for request in trakio_api.requests)

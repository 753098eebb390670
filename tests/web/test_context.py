"""The request context in the client: merged into every call, explicit arguments win."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from typing import Any

import pytest

from aioanalytics import Analytics, MemoryTransport
from aioanalytics._context import merge
from aioanalytics.sync import Analytics as SyncAnalytics
from aioanalytics.web import RequestContext, bind, current

REQUEST = RequestContext(
    {
        "ip": "203.0.113.7",
        "userAgent": "Mozilla/5.0",
        "page": {"path": "/cart", "search": "", "url": "https://shop.example/cart"},
        "locale": "en-GB",
        "requestId": "req-1",
    },
    user_id="visitor",
    anonymous_id="anon-1",
)
LIBRARY = {"name": "aioanalytics"}


def strip(message: dict[str, Any]) -> dict[str, Any]:
    """A message without the fields that change per call."""
    context = dict(message["context"])
    context["library"] = {"name": context["library"]["name"]}
    kept = {k: v for k, v in message.items() if k not in ("messageId", "timestamp", "sentAt")}
    return {**kept, "context": context}


async def send_all(analytics: Analytics) -> None:
    await analytics.identify(traits={"plan": "pro"})
    await analytics.track(event="Viewed")
    await analytics.page(name="Cart")
    await analytics.screen(name="Home")
    await analytics.group(group_id="g1")
    await analytics.alias(user_id="visitor", previous_id="old")


async def test_every_call_carries_the_bound_context() -> None:
    """All six calls get the request's context fields and the visitor's ids."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        with bind(REQUEST):
            await send_all(analytics)
    assert len(transport.messages) == 6
    for message in transport.messages:
        assert message["context"] == {**REQUEST.context, "library": message["context"]["library"]}
        assert message["anonymousId"] == "anon-1"
        assert message["userId"] == "visitor"


async def test_explicit_arguments_win() -> None:
    """A call's own ids and context keys replace the request's; a page dict is laid over."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        with bind(REQUEST):
            await analytics.track(
                user_id="visitor",
                anonymous_id="explicit-anon",
                event="E",
                context={"ip": None, "user_agent": "bot/1", "page": {"title": "Cart"}, "x": 1},
            )
    (message,) = transport.messages
    assert message["anonymousId"] == "explicit-anon"
    context = message["context"]
    assert "ip" not in context  # None: the call leaves it out
    assert context["userAgent"] == "bot/1"
    assert context["page"] == {**REQUEST.context["page"], "title": "Cart"}
    assert context["x"] == 1


async def test_calls_about_someone_else_get_no_cookie_ids() -> None:
    """A user_id other than the signed-in visitor's keeps the visitor's ids off the message."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        with bind(REQUEST):
            await analytics.identify(user_id="another-user", traits={"invited": True})
        signing_up = RequestContext({}, anonymous_id="anon-2")
        with bind(signing_up):  # not signed in yet: the new user id joins the anonymous one
            await analytics.identify(user_id="new-user")
    first, second = transport.messages
    assert first["userId"] == "another-user" and "anonymousId" not in first
    assert first["context"]["ip"] == "203.0.113.7"  # the request did happen
    assert (second["userId"], second["anonymousId"]) == ("new-user", "anon-2")


def test_merge_shares_nothing_it_was_given() -> None:
    """merge never changes the call's context or the request's."""
    given = {"page": {"title": "T"}}
    before = json.dumps(REQUEST.context, sort_keys=True)
    _, _, merged = merge(REQUEST, None, None, given)
    assert merged is not None and merged["page"]["title"] == "T"
    assert given == {"page": {"title": "T"}}
    assert json.dumps(REQUEST.context, sort_keys=True) == before
    assert merge(RequestContext({}), "u", None, None) == ("u", None, None)


async def test_nothing_bound_leaves_messages_as_they_were() -> None:
    """Without a bound context the calls send exactly what they did before."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        await analytics.track(user_id="u1", event="E", properties={"a": 1})
        await analytics.track(anonymous_id="a1", event="E", context={"ip": "1.1.1.1"})
    first, second = (strip(m) for m in transport.messages)
    assert first == {
        "userId": "u1",
        "type": "track",
        "event": "E",
        "properties": {"a": 1},
        "context": {"library": LIBRARY},
    }
    assert second["context"] == {"library": LIBRARY, "ip": "1.1.1.1"}
    assert current() is None


async def test_tasks_spawned_in_a_request_keep_its_context() -> None:
    """A task created while a context is bound keeps it after the block is left."""
    transport = MemoryTransport()
    async with Analytics("key", transport=transport) as analytics:
        release = asyncio.Event()

        async def later() -> None:
            await release.wait()
            await analytics.track(event="Background")

        with bind(REQUEST):
            task = asyncio.create_task(later())
        assert current() is None
        release.set()
        await task
    (message,) = transport.messages
    assert message["anonymousId"] == "anon-1" and message["context"]["requestId"] == "req-1"


async def test_without_ids_a_call_still_needs_one() -> None:
    """A bound context without cookie ids does not make an id-less call valid."""
    import pydantic

    async with Analytics("key", transport=MemoryTransport()) as analytics:
        with bind(RequestContext({"ip": "1.2.3.4"})), pytest.raises(pydantic.ValidationError):
            await analytics.track(event="E")


def test_sync_facade_carries_each_threads_context() -> None:
    """Calls of the blocking facade from many threads each carry their own thread's context."""
    transport = MemoryTransport()
    client = SyncAnalytics("key", transport=transport)
    errors: list[BaseException] = []

    def handle(n: int) -> None:
        try:
            with bind(RequestContext({"requestId": f"r{n}"}, anonymous_id=f"a{n}")):
                client.track(event="Threaded", properties={"n": n})
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=handle, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert not errors
    messages = transport.messages
    assert len(messages) == 40
    for message in messages:
        n = message["properties"]["n"]
        assert message["anonymousId"] == f"a{n}"
        assert message["context"]["requestId"] == f"r{n}"


def test_importing_aioanalytics_imports_no_framework_or_opentelemetry() -> None:
    """import aioanalytics (and the web package itself) loads no framework and no OpenTelemetry."""
    code = (
        "import sys, aioanalytics, aioanalytics.web, aioanalytics.web.asgi;"
        "heavy = ('fastapi', 'starlette', 'aiohttp', 'django', 'opentelemetry', 'uvicorn');"
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_request_context_repr_and_equality() -> None:
    """A RequestContext shows its fields and compares by value, with nothing else."""
    context = RequestContext({"ip": "1.2.3.4"}, anonymous_id="a")
    assert repr(context) == "RequestContext({'ip': '1.2.3.4'}, user_id=None, anonymous_id='a')"
    assert context == RequestContext({"ip": "1.2.3.4"}, anonymous_id="a")
    assert context != {"ip": "1.2.3.4"}

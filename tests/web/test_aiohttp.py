"""The aiohttp middleware and cleanup context, under aiohttp's own server."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp import ClientSession, web

from aioanalytics import ClientClosedError
from aioanalytics.web import ContextOptions
from aioanalytics.web.aiohttp import ANALYTICS, get_analytics, middleware, setup
from tests.collector import Collector

from ._serve import serve_aiohttp

TASKS = web.AppKey("tasks", set)


async def search(request: web.Request) -> web.Response:
    n = int(request.query["n"])
    analytics = get_analytics(request)
    await asyncio.sleep(random.random() / 100)
    await analytics.track(event="Products Searched", properties={"n": n})

    async def later() -> None:
        await asyncio.sleep(random.random() / 100)
        await analytics.track(event="Spawned", properties={"n": n})

    request.app[TASKS].add(asyncio.create_task(later()))
    return web.json_response({"n": n})


async def test_interleaved_requests_and_spawned_tasks_keep_their_own_context() -> None:
    """200 concurrent requests: each event carries its own request's context and ids."""
    count = 200
    with Collector() as collector:
        app = web.Application()
        app[TASKS] = set()
        setup(
            app,
            "key",
            host=collector.url,
            flush_interval=0.05,
            context=ContextOptions(trusted_proxies=["127.0.0.1"]),
        )
        app.router.add_get("/search", search)

        async def drain(app: web.Application) -> None:
            await asyncio.gather(*app[TASKS])

        app.on_shutdown.append(drain)
        async with serve_aiohttp(app) as url, ClientSession(url) as session:

            async def get(n: int) -> None:
                headers = {
                    "Cookie": f"ajs_anonymous_id=%22anon-{n}%22",
                    "Forwarded": f'for="198.51.100.{n % 250}";proto=https;host=shop.example',
                    "Accept-Language": "de-DE,de;q=0.9",
                    "X-Request-ID": f"req-{n}",
                }
                async with session.get("/search", params={"n": n}, headers=headers) as response:
                    response.raise_for_status()

            await asyncio.gather(*(get(n) for n in range(count)))
        collector.wait_for(2 * count)
        messages = collector.accepted_messages
    assert len(messages) == 2 * count
    for message in messages:
        n = message["properties"]["n"]
        assert message["anonymousId"] == f"anon-{n}"
        context = message["context"]
        assert context["ip"] == f"198.51.100.{n % 250}"
        assert context["requestId"] == f"req-{n}"
        assert context["locale"] == "de-DE"
        assert context["page"]["url"] == f"https://shop.example/search?n={n}"


async def test_middleware_alone_with_a_client_of_your_own() -> None:
    """The middleware works with a client the app manages itself."""
    from aioanalytics import Analytics

    with Collector() as collector:
        app = web.Application(middlewares=[middleware(ContextOptions(locale=False))])

        async def client_context(app: web.Application):
            async with Analytics("key", host=collector.url) as analytics:
                app[ANALYTICS] = analytics
                yield

        async def hello(request: web.Request) -> web.Response:
            await request.app[ANALYTICS].page(name="Hello")
            return web.Response(text="hi")

        app.cleanup_ctx.append(client_context)
        app.router.add_get("/hello", hello)
        async with serve_aiohttp(app) as url, ClientSession(url) as session:
            headers = {"Cookie": "ajs_user_id=%22u-9%22", "Accept-Language": "fr"}
            async with session.get("/hello", headers=headers) as response:
                response.raise_for_status()
        collector.wait_for(1)
        (message,) = collector.accepted_messages
    assert message["userId"] == "u-9"
    assert "locale" not in message["context"]
    assert message["context"]["ip"] == "127.0.0.1"


async def test_get_analytics_without_setup_is_a_clear_error() -> None:
    """An app without the cleanup context has no client, and says so."""
    request_app = web.Application()
    from aiohttp.test_utils import make_mocked_request

    with pytest.raises(ClientClosedError, match="setup"):
        get_analytics(make_mocked_request("GET", "/", app=request_app))

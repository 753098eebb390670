"""The ASGI middleware, FastAPI and Starlette helpers, under uvicorn with real requests."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aioanalytics import ClientClosedError
from aioanalytics.web import ContextOptions, current
from aioanalytics.web.asgi import AnalyticsMiddleware
from aioanalytics.web.fastapi import AnalyticsDep, lifespan
from aioanalytics.web.starlette import get_analytics
from aioanalytics.web.starlette import lifespan as starlette_lifespan
from tests.collector import Collector

from ._serve import serve_uvicorn

COOKIES = "ajs_anonymous_id=%22anon-{n}%22; ajs_user_id=%22user-{n}%22"


def fastapi_app(collector: Collector, options: ContextOptions | None = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan("key", host=collector.url, flush_interval=0.05))
    app.add_middleware(AnalyticsMiddleware, options=options)

    @app.get("/items/{n}")
    async def item(n: int, analytics: AnalyticsDep, background: BackgroundTasks) -> dict[str, Any]:
        # Interleave: let other requests run between reading the context and sending.
        await asyncio.sleep(random.random() / 100)
        await analytics.track(event="Item Viewed", properties={"n": n})

        async def later() -> None:
            await asyncio.sleep(random.random() / 100)
            await analytics.track(event="Spawned", properties={"n": n})

        spawned = asyncio.create_task(later())
        background.add_task(analytics.track, event="Background", properties={"n": n})
        await spawned
        return {"n": n}

    return app


async def test_fastapi_hundreds_of_interleaved_requests_never_mix() -> None:
    """Each of 300 concurrent requests' events (inline, spawned task, background task) carry
    that request's ip, page, locale, request id and cookie ids, and no other's."""
    count = 300
    with Collector() as collector:
        app = fastapi_app(collector, ContextOptions(trusted_proxies=["127.0.0.1"]))
        async with serve_uvicorn(app, proxy_headers=False) as url:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=url, limits=limits) as http:

                async def get(n: int) -> None:
                    headers = {
                        "cookie": COOKIES.format(n=n),
                        "x-forwarded-for": f"198.51.100.{n % 250}",
                        "accept-language": f"en-{n};q=0.9",
                        "user-agent": f"agent/{n}",
                        "referer": f"https://ref.example/{n}",
                        "x-request-id": f"req-{n}",
                    }
                    response = await http.get(f"/items/{n}?q={n}", headers=headers)
                    response.raise_for_status()

                await asyncio.gather(*(get(n) for n in range(count)))
        collector.wait_for(3 * count)
        messages = collector.accepted_messages
    assert len(messages) == 3 * count
    for message in messages:
        n = message["properties"]["n"]
        context = message["context"]
        assert message["userId"] == f"user-{n}"
        assert message["anonymousId"] == f"anon-{n}"
        assert context["ip"] == f"198.51.100.{n % 250}"
        assert context["locale"] == f"en-{n}"
        assert context["userAgent"] == f"agent/{n}"
        assert context["requestId"] == f"req-{n}"
        assert context["page"]["path"] == f"/items/{n}"
        assert context["page"]["search"] == f"?q={n}"
        assert context["page"]["url"].endswith(f"/items/{n}?q={n}")
        assert context["page"]["referrer"] == f"https://ref.example/{n}"
    kinds = sorted(m["event"] for m in messages)
    assert kinds.count("Background") == kinds.count("Spawned") == count


async def test_peer_address_without_trusted_proxies() -> None:
    """With no trusted proxy, X-Forwarded-For is ignored and ip is the TCP peer."""
    with Collector() as collector:
        # (uvicorn's own proxy_headers trusts 127.0.0.1 by default and would rewrite the peer)
        app = fastapi_app(collector)
        async with serve_uvicorn(app, proxy_headers=False) as url, httpx.AsyncClient() as http:
            headers = {"x-forwarded-for": "6.6.6.6", "cookie": COOKIES.format(n=1)}
            (await http.get(f"{url}/items/1", headers=headers)).raise_for_status()
        collector.wait_for(3)
        assert {m["context"]["ip"] for m in collector.accepted_messages} == {"127.0.0.1"}


async def test_starlette_lifespan_state() -> None:
    """Starlette: the lifespan's client reaches handlers; anonymize_ip cuts the address."""

    async def signup(request: Request) -> JSONResponse:
        await get_analytics(request).identify(traits={"plan": "pro"})
        return JSONResponse({"ok": True})

    with Collector() as collector:
        app = Starlette(
            routes=[Route("/signup", signup)],
            lifespan=starlette_lifespan("key", host=collector.url),
        )
        app.add_middleware(AnalyticsMiddleware, options=ContextOptions(anonymize_ip=True))
        async with serve_uvicorn(app) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/signup", headers={"cookie": "ajs_anonymous_id=a1"})
            response.raise_for_status()
        collector.wait_for(1)
        (identify,) = collector.accepted_messages
    assert identify["anonymousId"] == "a1"
    assert identify["context"]["ip"] == "127.0.0.0"
    assert identify["context"]["page"]["url"].endswith("/signup")


async def test_websocket_connections_get_a_context() -> None:
    """A WebSocket scope binds a context too, its page URL in http(s) terms."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current())

    scope = {
        "type": "websocket",
        "scheme": "wss",
        "path": "/live",
        "raw_path": b"/live",
        "query_string": b"room=1",
        "headers": [(b"host", b"chat.example"), (b"cookie", b"ajs_anonymous_id=w1")],
        "client": ("203.0.113.5", 5000),
        "server": ("10.0.0.1", 443),
    }

    async def receive() -> dict[str, Any]:
        raise AssertionError("not read")

    async def send(message: Any) -> None:
        raise AssertionError("not sent")

    await AnalyticsMiddleware(app)(scope, receive, send)
    (context,) = seen
    assert context.anonymous_id == "w1"
    assert context.context["page"]["url"] == "https://chat.example/live?room=1"
    assert current() is None


def test_scope_without_raw_path_or_server() -> None:
    """Servers that give no raw_path or server address still yield a page URL."""
    from aioanalytics.web.asgi import read_scope

    scope = {"type": "http", "path": "/a b", "headers": [], "client": None}
    context = read_scope(scope, ContextOptions())
    assert context.context["page"]["url"] == "http://localhost/a%20b"
    assert "ip" not in context.context


async def test_get_analytics_without_lifespan_is_a_clear_error() -> None:
    """A handler asking for the client of an app without the lifespan gets ClientClosedError."""
    seen: list[BaseException] = []

    async def handler(request: Request) -> JSONResponse:
        try:
            get_analytics(request)
        except ClientClosedError as exc:
            seen.append(exc)
        return JSONResponse({})

    app = Starlette(routes=[Route("/", handler)])
    async with serve_uvicorn(app) as url, httpx.AsyncClient(base_url=url) as http:
        (await http.get("/")).raise_for_status()
    assert len(seen) == 1 and "lifespan" in str(seen[0])


async def test_plain_asgi_app_and_lifespan_pass_through() -> None:
    """Any ASGI app works; lifespan messages go through the middleware untouched."""
    events: list[str] = []
    from aioanalytics import Analytics

    with Collector() as collector:
        client = Analytics("key", host=collector.url)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    event = await receive()
                    events.append(event["type"])
                    if event["type"] == "lifespan.startup":
                        await client.open()
                        await send({"type": "lifespan.startup.complete"})
                    else:
                        await client.aclose()
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            await client.track(event="Raw ASGI")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async with serve_uvicorn(AnalyticsMiddleware(app)) as url, httpx.AsyncClient() as http:
            cookie = {"cookie": "ajs_anonymous_id=raw"}
            (await http.get(f"{url}/raw/path%20x?a=1", headers=cookie)).raise_for_status()
        collector.wait_for(1)
        (message,) = collector.accepted_messages
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert message["anonymousId"] == "raw"
    assert message["context"]["page"]["path"] == "/raw/path%20x"

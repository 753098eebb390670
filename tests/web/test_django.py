"""Django: the middleware and app under Django's threaded WSGI test server (the blocking
facade) and under uvicorn as ASGI (the async client, opened by the lifespan)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
import httpx
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "shop.example"],
        INSTALLED_APPS=["aioanalytics.web.django"],
        MIDDLEWARE=["aioanalytics.web.django.AnalyticsMiddleware"],
        AIOANALYTICS={"WRITE_KEY": "key"},
    )
    django.setup()

from django.core.exceptions import ImproperlyConfigured
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path

from aioanalytics import ClientClosedError
from aioanalytics.web.django import (
    AioAnalyticsConfig,
    get_analytics,
    get_asgi_application,
    get_sync_analytics,
)
from aioanalytics.web.django import apps as django_apps
from tests.collector import Collector

from ._serve import serve_uvicorn


def sync_view(request: HttpRequest, n: str) -> JsonResponse:
    get_sync_analytics().track(event="Sync View", properties={"n": int(n)})
    return JsonResponse({"n": n})


async def async_view(request: HttpRequest, n: str) -> JsonResponse:
    await asyncio.sleep(0.001 * (int(n) % 7))
    await get_analytics().track(event="Async View", properties={"n": int(n)})
    return JsonResponse({"n": n})


urlpatterns = [path("sync/<str:n>/", sync_view), path("async/<str:n>/", async_view)]


@pytest.fixture
def collector_settings() -> Iterator[Collector]:
    """A collector, and settings.AIOANALYTICS pointing at it, with fresh clients."""
    with Collector() as collector:
        config = {
            "WRITE_KEY": "key",
            "OPTIONS": {"host": collector.url, "flush_interval": 0.05},
            "CONTEXT": {"trusted_proxies": ["127.0.0.1"]},
        }
        with override_settings(AIOANALYTICS=config):
            django_apps._settings = None
            django_apps._sync_client = None
            try:
                yield collector
            finally:
                if django_apps._sync_client is not None:
                    django_apps._sync_client.close()
                django_apps._settings = None
                django_apps._sync_client = None


def headers_for(n: int) -> dict[str, str]:
    return {
        "Cookie": f"ajs_anonymous_id=%22anon-{n}%22; ajs_user_id=%22user-{n}%22",
        "X-Forwarded-For": f"198.51.100.{n}",
        "Accept-Language": "nl-NL",
        "User-Agent": f"agent/{n}",
    }


def check(messages: list[dict[str, Any]], event: str, count: int) -> None:
    assert sorted(m["properties"]["n"] for m in messages if m["event"] == event) == list(
        range(count)
    )
    for message in messages:
        n = message["properties"]["n"]
        assert (message["userId"], message["anonymousId"]) == (f"user-{n}", f"anon-{n}")
        context = message["context"]
        assert context["ip"] == f"198.51.100.{n}"
        assert context["userAgent"] == f"agent/{n}"
        assert context["locale"] == "nl-NL"
        assert context["page"]["path"].endswith(f"/{n}/")


def test_wsgi_under_the_threaded_test_server(collector_settings: Collector) -> None:
    """Sync views on Django's threaded WSGI server: concurrent requests, each message with its
    own request's context, sent through the blocking facade."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    count = 60
    try:
        with httpx.Client(base_url=url) as http, ThreadPoolExecutor(16) as pool:

            def get(n: int) -> None:
                http.get(f"/sync/{n}/?x=1", headers=headers_for(n)).raise_for_status()

            list(pool.map(get, range(count)))
    finally:
        server.shutdown()
        server.server_close()
    get_sync_analytics().flush()
    collector_settings.wait_for(count)
    check(collector_settings.accepted_messages, "Sync View", count)


async def test_asgi_under_uvicorn_with_the_lifespan(collector_settings: Collector) -> None:
    """Async and sync views under uvicorn: the lifespan opens the async client and closes
    both clients at shutdown; every message carries its own request's context."""
    count = 40
    app = get_asgi_application()
    async with serve_uvicorn(app, proxy_headers=False) as url, httpx.AsyncClient() as http:

        async def get(kind: str, n: int) -> None:
            response = await http.get(f"{url}/{kind}/{n}/", headers=headers_for(n))
            response.raise_for_status()
            assert json.loads(response.content) == {"n": str(n)}

        await asyncio.gather(*(get(kind, n) for n in range(count) for kind in ("async", "sync")))
    with pytest.raises(ClientClosedError, match="lifespan"):
        get_analytics()  # closed with the server
    collector_settings.wait_for(2 * count)
    messages = collector_settings.accepted_messages
    check(messages, "Async View", count)
    check(messages, "Sync View", count)


def test_bad_settings_fail_when_django_starts() -> None:
    """A mistake in settings.AIOANALYTICS is ImproperlyConfigured at start-up."""
    import aioanalytics.web.django as package

    cases = [
        {"WRITE_KEY": "key", "EXTRA": 1},
        {"WRITE_KEY": "key", "CONTEXT": {"trusted_proxies": ["nope"]}},
        {"WRITE_KEY": "key", "OPTIONS": {"flush_at": 0}},
        {"WRITE_KEY": "key", "OPTIONS": {"no_such_option": 1}},
    ]
    for config in cases:
        with override_settings(AIOANALYTICS=config):
            django_apps._settings = None
            try:
                with pytest.raises(ImproperlyConfigured):
                    AioAnalyticsConfig("aioanalytics.web.django", package).ready()
            finally:
                django_apps._settings = None


async def test_lifespan_startup_fails_on_a_bad_option() -> None:
    """An option the client refuses fails the lifespan's startup, with the reason."""
    sent: list[dict[str, Any]] = []
    events = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    config = {"WRITE_KEY": "key", "OPTIONS": {"host": "ftp://nowhere"}}
    with override_settings(AIOANALYTICS=config):
        django_apps._settings = None
        try:
            await get_asgi_application()({"type": "lifespan"}, receive, send)
        finally:
            django_apps._settings = None
    (message,) = sent
    assert message["type"] == "lifespan.startup.failed"
    assert "host must be an http(s) URL" in message["message"]

"""Django with the request context, under WSGI (blocking facade) and ASGI (async client).

``aioanalytics.web.django`` in ``INSTALLED_APPS`` reads ``settings.AIOANALYTICS``; its
middleware binds each request's context, so every call made while handling a request gets
the visitor's ip, user agent, page, locale and request id, and ``anonymousId``/``userId``
from analytics.js's cookies. Sync views use ``get_sync_analytics()``; async views under
ASGI use ``get_analytics()``, opened by the lifespan of ``get_asgi_application()``.

Running the file serves the project with Django's threaded WSGI server, then with uvicorn
as ASGI, each on a free port of 127.0.0.1, sends requests to both, and stops.
"""

from __future__ import annotations

import asyncio
import os
import threading

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=["aioanalytics.web.django"],
    MIDDLEWARE=["aioanalytics.web.django.AnalyticsMiddleware"],
    AIOANALYTICS={
        "WRITE_KEY": WRITE_KEY,
        "OPTIONS": {"host": HOST},
        "CONTEXT": {"trusted_proxies": ["127.0.0.1"], "anonymize_ip": True},
    },
)
django.setup()

# After django.setup(): the package reads the settings.
from aioanalytics.web.django import (
    get_analytics,
    get_asgi_application,
    get_sync_analytics,
)


def invoice(request: HttpRequest, number: str) -> JsonResponse:
    """A sync view: the blocking facade, no ``await``; ids and context from the request."""
    get_sync_analytics().track(event="Invoice Viewed", properties={"number": number})
    return JsonResponse({"invoice": number})


async def checkout(request: HttpRequest) -> JsonResponse:
    """An async view (ASGI): the async client the lifespan opened."""
    await get_analytics().track(event="Checkout Started")
    return JsonResponse({"ok": True})


urlpatterns = [path("invoices/<str:number>/", invoice), path("checkout/", checkout)]

#: For ``uvicorn examples.django_request_context:application``.
application = get_asgi_application()

BROWSER = {
    "Cookie": "ajs_anonymous_id=%22visitor-3%22; ajs_user_id=%22user-3%22",
    "User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15",
    "Accept-Language": "nl-NL,nl;q=0.9",
    "X-Forwarded-For": "198.51.100.23",
}


def serve_wsgi() -> None:
    """Django's threaded WSGI server (as ``runserver`` uses), one sync request."""
    import httpx
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        httpx.get(f"{url}/invoices/INV-1/", headers=BROWSER).raise_for_status()
    finally:
        server.shutdown()
        server.server_close()


async def serve_asgi() -> None:
    """uvicorn with the lifespan: one async and one sync request."""
    import socket

    import httpx
    import uvicorn

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", proxy_headers=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=BROWSER) as http:
            (await http.get("/checkout/")).raise_for_status()
            (await http.get("/invoices/INV-2/")).raise_for_status()
    finally:
        server.should_exit = True  # the lifespan closes both clients: queued messages go out
        await serving
        sock.close()


if __name__ == "__main__":
    serve_wsgi()
    asyncio.run(serve_asgi())

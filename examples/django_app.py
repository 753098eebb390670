"""Django: async views use the async client, sync views the blocking facade.

Django's ASGI handler does not speak the ASGI lifespan protocol, so a small wrapper opens the
async client when the server starts and closes it when it stops; async views reach it with
``get_analytics()``. Sync views (and management commands, signals, Celery tasks) use one
module-level ``aioanalytics.sync.Analytics``, which starts its thread on first use and
flushes at exit. A project usually picks one of the two; this example shows both.

Serve it with ``uvicorn examples.django_app:application``; running the file serves it on a
free port of 127.0.0.1 with uvicorn, sends it a few requests, and stops.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

from aioanalytics import Analytics
from aioanalytics import sync as analytics_sync

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()

# -- the two clients -------------------------------------------------------------------------

#: For sync code: safe to create at import time (nothing starts before the first call).
sync_analytics = analytics_sync.Analytics(WRITE_KEY, host=HOST)

_async_analytics: Analytics | None = None


def get_analytics() -> Analytics:
    """The async client, opened by the lifespan on the server's event loop."""
    if _async_analytics is None:
        raise RuntimeError("the ASGI lifespan has not started the analytics client")
    return _async_analytics


# -- views ------------------------------------------------------------------------------------


async def signup(request: HttpRequest) -> JsonResponse:
    """An async view: ``await`` the async client (returns in microseconds)."""
    form = json.loads(request.body)
    analytics = get_analytics()
    await analytics.identify(user_id=form["user_id"], traits={"plan": form["plan"]})
    await analytics.track(
        user_id=form["user_id"], event="Signed Up", properties={"plan": form["plan"]}
    )
    return JsonResponse({"user_id": form["user_id"]}, status=201)


def invoice(request: HttpRequest, number: str) -> JsonResponse:
    """A sync view (run in a worker thread): the facade, no ``await``."""
    user_id = request.GET["user_id"]
    sync_analytics.track(user_id=user_id, event="Invoice Viewed", properties={"number": number})
    return JsonResponse({"invoice": number})


urlpatterns = [path("signup/", signup), path("invoices/<str:number>/", invoice)]

# -- ASGI: Django plus a lifespan for the async client ----------------------------------------

django_asgi = get_asgi_application()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Django's ASGI app, with the lifespan protocol handled here."""
    global _async_analytics
    if scope["type"] != "lifespan":
        await django_asgi(scope, receive, send)
        return
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            _async_analytics = Analytics(WRITE_KEY, host=HOST)
            await _async_analytics.open()
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            if _async_analytics is not None:
                await _async_analytics.aclose()  # delivers what is queued
            sync_analytics.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def main() -> None:
    """Serve the app on a free port of 127.0.0.1 with uvicorn, send it requests, stop."""
    import socket

    import httpx
    import uvicorn

    # Listen before uvicorn starts: requests wait in the backlog until it serves them.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post("/signup/", json={"user_id": "user-1", "plan": "pro"})
            response.raise_for_status()
            for number in ("INV-1", "INV-2"):
                response = await http.get(f"/invoices/{number}/", params={"user_id": "user-1"})
                response.raise_for_status()
    finally:
        server.should_exit = True
        await serving
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())

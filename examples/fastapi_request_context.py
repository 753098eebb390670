"""FastAPI with the request context: server events carry what analytics.js would send.

The lifespan helper owns the client, ``AnalyticsDep`` hands it to handlers, and the
middleware binds each request's context: every call made while handling a request (and in
tasks it spawns) gets the visitor's ip, user agent, page, locale and request id in
``context``, and ``anonymousId``/``userId`` from the ``ajs_*`` cookies analytics.js set in
the browser, so the server's events join the browser's.

Serve it with ``uvicorn examples.fastapi_request_context:app``; running the file serves it
on a free port of 127.0.0.1 with uvicorn, sends it requests as a browser behind a proxy
would, and stops.
"""

from __future__ import annotations

import asyncio
import os

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

from aioanalytics.web import ContextOptions
from aioanalytics.web.asgi import AnalyticsMiddleware
from aioanalytics.web.fastapi import AnalyticsDep, lifespan

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

app = FastAPI(lifespan=lifespan(WRITE_KEY, host=HOST))
# Believe X-Forwarded-For only from our own proxy (here: loopback), and keep only the
# network part of the visitor's address.
app.add_middleware(
    AnalyticsMiddleware,
    options=ContextOptions(trusted_proxies=["127.0.0.1", "::1"], anonymize_ip=True),
)


class Order(BaseModel):
    order_id: str
    total: float


@app.get("/products/{sku}")
async def product(sku: str, analytics: AnalyticsDep) -> dict[str, str]:
    # No ids, no context: the visitor's come from the request.
    await analytics.track(event="Product Viewed", properties={"sku": sku})
    return {"sku": sku}


@app.post("/orders", status_code=201)
async def order(form: Order, analytics: AnalyticsDep, tasks: BackgroundTasks) -> dict[str, str]:
    await analytics.track(
        event="Order Completed", properties={"order_id": form.order_id, "total": form.total}
    )
    # After the response is sent, still with this request's context.
    tasks.add_task(analytics.track, event="Receipt Sent", properties={"order_id": form.order_id})
    return {"order_id": form.order_id}


async def main() -> None:
    """Serve the app on a free port of 127.0.0.1 with uvicorn, send it requests, stop."""
    import socket

    import httpx
    import uvicorn

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # proxy_headers=False: the middleware decides whom to trust (uvicorn's default trusts
    # 127.0.0.1 and would rewrite the peer address first).
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    browser = {
        # As analytics.js writes them: URL-encoded JSON strings.
        "Cookie": "ajs_anonymous_id=%22a6f1c3e0-visitor%22; ajs_user_id=%22user-42%22",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "Accept-Language": "en-GB,en;q=0.8",
        "Referer": "https://search.example/?q=boots",
        "X-Forwarded-For": "203.0.113.77",  # added by the proxy in front of the app
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=browser) as http:
            for sku in ("boots-1", "boots-2"):
                (await http.get(f"/products/{sku}", params={"ref": "search"})).raise_for_status()
            order = {"order_id": "o-1", "total": 99.5}
            (await http.post("/orders", json=order)).raise_for_status()
    finally:
        server.should_exit = True  # the lifespan closes the client: queued messages go out
        await serving
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())

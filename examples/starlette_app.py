"""Starlette: the client lives in the lifespan state and reaches handlers as ``request.state``.

Serve it with ``uvicorn examples.starlette_app:app``; running the file serves it on a free
port of 127.0.0.1 with uvicorn, sends it a few requests, and stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aioanalytics import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")


class State(TypedDict):
    analytics: Analytics


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[State]:
    async with Analytics(WRITE_KEY, host=HOST) as analytics:
        yield {"analytics": analytics}  # copied into each request's state


async def add_to_cart(request: Request) -> JSONResponse:
    analytics: Analytics = request.state.analytics
    body = await request.json()
    await analytics.track(
        user_id=body["user_id"],
        event="Product Added",
        properties={"sku": body["sku"], "quantity": body.get("quantity", 1)},
    )
    return JSONResponse({"ok": True}, status_code=201)


app = Starlette(routes=[Route("/cart", add_to_cart, methods=["POST"])], lifespan=lifespan)


async def main() -> None:
    """Serve the app on a free port of 127.0.0.1 with uvicorn, send it requests, stop."""
    import socket

    import httpx
    import uvicorn

    # Listen before uvicorn starts: requests wait in the backlog until it serves them.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for sku in ("sku-1", "sku-2"):
                form = {"user_id": "user-1", "sku": sku}
                (await http.post("/cart", json=form)).raise_for_status()
    finally:
        server.should_exit = True  # the lifespan closes the client: queued messages go out
        await serving
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())

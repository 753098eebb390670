"""aiohttp: a cleanup context opens the client at startup and closes it at cleanup.

Serve it with ``python -m aiohttp.web examples.aiohttp_app:create_app``; running the file
serves it on a free port of 127.0.0.1, sends it a few requests, and stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from aiohttp import ClientSession, web

from aioanalytics import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

ANALYTICS = web.AppKey("analytics", Analytics)


async def analytics_context(app: web.Application) -> AsyncIterator[None]:
    async with Analytics(WRITE_KEY, host=HOST) as analytics:
        app[ANALYTICS] = analytics
        yield  # the app runs; cleanup delivers what is queued


async def search(request: web.Request) -> web.Response:
    analytics = request.app[ANALYTICS]
    query = request.query.get("q", "")
    await analytics.track(
        anonymous_id=request.query.get("anonymous_id", "anonymous"),
        event="Products Searched",
        properties={"query": query},
    )
    return web.json_response({"query": query, "results": []})


def create_app(argv: list[str] | None = None) -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(analytics_context)
    app.router.add_get("/search", search)
    return app


async def main() -> None:
    runner = web.AppRunner(create_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession(f"http://127.0.0.1:{port}") as session:
            for query in ("shoes", "socks", "hats"):
                params = {"q": query, "anonymous_id": "visitor-1"}
                async with session.get("/search", params=params) as response:
                    response.raise_for_status()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

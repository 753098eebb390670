"""aiohttp with the request context: ``setup()`` gives the app a client and the middleware.

Every call made while handling a request gets the visitor's ip, user agent, page, locale
and request id in ``context``, and ``anonymousId``/``userId`` from analytics.js's cookies.

Serve it with ``python -m aiohttp.web examples.aiohttp_request_context:create_app``; running
the file serves it on a free port of 127.0.0.1, sends it a few requests, and stops.
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import ClientSession, web

from aioanalytics.web import ContextOptions
from aioanalytics.web.aiohttp import get_analytics, setup

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    await get_analytics(request).track(event="Products Searched", properties={"query": query})
    return web.json_response({"query": query, "results": []})


def create_app(argv: list[str] | None = None) -> web.Application:
    app = web.Application()
    # The visitor's ids and context come from each request; no proxy is trusted here.
    setup(app, WRITE_KEY, host=HOST, context=ContextOptions(request_id_header="X-Trace-Id"))
    app.router.add_get("/search", search)
    return app


async def main() -> None:
    runner = web.AppRunner(create_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    browser = {"Cookie": "ajs_anonymous_id=%22visitor-7%22", "Accept-Language": "de-DE,de"}
    try:
        async with ClientSession(f"http://127.0.0.1:{port}", headers=browser) as session:
            for n, query in enumerate(("shoes", "socks")):
                headers = {"X-Trace-Id": f"trace-{n}"}
                async with session.get("/search", params={"q": query}, headers=headers) as r:
                    r.raise_for_status()
    finally:
        await runner.cleanup()  # closes the client: queued messages go out


if __name__ == "__main__":
    asyncio.run(main())

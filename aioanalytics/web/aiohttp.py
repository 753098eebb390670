"""aiohttp: a middleware that binds each request's context, and a client for the app.

Usage::

    from aiohttp import web
    from aioanalytics.web.aiohttp import get_analytics, setup

    app = web.Application()
    setup(app, "WRITE_KEY")  # the client's lifetime (cleanup context) and the middleware

    async def checkout(request):
        await get_analytics(request).track(event="Checkout Started")

``setup`` is :func:`cleanup_context` plus :func:`middleware`; use them apart to order them
among your own.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from .. import Analytics, ClientClosedError
from .._context import RequestContext, current
from ._request import ContextOptions, Deferred, read_request

__all__ = ["ANALYTICS", "cleanup_context", "get_analytics", "middleware", "read_aiohttp", "setup"]

#: The app key of the client the cleanup context opens (``app[ANALYTICS]``).
ANALYTICS = web.AppKey("aioanalytics", Analytics)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(options: ContextOptions | None = None) -> Any:
    """A middleware that binds each request's context while its handler runs.

    Args:
        options: what to read from each request and which proxies to trust (by default
            everything, trusting no proxy).
    """
    chosen = options if options is not None else ContextOptions()

    @web.middleware
    async def analytics_context(request: web.Request, handler: _Handler) -> web.StreamResponse:
        token = current.set(Deferred(partial(read_aiohttp, request, chosen)))
        try:
            return await handler(request)
        finally:
            current.reset(token)

    return analytics_context


def cleanup_context(
    write_key: str | None = None, /, **options: Any
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens ``Analytics(write_key, **options)`` at startup, as
    ``app[ANALYTICS]``, and closes it at cleanup, delivering what is queued."""

    async def analytics_client(app: web.Application) -> AsyncIterator[None]:
        async with Analytics(write_key, **options) as analytics:
            app[ANALYTICS] = analytics
            yield

    return analytics_client


def setup(
    app: web.Application,
    write_key: str | None = None,
    /,
    *,
    context: ContextOptions | None = None,
    **options: Any,
) -> None:
    """Give ``app`` a client (:func:`cleanup_context`) and the request context
    (:func:`middleware`, first in the chain)."""
    app.cleanup_ctx.append(cleanup_context(write_key, **options))
    app.middlewares.insert(0, middleware(context))


def get_analytics(request: web.Request) -> Analytics:
    """The client the cleanup context opened.

    Raises:
        ClientClosedError: the app has no client (``setup`` or ``cleanup_context`` missing).
    """
    analytics = request.app.get(ANALYTICS)
    if analytics is None:
        raise ClientClosedError(
            "no Analytics client in the app: call aioanalytics.web.aiohttp.setup(app, ...)"
        )
    return analytics


def read_aiohttp(request: web.BaseRequest, options: ContextOptions) -> RequestContext:
    """The request context of an aiohttp request."""
    headers = {}
    for name in options.headers():
        values = request.headers.getall(name, ())
        if values:
            headers[name] = ", ".join(values)
    url = request.rel_url
    return read_request(
        options,
        peer=request.remote,
        scheme=request.scheme,
        host=None,
        path=url.raw_path,
        query=url.raw_query_string,
        headers=headers,
    )

"""Plain ASGI middleware: binds each request's context (FastAPI, Starlette, Django, any app).

Usage::

    from aioanalytics.web import ContextOptions
    from aioanalytics.web.asgi import AnalyticsMiddleware

    app = AnalyticsMiddleware(app, options=ContextOptions(trusted_proxies=["10.0.0.0/8"]))
    # Starlette and FastAPI: app.add_middleware(AnalyticsMiddleware, options=...)

It wraps HTTP and WebSocket connections and passes everything else (lifespan) through. The
request's headers are read only if a call is made while handling it, and then once; a
request that sends nothing costs one small object and a context variable set and reset.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any, TypeAlias
from urllib.parse import quote

from .._context import RequestContext, current
from ._request import ContextOptions, Deferred, read_request

__all__ = ["AnalyticsMiddleware", "read_scope"]

Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: Any ASGI 3 application (typed loosely: frameworks type the scope each their own way).
ASGIApp: TypeAlias = Callable[[Any, Any, Any], Awaitable[None]]


class AnalyticsMiddleware:
    """Bind the request context of each HTTP and WebSocket connection to ``app``.

    Args:
        app: the ASGI application to wrap.
        options: what to read from each request and which proxies to trust (by default
            everything, trusting no proxy).
    """

    def __init__(self, app: ASGIApp, *, options: ContextOptions | None = None) -> None:
        self.app = app
        self.options = options if options is not None else ContextOptions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = current.set(Deferred(partial(read_scope, scope, self.options)))
        try:
            await self.app(scope, receive, send)
        finally:
            current.reset(token)


def read_scope(scope: Scope, options: ContextOptions) -> RequestContext:
    """The request context of an ASGI HTTP or WebSocket ``scope``."""
    wanted = options.headers()
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name in wanted:
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    client = scope.get("client")
    server = scope.get("server")
    raw_path = scope.get("raw_path")
    if raw_path:
        path = raw_path.decode("latin-1")
    else:
        path = quote(scope.get("path") or "/", safe="/%;:@&=+$,!~*'()")
    host = None
    if server and server[1] is not None:
        host = f"{server[0]}:{server[1]}"
    return read_request(
        options,
        peer=client[0] if client else None,
        scheme=scope.get("scheme", "http"),
        host=host,
        path=path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
    )

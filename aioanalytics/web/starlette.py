"""Starlette: a lifespan that owns the client, and ``get_analytics(request)`` for handlers.

Usage::

    from starlette.applications import Starlette
    from aioanalytics.web.asgi import AnalyticsMiddleware
    from aioanalytics.web.starlette import get_analytics, lifespan

    app = Starlette(routes=..., lifespan=lifespan("WRITE_KEY"))
    app.add_middleware(AnalyticsMiddleware)

    async def checkout(request):
        await get_analytics(request).track(event="Checkout Started")

The lifespan opens an :class:`~aioanalytics.Analytics` on the server's event loop at startup
and closes it at shutdown, delivering what is queued. To run your own start-up code as well,
enter it inside yours::

    @asynccontextmanager
    async def my_lifespan(app):
        async with lifespan("WRITE_KEY")(app) as state:
            ...  # the client is open here: state["analytics"]
            yield state

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

from starlette.requests import HTTPConnection

from .. import Analytics, ClientClosedError

__all__ = ["STATE_KEY", "Lifespan", "get_analytics", "lifespan"]

#: The key of the client in the lifespan state (``request.state.analytics``).
STATE_KEY = "analytics"

#: What :func:`lifespan` returns: Starlette's and FastAPI's ``lifespan=`` argument.
Lifespan: TypeAlias = Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]


def lifespan(write_key: str | None = None, /, **options: Any) -> Lifespan:
    """A lifespan that opens ``Analytics(write_key, **options)`` for the app's lifetime.

    The client is in the lifespan state (``request.state.analytics``) and on
    ``app.state.analytics``; :func:`get_analytics` finds it either way. Each startup opens
    a new client (a test may start the app several times); an invalid option fails startup
    with :class:`~aioanalytics.ConfigError`.
    """

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[dict[str, Any]]:
        async with Analytics(write_key, **options) as analytics:
            state = getattr(app, "state", None)
            if state is not None:
                setattr(state, STATE_KEY, analytics)
            yield {STATE_KEY: analytics}

    return run


def get_analytics(request: HTTPConnection) -> Analytics:
    """The client the lifespan opened, for this request (or WebSocket).

    Raises:
        ClientClosedError: no lifespan put a client in the state.
    """
    analytics = getattr(request.state, STATE_KEY, None)
    if analytics is None:
        analytics = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(analytics, Analytics):
        raise ClientClosedError(
            "no Analytics client in the app's state: pass lifespan=lifespan(...) from "
            "aioanalytics.web.starlette (or .fastapi) to the app"
        )
    return analytics

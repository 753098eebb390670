"""Request context for web apps: server events that carry what analytics.js would send.

While a request is handled, every call of the client (``identify`` ... ``alias``) fills
``context`` with the request's ``ip``, ``userAgent``, ``page`` (``url``, ``path``, ``search``,
``referrer``), ``locale`` and ``requestId``, and ``userId``/``anonymousId`` with the
visitor's ids from the ``ajs_user_id``/``ajs_anonymous_id`` cookies, so that server and
browser events of one visitor join up. Explicit arguments win. Tasks spawned while handling
the request keep its context; concurrent requests never see each other's.

The framework adapters bind it for you, each in its own module (imported only when used):

- ``aioanalytics.web.asgi``: ``AnalyticsMiddleware`` for any ASGI app;
- ``aioanalytics.web.starlette`` and ``aioanalytics.web.fastapi``: a lifespan that
  opens the client, and ``get_analytics`` / ``AnalyticsDep`` for handlers;
- ``aioanalytics.web.aiohttp``: a middleware and a cleanup context;
- ``aioanalytics.web.django``: an app, a middleware (WSGI and ASGI) and a lifespan.

Anything else binds a context itself::

    from aioanalytics import web

    with web.bind(web.read_request(options, peer=..., scheme=..., ...)):
        await analytics.track(event="Checkout Started")  # ids and context from the request

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._context import Bound, RequestContext
from .._context import current as _current
from ._request import ContextOptions, preferred_locale, read_request

__all__ = [
    "Bound",
    "ContextOptions",
    "RequestContext",
    "bind",
    "current",
    "preferred_locale",
    "read_request",
]


@contextmanager
def bind(context: Bound) -> Iterator[None]:
    """Bind ``context`` for the code inside the block (and the tasks it spawns).

    ``context`` is a :class:`RequestContext`, or any object whose ``resolve()`` returns one
    when a call first needs it. Blocks nest: the innermost wins, and leaving it restores the
    outer one.
    """
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> RequestContext | None:
    """The request context bound for the code running now, resolved, or ``None``."""
    bound = _current.get()
    return None if bound is None else bound.resolve()


for _name in ("Bound", "RequestContext", "ContextOptions", "preferred_locale", "read_request"):
    globals()[_name].__module__ = __name__
del _name

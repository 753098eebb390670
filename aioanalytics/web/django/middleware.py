"""The Django middleware: binds each request's context while the view runs (sync or async)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils.encoding import escape_uri_path

from ..._context import RequestContext, current
from .._request import ContextOptions, Deferred, read_request
from .apps import context_options

__all__ = ["AnalyticsMiddleware", "read_django"]


class AnalyticsMiddleware:
    """Bind the request context of each request, under WSGI and ASGI alike.

    Put it first in ``MIDDLEWARE``; ``settings.AIOANALYTICS['CONTEXT']`` holds its options.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.options = context_options()
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        """Handle one request."""
        if self._async:
            return self._acall(request)
        token = current.set(Deferred(partial(read_django, request, self.options)))
        try:
            return self.get_response(request)
        finally:
            current.reset(token)

    async def _acall(self, request: Any) -> Any:
        token = current.set(Deferred(partial(read_django, request, self.options)))
        try:
            response: Awaitable[Any] = self.get_response(request)
            return await response
        finally:
            current.reset(token)


def read_django(request: Any, options: ContextOptions) -> RequestContext:
    """The request context of a Django ``HttpRequest``."""
    meta = request.META
    headers = {}
    for name in options.headers():
        value = request.headers.get(name)
        if value:
            headers[name] = value
    return read_request(
        options,
        peer=meta.get("REMOTE_ADDR"),
        scheme=request.scheme,
        host=f"{meta.get('SERVER_NAME', 'localhost')}:{meta.get('SERVER_PORT', '80')}",
        path=escape_uri_path(request.path),
        query=meta.get("QUERY_STRING", ""),
        headers=headers,
    )

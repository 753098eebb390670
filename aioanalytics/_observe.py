"""The instrumentation hook: an optional observer around each HTTP request of a batch.

Theory of operation: the client holds at most one :class:`RequestObserver` (``None`` unless
an instrumentation such as :mod:`aioanalytics.otel` installed one). When set, each attempt
to send a batch goes through :meth:`RequestObserver.observe`, which must call ``send`` once
and return its response or let its ``TransportError`` through; around it the observer may
time the request, open a span and count. When unset, the client calls the transport
directly: instrumentation costs nothing unless it is used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ._transports.base import Request, Response

__all__ = ["RequestObserver"]


class RequestObserver(Protocol):
    """Wraps the HTTP requests that carry batches."""

    async def observe(
        self,
        send: Callable[[Request], Awaitable[Response]],
        request: Request,
        *,
        destination: str,
        messages: int,
    ) -> Response:
        """Send ``request`` with ``send`` (once) and return the response.

        ``destination`` names the destination, ``messages`` counts the records in the batch.
        """
        ...

"""The HTTP transport over a shared ``httpx.AsyncClient``."""

from __future__ import annotations

import httpx

from .._exceptions import TransportError
from .base import Request, Response

__all__ = ["HTTPTransport"]

#: How much of a response body is kept for errors and logs.
BODY_EXCERPT = 1024


class HTTPTransport:
    """Sends requests with ``httpx``; every httpx error becomes a :class:`TransportError`.

    Pass ``client`` to reuse an ``httpx.AsyncClient`` you own (it is then not closed here);
    otherwise one is created with ``timeout`` seconds and ``max_connections`` connections.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        max_connections: int = 4,
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,
        )

    async def send(self, request: Request) -> Response:
        """Send one request; network failures raise :class:`TransportError`."""
        try:
            response = await self._client.request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Response(
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            text=response.text[:BODY_EXCERPT],
        )

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in (then its owner closes it)."""
        if self._owns_client:
            await self._client.aclose()

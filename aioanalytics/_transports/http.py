"""The HTTP transport over a shared ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio

import httpx

from .._exceptions import TransportError
from .base import Request, Response

__all__ = ["HTTPTransport"]

#: How much of a response body is kept for errors and logs.
BODY_EXCERPT = 1024


class HTTPTransport:
    """Sends requests with ``httpx``; every httpx error becomes a :class:`TransportError`.

    Pass ``client`` to reuse an ``httpx.AsyncClient`` you own (it is then not closed here, and
    everything it is configured with applies: proxies, hooks, mounts). Otherwise requests go
    straight to an ``httpx.AsyncHTTPTransport`` (httpx's own connection pool, TLS verification
    on) with ``timeout`` seconds and ``max_connections`` connections: the client layer's
    cookies, redirects, auth flows and event hooks are of no use here, and skipping them saves
    about a fifth of the CPU of every request.

    ``timeout`` bounds each request as a whole, from connecting to the last byte of the
    answer: a server that trickles its answer a byte at a time cannot hold a request longer.
    (httpx's own timeouts are per step: each read, each write.) With ``client``, its own
    timeouts apply as well.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        max_connections: int = 4,
    ) -> None:
        self._client = client
        self._deadline = timeout
        self._pool: httpx.AsyncHTTPTransport | None = None
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._urls: dict[str, httpx.URL] = {}  # parsed once: a few destinations' endpoints
        if client is None:
            self._pool = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                trust_env=False,
            )

    async def send(self, request: Request) -> Response:
        """Send one request; network failures and timeouts raise :class:`TransportError`."""
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._exchange(request)
        except TimeoutError:
            raise TransportError(
                f"no complete answer within the {self._deadline:g}s timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Response(
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            text=response.text[:BODY_EXCERPT],
        )

    async def _exchange(self, request: Request) -> httpx.Response:
        if self._pool is None:
            assert self._client is not None
            return await self._client.request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        url = self._urls.get(request.url)
        if url is None:
            url = self._urls[request.url] = httpx.URL(request.url)
        response = await self._pool.handle_async_request(
            httpx.Request(
                request.method,
                url,
                headers=request.headers,
                content=request.content,
                extensions={"timeout": self._timeout},
            )
        )
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        """Close the connection pool, unless the client was passed in (its owner closes it)."""
        if self._pool is not None:
            await self._pool.aclose()

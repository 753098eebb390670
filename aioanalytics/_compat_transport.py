"""The compat layer's HTTP: segment-analytics-python's ``proxies`` and OAuth.

OAuth for the Segment HTTP API works as in segment-analytics-python 2.x.

The client signs a short-lived JWT (RS256, ``kid`` = the key id) with its private key and
exchanges it at ``{auth_server}/token`` for a bearer token (the OAuth 2.0 client-credentials
grant with a ``jwt-bearer`` client assertion). The token is cached and fetched again once
half of its lifetime has passed, so it is replaced before it expires; a batch answered with
400, 401, 403 or 511 drops it, so the next attempt fetches a fresh one.

PyJWT and cryptography are needed (the ``aioanalytics[oauth]`` extra); they are imported only
when OAuth is configured.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from ._exceptions import ConfigError, TransportError
from ._transports.base import AsyncTransport, Request, Response
from ._transports.http import HTTPTransport

__all__ = ["CompatTransport", "OAuthTokens"]

logger = logging.getLogger("aioanalytics")

#: Token requests tried per batch attempt before the attempt fails (segment's default).
TOKEN_ATTEMPTS = 3
#: Statuses of the token endpoint that no retry will fix: the configuration is wrong.
_FATAL = frozenset({400, 401, 403, 415})
#: Statuses of the Segment API after which the cached token is dropped.
_STALE = frozenset({400, 401, 403, 511})
#: Longest wait for the token server's ``X-RateLimit-Reset``.
_MAX_RATE_LIMIT_WAIT = 60.0


class OAuthTokens:
    """Bearer tokens for the Segment API, fetched with a signed JWT and cached.

    Raises:
        ConfigError: PyJWT or cryptography is missing, or ``client_key`` is not a PEM
            private key.
    """

    def __init__(
        self,
        client_id: str,
        client_key: str,
        key_id: str,
        *,
        auth_server: str,
        scope: str,
    ) -> None:
        try:
            import jwt
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
        except ImportError as exc:
            raise ConfigError(
                "OAuth needs PyJWT and cryptography: pip install 'aioanalytics[oauth]'"
            ) from exc
        try:
            self._key: Any = load_pem_private_key(client_key.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"oauth_client_key is not a PEM private key: {exc}") from exc
        self._jwt = jwt
        self.client_id = client_id
        self.key_id = key_id
        self.auth_server = auth_server.rstrip("/")
        self.scope = scope
        self._token: str | None = None
        self._refresh_at = 0.0
        self._clock_skew = 0
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:  # never show the key or the token
        return f"OAuthTokens(client_id={self.client_id!r}, auth_server={self.auth_server!r})"

    def clear(self) -> None:
        """Forget the cached token: the next request fetches a new one."""
        self._token = None

    def reset(self) -> None:
        """Start afresh in a new process (after ``fork()``): no token, no lock."""
        self._token = None
        self._lock = None

    async def token(self, transport: AsyncTransport) -> str | Response:
        """The bearer token, or the token server's answer when it refused for good.

        Raises:
            TransportError: the token server could not be reached, or kept failing.
        """
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is not None and time.monotonic() < self._refresh_at:
                return self._token
            return await self._fetch(transport)

    async def _fetch(self, transport: AsyncTransport) -> str | Response:
        failure = "no attempt made"
        for attempt in range(1, TOKEN_ATTEMPTS + 1):
            try:
                response = await transport.send(self._request())
            except TransportError as exc:
                failure = str(exc)
            else:
                self._note_clock(response)
                token = self._accept(response)
                if token is not None:
                    return token
                if response.status_code in _FATAL:
                    logger.error(
                        "the OAuth token request was refused (HTTP %d): %s",
                        response.status_code,
                        response.text,
                    )
                    return response
                failure = f"HTTP {response.status_code}: {response.text}"
                if response.status_code == 429:
                    await asyncio.sleep(_rate_limit_wait(response))
                    continue
            if attempt < TOKEN_ATTEMPTS:
                await asyncio.sleep(0.025 * attempt)
        raise TransportError(f"no OAuth token after {TOKEN_ATTEMPTS} attempts: {failure}")

    def _request(self) -> Request:
        now = int(time.time()) - self._clock_skew
        assertion = self._jwt.encode(
            {
                "iss": self.client_id,
                "sub": self.client_id,
                "aud": self.auth_server,
                "iat": now - 5,
                "exp": now + 55,
                "jti": str(uuid.uuid4()),
            },
            self._key,
            algorithm="RS256",
            headers={"kid": self.key_id},
        )
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "scope": self.scope,
            }
        )
        return Request(
            "POST",
            f"{self.auth_server}/token",
            {"Content-Type": "application/x-www-form-urlencoded"},
            body.encode(),
        )

    def _accept(self, response: Response) -> str | None:
        if response.status_code != 200:
            return None
        try:
            data = json.loads(response.text)
            token = data["access_token"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(token, str) or not token:
            return None
        try:
            lifetime = float(data.get("expires_in", 120))
        except (TypeError, ValueError):
            lifetime = 120.0
        self._token = token
        self._refresh_at = time.monotonic() + max(0.0, lifetime) / 2
        logger.debug("got an OAuth token valid for %.0f s", lifetime)
        return token

    def _note_clock(self, response: Response) -> None:
        date = response.headers.get("date")
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        self._clock_skew = int(time.time() - server)


def _rate_limit_wait(response: Response) -> float:
    try:
        wait = float(response.headers.get("x-ratelimit-reset", "5"))
    except ValueError:
        wait = 5.0
    return min(max(wait, 0.0), _MAX_RATE_LIMIT_WAIT)


def _proxy_mounts(proxies: dict[str, str]) -> dict[str, httpx.AsyncBaseTransport | None]:
    """requests-style ``proxies`` (``{"https": "host:port"}``) as httpx mounts."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for key, url in proxies.items():
        pattern = key if "://" in key else f"{key}://"
        proxy = url if "://" in url else f"http://{url}"
        mounts[pattern] = httpx.AsyncHTTPTransport(proxy=proxy, trust_env=False)
    return mounts


class CompatTransport:
    """The HTTP transport with segment-analytics-python's ``proxies`` and OAuth.

    The connections are made per process, so a client inherited across ``fork()`` never
    shares its parent's.
    """

    def __init__(
        self,
        *,
        timeout: float,
        max_connections: int,
        proxies: dict[str, str] | None = None,
        oauth: OAuthTokens | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_connections = max_connections
        self._proxies = dict(proxies or {})
        self.oauth = oauth
        self._inner: HTTPTransport | None = None
        self._client: httpx.AsyncClient | None = None
        self._pid = 0

    def _transport(self) -> HTTPTransport:
        if self._inner is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._client = None
            if self.oauth is not None:
                self.oauth.reset()
            if self._proxies:
                self._client = httpx.AsyncClient(
                    mounts=_proxy_mounts(self._proxies),
                    timeout=self._timeout,
                    trust_env=False,
                )
            self._inner = HTTPTransport(
                self._client, timeout=self._timeout, max_connections=self._max_connections
            )
        return self._inner

    async def send(self, request: Request) -> Response:
        """Send one request, with a bearer token when OAuth is configured."""
        transport = self._transport()
        if self.oauth is None:
            return await transport.send(request)
        token = await self.oauth.token(transport)
        if isinstance(token, Response):  # the token server refused: the batch fails with it
            return token
        headers = {**request.headers, "Authorization": f"Bearer {token}"}
        response = await transport.send(
            Request(request.method, request.url, headers, request.content)
        )
        if response.status_code in _STALE:
            self.oauth.clear()
        return response

    async def aclose(self) -> None:
        """Close this process's connections."""
        if self._inner is not None and self._pid == os.getpid():
            await self._inner.aclose()
            if self._client is not None:
                await self._client.aclose()
        self._inner = None
        self._client = None

"""The transport interface: send one request, get one response (or a ``TransportError``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["AsyncTransport", "Request", "Response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, fully built: the body is final (compressed if ``Content-Encoding``)."""

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes

    def __repr__(self) -> str:  # never show headers: they carry credentials
        return f"Request({self.method} {self.url}, {len(self.content)} bytes)"


@dataclass(frozen=True, slots=True)
class Response:
    """What came back: the status, headers (lower-case names) and up to 1 KiB of the body."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""


class AsyncTransport(Protocol):
    """Sends requests. Raises :class:`~aioanalytics.TransportError` when the network fails."""

    async def send(self, request: Request) -> Response:
        """Send one request and return its response."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

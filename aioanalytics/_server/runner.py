"""Running the collector under uvicorn: in the foreground, or inside a running event loop.

Theory of operation: the socket is bound here, before uvicorn starts, so that port 0 gives
a free port whose number is known up front (the demo and the tests rely on it). On the way
out, the live-event hub is closed before uvicorn's graceful shutdown starts, because open
``/api/stream`` responses never end on their own and uvicorn waits for every response.

uvicorn's HTTP/1.1 protocol puts no deadline on a request head and accepts connections until
the process runs out of file descriptors, so a few hundred clients that send half a request
and stop would leave the collector unable to answer anyone. :class:`_GuardedH11` adds both
bounds: each connection must deliver a complete request head within ``header_timeout``
seconds of connecting (or of its previous answer), and at most ``max_connections`` are open
at once. A new connection past the cap evicts the oldest one still waiting for its head;
connections whose request is in progress are never evicted, and if all of them are, the new
connection is closed at once. The body has its own deadline in the app (``body_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from .stream import EventHub

__all__ = [
    "BACKLOG",
    "HEADER_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "MAX_CONNECTIONS",
    "ConnectionGuard",
    "bind",
    "default_max_connections",
    "run",
    "running",
    "url_of",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

HEADER_TIMEOUT = 10.0
"""Seconds a connection has to deliver a complete request head."""

KEEP_ALIVE_TIMEOUT = 5
"""Seconds an idle keep-alive connection stays open after an answer (uvicorn's default)."""

MAX_CONNECTIONS = 512
"""The most connections open at once, file-descriptor limit permitting."""

BACKLOG = 64
"""Connections waiting to be accepted, and the most accepted in one turn of the event loop."""

_SPARE_DESCRIPTORS = 32  # the database, its WAL, the listening socket, logs, the event loop


def default_max_connections() -> int:
    """Return ``MAX_CONNECTIONS``, lowered to fit under ``RLIMIT_NOFILE``.

    asyncio accepts up to ``BACKLOG`` connections in one turn before any of them is seen, and
    a connection closed to make room releases its descriptor a turn later; so the cap leaves
    room for two turns' worth on top of the spare descriptors.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, soft - _SPARE_DESCRIPTORS - 2 * BACKLOG))


@dataclass(slots=True)
class ConnectionGuard:
    """The connection bounds of one server, and what enforcing them did.

    Args:
        header_timeout: Seconds a connection has to deliver a complete request head.
        max_connections: The most connections open at once.
    """

    header_timeout: float = HEADER_TIMEOUT
    max_connections: int = field(default_factory=default_max_connections)
    timed_out: int = 0
    """Connections closed for not sending a complete request head in time."""
    evicted: int = 0
    """Connections waiting for their head, closed to make room for a new one."""
    refused: int = 0
    """New connections closed at once: the cap was reached by requests in progress."""
    waiting: dict[_GuardedH11, None] = field(default_factory=dict)
    """The connections waiting for a request head, oldest first."""

    def to_json(self) -> dict[str, Any]:
        """Return the settings and counters, for ``GET /api/config``."""
        return {
            "headerTimeout": self.header_timeout,
            "maxConnections": self.max_connections,
            "timedOut": self.timed_out,
            "evicted": self.evicted,
            "refused": self.refused,
        }


class _GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a request-head deadline and a connection cap."""

    guard: ConnectionGuard  # set on the subclass made for each server
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if len(self.connections) > guard.max_connections:
            oldest = next(iter(guard.waiting), None)
            if oldest is None:
                guard.refused += 1
                transport.abort()
                return
            guard.evicted += 1
            oldest._forget_head()
            oldest.transport.abort()
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._forget_head()  # a request is in the app's hands; its body has a deadline there

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget_head()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.guard.header_timeout, self._head_too_late)
        self.guard.waiting[self] = None

    def _forget_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _head_too_late(self) -> None:
        self._head_timer = None
        self.guard.waiting.pop(self, None)
        if not self.transport.is_closing():
            self.guard.timed_out += 1
            self.transport.abort()


def _protocol(guard: ConnectionGuard) -> type[_GuardedH11]:
    return type("GuardedH11Protocol", (_GuardedH11,), {"guard": guard})


class _Server(uvicorn.Server):
    """uvicorn's server, closing the event streams first when it shuts down."""

    def __init__(self, config: uvicorn.Config, hub: EventHub | None, *, signals: bool) -> None:
        super().__init__(config)
        self._hub = hub
        self._signals = signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT or SIGTERM in the foreground; in the background, leave signals be.

        Unlike uvicorn's own, this does not raise the signal again once the server stopped:
        ``aioanalytics serve`` ends normally, with status 0, after a Ctrl-C.
        """
        if not self._signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the event streams, then shut down as uvicorn does."""
        if self._hub is not None:
            self._hub.close()
        await super().shutdown(sockets)


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind a listening TCP socket; port 0 picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """Return the ``http://host:port`` base URL a bound socket serves."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Starlette, log_level: str, guard: ConnectionGuard | None) -> uvicorn.Config:
    guard = guard or ConnectionGuard()
    collector = getattr(app.state, "collector", None)
    if collector is not None:
        collector.connections = guard
    return uvicorn.Config(
        app,
        http=_protocol(guard),
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        backlog=BACKLOG,
        timeout_graceful_shutdown=3,
    )


def _hub(app: Starlette) -> EventHub | None:
    collector = getattr(app.state, "collector", None)
    return getattr(collector, "hub", None)


def run(
    app: Starlette,
    sock: socket.socket,
    *,
    log_level: str = "info",
    guard: ConnectionGuard | None = None,
) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C or SIGTERM (blocking).

    ``guard`` sets the request-head deadline and the connection cap (defaults:
    ``HEADER_TIMEOUT``, and ``MAX_CONNECTIONS`` lowered to fit the descriptor limit).
    """
    server = _Server(_config(app, log_level, guard), _hub(app), signals=True)
    server.run(sockets=[sock])


@contextlib.asynccontextmanager
async def running(
    app: Starlette,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    guard: ConnectionGuard | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` from the current event loop while the block runs; yield its URL.

    Usage::

        async with running(create_app()) as url:     # "http://127.0.0.1:40123"
            ...

    Raises:
        RuntimeError: uvicorn stopped before it was ready (its log says why).
    """
    sock = bind(host, port)
    server = _Server(_config(app, log_level, guard), _hub(app), signals=False)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:
                if server.should_exit:
                    raise RuntimeError("the collector failed to start")
                await anyio.sleep(0.01)
            try:
                yield url_of(sock)
            finally:
                server.should_exit = True
    finally:
        sock.close()

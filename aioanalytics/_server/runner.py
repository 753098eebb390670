"""Running the collector under uvicorn: in the foreground, or inside a running event loop.

Theory of operation: the socket is bound here, before uvicorn starts, so that port 0 gives
a free port whose number is known up front (the demo and the tests rely on it). On the way
out, the live-event hub is closed before uvicorn's graceful shutdown starts, because open
``/api/stream`` responses never end on their own and uvicorn waits for every response.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import uvicorn
from starlette.applications import Starlette

from .stream import EventHub

__all__ = ["bind", "run", "running", "url_of"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


def _config(app: Starlette, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        lifespan="on",
        timeout_graceful_shutdown=3,
    )


def _hub(app: Starlette) -> EventHub | None:
    collector = getattr(app.state, "collector", None)
    return getattr(collector, "hub", None)


def run(app: Starlette, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C or SIGTERM (blocking)."""
    server = _Server(_config(app, log_level), _hub(app), signals=True)
    server.run(sockets=[sock])


@contextlib.asynccontextmanager
async def running(
    app: Starlette,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> AsyncIterator[str]:
    """Serve ``app`` from the current event loop while the block runs; yield its URL.

    Usage::

        async with running(create_app()) as url:     # "http://127.0.0.1:40123"
            ...

    Raises:
        RuntimeError: uvicorn stopped before it was ready (its log says why).
    """
    sock = bind(host, port)
    server = _Server(_config(app, log_level), _hub(app), signals=False)
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

"""Fan-out of newly stored events to the debugger pages, as server-sent events.

Theory of operation: each open ``/api/stream`` connection is a subscriber with a bounded
buffer. An event is rendered once, when it is published, and the text is shared by every
subscriber. Publishing never waits: a subscriber that falls behind (a burst of thousands of
events into a background tab) loses its buffer and gets one ``reset`` event instead, saying
how many events it missed, upon which the page reloads its list from ``/api/events``.

Every bound is on the number of streams and the bytes each may hold, never on the rate:

- at most ``max_streams`` streams are open; one more is answered ``503``;
- a subscriber holds at most ``BUFFER`` events and ``BUFFER_BYTES`` of text before it is reset;
- text is handed to the server ``CHUNK_BYTES`` at a time, so what waits in the socket's write
  buffer of a page that stopped reading is one chunk, not the whole backlog;
- a page that has not taken a chunk in ``send_timeout`` seconds is disconnected (counted in
  ``slow``); its browser reconnects and reloads when it reads again.

Closing the hub ends every stream, so that a server shutting down is not held open by pages
that never disconnect. Everything here runs on the event loop; nothing is shared with threads.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import anyio
import anyio.lowlevel
from starlette.types import Message, Receive, Scope, Send

from ._json import dumps

__all__ = ["BUFFER", "BUFFER_BYTES", "CHUNK_BYTES", "MAX_STREAMS", "SEND_TIMEOUT", "EventHub"]

BUFFER = 1000
"""The most events one subscriber may have waiting before it is reset."""

BUFFER_BYTES = 1 << 20
"""The most text (1 MiB) one subscriber may have waiting before it is reset."""

CHUNK_BYTES = 64 << 10
"""The most text handed to the server in one piece (a single event may be longer)."""

MAX_STREAMS = 32
"""The most event streams open at once: debugger tabs, with room to spare."""

SEND_TIMEOUT = 20.0
"""Seconds a page may leave a chunk untaken before its stream is closed."""

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class _Subscriber:
    def __init__(self) -> None:
        self.items: deque[str] = deque()
        self.size = 0
        self.dropped = 0
        self.wakeup = anyio.Event()

    def push(self, items: list[str], size: int) -> int:
        """Queue ``items``, or drop them and the backlog if they do not fit; return drops."""
        dropped = 0
        if self.dropped or len(self.items) + len(items) > BUFFER or self.size + size > BUFFER_BYTES:
            dropped = len(self.items) + len(items)
            self.dropped += dropped
            self.items.clear()
            self.size = 0
        else:
            self.items.extend(items)
            self.size += size
        self.wakeup.set()
        return dropped

    def take(self) -> str:
        """Remove and return up to ``CHUNK_BYTES`` of waiting text (at least one event)."""
        chunk = [self.items.popleft()]
        taken = len(chunk[0])
        while self.items and taken + len(self.items[0]) <= CHUNK_BYTES:
            item = self.items.popleft()
            chunk.append(item)
            taken += len(item)
        self.size -= taken
        return "".join(chunk)


class EventHub:
    """Broadcast stored events to every open server-sent-event stream.

    Args:
        keepalive: Seconds between comment lines sent on an idle stream, which keep
            proxies from timing it out and let the server notice a client that left.
        max_streams: The most streams open at once.
        send_timeout: Seconds a page may leave a chunk untaken before it is disconnected.
    """

    def __init__(
        self,
        *,
        keepalive: float = 15.0,
        max_streams: int = MAX_STREAMS,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.keepalive = keepalive
        self.max_streams = max_streams
        self.send_timeout = send_timeout
        self.stats = {"opened": 0, "refused": 0, "slow": 0, "resets": 0, "dropped": 0}
        """Streams opened, refused over the cap, closed for not reading; resets sent; events
        dropped from the buffers of streams that fell behind."""
        self._subscribers: set[_Subscriber] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def publish(self, events: Iterable[dict[str, Any]]) -> None:
        """Queue ``events`` for every subscriber, without waiting."""
        if not self._subscribers:
            return
        items = [f"event: stored\ndata: {dumps(event)}\n\n" for event in events]
        if items:
            size = sum(map(len, items))
            for subscriber in self._subscribers:
                self.stats["dropped"] += subscriber.push(items, size)

    def close(self) -> None:
        """End every open stream and refuse new ones."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.wakeup.set()

    async def stream(self) -> AsyncGenerator[str, None]:
        """Yield the text of a server-sent-event stream until the hub closes."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        self.stats["opened"] += 1
        try:
            # Tell EventSource to reconnect quickly if the connection breaks.
            yield "retry: 1000\n\n"
            while not self._closed:
                if not subscriber.items and not subscriber.dropped:
                    with anyio.move_on_after(self.keepalive) as scope:
                        await subscriber.wakeup.wait()
                    if scope.cancelled_caught:
                        yield ": keepalive\n\n"
                        continue
                    subscriber.wakeup = anyio.Event()
                if self._closed:
                    break
                if subscriber.dropped:
                    self.stats["resets"] += 1
                    reset = json.dumps({"dropped": subscriber.dropped})
                    subscriber.dropped = 0
                    yield f"event: reset\ndata: {reset}\n\n"
                elif subscriber.items:
                    yield subscriber.take()
        finally:
            self._subscribers.discard(subscriber)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``GET /api/stream`` (an ASGI app)."""
        if self._closed or len(self._subscribers) >= self.max_streams:
            self.stats["refused"] += 1
            body = json.dumps(
                {"error": f"too many event streams open (at most {self.max_streams})"}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        stream = self.stream()
        slow = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope.cancel)
                async for text in stream:
                    message: Message = {
                        "type": "http.response.body",
                        "body": text.encode(),
                        "more_body": True,
                    }
                    with anyio.move_on_after(self.send_timeout) as sending:
                        await send(message)
                    if sending.cancelled_caught:
                        slow = True
                        break
                tg.cancel_scope.cancel()
        finally:
            await stream.aclose()
        if slow:
            self.stats["slow"] += 1
            await _abort(receive)
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _cancel_on_disconnect(receive: Receive, cancel: Callable[[], None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    cancel()


async def _abort(receive: Receive) -> None:
    """Close the connection of a page that stopped reading, discarding what it did not take.

    uvicorn's ``receive`` is a method of the request cycle, which holds the transport; under
    another server the response is left unfinished, which ends it there too.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    abort: Callable[[], None] | None = getattr(transport, "abort", None)
    if abort is not None:
        abort()
        await (
            anyio.lowlevel.checkpoint()
        )  # let the server see the connection go before the app returns

"""Fan-out of newly stored events to the debugger pages, as server-sent events.

Theory of operation: each open ``/api/stream`` connection is a subscriber with a bounded
buffer. Publishing never waits: a subscriber that falls behind (a burst of thousands of
events into a background tab) loses its buffer and gets one ``reset`` event instead, upon
which the page reloads its list from ``/api/events``. Closing the hub ends every stream, so
that a server shutting down is not held open by pages that never disconnect. Everything here
runs on the event loop; nothing is shared with threads.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import anyio

__all__ = ["EventHub"]

BUFFER = 1000
"""The most events one subscriber may have waiting before it is reset."""


class _Subscriber:
    def __init__(self) -> None:
        self.items: deque[dict[str, Any]] = deque()
        self.lagged = False
        self.wakeup = anyio.Event()

    def push(self, items: list[dict[str, Any]]) -> None:
        if self.lagged or len(self.items) + len(items) > BUFFER:
            self.items.clear()
            self.lagged = True
        else:
            self.items.extend(items)
        self.wakeup.set()


class EventHub:
    """Broadcast stored events to every open server-sent-event stream.

    Args:
        keepalive: Seconds between comment lines sent on an idle stream, which keep
            proxies from timing it out and let the server notice a client that left.
    """

    def __init__(self, *, keepalive: float = 15.0) -> None:
        self.keepalive = keepalive
        self._subscribers: set[_Subscriber] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def publish(self, events: Iterable[dict[str, Any]]) -> None:
        """Queue ``events`` for every subscriber, without waiting."""
        items = list(events)
        if items:
            for subscriber in self._subscribers:
                subscriber.push(items)

    def close(self) -> None:
        """End every open stream and refuse new ones."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.wakeup.set()

    async def stream(self) -> AsyncGenerator[str, None]:
        """Yield the text of a server-sent-event stream until the hub closes."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            # Tell EventSource to reconnect quickly if the connection breaks.
            yield "retry: 1000\n\n"
            while not self._closed:
                with anyio.move_on_after(self.keepalive) as scope:
                    await subscriber.wakeup.wait()
                if scope.cancelled_caught:
                    yield ": keepalive\n\n"
                    continue
                subscriber.wakeup = anyio.Event()
                if self._closed:
                    break
                if subscriber.lagged:
                    subscriber.lagged = False
                    yield "event: reset\ndata: {}\n\n"
                chunk: list[str] = []
                while subscriber.items:
                    item = json.dumps(subscriber.items.popleft(), separators=(",", ":"))
                    chunk.append(f"event: stored\ndata: {item}\n\n")
                if chunk:
                    yield "".join(chunk)
        finally:
            self._subscribers.discard(subscriber)

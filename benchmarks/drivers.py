"""One driver per SDK under test, all sending the same track event with default settings.

A driver starts its client against the collector, exposes ``call`` (the SDK's own track
call, as an application would write it inside a coroutine), and ``finish`` (deliver
everything, then close). SDK modules are imported inside ``load`` so that each
subprocess imports only the SDK it measures.

- ``aioanalytics``: ``await analytics.track(...)``; ``await analytics.flush()``.
- ``segment``: segment-analytics-python's ``Client.track(...)`` is synchronous (a
  thread-backed queue); it is called from the coroutine the same way a FastAPI handler
  would call it. Its ``flush()`` blocks, so it runs in a worker thread.
- ``posthog``: posthog's asyncio client, ``posthog.AsyncPosthog`` (``capture()`` is a
  synchronous, non-blocking queue write; ``flush()`` and ``shutdown()`` are awaitable).
- ``bare``: :class:`benchmarks._bare.BareSender`, the practical floor.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Any

WRITE_KEY = "bench-write-key"
EVENT = "Order Completed"
USER_IDS = [f"user-{i:04d}" for i in range(1000)]

SDKS = ("aioanalytics", "segment", "posthog", "bare")


def properties(i: int) -> dict[str, Any]:
    """The properties of event ``i``; a fresh dict per call, as an application builds."""
    return {"order_id": i, "revenue": 42.5, "currency": "USD", "plan": "pro"}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class Driver:
    """The interface every SDK driver implements."""

    name = ""
    #: True when ``call`` returns an awaitable that the caller awaits.
    is_async = True
    dist = ""

    def __init__(self, host: str) -> None:
        self.host = host
        self.accepted = 0

    @property
    def version(self) -> str:
        """The installed version of the SDK under test."""
        return _version(self.dist) if self.dist else "n/a"

    async def start(self) -> None:
        """Create the client (inside the running loop)."""
        raise NotImplementedError

    def call(self, i: int) -> Any:
        """Track event ``i``; returns an awaitable when ``is_async``."""
        raise NotImplementedError

    async def flush(self) -> None:
        """Deliver everything tracked so far."""
        raise NotImplementedError

    async def close(self) -> None:
        """Shut the client down."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Whatever the SDK reports about its own work."""
        return {}


class AioanalyticsDriver(Driver):
    """aioanalytics with default settings."""

    name = "aioanalytics"
    dist = "aioanalytics"

    async def start(self) -> None:
        from aioanalytics import Analytics

        self.client = Analytics(WRITE_KEY, host=self.host)
        await self.client.__aenter__()
        self._track = self.client.track

    def call(self, i: int) -> Awaitable[Any]:
        return self._track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))

    async def flush(self) -> None:
        await self.client.flush()

    async def close(self) -> None:
        await self.client.__aexit__(None, None, None)

    @property
    def version(self) -> str:
        import aioanalytics

        return str(getattr(aioanalytics, "__version__", _version("aioanalytics")))

    def stats(self) -> dict[str, Any]:
        s = self.client.stats
        names = ("enqueued", "delivered", "failed", "dropped", "retried", "batches", "bytes_sent")
        return {n: getattr(s, n) for n in names if hasattr(s, n)}


class SegmentDriver(Driver):
    """segment-analytics-python with default settings (thread-backed, ``track()`` is sync)."""

    name = "segment"
    dist = "segment-analytics-python"
    is_async = False

    async def start(self) -> None:
        import logging

        from segment.analytics import Client  # type: ignore[import-untyped]

        # Its consumer logs every failed upload; keep the terminal readable.
        logging.getLogger("segment").setLevel(logging.CRITICAL)
        self.client = Client(WRITE_KEY, host=self.host)
        self._track = self.client.track

    def call(self, i: int) -> None:
        ok, _ = self._track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))
        self.accepted += ok

    async def flush(self) -> None:
        await asyncio.to_thread(self.client.flush)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.shutdown)

    def stats(self) -> dict[str, Any]:
        return {"accepted": self.accepted}


class PosthogDriver(Driver):
    """PostHog's asyncio client, ``posthog.AsyncPosthog``, with default settings."""

    name = "posthog"
    dist = "posthog"
    is_async = False

    async def start(self) -> None:
        import logging

        from posthog import AsyncPosthog

        logging.getLogger("posthog").setLevel(logging.CRITICAL)
        self.client = AsyncPosthog(WRITE_KEY, host=self.host)
        await self.client.__aenter__()
        self.client.log.setLevel(logging.CRITICAL)
        self._capture = self.client.capture

    def call(self, i: int) -> None:
        sent = self._capture(EVENT, distinct_id=USER_IDS[i % 1000], properties=properties(i))
        self.accepted += sent is not None

    async def flush(self) -> None:
        await self.client.flush(timeout_seconds=None)

    async def close(self) -> None:
        await self.client.shutdown()

    def stats(self) -> dict[str, Any]:
        return {"accepted": self.accepted}


class BareDriver(Driver):
    """The bare baseline sender (see ``benchmarks/_bare.py``)."""

    name = "bare"

    async def start(self) -> None:
        from benchmarks._bare import BareSender

        self.client = BareSender(WRITE_KEY, host=self.host)
        await self.client.__aenter__()
        self._track = self.client.track

    def call(self, i: int) -> Awaitable[None]:
        return self._track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))

    async def flush(self) -> None:
        await self.client.flush()

    async def close(self) -> None:
        await self.client.__aexit__(None, None, None)

    @property
    def version(self) -> str:
        from benchmarks._bare import SERIALIZER

        return f"httpx {_version('httpx')}, {SERIALIZER}"

    def stats(self) -> dict[str, Any]:
        return {"delivered": self.client.delivered, "attempts": self.client.attempts}


class NoneDriver(Driver):
    """No SDK at all: the harness alone, to measure the machine's own ticker lag."""

    name = "none"
    is_async = False

    async def start(self) -> None:
        pass

    def call(self, i: int) -> None:
        properties(i)

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


DRIVERS: dict[str, Callable[[str], Driver]] = {
    "aioanalytics": AioanalyticsDriver,
    "segment": SegmentDriver,
    "posthog": PosthogDriver,
    "bare": BareDriver,
    "none": NoneDriver,
}


def load(name: str, host: str) -> Driver:
    """The driver for SDK ``name`` pointed at ``host``."""
    return DRIVERS[name](host)

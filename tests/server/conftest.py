"""Fixtures for the local collector: the real app under uvicorn on 127.0.0.1, port 0."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from aioanalytics import Analytics
from aioanalytics._server import Store, create_app, running
from aioanalytics._server.app import CollectorState

# Fast retries: the fault-injection tests retry often and must stay quick.
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "flush_interval": 0.01}


@dataclass
class LiveCollector:
    """A collector serving on a real socket, and handles on its insides."""

    url: str
    state: CollectorState

    @property
    def store(self) -> Store:
        return self.state.store

    def sdk(self, write_key: str = "test-key", **options: Any) -> Analytics:
        """The real SDK, pointed at this collector, with fast retries."""
        return Analytics(write_key, host=self.url, **{**FAST, **options})

    def http(self) -> httpx.AsyncClient:
        """A raw HTTP client for what the SDK would never send."""
        return httpx.AsyncClient(base_url=self.url, trust_env=False, timeout=5.0)


StartCollector = Callable[..., Awaitable[LiveCollector]]


@pytest.fixture
async def start_collector() -> AsyncIterator[StartCollector]:
    """Start collectors with ``await start_collector(**create_app_options)``."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**options: Any) -> LiveCollector:
            options.setdefault("store", ":memory:")
            app = create_app(**options)
            url = await stack.enter_async_context(running(app))
            return LiveCollector(url, app.state.collector)

        yield start


@pytest.fixture
async def live_collector(start_collector: StartCollector) -> LiveCollector:
    """A collector accepting any write key, with no faults."""
    return await start_collector()

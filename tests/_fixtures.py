"""Shared fixtures: the async backend and the local collector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collector import Collector

__all__ = ["anyio_backend", "collector"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run async tests on asyncio only: the client's queue is asyncio's."""
    return "asyncio"


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A fresh collector on 127.0.0.1; ``collector.url`` is its base URL.

    Teardown fails the test if the hook or the collector itself raised.
    """
    with Collector() as server:
        yield server
    if server.errors:
        raise server.errors[0]

"""The pytest plugin: record what your app sends, without a network.

Installing aioanalytics registers it (the ``pytest11`` entry point), so the fixtures are just
there::

    async def test_signup(analytics_recorder):
        await signup(analytics_recorder.client, "u1")
        analytics_recorder.assert_tracked("Signed Up", user_id="u1", properties={"plan": "pro"})

It works under pytest-asyncio (any loop scope) and anyio's plugin: the recorder's client
opens itself on the event loop of whatever first uses it. Disable it with
``-p no:aioanalytics``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import Recorder

__all__ = ["analytics_options", "analytics_recorder"]


@pytest.fixture
def analytics_options() -> dict[str, Any]:
    """Extra :class:`~aioanalytics.Analytics` options for :func:`analytics_recorder`.

    Override it in a ``conftest.py`` (or a test module) to configure the recorder's client,
    for example with destinations or plugins::

        @pytest.fixture
        def analytics_options():
            return {"plugins": [add_tenant]}
    """
    return {}


@pytest.fixture
def analytics_recorder(analytics_options: dict[str, Any]) -> Iterator[Recorder]:
    """A :class:`~aioanalytics.testing.Recorder`: hand ``.client`` to your code, then assert.

    ``.client`` is an :class:`~aioanalytics.Analytics` that sends nowhere: every message is
    recorded (``.messages``, ``.tracks``, ... as models) and batches go to an in-memory
    transport (``.transport``). Override a FastAPI dependency with it in one line::

        app.dependency_overrides[get_analytics] = lambda: analytics_recorder.client

    The client is closed at teardown if its event loop is still open.
    """
    from .testing import Recorder  # imported here: the plugin loads with pytest itself

    recorder = Recorder(**analytics_options)
    yield recorder
    recorder.close()

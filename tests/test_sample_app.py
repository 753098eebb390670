"""The sample FastAPI app's own test suite, run as its users would run it.

The suite in ``tests/sample_app/test_app.py`` uses nothing but the ``analytics_recorder``
fixture to check what the app tracked. It runs here in a pytest session of its own under
pytest-asyncio, with every socket connection refused, so it provably needs no network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pytest_asyncio")

from tests.test_pytest_plugin import run

SAMPLE = Path(__file__).parent / "sample_app"

NO_NETWORK = """
import socket

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"the test suite tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
"""


def test_sample_app_suite_passes_with_the_fixture_alone(pytester: pytest.Pytester) -> None:
    """The sample app's tests pass under pytest-asyncio using only the plugin's fixture."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    pytester.makeconftest(NO_NETWORK)
    for name in ("app.py", "test_app.py"):
        (pytester.path / name).write_text((SAMPLE / name).read_text())
    result = run(pytester, "-v")
    result.assert_outcomes(passed=5)

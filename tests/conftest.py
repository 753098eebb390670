from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests._fixtures"]

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Our queue is asyncio's: run async tests on asyncio only.
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests talk to 127.0.0.1 only: never through a proxy from the environment.
    for name in list(os.environ):
        if name.upper() in _PROXY_VARIABLES:
            monkeypatch.delenv(name)

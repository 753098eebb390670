"""The chaos suite's marker, registered here so ``--strict-markers`` accepts it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: fault-injection runs (short by default; AIOANALYTICS_CHAOS=long)"
    )

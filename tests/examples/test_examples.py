"""Every example runs as a script against a local collector and sends what it promises.

Each example reads the collector's URL from ``AIOANALYTICS_HOST``; each runs here in a
subprocess, as a user would run it, against the stdlib collector of ``tests/collector.py``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.collector import Collector

EXAMPLES = Path(__file__).parent.parent.parent / "examples"

#: For each example: the modules it needs, and the (type, event or name) of what it sends.
CASES: dict[str, tuple[tuple[str, ...], Counter[tuple[str, str | None]]]] = {
    "quickstart.py": (
        (),
        Counter({("identify", None): 1, ("track", "Signed Up"): 1, ("page", "Pricing"): 1}),
    ),
    "sync_script.py": (
        (),
        Counter(
            {
                ("identify", None): 40,
                ("track", "User Imported"): 40,
                ("track", "Import Finished"): 1,
                ("track", "Script Exiting"): 1,
            }
        ),
    ),
    "fastapi_app.py": (
        ("fastapi", "uvicorn"),
        Counter({("identify", None): 3, ("track", "Signed Up"): 3, ("page", "Pricing"): 1}),
    ),
    "starlette_app.py": (("starlette", "uvicorn"), Counter({("track", "Product Added"): 2})),
    "aiohttp_app.py": (("aiohttp",), Counter({("track", "Products Searched"): 3})),
    "django_app.py": (
        ("django", "uvicorn"),
        Counter({("identify", None): 1, ("track", "Signed Up"): 1, ("track", "Invoice Viewed"): 2}),
    ),
    "fastapi_request_context.py": (
        ("fastapi", "uvicorn"),
        Counter(
            {
                ("track", "Product Viewed"): 2,
                ("track", "Order Completed"): 1,
                ("track", "Receipt Sent"): 1,
            }
        ),
    ),
    "aiohttp_request_context.py": (("aiohttp",), Counter({("track", "Products Searched"): 2})),
    "django_request_context.py": (
        ("django", "uvicorn"),
        Counter({("track", "Invoice Viewed"): 2, ("track", "Checkout Started"): 1}),
    ),
    "otel_metrics.py": (
        ("opentelemetry.sdk",),
        Counter({("track", "Report Exported"): 25}),
    ),
    "worker.py": (
        (),
        Counter({("track", "Report Generated"): 18, ("track", "Worker Finished"): 1}),
    ),
    "typed_events.py": (
        ("yaml",),
        Counter(
            {("identify", None): 1, ("track", "Signed Up"): 1, ("track", "Order Completed"): 1}
        ),
    ),
}


def test_every_example_has_a_case() -> None:
    """No example goes untested."""
    assert {path.name for path in EXAMPLES.glob("*.py")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_delivers_what_it_sends(name: str, collector: Collector) -> None:
    """The example exits cleanly and the collector accepted exactly what it sent."""
    needs, expected = CASES[name]
    for module in needs:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{name} needs {module}")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={
            **os.environ,
            "AIOANALYTICS_HOST": collector.url,
            "SEGMENT_WRITE_KEY": "example-test-key",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sent = Counter(
        (m["type"], m.get("event") or m.get("name")) for m in collector.accepted_messages
    )
    assert sent == expected
    assert not collector.duplicate_ids
    assert all(r.headers["authorization"].startswith("Basic ") for r in collector.requests)

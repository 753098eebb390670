"""Smoke test for an installed distribution: ``python tests/smoke.py EXPECTED_VERSION``.

Run it with the interpreter of a fresh virtual environment where only the built wheel or
sdist (and pytest) were installed, from a directory outside the source tree, so that what it
imports is what was installed. It exits non-zero with a message when anything is missing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points, version
from pathlib import Path


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke test failed: {message}")


def main() -> None:
    expected = sys.argv[1]
    import aioanalytics
    from aioanalytics import Analytics, MemoryTransport, sync
    from aioanalytics import compat as _compat  # noqa: F401 - importable

    package = Path(aioanalytics.__file__).parent
    check("site-packages" in package.parts, f"imported from {package}, not the install")
    check(aioanalytics.__version__ == expected, f"version {aioanalytics.__version__}")
    check(version("aioanalytics") == expected, "distribution metadata version")
    check((package / "py.typed").is_file(), "py.typed is missing")

    async def send_one() -> list[dict[str, object]]:
        transport = MemoryTransport()
        async with Analytics("key", transport=transport) as analytics:
            await (await analytics.track(user_id="u", event="Smoke"))
        return transport.messages

    messages = asyncio.run(send_one())
    check([m["event"] for m in messages] == ["Smoke"], f"async client sent {messages}")

    transport = MemoryTransport()
    with sync.Analytics("key", transport=transport, flush_interval=0) as client:
        result = client.track(user_id="u", event="Sync Smoke").result(timeout=10)
    check(result.destinations == {"Segment": "delivered"}, f"sync facade gave {result}")

    plugins = [ep for ep in entry_points(group="pytest11") if ep.dist is not None]
    ours = [ep for ep in plugins if ep.dist and ep.dist.name == "aioanalytics"]
    check(
        [ep.value for ep in ours] == ["aioanalytics.pytest_plugin"],
        f"pytest11 entry point: {ours}",
    )
    with tempfile.TemporaryDirectory() as empty:
        fixtures = subprocess.run(
            [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
            cwd=empty,
            capture_output=True,
            text=True,
            check=False,
        )
    check("analytics_recorder" in fixtures.stdout, "pytest does not offer analytics_recorder")
    sys.stdout.write(f"aioanalytics {expected} from {package}: ok\n")


if __name__ == "__main__":
    main()

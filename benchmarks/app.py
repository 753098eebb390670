"""The FastAPI app served by uvicorn for the request-rate benchmark.

``GET /`` tracks one event with the SDK under test (or nothing, for ``--sdk none``) and
returns ``{"ok": true}``. The client is started in the app's lifespan and flushed and
closed when uvicorn shuts down (SIGTERM), after which the handler count and the SDK's own
stats are written to ``--stats-out``.

``python -m benchmarks.app --sdk aioanalytics --port 8000 --collector-port 9000 --stats-out F``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from benchmarks import _netguard


def create_app(sdk: str, collector_url: str, stats_out: Path) -> Any:
    """Build the app for ``sdk`` (one of the drivers, or ``"none"``)."""
    from fastapi import FastAPI

    from benchmarks.drivers import load

    counter = itertools.count()
    driver = load(sdk, collector_url) if sdk != "none" else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if driver is not None:
            await driver.start()
        yield
        t = time.perf_counter()
        if driver is not None:
            await driver.flush()
            await driver.close()
        stats = {
            "calls": next(counter),
            "shutdown_s": time.perf_counter() - t,
            "sdk_stats": driver.stats() if driver is not None else {},
            "version": driver.version if driver is not None else "",
        }
        await asyncio.to_thread(stats_out.write_text, json.dumps(stats))

    app = FastAPI(lifespan=lifespan)

    if driver is None:

        @app.get("/")
        async def index_none() -> dict[str, bool]:
            next(counter)
            return {"ok": True}

    elif driver.is_async:
        call = driver.call

        @app.get("/")
        async def index_async() -> dict[str, bool]:
            await call(next(counter))
            return {"ok": True}

    else:

        @app.get("/")
        async def index_sync() -> dict[str, bool]:
            driver.call(next(counter))
            return {"ok": True}

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the app with uvicorn on 127.0.0.1 until SIGTERM."""
    parser = argparse.ArgumentParser(description="FastAPI app for the request-rate benchmark")
    parser.add_argument("--sdk", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--collector-port", type=int, required=True)
    parser.add_argument("--stats-out", type=Path, required=True)
    parser.add_argument("--http", default="auto")
    args = parser.parse_args(argv)
    _netguard.install()
    import uvicorn

    app = create_app(args.sdk, f"http://127.0.0.1:{args.collector_port}", args.stats_out)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="auto",
        http=args.http,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()

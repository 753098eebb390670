"""FastAPI: one client for the app's lifetime (lifespan), handed to routes by a dependency.

Tests swap the dependency for the pytest plugin's recorder in one line::

    app.dependency_overrides[get_analytics] = lambda: analytics_recorder.client

Serve it with ``uvicorn examples.fastapi_app:app``; running the file serves it on a free
port of 127.0.0.1 with uvicorn, sends it a few requests, and stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from aioanalytics import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Opened on the server's event loop; closing it at shutdown delivers what is queued.
    async with Analytics(WRITE_KEY, host=HOST) as analytics:
        app.state.analytics = analytics
        yield


app = FastAPI(lifespan=lifespan)


def get_analytics(request: Request) -> Analytics:
    """The dependency routes use; tests override it."""
    analytics: Analytics = request.app.state.analytics
    return analytics


AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]


class SignUp(BaseModel):
    user_id: str
    plan: str = "free"


@app.post("/signup", status_code=201)
async def signup(form: SignUp, analytics: AnalyticsDep) -> dict[str, str]:
    await analytics.identify(user_id=form.user_id, traits={"plan": form.plan})
    # The call returns at once with a Delivery; the request does not wait for the network.
    await analytics.track(user_id=form.user_id, event="Signed Up", properties={"plan": form.plan})
    return {"user_id": form.user_id}


@app.get("/pricing")
async def pricing(user_id: str, analytics: AnalyticsDep) -> dict[str, str]:
    await analytics.page(user_id=user_id, name="Pricing")
    return {"page": "pricing"}


async def main() -> None:
    """Serve the app on a free port of 127.0.0.1 with uvicorn, send it requests, stop."""
    import socket

    import httpx
    import uvicorn

    # Listen before uvicorn starts: requests wait in the backlog until it serves them.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for n in range(3):
                form = {"user_id": f"user-{n}", "plan": "pro"}
                (await http.post("/signup", json=form)).raise_for_status()
            (await http.get("/pricing", params={"user_id": "user-0"})).raise_for_status()
    finally:
        server.should_exit = True  # the lifespan closes the client: queued messages go out
        await serving
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())

"""FastAPI: a lifespan that owns the client, and a dependency that hands it to handlers.

Usage::

    from fastapi import FastAPI
    from aioanalytics.web.asgi import AnalyticsMiddleware
    from aioanalytics.web.fastapi import AnalyticsDep, lifespan

    app = FastAPI(lifespan=lifespan("WRITE_KEY"))
    app.add_middleware(AnalyticsMiddleware)

    @app.post("/checkout")
    async def checkout(analytics: AnalyticsDep) -> None:
        await analytics.track(event="Checkout Started")  # ids and context from the request

Tests swap the client for the pytest plugin's recorder in one line::

    app.dependency_overrides[get_analytics] = lambda: analytics_recorder.client

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from .. import Analytics
from .starlette import STATE_KEY, Lifespan, get_analytics, lifespan

__all__ = ["STATE_KEY", "AnalyticsDep", "Lifespan", "get_analytics", "lifespan"]

#: A handler parameter typed ``AnalyticsDep`` receives the app's client.
AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]

"""A small FastAPI app that tracks what its users do.

The client is created in the lifespan and reached through a dependency, so a test suite can
swap it for the pytest plugin's recorder in one line.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from aioanalytics import Analytics


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the analytics client for the life of the app."""
    async with Analytics(
        os.environ.get("SEGMENT_WRITE_KEY", "sample-write-key"),
        host=os.environ.get("AIOANALYTICS_HOST", "https://api.segment.io"),
    ) as analytics:
        app.state.analytics = analytics
        yield


app = FastAPI(lifespan=lifespan)


def get_analytics(request: Request) -> Analytics:
    """The app's analytics client."""
    analytics: Analytics = request.app.state.analytics
    return analytics


AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]


class SignUp(BaseModel):
    """A sign-up form."""

    user_id: str
    email: str
    plan: str = "free"


class Order(BaseModel):
    """A completed order."""

    user_id: str
    total: float
    coupon: str | None = None


@app.post("/signup", status_code=201)
async def signup(form: SignUp, analytics: AnalyticsDep) -> dict[str, str]:
    """Create the account: identify the user, then track the sign-up."""
    await analytics.identify(user_id=form.user_id, traits={"email": form.email, "plan": form.plan})
    await analytics.track(user_id=form.user_id, event="Signed Up", properties={"plan": form.plan})
    return {"user_id": form.user_id}


@app.post("/orders/{order_id}/complete")
async def complete_order(order_id: str, order: Order, analytics: AnalyticsDep) -> dict[str, str]:
    """Complete an order; an order without a total is refused and not tracked."""
    if order.total <= 0:
        raise HTTPException(status_code=422, detail="an order needs a positive total")
    properties: dict[str, object] = {"order_id": order_id, "total": order.total}
    if order.coupon:
        properties["coupon"] = order.coupon
    await analytics.track(user_id=order.user_id, event="Order Completed", properties=properties)
    return {"order_id": order_id}


@app.get("/docs/{page}")
async def docs_page(page: str, user_id: str, analytics: AnalyticsDep) -> dict[str, str]:
    """Serve a documentation page, recording the view."""
    await analytics.page(user_id=user_id, name=page, category="Docs")
    return {"page": page}

"""The sample app's tests: what it tracks, checked with the ``analytics_recorder`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from app import app, get_analytics  # type: ignore[import-not-found]

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(analytics_recorder) -> AsyncIterator[httpx.AsyncClient]:
    app.dependency_overrides[get_analytics] = lambda: analytics_recorder.client
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sample") as client:
        yield client
    app.dependency_overrides.clear()


async def test_signup_identifies_then_tracks(client, analytics_recorder) -> None:
    """Signing up identifies the user with their traits, then tracks Signed Up."""
    response = await client.post(
        "/signup", json={"user_id": "u1", "email": "ada@example.com", "plan": "pro"}
    )
    assert response.status_code == 201
    analytics_recorder.assert_identified("u1", traits={"email": "ada@example.com", "plan": "pro"})
    analytics_recorder.assert_tracked("Signed Up", user_id="u1", properties={"plan": "pro"})
    assert [m.type for m in analytics_recorder.messages] == ["identify", "track"]


async def test_invalid_signup_tracks_nothing(client, analytics_recorder) -> None:
    """A rejected form sends nothing."""
    response = await client.post("/signup", json={"user_id": "u1"})
    assert response.status_code == 422
    analytics_recorder.assert_nothing_sent()


async def test_order_completed_carries_the_order(client, analytics_recorder) -> None:
    """Completing an order tracks Order Completed with its id, total and coupon."""
    response = await client.post(
        "/orders/o-42/complete", json={"user_id": "u2", "total": 99.5, "coupon": "SPRING"}
    )
    assert response.status_code == 200
    analytics_recorder.assert_tracked(
        "Order Completed",
        user_id="u2",
        properties={"order_id": "o-42", "total": 99.5, "coupon": "SPRING"},
        times=1,
    )


async def test_refused_order_is_not_tracked(client, analytics_recorder) -> None:
    """An order with no total is refused and not tracked."""
    response = await client.post("/orders/o-43/complete", json={"user_id": "u2", "total": 0})
    assert response.status_code == 422
    analytics_recorder.assert_not_tracked("Order Completed")


async def test_docs_pages_are_recorded(client, analytics_recorder) -> None:
    """Each documentation page view is a page call in the Docs category."""
    for page in ("quickstart", "testing"):
        await client.get(f"/docs/{page}", params={"user_id": "u3"})
    analytics_recorder.assert_paged("quickstart", category="Docs", user_id="u3")
    analytics_recorder.assert_paged("testing", category="Docs", user_id="u3")
    assert [p.name for p in analytics_recorder.pages] == ["quickstart", "testing"]

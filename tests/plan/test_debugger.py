"""The debugger page marks the messages that break the collector's tracking plan."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from aioanalytics.plan import parse_plan
from tests.server.conftest import StartCollector, start_collector
from tests.server.test_debugger_page import browser, expect, open_page, pytestmark

__all__ = ["browser", "pytestmark", "start_collector"]  # fixtures and marks, reused

PLAN = {"events": {"Signed Up": {"properties": {"plan": {"enum": ["free", "pro"]}}}}}


async def test_rows_breaking_the_plan_are_marked(
    browser: Any, start_collector: StartCollector
) -> None:
    """A row whose message breaks the plan is marked and its details list the violations;
    a conforming row is not; the header names the plan."""
    collector = await start_collector(plan=parse_plan({"name": "Shop", **PLAN}))
    page = await open_page(browser, collector)
    async with collector.sdk() as analytics:
        await (await analytics.track(user_id="ada", event="Signed Up", properties={"plan": "pro"}))
        await (await analytics.track(user_id="bob", event="Signed Up", properties={"plan": 1}))
        await (await analytics.track(user_id="eve", event="Sign Up"))
    rows = page.locator("#events tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator("#plan")).to_have_text("tracking plan Shop: 1 events")
    marked = page.locator("#events tr.violates")
    await expect(marked).to_have_count(2)
    await expect(marked.nth(0).locator(".violation")).to_have_text("breaks plan (1)")
    await expect(marked.nth(0)).to_contain_text("Sign Up")
    await expect(page.locator("#events tr:not(.violates)")).to_contain_text("ada")
    await marked.nth(1).click()
    await expect(page.locator("#detail-meta")).to_contain_text(
        "properties.plan: Input should be 'free' or 'pro' (got 1)"
    )
    assert page.errors == []

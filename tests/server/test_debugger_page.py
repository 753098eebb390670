"""The debugger page in a real headless Chromium, fed by the real SDK through the collector.

Needs Playwright for Python and Debian's ``chromium`` package (never ``playwright install``);
skipped cleanly without them. With ``AIOANALYTICS_SCREENSHOT=1`` it also writes the
screenshot the README shows, ``docs/debugger.png``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveCollector, StartCollector

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "debugger.png"
SECRET = "sk-debugger-SECRET-key"

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

expect = playwright_api.expect


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium from Debian, driven by Playwright."""
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_page(browser: Any, collector: LiveCollector) -> Any:
    page = await browser.new_page(viewport={"width": 1600, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(collector.url + "/")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    return page


async def test_events_appear_live_filter_and_open(
    browser: Any, start_collector: StartCollector
) -> None:
    """Events sent with the SDK appear without a reload, newest first; filters and details work."""
    collector = await start_collector(write_keys=[SECRET])
    page = await open_page(browser, collector)
    rows = page.locator("#events tr")
    await expect(page.locator("#empty")).to_be_visible()

    async with collector.sdk(SECRET) as analytics:
        await analytics.identify(user_id="ada", anonymous_id="anon-ada", traits={"plan": "pro"})
        await analytics.track(user_id="ada", event="Signed Up", properties={"plan": "pro"})
        await analytics.page(anonymous_id="anon-bob", name="Pricing")
        await analytics.screen(user_id="bob", name="Dashboard")
        await analytics.group(user_id="ada", group_id="acct-1", traits={"name": "Acme"})
        await analytics.alias(user_id="ada", previous_id="anon-ada")
        order = await analytics.track(
            user_id="bob",
            event="Order Completed",
            properties={"orderId": "o-77", "revenue": 99.5, "currency": "USD"},
        )
        await analytics.flush()
        order_id = (await order).message_id

    # Live, without a reload, newest first.
    await expect(rows).to_have_count(7)
    await expect(rows.first).to_have_attribute("data-message-id", order_id)
    await expect(page.locator("#total")).to_have_text("7")
    await expect(page.locator('#counts-types li[data-name="track"] .n')).to_have_text("2")
    await expect(page.locator('#counts-events li[data-name="Order Completed"]')).to_be_visible()

    # Filter by type, then by event name, then by user.
    await page.select_option("#filter-type", "track")
    await expect(rows).to_have_count(2)
    for kind in await rows.evaluate_all("rows => rows.map(r => r.dataset.type)"):
        assert kind == "track"
    await page.fill("#filter-event", "Signed Up")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".name")).to_have_text("Signed Up")
    await page.click("#clear-filters")
    await expect(rows).to_have_count(7)
    await page.fill("#filter-user", "bob")
    await expect(rows).to_have_count(2)
    await page.click("#clear-filters")
    await page.click('#counts-types li[data-name="screen"]')  # the sidebar filters too
    await expect(rows).to_have_count(1)
    await expect(page.locator("#filter-type")).to_have_value("screen")
    await page.click("#clear-filters")

    # A new event matching the filter arrives while it is set; others stay out.
    await page.select_option("#filter-type", "track")
    await expect(rows).to_have_count(2)
    async with collector.sdk(SECRET) as analytics:
        await analytics.page(user_id="ada", name="Docs")
        late = await analytics.track(user_id="ada", event="Report Exported")
        await analytics.flush()
        late_id = (await late).message_id
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_have_attribute("data-message-id", late_id)
    await page.click("#clear-filters")
    await expect(rows).to_have_count(9)

    # Open one: its full JSON.
    await page.click(f'#events tr[data-message-id="{order_id}"]')
    detail = page.locator("#detail")
    await expect(detail).to_contain_text('"orderId": "o-77"')
    await expect(detail).to_contain_text('"revenue": 99.5')
    await expect(detail).to_contain_text(order_id)
    await expect(page.locator("#detail-title")).to_have_text("track: Order Completed")
    await expect(page.locator(f'#events tr[data-message-id="{order_id}"]')).to_have_class(
        "selected"
    )

    # The write key is nowhere on the page.
    assert SECRET not in await page.content()
    assert page.errors == []
    await page.close()


@pytest.mark.skipif(
    os.environ.get("AIOANALYTICS_SCREENSHOT") != "1",
    reason="set AIOANALYTICS_SCREENSHOT=1 to write docs/debugger.png",
)
async def test_screenshot_for_the_readme(browser: Any, start_collector: StartCollector) -> None:
    """With AIOANALYTICS_SCREENSHOT=1, write docs/debugger.png from a realistic session."""
    from aioanalytics._demo import simulate

    collector = await start_collector(write_keys=["demo-write-key"])
    page = await open_page(browser, collector)
    calls = simulate(400, users=40, seed=11, now=datetime.now(UTC))
    async with collector.sdk("demo-write-key", flush_at=20) as analytics:
        for call in calls:
            await getattr(analytics, call.kind)(**call.kwargs)
        await analytics.flush()
    await expect(page.locator("#total")).to_have_text("400")
    order = page.locator('#events tr:has(td.name:text-is("Order Completed"))').first
    await order.click()
    await expect(page.locator("#detail")).to_contain_text('"revenue"')
    await page.wait_for_timeout(1500)  # let the row highlight fade
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    await page.close()


async def test_rate_counts_what_a_reset_skipped_and_nothing_is_missing(
    browser: Any, start_collector: StartCollector
) -> None:
    """A burst the stream cannot follow still shows in msgs/s; the favicon is served."""
    collector = await start_collector()
    failed: list[str] = []
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    await page.goto(collector.url + "/")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#rate")).to_have_text("0")
    # One batch larger than a stream's buffer: the page gets a reset, not the events.
    batch = [
        {"type": "track", "userId": f"u{n}", "event": "Burst", "messageId": f"b{n}"}
        for n in range(2500)
    ]
    async with collector.http() as http:
        response = await http.post("/v1/batch", json={"batch": batch}, auth=("key", ""))
        assert response.status_code == 200
        assert response.json()["stored"] == 2500
    await expect(page.locator("#total")).to_have_text("2,500")
    await expect(page.locator("#rate")).not_to_have_text("0")
    assert collector.state.hub.stats["resets"] >= 1
    rate = int((await page.locator("#rate").text_content() or "0").replace(",", ""))
    assert 0 < rate <= 2500
    icon = await page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon == collector.url + "/favicon.svg"
    assert (await page.request.get(collector.url + "/favicon.ico")).ok
    assert failed == []
    assert errors == []
    await page.close()

"""Typed events: functions generated from a tracking plan, and the plan checked at the call.

``tracking_plan/events.py`` is generated from ``tracking_plan/plan.yaml``::

    aioanalytics plan generate examples/tracking_plan/plan.yaml -o examples/tracking_plan/events.py

A typo in an event name or a wrong property type is then a mypy error in this file, and the
client checks the untyped calls against the same plan. Run it against a local collector
(``aioanalytics serve --plan examples/tracking_plan/plan.yaml`` marks what breaks the plan)::

    AIOANALYTICS_HOST=http://127.0.0.1:8000 python examples/typed_events.py
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from tracking_plan.events import (
    OrderCompletedProductsItem,
    identify,
    track_order_completed,
    track_signed_up,
)

from aioanalytics import Analytics
from aioanalytics.plan import PlanViolationError

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")
PLAN = Path(__file__).parent / "tracking_plan" / "plan.yaml"

logger = logging.getLogger("typed_events")


async def main() -> None:
    async with Analytics(WRITE_KEY, host=HOST, tracking_plan=PLAN) as analytics:
        await identify(analytics, user_id="user-1", email="ada@example.com", plan="pro")
        await track_signed_up(analytics, user_id="user-1", plan="pro")
        delivery = await track_order_completed(
            analytics,
            user_id="user-1",
            order_id="order-1001",
            revenue=39.95,
            currency="EUR",
            completed_at=datetime.now(UTC),
            products=[OrderCompletedProductsItem(product_id="sku-1", quantity=1, price=39.95)],
        )
        # An untyped call is checked against the same plan, at the call.
        try:
            await analytics.track(
                user_id="user-1", event="Order Completed", properties={"revenue": "39.95"}
            )
        except PlanViolationError as exc:
            logger.info("refused: %s", exc)
        result = await delivery
        logger.info("delivered %s: %s", result.message_id, result.destinations)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

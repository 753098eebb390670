"""Quickstart: send a few messages with the async client and wait for one to be delivered.

Run it against a local collector (``aioanalytics serve`` listens on port 8000)::

    AIOANALYTICS_HOST=http://127.0.0.1:8000 python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import logging
import os

from aioanalytics import Analytics

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

logger = logging.getLogger("quickstart")


async def main() -> None:
    async with Analytics(WRITE_KEY, host=HOST) as analytics:
        await analytics.identify(
            user_id="user-1", traits={"email": "ada@example.com", "plan": "pro"}
        )
        delivery = await analytics.track(
            user_id="user-1", event="Signed Up", properties={"plan": "pro"}
        )
        await analytics.page(
            user_id="user-1", name="Pricing", properties={"url": "https://example.com/pricing"}
        )
        result = await delivery  # optional: raises DeliveryError if it could not be delivered
        logger.info("delivered %s: %s", result.message_id, result.destinations)
    # Leaving the block delivered everything else.


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())

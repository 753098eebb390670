"""A process that sends through a spooled client, for the crash test: ``python -m
tests.spool_child URL SPOOL DURABILITY COUNT CONCURRENCY PREFIX``.

It prints ``<messageId> <time.monotonic()>`` on stdout as soon as each call returned (the
message is acknowledged), then ``DONE`` once every message was delivered and the client closed.
With ``COUNT`` 0 it only replays what the spool holds.
"""

from __future__ import annotations

import asyncio
import sys
import time

from aioanalytics import Analytics


async def main(
    url: str, spool: str, durability: str, count: int, concurrency: int, prefix: str
) -> None:
    """Send ``count`` messages from ``concurrency`` tasks, reporting each acknowledgment."""
    out = sys.stdout
    async with Analytics(
        "crash-test",
        host=url,
        spool=spool,
        spool_durability=durability,  # type: ignore[arg-type]
        flush_at=50,
        flush_interval=0.02,
        backoff_initial=0.01,
        backoff_max=0.1,
        max_retries=1000,
        timeout=2.0,
        shutdown_timeout=60,
    ) as analytics:
        numbers = iter(range(count))

        async def produce() -> None:
            for i in numbers:
                message_id = f"{prefix}-{i}"
                await analytics.track(
                    user_id=f"u{i % 7}",
                    event="Crash Test",
                    properties={"i": i},
                    message_id=message_id,
                )
                out.write(f"{message_id} {time.monotonic():.6f}\n")
                out.flush()

        await asyncio.gather(*(produce() for _ in range(concurrency)))
        await analytics.flush()
    out.write("DONE\n")
    out.flush()


if __name__ == "__main__":
    url, spool, durability, count, concurrency, prefix = sys.argv[1:7]
    asyncio.run(main(url, spool, durability, int(count), int(concurrency), prefix))

"""Property-based tests of the whole sending core: any sizes, limits and server answers."""

from __future__ import annotations

import asyncio
import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from aioanalytics import (
    Analytics,
    ClientClosedError,
    DeliveryError,
    MemoryTransport,
    Request,
    Response,
    TransportError,
)

ANSWERS = st.sampled_from(["accept", "split", "reject", "retry", "network", "bad-request"])


def _run(
    sizes: list[int], flush_at: int, max_batch_bytes: int, answers: list[str], max_retries: int
) -> None:
    script = iter(answers)

    def handler(request: Request) -> Response | TransportError | int:
        body = json.loads(gzip.decompress(request.content))
        # No request ever exceeds the limits, whatever happened before it.
        assert len(gzip.decompress(request.content)) <= max_batch_bytes
        assert 1 <= len(body["batch"]) <= flush_at
        answer = next(script, "accept")
        return {
            "accept": 200,
            "split": 413,
            "reject": 401,
            "retry": 503,
            "bad-request": 400,
            "network": TransportError("connection dropped"),
        }[answer]

    async def main() -> None:
        transport = MemoryTransport(handler=handler)
        analytics = Analytics(
            "key",
            transport=transport,
            flush_at=flush_at,
            max_batch_bytes=max_batch_bytes,
            max_retries=max_retries,
            backoff_initial=0,
            backoff_max=0,
            flush_interval=0.001,
        )
        async with analytics:
            deliveries = [
                await analytics.track(user_id="u", event="e", properties={"pad": "x" * size})
                for size in sizes
            ]
            outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        stats = analytics.stats
        delivered = sum(not isinstance(o, BaseException) for o in outcomes)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        # Exactly one terminal state each, and the counters agree with the futures.
        assert all(isinstance(o, DeliveryError) for o in failed), failed
        assert not any(isinstance(o, ClientClosedError) for o in failed)
        assert stats.delivered == delivered
        assert stats.failed == len(failed)
        assert stats.enqueued == len(sizes) == delivered + len(failed)
        # Every delivered message was in a request that got a 2xx.
        accepted = {
            m["messageId"]
            for request in transport.requests
            for m in transport.decode(request)["batch"]
        }
        assert {
            d.message_id
            for d, o in zip(deliveries, outcomes, strict=True)
            if not isinstance(o, BaseException)
        } <= accepted

    asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=60),
    flush_at=st.integers(1, 20),
    max_batch_bytes=st.integers(33_500, 60_000),
    answers=st.lists(ANSWERS, max_size=40),
    max_retries=st.integers(0, 3),
)
def test_every_message_ends_in_exactly_one_terminal_state(
    sizes: list[int], flush_at: int, max_batch_bytes: int, answers: list[str], max_retries: int
) -> None:
    _run(sizes, flush_at, max_batch_bytes, answers, max_retries)


def test_large_messages_near_the_limits() -> None:
    _run([32_000] * 5 + [10] * 5, 2500, 33_500, ["split", "retry", "accept"], 2)

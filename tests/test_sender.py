"""The sender without a client: gzip framing, flow control, and one batch from dispatch to
settlement against a scripted transport."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Sequence
from typing import Any

import pytest

from aioanalytics import (
    BatchLimits,
    ClientClosedError,
    Decision,
    DeliveryError,
    MemoryTransport,
    Request,
    Response,
    RetryPolicy,
    Stats,
)
from aioanalytics._batching import Batcher
from aioanalytics._config import GZIP_RECORDS
from aioanalytics._delivery import Batch, Delivery, Outcomes, Positions, Settlement
from aioanalytics._sender import FlowControl, FramedEndpoint, Lane, Sender, gzip_records
from aioanalytics.destinations.mixpanel import MixpanelEndpoint
from aioanalytics.destinations.segment import SegmentEndpoint

pytestmark = pytest.mark.anyio

ENDPOINTS = [
    SegmentEndpoint("https://api.segment.io/v1/batch", "key", BatchLimits(), RetryPolicy()),
    MixpanelEndpoint("https://api.mixpanel.com/track", {}, BatchLimits(), RetryPolicy()),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "count", [0, 1, GZIP_RECORDS - 1, GZIP_RECORDS, GZIP_RECORDS + 1, 5 * GZIP_RECORDS + 3]
)
async def test_sliced_gzip_is_the_built_body(endpoint: SegmentEndpoint, count: int) -> None:
    records = [json.dumps({"i": i, "pad": "x" * (i % 7)}).encode() for i in range(count)]
    sent_at = "2024-01-01T00:00:00.000Z"
    head, separator, tail = endpoint.frame(sent_at=sent_at)
    body = await gzip_records(head, separator, tail, records, GZIP_RECORDS)
    assert gzip.decompress(body) == endpoint.build(records, sent_at=sent_at).content


class _PlainEndpoint:
    limits = BatchLimits(max_items=50)
    retry = RetryPolicy()
    envelope_bytes = 2

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        return Request("POST", "https://collector.invalid/in", {}, b"[" + b",".join(records) + b"]")

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        return self.retry.decide(response.status_code if response else None, batch_size=batch_size)


def test_framed_endpoints_are_told_apart_by_their_protocol() -> None:
    assert all(isinstance(endpoint, FramedEndpoint) for endpoint in ENDPOINTS)
    assert not isinstance(_PlainEndpoint(), FramedEndpoint)


# -- flow control ---------------------------------------------------------------------------


def test_a_destination_that_does_not_block_refuses_past_its_records() -> None:
    flow = FlowControl(2, block=False, max_records=10)
    assert flow.max_batches == 8
    assert not flow.refuses(100)  # nothing waits: even a big batch goes
    flow.records = 8
    assert flow.refuses(3) and not flow.refuses(2)
    assert not FlowControl(2, block=True, max_records=10).refuses(100)


async def test_a_blocking_destination_holds_the_flusher_until_a_batch_is_done() -> None:
    flow = FlowControl(1, block=True, max_records=10)
    flow.batches = flow.max_batches
    waiting = asyncio.ensure_future(flow.wait_for_room())
    await asyncio.sleep(0)
    assert not waiting.done()
    flow.batches -= 1
    flow.room.set()
    await asyncio.wait_for(waiting, 5)


async def test_backoff_ends_at_recovery_or_when_closing_begins() -> None:
    flow = FlowControl(1, block=True, max_records=10)
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sleeping = [asyncio.ensure_future(flow.backoff(60, closing)) for _ in range(2)]
    await asyncio.sleep(0)
    flow.recovered()
    await asyncio.wait_for(asyncio.gather(*sleeping), 5)
    sleeping = [asyncio.ensure_future(flow.backoff(60, closing))]
    await asyncio.sleep(0)
    closing.set_result(None)
    await asyncio.wait_for(sleeping[0], 5)
    # Once closing, only recovery (or the delay) ends a backoff: no busy loop of retries.
    late = asyncio.ensure_future(flow.backoff(60, closing))
    await asyncio.sleep(0.01)
    assert not late.done()
    flow.recovered()
    await asyncio.wait_for(late, 5)


# -- one batch ------------------------------------------------------------------------------


def _sender(transport: MemoryTransport, **retry: Any) -> tuple[Sender, Lane, Stats]:
    stats = Stats()
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    policy = RetryPolicy(backoff_initial=0.01, backoff_max=0.01, **retry)
    endpoint = SegmentEndpoint("https://collector.invalid/v1/batch", "key", BatchLimits(), policy)
    lane = Lane("Segment", endpoint, Batcher(endpoint.limits, envelope_bytes=10), gzip=True)
    lane.flow = FlowControl(2, block=True, max_records=100)
    return Sender(transport, Settlement(stats, None, None), closing), lane, stats


def _batch(count: int) -> tuple[Batch, list[Delivery]]:
    outcomes = Outcomes()
    deliveries = [Delivery(f"m{i}", outcomes, outcomes.add()) for i in range(count)]
    records = [json.dumps({"messageId": f"m{i}"}).encode() for i in range(count)]
    return Batch(records, Positions([[outcomes, 0, count]])), deliveries


async def test_a_batch_is_retried_then_delivered() -> None:
    transport = MemoryTransport([503, 200])
    sender, lane, stats = _sender(transport)
    batch, deliveries = _batch(3)
    await sender.send_batch(lane, batch)
    assert all(d.done() and d.exception() is None for d in deliveries)
    assert (stats.batches, stats.retried, stats.delivered) == (2, 1, 3)
    assert transport.requests[0].headers["Content-Encoding"] == "gzip"


async def test_a_413_splits_and_a_400_isolates_the_poison_message() -> None:
    def answer(request: Request) -> int:
        ids = [m["messageId"] for m in MemoryTransport.decode(request)["batch"]]
        if len(ids) > 2:
            return 413
        return 400 if "m3" in ids else 200

    transport = MemoryTransport(handler=answer)
    sender, lane, stats = _sender(transport)
    batch, deliveries = _batch(6)
    await sender.send_batch(lane, batch)
    failed = [d.message_id for d in deliveries if d.exception() is not None]
    assert failed == ["m3"]
    assert isinstance(deliveries[3].exception(), DeliveryError)
    assert (stats.delivered, stats.failed) == (5, 1)


async def test_a_rejection_is_never_retried() -> None:
    transport = MemoryTransport([401])
    sender, lane, stats = _sender(transport)
    batch, deliveries = _batch(2)
    await sender.send_batch(lane, batch)
    error = deliveries[0].exception()
    assert isinstance(error, DeliveryError) and error.status_code == 401 and error.attempts == 1
    assert len(transport.requests) == 1 and stats.failed == 2


async def test_retries_end_with_the_budget() -> None:
    transport = MemoryTransport(handler=lambda request: 500)
    sender, lane, _ = _sender(transport, max_retries=2)
    batch, deliveries = _batch(1)
    await sender.send_batch(lane, batch)
    error = deliveries[0].exception()
    assert isinstance(error, DeliveryError) and error.attempts == 3
    assert "retries exhausted" in str(error)


async def test_dispatch_settles_a_batch_whose_task_never_ran() -> None:
    transport = MemoryTransport()
    sender, lane, stats = _sender(transport)
    batch, deliveries = _batch(2)
    await sender.dispatch(lane, batch)
    (task,) = sender.tasks
    task.cancel()  # before its first step
    await asyncio.gather(task, return_exceptions=True)
    assert all(isinstance(d.exception(), ClientClosedError) for d in deliveries)
    assert stats.failed == 2 and transport.requests == []
    assert lane.flow is not None and lane.flow.batches == 0


async def test_dispatch_fails_a_batch_a_saturated_destination_refuses() -> None:
    transport = MemoryTransport()
    sender, lane, _ = _sender(transport)
    lane.flow = FlowControl(1, block=False, max_records=3)
    lane.flow.records = 2
    batch, deliveries = _batch(2)
    await sender.dispatch(lane, batch)
    error = deliveries[0].exception()
    assert isinstance(error, DeliveryError) and "already waiting" in str(error)
    assert not sender.tasks


async def test_after_sending_waits_for_the_tasks_running_now() -> None:
    gate = asyncio.Event()

    class Held(MemoryTransport):
        async def send(self, request: Request) -> Response:
            await gate.wait()
            return await super().send(request)

    sender, lane, _ = _sender(Held())
    batch, deliveries = _batch(1)
    await sender.dispatch(lane, batch)
    flushed = asyncio.get_running_loop().create_future()
    sender.after_sending(flushed.set_result)
    await asyncio.sleep(0.01)
    assert not flushed.done()
    gate.set()
    await asyncio.wait_for(flushed, 5)
    assert deliveries[0].done()

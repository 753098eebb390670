"""Large batches are gzipped a slice of records at a time: the same bytes as building the
whole body and compressing it in one go."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aioanalytics import (
    Analytics,
    BatchLimits,
    ClientClosedError,
    Decision,
    MemoryTransport,
    Request,
    Response,
    RetryPolicy,
)
from aioanalytics._client import (
    _GZIP_RECORDS,
    Delivery,
    _gzip_records,
    _Replayed,
    _SpooledItem,
)
from aioanalytics.destinations import Record
from aioanalytics.destinations.mixpanel import MixpanelEndpoint
from aioanalytics.destinations.segment import SegmentEndpoint

ENDPOINTS = [
    SegmentEndpoint("https://api.segment.io/v1/batch", "key", BatchLimits(), RetryPolicy()),
    MixpanelEndpoint("https://api.mixpanel.com/track", {}, BatchLimits(), RetryPolicy()),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "count", [0, 1, _GZIP_RECORDS - 1, _GZIP_RECORDS, _GZIP_RECORDS + 1, 5 * _GZIP_RECORDS + 3]
)
def test_sliced_gzip_is_the_built_body(endpoint: SegmentEndpoint, count: int) -> None:
    records = [json.dumps({"i": i, "pad": "x" * (i % 7)}).encode() for i in range(count)]
    items: list[Any] = [Delivery(f"m{i}", data) for i, data in enumerate(records)]
    sent_at = "2024-01-01T00:00:00.000Z"
    head, separator, tail = endpoint.frame(sent_at=sent_at)
    body = asyncio.run(_gzip_records(head, separator, tail, items, _GZIP_RECORDS))
    assert gzip.decompress(body) == endpoint.build(records, sent_at=sent_at).content


def test_senders_take_big_steps_once_the_queue_is_half_full() -> None:
    async def main() -> tuple[bool, bool]:
        async with Analytics("key", transport=MemoryTransport(), max_queue_size=10) as client:
            quiet = client._saturated()
            for _ in range(5):  # nothing drains the queue until this task yields
                client._queue.put_nowait(object())
            busy = client._saturated()
            while client._queue.qsize():
                client._queue.take()
            return quiet, busy

    quiet, busy = asyncio.run(main())
    assert not quiet
    assert busy


def test_a_batch_cut_short_while_settling_counts_each_message_once() -> None:
    async def main() -> tuple[int, int]:
        async with Analytics("key", transport=MemoryTransport()) as client:
            items = [_SpooledItem(b"{}", _Replayed(), seq) for seq in range(300)]
            settling = asyncio.create_task(client._succeed(items))  # type: ignore[arg-type]
            for _ in range(3):  # two of its three slices
                await asyncio.sleep(0)
            settling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await settling
            client._fail(items, ClientClosedError("closed"), None)  # type: ignore[arg-type]
            return client.stats.delivered, client.stats.failed

    delivered, failed = asyncio.run(main())
    assert 0 < delivered < 300
    assert delivered + failed == 300


class _PlainEndpoint:
    """An endpoint without ``frame``: its bodies are built whole, then gzipped."""

    limits = BatchLimits(max_items=50)
    retry = RetryPolicy()
    envelope_bytes = 2

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        return Request("POST", "https://collector.invalid/in", {}, b"[" + b",".join(records) + b"]")

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        return self.retry.decide(response.status_code if response else None, batch_size=batch_size)


class _Plain:
    name = "Plain"
    bypasses_segment = False
    gzip = True

    def __init__(self) -> None:
        self.endpoints = {"in": _PlainEndpoint()}

    def translate(self, message: Mapping[str, Any], encoded: bytes) -> list[Record]:
        return [Record("in", encoded)]


def test_an_endpoint_without_frame_gets_its_whole_body_gzipped() -> None:
    transport = MemoryTransport()

    async def main() -> list[Delivery]:
        async with Analytics(destinations=[_Plain()], transport=transport) as client:
            return [await client.track(user_id="u", event=f"e{i}") for i in range(120)]

    deliveries = asyncio.run(main())
    assert all(d.exception() is None for d in deliveries)
    assert [len(body) for body in transport.bodies] == [50, 50, 20]
    assert all(r.headers["Content-Encoding"] == "gzip" for r in transport.requests)
    assert [m["event"] for body in transport.bodies for m in body] == [f"e{i}" for i in range(120)]
    assert repr(deliveries[0]) == f"<Delivery {deliveries[0].message_id} done>"

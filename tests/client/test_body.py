"""Request bodies through a whole client: an endpoint without ``frame()`` gets its whole body
built, then gzipped (the sliced path is tested in tests/test_sender.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aioanalytics import (
    Analytics,
    BatchLimits,
    Decision,
    Delivery,
    MemoryTransport,
    Request,
    Response,
    RetryPolicy,
)
from aioanalytics.destinations import Record


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

"""Delivery handles, outcome slices, routed fates, batch sinks and settlement, without a
client."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from aioanalytics import ClientClosedError, DeliveryError, DeliveryResult, Stats
from aioanalytics._config import SLICE_MESSAGES
from aioanalytics._delivery import (
    DELIVERED,
    Batch,
    Countdown,
    Delivery,
    Item,
    Outcomes,
    Positions,
    Replayed,
    Routed,
    Settlement,
    Slot,
)

pytestmark = pytest.mark.anyio


def _slice(count: int) -> tuple[Outcomes, list[Delivery]]:
    outcomes = Outcomes()
    return outcomes, [Delivery(f"m{i}", outcomes, outcomes.add()) for i in range(count)]


async def test_a_slice_settles_ranges_and_wakes_only_their_waiters() -> None:
    outcomes, deliveries = _slice(10)
    waiting = [asyncio.ensure_future(deliveries[i]._wait()) for i in (2, 7)]
    await asyncio.sleep(0)
    assert outcomes.settle(0, 5, DELIVERED) == 5
    assert (await waiting[0]) == DeliveryResult("m2", {"Segment": "delivered"})
    assert not waiting[1].done()
    error = DeliveryError("rejected", status_code=400)
    assert outcomes.settle(3, 10, error) == 5  # 3 and 4 were settled already
    with pytest.raises(DeliveryError):
        await waiting[1]
    assert [d.exception() for d in deliveries[3:5]] == [None, None]
    assert all(d.exception() is error for d in deliveries[5:])
    assert all(d.done() for d in deliveries)
    assert repr(deliveries[0]) == "<Delivery m0 done>"


def test_a_slice_settles_each_message_once() -> None:
    outcomes, deliveries = _slice(4)
    assert outcomes.settle(0, 4, ClientClosedError("closed")) == 4
    assert outcomes.settle(0, 4, DELIVERED) == 0
    assert all(isinstance(d.exception(), ClientClosedError) for d in deliveries)


def test_a_slice_knows_when_it_is_full() -> None:
    outcomes, _ = _slice(SLICE_MESSAGES - 1)
    assert not outcomes.full
    outcomes.add()
    assert outcomes.full


async def test_a_routed_message_settles_per_destination() -> None:
    fate = Routed()
    fate.left = 2
    delivery = Delivery("m", fate)
    segment, mixpanel = Slot(fate, "Segment"), Countdown(Slot(fate, "Mixpanel"), 2)
    waiter = asyncio.ensure_future(delivery._wait())
    assert segment.settle(DELIVERED) and not segment.settle(DELIVERED)
    assert not mixpanel.settle(DELIVERED)  # one record of two
    assert not delivery.done()
    assert mixpanel.settle(DELIVERED)
    result = await waiter
    assert result.destinations == {"Segment": "delivered", "Mixpanel": "delivered"}


async def test_a_routed_failure_is_the_delivery_s_exception() -> None:
    fate = Routed()
    fate.left = 2
    delivery = Delivery("m", fate)
    error = DeliveryError("rejected", destination="Mixpanel")
    Countdown(Slot(fate, "Mixpanel"), 3).settle(error)  # the first failure settles it
    assert delivery.exception() is None  # not done: Segment is still open
    Slot(fate, "Segment").settle(DELIVERED)
    assert delivery.exception() is error
    with pytest.raises(DeliveryError):
        await delivery


def test_positions_take_runs_across_slices_and_split() -> None:
    first, second = Outcomes(), Outcomes()
    positions = Positions()
    for index in range(3):
        positions.add(first, index)
    for index in range(2):
        positions.add(second, index)
    assert len(positions) == 5
    taken = positions.take(4)
    assert [run[1:] for run in taken._runs] == [[0, 3], [0, 1]]
    assert [run[1:] for run in positions._runs] == [[1, 2]]
    head, tail = taken.split(1)
    assert len(head) == 1 and len(tail) == 3 and len(taken) == 4  # split copies


def test_a_batch_splits_records_and_sinks_alike() -> None:
    outcomes, _ = _slice(5)
    batch = Batch([b"0", b"1", b"2", b"3", b"4"], Positions([[outcomes, 0, 5]]))
    first, second = batch.split()
    assert first.records == [b"0", b"1", b"2"] and second.records == [b"3", b"4"]
    assert second.sinks.settle(DELIVERED) == 2
    assert list(outcomes.states) == [0, 0, 0, 1, 1]
    items = Batch.of_items([Item(b"a", Replayed(), 7), Item(b"b", Replayed())])
    one, other = items.split()
    assert one.records == [b"a"] and one.sinks.spool_ids() == [7]
    assert other.sinks.spool_ids() == []


class _Spool:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.wakes = 0

    def ack(self, seqs: Any, *, wake: bool = True) -> None:
        self.acked.extend(seqs)
        self.wakes += wake


async def test_settlement_counts_acks_and_reports_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reported: list[tuple[Exception, list[dict[str, Any]]]] = []
    spool = _Spool()
    stats = Stats()
    settlement = Settlement(stats, lambda e, m: reported.append((e, m)), spool)  # type: ignore[arg-type]
    records = [json.dumps({"i": i}).encode() for i in range(3)]
    items = [Item(data, Replayed(), seq) for seq, data in enumerate(records)]
    await settlement.succeed(Batch.of_items(items[:2]), step=1)
    assert stats.delivered == 2 and spool.acked == [0, 1] and spool.wakes == 1
    error = DeliveryError("rejected", status_code=400)
    settlement.fail(Batch.of_items(items), error)  # two of them are settled already
    assert stats.failed == 1 and spool.acked == [0, 1, 0, 1, 2]
    assert reported == [(error, [{"i": 0}, {"i": 1}, {"i": 2}])]
    assert "1 message(s) failed" in caplog.text
    settlement.fail(Batch.of_items(items), error)  # nothing left to settle: quiet
    assert len(reported) == 1


async def test_a_failure_cut_short_by_close_stays_in_the_spool() -> None:
    spool = _Spool()
    settlement = Settlement(Stats(), None, spool)  # type: ignore[arg-type]
    settlement.fail(Batch.of_items([Item(b"{}", Replayed(), 3)]), ClientClosedError("closed"))
    assert spool.acked == []


async def test_a_batch_cut_short_while_settling_counts_each_message_once() -> None:
    stats = Stats()
    settlement = Settlement(stats, None, _Spool())  # type: ignore[arg-type]
    batch = Batch.of_items([Item(b"{}", Replayed(), seq) for seq in range(300)])
    settling = asyncio.ensure_future(settlement.succeed(batch, step=128))
    for _ in range(3):  # two of its three steps
        await asyncio.sleep(0)
    settling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await settling
    settlement.fail(batch, ClientClosedError("closed"))
    assert 0 < stats.delivered < 300
    assert stats.delivered + stats.failed == 300


async def test_an_on_error_hook_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(error: Exception, messages: list[dict[str, Any]]) -> None:
        raise RuntimeError("hook bug")

    settlement = Settlement(Stats(), broken, None)
    outcomes, _ = _slice(1)
    with caplog.at_level(logging.ERROR, "aioanalytics"):
        settlement.fail(Batch([b"{}"], Positions([[outcomes, 0, 1]])), DeliveryError("no"))
    assert "the on_error hook raised" in caplog.text

"""The intake queue and the flusher, without a client: admission, room, naps, markers,
positions, slices of work, and what a cancelled flusher leaves behind."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioanalytics import BatchLimits, ClientClosedError, DeliveryError
from aioanalytics._batching import Batcher
from aioanalytics._config import SLICE_MESSAGES, YIELD_EVERY
from aioanalytics._delivery import DELIVERED, Batch, Delivery, Item, Positions, Replayed
from aioanalytics._flusher import CLOSE, Flush, Flusher, Intake
from aioanalytics._retry import RetryPolicy
from aioanalytics._sender import Lane
from aioanalytics.destinations.segment import SegmentEndpoint

pytestmark = pytest.mark.anyio


def test_admitted_messages_are_bytes_and_their_deliveries_find_their_place() -> None:
    intake = Intake(3)
    deliveries = [intake.admit(f"m{i}", b"{}") for i in range(3)]
    assert intake.admit("m3", b"{}") is None  # full
    assert [intake.take() for _ in range(3)] == [b"{}"] * 3
    positions = intake.take_positions(3)
    assert positions.settle(DELIVERED) == 3
    assert all(d is not None and d.done() and d.exception() is None for d in deliveries)


def test_positions_follow_the_queue_across_slices() -> None:
    count = SLICE_MESSAGES + 10
    intake = Intake(count)
    deliveries = [intake.admit(f"m{i}", str(i).encode()) for i in range(count)]
    assert [intake.take() for _ in range(count)] == [str(i).encode() for i in range(count)]
    first = intake.take_positions(SLICE_MESSAGES - 5)
    second = intake.take_positions(15)  # the end of one slice, the start of the next
    assert len(first) + len(second) == SLICE_MESSAGES + 10
    second.settle(ClientClosedError("closed"))
    failed = [i for i, d in enumerate(deliveries) if d is not None and d.done()]
    assert failed == list(range(SLICE_MESSAGES - 5, SLICE_MESSAGES + 10))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=50))
def test_each_message_is_settled_by_its_own_batch(steps: list[tuple[int, int]]) -> None:
    """Whatever the interleaving of calls and batches, across slices, the positions a batch
    takes are its own messages' and no others'."""
    intake = Intake(100_000)
    deliveries: list[Delivery | None] = []
    batch_of: dict[int, DeliveryError] = {}
    for admitted, taken in steps:
        for _ in range(admitted):
            deliveries.append(intake.admit(str(len(deliveries)), b"%d" % len(deliveries)))
        records = [entry for entry in (intake.take() for _ in range(taken)) if entry is not None]
        if records:
            error = DeliveryError("rejected")
            intake.take_positions(len(records)).settle(error)
            batch_of.update((int(record), error) for record in records)
    for number, delivery in enumerate(deliveries):
        assert delivery is not None
        if number in batch_of:
            assert delivery.exception() is batch_of[number]
        else:
            assert not delivery.done()


def test_markers_always_fit_and_routed_entries_do_not() -> None:
    intake = Intake(1)
    assert intake.put_nowait([])
    assert not intake.put_nowait([])
    assert intake.put_nowait(CLOSE)
    assert intake.qsize() == 2 and intake.full() and intake.saturated()


async def test_a_full_intake_wakes_one_waiter_per_entry_taken() -> None:
    intake = Intake(1)
    intake.admit("m0", b"{}")
    waiters = [asyncio.ensure_future(intake.wait_for_room()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    intake.take()
    assert await waiters[0] is True
    assert not waiters[1].done()
    intake.admit("m1", b"{}")  # the room the first waiter was given is used
    intake.take()
    assert await waiters[1] is True


async def test_waiting_for_room_ends_when_the_client_closes() -> None:
    intake = Intake(1)
    intake.admit("m0", b"{}")
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiter = asyncio.ensure_future(intake.wait_for_room(closing))
    await asyncio.sleep(0)
    closing.set_result(None)
    assert await waiter is False
    assert await intake.wait_for_room(closing) is False  # closed already


async def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    intake = Intake(1)
    intake.admit("m0", b"{}")
    first = asyncio.ensure_future(intake.wait_for_room())
    second = asyncio.ensure_future(intake.wait_for_room())
    await asyncio.sleep(0)
    intake.take()  # wakes the first...
    first.cancel()  # ...which leaves without using the room
    assert await second is True


async def test_a_nap_ends_at_the_wake_mark_or_at_a_marker() -> None:
    intake = Intake(100)
    loop = asyncio.get_running_loop()
    nap = asyncio.ensure_future(intake.nap_until(loop.time() + 60, wake_at=3))
    await asyncio.sleep(0)
    intake.admit("m0", b"{}")
    intake.admit("m1", b"{}")
    await asyncio.sleep(0)
    assert not nap.done()
    intake.admit("m2", b"{}")
    await asyncio.wait_for(nap, 5)
    nap = asyncio.ensure_future(intake.nap_until(loop.time() + 60, wake_at=50))
    await asyncio.sleep(0)
    intake.put_nowait(Flush(loop.create_future()))
    await asyncio.wait_for(nap, 5)


def test_spool_ids_travel_with_their_positions_and_replayed_records() -> None:
    """With a spool, each message's sequence number is found again by position, for new calls
    and for records replayed as one entry."""
    intake = Intake(10, spooled=True)
    assert intake.admit_replayed([(b"r1", 1), (b"r2", 2)])
    first = intake.admit("m3", b"{}", 3)
    intake.admit("m4", b"{}", 4)
    assert intake.take() == (b"r1", b"r2")
    assert intake.take() == b"{}"
    assert intake.take_positions(3).spool_ids() == [1, 2, 3]
    assert first is not None and first.done() is False
    failed: list[tuple[list[bytes], list[int]]] = []
    intake.fail_all(
        lambda batch, _: failed.append((batch.records, batch.sinks.spool_ids())),
        ClientClosedError("closed"),
    )
    assert failed == [([b"{}"], [4])]


def test_a_full_intake_refuses_replayed_records() -> None:
    intake = Intake(1, spooled=True)
    assert intake.admit_replayed([(b"r1", 1)])
    assert not intake.admit_replayed([(b"r2", 2)])
    assert intake.take() == (b"r1",)
    assert intake.take_positions(1).spool_ids() == [1]


def test_ten_thousand_queued_messages_add_no_objects_for_the_collector() -> None:
    intake = Intake(20_000)
    records = [b'{"i":%d}' % i for i in range(10_000)]
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for i, record in enumerate(records):
            intake.admit(str(i), record)  # the Delivery is dropped, as callers mostly do
        added = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert intake.qsize() == 10_000
    assert added <= 100  # a slice object per 1,024 messages, not an object per message


# -- the flusher ----------------------------------------------------------------------------


def _lane(max_items: int = 3, interval: float = 60.0) -> Lane:
    endpoint = SegmentEndpoint(
        "https://collector.invalid/v1/batch",
        "key",
        BatchLimits(max_items=max_items, interval=interval),
        RetryPolicy(),
    )
    return Lane("Segment", endpoint, Batcher(endpoint.limits, envelope_bytes=10), gzip=True)


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[Lane, Batch]] = []
        self.failed: list[tuple[Batch, Exception]] = []
        self.flushes = 0

    async def dispatch(self, lane: Lane, batch: Batch) -> None:
        self.batches.append((lane, batch))

    def after_sending(self, callback: Any) -> None:
        self.flushes += 1
        callback(None)

    def fail(self, batch: Batch, error: Exception) -> None:
        self.failed.append((batch, error))

    def flusher(self, intake: Intake, *lanes: Lane, segment: Lane | None = None) -> Flusher:
        return Flusher(
            intake,
            lanes,
            dispatch=self.dispatch,
            after_sending=self.after_sending,
            fail=self.fail,
            segment=segment,
        )


async def test_the_flusher_batches_by_count_flushes_and_closes() -> None:
    intake, lane, recorder = Intake(100), _lane(), _Recorder()
    deliveries = [intake.admit(f"m{i}", b"%d" % i) for i in range(7)]
    done = asyncio.get_running_loop().create_future()
    intake.put_nowait(Flush(done))
    intake.admit("m7", b"7")
    intake.put_nowait(CLOSE)
    await asyncio.wait_for(recorder.flusher(intake, lane, segment=lane).run(), 5)
    assert done.done() and recorder.flushes == 1
    assert [b.records for _, b in recorder.batches] == [
        [b"0", b"1", b"2"],
        [b"3", b"4", b"5"],
        [b"6"],  # the flush
        [b"7"],  # the close
    ]
    for _, batch in recorder.batches:
        batch.sinks.settle(DELIVERED)
    assert all(d is not None and d.done() for d in deliveries)


async def test_routed_entries_go_to_their_lanes() -> None:
    intake, first, second, recorder = Intake(100), _lane(), _lane(max_items=1), _Recorder()
    item = Item(b"a", Replayed())
    intake.put_nowait([(first, item), (second, Item(b"b", Replayed()))])
    intake.put_nowait(CLOSE)
    await asyncio.wait_for(recorder.flusher(intake, first, second).run(), 5)
    assert [(lane is second, b.records) for lane, b in recorder.batches] == [
        (True, [b"b"]),
        (False, [b"a"]),
    ]
    assert recorder.batches[1][1].sinks.items == [item]  # type: ignore[union-attr]


async def test_a_due_batch_goes_out_by_the_timer() -> None:
    intake, lane, recorder = Intake(100), _lane(interval=0.01), _Recorder()
    task = asyncio.ensure_future(recorder.flusher(intake, lane, segment=lane).run())
    intake.admit("m0", b"0")
    for _ in range(500):
        if recorder.batches:
            break
        await asyncio.sleep(0.01)
    assert [b.records for _, b in recorder.batches] == [[b"0"]]
    intake.put_nowait(CLOSE)
    await asyncio.wait_for(task, 5)


async def test_the_flusher_lets_others_run_every_slice_of_entries() -> None:
    intake, lane, recorder = Intake(10_000), _lane(max_items=2500), _Recorder()
    for i in range(5 * YIELD_EVERY):
        intake.admit(f"m{i}", b"{}")
    intake.put_nowait(CLOSE)
    steps = 0

    async def count_steps() -> None:
        nonlocal steps
        while True:
            steps += 1
            await asyncio.sleep(0)

    counter = asyncio.ensure_future(count_steps())
    await asyncio.wait_for(recorder.flusher(intake, lane, segment=lane).run(), 5)
    counter.cancel()
    assert steps >= 5  # the other task ran between the slices
    assert [len(b) for _, b in recorder.batches] == [5 * YIELD_EVERY]


async def test_a_cancelled_flusher_fails_its_open_batches() -> None:
    intake, lane, recorder = Intake(100), _lane(), _Recorder()
    flusher = recorder.flusher(intake, lane, segment=lane)
    task = asyncio.ensure_future(flusher.run())
    deliveries = [intake.admit(f"m{i}", b"{}") for i in range(2)]
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert flusher.cut_short == 2
    ((batch, error),) = recorder.failed
    assert isinstance(error, ClientClosedError) and isinstance(batch.sinks, Positions)
    batch.sinks.settle(error)
    assert all(d is not None and isinstance(d.exception(), ClientClosedError) for d in deliveries)

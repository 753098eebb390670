"""The intake queue and the flusher: queued messages -> batches, and when to wake.

Theory of operation. Calls put entries in the :class:`Intake`: a message for Segment alone is
just its bytes (its fate, and its spool sequence number if there is a spool, live in a shared
:class:`~aioanalytics._delivery.Outcomes` slice, found again by position); records replayed
from the spool for Segment alone are a tuple of such bytes; a routed message is a list of
``(lane, item)`` pairs; markers ask for a flush or the close. The :class:`Flusher` drains
the intake into each lane's :class:`~aioanalytics._batching.Batcher` and hands every closed
batch to ``dispatch``.

Pacing, all of it here:

- The flusher takes at most :data:`~aioanalytics._config.YIELD_EVERY` entries per step, then
  lets other tasks run.
- While a batch is open and the intake is empty, it naps until the batch is due; producers
  wake it once :data:`~aioanalytics._config.WAKE_EVERY` entries wait (fewer when that many
  would fill the batch by count), or at once for a marker. Under load that is one wake-up per
  slice, not one per message.
- When the intake is drained, it makes the next calls' message ids (``top_up_ids``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from ._config import SLICE_MESSAGES, WAKE_EVERY, YIELD_EVERY
from ._delivery import Batch, Delivery, Item, Outcomes, Positions
from ._exceptions import ClientClosedError
from ._wire import top_up_ids

if TYPE_CHECKING:
    from ._sender import Lane

__all__ = ["CLOSE", "Close", "Entry", "Flush", "Flusher", "Intake"]


class Flush:
    """A marker: everything queued before it must be finished."""

    __slots__ = ("done",)

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done

    def finish(self, _: object = None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class Close:
    """The marker ``aclose()`` queues: flush everything, then stop."""


CLOSE = Close()
_MARKERS = (Flush, Close)

#: An entry: a message for Segment alone (its bytes), records replayed for Segment alone, a
#: routed message's items, a marker.
Entry: TypeAlias = "bytes | tuple[bytes, ...] | list[tuple[Lane, Item]] | Flush | Close"


class Intake:
    """A bounded FIFO with one consumer (the flusher) that naps between slices.

    Messages for Segment alone are admitted with :meth:`admit`, which records their place in
    the current :class:`Outcomes` slice; :meth:`take_positions` finds those places again, in
    the same order, when their batch closes.
    """

    __slots__ = (
        "_entries",
        "_getter",
        "_nap",
        "_putters",
        "_slice",
        "_slices",
        "_spooled",
        "_start",
        "limit",
        "wake_at",
    )

    def __init__(self, limit: int, *, spooled: bool = False) -> None:
        self._entries: deque[Any] = deque()
        self.limit = limit
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._nap: asyncio.Future[None] | None = None
        #: While napping, wake once this many entries wait.
        self.wake_at = 1
        # The slices of queued-or-batching messages for Segment alone, oldest first, and the
        # first index of the oldest not yet taken by a batch.
        # With a spool, the slices keep each message's sequence number on it.
        self._spooled = spooled
        self._slice = Outcomes(spooled=spooled)
        self._slices: deque[Outcomes] = deque([self._slice])
        self._start = 0

    def qsize(self) -> int:
        return len(self._entries)

    def full(self) -> bool:
        return len(self._entries) >= self.limit

    def saturated(self) -> bool:
        """Whether the intake is half full: senders then take big steps to keep up."""
        return len(self._entries) * 2 >= self.limit

    # -- producers ---------------------------------------------------------------------------

    def admit(self, message_id: str, data: bytes, spool_id: int = -1) -> Delivery | None:
        """Queue a message for Segment alone (``spool_id``: its sequence number on the
        spool); its Delivery, or ``None`` when full."""
        entries = self._entries
        if len(entries) >= self.limit:
            return None
        entries.append(data)
        outcomes = self._slice
        states = outcomes.states
        states.append(0)
        if self._spooled:
            outcomes.spool_ids.append(spool_id)  # type: ignore[union-attr]
        if len(states) >= SLICE_MESSAGES:
            self._next_slice()
        if self._getter is not None or (self._nap is not None and len(entries) >= self.wake_at):
            self._wake(len(entries), False)
        return Delivery(message_id, outcomes, len(states) - 1)

    def admit_replayed(self, records: Sequence[tuple[bytes, int]]) -> bool:
        """Queue records replayed from the spool for Segment alone, ``(data, spool_id)`` in
        their order, as one entry (nobody awaits them); ``False`` when full."""
        entries = self._entries
        if len(entries) >= self.limit:
            return False
        for _, spool_id in records:
            self._slice.add(spool_id)
            if self._slice.full:
                self._next_slice()
        entries.append(tuple(data for data, _ in records))
        self._wake(len(entries), False)
        return True

    def _next_slice(self) -> None:
        self._slice = Outcomes(spooled=self._spooled)
        self._slices.append(self._slice)

    def put_nowait(self, entry: Entry) -> bool:
        """Queue a routed message or a marker (markers always fit); ``False`` when full."""
        entries = self._entries
        marker = isinstance(entry, _MARKERS)
        if not marker and len(entries) >= self.limit:
            return False
        entries.append(entry)
        self._wake(len(entries), marker)
        return True

    async def wait_for_room(self, closing: asyncio.Future[None] | None = None) -> bool:
        """Wait until an entry fits; ``False`` if ``closing`` resolved first."""
        loop = asyncio.get_running_loop()
        while len(self._entries) >= self.limit:
            if closing is not None and closing.done():
                return False
            putter = loop.create_future()
            self._putters.append(putter)
            waiting: tuple[asyncio.Future[None], ...] = (
                (putter,) if closing is None else (putter, closing)
            )
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                self._pass_on(putter)
                raise
            if not putter.done():
                self._pass_on(putter)
        return True

    def _pass_on(self, putter: asyncio.Future[None]) -> None:
        # A putter leaving without its room: hand a wake-up it received to the next one.
        if putter.done() and not putter.cancelled():
            self._wake_putter()
        else:
            putter.cancel()
            try:
                self._putters.remove(putter)
            except ValueError:
                pass

    def _wake(self, size: int, marker: bool) -> None:
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)
        nap = self._nap
        if nap is not None and (marker or size >= self.wake_at):
            self._nap = None
            if not nap.done():
                nap.set_result(None)

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    # -- the consumer --------------------------------------------------------------------------

    def take(self) -> Any:
        """The next entry, or ``None`` when the intake is empty."""
        entries = self._entries
        if not entries:
            return None
        entry = entries.popleft()
        if self._putters:
            self._wake_putter()
        return entry

    async def get(self) -> Any:
        """The next entry, waiting for one."""
        while not self._entries:
            getter = self._getter = asyncio.get_running_loop().create_future()
            try:
                await getter
            finally:
                self._getter = None
        return self.take()

    async def nap_until(self, deadline: float, *, wake_at: int) -> None:
        """Sleep until ``deadline`` (loop time), or until ``wake_at`` entries wait or a marker
        arrives."""
        self.wake_at = max(1, min(wake_at, self.limit))
        loop = asyncio.get_running_loop()
        nap = self._nap = loop.create_future()
        timer = loop.call_at(deadline, _wake, nap)
        try:
            await nap
        finally:
            timer.cancel()
            self._nap = None

    def fail_all(self, fail: Callable[[Batch, Exception], None], error: Exception) -> None:
        """Take every entry left and fail it with ``error`` (see :meth:`fail_entry`)."""
        while (entry := self.take()) is not None:
            self.fail_entry(entry, fail, error)

    def fail_entry(
        self, entry: Entry, fail: Callable[[Batch, Exception], None], error: Exception
    ) -> None:
        """Settle an entry that will never be batched: ``fail(batch, error)`` for its
        messages; a flush marker is finished. A message for Segment alone must be the next
        one queued (its place is found by position)."""
        if type(entry) is bytes:
            fail(Batch([entry], self.take_positions(1)), error)
        elif type(entry) is tuple:
            fail(Batch(list(entry), self.take_positions(len(entry))), error)
        elif isinstance(entry, Flush):
            entry.finish()
        elif isinstance(entry, list):
            fail(Batch.of_items([item for _, item in entry]), error)

    def take_positions(self, count: int) -> Positions:
        """The places of the next ``count`` messages for Segment alone, in queue order."""
        runs: list[list[Any]] = []
        slices, start = self._slices, self._start
        while count:
            outcomes = slices[0]
            end = min(len(outcomes.states), start + count)
            assert end > start, "positions taken past the messages admitted"
            runs.append([outcomes, start, end])
            count -= end - start
            start = end
            if start >= SLICE_MESSAGES:
                slices.popleft()
                start = 0
        self._start = start
        return Positions(runs)


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)


class Flusher:
    """Drains the intake into the lanes' batchers and dispatches the closed batches.

    ``dispatch(lane, batch)`` takes a batch (it may wait: backpressure); ``after_sending(fn)``
    calls ``fn`` once every batch dispatched so far is finished (a flush); ``fail(batch,
    error)`` settles a batch that will never be sent.
    """

    def __init__(
        self,
        intake: Intake,
        lanes: Sequence[Lane],
        *,
        dispatch: Callable[[Lane, Batch], Awaitable[None]],
        after_sending: Callable[[Callable[[object], None]], None],
        fail: Callable[[Batch, Exception], None],
        segment: Lane | None = None,
    ) -> None:
        self.intake = intake
        self.lanes = list(lanes)
        #: The lane of messages for Segment alone (entries that are bytes), if any.
        self.segment = segment
        self._dispatch = dispatch
        self._after_sending = after_sending
        self._fail = fail
        #: Messages failed because the flusher was cancelled (in open or closed batches).
        self.cut_short = 0

    def _close(self, lane: Lane, records: list[Any]) -> Batch:
        if lane is self.segment:
            return Batch(records, self.intake.take_positions(len(records)))
        return Batch.of_items(records)

    async def run(self) -> None:
        """Serve until the close marker, then flush everything and return."""
        intake, lanes, close = self.intake, self.lanes, self._close
        loop = asyncio.get_running_loop()
        segment = self.segment
        add_to_segment = segment.batcher.add if segment is not None else None
        ready: list[tuple[Lane, Batch]] = []
        try:
            while True:
                entry = intake.take()
                if entry is None:
                    top_up_ids()  # drained: make the next calls' ids now
                    entry = await self._idle(loop)
                    if entry is None:
                        continue
                # Drain a slice (at most YIELD_EVERY entries), then let other tasks run.
                now = loop.time()
                for taken in range(1, YIELD_EVERY + 1):
                    kind = type(entry)
                    if kind is bytes:
                        assert add_to_segment is not None and segment is not None
                        closed = add_to_segment(entry, len(entry), now=now)
                        if closed:
                            ready.extend((segment, close(segment, b)) for b in closed)
                    elif kind is tuple:  # replayed for Segment alone
                        assert add_to_segment is not None and segment is not None
                        for data in entry:
                            closed = add_to_segment(data, len(data), now=now)
                            if closed:
                                ready.extend((segment, close(segment, b)) for b in closed)
                    elif kind is list:
                        for lane, item in entry:
                            closed = lane.batcher.add(item, len(item.data), now=now)
                            if closed:
                                ready.extend((lane, close(lane, b)) for b in closed)
                    elif kind is Flush:
                        await self._flush_all()
                        self._after_sending(entry.finish)
                    else:  # CLOSE
                        await self._flush_all()
                        return
                    if ready:
                        while ready:  # each one dispatched leaves the list (see below)
                            lane, batch = ready.pop(0)
                            await self._dispatch(lane, batch)
                        now = loop.time()
                    if taken == YIELD_EVERY:
                        await asyncio.sleep(0)  # a full intake is drained in slices
                        break
                    entry = intake.take()
                    if entry is None:
                        break
        except asyncio.CancelledError:
            closed_error = ClientClosedError("the client closed before sending")
            batches = [batch for _, batch in ready]
            batches += [close(lane, b) for lane in lanes for b in lane.batcher.drain()]
            for batch in batches:
                self.cut_short += len(batch)
                self._fail(batch, closed_error)
            raise

    async def _idle(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Wait for work: an entry, or ``None`` after dispatching the batches that fell due."""
        lanes = self.lanes
        deadline = min(
            (lane.batcher.deadline for lane in lanes if lane.batcher.deadline is not None),
            default=None,
        )
        if deadline is None:
            return await self.intake.get()
        if deadline > loop.time():
            room = min(
                lane.batcher.limits.max_items - len(lane.batcher)
                for lane in lanes
                if len(lane.batcher)
            )
            await self.intake.nap_until(deadline, wake_at=min(room, WAKE_EVERY))
        now = loop.time()
        for lane in lanes:
            for records in lane.batcher.poll(now=now):
                await self._dispatch(lane, self._close(lane, records))
        return None

    async def _flush_all(self) -> None:
        for lane in self.lanes:
            for records in lane.batcher.drain():
                await self._dispatch(lane, self._close(lane, records))

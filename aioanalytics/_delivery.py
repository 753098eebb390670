"""Delivery handles, their outcomes, the counters, and settlement.

Theory of operation. A message's fate is written in one of two places:

- :class:`Outcomes`, a slice of up to :data:`~aioanalytics._config.SLICE_MESSAGES` messages
  sent to Segment alone (the common case): one byte of state per message in a shared
  ``bytearray``, failures and waiters in dicts made only when needed. The queue then holds
  nothing but each message's bytes, and the :class:`Delivery` handed back points at
  (slice, index): queued messages add no objects for the garbage collector to scan.
  With a spool, each message's sequence number on it sits in a parallel ``array``.
- :class:`Routed`, one per message otherwise (plugins, several destinations): an outcome
  per destination.

Batches carry :class:`Positions` (runs of consecutive slice indexes) or :class:`Items`
(one sink per record) as their sinks; :class:`Settlement` settles either, counts, acks the
spool, calls ``on_error`` and logs. Settling is idempotent: a message already settled is
neither settled nor counted again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ._batching import split
from ._config import SETTLE_EVERY, SLICE_MESSAGES
from ._exceptions import ClientClosedError

if TYPE_CHECKING:
    from ._spooler import Spooler

__all__ = [
    "DELIVERED",
    "Delivery",
    "DeliveryResult",
    "ErrorHook",
    "Items",
    "Outcomes",
    "Positions",
    "Routed",
    "Settlement",
    "Stats",
]

logger = logging.getLogger("aioanalytics")

#: Called once per failed group of messages with the error and the records as sent.
ErrorHook: TypeAlias = Callable[[Exception, list[dict[str, Any]]], object]

DELIVERED = "delivered"
_PENDING, _DELIVERED, _FAILED = 0, 1, 2


@dataclass(slots=True)
class Stats:
    """Live counters, since the client was created.

    ``enqueued``: accepted by a call; ``delivered``/``failed``: terminal outcomes per message
    and destination; ``dropped``: refused because the queue was full, or dropped by a plugin;
    ``rejected``: refused at the call (invalid or too large); ``retried``: HTTP attempts that
    were retries; ``batches``: requests sent (each attempt); ``bytes_sent``: request bytes on
    the wire (after gzip); ``replayed``: records read back from the spool when the client
    opened; ``spool_damaged``: damaged regions found in the spool (logged as warnings);
    ``plan_violations``: messages that broke the ``tracking_plan`` (whatever ``on_violation``
    then did with them);
    ``spool_errors``: calls refused with :class:`SpoolError` because the spool could not be
    written (a full disk: the message was not accepted).
    """

    enqueued: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    rejected: int = 0
    retried: int = 0
    batches: int = 0
    bytes_sent: int = 0
    replayed: int = 0
    spool_damaged: int = 0
    plan_violations: int = 0
    spool_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for logging or metrics export)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivered message ended, per destination: ``"delivered"``, ``"dropped"`` (by a
    plugin) or ``"skipped"`` (``send=False``, or no destination selected)."""

    message_id: str
    destinations: Mapping[str, str]


class _Fate(Protocol):
    """Where a Delivery's outcome is kept: an :class:`Outcomes` slice or a :class:`Routed`."""

    def done(self, index: int) -> bool: ...
    def error(self, index: int) -> BaseException | None: ...
    def waiter(self, index: int) -> asyncio.Future[None]: ...
    def result(self, message_id: str, index: int) -> DeliveryResult: ...


class Delivery:
    """The handle a call returns. ``await delivery`` waits until every selected destination
    accepted the message and returns a :class:`DeliveryResult`, or raises
    :class:`~aioanalytics.DeliveryError` (or ``ClientClosedError`` when the client closed first).

    A Delivery nobody awaits stays quiet: a failure still reaches the log and ``on_error``.
    Cancelling a task that awaits it does not cancel the delivery.
    """

    __slots__ = ("_fate", "_index", "message_id")

    def __init__(self, message_id: str, fate: _Fate, index: int = 0) -> None:
        self.message_id = message_id
        self._fate = fate
        self._index = index

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<Delivery {self.message_id} {state}>"

    def done(self) -> bool:
        """Whether every destination reached a terminal state."""
        return self._fate.done(self._index)

    def exception(self) -> BaseException | None:
        """The first failure, once done (``None`` if delivered)."""
        return self._fate.error(self._index)

    def __await__(self) -> Generator[Any, None, DeliveryResult]:
        return self._wait().__await__()

    async def _wait(self) -> DeliveryResult:
        fate, index = self._fate, self._index
        if not fate.done(index):
            await asyncio.shield(fate.waiter(index))
        if (error := fate.error(index)) is not None:
            raise error
        return fate.result(self.message_id, index)


class Outcomes:
    """The fate of a slice of messages sent to Segment alone, one byte each."""

    __slots__ = ("_errors", "_waiters", "spool_ids", "states")

    def __init__(self, *, spooled: bool = False) -> None:
        #: One byte per message, in queue order: pending, delivered or failed.
        self.states = bytearray()
        #: With a spool: each message's sequence number on it, in the same order.
        self.spool_ids: array[int] | None = array("q") if spooled else None
        self._errors: dict[int, BaseException] | None = None
        self._waiters: dict[int, asyncio.Future[None]] | None = None

    def add(self, spool_id: int = -1) -> int:
        """A message joins the slice (with its spool sequence number, if spooled): its index."""
        states = self.states
        states.append(_PENDING)
        if self.spool_ids is not None:
            self.spool_ids.append(spool_id)
        return len(states) - 1

    @property
    def full(self) -> bool:
        """Whether the slice took its last message."""
        return len(self.states) >= SLICE_MESSAGES

    def done(self, index: int) -> bool:
        return self.states[index] != _PENDING

    def error(self, index: int) -> BaseException | None:
        if self.states[index] != _FAILED or self._errors is None:
            return None
        return self._errors[index]

    def waiter(self, index: int) -> asyncio.Future[None]:
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = {}
        waiter = waiters.get(index)
        if waiter is None:
            waiter = waiters[index] = asyncio.get_running_loop().create_future()
        return waiter

    def result(self, message_id: str, index: int) -> DeliveryResult:
        return DeliveryResult(message_id, {"Segment": DELIVERED})

    def settle(self, start: int, stop: int, outcome: str | BaseException) -> int:
        """Settle messages ``start`` to ``stop - 1``; return how many were still pending."""
        states = self.states
        pending = states.count(_PENDING, start, stop)
        if not pending:
            return 0
        failed = isinstance(outcome, BaseException)
        code = _FAILED if failed else _DELIVERED
        if pending == stop - start and not failed:
            states[start:stop] = _RUNS[code][: stop - start]
        else:
            errors = self._errors
            if failed and errors is None:
                errors = self._errors = {}
            for index in range(start, stop):
                if states[index] == _PENDING:
                    states[index] = code
                    if errors is not None and failed:
                        errors[index] = outcome  # type: ignore[assignment]
        waiters = self._waiters
        if waiters:
            for index in [i for i in waiters if start <= i < stop]:
                waiter = waiters.pop(index)
                if not waiter.done():
                    waiter.set_result(None)
        return pending


_RUNS = {code: bytes([code]) * SLICE_MESSAGES for code in (_DELIVERED, _FAILED)}


class Routed:
    """The fate of one message routed by destination: an outcome per destination."""

    __slots__ = ("_waiter", "left", "outcomes")

    def __init__(self, outcomes: dict[str, str | BaseException] | None = None) -> None:
        #: Filled in as destinations settle; ``left`` counts those still open.
        self.outcomes: dict[str, str | BaseException] = {} if outcomes is None else outcomes
        self.left = 0
        self._waiter: asyncio.Future[None] | None = None

    def done(self, index: int = 0) -> bool:
        return not self.left

    def error(self, index: int = 0) -> BaseException | None:
        if self.left:
            return None
        for outcome in self.outcomes.values():
            if isinstance(outcome, BaseException):
                return outcome
        return None

    def waiter(self, index: int = 0) -> asyncio.Future[None]:
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter

    def result(self, message_id: str, index: int = 0) -> DeliveryResult:
        return DeliveryResult(message_id, dict(self.outcomes))  # type: ignore[arg-type]

    def settle_destination(self, name: str, outcome: str | BaseException) -> bool:
        """Settle one destination; ``False`` if it already was."""
        if name in self.outcomes:
            return False
        self.outcomes[name] = outcome
        self.left -= 1
        if not self.left and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return True


class Slot:
    """One destination's part of a routed message."""

    __slots__ = ("fate", "name")

    def __init__(self, fate: Routed, name: str) -> None:
        self.fate = fate
        self.name = name

    def settle(self, outcome: str | BaseException) -> bool:
        return self.fate.settle_destination(self.name, outcome)


class Countdown:
    """Settles a destination once all of a message's records for it succeeded (or at the
    first failure)."""

    __slots__ = ("remaining", "sink")

    def __init__(self, sink: Slot, remaining: int) -> None:
        self.sink = sink
        self.remaining = remaining

    def settle(self, outcome: str | BaseException) -> bool:
        if not isinstance(outcome, BaseException):
            self.remaining -= 1
            if self.remaining:
                return False
        return self.sink.settle(outcome)


class Replayed:
    """The sink of a record replayed from the spool (nobody holds a handle to it)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def settle(self, outcome: str | BaseException) -> bool:
        if self.done:
            return False
        self.done = True
        return True


Sink: TypeAlias = "Slot | Countdown | Replayed"


class Item:
    """One record on its way, with what to settle when its fate is known."""

    __slots__ = ("data", "sink", "spool_id")

    def __init__(self, data: bytes, sink: Sink, spool_id: int = -1) -> None:
        self.data = data
        self.sink = sink
        #: Its sequence number in the spool, or -1.
        self.spool_id = spool_id


# -- what batches carry to settle ----------------------------------------------------------


class Positions:
    """Runs of consecutive (slice, index) positions: the sinks of records sent to Segment
    alone, in queue order. The intake adds one position per message; a batch takes its
    count off the front when it closes."""

    __slots__ = ("_runs",)

    def __init__(self, runs: Iterable[list[Any]] = ()) -> None:
        #: ``[outcomes, start, stop]`` lists.
        self._runs: deque[list[Any]] = deque(runs)

    def __len__(self) -> int:
        return sum(stop - start for _, start, stop in self._runs)

    def add(self, outcomes: Outcomes, index: int) -> None:
        runs = self._runs
        if runs:
            last = runs[-1]
            if last[0] is outcomes and last[2] == index:
                last[2] = index + 1
                return
        runs.append([outcomes, index, index + 1])

    def take(self, count: int) -> Positions:
        """The first ``count`` positions, removed from here."""
        runs = self._runs
        taken: list[list[Any]] = []
        while count:
            run = runs[0]
            outcomes, start, stop = run
            if stop - start <= count:
                runs.popleft()
                taken.append(run)
                count -= stop - start
            else:
                taken.append([outcomes, start, start + count])
                run[1] = start + count
                count = 0
        return Positions(taken)

    def split(self, count: int) -> tuple[Positions, Positions]:
        rest = Positions([list(run) for run in self._runs])
        return rest.take(count), rest

    def settle(self, outcome: str | BaseException) -> int:
        return sum(outcomes.settle(start, stop, outcome) for outcomes, start, stop in self._runs)

    def spool_ids(self) -> list[int]:
        ids: list[int] = []
        for outcomes, start, stop in self._runs:
            if outcomes.spool_ids is not None:
                ids += outcomes.spool_ids[start:stop]
        return ids


class Items:
    """The sinks of records sent otherwise: one :class:`Item` per record."""

    __slots__ = ("items",)

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def split(self, count: int) -> tuple[Items, Items]:
        return Items(self.items[:count]), Items(self.items[count:])

    def settle(self, outcome: str | BaseException) -> int:
        return sum(1 for item in self.items if item.sink.settle(outcome))

    def spool_ids(self) -> list[int]:
        return [item.spool_id for item in self.items if item.spool_id >= 0]


Sinks: TypeAlias = "Positions | Items"


class Batch:
    """A batch on its way to one endpoint: the records (bytes, in order) and their sinks."""

    __slots__ = ("records", "sinks")

    def __init__(self, records: list[bytes], sinks: Sinks) -> None:
        self.records = records
        self.sinks = sinks

    def __len__(self) -> int:
        return len(self.records)

    @classmethod
    def of_items(cls, items: list[Item]) -> Batch:
        return cls([item.data for item in items], Items(items))

    def split(self) -> tuple[Batch, Batch]:
        """Halve the batch (413 and 400 handling) as :func:`~aioanalytics._batching.split`
        does, the sinks alongside."""
        head, tail = split(self.records)
        first, second = self.sinks.split(len(head))
        return Batch(head, first), Batch(tail, second)


# -- settlement ----------------------------------------------------------------------------


class Settlement:
    """Settles batches: delivered or failed, counted, the spool acknowledged, ``on_error``
    called and failures logged. The one place outcomes are written."""

    __slots__ = ("on_error", "spool", "stats")

    def __init__(self, stats: Stats, on_error: ErrorHook | None, spool: Spooler | None) -> None:
        self.stats = stats
        self.on_error = on_error
        self.spool = spool

    async def succeed(self, batch: Batch, *, step: int = SETTLE_EVERY) -> None:
        """Settle an accepted batch. Routed records go ``step`` at a time with other tasks let
        in between; the spool's writer is woken once, at the end (each wake-up is a write)."""
        sinks, spool, stats = batch.sinks, self.spool, self.stats
        if isinstance(sinks, Positions):
            stats.delivered += sinks.settle(DELIVERED)
            if spool is not None:
                spool.ack(sinks.spool_ids())
            return
        items = sinks.items
        try:
            for start in range(0, len(items), step):
                if len(items) > step:
                    await asyncio.sleep(0)
                part = Items(items[start : start + step])
                stats.delivered += part.settle(DELIVERED)
                if spool is not None:
                    spool.ack(part.spool_ids(), wake=False)
        finally:
            if spool is not None:
                spool.ack((), wake=True)

    def fail(self, batch: Batch, error: Exception) -> None:
        """Settle a batch as failed: counted, logged, passed to ``on_error`` (once)."""
        if self.spool is not None and not isinstance(error, ClientClosedError):
            # A final failure leaves the spool (a rejected message would come back forever);
            # one cut short by shutdown stays, for the next start.
            self.spool.ack(batch.sinks.spool_ids())
        failed = batch.sinks.settle(error)
        if not failed:
            return
        self.stats.failed += failed
        logger.error("%d message(s) failed: %s", failed, error)
        if self.on_error is not None:
            try:
                self.on_error(error, [json.loads(record) for record in batch.records])
            except Exception:
                logger.exception("the on_error hook raised")

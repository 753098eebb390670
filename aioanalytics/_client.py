"""``Analytics``: the client. Queue, flusher and sender tasks, delivery handles, lifecycle.

One message's path::

    track(...) -> wire dict (validated) -> plugins -> per destination: records (bytes)
               -> asyncio.Queue -> flusher: Batcher per endpoint -> sender task per batch
               -> gzip (a slice of records per step) -> transport -> RetryPolicy
               -> deliveries settled, stats counted, on_error called, logged
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import inspect
import json
import logging
import os
import random
import warnings
import weakref
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self, TypeAlias
from urllib.parse import urlsplit

import anyio
import httpx
import pydantic_core

from ._batching import Batcher, split
from ._config import MAX_BATCH_BYTES, MAX_BATCH_ITEMS, SEGMENT_BATCH_BYTES, BatchLimits, seconds
from ._exceptions import (
    ClientClosedError,
    ConfigError,
    DeliveryError,
    EventLoopError,
    MessageTooLargeError,
    QueueFull,
    TransportError,
)
from ._models import (
    DEFAULT_CONTEXT_WIRE,
    Alias,
    Group,
    Identify,
    Message,
    Page,
    Screen,
    Track,
    _clean,
    _ids,
    build_wire,
    format_timestamp,
    new_message_id,
    now_timestamp,
    top_up_ids,
    wire_dict,
)
from ._retry import DEFAULT_MAX_RETRY_DURATION, Decision, RetryPolicy, retry_after
from ._spool import Recovery
from ._spooler import DEFAULT_MAX_BYTES, MIN_MAX_BYTES, Durability, Spooler
from ._transports.base import AsyncTransport, Response
from ._transports.http import HTTPTransport
from .destinations._base import Destination, Endpoint
from .destinations._http import is_loopback
from .destinations.segment import DEFAULT_HOST, Segment

__all__ = ["Analytics", "Delivery", "DeliveryResult", "Plugin", "Stats"]

logger = logging.getLogger("aioanalytics")

#: An enrichment plugin: gets the wire dict, returns it (modified or not) or ``None`` to drop.
Plugin: TypeAlias = Callable[
    [dict[str, Any]], dict[str, Any] | None | Awaitable[dict[str, Any] | None]
]
#: Called once per failed group of messages with the error and the records as sent.
ErrorHook: TypeAlias = Callable[[Exception, list[dict[str, Any]]], object]

#: Records compressed per step of a large batch (about 15 KB of JSON: ~0.05 ms at level 1).
_GZIP_RECORDS = 50
_GZIP_LEVEL = 1  # about 8x smaller than raw for analytics JSON, at ~0.8 us of CPU per event
_DELIVERED = "delivered"
#: The flusher lets other tasks run after this many queue entries (about 0.03 ms of work).
_YIELD_EVERY = 64
#: While a batch is open, the flusher is woken once this many messages wait, or fewer when
#: that many would fill the batch by count.
_WAKE_EVERY = 256
#: A sender settles the messages of an accepted batch this many at a time (about 0.03 ms).
_SETTLE_EVERY = 128


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class Stats:
    """Live counters, since the client was created.

    ``enqueued``: accepted by a call; ``delivered``/``failed``: terminal outcomes per message
    and destination; ``dropped``: refused because the queue was full, or dropped by a plugin;
    ``rejected``: refused at the call (invalid or too large); ``retried``: HTTP attempts that
    were retries; ``batches``: requests sent (each attempt); ``bytes_sent``: request bytes on
    the wire (after gzip); ``replayed``: records read back from the spool when the client
    opened; ``spool_damaged``: damaged regions found in the spool (logged as warnings).
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

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for logging or metrics export)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivered message ended, per destination: ``"delivered"``, ``"dropped"`` (by a
    plugin) or ``"skipped"`` (``send=False``, or no destination selected)."""

    message_id: str
    destinations: Mapping[str, str]


class Delivery:
    """The handle a call returns. ``await delivery`` waits until every selected destination
    accepted the message and returns a :class:`DeliveryResult`, or raises
    :class:`~aioanalytics.DeliveryError` (or ``ClientClosedError`` when the client closed first).

    A Delivery nobody awaits stays quiet: a failure still reaches the log and ``on_error``.
    Cancelling a task that awaits it does not cancel the delivery.
    """

    # One object per message on the common path (one destination, Segment): the handle, the
    # queued record (``_data``) and what the sender settles, all at once. An asyncio future is
    # made only when somebody awaits a delivery that is still pending.
    __slots__ = ("_data", "_left", "_outcome", "_outcomes", "_waiter", "message_id")

    def __init__(
        self,
        message_id: str,
        data: bytes = b"",
        outcomes: dict[str, str | BaseException] | None = None,
        left: int = 1,
    ) -> None:
        self.message_id = message_id
        self._data = data
        #: The outcome when the message goes to Segment alone (``_outcomes`` is ``None``).
        self._outcome: str | BaseException | None = None
        #: Outcomes by destination otherwise; ``_left`` counts the destinations still open.
        self._outcomes = outcomes
        self._left = left
        self._waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        state = "pending" if self._left else "done"
        return f"<Delivery {self.message_id} {state}>"

    def done(self) -> bool:
        """Whether every destination reached a terminal state."""
        return not self._left

    def exception(self) -> BaseException | None:
        """The first failure, once done (``None`` if delivered)."""
        for outcome in self._all():
            if isinstance(outcome, BaseException):
                return outcome
        return None

    def __await__(self) -> Generator[Any, None, DeliveryResult]:
        return self._wait().__await__()

    async def _wait(self) -> DeliveryResult:
        if self._left:
            waiter = self._waiter
            if waiter is None:
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(waiter)
        if (error := self.exception()) is not None:
            raise error
        if self._outcomes is None:
            return DeliveryResult(self.message_id, {"Segment": self._outcome})  # type: ignore[dict-item]
        return DeliveryResult(self.message_id, dict(self._outcomes))  # type: ignore[arg-type]

    def _all(self) -> Iterable[str | BaseException | None]:
        return (self._outcome,) if self._outcomes is None else self._outcomes.values()

    def _settle(self, outcome: str | BaseException) -> bool:
        """Settle the message (sent to Segment alone); ``False`` if it already was."""
        if not self._left:
            return False
        self._outcome = outcome
        self._left = 0
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Slot:
    """One destination's part of a message sent to several."""

    __slots__ = ("delivery", "name")

    def __init__(self, delivery: Delivery, name: str) -> None:
        self.delivery = delivery
        self.name = name

    def _settle(self, outcome: str | BaseException) -> bool:
        delivery = self.delivery
        outcomes = delivery._outcomes
        assert outcomes is not None
        if self.name in outcomes:
            return False
        outcomes[self.name] = outcome
        delivery._left -= 1
        if not delivery._left:
            delivery._wake()
        return True


class _Countdown:
    """Settles a destination once all of a message's records for it succeeded (or at the
    first failure)."""

    __slots__ = ("remaining", "sink")

    def __init__(self, sink: _Slot, remaining: int) -> None:
        self.sink = sink
        self.remaining = remaining

    def _settle(self, outcome: str | BaseException) -> bool:
        if not isinstance(outcome, BaseException):
            self.remaining -= 1
            if self.remaining:
                return False
        return self.sink._settle(outcome)


class _Replayed:
    """The sink of a record replayed from the spool (nobody holds a handle to it): settled
    once, like any other."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def _settle(self, outcome: str | BaseException) -> bool:
        if self.done:
            return False
        self.done = True
        return True


_Sink: TypeAlias = "Delivery | _Slot | _Countdown | _Replayed"


class _Item:
    """One record on its way to a destination other than Segment alone: its bytes and what
    to settle when its fate is known. (Records for Segment alone are their Delivery.)"""

    __slots__ = ("_data", "sink")

    def __init__(self, data: bytes, sink: _Sink) -> None:
        self._data = data
        self.sink = sink

    def _settle(self, outcome: str | BaseException) -> bool:
        return self.sink._settle(outcome)


class _SpooledItem(_Item):
    """A record also held in the spool, under ``spool_id``."""

    __slots__ = ("spool_id",)

    def __init__(self, data: bytes, sink: _Sink, spool_id: int) -> None:
        super().__init__(data, sink)
        self.spool_id = spool_id


#: What batches hold: records for Segment alone are their own Delivery.
_Record: TypeAlias = "Delivery | _Item"


class _Pool:
    """One destination's share of the sending: its own limits, so a destination that is
    failing (and backing off) never holds up another one's batches."""

    __slots__ = ("batches", "held", "max_batches", "records", "recovery", "room", "sending")

    def __init__(self, max_requests: int) -> None:
        #: Requests on the wire at once.
        self.sending = asyncio.Semaphore(max_requests)
        #: Batches held at once (sending or waiting to retry): bounds memory in an outage.
        self.max_batches = max_requests * 4
        self.held = asyncio.Semaphore(self.max_batches)
        #: Batches (and their records) handed to sender tasks: held, or waiting for a place.
        self.batches = 0
        self.records = 0
        self.room = asyncio.Event()
        #: Resolved when a request to the destination succeeds: the batches sleeping in
        #: backoff wake up and try again at once (made by the first one to sleep).
        self.recovery: asyncio.Future[None] | None = None

    async def backoff(self, delay: float, closing: asyncio.Future[None]) -> None:
        """Sleep ``delay`` seconds, or until the destination recovers or the client starts
        closing."""
        recovery = self.recovery
        if recovery is None:
            recovery = self.recovery = asyncio.get_running_loop().create_future()
        wakers = (recovery,) if closing.done() else (recovery, closing)
        await asyncio.wait(wakers, timeout=delay, return_when=asyncio.FIRST_COMPLETED)

    def recovered(self) -> None:
        """A request succeeded: wake the batches sleeping in backoff."""
        recovery = self.recovery
        if recovery is not None:
            self.recovery = None
            if not recovery.done():
                recovery.set_result(None)


@dataclass(slots=True)
class _Lane:
    """One endpoint of one destination: its batcher and how to send."""

    destination: str
    endpoint: Endpoint
    batcher: Batcher[_Record]
    gzip: bool
    pool: _Pool | None = None
    spool_key: bytes = b""


class _Intake(asyncio.Queue[Any]):
    """The client's queue: an ``asyncio.Queue`` that can also wake a napping flusher.

    While a batch is open and the queue is empty, the flusher naps until the batch is due
    (:meth:`nap_until`); a producer wakes it once ``wake_at`` entries wait, or at once for a
    flush or close marker. Under load that is one wake-up per slice, not one per message.
    """

    _queue: deque[Any]
    _getters: deque[asyncio.Future[None]]
    _putters: deque[asyncio.Future[None]]

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self._limit = maxsize
        self.wake_at = 1
        self._nap: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        """``asyncio.Queue.put_nowait`` without the ``join()`` bookkeeping (the client never
        joins its queue), and waking a napping flusher."""
        queue = self._queue
        if len(queue) >= self._limit:
            raise asyncio.QueueFull
        queue.append(item)
        if self._getters:
            self._wakeup_next(self._getters)  # type: ignore[attr-defined]
        nap = self._nap
        if nap is not None and (len(queue) >= self.wake_at or type(item) in _MARKERS):
            self._nap = None
            if not nap.done():
                nap.set_result(None)

    def take(self) -> Any:
        """The next entry, or ``None`` when the queue is empty (a lean ``get_nowait``)."""
        queue = self._queue
        if not queue:
            return None
        item = queue.popleft()
        if self._putters:
            self._wakeup_next(self._putters)  # type: ignore[attr-defined]
        return item

    async def nap_until(self, deadline: float, *, wake_at: int) -> None:
        """Sleep until ``deadline`` (loop time), or until ``wake_at`` entries wait (enough to
        close a batch by count, or a slice) or a marker arrives."""
        self.wake_at = max(1, min(wake_at, self._limit))
        loop = asyncio.get_running_loop()
        nap = self._nap = loop.create_future()
        timer = loop.call_at(deadline, _wake, nap)
        try:
            await nap
        finally:
            timer.cancel()
            self._nap = None


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)


class _Flush:
    """A marker in the queue: everything before it must be finished."""

    __slots__ = ("done",)

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done

    def finish(self, _: object = None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Close:
    """The marker ``aclose()`` queues: flush everything, then stop."""


_CLOSE = _Close()
_MARKERS = frozenset({_Flush, _Close})

#: A queue entry: a message for Segment alone, a message's records for other lanes, a marker.
_Entry: TypeAlias = "Delivery | list[tuple[_Lane, _Item]] | _Flush | _Close"

_live_clients: weakref.WeakSet[Analytics] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._forked = True
        client._fast = False


os.register_at_fork(after_in_child=_after_fork_in_child)


class Analytics:
    """The asyncio client for the Segment spec.

    Usage::

        async with Analytics("WRITE_KEY") as analytics:
            delivery = await analytics.track(user_id="u1", event="Signed Up")
            await delivery  # optional: wait until Segment accepted it

    Each call validates its arguments (raising ``pydantic.ValidationError`` naming the field),
    serializes the message once, queues it and returns a :class:`Delivery` without touching
    the network. Batches go out in the background by count (``flush_at``), size
    (``max_batch_bytes``) and time (``flush_interval``). All time options are seconds (a
    ``timedelta`` works too); sizes are bytes. See the README for every option and its default.

    With ``spool="path/"`` every message is written to an on-disk log before its Delivery is
    handed back, removed once the server accepted it (or finally rejected it), and sent again,
    in order and with its ``messageId``, by the next client opened on that directory.
    ``spool_durability="fsync"`` (the default) makes each call wait for the disk (concurrent
    calls share one sync); ``"interval"`` syncs every 0.2 s instead. ``spool_max_bytes`` bounds
    the log, full meaning what ``on_full`` says. See ``docs/reliability.md``.
    """

    def __init__(
        self,
        write_key: str | None = None,
        *,
        host: str = DEFAULT_HOST,
        flush_at: int = MAX_BATCH_ITEMS,
        flush_interval: float | timedelta = 0.5,
        max_batch_bytes: int = SEGMENT_BATCH_BYTES,
        max_queue_size: int = 10_000,
        on_full: Literal["block", "drop"] = "block",
        max_retries: int | None = None,
        max_retry_duration: float | timedelta = DEFAULT_MAX_RETRY_DURATION,
        backoff_initial: float | timedelta = 0.5,
        backoff_max: float | timedelta = 60.0,
        timeout: float | timedelta = 15.0,
        gzip: bool = True,
        max_concurrent_requests: int = 4,
        send: bool = True,
        debug: bool = False,
        on_error: ErrorHook | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: AsyncTransport | None = None,
        shutdown_timeout: float | timedelta = 30.0,
        destinations: Sequence[Destination] = (),
        plugins: Sequence[Plugin] = (),
        allow_insecure_http: bool = False,
        spool: str | os.PathLike[str] | None = None,
        spool_durability: Durability = "fsync",
        spool_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if write_key is not None and (not isinstance(write_key, str) or not write_key):
            raise ConfigError("write_key must be a non-empty string")
        if write_key is None and not destinations:
            raise ConfigError("write_key is required unless other destinations are given")
        if on_full not in ("block", "drop"):
            raise ConfigError(f"on_full must be 'block' or 'drop', got {on_full!r}")
        if max_queue_size < 1:
            raise ConfigError(f"max_queue_size must be at least 1, got {max_queue_size}")
        if max_concurrent_requests < 1:
            raise ConfigError("max_concurrent_requests must be at least 1")
        if not 0 < max_batch_bytes <= MAX_BATCH_BYTES:
            raise ConfigError(
                f"max_batch_bytes must be between 1 and {MAX_BATCH_BYTES}, got {max_batch_bytes}"
            )
        if not 0 < flush_at <= MAX_BATCH_ITEMS:
            raise ConfigError(f"flush_at must be between 1 and {MAX_BATCH_ITEMS}, got {flush_at}")
        if spool_durability not in ("fsync", "interval"):
            raise ConfigError(
                f"spool_durability must be 'fsync' or 'interval', got {spool_durability!r}"
            )
        if spool_max_bytes < MIN_MAX_BYTES:
            raise ConfigError(
                f"spool_max_bytes must be at least {MIN_MAX_BYTES}, got {spool_max_bytes}"
            )
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"host must be an http(s) URL, got {host!r}")
        if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
            raise ConfigError(
                "plain http:// is only allowed to loopback hosts; pass allow_insecure_http=True "
                "to send unencrypted traffic (and the write key) elsewhere"
            )
        self.host = host
        self._send = send
        self._debug = debug
        #: Whether track() may take its shortcut: open, Segment alone, sending, no spool.
        self._fast = False
        self.on_error = on_error
        self.on_full = on_full
        self.max_queue_size = max_queue_size
        self.shutdown_timeout = seconds(shutdown_timeout, "shutdown_timeout")
        self.max_concurrent_requests = max_concurrent_requests
        self.stats = Stats()
        self.retry = RetryPolicy(
            max_retries=max_retries,
            backoff_initial=seconds(backoff_initial, "backoff_initial"),
            backoff_max=seconds(backoff_max, "backoff_max"),
            max_retry_duration=seconds(max_retry_duration, "max_retry_duration"),
        )
        self.limits = BatchLimits(
            max_items=flush_at,
            max_bytes=max_batch_bytes,
            interval=seconds(flush_interval, "flush_interval"),
        )
        self._timeout = seconds(timeout, "timeout")
        self._http_client = http_client
        self._transport = transport
        self._plugins = tuple(plugins)
        self._destinations: list[Destination] = []
        if write_key is not None:
            self._destinations.append(
                Segment(write_key, host=host, limits=self.limits, retry=self.retry, gzip=gzip)
            )
        self._destinations.extend(destinations)
        names = [d.name for d in self._destinations]
        if len(set(names)) != len(names):
            raise ConfigError(f"destination names must be unique, got {names}")
        self._lanes: dict[tuple[str, str], _Lane] = {}
        for destination in self._destinations:
            for key, endpoint in destination.endpoints.items():
                self._lanes[(destination.name, key)] = _Lane(
                    destination.name,
                    endpoint,
                    Batcher(endpoint.limits, envelope_bytes=endpoint.envelope_bytes),
                    destination.gzip,
                )
        self._spool: Spooler | None = None
        if spool is not None:
            self._spool = Spooler(
                spool, durability=spool_durability, max_bytes=spool_max_bytes, on_full=on_full
            )
            for (name, key), lane in self._lanes.items():
                lane.spool_key = f"{name}/{key}".encode()
        # The common case, one Segment destination and no plugins, takes a shorter path.
        self._segment_lane: _Lane | None = None
        self._max_record = 0
        if names == ["Segment"] and not self._plugins:
            self._segment_lane = self._lanes[("Segment", "batch")]
            self._max_record = self._segment_lane.batcher.max_record
        self._bypass = {d.name: False for d in self._destinations if d.bypasses_segment}
        self._state = _State.UNOPENED
        self._forked = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue = _Intake(max_queue_size)
        self._flusher: asyncio.Task[None] | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Future[None] | None = None
        #: Calls past their checks but not yet queued (running async plugins, or waiting
        #: for the spool): aclose() lets them in before it queues the close marker.
        self._admitting = 0
        self._admitted = asyncio.Event()
        #: Set once the close marker is queued: a call that gets this far fails its message.
        self._intake_closed = False
        self._random = random.Random()
        if debug:
            logger.setLevel(logging.DEBUG)

    def __repr__(self) -> str:
        names = ", ".join(d.name for d in self._destinations)
        return f"<Analytics {self._state.value} host={self.host!r} destinations=[{names}]>"

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Start the background tasks on the running event loop (``async with`` does this)."""
        if self._state is not _State.UNOPENED:
            raise ClientClosedError(
                f"an Analytics client can be opened once; it is {self._state.value}"
            )
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise EventLoopError(
                "aioanalytics runs on asyncio; no asyncio loop is running"
            ) from None
        self._queue = _Intake(self.max_queue_size)
        self._closing = self._loop.create_future()
        recovery = None
        if self._spool is not None:  # first: a spool in use elsewhere fails open() cleanly
            recovery = await self._spool.open(self._closing)
        if self._transport is None:
            # Everything the first request needs is made now, at start-up, rather than in the
            # middle of traffic. (In a worker thread it would cost ~4 MB more RSS: the
            # thread's own malloc arena keeps what the TLS context's loading freed.)
            self._transport = _make_transport(
                self._http_client,
                self._timeout,
                # Each destination has max_concurrent_requests requests of its own: a
                # destination that hangs must not take the connections another one needs.
                self.max_concurrent_requests * len(self._destinations),
            )
        pools = {d.name: _Pool(self.max_concurrent_requests) for d in self._destinations}
        for lane in self._lanes.values():
            lane.pool = pools[lane.destination]
        self._flusher = self._loop.create_task(self._run_flusher(), name="aioanalytics-flusher")
        self._state = _State.OPEN
        self._refresh_fast()
        _live_clients.add(self)
        if recovery is not None:
            await self._replay(recovery)
        logger.debug("opened %r", self)

    async def _replay(self, recovery: Recovery) -> None:
        """Queue what the spool kept from an earlier run, in its order, ahead of new calls.

        The records are queued in chunks (so replay never waits for queue room); their memory
        is bounded by ``spool_max_bytes``, not ``max_queue_size``.
        """
        assert self._loop is not None and self._spool is not None
        self.stats.spool_damaged += len(recovery.damage)
        records = recovery.records
        if not records or not self._send:  # send=False sends nothing, old or new
            return
        lanes = {lane.spool_key: lane for lane in self._lanes.values()}
        size = max(512, -(-len(records) // max(1, self.max_queue_size // 2)))
        orphans: list[int] = []
        entry: list[tuple[_Lane, _Item]] = []
        for record in records:
            lane = lanes.get(record.key)
            if lane is None or not lane.batcher.fits(len(record.data)):
                orphans.append(record.seq)
                continue
            item = _SpooledItem(record.data, _Replayed(), record.seq)
            entry.append((lane, item))
            if len(entry) >= size:
                await self._queue.put(entry)
                entry = []
                await asyncio.sleep(0)  # a long backlog must not hold the event loop
        if entry:
            await self._queue.put(entry)
        self.stats.replayed += len(records) - len(orphans)
        logger.info("replaying %d record(s) from the spool", len(records) - len(orphans))
        if orphans:
            logger.warning(
                "%d spooled record(s) name destinations this client lacks; discarded",
                len(orphans),
            )
            self._spool.ack(orphans)

    async def aclose(self) -> None:
        """Stop intake, flush, wait up to ``shutdown_timeout`` for in-flight requests, then
        fail whatever is left with :class:`ClientClosedError`. Safe to call twice."""
        if self._state is _State.UNOPENED:
            self._state = _State.CLOSED
            return
        if self._state is not _State.OPEN:
            return
        self._check_loop()
        self._state = _State.CLOSING
        self._fast = False
        assert self._flusher is not None and self._closing is not None
        self._closing.set_result(None)
        flusher = self._flusher
        try:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self.shutdown_timeout):
                    while self._admitting:  # calls in a plugin or the spool: let them in
                        self._admitted.clear()
                        await self._admitted.wait()
                    self._intake_closed = True
                    await self._queue.put(_CLOSE)
                    await asyncio.wait({flusher})
                    if self._senders:
                        await asyncio.wait(set(self._senders))
                self._intake_closed = True
                left = len(self._senders) + (0 if flusher.done() else 1)
                if left:
                    logger.error(
                        "shutdown_timeout (%.1fs) expired with work in flight; failing it",
                        self.shutdown_timeout,
                    )
                for task in (flusher, *self._senders):
                    task.cancel()
                await asyncio.gather(flusher, *self._senders, return_exceptions=True)
                self._fail_queued()
                if self._transport is not None:
                    await self._transport.aclose()
                if self._spool is not None:  # what failed with ClientClosedError stays in it
                    await self._spool.aclose()
        finally:
            self._state = _State.CLOSED
            _live_clients.discard(self)
            logger.debug("closed %r: %s", self, self.stats)

    def __del__(self) -> None:
        # Garbage collected while open (a client nobody closed, or its loop closed without
        # cancelling its tasks): whatever was pending is lost, and must not be silently.
        if getattr(self, "_state", None) in (_State.OPEN, _State.CLOSING) and not self._forked:
            self._warn_unclosed("it was garbage collected", self._pending(), "lost")

    def _pending(self) -> str:
        queued = self._queue.qsize()
        batched = sum(len(lane.batcher) for lane in self._lanes.values())
        return (
            f"{queued} queued call(s), {batched} message(s) in open batches and "
            f"{len(self._senders)} batch(es) sending or waiting to retry"
        )

    def _warn_unclosed(self, how: str, pending: str, fate: str) -> None:
        text = (
            f"{self!r} was never closed and {how} with {pending}: they were {fate}. "
            "Use 'async with Analytics(...)' or 'await analytics.aclose()'"
        )
        logger.error("%s", text)
        warnings.warn(text, ResourceWarning, stacklevel=2, source=self)

    def _fail_queued(self) -> None:
        while True:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._fail_entry(entry)

    def _fail_entry(self, entry: _Entry) -> None:
        error = ClientClosedError("the client closed before this message was sent")
        if type(entry) is Delivery:
            self._fail([entry], error, destination=None)
        elif isinstance(entry, _Flush):
            entry.finish()
        elif isinstance(entry, list):
            self._fail([item for _, item in entry], error, destination=None)

    @property
    def send(self) -> bool:
        """Whether messages are sent at all (``False``: calls validate and resolve at once)."""
        return self._send

    @send.setter
    def send(self, value: bool) -> None:
        self._send = value
        self._refresh_fast()

    @property
    def debug(self) -> bool:
        """Whether every queued message is logged at DEBUG level."""
        return self._debug

    @debug.setter
    def debug(self, value: bool) -> None:
        self._debug = value
        self._refresh_fast()

    def _refresh_fast(self) -> None:
        self._fast = (
            self._state is _State.OPEN
            and not self._forked
            and self._segment_lane is not None
            and self._spool is None
            and self._send
            and not self._debug
        )

    def _check_loop(self) -> None:
        if self._forked:
            raise EventLoopError(
                "this Analytics client was created before os.fork(); create a new one in the "
                "child process (for example in the worker's startup hook)"
            )
        if asyncio.get_running_loop() is not self._loop:
            raise EventLoopError(
                "this Analytics client belongs to another event loop; create one per loop"
            )

    # -- the six calls ------------------------------------------------------------------

    async def identify(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Tie a user to their traits (``traits``: email, name, plan, ...)."""
        wire = build_wire(
            Identify,
            user_id,
            anonymous_id,
            context,
            timestamp,
            integrations,
            message_id,
            {"type": "identify", "traits": traits},
            ("traits",),
        )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def track(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        event: str,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Record that the user did ``event`` (e.g. ``"Order Completed"``) with ``properties``."""
        wire = None
        if (
            type(user_id) is str
            and user_id
            and anonymous_id is None
            and type(event) is str
            and event
            and (properties is None or type(properties) is dict)
            and context is None
            and timestamp is None
            and integrations is None
            and message_id is None
        ):
            # The most common call, built right here (build_wire makes the same dict).
            try:
                message_id = _ids.pop()
            except IndexError:
                message_id = new_message_id()
            wire = {
                "userId": user_id,
                "messageId": message_id,
                "timestamp": now_timestamp(),
                "context": DEFAULT_CONTEXT_WIRE,
                "type": "track",
                "event": event,
            }
            if properties is not None:
                try:
                    wire["properties"] = _clean(properties)
                except ValueError:
                    wire = None  # build_wire names what is wrong
            if wire is not None and self._fast and asyncio.get_running_loop() is self._loop:
                # ... and queued right here: _submit's common path, inlined.
                encoded = pydantic_core.to_json(wire)
                if len(encoded) <= self._max_record:
                    delivery = Delivery(message_id, encoded)
                    try:
                        self._queue.put_nowait(delivery)
                    except asyncio.QueueFull:
                        return await self._put_slow(delivery, delivery)
                    self.stats.enqueued += 1
                    return delivery
        if wire is None:
            wire = build_wire(
                Track,
                user_id,
                anonymous_id,
                context,
                timestamp,
                integrations,
                message_id,
                {"type": "track", "event": event, "properties": properties},
                ("properties",),
                ("event",),
            )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def page(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        name: str | None = None,
        category: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Record a web page view (``properties``: url, title, referrer, path, ...)."""
        wire = build_wire(
            Page,
            user_id,
            anonymous_id,
            context,
            timestamp,
            integrations,
            message_id,
            {"type": "page", "name": name, "category": category, "properties": properties},
            ("properties",),
        )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def screen(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        name: str | None = None,
        category: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Record a mobile screen view."""
        wire = build_wire(
            Screen,
            user_id,
            anonymous_id,
            context,
            timestamp,
            integrations,
            message_id,
            {"type": "screen", "name": name, "category": category, "properties": properties},
            ("properties",),
        )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def group(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Associate the user with a group (company, account, team) and its ``traits``."""
        wire = build_wire(
            Group,
            user_id,
            anonymous_id,
            context,
            timestamp,
            integrations,
            message_id,
            {"type": "group", "groupId": group_id, "traits": traits},
            ("traits",),
            ("groupId",),
        )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def alias(
        self,
        *,
        user_id: str,
        previous_id: str,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Delivery:
        """Declare that ``previous_id`` (an anonymous id or old user id) is ``user_id``."""
        wire = build_wire(
            Alias,
            user_id,
            anonymous_id,
            context,
            timestamp,
            integrations,
            message_id,
            {"type": "alias", "previousId": previous_id},
            (),
            ("previousId", "userId"),
        )
        result = self._submit(wire)
        if isinstance(result, Delivery):
            return result
        return await result

    async def enqueue(self, message: Message) -> Delivery:
        """Queue a prebuilt message model (``Track(...)``, ``parse_message(...)``)."""
        result = self._submit(wire_dict(message))
        if isinstance(result, Delivery):
            return result
        return await result

    # -- intake -------------------------------------------------------------------------

    def _submit(self, wire: dict[str, Any]) -> Delivery | Coroutine[Any, Any, Delivery]:
        """Queue one wire message: a ``Delivery`` at once, or a coroutine when the call has to
        wait (queue full, async plugins). The six calls return the first and await the second,
        which saves a coroutine per call on the common path."""
        if self._state is not _State.OPEN or self._forked:
            if self._state is _State.OPEN:
                self._check_loop()
            raise ClientClosedError(
                f"the client is {self._state.value}: use 'async with Analytics(...)' and call it "
                "inside the block"
            )
        loop = self._loop
        if asyncio.get_running_loop() is not loop:
            self._check_loop()
        if self._debug:
            logger.debug("queued %s", wire)
        lane = self._segment_lane
        if lane is None:
            return self._route(wire)
        encoded = pydantic_core.to_json(wire)
        if len(encoded) > self._max_record:
            self.stats.rejected += 1
            raise MessageTooLargeError(len(encoded), lane.endpoint.limits.max_message_bytes)
        delivery = Delivery(wire["messageId"], encoded)
        if not self._send:
            return self._skip(delivery)
        if self._spool is not None:
            return self._put_spooled([(lane, _Item(encoded, delivery))], delivery)
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            return self._put_slow(delivery, delivery)
        self.stats.enqueued += 1
        return delivery

    def _skip(self, delivery: Delivery) -> Delivery:
        delivery._data = b""
        delivery._settle("skipped")
        self.stats.enqueued += 1
        return delivery

    async def _route(self, wire: dict[str, Any]) -> Delivery:
        self._admitting += 1
        try:
            return await self._route_admitted(wire)
        finally:
            self._admission_done()

    def _admission_done(self) -> None:
        self._admitting -= 1
        if not self._admitting:
            self._admitted.set()

    def _refuse_late(self, entry: _Entry, delivery: Delivery) -> Delivery:
        """A call that finished its plugins or its spool write after the close marker was
        queued: its message is failed (counted, logged, ``on_error``), never left pending."""
        self.stats.enqueued += 1
        self._fail_entry(entry)
        return delivery

    async def _route_admitted(self, wire: dict[str, Any]) -> Delivery:
        message_id = wire["messageId"]
        if self._plugins:  # plugins may mutate: give them a copy that shares nothing
            wire = pydantic_core.from_json(pydantic_core.to_json(wire))
        for plugin in self._plugins:
            result = plugin(wire)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                self.stats.dropped += 1
                logger.debug("message %s dropped by plugin %r", message_id, plugin)
                return Delivery(message_id, outcomes={"*": "dropped"}, left=0)
            wire = result
        selected = [d for d in self._destinations if _selects(wire.get("integrations"), d.name)]
        if not selected:
            self.stats.enqueued += 1
            return Delivery(message_id, outcomes={"*": "skipped"}, left=0)
        entry: list[tuple[_Lane, _Item]] = []
        outcomes: dict[str, str | BaseException] = {}  # filled in as destinations settle
        delivery = Delivery(message_id, outcomes=outcomes, left=0)
        pending: list[str] = []
        encoded = pydantic_core.to_json(wire)
        for destination in selected:
            message, data = wire, encoded
            if destination.name == "Segment" and self._bypass:
                integrations = dict(wire.get("integrations") or {})
                integrations.update(self._bypass)
                message = {**wire, "integrations": integrations}
                data = pydantic_core.to_json(message)
            records = destination.translate(message, data)
            if not records:
                outcomes[destination.name] = "skipped"
                continue
            pending.append(destination.name)
            slot = _Slot(delivery, destination.name)
            sink: _Sink = slot if len(records) == 1 else _Countdown(slot, len(records))
            for record in records:
                lane = self._lanes[(destination.name, record.endpoint)]
                limit = lane.endpoint.limits.max_message_bytes
                if len(record.data) > limit or not lane.batcher.fits(len(record.data)):
                    self.stats.rejected += 1
                    raise MessageTooLargeError(len(record.data), limit)
                entry.append((lane, _Item(record.data, sink)))
        if not self._send:
            outcomes.update(dict.fromkeys(pending, "skipped"))
            pending = []
        delivery._left = len(pending)
        if not pending:
            self.stats.enqueued += 1
            return delivery
        if self._spool is not None:
            return await self._put_spooled(entry, delivery)
        if self._intake_closed:
            return self._refuse_late(entry, delivery)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            return await self._put_slow(entry, delivery)
        self.stats.enqueued += 1
        return delivery

    async def _put_spooled(self, entry: list[tuple[_Lane, _Item]], delivery: Delivery) -> Delivery:
        # On the spool first (as durable as spool_durability says), then queued. A message the
        # queue then refuses is taken off the spool again: it must not come back on the next
        # start behind the caller's back.
        spool = self._spool
        assert spool is not None
        if self._intake_closed:  # the spool's writer may be gone: do not wait for it
            return self._refuse_late(entry, delivery)
        self._admitting += 1
        try:
            seqs = await spool.append([(lane.spool_key, item._data) for lane, item in entry])
        except QueueFull:
            self.stats.dropped += 1
            raise
        finally:
            self._admission_done()
        entry = [
            (lane, _SpooledItem(item._data, item.sink, seq))
            for (lane, item), seq in zip(entry, seqs, strict=True)
        ]
        if self._intake_closed:  # on the spool (sent by the next client), failed here
            return self._refuse_late(entry, delivery)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            try:
                return await self._put_slow(entry, delivery)
            except BaseException:
                spool.ack(seqs)
                raise
        self.stats.enqueued += 1
        return delivery

    async def _put_slow(self, entry: _Entry, delivery: Delivery) -> Delivery:
        # The queue is full: fail fast ("drop") or wait for room ("block") unless the client
        # starts closing meanwhile.
        assert self._closing is not None
        if self.on_full == "drop":
            self.stats.dropped += 1
            raise QueueFull(f"the queue is full ({self.max_queue_size} messages)")
        putter = asyncio.ensure_future(self._queue.put(entry))
        try:
            await asyncio.wait({putter, self._closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not putter.done():
                putter.cancel()
                await asyncio.wait({putter})  # learn whether it got in before the cancel
        if not putter.cancelled():
            # Queued: the flusher delivers it, or shutdown fails it (counted) if it landed
            # behind the close marker. Either way its Delivery tells the truth.
            self.stats.enqueued += 1
            return delivery
        raise ClientClosedError("the client closed while this call waited for room")

    async def flush(self) -> None:
        """Wait until every message queued before this call was delivered or failed."""
        if self._state is not _State.OPEN:
            raise ClientClosedError(f"the client is {self._state.value}")
        self._check_loop()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        await self._queue.put(_Flush(done))
        await asyncio.shield(done)

    # -- the flusher: queue -> batches ----------------------------------------------------

    async def _run_flusher(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        lanes = list(self._lanes.values())
        segment = self._segment_lane
        # Entries that are a Delivery exist only when Segment is the one destination.
        add_to_segment = segment.batcher.add if segment is not None else None
        ready: list[tuple[_Lane, list[_Record]]] = []
        try:
            while True:
                entry = queue.take()
                if entry is None:
                    top_up_ids()  # the queue is drained: make the next calls' ids now
                    deadline = min(
                        (
                            lane.batcher.deadline
                            for lane in lanes
                            if lane.batcher.deadline is not None
                        ),
                        default=None,
                    )
                    if deadline is None:
                        entry = await queue.get()
                    else:
                        # A batch is open: nap until it is due, or until the producers have
                        # queued a slice or a marker, instead of waking for every message.
                        if deadline > loop.time():
                            room = min(
                                lane.batcher.limits.max_items - len(lane.batcher)
                                for lane in lanes
                                if len(lane.batcher)
                            )
                            await queue.nap_until(deadline, wake_at=min(room, _WAKE_EVERY))
                        now = loop.time()
                        for lane in lanes:
                            for batch in lane.batcher.poll(now=now):
                                await self._dispatch(lane, batch)
                        continue
                # Drain a slice (at most _YIELD_EVERY entries), then let other tasks run.
                now = loop.time()
                for taken in range(1, _YIELD_EVERY + 1):
                    kind = type(entry)
                    if kind is Delivery:
                        assert add_to_segment is not None and segment is not None
                        closed = add_to_segment(entry, len(entry._data), now=now)
                        if closed:
                            ready.extend((segment, batch) for batch in closed)
                    elif kind is list:
                        for lane, item in entry:
                            closed = lane.batcher.add(item, len(item._data), now=now)
                            if closed:
                                ready.extend((lane, batch) for batch in closed)
                    elif kind is _Flush:
                        await self._flush_all(lanes)
                        waiting = set(self._senders)
                        if waiting:
                            gathered = asyncio.gather(*waiting, return_exceptions=True)
                            gathered.add_done_callback(entry.finish)
                        else:
                            entry.finish()
                    else:  # _CLOSE
                        await self._flush_all(lanes)
                        return
                    if ready:
                        for lane, batch in ready:
                            await self._dispatch(lane, batch)
                        ready.clear()
                        now = loop.time()
                    if taken == _YIELD_EVERY:
                        await asyncio.sleep(0)  # a full queue is drained in slices, not at once
                        break
                    entry = queue.take()
                    if entry is None:
                        break
        except asyncio.CancelledError:
            abandoned = self._state is _State.OPEN  # not aclose(): the loop is going away
            if abandoned:
                pending = self._pending()
            for _, batch in ready:
                self._fail(batch, ClientClosedError("the client closed before sending"), None)
            for lane in lanes:
                for batch in lane.batcher.drain():
                    self._fail(batch, ClientClosedError("the client closed before sending"), None)
            if abandoned:
                self._state = _State.CLOSED
                self._fast = False
                _live_clients.discard(self)
                self._fail_queued()
                self._warn_unclosed(
                    "its event loop stopped it", pending, "failed with ClientClosedError"
                )
            raise

    async def _flush_all(self, lanes: list[_Lane]) -> None:
        for lane in lanes:
            for batch in lane.batcher.drain():
                await self._dispatch(lane, batch)

    async def _dispatch(self, lane: _Lane, batch: list[_Record]) -> None:
        # The flusher serves every destination, so it waits for one only when it is the only
        # one: then a long outage fills the queue and reaches the callers (on_full). With
        # several, a saturated destination's batches wait in their sender tasks, and once
        # max_queue_size records are waiting for it its new ones fail, so the others go on.
        pool = lane.pool
        assert pool is not None and self._loop is not None
        if len(self._destinations) == 1:
            try:
                while pool.batches >= pool.max_batches:  # saturated: backpressure
                    pool.room.clear()
                    await pool.room.wait()
            except asyncio.CancelledError:
                self._fail(batch, ClientClosedError("the client closed before sending"), None)
                raise
        elif pool.records and pool.records + len(batch) > self.max_queue_size:
            error = DeliveryError(
                f"{pool.records} records already waiting for this destination",
                destination=lane.destination,
            )
            self._fail(batch, error, lane.destination)
            return
        pool.batches += 1
        pool.records += len(batch)
        task = self._loop.create_task(self._send_held(lane, batch))
        self._senders.add(task)
        task.add_done_callback(lambda task: self._sender_done(task, pool, batch))

    def _sender_done(self, task: asyncio.Task[None], pool: _Pool, batch: list[_Record]) -> None:
        self._senders.discard(task)
        pool.batches -= 1
        pool.records -= len(batch)
        pool.room.set()
        if task.cancelled():  # perhaps before it ever ran: what it held must not be lost
            self._fail(batch, ClientClosedError("the client closed before sending"), None)
        elif (exc := task.exception()) is not None:
            logger.error("sender task crashed", exc_info=exc)

    async def _send_held(self, lane: _Lane, batch: list[_Record]) -> None:
        # Send once one of the destination's max_batches places is free (in call order).
        assert lane.pool is not None
        try:
            await lane.pool.held.acquire()
        except asyncio.CancelledError:
            self._fail(batch, ClientClosedError("the client closed before sending"), None)
            raise
        try:
            await self._send_batch(lane, batch)
        finally:
            lane.pool.held.release()

    # -- the senders: batch -> HTTP -> outcome -------------------------------------------

    async def _send_batch(self, lane: _Lane, batch: list[_Record]) -> None:
        groups: deque[tuple[list[_Record], int]] = deque([(batch, 0)])
        items: list[_Record] = []
        pool, closing, loop = lane.pool, self._closing, self._loop
        assert pool is not None and closing is not None and loop is not None
        policy = lane.endpoint.retry
        started = loop.time()
        try:
            while groups:
                items, retries = groups.popleft()
                while True:
                    was_closing = closing.done()
                    response, error = await self._attempt(lane, items)
                    decision = lane.endpoint.decide(response, batch_size=len(items))
                    if decision is Decision.ACCEPT:
                        pool.recovered()
                        await self._succeed(items)
                        break
                    if decision is Decision.SPLIT:
                        first, second = split(items)
                        groups.appendleft((second, retries))
                        groups.appendleft((first, retries))
                        logger.warning(
                            "%s answered %s for %d messages; splitting the batch",
                            lane.destination,
                            response.status_code if response else None,
                            len(items),
                        )
                        break
                    elapsed = loop.time() - started
                    if decision is Decision.RETRY and policy.may_retry(retries, elapsed=elapsed):
                        retries += 1
                        self.stats.retried += 1
                        delay = policy.backoff(
                            retries,
                            random=self._random.random(),
                            server_wait=retry_after(response.headers) if response else None,
                        )
                        delay = min(delay, policy.max_retry_duration - elapsed)
                        if closing.done() and not was_closing:
                            delay = 0.0  # the client began closing: try again now, once
                        logger.info(
                            "%s: %s; retry %d in %.2fs",
                            lane.destination,
                            error or _status(response),
                            retries,
                            delay,
                        )
                        # Woken early when a request to this destination succeeds (it is
                        # back) or the client starts closing (an attempt now, not after the
                        # shutdown_timeout ran out).
                        await pool.backoff(delay, closing)
                        continue
                    reason = "rejected" if decision is not Decision.RETRY else "retries exhausted"
                    if response is None:
                        reason += f" ({error})"
                    self._fail(
                        items,
                        DeliveryError(
                            reason,
                            status_code=response.status_code if response else None,
                            body=response.text[:200] if response else "",
                            attempts=retries + 1,
                            destination=lane.destination,
                        ),
                        lane.destination,
                    )
                    break
        except asyncio.CancelledError:
            closed = ClientClosedError("the client closed before this message was delivered")
            remaining = [item for group, _ in groups for item in group]
            self._fail(items + remaining, closed, None)
            raise
        except Exception as exc:  # a bug in a destination or a hook: fail, never strand
            logger.exception("sending to %s failed unexpectedly", lane.destination)
            remaining = [item for group, _ in groups for item in group]
            self._fail(
                items + remaining,
                DeliveryError(
                    f"unexpected {type(exc).__name__}: {exc}", destination=lane.destination
                ),
                lane.destination,
            )

    async def _attempt(self, lane: _Lane, items: list[_Record]) -> tuple[Response | None, str]:
        assert lane.pool is not None and self._transport is not None
        sent_at = format_timestamp(_utcnow())
        endpoint = lane.endpoint
        frame = getattr(endpoint, "frame", None) if lane.gzip else None
        if frame is not None:
            # Compressed a slice of records at a time, with other tasks let in between: the
            # whole uncompressed body is never built, and no step takes long.
            request = endpoint.build((), sent_at=sent_at)
            head, separator, tail = frame(sent_at=sent_at)
            step = max(1, len(items)) if self._saturated() else _GZIP_RECORDS
            body = await _gzip_records(head, separator, tail, items, step)
        else:
            request = endpoint.build([item._data for item in items], sent_at=sent_at)
            body = _gzip(request.content) if lane.gzip else request.content
        if lane.gzip:
            headers = {**request.headers, "Content-Encoding": "gzip"}
            request = type(request)(request.method, request.url, headers, body)
        async with lane.pool.sending:
            self.stats.batches += 1
            self.stats.bytes_sent += len(request.content)
            try:
                response = await self._transport.send(request)
            except TransportError as exc:
                return None, str(exc)
        if self._debug:
            logger.debug(
                "%s: %d messages, %d bytes -> HTTP %d",
                lane.destination,
                len(items),
                len(request.content),
                response.status_code,
            )
        return response, ""

    # -- outcomes -------------------------------------------------------------------------

    def _saturated(self) -> bool:
        """Whether the queue is half full. Senders then gzip and settle a batch in one step
        so that they keep up; otherwise in small steps, so that the loop stays responsive."""
        return self._queue.qsize() * 2 >= self.max_queue_size

    async def _succeed(self, items: list[_Record]) -> None:
        # A large batch is settled in slices, letting other tasks run in between; the spool's
        # writer is woken once, at the end (each wake-up is a write).
        spool = self._spool
        step = max(1, len(items)) if self._saturated() else _SETTLE_EVERY
        try:
            for start in range(0, len(items), step):
                if len(items) > step:
                    await asyncio.sleep(0)
                part = items[start : start + step]
                delivered = 0
                for item in part:
                    if item._settle(_DELIVERED):
                        delivered += 1
                self.stats.delivered += delivered
                if spool is not None:
                    spool.ack(_spool_ids(part), wake=False)
        finally:
            if spool is not None:
                spool.ack((), wake=True)

    def _fail(self, items: list[_Record], error: Exception, destination: str | None) -> None:
        if self._spool is not None and not isinstance(error, ClientClosedError):
            # A final failure leaves the spool (a rejected message would come back forever);
            # one cut short by shutdown stays, for the next start.
            self._spool.ack(_spool_ids(items))
        failed = 0
        for item in items:
            if item._settle(error):
                failed += 1
        if not failed:
            return
        self.stats.failed += failed
        logger.error("%d message(s) failed: %s", failed, error)
        if self.on_error is not None:
            try:
                self.on_error(error, [json.loads(item._data) for item in items])
            except Exception:
                logger.exception("the on_error hook raised")


def _status(response: Response | None) -> str:
    return f"HTTP {response.status_code if response else None}"


def _spool_ids(items: list[_Record]) -> list[int]:
    return [item.spool_id for item in items if isinstance(item, _SpooledItem)]


def _selects(integrations: Mapping[str, Any] | None, name: str) -> bool:
    """Whether a message's ``integrations`` selects destination ``name`` (case-sensitive)."""
    if not integrations:
        return True
    value = integrations.get(name)
    if value is None:
        return bool(integrations.get("All", True))
    return value is not False


def _make_transport(
    client: httpx.AsyncClient | None, timeout: float, max_connections: int
) -> HTTPTransport:
    # anyio loads its asyncio backend on first use, which is httpcore's first request.
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")
    return HTTPTransport(client, timeout=timeout, max_connections=max_connections)


def _gzip(body: bytes) -> bytes:
    return zlib.compress(body, _GZIP_LEVEL, wbits=31)


async def _gzip_records(
    head: bytes, separator: bytes, tail: bytes, items: list[_Record], step: int
) -> bytes:
    """Gzip ``head + separator.join(records) + tail``, ``step`` records per loop step."""
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    parts = [compressor.compress(head)]
    sliced = len(items) > step
    for start in range(0, len(items), step):
        if start:
            parts.append(compressor.compress(separator))
        if sliced:
            await asyncio.sleep(0)
        records = [item._data for item in items[start : start + step]]
        parts.append(compressor.compress(separator.join(records)))
    if sliced:
        await asyncio.sleep(0)  # finishing the stream is a step of its own
    parts.append(compressor.compress(tail))
    parts.append(compressor.flush())
    body = b"".join(parts)
    if sliced:
        await asyncio.sleep(0)  # and so is sending
    return body


def _utcnow() -> datetime:
    return datetime.now(UTC)

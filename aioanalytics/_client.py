"""``Analytics``: the client. Wiring, lifecycle, the six calls and intake.

One message's path::

    track(...) -> wire dict, validated (_wire, _models) -> plugins -> per destination:
               records (bytes) -> Intake (_flusher) -> Flusher: a Batcher per lane
               -> Sender: a task per batch: gzip, transport, RetryPolicy (_sender)
               -> Settlement: deliveries settled, stats counted, on_error called (_delivery)

For Segment alone (the common case, with or without a spool) the intake holds just each
message's bytes, and the :class:`Delivery` handed back points at a shared outcome slice
(which also keeps the spool's sequence numbers): nothing queued is an object the garbage
collector has to scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import inspect
import logging
import os
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias

import anyio
import httpx
import pydantic_core

from . import _context
from ._batching import Batcher
from ._config import MAX_BATCH_ITEMS, SEGMENT_BATCH_BYTES, BatchLimits, seconds
from ._delivery import (
    Countdown,
    Delivery,
    DeliveryResult,
    ErrorHook,
    Item,
    Replayed,
    Routed,
    Settlement,
    Slot,
    Stats,
)
from ._exceptions import (
    ClientClosedError,
    ConfigError,
    EventLoopError,
    MessageTooLargeError,
    QueueFull,
)
from ._flusher import CLOSE, Entry, Flush, Flusher, Intake
from ._models import Alias, Group, Identify, Message, Page, Screen, Track
from ._observe import RequestObserver
from ._retry import DEFAULT_MAX_RETRY_DURATION, RetryPolicy
from ._sender import FlowControl, Lane, Sender
from ._spool import Record, Recovery, SpoolError
from ._spooler import DEFAULT_MAX_BYTES, MIN_MAX_BYTES, Durability, Spooler
from ._transports.base import AsyncTransport
from ._transports.http import HTTPTransport
from ._wire import build_wire, track_wire, wire_dict
from .destinations._base import Destination
from .destinations.segment import DEFAULT_HOST, Segment

if TYPE_CHECKING:
    from .plan import TrackingPlan
    from .plan._guard import PlanGuard

__all__ = ["Analytics", "Delivery", "DeliveryResult", "Plugin", "Stats"]

logger = logging.getLogger("aioanalytics")

#: An enrichment plugin: gets the wire dict, returns it (modified or not) or ``None`` to drop.
Plugin: TypeAlias = Callable[
    [dict[str, Any]], dict[str, Any] | None | Awaitable[dict[str, Any] | None]
]
#: The request context bound for the running code (``aioanalytics.web``), or None.
_bound_request = _context.current.get


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_live_clients: weakref.WeakSet[Analytics] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._forked = True
        client._fast = False


os.register_at_fork(after_in_child=_after_fork_in_child)

_to_json = pydantic_core.to_json


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

    With ``tracking_plan=`` (a :class:`~aioanalytics.plan.TrackingPlan`, or the path of a
    plan file), every message the plan has rules for is checked at the call. One that breaks
    the plan is counted in ``stats.plan_violations`` and logged with each field at fault;
    then ``on_violation="raise"`` raises :class:`~aioanalytics.plan.PlanViolationError`,
    ``"drop"`` resolves its Delivery as dropped, ``"warn"`` sends it anyway. See
    ``docs/tracking-plans.md``.
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
        tracking_plan: TrackingPlan | str | os.PathLike[str] | None = None,
        on_violation: Literal["raise", "warn", "drop"] = "raise",
    ) -> None:
        _check_options(write_key, destinations, on_full, max_queue_size, max_concurrent_requests)
        self.host = host
        self._send = send
        self._debug = debug
        #: Whether track() may take its shortcut: open, Segment alone, sending, no spool.
        self._fast = False
        self.on_full = on_full
        self.max_queue_size = max_queue_size
        self.shutdown_timeout = seconds(shutdown_timeout, "shutdown_timeout")
        self.max_concurrent_requests = max_concurrent_requests
        self.stats = Stats()
        #: Checks track/identify/group against the tracking plan, if one is given.
        self._plan = _plan_guard(tracking_plan, on_violation, self.stats)
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
        self._destinations = _destinations(
            write_key, destinations, host, self.limits, self.retry, gzip, allow_insecure_http
        )
        self._spool = _make_spool(spool, spool_durability, spool_max_bytes, on_full)
        self._lanes = _make_lanes(self._destinations)
        # Segment alone and no plugins: messages skip routing and are queued as bare bytes
        # (see the module docstring).
        alone = [d.name for d in self._destinations] == ["Segment"] and not self._plugins
        self._alone = self._lanes[("Segment", "batch")] if alone else None
        self._max_record = self._alone.batcher.max_record if self._alone else 0
        self._bypass = {d.name: False for d in self._destinations if d.bypasses_segment}
        self._state = _State.UNOPENED
        self._forked = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._intake = Intake(max_queue_size, spooled=alone and self._spool is not None)
        self._settlement = Settlement(self.stats, on_error, self._spool)
        self._sender: Sender | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        #: Instrumentation around each batch request (``aioanalytics.otel``); None: none.
        self._request_observer: RequestObserver | None = None
        #: Calls past their checks but not yet queued (running async plugins, or waiting
        #: for the spool): aclose() lets them in before it queues the close marker.
        self._admitting = 0
        self._admitted = asyncio.Event()
        #: Set once the close marker is queued: a call that gets this far fails its message.
        self._intake_closed = False
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
            loop = self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise EventLoopError(
                "aioanalytics runs on asyncio; no asyncio loop is running"
            ) from None
        self._closing = loop.create_future()
        recovery, spool = None, self._spool
        if spool is not None:  # first: a spool in use elsewhere fails open() cleanly
            recovery = await spool.open(self._closing)
        if self._transport is None:
            # Made at start-up, not in the middle of traffic (a worker thread would cost ~4 MB
            # RSS: its malloc arena). Connections per destination: one that hangs takes none
            # of another's.
            self._transport = _make_transport(
                self._http_client,
                self._timeout,
                self.max_concurrent_requests * len(self._destinations),
            )
        self._sender = sender = Sender(
            self._transport, self._settlement, self._closing, busy=self._intake.saturated
        )
        sender.debug = self._debug
        sender.observer = self._request_observer
        _wire_flow(
            self._destinations, self._lanes, self.max_concurrent_requests, self.max_queue_size
        )
        flusher = Flusher(
            self._intake,
            list(self._lanes.values()),
            dispatch=sender.dispatch,
            after_sending=sender.after_sending,
            fail=self._settlement.fail,
            segment=self._alone,
        )
        self._flusher = loop.create_task(self._run_flusher(flusher), name="aioanalytics-flusher")
        self._state = _State.OPEN
        self._refresh_fast()
        _live_clients.add(self)
        if spool is not None and recovery is not None:  # what it kept from an earlier run
            self.stats.spool_damaged += len(recovery.damage)
            if recovery.records and self._send:  # send=False sends nothing, old or new
                lanes = self._lanes.values()
                await _replay(recovery, spool, self._intake, lanes, self._alone, self.stats)
        logger.debug("opened %r", self)

    async def _run_flusher(self, flusher: Flusher) -> None:
        try:
            await flusher.run()
        except asyncio.CancelledError:
            if self._state is _State.OPEN:  # not aclose(): the loop is going away under it
                self._abandon(flusher.cut_short)
            raise

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
        assert self._closing is not None
        self._closing.set_result(None)  # wakes blocked callers and batches in backoff
        try:
            with anyio.CancelScope(shield=True):
                await self._finish()
                assert self._transport is not None
                await self._transport.aclose()
                if self._spool is not None:  # what failed with ClientClosedError stays in it
                    await self._spool.aclose()
        finally:
            self._state = _State.CLOSED
            _live_clients.discard(self)
            logger.debug("closed %r: %s", self, self.stats)

    async def _finish(self) -> None:
        # Let in the calls already past their checks, queue the close marker, wait for the
        # flusher and the senders, all within shutdown_timeout; then fail what is left.
        flusher, sender = self._flusher, self._sender
        assert flusher is not None and sender is not None
        with anyio.move_on_after(self.shutdown_timeout):
            while self._admitting:
                self._admitted.clear()
                await self._admitted.wait()
            self._intake_closed = True
            self._intake.put_nowait(CLOSE)
            await asyncio.wait({flusher})
            if sender.tasks:
                await asyncio.wait(set(sender.tasks))
        self._intake_closed = True
        if sender.tasks or not flusher.done():
            logger.error(
                "shutdown_timeout (%.1fs) expired with work in flight; failing it",
                self.shutdown_timeout,
            )
        for task in (flusher, *sender.tasks):
            task.cancel()
        await asyncio.gather(flusher, *sender.tasks, return_exceptions=True)
        self._fail_queued()

    def _fail_queued(self) -> None:
        error = ClientClosedError("the client closed before this message was sent")
        self._intake.fail_all(self._settlement.fail, error)

    def _abandon(self, cut_short: int) -> None:
        """The event loop cancelled the flusher of an open client: fail what it held."""
        pending = _pending(self._intake, self._sender, cut_short)
        self._state = _State.CLOSED
        self._fast = False
        self._intake_closed = True
        _live_clients.discard(self)
        self._fail_queued()
        _warn_unclosed(self, "its event loop stopped it", pending, "failed with ClientClosedError")

    def __del__(self) -> None:
        # Garbage collected while open (a client nobody closed, or its loop closed without
        # cancelling its tasks): whatever was pending is lost, and must not be silently.
        if getattr(self, "_state", None) in (_State.OPEN, _State.CLOSING) and not self._forked:
            batched = sum(len(lane.batcher) for lane in self._lanes.values())
            pending = _pending(self._intake, self._sender, batched)
            _warn_unclosed(self, "it was garbage collected", pending, "lost")

    async def flush(self) -> None:
        """Wait until every message queued before this call was delivered or failed."""
        if self._state is not _State.OPEN:
            raise ClientClosedError(f"the client is {self._state.value}")
        self._check_loop()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        self._intake.put_nowait(Flush(done))  # markers always fit
        await asyncio.shield(done)

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
        if self._sender is not None:
            self._sender.debug = value
        self._refresh_fast()

    @property
    def _observer(self) -> RequestObserver | None:
        """Instrumentation around each batch request (``aioanalytics.otel``); None: none."""
        return self._request_observer

    @_observer.setter
    def _observer(self, value: RequestObserver | None) -> None:
        self._request_observer = value
        if self._sender is not None:
            self._sender.observer = value

    @property
    def on_error(self) -> ErrorHook | None:
        """``on_error(error, messages)``, called once per failed group of messages."""
        return self._settlement.on_error

    @on_error.setter
    def on_error(self, value: ErrorHook | None) -> None:
        self._settlement.on_error = value

    def _refresh_fast(self) -> None:
        self._fast = (
            self._state is _State.OPEN
            and not self._forked
            and self._alone is not None
            and self._spool is None
            and self._send
            and not self._debug
            and self._plan is None
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
        if (bound := _bound_request()) is not None:
            user_id, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        fields = {"type": "identify", "traits": traits}
        wire = build_wire(
            Identify, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
        )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

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
        if (bound := _bound_request()) is not None:
            user_id, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        wire = None
        if (
            anonymous_id is None
            and context is None
            and timestamp is None
            and integrations is None
            and message_id is None
        ):
            wire = track_wire(user_id, event, properties)  # the most common call, made fast
            if wire is not None and self._fast and asyncio.get_running_loop() is self._loop:
                encoded = _to_json(wire)
                if len(encoded) <= self._max_record:
                    delivery = self._intake.admit(wire["messageId"], encoded)
                    if delivery is None:
                        return await self._admit_slow(wire["messageId"], encoded)
                    self.stats.enqueued += 1
                    return delivery
        if wire is None:
            fields = {"type": "track", "event": event, "properties": properties}
            wire = build_wire(
                Track, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
            )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

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
        if (bound := _bound_request()) is not None:
            user_id, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        fields = {"type": "page", "name": name, "category": category, "properties": properties}
        wire = build_wire(
            Page, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
        )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

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
        if (bound := _bound_request()) is not None:
            user_id, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        fields = {"type": "screen", "name": name, "category": category, "properties": properties}
        wire = build_wire(
            Screen, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
        )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

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
        if (bound := _bound_request()) is not None:
            user_id, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        fields = {"type": "group", "groupId": group_id, "traits": traits}
        wire = build_wire(
            Group, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
        )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

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
        if (bound := _bound_request()) is not None:
            _, anonymous_id, context = _context.merge(bound, user_id, anonymous_id, context)
        fields = {"type": "alias", "previousId": previous_id}
        wire = build_wire(
            Alias, user_id, anonymous_id, context, timestamp, integrations, message_id, fields
        )
        result = self._submit(wire)
        return result if isinstance(result, Delivery) else await result

    async def enqueue(self, message: Message) -> Delivery:
        """Queue a prebuilt message model (``Track(...)``, ``parse_message(...)``)."""
        result = self._submit(wire_dict(message))
        return result if isinstance(result, Delivery) else await result

    # -- intake -------------------------------------------------------------------------

    def _submit(self, wire: dict[str, Any]) -> Delivery | Coroutine[Any, Any, Delivery]:
        """Queue one wire message: a ``Delivery`` at once, or a coroutine when the call has to
        wait (queue full, async plugins, the spool). The six calls return the first and await
        the second, which saves a coroutine per call on the common path."""
        if self._state is not _State.OPEN or self._forked:
            if self._state is _State.OPEN:
                self._check_loop()
            raise ClientClosedError(
                f"the client is {self._state.value}: use 'async with Analytics(...)' and call it "
                "inside the block"
            )
        if asyncio.get_running_loop() is not self._loop:
            self._check_loop()
        if self._plan is not None and not self._plan.admit(wire):
            return Delivery(wire["messageId"], Routed({"*": "dropped"}))
        if self._debug:
            logger.debug("queued %s", wire)
        lane = self._alone
        if lane is None:
            return self._route(wire)
        message_id = wire["messageId"]
        encoded = _to_json(wire)
        if len(encoded) > self._max_record:
            self.stats.rejected += 1
            raise MessageTooLargeError(len(encoded), lane.endpoint.limits.max_message_bytes)
        if not self._send:
            self.stats.enqueued += 1
            return Delivery(message_id, Routed({"Segment": "skipped"}))
        if self._spool is not None:
            return self._spool_alone(lane, message_id, encoded)
        delivery = self._intake.admit(message_id, encoded)
        if delivery is None:
            return self._admit_slow(message_id, encoded)
        self.stats.enqueued += 1
        return delivery

    async def _admit_slow(self, message_id: str, encoded: bytes) -> Delivery:
        await self._wait_for_room()
        if self._state is not _State.OPEN:
            raise ClientClosedError("the client closed while this call waited for room")
        delivery = self._intake.admit(message_id, encoded)
        assert delivery is not None  # room, and nothing ran since
        self.stats.enqueued += 1
        return delivery

    async def _spool_alone(self, lane: Lane, message_id: str, data: bytes) -> Delivery:
        # As _put_spooled, for a message for Segment alone: queued as bytes with its sequence
        # number beside it, so that a spooled queue costs the garbage collector nothing either.
        seq, spool = -1, self._spool
        assert spool is not None
        if not self._intake_closed:
            (seq,) = await self._spool_append([(lane.spool_key, data)])
        try:
            while not self._intake_closed:
                if (delivery := self._intake.admit(message_id, data, seq)) is not None:
                    self.stats.enqueued += 1
                    return delivery
                await self._wait_for_room()
        except BaseException:
            spool.ack([seq])
            raise
        fate = Routed()
        fate.left = 1
        delivery = Delivery(message_id, fate)
        return self._refuse_late([(lane, Item(data, Slot(fate, "Segment"), seq))], delivery)

    async def _wait_for_room(self) -> None:
        # The intake is full: fail fast ("drop") or wait for room ("block") unless the client
        # starts closing meanwhile.
        if self.on_full == "drop":
            self.stats.dropped += 1
            raise QueueFull(f"the queue is full ({self.max_queue_size} messages)")
        if not await self._intake.wait_for_room(self._closing):
            raise ClientClosedError("the client closed while this call waited for room")

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

    async def _route_admitted(self, wire: dict[str, Any]) -> Delivery:
        message_id = wire["messageId"]
        if self._plugins:
            result = await _run_plugins(self._plugins, wire)
            if result is None:
                self.stats.dropped += 1
                return Delivery(message_id, Routed({"*": "dropped"}))
            wire = result
        selected = [d for d in self._destinations if _selects(wire.get("integrations"), d.name)]
        if not selected:
            self.stats.enqueued += 1
            return Delivery(message_id, Routed({"*": "skipped"}))
        fate = Routed()
        try:
            entry, pending = _translate(wire, selected, fate, self._lanes, self._bypass)
        except MessageTooLargeError:
            self.stats.rejected += 1
            raise
        if not self._send:
            fate.outcomes.update(dict.fromkeys(pending, "skipped"))
            pending = []
        fate.left = len(pending)
        delivery = Delivery(message_id, fate)
        if not pending:
            self.stats.enqueued += 1
            return delivery
        if self._spool is not None:
            return await self._put_spooled(entry, delivery)
        return await self._put_routed(entry, delivery)

    async def _put_routed(self, entry: list[tuple[Lane, Item]], delivery: Delivery) -> Delivery:
        if self._intake_closed:
            return self._refuse_late(entry, delivery)
        if not self._intake.put_nowait(entry):
            await self._wait_for_room()
            if self._intake_closed:
                return self._refuse_late(entry, delivery)
            self._intake.put_nowait(entry)
        self.stats.enqueued += 1
        return delivery

    async def _put_spooled(self, entry: list[tuple[Lane, Item]], delivery: Delivery) -> Delivery:
        spool = self._spool
        assert spool is not None
        if self._intake_closed:  # the spool's writer may be gone: do not wait for it
            return self._refuse_late(entry, delivery)
        seqs = await self._spool_append([(lane.spool_key, item.data) for lane, item in entry])
        for (_, item), seq in zip(entry, seqs, strict=True):
            item.spool_id = seq
        try:
            return await self._put_routed(entry, delivery)
        except BaseException:
            spool.ack(seqs)
            raise

    async def _spool_append(self, records: list[tuple[bytes, bytes]]) -> list[int]:
        # On the spool first (as durable as spool_durability says), then queued. A message the
        # queue then refuses is taken off the spool again: it must not come back on the next
        # start behind the caller's back.
        assert self._spool is not None
        self._admitting += 1
        try:
            return await _spool_append(self._spool, records, self.stats)
        finally:
            self._admission_done()

    def _refuse_late(self, entry: Entry, delivery: Delivery) -> Delivery:
        """A call that finished its plugins or its spool write after the close marker was
        queued: its message is failed (counted, logged, ``on_error``), never left pending.
        (A spooled one stays on the spool, for the next start.)"""
        self.stats.enqueued += 1
        error = ClientClosedError("the client closed before this call queued")
        self._intake.fail_entry(entry, self._settlement.fail, error)
        return delivery


async def _run_plugins(plugins: Sequence[Plugin], wire: dict[str, Any]) -> dict[str, Any] | None:
    """Run the plugins in order on a copy of ``wire`` that shares nothing with it (they may
    mutate it); the result, or ``None`` when one of them dropped the message."""
    message_id = wire["messageId"]
    wire = pydantic_core.from_json(_to_json(wire))
    for plugin in plugins:
        result = plugin(wire)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            logger.debug("message %s dropped by plugin %r", message_id, plugin)
            return None
        wire = result
    return wire


def _pending(intake: Intake, sender: Sender | None, batched: int) -> str:
    """What an unclosed client leaves behind: ``batched`` messages in its open batches."""
    sending = len(sender.tasks) if sender is not None else 0
    return (
        f"{intake.qsize()} queued call(s), {batched} message(s) in open batches and "
        f"{sending} batch(es) sending or waiting to retry"
    )


def _warn_unclosed(client: Analytics, how: str, pending: str, fate: str) -> None:
    text = (
        f"{client!r} was never closed and {how} with {pending}: they were {fate}. "
        "Use 'async with Analytics(...)' or 'await analytics.aclose()'"
    )
    logger.error("%s", text)
    warnings.warn(text, ResourceWarning, stacklevel=3, source=client)


def _check_options(
    write_key: str | None,
    destinations: Sequence[Destination],
    on_full: str,
    max_queue_size: int,
    max_concurrent_requests: int,
) -> None:
    """The checks of the client's own options (limits and hosts are checked by their owners:
    ``BatchLimits`` and the destinations)."""
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


def _make_spool(
    path: str | os.PathLike[str] | None,
    durability: Durability,
    max_bytes: int,
    on_full: Literal["block", "drop"],
) -> Spooler | None:
    if path is None:
        return None
    if durability not in ("fsync", "interval"):
        raise ConfigError(f"spool_durability must be 'fsync' or 'interval', got {durability!r}")
    if max_bytes < MIN_MAX_BYTES:
        raise ConfigError(f"spool_max_bytes must be at least {MIN_MAX_BYTES}, got {max_bytes}")
    return Spooler(path, durability=durability, max_bytes=max_bytes, on_full=on_full)


def _make_lanes(destinations: Sequence[Destination]) -> dict[tuple[str, str], Lane]:
    """A lane per endpoint of each destination, keyed by (destination, endpoint key)."""
    lanes: dict[tuple[str, str], Lane] = {}
    for destination in destinations:
        for key, endpoint in destination.endpoints.items():
            lanes[(destination.name, key)] = Lane(
                destination.name,
                endpoint,
                Batcher(endpoint.limits, envelope_bytes=endpoint.envelope_bytes),
                destination.gzip,
                spool_key=f"{destination.name}/{key}".encode(),
            )
    return lanes


def _wire_flow(
    destinations: Sequence[Destination],
    lanes: Mapping[tuple[str, str], Lane],
    max_requests: int,
    max_records: int,
) -> None:
    """Give each destination's lanes a FlowControl of their own. With one destination, a
    saturated one holds the flusher, so that a long outage reaches the callers (on_full).
    With several, a saturated destination's new batches fail once ``max_records`` records
    wait for it, so that the others go on."""
    block = len(destinations) == 1
    flows = {
        d.name: FlowControl(max_requests, block=block, max_records=max_records)
        for d in destinations
    }
    for lane in lanes.values():
        lane.flow = flows[lane.destination]


async def _replay(
    recovery: Recovery,
    spool: Spooler,
    intake: Intake,
    lanes: Iterable[Lane],
    alone: Lane | None,
    stats: Stats,
) -> None:
    """Queue the spool's records in their order; those no lane of this client can take are
    discarded (acknowledged on the spool) with a warning. For Segment alone (``alone``) they
    are queued as bytes, like new calls.

    The records are queued in chunks (so replay hardly ever waits for queue room); their
    memory is bounded by ``spool_max_bytes``, not ``max_queue_size``.
    """
    records = recovery.records
    size = max(512, -(-len(records) // max(1, intake.limit // 2)))
    by_key = {lane.spool_key: lane for lane in lanes}
    orphans: list[int] = []
    kept: list[tuple[Lane, Record]] = []
    for record in records:
        lane = by_key.get(record.key)
        if lane is None or not lane.batcher.fits(len(record.data)):
            orphans.append(record.seq)
        else:
            kept.append((lane, record))
    for start in range(0, len(kept), size):
        chunk = kept[start : start + size]
        if alone is not None:  # every lane kept is Segment's: queued as bytes
            replayed = [(record.data, record.seq) for _, record in chunk]
            while not intake.admit_replayed(replayed):
                await intake.wait_for_room()
        else:
            entry = [(lane, Item(record.data, Replayed(), record.seq)) for lane, record in chunk]
            while not intake.put_nowait(entry):
                await intake.wait_for_room()
        await asyncio.sleep(0)  # a long backlog must not hold the event loop
    stats.replayed += len(records) - len(orphans)
    logger.info("replaying %d record(s) from the spool", len(records) - len(orphans))
    if orphans:
        logger.warning(
            "%d spooled record(s) name destinations this client lacks; discarded", len(orphans)
        )
        spool.ack(orphans)


async def _spool_append(
    spool: Spooler, records: list[tuple[bytes, bytes]], stats: Stats
) -> list[int]:
    """Write a message's ``(key, data)`` records on the spool; their sequence numbers. A full
    spool (``on_full="drop"``) counts as dropped, a failed write (a full disk) as a spool
    error."""
    try:
        return await spool.append(records)
    except QueueFull:
        stats.dropped += 1
        raise
    except SpoolError:
        stats.spool_errors += 1
        raise


def _destinations(
    write_key: str | None,
    others: Sequence[Destination],
    host: str,
    limits: BatchLimits,
    retry: RetryPolicy,
    gzip: bool,
    allow_insecure_http: bool,
) -> list[Destination]:
    """Segment first (with a write key; it checks ``host``), then ``others``, each name once."""
    destinations = list(others)
    if write_key is not None:
        segment = Segment(
            write_key,
            host=host,
            limits=limits,
            retry=retry,
            gzip=gzip,
            allow_insecure_http=allow_insecure_http,
        )
        destinations.insert(0, segment)
    names = [d.name for d in destinations]
    if len(set(names)) != len(names):
        raise ConfigError(f"destination names must be unique, got {names}")
    return destinations


def _plan_guard(
    plan: TrackingPlan | str | os.PathLike[str] | None,
    on_violation: Literal["raise", "warn", "drop"],
    stats: Stats,
) -> PlanGuard | None:
    if plan is None:
        return None
    from .plan._guard import PlanGuard  # imported only when a plan is given

    return PlanGuard(plan, on_violation, stats)


def _translate(
    wire: dict[str, Any],
    selected: list[Destination],
    fate: Routed,
    lanes: Mapping[tuple[str, str], Lane],
    bypass: Mapping[str, bool],
) -> tuple[list[tuple[Lane, Item]], list[str]]:
    """Each selected destination's records, as queue items; and the destinations that have
    some (the others are settled ``"skipped"`` at once). ``bypass``: what the Segment copy's
    ``integrations`` must add (destinations sent to directly)."""
    entry: list[tuple[Lane, Item]] = []
    pending: list[str] = []
    encoded = _to_json(wire)
    for destination in selected:
        message, data = wire, encoded
        if destination.name == "Segment" and bypass:
            integrations = dict(wire.get("integrations") or {})
            integrations.update(bypass)
            message = {**wire, "integrations": integrations}
            data = _to_json(message)
        records = destination.translate(message, data)
        if not records:
            fate.outcomes[destination.name] = "skipped"
            continue
        pending.append(destination.name)
        slot = Slot(fate, destination.name)
        sink = slot if len(records) == 1 else Countdown(slot, len(records))
        for record in records:
            lane = lanes[(destination.name, record.endpoint)]
            limit = lane.endpoint.limits.max_message_bytes
            if len(record.data) > limit or not lane.batcher.fits(len(record.data)):
                raise MessageTooLargeError(len(record.data), limit)
            entry.append((lane, Item(record.data, sink)))
    return entry, pending


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

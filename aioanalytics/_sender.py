"""Sending: lanes, per-destination flow control, and one task per batch (gzip, transport,
retry, split, settle).

Theory of operation. Each endpoint of each destination is a :class:`Lane` with its own
batcher. A destination's lanes share one :class:`FlowControl`: at most ``max_requests``
requests on the wire and :data:`~aioanalytics._config.HELD_PER_REQUEST` times as many
batches held (sending or waiting to retry), so a destination that is failing never holds up
another one's batches. :meth:`Sender.dispatch` starts a task per batch; the task asks the
endpoint's :class:`~aioanalytics.RetryPolicy` what each answer means: accept, retry after a
backoff (woken early when the destination recovers or the client starts closing), split in
halves (413, or 400 for several), or give up. Settlement is
:class:`~aioanalytics._delivery.Settlement`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from ._batching import Batcher
from ._config import GZIP_LEVEL, GZIP_RECORDS, HELD_PER_REQUEST, SETTLE_EVERY
from ._delivery import Batch, Settlement, Stats
from ._exceptions import ClientClosedError, DeliveryError, TransportError
from ._models import format_timestamp
from ._observe import RequestObserver
from ._retry import Decision, retry_after
from ._transports.base import AsyncTransport, Response
from .destinations._base import Endpoint
from .destinations._secrets import redact_response

__all__ = ["FlowControl", "FramedEndpoint", "Lane", "Sender", "gzip_records"]

logger = logging.getLogger("aioanalytics")


@runtime_checkable
class FramedEndpoint(Endpoint, Protocol):
    """An endpoint whose body is its records joined between a head and a tail: a large batch
    is then gzipped a slice of records at a time, the whole body never built."""

    def frame(self, *, sent_at: str) -> tuple[bytes, bytes, bytes]:
        """What goes before, between and after the records in a body."""
        ...


class FlowControl:
    """One destination's share of the sending.

    ``block``: when the destination holds all the batches it may, the flusher waits for it
    (backpressure that reaches the callers: the right thing when it is the only destination);
    otherwise its new batches fail once ``max_records`` records wait for it, so that the
    other destinations go on.
    """

    __slots__ = (
        "batches",
        "block",
        "held",
        "max_batches",
        "max_records",
        "records",
        "recovery",
        "room",
        "sending",
    )

    def __init__(self, max_requests: int, *, block: bool, max_records: int) -> None:
        #: Requests on the wire at once.
        self.sending = asyncio.Semaphore(max_requests)
        #: Batches held at once (sending or waiting to retry): bounds memory in an outage.
        self.max_batches = max_requests * HELD_PER_REQUEST
        self.held = asyncio.Semaphore(self.max_batches)
        self.block = block
        self.max_records = max_records
        #: Batches (and their records) handed to sender tasks: held, or waiting for a place.
        self.batches = 0
        self.records = 0
        self.room = asyncio.Event()
        #: Resolved when a request to the destination succeeds: the batches sleeping in
        #: backoff wake up and try again at once (made by the first one to sleep).
        self.recovery: asyncio.Future[None] | None = None

    def refuses(self, count: int) -> bool:
        """Whether a batch of ``count`` records must fail rather than wait (not blocking)."""
        return not self.block and bool(self.records) and self.records + count > self.max_records

    async def wait_for_room(self) -> None:
        """Wait while the destination holds all the batches it may (blocking only)."""
        while self.block and self.batches >= self.max_batches:
            self.room.clear()
            await self.room.wait()

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
class Lane:
    """One endpoint of one destination: its batcher and how to send."""

    destination: str
    endpoint: Endpoint
    batcher: Batcher[Any]
    gzip: bool
    flow: FlowControl | None = None
    spool_key: bytes = b""


class Sender:
    """Runs one task per batch, from dispatch to settlement.

    ``busy()`` says whether the intake is half full: gzip and settlement then take a batch in
    one step so that the senders keep up; otherwise small steps keep the loop responsive.
    """

    def __init__(
        self,
        transport: AsyncTransport,
        settlement: Settlement,
        closing: asyncio.Future[None],
        *,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.transport = transport
        self.settlement = settlement
        self.stats: Stats = settlement.stats
        self.closing = closing
        self.busy = busy
        #: Log every request at DEBUG.
        self.debug = False
        #: Instrumentation around each request (``aioanalytics.otel``); None: none.
        self.observer: RequestObserver | None = None
        #: The sender tasks running.
        self.tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random()

    # -- dispatch ----------------------------------------------------------------------------

    async def dispatch(self, lane: Lane, batch: Batch) -> None:
        """Start sending ``batch``: wait for the destination when it blocks, fail the batch
        when it refuses, else hand it to a task of its own."""
        flow = lane.flow
        assert flow is not None
        try:
            await flow.wait_for_room()
        except asyncio.CancelledError:
            self.settlement.fail(batch, ClientClosedError("the client closed before sending"))
            raise
        if flow.refuses(len(batch)):
            error = DeliveryError(
                f"{flow.records} records already waiting for this destination",
                destination=lane.destination,
            )
            self.settlement.fail(batch, error)
            return
        flow.batches += 1
        flow.records += len(batch)
        task = asyncio.get_running_loop().create_task(self._send_held(lane, batch))
        self.tasks.add(task)
        task.add_done_callback(lambda task: self._done(task, flow, batch))

    def _done(self, task: asyncio.Task[None], flow: FlowControl, batch: Batch) -> None:
        self.tasks.discard(task)
        flow.batches -= 1
        flow.records -= len(batch)
        flow.room.set()
        if task.cancelled():  # perhaps before it ever ran: what it held must not be lost
            self.settlement.fail(batch, ClientClosedError("the client closed before sending"))
        elif (exc := task.exception()) is not None:
            logger.error("sender task crashed", exc_info=exc)

    def after_sending(self, callback: Callable[[object], None]) -> None:
        """Call ``callback`` once every task running now is finished."""
        if self.tasks:
            gathered = asyncio.gather(*self.tasks, return_exceptions=True)
            gathered.add_done_callback(callback)
        else:
            callback(None)

    async def _send_held(self, lane: Lane, batch: Batch) -> None:
        # Send once one of the destination's held places is free (in call order).
        assert lane.flow is not None
        try:
            await lane.flow.held.acquire()
        except asyncio.CancelledError:
            self.settlement.fail(batch, ClientClosedError("the client closed before sending"))
            raise
        try:
            await self.send_batch(lane, batch)
        finally:
            lane.flow.held.release()

    # -- one batch: attempts, retries, splits -----------------------------------------------

    async def send_batch(self, lane: Lane, batch: Batch) -> None:
        """Send ``batch`` until it is settled: delivered, failed, or cut short by close."""
        groups: deque[tuple[Batch, int]] = deque([(batch, 0)])
        current = batch
        try:
            while groups:
                current, retries = groups.popleft()
                await self._send_group(lane, current, retries, groups)
        except asyncio.CancelledError:
            closed = ClientClosedError("the client closed before this message was delivered")
            self.settlement.fail(current, closed)
            for group, _ in groups:
                self.settlement.fail(group, closed)
            raise
        except Exception as exc:  # a bug in a destination or a hook: fail, never strand
            logger.exception("sending to %s failed unexpectedly", lane.destination)
            error = DeliveryError(
                f"unexpected {type(exc).__name__}: {exc}", destination=lane.destination
            )
            self.settlement.fail(current, error)
            for group, _ in groups:
                self.settlement.fail(group, error)

    async def _send_group(
        self, lane: Lane, batch: Batch, retries: int, groups: deque[tuple[Batch, int]]
    ) -> None:
        flow, closing, endpoint = lane.flow, self.closing, lane.endpoint
        assert flow is not None
        policy = endpoint.retry
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            was_closing = closing.done()
            response, error = await self.attempt(lane, batch)
            decision = endpoint.decide(response, batch_size=len(batch))
            if decision is Decision.ACCEPT:
                flow.recovered()
                await self.settlement.succeed(
                    batch, step=max(1, len(batch)) if self.busy() else SETTLE_EVERY
                )
                return
            if decision is Decision.SPLIT:
                first, second = batch.split()
                groups.appendleft((second, retries))
                groups.appendleft((first, retries))
                logger.warning(
                    "%s answered %s for %d messages; splitting the batch",
                    lane.destination,
                    response.status_code if response else None,
                    len(batch),
                )
                return
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
                # Woken early when a request to this destination succeeds (it is back) or
                # the client starts closing (an attempt now, not after shutdown_timeout).
                await flow.backoff(delay, closing)
                continue
            reason = "rejected" if decision is not Decision.RETRY else "retries exhausted"
            if response is None:
                reason += f" ({error})"
            self.settlement.fail(
                batch,
                DeliveryError(
                    reason,
                    status_code=response.status_code if response else None,
                    body=response.text[:200] if response else "",
                    attempts=retries + 1,
                    destination=lane.destination,
                ),
            )
            return

    async def attempt(self, lane: Lane, batch: Batch) -> tuple[Response | None, str]:
        """One HTTP attempt: the response, or ``None`` and why the network failed."""
        assert lane.flow is not None
        sent_at = format_timestamp(datetime.now(UTC))
        endpoint = lane.endpoint
        records = batch.records
        if lane.gzip and isinstance(endpoint, FramedEndpoint):
            # Compressed a slice of records at a time, with other tasks let in between.
            request = endpoint.build((), sent_at=sent_at)
            head, separator, tail = endpoint.frame(sent_at=sent_at)
            step = max(1, len(records)) if self.busy() else GZIP_RECORDS
            body = await gzip_records(head, separator, tail, records, step)
        else:
            request = endpoint.build(records, sent_at=sent_at)
            body = gzip(request.content) if lane.gzip else request.content
        if lane.gzip:
            headers = {**request.headers, "Content-Encoding": "gzip"}
            request = type(request)(request.method, request.url, headers, body)
        async with lane.flow.sending:
            self.stats.batches += 1
            self.stats.bytes_sent += len(request.content)
            try:
                if (observer := self.observer) is None:
                    response = await self.transport.send(request)
                else:
                    response = await observer.observe(
                        self.transport.send,
                        request,
                        destination=lane.destination,
                        messages=len(records),
                    )
            except TransportError as exc:
                return None, str(exc)
        if self.debug:
            logger.debug(
                "%s: %d messages, %d bytes -> HTTP %d",
                lane.destination,
                len(records),
                len(request.content),
                response.status_code,
            )
        return redact_response(response, request, getattr(endpoint, "secrets", ())), ""


def _status(response: Response | None) -> str:
    return f"HTTP {response.status_code if response else None}"


def gzip(body: bytes) -> bytes:
    """A whole body, gzipped at :data:`~aioanalytics._config.GZIP_LEVEL`."""
    return zlib.compress(body, GZIP_LEVEL, wbits=31)


async def gzip_records(
    head: bytes, separator: bytes, tail: bytes, records: list[bytes], step: int
) -> bytes:
    """Gzip ``head + separator.join(records) + tail``, ``step`` records per loop step."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    parts = [compressor.compress(head)]
    sliced = len(records) > step
    for start in range(0, len(records), step):
        if start:
            parts.append(compressor.compress(separator))
        if sliced:
            await asyncio.sleep(0)
        parts.append(compressor.compress(separator.join(records[start : start + step])))
    if sliced:
        await asyncio.sleep(0)  # finishing the stream is a step of its own
    parts.append(compressor.compress(tail))
    parts.append(compressor.flush())
    body = b"".join(parts)
    if sliced:
        await asyncio.sleep(0)  # and so is sending
    return body
